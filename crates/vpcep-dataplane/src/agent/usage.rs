//! Metering reports (docs/metering.md): the agent reads its endpoints' cumulative kernel
//! counters and sends them to `POST /agent/v1/usage` every [`USAGE_EVERY`], and once more for
//! endpoints about to be removed, before their counters go. The control plane bills what a
//! reading adds to the last one it kept, so a repeated or lost report neither doubles nor loses
//! traffic; readings of one agent are sent one report at a time, in the order they were read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use vpcep_core::agent::UsageReport;

use super::metrics::{COMPACT_AFTER, Reading, Telemetry, compact};
use super::{AgentConfig, AgentError, stopped};

/// How often the agent reports: traffic is billed to the hour the report arrives in, so this is
/// how late (at most) bytes can be billed, and how much is lost if a namespace vanishes
/// unannounced.
pub const USAGE_EVERY: Duration = Duration::from_secs(15);

/// Readings per request (a request stays well under the API's body limit).
const CHUNK: usize = 1000;

/// Where the host's boot id is: kernel counters do not outlive a boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// Sends usage reports; cheap to clone (shared by the feed loop and the periodic loop).
#[derive(Clone)]
pub struct Reporter {
    http: reqwest::Client,
    url: String,
    token: String,
    agent: String,
    boot_id: String,
    telemetry: Telemetry,
    /// The last reading the control plane acknowledged per endpoint (unchanged ones are not
    /// sent again), by the telemetry's shared id. The lock also keeps reports in reading order.
    sent: Arc<tokio::sync::Mutex<BTreeMap<Arc<str>, Acked>>>,
    /// Last readings of removed endpoints not yet acknowledged: sent right after they are
    /// read, and again with every report until the control plane takes them.
    last: Arc<std::sync::Mutex<Vec<Reading>>>,
    every: Duration,
}

/// What an acknowledged reading is compared on: not the whole [`Reading`], whose ids are known
/// anyway; its namespace is the telemetry's shared name (no string of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    rx: vpcep_core::metering::Traffic,
    tx: vpcep_core::metering::Traffic,
    connections: u64,
    namespace: Arc<str>,
}

impl Acked {
    fn of(r: &Reading) -> Self {
        Acked {
            rx: r.rx,
            tx: r.tx,
            connections: r.connections,
            namespace: r.namespace.clone(),
        }
    }
    /// Whether `r` reads the same as this.
    fn same(&self, r: &Reading) -> bool {
        (self.rx, self.tx, self.connections, &*self.namespace)
            == (r.rx, r.tx, r.connections, &*r.namespace)
    }
}

/// Last readings kept while the control plane does not take them (beyond: the oldest go, and
/// that traffic is not billed; the agent logs it).
const LAST_READINGS_KEPT: usize = 100_000;

