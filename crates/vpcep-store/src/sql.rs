//! [`SqlStore`]: the store on SQLite or PostgreSQL via sqlx `Any`, with one set of portable SQL.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, SqlStr, Transaction};
use tokio::sync::watch;
use vpcep_core::model::{IndexColumns, Kind};

use crate::audit::{AuditQuery, AuditRow};
use crate::{ChangeSet, Order, Page, Query, Record, Store, StoreError, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Arbitrary constant naming the advisory lock that serializes writers on PostgreSQL.
const PG_WRITE_LOCK: i64 = 0x7670_6365_7001;

pub struct SqlStore {
    backend: Backend,
    pub(crate) reader: AnyPool,
    pub(crate) writer: AnyPool,
    revision_tx: watch::Sender<u64>,
}

/// One plain (not reversible) migration, run in a transaction.
fn migration(version: i64, description: &'static str, sql: &'static str) -> Migration {
    Migration::new(
        version,
        Cow::Borrowed(description),
        MigrationType::Simple,
        SqlStr::from_static(sql),
        false,
    )
}

fn migrator() -> Migrator {
    let mut m = Migrator::with_migrations(vec![
        migration(
            1,
            "objects, tombstones, claims, sequences, meta",
            include_str!("../migrations/0001_objects.sql"),
        ),
        migration(2, "audit", include_str!("../migrations/0002_audit.sql")),
        migration(
            3,
            "usage hours, counters, clocks",
            include_str!("../migrations/0003_usage.sql"),
        ),
        migration(
            4,
            "object counts per kind and project",
            include_str!("../migrations/0004_object_counts.sql"),
        ),
        migration(
            5,
            "project listing order from the index",
            include_str!("../migrations/0005_project_order.sql"),
        ),
    ]);
    m.set_locking(true);
    m
}

impl SqlStore {
    /// Open (creating if needed) a SQLite database file in WAL mode.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url).await
    }

    /// `sqlite://…` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(
                url.split('@').next_back().unwrap_or("").to_string(),
            ));
        };
        let opts = |max: u32| {
            let o = AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30));
            if backend == Backend::Sqlite {
                o.after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL: readers never block the writer; NORMAL sync is durable against a
                        // process crash (kill -9), which is the failure model we promise (SPEC Q2).
                        sqlx::query("PRAGMA journal_mode=WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous=NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout=10000")
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                })
            } else {
                o
            }
        };
        // SQLite allows one writer: a one-connection writer pool queues writers in-process instead
        // of failing them with SQLITE_BUSY.
        let writer = opts(1).connect(url).await?;
        migrator().run(&writer).await?;
        let reader = opts(if backend == Backend::Sqlite { 4 } else { 8 })
            .connect(url)
            .await?;
        let (revision_tx, _) = watch::channel(0);
        let store = Self {
            backend,
            reader,
            writer,
            revision_tx,
        };
        let rev = store.revision().await?;
        store.revision_tx.send_replace(rev);
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Spawn a poller that notices commits made by other processes (admin CLI, other replicas).
    pub fn spawn_revision_poller(self: &std::sync::Arc<Self>, every: Duration) {
        let weak = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(store) = weak.upgrade() else { break };
                if let Ok(rev) = store.revision().await {
                    store.revision_tx.send_if_modified(|cur| {
                        if rev > *cur {
                            *cur = rev;
                            true
                        } else {
                            false
                        }
                    });
                }
            }
        });
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

const COLUMNS: &str = "kind, id, project_id, parent_id, vpc_id, name, status, shared, created_ms, updated_ms, generation, revision, body";

fn decode(row: &AnyRow) -> Result<Record, StoreError> {
    let kind_s: String = row.try_get("kind")?;
    let id: String = row.try_get("id")?;
    let kind = Kind::parse(&kind_s).ok_or_else(|| StoreError::Corrupt {
        kind: "unknown",
        id: id.clone(),
        source: serde_json::Error::io(std::io::Error::other(format!("unknown kind {kind_s}"))),
    })?;
    let body_s: String = row.try_get("body")?;
    let body = serde_json::from_str(&body_s).map_err(|source| StoreError::Corrupt {
        kind: kind.as_str(),
        id: id.clone(),
        source,
    })?;
    let shared: i64 = row.try_get("shared")?;
    Ok(Record {
        kind,
        id,
        index: IndexColumns {
            project_id: row.try_get("project_id")?,
            parent_id: row.try_get("parent_id")?,
            vpc_id: row.try_get("vpc_id")?,
            name: row.try_get("name")?,
            status: row.try_get("status")?,
            created_ms: row.try_get("created_ms")?,
            updated_ms: row.try_get("updated_ms")?,
            shared: shared != 0,
        },
        generation: row.try_get::<i64, _>("generation")? as u64,
        revision: row.try_get::<i64, _>("revision")? as u64,
        body,
    })
}

