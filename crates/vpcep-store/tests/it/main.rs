//! Store conformance on every backend available: SQLite always, PostgreSQL when
//! `VPCEP_TEST_PG_URL` names a database this test may wipe.

use std::sync::Arc;

use vpcep_store::{SqlStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlStore::open_sqlite(&dir.path().join("t.db"))
        .await
        .expect("open");
    vpcep_store::conformance::run(Arc::new(store) as Arc<dyn Store>)
        .await
        .expect("suite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopen_keeps_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let rev = {
        let store = SqlStore::open_sqlite(&path).await.expect("open");
        let mut tx = store.begin().await.expect("begin");
        assert!(tx.claim("ip", "a", "o").await.expect("claim"));
        tx.put(vpcep_store::Record {
            kind: vpcep_core::model::Kind::Vpc,
            id: "v".into(),
            index: Default::default(),
            generation: 1,
            revision: 0,
            body: serde_json::json!({"x": 1}),
        })
        .await
        .expect("put");
        let rev = tx.commit().await.expect("commit");
        store.close().await;
        rev
    };
    let store = SqlStore::open_sqlite(&path).await.expect("reopen");
    assert_eq!(store.revision().await.expect("rev"), rev);
    assert!(
        store
            .get(vpcep_core::model::Kind::Vpc, "v")
            .await
            .expect("get")
            .is_some()
    );
}

/// A database written before the kept counts existed: opening it counts what is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_counts_objects_stored_before_the_counts_table() {
    use vpcep_core::model::Kind;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    {
        let store = SqlStore::open_sqlite(&path).await.expect("open");
        let mut tx = store.begin().await.expect("begin");
        for (id, project) in [("a", "p1"), ("b", "p1"), ("c", "p2")] {
            tx.put(vpcep_store::Record {
                kind: Kind::Endpoint,
                id: id.into(),
                index: vpcep_core::model::IndexColumns {
                    project_id: project.into(),
                    ..Default::default()
                },
                generation: 1,
                revision: 0,
                body: serde_json::json!({}),
            })
            .await
            .expect("put");
        }
        tx.commit().await.expect("commit");
        store.close().await;
    }
    // Back to the schema before migration 4, as an older release left it.
    {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", path.display());
        let pool = sqlx::AnyPool::connect(&url).await.expect("raw open");
        sqlx::query("DROP TABLE object_counts")
            .execute(&pool)
            .await
            .expect("drop");
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 4")
            .execute(&pool)
            .await
            .expect("forget migration");
        pool.close().await;
    }
    let store = SqlStore::open_sqlite(&path).await.expect("reopen");
    let count = |p: &'static str| {
        let store = &store;
        async move {
            store
                .count(&vpcep_store::Query::of(Kind::Endpoint).project(p))
                .await
                .expect("count")
        }
    };
    assert_eq!(count("p1").await, 2);
    assert_eq!(count("p2").await, 1);
    assert_eq!(count("p3").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conformance() {
    let Ok(url) = std::env::var("VPCEP_TEST_PG_URL") else {
        eprintln!("VPCEP_TEST_PG_URL not set: PostgreSQL conformance skipped");
        return;
    };
    reset_pg(&url).await;
    let store = SqlStore::connect(&url).await.expect("connect");
    vpcep_store::conformance::run(Arc::new(store) as Arc<dyn Store>)
        .await
        .expect("suite");
}

async fn reset_pg(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("pg connect");
    for t in [
        "objects",
        "tombstones",
        "claims",
        "sequences",
        "meta",
        "audit",
        "usage_hours",
        "usage_counters",
        "usage_clocks",
        "object_counts",
        "_sqlx_migrations",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {t}")))
            .execute(&pool)
            .await
            .expect("drop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_usage_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlStore::open_sqlite(&dir.path().join("t.db"))
        .await
        .expect("open");
    vpcep_store::conformance::usage(Arc::new(store) as Arc<dyn Store>)
        .await
        .expect("usage suite");
}

/// On a scratch database of its own (the shared one is wiped by `postgres_conformance`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_usage_conformance() {
    let Some(db) = vpcep_store::scratch::ScratchDatabase::create("vpcep_usage")
        .await
        .expect("scratch database")
    else {
        eprintln!("VPCEP_TEST_PG_URL not set: PostgreSQL usage conformance skipped");
        return;
    };
    let store = db.store().await.expect("connect");
    vpcep_store::conformance::usage(Arc::new(store) as Arc<dyn Store>)
        .await
        .expect("usage suite");
}
