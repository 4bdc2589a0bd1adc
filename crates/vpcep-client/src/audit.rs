//! The account's audit log (`GET /v1/{project_id}/audit`, `docs/audit.md`).

use vpcep_huawei::audit::AuditListOut;

use crate::{Client, ClientError};

/// Which entries to list: a time range in milliseconds since the epoch (`from` inclusive, `to`
/// exclusive), a page size and the previous page's `next_marker`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: Option<u32>,
    pub marker: Option<String>,
}

impl Client {
    /// One page of the account's audit log, newest first.
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<AuditListOut, ClientError> {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(v) = f.from_ms {
            q.push(("from", v.to_string()));
        }
        if let Some(v) = f.to_ms {
            q.push(("to", v.to_string()));
        }
        if let Some(v) = f.limit {
            q.push(("limit", v.to_string()));
        }
        if let Some(v) = &f.marker {
            q.push(("marker", v.clone()));
        }
        self.get(&self.project_path("/audit"), &q).await
    }
}