/// A query's WHERE clause and its bound values, in `$n` placeholders (portable across backends).
struct Where {
    sql: String,
    args: Vec<Arg>,
}

#[derive(Clone)]
enum Arg {
    S(String),
    I(i64),
}

/// The one rule for text the database cannot hold: PostgreSQL refuses NUL in text values, so every
/// backend refuses it in every key, filter and indexed column, before any SQL runs. (Record bodies
/// are JSON text, where NUL travels escaped as `\u0000`, so they need no check.)
pub(crate) fn text(s: &str) -> Result<String, StoreError> {
    if s.contains('\0') {
        Err(StoreError::NulInText)
    } else {
        Ok(s.to_string())
    }
}

fn build_where(q: &Query, backend: Backend) -> Result<Where, StoreError> {
    let mut w = Where {
        sql: String::from(" WHERE 1=1"),
        args: vec![],
    };
    let push = |w: &mut Where, cond: &str, a: Arg| {
        w.args.push(a);
        w.sql
            .push_str(&cond.replace('?', &format!("${}", w.args.len())));
    };
    if let Some(k) = q.kind {
        push(&mut w, " AND kind = ?", Arg::S(k.as_str().into()));
    }
    if let Some(v) = &q.id {
        push(&mut w, " AND id = ?", Arg::S(v.clone()));
    }
    if let Some(v) = &q.project_id {
        push(&mut w, " AND project_id = ?", Arg::S(v.clone()));
    }
    if let Some(v) = &q.parent_id {
        push(&mut w, " AND parent_id = ?", Arg::S(v.clone()));
    }
    if let Some(v) = &q.vpc_id {
        push(&mut w, " AND vpc_id = ?", Arg::S(v.clone()));
    }
    if let Some(v) = &q.name_eq {
        push(&mut w, " AND name = ?", Arg::S(v.clone()));
    }
    if let Some(v) = &q.name_contains {
        // instr/strpos rather than LIKE, so user input needs no escaping of % and _.
        let cond = match backend {
            Backend::Sqlite => " AND instr(lower(name), lower(?)) > 0",
            Backend::Postgres => " AND strpos(lower(name), lower(?)) > 0",
        };
        push(&mut w, cond, Arg::S(v.clone()));
    }
    if let Some(v) = &q.status {
        push(&mut w, " AND status = ?", Arg::S(v.clone()));
    }
    // `column IN (…)`; an empty list matches nothing.
    let any_of = |w: &mut Where, column: &str, list: &[String]| {
        if list.is_empty() {
            w.sql.push_str(" AND 1=0");
            return;
        }
        let mut placeholders = Vec::with_capacity(list.len());
        for s in list {
            w.args.push(Arg::S(s.clone()));
            placeholders.push(format!("${}", w.args.len()));
        }
        w.sql
            .push_str(&format!(" AND {column} IN ({})", placeholders.join(",")));
    };
    if let Some(list) = &q.statuses {
        any_of(&mut w, "status", list);
    }
    if let Some(list) = &q.parent_ids {
        any_of(&mut w, "parent_id", list);
    }
    if let Some(v) = q.shared {
        push(&mut w, " AND shared = ?", Arg::I(i64::from(v)));
    }
    for a in &w.args {
        if let Arg::S(s) = a {
            text(s)?;
        }
    }
    Ok(w)
}

