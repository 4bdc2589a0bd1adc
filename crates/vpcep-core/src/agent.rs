//! The agent protocol: how data-plane agents follow the control plane (list + watch of a
//! revisioned change feed) and report what they really did. Served under `/agent/v1/`.
//!
//! * `GET /agent/v1/snapshot` → [`Snapshot`]: every object the data plane needs, at one revision.
//! * `GET /agent/v1/changes?after=N&timeout_ms=T` → [`Changes`]: objects changed or deleted after
//!   revision N; long-polls up to T ms when there are none. `410 Gone` when N is older than the
//!   retained history, so the agent re-lists.
//! * `POST /agent/v1/reports` with [`Reports`]: per-object results. A result counts only when its
//!   generation is the object's current one, so a late report never overrides a newer change.

use serde::{Deserialize, Serialize};

use crate::model::Kind;

/// One object in the feed: its kind, id, generation, the revision that last changed it, and the
/// stored record (see `model` / `inventory`).
///
/// `spec` is kept as its JSON text until a reader decodes it into its own type. Why: an agent
/// parses whole snapshots and batches of changes (9 MB of JSON at 10,000 endpoints), and as
/// `serde_json::Value` trees those took ~50 MB of small allocations before the typed state was
/// built from them (the agent's memory high-water mark); as text they take what the JSON does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedObject {
    pub kind: Kind,
    pub id: String,
    pub generation: u64,
    pub revision: u64,
    pub spec: Box<serde_json::value::RawValue>,
}

impl FeedObject {
    /// `spec` (any serializable value) as a feed object's JSON text.
    pub fn spec_of(spec: &impl Serialize) -> serde_json::Result<Box<serde_json::value::RawValue>> {
        serde_json::value::to_raw_value(spec)
    }

    /// The spec decoded as `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.spec.get())
    }
}

/// Objects are equal when their JSON texts are (the feed writes each spec one way).
impl PartialEq for FeedObject {
    fn eq(&self, o: &Self) -> bool {
        (
            self.kind,
            &self.id,
            self.generation,
            self.revision,
            self.spec.get(),
        ) == (o.kind, &o.id, o.generation, o.revision, o.spec.get())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub revision: u64,
    pub objects: Vec<FeedObject>,
}

/// A change: the object's new state, or `object: null` when it is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: Kind,
    pub id: String,
    pub revision: u64,
    pub object: Option<FeedObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub revision: u64,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The object's desired state is programmed (for an endpoint in `creating`: traffic flows).
    Applied,
    /// The object is in `deleting` and everything the agent made for it is gone.
    Removed,
    /// Programming failed; `error_code`/`error_message` say why.
    Failed,
}

/// Why the data plane could not realise an object. The agent says what happened; the control
/// plane words it for users (the Huawei front as an `EndPoint.xxxx` code and a message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Failure {
    /// The service an endpoint reaches is gone, failed or being deleted.
    ServiceUnavailable,
    /// The port a service's traffic goes to no longer exists.
    BackendGone,
    /// A namespace the object needs could not be programmed; `detail` is the kernel's answer.
    Namespace { namespace: String, detail: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectResult {
    pub kind: Kind,
    pub id: String,
    pub generation: u64,
    pub outcome: Outcome,
    /// Why, with [`Outcome::Failed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// A failure already worded as a code and message (older agents); used when `failure` is
    /// absent.
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reports {
    /// Which agent reports (for logs and, later, shard ownership).
    #[serde(default)]
    pub agent: String,
    pub results: Vec<ObjectResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportsAck {
    /// How many results changed a status.
    pub accepted: usize,
    /// How many were ignored as stale (older generation or object gone).
    pub stale: usize,
}

/// `POST /agent/v1/usage`: every live endpoint's cumulative traffic counters as the kernel holds
/// them. The control plane bills what they add to the last value it saw for the same counter
/// (`metering::counter_delta`), so a report may be repeated or lost without counting twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    #[serde(default)]
    pub agent: String,
    /// The host's boot id (`/proc/sys/kernel/random/boot_id`): kernel counters do not outlive
    /// a boot, so a new boot id is a new counter.
    pub boot_id: String,
    pub counters: Vec<EndpointCounter>,
}

/// One endpoint's counters in one gateway namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointCounter {
    pub endpoint_id: String,
    /// The consumer's project (the endpoint's owner), from the feed.
    pub project_id: String,
    pub service_id: String,
    /// The gateway namespace whose counted sets hold the counter.
    pub namespace: String,
    pub rx: crate::metering::Traffic,
    pub tx: crate::metering::Traffic,
    /// New connections counted (cumulative, like the traffic): not billed, drawn in the
    /// console's last-hour charts.
    #[serde(default)]
    pub connections: u64,
    /// When the agent read them (its clock, epoch ms): a reading older than the last one kept
    /// for this counter arrived out of order and is ignored.
    pub read_ms: i64,
}

impl EndpointCounter {
    /// The counter's identity: the boot and the namespace it lives in.
    pub fn reading(&self, boot_id: &str) -> crate::metering::CounterReading {
        crate::metering::CounterReading {
            endpoint_id: self.endpoint_id.clone(),
            counter: format!("{boot_id}/{}", self.namespace),
            project_id: self.project_id.clone(),
            service_id: self.service_id.clone(),
            value: crate::metering::Counters {
                rx: self.rx,
                tx: self.tx,
            },
            read_ms: self.read_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageAck {
    /// Readings that added traffic to the bill.
    pub counted: usize,
    /// Readings that added nothing: equal to the last one kept, or older (out of order).
    pub unchanged: usize,
}
