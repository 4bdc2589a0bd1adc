//! The audit log (issue 12): every mutating request of every front (API, console, admin CLI) is
//! recorded once, after its answer is known, with who asked (account, project, access key id —
//! never the secret), what (operation, resource ids), the request id, the source address and the
//! outcome. Entries are appended and never changed: the store has no method to do so. An account
//! reads its own entries only.

use vpcep_core::error::{DomainError, DomainResult, quoted};
use vpcep_store::{AuditQuery, AuditRow};

use crate::{Caller, Control, now_ms};

/// The client's address (`ip:port`) as the serving process saw it, put on each request by the
/// binary for fronts that have no other way to it (the console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

/// Which front served the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Api,
    Console,
    Admin,
}

impl Front {
    pub fn as_str(self) -> &'static str {
        match self {
            Front::Api => "api",
            Front::Console => "console",
            Front::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "api" => Some(Front::Api),
            "console" => Some(Front::Console),
            "admin" => Some(Front::Admin),
            _ => None,
        }
    }
}

/// What a front records about one mutating request. There is no field for a secret: the access
/// key id is the only credential material an entry can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The account the entry is listed under (empty when the request named no known account).
    pub domain_id: String,
    pub project_id: String,
    pub access_key_id: String,
    pub front: Front,
    /// A stable name: the Huawei operation name on the API (`CreateEndpoint`), the console
    /// action, the admin command.
    pub operation: String,
    /// Ids the request addressed, and for a create the new resource's id when known.
    pub resource_ids: Vec<String>,
    pub request_id: String,
    /// The peer address (`ip:port`), or `local` for the admin CLI.
    pub source: String,
    /// HTTP status of the answer (the admin CLI uses the status its error would have on the API).
    pub status: u16,
    /// The error code of a refused request; empty on success.
    pub error_code: String,
}

/// A recorded entry: its place in the log and when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: u64,
    pub time_ms: i64,
    pub entry: AuditEntry,
}

/// A listing request as received (text, so a bad number gets its documented error).
#[derive(Debug, Clone, Default)]
pub struct AuditLogQuery {
    /// Milliseconds since the epoch, inclusive.
    pub from: Option<String>,
    /// Milliseconds since the epoch, exclusive.
    pub to: Option<String>,
    /// 0 to [`MAX_AUDIT_LIMIT`]; [`DEFAULT_AUDIT_LIMIT`] when absent.
    pub limit: Option<String>,
    /// The `next_marker` of the previous page.
    pub marker: Option<String>,
}

/// One page, newest first; `next_marker` is set when more entries may follow.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    pub next_marker: Option<u64>,
}

pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
pub const MAX_AUDIT_LIMIT: u32 = 1000;

fn time_bound(field: &'static str, v: Option<&str>) -> DomainResult<Option<i64>> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => vpcep_core::metering::parse_time(field, s).map(Some),
    }
}

impl AuditLogQuery {
    fn judge(&self, domain_id: &str) -> DomainResult<AuditQuery> {
        let limit = match self.limit.as_deref().filter(|s| !s.is_empty()) {
            None => DEFAULT_AUDIT_LIMIT,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_AUDIT_LIMIT)
                .ok_or_else(|| DomainError::InvalidLimit {
                    value: quoted(s),
                    max: i64::from(MAX_AUDIT_LIMIT),
                })?,
        };
        let before_seq = match self.marker.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| DomainError::InvalidMarkerId { value: quoted(s) })?,
            ),
        };
        Ok(AuditQuery {
            domain_id: domain_id.to_string(),
            from_ms: time_bound("from", self.from.as_deref())?,
            to_ms: time_bound("to", self.to.as_deref())?,
            before_seq,
            limit,
        })
    }
}

fn record(row: AuditRow) -> AuditRecord {
    AuditRecord {
        seq: row.seq,
        time_ms: row.time_ms,
        entry: AuditEntry {
            domain_id: row.domain_id,
            project_id: row.project_id,
            access_key_id: row.access_key_id,
            // Rows are written by `record_audit` only; an unknown front would be a hand edit.
            front: Front::parse(&row.front).unwrap_or(Front::Admin),
            operation: row.operation,
            resource_ids: row.resource_ids,
            request_id: row.request_id,
            source: row.source,
            status: row.status,
            error_code: row.error_code,
        },
    }
}

impl Control {
    /// Append one entry, stamped with the current time; returns its sequence number. One insert,
    /// outside any resource transaction, so refused requests are recorded too.
    pub async fn record_audit(&self, entry: AuditEntry) -> DomainResult<u64> {
        let row = AuditRow {
            seq: 0,
            time_ms: now_ms(),
            domain_id: entry.domain_id,
            project_id: entry.project_id,
            access_key_id: entry.access_key_id,
            front: entry.front.as_str().to_string(),
            operation: entry.operation,
            resource_ids: entry.resource_ids,
            request_id: entry.request_id,
            source: entry.source,
            status: entry.status,
            error_code: entry.error_code,
        };
        Ok(self.store.audit_append(&row).await?)
    }

    /// The caller's account's entries (every project of the account), newest first.
    pub async fn audit_log(
        &self,
        caller: &Caller,
        query: &AuditLogQuery,
    ) -> DomainResult<AuditPage> {
        let q = query.judge(&caller.domain_id)?;
        let rows = self.store.audit_list(&q).await?;
        let full = q.limit > 0 && rows.len() == q.limit as usize;
        let records: Vec<AuditRecord> = rows.into_iter().map(record).collect();
        let next_marker = if full {
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(AuditPage {
            records,
            next_marker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str, limit: &str, marker: &str) -> AuditLogQuery {
        let o = |s: &str| Some(s.to_string());
        AuditLogQuery {
            from: o(from),
            to: o(to),
            limit: o(limit),
            marker: o(marker),
        }
    }

    #[test]
    fn query_values_are_judged() {
        let ok = q("1", "2", "5", "9").judge("d").expect("valid");
        assert_eq!(
            (ok.from_ms, ok.to_ms, ok.limit, ok.before_seq),
            (Some(1), Some(2), 5, Some(9))
        );
        let empty = q("", "", "", "").judge("d").expect("empty is absent");
        assert_eq!(empty.limit, DEFAULT_AUDIT_LIMIT);
        assert!(matches!(
            q("x", "", "", "").judge("d"),
            Err(DomainError::InvalidTime { field: "from", .. })
        ));
        assert!(matches!(
            q("", "-1", "", "").judge("d"),
            Err(DomainError::InvalidTime { field: "to", .. })
        ));
        assert!(matches!(
            q("", "", "1001", "").judge("d"),
            Err(DomainError::InvalidLimit { .. })
        ));
        assert!(matches!(
            q("", "", "", "m").judge("d"),
            Err(DomainError::InvalidMarkerId { .. })
        ));
    }
}