fn order_sql(o: Order) -> &'static str {
    match o {
        Order::CreatedDesc => " ORDER BY created_ms DESC, id DESC",
        Order::CreatedAsc => " ORDER BY created_ms ASC, id ASC",
        Order::UpdatedDesc => " ORDER BY updated_ms DESC, id DESC",
        Order::UpdatedAsc => " ORDER BY updated_ms ASC, id ASC",
    }
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::S(s) => q.bind(s.clone()),
                Arg::I(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// The (kind, project) whose kept count answers `q`'s count, when `q` filters on exactly those
/// two (order, limit and offset do not change a count).
fn kept_count(q: &Query) -> Option<(Kind, &str)> {
    let Query {
        kind: Some(kind),
        project_id: Some(project_id),
        id: None,
        parent_id: None,
        parent_ids: None,
        vpc_id: None,
        name_eq: None,
        name_contains: None,
        status: None,
        statuses: None,
        shared: None,
        order: _,
        limit: _,
        offset: _,
    } = q
    else {
        return None;
    };
    Some((*kind, project_id.as_str()))
}

/// How many objects match `q`: from `object_counts` when it keeps that number (one row instead
/// of a scan over the project's index entries), else counted.
async fn count_matches<'c, E>(exec: E, q: &Query, w: &Where) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    if let Some((kind, project_id)) = kept_count(q) {
        let row = sqlx::query("SELECT n FROM object_counts WHERE kind = $1 AND project_id = $2")
            .bind(kind.as_str())
            .bind(text(project_id)?)
            .fetch_optional(exec)
            .await?;
        return Ok(match row {
            Some(r) => r.try_get("n")?,
            None => 0,
        });
    }
    let sql = format!("SELECT count(*) AS n FROM objects{}", w.sql);
    let row = bind_all!(sqlx::query(AssertSqlSafe(sql)), &w.args)
        .fetch_one(exec)
        .await?;
    Ok(row.try_get("n")?)
}

/// Move the kept count of `kind` in `project_id` by `delta`, inside the writing transaction.
async fn add_to_count(
    tx: &mut Transaction<'static, Any>,
    kind: Kind,
    project_id: &str,
    delta: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO object_counts (kind, project_id, n) VALUES ($1, $2, $3) \
         ON CONFLICT (kind, project_id) DO UPDATE SET n = object_counts.n + excluded.n",
    )
    .bind(kind.as_str())
    .bind(text(project_id)?)
    .bind(delta)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn list_on<'c, E>(exec: E, q: &Query, backend: Backend) -> Result<Page, StoreError>
where
    E: sqlx::Executor<'c, Database = Any> + Copy,
{
    let w = build_where(q, backend)?;
    let mut sql = page_sql(q, &w);
    if q.offset > 0 && q.limit.is_none() {
        sql.push_str(&format!(" LIMIT -1 OFFSET {}", q.offset));
    }
    let rows = bind_all!(sqlx::query(AssertSqlSafe(sql)), &page_args(q, &w)?)
        .fetch_all(exec)
        .await?;
    page_of(exec, q, &w, &rows).await
}

/// A listing's SELECT (without an unlimited OFFSET, which the backends spell differently). When
/// the total is a kept count it comes in the same statement (`total`, one uncorrelated subquery,
/// evaluated once): one round trip instead of two.
fn page_sql(q: &Query, w: &Where) -> String {
    let total = if kept_count(q).is_some() {
        let n = w.args.len();
        format!(
            ", COALESCE((SELECT n FROM object_counts WHERE kind = ${} AND project_id = ${}), 0) AS total",
            n + 1,
            n + 2
        )
    } else {
        String::new()
    };
    let mut sql = format!(
        "SELECT {COLUMNS}{total} FROM objects{}{}",
        w.sql,
        order_sql(q.order)
    );
    if let Some(limit) = q.limit {
        sql.push_str(&format!(
            " LIMIT {} OFFSET {}",
            limit.max(0),
            q.offset.max(0)
        ));
    }
    sql
}

/// The bound values of [`page_sql`]'s statement.
fn page_args(q: &Query, w: &Where) -> Result<Vec<Arg>, StoreError> {
    let mut args: Vec<Arg> = w.args.iter().map(Arg::clone).collect();
    if let Some((kind, project_id)) = kept_count(q) {
        args.push(Arg::S(kind.as_str().to_string()));
        args.push(Arg::S(text(project_id)?));
    }
    Ok(args)
}

/// The page of `rows` (from [`page_sql`]) with its total: from the rows' `total` column when
/// they carry it, else counted (no rows to carry it, or no kept count for the query).
async fn page_of<'c, E>(exec: E, q: &Query, w: &Where, rows: &[AnyRow]) -> Result<Page, StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let records = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    let total = match rows.first() {
        Some(row) if kept_count(q).is_some() => row.try_get("total")?,
        _ => count_matches(exec, q, w).await?,
    };
    Ok(Page { records, total })
}

async fn count_on<'c, E>(exec: E, q: &Query, backend: Backend) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let w = build_where(q, backend)?;
    count_matches(exec, q, &w).await
}

