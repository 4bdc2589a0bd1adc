//! Storage: one narrow trait ([`Store`] + [`Tx`]) over a generic object table, with a change feed
//! (global revision, tombstones) for agents. [`SqlStore`] implements it on SQLite (embedded
//! default) and PostgreSQL through sqlx's `Any` driver with the same portable SQL; the conformance
//! suite in `conformance` runs against every backend.

pub mod audit;
pub mod conformance;
pub mod scratch;
mod sql;
pub mod typed;
mod usage;

use std::sync::Arc;

use async_trait::async_trait;
use vpcep_core::metering::{CounterReading, Counters, HourUsage, UsageRange};
use vpcep_core::model::{IndexColumns, Kind};

pub use audit::{AuditQuery, AuditRow};
pub use sql::{Backend, SqlStore};
pub use typed::{StoreExt, TxExt};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored record {kind}/{id} is corrupt: {source}")]
    Corrupt {
        kind: &'static str,
        id: String,
        source: serde_json::Error,
    },
    #[error("cannot encode record: {0}")]
    Encode(serde_json::Error),
    #[error("revision {0} is older than the retained change history; re-list")]
    Compacted(u64),
    #[error("unsupported database url: {0}")]
    UnsupportedUrl(String),
    /// Text with a NUL character (U+0000): PostgreSQL cannot hold it in a text column, so no
    /// backend accepts it, in a key, a filter or a record (one rule, one answer everywhere).
    #[error("text contains the NUL character (U+0000)")]
    NulInText,
}

/// One stored object as the store sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: Kind,
    pub id: String,
    pub index: IndexColumns,
    pub generation: u64,
    /// The revision of the commit that last wrote it (set by the store).
    pub revision: u64,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    CreatedDesc,
    CreatedAsc,
    UpdatedDesc,
    UpdatedAsc,
}

/// A filtered, paged listing of one kind. Every filter is optional; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub kind: Option<Kind>,
    pub id: Option<String>,
    pub project_id: Option<String>,
    pub parent_id: Option<String>,
    /// Any of these parents (used to count children of many parents in one query).
    pub parent_ids: Option<Vec<String>>,
    pub vpc_id: Option<String>,
    pub name_eq: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    pub status: Option<String>,
    pub statuses: Option<Vec<String>>,
    pub shared: Option<bool>,
    pub order: Order,
    pub limit: Option<i64>,
    pub offset: i64,
}

impl Query {
    pub fn of(kind: Kind) -> Self {
        Self {
            kind: Some(kind),
            ..Default::default()
        }
    }
    pub fn project(mut self, project_id: &str) -> Self {
        self.project_id = Some(project_id.to_string());
        self
    }
    pub fn parent(mut self, parent_id: &str) -> Self {
        self.parent_id = Some(parent_id.to_string());
        self
    }
    pub fn vpc(mut self, vpc_id: &str) -> Self {
        self.vpc_id = Some(vpc_id.to_string());
        self
    }
    pub fn named(mut self, name: &str) -> Self {
        self.name_eq = Some(name.to_string());
        self
    }
}

/// A page of results plus the total number of matches (independent of limit/offset).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub records: Vec<Record>,
    pub total: i64,
}

/// What changed after a revision: objects written (their current state) and objects deleted.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    pub revision: u64,
    pub written: Vec<Record>,
    pub deleted: Vec<(Kind, String, u64)>,
}

