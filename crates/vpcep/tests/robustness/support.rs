//! What the robustness tests share: a `vpcep serve` child process that can be killed and
//! restarted on the same data, `vpcep admin` on that data, a free port, a seeded PRNG and a
//! throw-away PostgreSQL database.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_vpcep");

/// Where the server keeps its data: a data directory (server key, agent token, the SQLite file)
/// and optionally a PostgreSQL database instead of the SQLite file.
#[derive(Clone, Debug)]
pub struct DataSpec {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl DataSpec {
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--data-dir".to_string(),
            self.data_dir.display().to_string(),
        ];
        if let Some(url) = &self.database_url {
            a.push("--database-url".to_string());
            a.push(url.clone());
        }
        a
    }

    /// A URL to read the store's tables directly while the server is down. SQLite: the database
    /// and its WAL are copied to `scratch` first, so that opening them (which replays and may
    /// checkpoint the WAL) leaves the server's own crash recovery untouched.
    pub fn inspect_url(&self, scratch: &Path) -> String {
        if let Some(url) = &self.database_url {
            return url.clone();
        }
        let _ = std::fs::remove_dir_all(scratch);
        std::fs::create_dir_all(scratch).expect("creating the scratch dir");
        for suffix in ["", "-wal", "-shm"] {
            let from = self.data_dir.join(format!("vpcep.db{suffix}"));
            if from.exists() {
                std::fs::copy(&from, scratch.join(format!("vpcep.db{suffix}")))
                    .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
            }
        }
        format!("sqlite://{}", scratch.join("vpcep.db").display())
    }
}

/// `vpcep admin ARGS -o json` on `data`; the parsed JSON output.
pub async fn admin(data: &DataSpec, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("admin")
        .args(args)
        .args(["-o", "json"])
        .args(data.args())
        .env("VPCEP_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .expect("running vpcep admin");
    assert!(
        out.status.success(),
        "vpcep admin {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "vpcep admin {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A port nobody listens on right now (the server binds it a moment later; the kernel does not
/// hand the same ephemeral port out again that quickly).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A `vpcep serve --no-agent` child. Killed (SIGKILL) when dropped, so a failing test leaves no
/// server behind.
pub struct ServerProc {
    pub addr: SocketAddr,
    pub data: DataSpec,
    log_path: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl ServerProc {
    /// Start on `addr` and wait until `/readyz` answers 200.
    pub async fn start(data: DataSpec, addr: SocketAddr, log_path: &Path) -> ServerProc {
        let mut s = ServerProc {
            addr,
            data,
            log_path: log_path.to_path_buf(),
            child: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("http client"),
        };
        s.restart().await;
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(|c| c.id())
            .expect("server is running")
    }

    /// (Re)start the process on the same address and data; returns how long until ready.
    pub async fn restart(&mut self) -> Duration {
        assert!(self.child.is_none(), "restart while a server runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("opening the server log");
        let child = Command::new(BIN)
            .arg("serve")
            // The data-plane agent would need root and network namespaces; the tests act as the
            // agent themselves over /agent/v1 where they need statuses to move.
            .arg("--no-agent")
            .args(["--listen", &self.addr.to_string()])
            .args(self.data.args())
            // Per-request info lines cost CPU the 2-core machine needs; errors still show.
            .env("VPCEP_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawning vpcep serve");
        self.child = Some(child);
        let started = Instant::now();
        self.wait_ready(Duration::from_secs(60)).await;
        started.elapsed()
    }

    /// Poll `/readyz` until 200; fail with the log if the process exits or the deadline passes.
    async fn wait_ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        let url = format!("{}/readyz", self.url());
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("try_wait"))
            {
                panic!(
                    "vpcep serve exited with {status} before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(r) = self.http.get(&url).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "vpcep serve not ready after {within:?}:\n{}",
                self.log_tail()
            );
            // Poll interval of the readiness probe (the loop ends on the first 200).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL and reap: the crash under test.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.start_kill().expect("SIGKILL");
            c.wait().await.expect("reaping the server");
        }
    }

    /// SIGTERM (what a service manager sends) and wait for the exit, at most `within`.
    pub async fn sigterm_and_wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("server is running");
        let pid = c.id().expect("pid").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        match tokio::time::timeout(within, c.wait()).await {
            Ok(status) => status.expect("reaping the server"),
            Err(_) => {
                let _ = c.start_kill();
                panic!("vpcep serve still running {within:?} after SIGTERM");
            }
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_string()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}

/// A seedable generator (xorshift from `rand_xorshift`): picks operations and kill moments
/// reproducibly from the printed seed.
pub struct Rng(rand_xorshift::XorShiftRng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(rand_core::SeedableRng::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        rand_core::Rng::next_u64(&mut self.0)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get((self.next_u64() % items.len() as u64) as usize)
        }
    }
}

/// The seed from `env` (to replay a failure) or a fresh one from the clock.
pub fn seed_from_env(env: &str) -> u64 {
    match std::env::var(env) {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{env} must be an unsigned integer, got {s:?}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}