impl Reporter {
    pub fn new(cfg: &AgentConfig, http: reqwest::Client, telemetry: Telemetry) -> Self {
        let boot_id = std::fs::read_to_string(BOOT_ID)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read {BOOT_ID}; counters are identified by namespace only");
                String::new()
            });
        Self {
            http,
            url: format!("{}/agent/v1/usage", cfg.control_url.trim_end_matches('/')),
            token: cfg.token.clone(),
            agent: cfg.name.clone(),
            boot_id,
            telemetry,
            sent: Arc::default(),
            last: Arc::default(),
            every: USAGE_EVERY,
        }
    }

    /// Report every `every` instead (tests).
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Read the counters of endpoints about to be removed (their elements only: this is on the
    /// way of every removal) and send them in the background; what the control plane does not
    /// take now goes with the next reports. Their counters go with their elements, so this is
    /// the last reading of what they carried since the previous report.
    pub async fn before_removal(&self, leaving: &BTreeSet<String>) {
        let read = self.telemetry.readings(Some(leaving), None).await;
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            last.extend(read);
            if last.len() > LAST_READINGS_KEPT {
                let over = last.len() - LAST_READINGS_KEPT;
                tracing::warn!(
                    dropped = over,
                    "control plane unreachable: oldest last readings of removed endpoints dropped"
                );
                last.drain(..over);
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.send(Vec::new()).await {
                tracing::warn!(error = %e, "last usage of removed endpoints not sent; the next report carries it");
            }
        });
    }

    /// Read and send the counters of the live endpoints that changed since the last
    /// acknowledged report (and any last readings of removed endpoints still unsent).
    ///
    /// One gateway at a time, read then sent: the readings, the changed ones and the request
    /// bodies of 10,000 endpoints at once were ~3 MB above what the agent holds otherwise, at
    /// the top of its memory use (P4). The first gateway's request also carries the unsent
    /// last readings; a refused request ends the report (the next one carries the rest).
    pub async fn report(&self) -> Result<(), AgentError> {
        let mut sent = self.sent.lock().await;
        let before = sent.len();
        let gateways = self.telemetry.counted_gateways();
        let mut read_total = 0;
        let mut result = Ok(());
        for gateway in &gateways {
            let read = self.telemetry.readings(None, Some(gateway)).await;
            read_total += read.len();
            result = self.send_locked(&mut sent, read).await;
            if result.is_err() {
                break;
            }
        }
        if gateways.is_empty() {
            result = self.send_locked(&mut sent, Vec::new()).await;
        }
        let many = read_total >= COMPACT_AFTER;
        // Endpoints no longer live: forget them (a return starts with a full reading).
        self.telemetry.retain_counted(&mut sent);
        // The first reading of many endpoints filled the map one by one.
        if sent.len() >= before + COMPACT_AFTER {
            compact(&mut sent);
        }
        // A reading of thousands of endpoints (counter dumps, readings, request bodies) leaves
        // its freed blocks among long-lived ones, where glibc keeps the pages: measured in P4
        // (10,060 endpoints), heap and stacks went 28.3 → 35.8 MB at the first report after the
        // agent caught up, and stayed there.
        if many {
            super::release_freed_memory();
        }
        result
    }

    async fn send(&self, read: Vec<Reading>) -> Result<(), AgentError> {
        let mut sent = self.sent.lock().await;
        self.send_locked(&mut sent, read).await
    }

    /// Send the unsent last readings, then those of `read` that changed since acknowledged.
    async fn send_locked(
        &self,
        sent: &mut BTreeMap<Arc<str>, Acked>,
        read: Vec<Reading>,
    ) -> Result<(), AgentError> {
        let is_new = |r: &Reading| sent.get(&r.endpoint_id).is_none_or(|s| !s.same(r));
        let mut changed: Vec<Reading> =
            std::mem::take(&mut *self.last.lock().unwrap_or_else(|p| p.into_inner()));
        changed.retain(is_new);
        let n_last = changed.len();
        changed.extend(read.into_iter().filter(is_new));
        let mut acked = 0;
        let result = self.post_all(sent, &changed, &mut acked).await;
        if result.is_err() && acked < n_last {
            // Last readings not acknowledged go again with the next report (before newer ones).
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let newer = std::mem::take(&mut *last);
            *last = changed[acked..n_last]
                .iter()
                .cloned()
                .chain(newer)
                .collect();
        }
        result
    }

    /// Post `changed` in chunks, counting in `acked` how many the control plane took.
    async fn post_all(
        &self,
        sent: &mut BTreeMap<Arc<str>, Acked>,
        changed: &[Reading],
        acked: &mut usize,
    ) -> Result<(), AgentError> {
        for chunk in changed.chunks(CHUNK) {
            let body = UsageReport {
                agent: self.agent.clone(),
                boot_id: self.boot_id.clone(),
                counters: chunk.iter().map(Reading::counter).collect(),
            };
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(&self.token)
                // A control plane that does not answer must not stall the next reports.
                .timeout(Duration::from_secs(10))
                .json(&body)
                .send()
                .await?;
            if !resp.status().is_success() {
                return Err(AgentError::Status {
                    status: resp.status().as_u16(),
                    body: resp.text().await.unwrap_or_default(),
                });
            }
            for c in chunk {
                sent.insert(c.endpoint_id.clone(), Acked::of(c));
            }
            *acked += chunk.len();
        }
        Ok(())
    }

    /// Report every `every` until `stop`; a failed report is retried at the next one.
    pub async fn run_until(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped(&mut stop) => break,
            }
            if let Err(e) = self.report().await {
                tracing::warn!(error = %e, "usage report failed; the next one carries it");
            }
        }
    }
}