/// The storage boundary. Reads outside a transaction see the last committed state.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Start a write transaction. Write transactions are serialized (one at a time across every
    /// replica), which is what makes quota, backend-limit and allocation checks race-free.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;
    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Record>, StoreError>;
    /// Several objects by key, answered in key order (`None` for one that is absent). A backend
    /// may read them in one query: every request's authentication needs two (its credential
    /// and its project), and each query is a round trip to the database.
    async fn get_each(&self, keys: &[(Kind, &str)]) -> Result<Vec<Option<Record>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for (kind, id) in keys {
            out.push(self.get(*kind, id).await?);
        }
        Ok(out)
    }
    async fn list(&self, query: &Query) -> Result<Page, StoreError>;
    async fn count(&self, query: &Query) -> Result<i64, StoreError>;
    /// Matches of `query` counted per `parent_id`, in one query (parents without matches are
    /// absent from the map).
    async fn count_by_parent(
        &self,
        query: &Query,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError>;
    /// The last committed revision.
    async fn revision(&self) -> Result<u64, StoreError>;
    /// Every object of the given kinds, and the revision they are consistent with.
    async fn snapshot(&self, kinds: &[Kind]) -> Result<(u64, Vec<Record>), StoreError>;
    /// Changes after `after` (only the given kinds). `Compacted` when history was dropped.
    async fn changes_since(&self, after: u64, kinds: &[Kind]) -> Result<ChangeSet, StoreError>;
    /// Drop tombstones at or below `revision` (watchers behind it must re-list).
    async fn compact(&self, revision: u64) -> Result<(), StoreError>;
    /// Resolves when the revision may have moved past `after` (or on a timeout chosen by the
    /// caller). Other processes' commits are noticed by polling inside the implementation.
    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Metering: a project's usage hours in `range`, by hour then endpoint.
    async fn usage(
        &self,
        project_id: &str,
        range: UsageRange,
    ) -> Result<Vec<HourUsage>, StoreError>;
    /// Append one audit entry (outside any transaction, so a refused request is recorded too);
    /// returns its sequence number. The audit log is append-only: there is deliberately no method
    /// to change or remove an entry.
    async fn audit_append(&self, row: &AuditRow) -> Result<u64, StoreError>;
    /// One account's audit entries, newest first (see [`AuditQuery`]).
    async fn audit_list(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError>;
}

/// A write transaction. Dropping it without `commit` rolls back.
#[async_trait]
pub trait Tx: Send {
    async fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Record>, StoreError>;
    async fn list(&mut self, query: &Query) -> Result<Page, StoreError>;
    async fn count(&mut self, query: &Query) -> Result<i64, StoreError>;
    /// Insert or replace. The store stamps the revision.
    async fn put(&mut self, record: Record) -> Result<(), StoreError>;
    /// Returns whether it existed.
    async fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError>;
    /// Claim `key` in `namespace` for `owner`. False if someone else holds it (re-claiming one's
    /// own key is true).
    async fn claim(&mut self, namespace: &str, key: &str, owner: &str) -> Result<bool, StoreError>;
    async fn release(&mut self, namespace: &str, key: &str) -> Result<(), StoreError>;
    async fn release_owner(&mut self, owner: &str) -> Result<(), StoreError>;
    /// Who holds exactly `key` in `namespace`, if anyone.
    async fn claim_owner(
        &mut self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Next value of a named counter (starts at 1).
    async fn next_sequence(&mut self, name: &str) -> Result<u64, StoreError>;
    /// Metering, the delta rule (`vpcep_core::metering::counter_delta`): bill what `reading`
    /// adds to the last value seen for its (endpoint, counter) to the hour of `at_ms`, and keep
    /// it as the last value. Returns what was billed.
    async fn usage_count(
        &mut self,
        reading: &CounterReading,
        at_ms: i64,
    ) -> Result<Counters, StoreError>;
    /// Metering: add to endpoints' hours (`hour_ms` rounded down to the hour), in few
    /// statements however many rows.
    async fn usage_add(&mut self, usage: &[HourUsage]) -> Result<(), StoreError>;
    /// Metering: time in `accepted` is billed up to here, per endpoint being metered.
    async fn usage_clocks(&mut self)
    -> Result<std::collections::BTreeMap<String, i64>, StoreError>;
    /// Metering: move endpoints' clocks (`None`: no longer metered); the last entry of an
    /// endpoint given twice wins.
    async fn set_usage_clocks(
        &mut self,
        clocks: &[(String, Option<i64>)],
    ) -> Result<(), StoreError>;
    /// Commit; returns the new revision (unchanged if nothing was written).
    async fn commit(self: Box<Self>) -> Result<u64, StoreError>;
}

pub type SharedStore = Arc<dyn Store>;

/// Storage failures reach users as a generic system error; the detail goes to the log only.
impl From<StoreError> for vpcep_core::DomainError {
    fn from(e: StoreError) -> Self {
        if let StoreError::NulInText = e {
            // The caller's input, not a failure of ours: a parameter error, not logged as one.
            return vpcep_core::DomainError::NulInText;
        }
        tracing::error!(error = %e, "store failure");
        vpcep_core::DomainError::internal("System error. Please retry.")
    }
}
