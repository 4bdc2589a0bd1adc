//! The audit log's wire shape: `GET /v1/{project_id}/audit` (vpcep's own, in the style of the
//! Huawei APIs; `docs/audit.md`). Newest first; `next_marker` continues the listing.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One recorded mutating request. Never carries a secret key: the access key id is the only
/// credential material recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryOut {
    /// Position in the log (increasing); the `marker` for the next page.
    pub seq: u64,
    /// When it was recorded, milliseconds since 1970-01-01 UTC.
    pub time_ms: i64,
    /// The same instant as `time_ms`, `YYYY-MM-DDTHH:MM:SSZ`.
    pub time: String,
    pub domain_id: String,
    pub project_id: String,
    /// The access key that signed the request (empty for the console and the admin CLI).
    pub access_key_id: String,
    /// `api`, `console` or `admin`.
    pub front: String,
    /// The operation: the Huawei operation name on the API (`CreateEndpoint`), the console
    /// action (`console.create_service`), the admin command (`admin.account.create`).
    pub operation: String,
    /// Resources the request addressed (path ids), and a create's new id.
    pub resource_ids: Vec<String>,
    /// The `X-Request-Id` of the request (empty for the admin CLI).
    pub request_id: String,
    /// The client's address (`ip:port`), `local` for the admin CLI.
    pub source: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// The `error_code` of a refused request; empty on success.
    pub error_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditListOut {
    pub audit_logs: Vec<AuditEntryOut>,
    /// Pass as `marker` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}
