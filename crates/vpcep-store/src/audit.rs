//! The audit log's storage: append and list, nothing else. The log is append-only by
//! construction: the store has no method that updates or deletes an entry, so no caller (API,
//! console, admin CLI, a bug) can rewrite history through it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::sql::{SqlStore, text};

/// One audit entry as stored. `seq` is assigned by [`crate::Store::audit_append`] (ignored on input).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditRow {
    /// Position in the log: strictly increasing across the whole store.
    pub seq: u64,
    pub time_ms: i64,
    /// The account the entry belongs to (whose `vpcep audit` lists it). Empty when unknown.
    pub domain_id: String,
    pub project_id: String,
    /// The access key that signed the request; never the secret.
    pub access_key_id: String,
    /// `api`, `console` or `admin`.
    pub front: String,
    pub operation: String,
    pub resource_ids: Vec<String>,
    pub request_id: String,
    pub source: String,
    /// HTTP status of the answer (the admin CLI records 200 or the status its error maps to).
    pub status: u16,
    /// The error code of a refused request; empty on success.
    pub error_code: String,
}

/// One account's entries, newest first: `time_ms` in `[from_ms, to_ms)`, `seq` below `before_seq`
/// (the marker: the last `seq` of the previous page), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub domain_id: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub before_seq: Option<u64>,
    pub limit: u32,
}

/// How many times an append retries when another writer took the same sequence number (only
/// PostgreSQL replicas can race; SQLite has one writer connection).
const APPEND_ATTEMPTS: usize = 8;

fn decode(row: &AnyRow) -> Result<AuditRow, StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let ids: String = row.try_get("resource_ids")?;
    let resource_ids = serde_json::from_str(&ids).map_err(|source| StoreError::Corrupt {
        kind: "audit",
        id: seq.to_string(),
        source,
    })?;
    let status: i64 = row.try_get("status")?;
    Ok(AuditRow {
        seq: seq as u64,
        time_ms: row.try_get("time_ms")?,
        domain_id: row.try_get("domain_id")?,
        project_id: row.try_get("project_id")?,
        access_key_id: row.try_get("access_key_id")?,
        front: row.try_get("front")?,
        operation: row.try_get("operation")?,
        resource_ids,
        request_id: row.try_get("request_id")?,
        source: row.try_get("source")?,
        status: u16::try_from(status).unwrap_or(0),
        error_code: row.try_get("error_code")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqlStore {
    pub(crate) async fn append_audit(&self, row: &AuditRow) -> Result<u64, StoreError> {
        let ids = serde_json::to_string(&row.resource_ids).map_err(StoreError::Encode)?;
        for id in &row.resource_ids {
            text(id)?;
        }
        // One statement: the sequence number is the current maximum + 1, taken under the primary
        // key, so a concurrent append (another replica) fails cleanly and retries.
        let sql = "INSERT INTO audit (seq, time_ms, domain_id, project_id, access_key_id, front, operation, \
                   resource_ids, request_id, source, status, error_code) \
                   SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM audit \
                   RETURNING seq";
        let mut attempt = 1;
        loop {
            let res = sqlx::query(sql)
                .bind(row.time_ms)
                .bind(text(&row.domain_id)?)
                .bind(text(&row.project_id)?)
                .bind(text(&row.access_key_id)?)
                .bind(text(&row.front)?)
                .bind(text(&row.operation)?)
                .bind(ids.clone())
                .bind(text(&row.request_id)?)
                .bind(text(&row.source)?)
                .bind(i64::from(row.status))
                .bind(text(&row.error_code)?)
                .fetch_one(&self.writer)
                .await;
            match res {
                Ok(r) => return Ok(r.try_get::<i64, _>("seq")? as u64),
                Err(e) if is_unique_violation(&e) && attempt < APPEND_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub(crate) async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let sql = "SELECT seq, time_ms, domain_id, project_id, access_key_id, front, operation, \
                   resource_ids, request_id, source, status, error_code FROM audit \
                   WHERE domain_id = $1 AND time_ms >= $2 AND time_ms < $3 AND seq < $4 \
                   ORDER BY seq DESC LIMIT $5";
        let rows = sqlx::query(sql)
            .bind(text(&q.domain_id)?)
            .bind(q.from_ms.unwrap_or(i64::MIN))
            .bind(q.to_ms.unwrap_or(i64::MAX))
            .bind(
                q.before_seq
                    .map_or(i64::MAX, |s| i64::try_from(s).unwrap_or(i64::MAX)),
            )
            .bind(i64::from(q.limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(decode).collect()
    }
}