async fn get_on<'c, E>(exec: E, kind: Kind, id: &str) -> Result<Option<Record>, StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM objects WHERE kind = $1 AND id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(kind.as_str())
        .bind(text(id)?)
        .fetch_optional(exec)
        .await?;
    row.as_ref().map(decode).transpose()
}

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let started = std::time::Instant::now();
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        metrics::histogram!("vpcep_store_lock_wait_seconds", "backend" => self.backend.name())
            .record(started.elapsed().as_secs_f64());
        Ok(Box::new(SqlTx {
            tx,
            started,
            backend: self.backend,
            new_revision: None,
            revision_tx: self.revision_tx.clone(),
        }))
    }

    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Record>, StoreError> {
        get_on(&self.reader, kind, id).await
    }

    async fn get_each(&self, keys: &[(Kind, &str)]) -> Result<Vec<Option<Record>>, StoreError> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        let mut cond = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            cond.push(format!("(kind = ${} AND id = ${})", 2 * i + 1, 2 * i + 2));
        }
        let sql = format!("SELECT {COLUMNS} FROM objects WHERE {}", cond.join(" OR "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (kind, id) in keys {
            q = q.bind(kind.as_str()).bind(text(id)?);
        }
        let rows = q.fetch_all(&self.reader).await?;
        let found = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        Ok(keys
            .iter()
            .map(|(kind, id)| {
                found
                    .iter()
                    .find(|r| r.kind == *kind && r.id == *id)
                    .cloned()
            })
            .collect())
    }

    async fn list(&self, query: &Query) -> Result<Page, StoreError> {
        list_on(&self.reader, query, self.backend).await
    }

    async fn count(&self, query: &Query) -> Result<i64, StoreError> {
        count_on(&self.reader, query, self.backend).await
    }

    async fn count_by_parent(
        &self,
        query: &Query,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let w = build_where(query, self.backend)?;
        let sql = format!(
            "SELECT parent_id, count(*) AS n FROM objects{} GROUP BY parent_id",
            w.sql
        );
        let rows = bind_all!(sqlx::query(AssertSqlSafe(sql)), &w.args)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("parent_id")?, r.try_get("n")?)))
            .collect()
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE name = 'revision'")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get::<i64, _>("value")? as u64)
    }

    async fn snapshot(&self, kinds: &[Kind]) -> Result<(u64, Vec<Record>), StoreError> {
        // One read transaction so the objects and the revision agree.
        let mut tx = self.reader.begin().await?;
        let row = sqlx::query("SELECT value FROM meta WHERE name = 'revision'")
            .fetch_one(&mut *tx)
            .await?;
        let rev = row.try_get::<i64, _>("value")? as u64;
        let sql = format!("SELECT {COLUMNS} FROM objects ORDER BY revision ASC, kind ASC, id ASC");
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut out = Vec::new();
        for row in &rows {
            let r = decode(row)?;
            if kinds.contains(&r.kind) {
                out.push(r);
            }
        }
        Ok((rev, out))
    }

    async fn changes_since(&self, after: u64, kinds: &[Kind]) -> Result<ChangeSet, StoreError> {
        let mut tx = self.reader.begin().await?;
        let row = sqlx::query("SELECT value FROM meta WHERE name = 'revision'")
            .fetch_one(&mut *tx)
            .await?;
        let rev = row.try_get::<i64, _>("value")? as u64;
        let row = sqlx::query("SELECT value FROM meta WHERE name = 'compacted_revision'")
            .fetch_one(&mut *tx)
            .await?;
        let compacted = row.try_get::<i64, _>("value")? as u64;
        if after < compacted {
            return Err(StoreError::Compacted(after));
        }
        let sql =
            format!("SELECT {COLUMNS} FROM objects WHERE revision > $1 ORDER BY revision ASC");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after as i64)
            .fetch_all(&mut *tx)
            .await?;
        let tomb = sqlx::query(
            "SELECT kind, id, revision FROM tombstones WHERE revision > $1 ORDER BY revision ASC",
        )
        .bind(after as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut set = ChangeSet {
            revision: rev,
            ..Default::default()
        };
        for row in &rows {
            let r = decode(row)?;
            if kinds.contains(&r.kind) {
                set.written.push(r);
            }
        }
        for row in &tomb {
            let k: String = row.try_get("kind")?;
            let Some(kind) = Kind::parse(&k) else {
                continue;
            };
            if !kinds.contains(&kind) {
                continue;
            }
            let id: String = row.try_get("id")?;
            let r: i64 = row.try_get("revision")?;
            // An object deleted and re-created later shows up as written; skip its old tombstone.
            if set
                .written
                .iter()
                .any(|w| w.kind == kind && w.id == id && w.revision > r as u64)
            {
                continue;
            }
            set.deleted.push((kind, id, r as u64));
        }
        Ok(set)
    }

    async fn compact(&self, revision: u64) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM tombstones WHERE revision <= $1")
            .bind(revision as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE meta SET value = $1 WHERE name = 'compacted_revision' AND value < $1")
            .bind(revision as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision_tx.subscribe()
    }

    async fn usage(
        &self,
        project_id: &str,
        range: vpcep_core::metering::UsageRange,
    ) -> Result<Vec<vpcep_core::metering::HourUsage>, StoreError> {
        crate::usage::list(&self.reader, project_id, range).await
    }

    async fn audit_append(&self, row: &AuditRow) -> Result<u64, StoreError> {
        self.append_audit(row).await
    }

    async fn audit_list(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        self.list_audit(query).await
    }
}

