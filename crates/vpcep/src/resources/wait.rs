//! `--wait`: poll a detail GET every 200 ms until a terminal status, with a spinner on stderr.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::output::Output;

pub const POLL: Duration = Duration::from_millis(200);

#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// Wait until the operation has finished (a terminal status), showing progress.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120, requires = "wait")]
    pub timeout: u64,
}

/// One wait: remembers the last status seen, prints each new one, and fails after the timeout
/// naming the status it was stuck in.
pub struct Waiter {
    what: String,
    bar: ProgressBar,
    started: Instant,
    timeout: Duration,
    last: Option<String>,
}

impl Waiter {
    /// `what` reads like "service 1234…" or "endpoint 1234… to be deleted".
    pub fn new(what: impl Into<String>, output: Output, args: &WaitArgs) -> Self {
        let what = what.into();
        let bar = if output == Output::Json || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(100));
            b
        };
        bar.set_message(format!("waiting for {what}"));
        Self {
            what,
            bar,
            started: Instant::now(),
            timeout: Duration::from_secs(args.timeout),
            last: None,
        }
    }

    /// Record the current status; a new one is printed on its own line.
    pub fn observe(&mut self, status: &str) {
        if self.last.as_deref() != Some(status) {
            let line = format!("{}: {status}", self.what);
            if self.bar.is_hidden() {
                eprintln!("{line}");
            } else {
                self.bar.println(line);
            }
            self.last = Some(status.to_string());
        }
        self.bar
            .set_message(format!("waiting for {}: {status}", self.what));
    }

    /// Sleep one poll interval, or fail when the time is up.
    pub async fn tick(&self) -> anyhow::Result<()> {
        if self.started.elapsed() >= self.timeout {
            self.bar.finish_and_clear();
            bail!(
                "timed out after {}s waiting for {}: still {} (raise --timeout, or check that the data-plane agent is running)",
                self.timeout.as_secs(),
                self.what,
                self.last
                    .as_deref()
                    .map(|s| format!("'{s}'"))
                    .unwrap_or_else(|| "without a status".into())
            );
        }
        tokio::time::sleep(POLL).await;
        Ok(())
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
