//! Throw-away PostgreSQL databases for tests on the real backend: one fresh database per caller on
//! the server named by `VPCEP_TEST_PG_URL`, dropped (with `FORCE`) when the guard goes, even when
//! the test failed. Used by every crate's tests that run "on every backend".

use crate::{SqlStore, StoreError};

/// The environment variable naming a PostgreSQL server tests may create databases on.
pub const PG_URL_VAR: &str = "VPCEP_TEST_PG_URL";

/// A database made for one test; dropped with the guard.
pub struct ScratchDatabase {
    /// URL of the server's maintenance database (where `CREATE/DROP DATABASE` run).
    admin_url: String,
    name: String,
    /// URL of the new database itself.
    pub url: String,
}

impl ScratchDatabase {
    /// A fresh database, or `None` when `VPCEP_TEST_PG_URL` is unset.
    pub async fn create(prefix: &str) -> Result<Option<Self>, StoreError> {
        let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
            return Ok(None);
        };
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&admin_url).await?;
        drop_stale(&admin, prefix).await;
        // `<prefix>_<pid>_<random>`: unique, and a later run can tell a dead process's leftovers.
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await?;
        admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        Ok(Some(Self {
            admin_url,
            name,
            url,
        }))
    }

    /// Open the store on it.
    pub async fn store(&self) -> Result<SqlStore, StoreError> {
        SqlStore::connect(&self.url).await
    }
}

/// Databases of earlier runs whose process is gone (killed before its guard could drop them).
async fn drop_stale(admin: &sqlx::AnyPool, prefix: &str) {
    use sqlx::Row;
    let rows = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind(format!("{prefix}_%"))
        .fetch_all(admin)
        .await
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String, _>("datname") else {
            continue;
        };
        let pid = name
            .strip_prefix(&format!("{prefix}_"))
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(admin)
        .await;
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside or outside a runtime: a thread with its own runtime does the work.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(pool) = sqlx::AnyPool::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}