struct SqlTx {
    tx: Transaction<'static, Any>,
    /// When `begin` was called (the write lock's wait included).
    started: std::time::Instant,
    backend: Backend,
    new_revision: Option<u64>,
    revision_tx: watch::Sender<u64>,
}

impl SqlTx {
    /// The revision this transaction's writes carry: last committed + 1, read once.
    async fn write_revision(&mut self) -> Result<u64, StoreError> {
        if let Some(r) = self.new_revision {
            return Ok(r);
        }
        // Moved at the first write rather than at commit (one statement instead of a read now
        // and a write later): writers are serialized, so no one else moves it in between, and a
        // rollback takes the move back with the writes.
        let row = sqlx::query(
            "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        let r = row.try_get::<i64, _>("value")? as u64;
        self.new_revision = Some(r);
        Ok(r)
    }
}

#[async_trait]
impl Tx for SqlTx {
    async fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Record>, StoreError> {
        get_on(&mut *self.tx, kind, id).await
    }

    async fn list(&mut self, query: &Query) -> Result<Page, StoreError> {
        let w = build_where(query, self.backend)?;
        let sql = page_sql(query, &w);
        let rows = bind_all!(sqlx::query(AssertSqlSafe(sql)), &page_args(query, &w)?)
            .fetch_all(&mut *self.tx)
            .await?;
        page_of(&mut *self.tx, query, &w, &rows).await
    }

    async fn count(&mut self, query: &Query) -> Result<i64, StoreError> {
        count_on(&mut *self.tx, query, self.backend).await
    }

    async fn put(&mut self, r: Record) -> Result<(), StoreError> {
        let rev = self.write_revision().await?;
        let body = serde_json::to_string(&r.body).map_err(StoreError::Encode)?;
        // The project it was counted under, if it existed (the kept counts follow a move).
        let before: Option<String> =
            sqlx::query("SELECT project_id FROM objects WHERE kind = $1 AND id = $2")
                .bind(r.kind.as_str())
                .bind(text(&r.id)?)
                .fetch_optional(&mut *self.tx)
                .await?
                .map(|row| row.try_get("project_id"))
                .transpose()?;
        let sql = "INSERT INTO objects (kind, id, project_id, parent_id, vpc_id, name, status, shared, created_ms, updated_ms, generation, revision, body) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                   ON CONFLICT (kind, id) DO UPDATE SET project_id = excluded.project_id, parent_id = excluded.parent_id, \
                   vpc_id = excluded.vpc_id, name = excluded.name, status = excluded.status, shared = excluded.shared, \
                   created_ms = excluded.created_ms, updated_ms = excluded.updated_ms, generation = excluded.generation, \
                   revision = excluded.revision, body = excluded.body";
        sqlx::query(sql)
            .bind(r.kind.as_str())
            .bind(text(&r.id)?)
            .bind(text(&r.index.project_id)?)
            .bind(text(&r.index.parent_id)?)
            .bind(text(&r.index.vpc_id)?)
            .bind(text(&r.index.name)?)
            .bind(text(&r.index.status)?)
            .bind(i64::from(r.index.shared))
            .bind(r.index.created_ms)
            .bind(r.index.updated_ms)
            .bind(r.generation as i64)
            .bind(rev as i64)
            .bind(body)
            .execute(&mut *self.tx)
            .await?;
        if before.as_deref() != Some(r.index.project_id.as_str()) {
            if let Some(old) = &before {
                add_to_count(&mut self.tx, r.kind, old, -1).await?;
            }
            add_to_count(&mut self.tx, r.kind, &r.index.project_id, 1).await?;
        }
        Ok(())
    }

    async fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        let rev = self.write_revision().await?;
        let gone =
            sqlx::query("DELETE FROM objects WHERE kind = $1 AND id = $2 RETURNING project_id")
                .bind(kind.as_str())
                .bind(text(id)?)
                .fetch_optional(&mut *self.tx)
                .await?;
        let existed = gone.is_some();
        if let Some(row) = gone {
            let project_id: String = row.try_get("project_id")?;
            add_to_count(&mut self.tx, kind, &project_id, -1).await?;
            sqlx::query("INSERT INTO tombstones (kind, id, revision) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(kind.as_str())
                .bind(id.to_string())
                .bind(rev as i64)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(existed)
    }

    async fn claim(&mut self, namespace: &str, key: &str, owner: &str) -> Result<bool, StoreError> {
        // One statement answering the holder: a new key is inserted with `owner`; a held one is
        // left as it is (the update writes the owner it already has) and its holder returned.
        let row = sqlx::query(
            "INSERT INTO claims (namespace, claim_key, owner) VALUES ($1, $2, $3) \
             ON CONFLICT (namespace, claim_key) DO UPDATE SET owner = claims.owner RETURNING owner",
        )
        .bind(text(namespace)?)
        .bind(text(key)?)
        .bind(text(owner)?)
        .fetch_one(&mut *self.tx)
        .await?;
        let holder: String = row.try_get("owner")?;
        Ok(holder == owner)
    }

    async fn release(&mut self, namespace: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM claims WHERE namespace = $1 AND claim_key = $2")
            .bind(text(namespace)?)
            .bind(text(key)?)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn release_owner(&mut self, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM claims WHERE owner = $1")
            .bind(text(owner)?)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn claim_owner(
        &mut self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        // Exact key on the primary key: "sub/10.0.0.2" must not match "sub/10.0.0.25".
        let row = sqlx::query("SELECT owner FROM claims WHERE namespace = $1 AND claim_key = $2")
            .bind(text(namespace)?)
            .bind(text(key)?)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.try_get("owner")).transpose()?)
    }

    async fn next_sequence(&mut self, name: &str) -> Result<u64, StoreError> {
        // One statement: the upsert answers the value it left.
        let row = sqlx::query(
            "INSERT INTO sequences (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value",
        )
        .bind(text(name)?)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get::<i64, _>("value")? as u64)
    }

    async fn usage_count(
        &mut self,
        reading: &vpcep_core::metering::CounterReading,
        at_ms: i64,
    ) -> Result<vpcep_core::metering::Counters, StoreError> {
        crate::usage::count(&mut self.tx, reading, at_ms).await
    }

    async fn usage_add(
        &mut self,
        usage: &[vpcep_core::metering::HourUsage],
    ) -> Result<(), StoreError> {
        crate::usage::add(&mut self.tx, usage).await
    }

    async fn usage_clocks(
        &mut self,
    ) -> Result<std::collections::BTreeMap<String, i64>, StoreError> {
        crate::usage::clocks(&mut *self.tx).await
    }

    async fn set_usage_clocks(
        &mut self,
        clocks: &[(String, Option<i64>)],
    ) -> Result<(), StoreError> {
        crate::usage::set_clocks(&mut self.tx, clocks).await
    }

    async fn commit(mut self: Box<Self>) -> Result<u64, StoreError> {
        // The revision was moved with the first write (`write_revision`).
        let rev = self.new_revision;
        let (started, backend) = (self.started, self.backend.name());
        self.tx.commit().await?;
        metrics::histogram!("vpcep_store_transaction_seconds", "backend" => backend)
            .record(started.elapsed().as_secs_f64());
        match rev {
            Some(r) => {
                self.revision_tx.send_if_modified(|cur| {
                    if r > *cur {
                        *cur = r;
                        true
                    } else {
                        false
                    }
                });
                Ok(r)
            }
            None => Ok(*self.revision_tx.borrow()),
        }
    }
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl FromStr for Backend {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            other => Err(StoreError::UnsupportedUrl(other.to_string())),
        }
    }
}
