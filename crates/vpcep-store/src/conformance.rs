//! One behavioural suite every [`Store`] implementation must pass (run on SQLite always and on
//! PostgreSQL when `VPCEP_TEST_PG_URL` is set). Panics on the first violation, naming it.

use std::sync::Arc;

use vpcep_core::model::{IndexColumns, Kind};

use crate::{AuditQuery, AuditRow, Order, Query, Record, Store, StoreError};

fn rec(kind: Kind, id: &str, project: &str, parent: &str, name: &str, created: i64) -> Record {
    Record {
        kind,
        id: id.to_string(),
        index: IndexColumns {
            project_id: project.to_string(),
            parent_id: parent.to_string(),
            vpc_id: String::new(),
            name: name.to_string(),
            status: "creating".to_string(),
            created_ms: created,
            updated_ms: created,
            shared: false,
        },
        generation: 1,
        revision: 0,
        body: serde_json::json!({"id": id, "name": name}),
    }
}

/// Run the whole suite. `store` must be empty.
pub async fn run(store: Arc<dyn Store>) -> Result<(), StoreError> {
    let r0 = store.revision().await?;

    // Writes commit atomically and bump the revision once per transaction.
    let mut tx = store.begin().await?;
    tx.put(rec(
        Kind::EndpointService,
        "s1",
        "p1",
        "port1",
        "r.alpha.s1",
        1,
    ))
    .await?;
    tx.put(rec(
        Kind::EndpointService,
        "s2",
        "p1",
        "port1",
        "r.Beta_%.s2",
        2,
    ))
    .await?;
    tx.put(rec(
        Kind::EndpointService,
        "s3",
        "p2",
        "port2",
        "r.gamma.s3",
        3,
    ))
    .await?;
    let r1 = tx.commit().await?;
    assert_eq!(r1, r0 + 1, "one commit = one revision");
    assert_eq!(store.revision().await?, r1);

    // Rollback on drop: nothing of an uncommitted transaction is visible.
    {
        let mut tx = store.begin().await?;
        tx.put(rec(
            Kind::EndpointService,
            "ghost",
            "p1",
            "port1",
            "ghost",
            9,
        ))
        .await?;
        drop(tx);
    }
    assert!(
        store.get(Kind::EndpointService, "ghost").await?.is_none(),
        "dropped tx must roll back"
    );
    assert_eq!(
        store.revision().await?,
        r1,
        "rolled back tx must not bump revision"
    );

    // Reads, filters, paging, totals.
    let got = store
        .get(Kind::EndpointService, "s1")
        .await?
        .expect("s1 stored");
    assert_eq!(got.revision, r1);
    assert_eq!(got.body["name"], "r.alpha.s1");
    let mut q = Query::of(Kind::EndpointService).project("p1");
    q.order = Order::CreatedAsc;
    let page = store.list(&q).await?;
    assert_eq!(page.total, 2);
    assert_eq!(
        page.records
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    q.limit = Some(1);
    q.offset = 1;
    let page = store.list(&q).await?;
    assert_eq!(page.total, 2, "total ignores limit/offset");
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].id, "s2");
    // Several keys at once, answered in key order, absent ones as `None`.
    let each = store
        .get_each(&[
            (Kind::EndpointService, "s3"),
            (Kind::Vpc, "s1"),
            (Kind::EndpointService, "s1"),
            (Kind::EndpointService, "s3"),
        ])
        .await?;
    assert_eq!(
        each.iter()
            .map(|r| r.as_ref().map(|r| r.id.as_str()))
            .collect::<Vec<_>>(),
        [Some("s3"), None, Some("s1"), Some("s3")]
    );
    assert_eq!(each[2].as_ref(), Some(&got));
    assert!(store.get_each(&[]).await?.is_empty());
    let mut q = Query::of(Kind::EndpointService);
    q.name_contains = Some("beta_%".into());
    let page = store.list(&q).await?;
    assert_eq!(
        page.total, 1,
        "substring match is case-insensitive and treats % and _ literally"
    );
    let mut q = Query::of(Kind::EndpointService);
    q.name_contains = Some("%".into());
    assert_eq!(store.count(&q).await?, 1);
    let q = Query::of(Kind::EndpointService).parent("port1");
    assert_eq!(store.count(&q).await?, 2);
    let mut q = Query::of(Kind::EndpointService);
    q.statuses = Some(vec!["creating".into(), "available".into()]);
    assert_eq!(store.count(&q).await?, 3);
    q.statuses = Some(vec![]);
    assert_eq!(store.count(&q).await?, 0);

    // Children of many parents counted in one query.
    let mut q = Query::of(Kind::EndpointService);
    q.parent_ids = Some(vec!["port1".into(), "port2".into(), "nobody".into()]);
    let counts = store.count_by_parent(&q).await?;
    assert_eq!(counts.len(), 2, "parents without children are absent");
    assert_eq!(counts.get("port1"), Some(&2));
    assert_eq!(counts.get("port2"), Some(&1));
    q.parent_ids = Some(vec![]);
    assert!(store.count_by_parent(&q).await?.is_empty());

    // NUL: one refusal on every backend, before any SQL runs, in reads, filters, keys and
    // indexed columns; the transaction stays usable. Bodies hold it (JSON escapes it).
    let nul = |r: Result<(), StoreError>, what: &str| match r {
        Err(StoreError::NulInText) => {}
        other => panic!("{what}: expected NulInText, got {other:?}"),
    };
    nul(store.get(Kind::Vpc, "a\0b").await.map(|_| ()), "get by id");
    nul(
        store
            .get_each(&[(Kind::Vpc, "v"), (Kind::Vpc, "a\0b")])
            .await
            .map(|_| ()),
        "get_each by id",
    );
    let mut q = Query::of(Kind::EndpointService);
    q.name_contains = Some("\0".into());
    nul(store.list(&q).await.map(|_| ()), "name filter");
    nul(
        store
            .count(&Query::of(Kind::EndpointService).project("p\0"))
            .await
            .map(|_| ()),
        "project filter",
    );
    let mut tx = store.begin().await?;
    nul(
        tx.put(rec(Kind::Vpc, "v\0", "p1", "", "n", 1)).await,
        "put id",
    );
    nul(
        tx.put(rec(Kind::Vpc, "vnul", "p1", "", "a\0b", 1)).await,
        "put name",
    );
    nul(tx.claim("ip", "k\0", "o").await.map(|_| ()), "claim key");
    nul(tx.delete(Kind::Vpc, "\0").await.map(|_| ()), "delete");
    let mut with_nul_body = rec(Kind::Vpc, "vbody", "p1", "", "n", 1);
    with_nul_body.body = serde_json::json!({"description": "a\u{0}b"});
    tx.put(with_nul_body.clone()).await?;
    tx.commit().await?;
    let back = store.get(Kind::Vpc, "vbody").await?.expect("vbody stored");
    assert_eq!(
        back.body, with_nul_body.body,
        "a NUL inside a body round-trips"
    );
    let mut tx = store.begin().await?;
    assert!(tx.delete(Kind::Vpc, "vbody").await?);
    tx.commit().await?;

    // Claims are exclusive; re-claiming one's own is fine; release frees.
    let mut tx = store.begin().await?;
    assert!(tx.claim("ip", "sub1/10.0.0.2", "e1").await?);
    assert!(tx.claim("ip", "sub1/10.0.0.2", "e1").await?);
    assert!(!tx.claim("ip", "sub1/10.0.0.2", "e2").await?);
    assert!(tx.claim("ip", "sub1/10.0.0.3", "e2").await?);
    assert!(tx.claim("ip", "sub10/10.0.0.3", "e3").await?);
    assert_eq!(
        tx.claim_owner("ip", "sub1/10.0.0.3").await?.as_deref(),
        Some("e2")
    );
    // Exact keys, never prefixes: .25 held says nothing about .2 (issue 8, finding 3).
    assert!(tx.claim("ip", "sub5/192.168.5.25", "e4").await?);
    assert_eq!(tx.claim_owner("ip", "sub5/192.168.5.2").await?, None);
    assert!(tx.claim("ip", "sub5/192.168.5.2", "e5").await?);
    tx.release_owner("e1").await?;
    assert_eq!(tx.claim_owner("ip", "sub1/10.0.0.2").await?, None);
    assert!(tx.claim("ip", "sub1/10.0.0.2", "e2").await?);
    tx.release("ip", "sub1/10.0.0.2").await?;
    assert_eq!(tx.claim_owner("ip", "sub1/10.0.0.2").await?, None);
    assert!(tx.claim_owner("ip", "sub1/10.0.0.3").await?.is_some());
    assert_eq!(tx.next_sequence("marker").await?, 1);
    assert_eq!(tx.next_sequence("marker").await?, 2);
    tx.commit().await?;

    // Change feed: writes and deletes after a revision.
    let before = store.revision().await?;
    let mut tx = store.begin().await?;
    tx.put(rec(Kind::Endpoint, "e1", "p1", "s1", "x", 5))
        .await?;
    assert!(tx.delete(Kind::EndpointService, "s3").await?);
    assert!(!tx.delete(Kind::EndpointService, "nope").await?);
    let after = tx.commit().await?;
    let set = store.changes_since(before, &Kind::ALL).await?;
    assert_eq!(set.revision, after);
    assert_eq!(
        set.written
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["e1"]
    );
    assert_eq!(
        set.deleted,
        vec![(Kind::EndpointService, "s3".to_string(), after)]
    );
    let only_services = store
        .changes_since(before, &[Kind::EndpointService])
        .await?;
    assert!(only_services.written.is_empty());
    assert_eq!(only_services.deleted.len(), 1);
    let (snap_rev, objs) = store
        .snapshot(&[Kind::Endpoint, Kind::EndpointService])
        .await?;
    assert_eq!(snap_rev, after);
    assert_eq!(objs.len(), 3);

    // Compaction: watchers behind it must re-list.
    store.compact(after).await?;
    assert!(matches!(
        store.changes_since(before, &Kind::ALL).await,
        Err(StoreError::Compacted(_))
    ));
    assert!(
        store
            .changes_since(after, &Kind::ALL)
            .await?
            .written
            .is_empty()
    );

    // Serialized writers: N concurrent read-modify-write increments lose nothing.
    let mut tx = store.begin().await?;
    tx.put(rec(Kind::Vpc, "counter", "p1", "", "0", 1)).await?;
    tx.commit().await?;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = s.begin().await?;
            let cur = tx.get(Kind::Vpc, "counter").await?.expect("counter");
            let n: i64 = cur.index.name.parse().unwrap_or(0);
            let mut next = cur.clone();
            next.index.name = (n + 1).to_string();
            tokio::task::yield_now().await;
            tx.put(next).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await.expect("task")?;
    }
    let c = store.get(Kind::Vpc, "counter").await?.expect("counter");
    assert_eq!(
        c.index.name, "20",
        "serialized transactions must not lose updates"
    );

    kept_counts(&store).await?;

    // Subscribers see the new revision.
    let rx = store.subscribe();
    assert_eq!(*rx.borrow(), store.revision().await?);

    audit(&store).await
}

/// A project's count of a kind (kept by the store rather than counted) equals what a listing
/// returns, through inserts, rewrites, a move to another project, deletes and a rollback.
async fn kept_counts(store: &Arc<dyn Store>) -> Result<(), StoreError> {
    let check = |project: &'static str, want: usize| {
        let store = store.clone();
        async move {
            let q = Query::of(Kind::Port).project(project);
            let page = store.list(&q).await?;
            assert_eq!(page.records.len(), want, "{project}: listed");
            assert_eq!(page.total, want as i64, "{project}: listing's total");
            assert_eq!(store.count(&q).await?, want as i64, "{project}: count");
            let mut paged = q.clone();
            paged.limit = Some(1);
            paged.offset = 1;
            assert_eq!(
                store.list(&paged).await?.total,
                want as i64,
                "{project}: paged total"
            );
            let mut tx = store.begin().await?;
            assert_eq!(tx.count(&q).await?, want as i64, "{project}: count in a tx");
            assert_eq!(tx.list(&q).await?.total, want as i64, "{project}: tx total");
            Ok::<_, StoreError>(())
        }
    };
    check("cnt-a", 0).await?;
    let mut tx = store.begin().await?;
    for i in 0..3 {
        tx.put(rec(Kind::Port, &format!("cp{i}"), "cnt-a", "", "n", i))
            .await?;
    }
    // Rewriting an object (same project) does not count it twice, in or after the transaction.
    tx.put(rec(Kind::Port, "cp0", "cnt-a", "", "renamed", 0))
        .await?;
    assert_eq!(tx.count(&Query::of(Kind::Port).project("cnt-a")).await?, 3);
    tx.commit().await?;
    check("cnt-a", 3).await?;
    // Another kind in the same project is counted apart.
    assert_eq!(
        store.count(&Query::of(Kind::Vpc).project("cnt-a")).await?,
        0
    );
    // A move to another project.
    let mut tx = store.begin().await?;
    tx.put(rec(Kind::Port, "cp1", "cnt-b", "", "n", 1)).await?;
    tx.commit().await?;
    check("cnt-a", 2).await?;
    check("cnt-b", 1).await?;
    // A rolled-back transaction leaves the counts as they were.
    {
        let mut tx = store.begin().await?;
        tx.put(rec(Kind::Port, "cp9", "cnt-a", "", "n", 9)).await?;
        assert!(tx.delete(Kind::Port, "cp1").await?);
        drop(tx);
    }
    check("cnt-a", 2).await?;
    check("cnt-b", 1).await?;
    // Deletes, including one of an object that is not there.
    let mut tx = store.begin().await?;
    assert!(tx.delete(Kind::Port, "cp0").await?);
    assert!(tx.delete(Kind::Port, "cp1").await?);
    assert!(!tx.delete(Kind::Port, "cp1").await?);
    tx.commit().await?;
    check("cnt-a", 1).await?;
    check("cnt-b", 0).await?;
    Ok(())
}

fn audit_row(domain: &str, time_ms: i64, op: &str) -> AuditRow {
    AuditRow {
        seq: 0,
        time_ms,
        domain_id: domain.to_string(),
        project_id: format!("{domain}-p"),
        access_key_id: "AK1".to_string(),
        front: "api".to_string(),
        operation: op.to_string(),
        resource_ids: vec![format!("{op}-id"), "x".to_string()],
        request_id: format!("req-{op}"),
        source: "127.0.0.1:5".to_string(),
        status: 200,
        error_code: String::new(),
    }
}

/// The audit log: append returns increasing sequence numbers, listing is per account, newest
/// first, within a time range, paged by sequence; concurrent appends never share a number; the
/// change feed's revision does not move (audit entries are not resources).
async fn audit(store: &Arc<dyn Store>) -> Result<(), StoreError> {
    let rev = store.revision().await?;
    let mut seqs = vec![];
    for (i, domain) in ["da", "db", "da", "da"].iter().enumerate() {
        seqs.push(
            store
                .audit_append(&audit_row(domain, 1000 + i as i64, &format!("op{i}")))
                .await?,
        );
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "increasing: {seqs:?}");
    assert_eq!(store.revision().await?, rev, "audit rows are not changes");
    let q = |from_ms, to_ms, before_seq, limit| AuditQuery {
        domain_id: "da".into(),
        from_ms,
        to_ms,
        before_seq,
        limit,
    };
    let all = store.audit_list(&q(None, None, None, 100)).await?;
    assert_eq!(
        all.iter().map(|r| r.operation.as_str()).collect::<Vec<_>>(),
        ["op3", "op2", "op0"],
        "one account's entries, newest first"
    );
    let mut want = audit_row("da", 1003, "op3");
    want.seq = seqs[3];
    assert_eq!(all[0], want, "every field round-trips");
    let page1 = store.audit_list(&q(None, None, None, 2)).await?;
    assert_eq!(page1.len(), 2);
    let page2 = store
        .audit_list(&q(None, None, Some(page1[1].seq), 2))
        .await?;
    assert_eq!(
        page2
            .iter()
            .map(|r| r.operation.as_str())
            .collect::<Vec<_>>(),
        ["op0"],
        "the marker continues after the previous page"
    );
    let ranged = store
        .audit_list(&q(Some(1001), Some(1003), None, 100))
        .await?;
    assert_eq!(
        ranged
            .iter()
            .map(|r| r.operation.as_str())
            .collect::<Vec<_>>(),
        ["op2"],
        "from is inclusive, to exclusive"
    );
    assert!(
        store
            .audit_list(&AuditQuery {
                domain_id: "nobody".into(),
                limit: 10,
                ..Default::default()
            })
            .await?
            .is_empty()
    );
    let mut bad = audit_row("da", 1, "nul");
    bad.request_id = "r\0".into();
    assert!(matches!(
        store.audit_append(&bad).await,
        Err(StoreError::NulInText)
    ));

    // Concurrent appends (a write transaction open meanwhile) all land, each with its own number.
    let held = store.begin().await?;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.audit_append(&audit_row("dc", 2000 + i, "many")).await
        }));
    }
    drop(held);
    let mut got = vec![];
    for t in tasks {
        got.push(t.await.expect("task")?);
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 10, "no sequence number shared");
    let dc = AuditQuery {
        domain_id: "dc".into(),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.audit_list(&dc).await?.len(), 10);
    Ok(())
}

/// Metering on one backend (`store` may hold anything but usage): the delta rule (first
/// reading, growth, a repeated reading, a counter that went down), hour buckets, clocks, and a
/// rolled-back transaction that bills nothing.
pub async fn usage(store: Arc<dyn Store>) -> Result<(), StoreError> {
    use vpcep_core::metering::{CounterReading, Counters, HOUR_MS, HourUsage, Traffic, UsageRange};
    let h = 490_000 * HOUR_MS; // an hour in 2025
    let value = |rx: u64, tx: u64| Counters {
        rx: Traffic {
            packets: rx / 1000,
            bytes: rx,
        },
        tx: Traffic {
            packets: tx / 1000,
            bytes: tx,
        },
    };
    let reading = |counter: &str, v: Counters| CounterReading {
        endpoint_id: "e1".into(),
        counter: counter.into(),
        project_id: "p1".into(),
        service_id: "s1".into(),
        value: v,
        read_ms: 0,
    };
    // Read and received at `at` (the agent's and the control plane's clocks agree here).
    let count = |mut r: CounterReading, at: i64| {
        r.read_ms = at;
        let store = store.clone();
        async move {
            let mut tx = store.begin().await?;
            let billed = tx.usage_count(&r, at).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(billed)
        }
    };
    let hours = |from: i64, to: i64| {
        let store = store.clone();
        async move {
            store
                .usage(
                    "p1",
                    UsageRange {
                        from_ms: from,
                        to_ms: to,
                    },
                )
                .await
        }
    };
    let r0 = store.revision().await?;

    // First reading of a counter: all of it.
    assert_eq!(
        count(reading("boot/gw0", value(5_000, 9_000)), h + 10).await?,
        value(5_000, 9_000)
    );
    // Growth: the difference.
    assert_eq!(
        count(reading("boot/gw0", value(8_000, 9_000)), h + 20).await?,
        value(3_000, 0)
    );
    // The same reading again (a repeated report, an agent restart): nothing.
    assert_eq!(
        count(reading("boot/gw0", value(8_000, 9_000)), h + 30).await?,
        Counters::default()
    );
    // Another counter of the same endpoint (another boot): its own first reading.
    assert_eq!(
        count(reading("boot2/gw0", value(1_000, 1_000)), h + 40).await?,
        value(1_000, 1_000)
    );
    // A counter that went down was recreated: its value from zero, billed to the next hour.
    assert_eq!(
        count(reading("boot/gw0", value(2_000, 12_000)), h + HOUR_MS + 5).await?,
        value(2_000, 12_000)
    );
    // ... and it goes on from there.
    assert_eq!(
        count(reading("boot/gw0", value(2_500, 12_000)), h + HOUR_MS + 6).await?,
        value(500, 0)
    );
    // A reading older than the last one kept (a late report): ignored, whatever its value;
    // the next reading's difference covers it.
    {
        let mut late = reading("boot/gw0", value(2_550, 12_000));
        late.read_ms = h + HOUR_MS + 5;
        let mut tx = store.begin().await?;
        assert_eq!(
            tx.usage_count(&late, h + HOUR_MS + 7).await?,
            Counters::default()
        );
        tx.commit().await?;
    }
    // A rolled-back transaction bills nothing and moves no last value.
    {
        let mut tx = store.begin().await?;
        tx.usage_count(&reading("boot/gw0", value(9_999, 99_999)), h + HOUR_MS + 7)
            .await?;
    }
    assert_eq!(
        count(reading("boot/gw0", value(2_600, 12_000)), h + HOUR_MS + 8).await?,
        value(100, 0)
    );

    // Time in `accepted`, added to the same buckets (rows of one (endpoint, hour) merged).
    let mut tx = store.begin().await?;
    let rows: Vec<HourUsage> = [(h, 1_500), (h, 500), (h + HOUR_MS, 7)]
        .into_iter()
        .map(|(hour, ms)| HourUsage {
            endpoint_id: "e1".into(),
            hour_ms: hour + 123, // rounded down to the hour
            project_id: "p1".into(),
            service_id: "s1".into(),
            accepted_ms: ms,
            ..Default::default()
        })
        .collect();
    tx.usage_add(&rows).await?;
    tx.commit().await?;
    // Many endpoints at once (more than one statement's worth).
    let many: Vec<HourUsage> = (0..1_234)
        .map(|i| HourUsage {
            endpoint_id: format!("m{i}"),
            hour_ms: h,
            project_id: "p9".into(),
            service_id: "s1".into(),
            accepted_ms: i,
            ..Default::default()
        })
        .collect();
    let mut tx = store.begin().await?;
    tx.usage_add(&many).await?;
    tx.usage_add(&many[..10]).await?;
    tx.commit().await?;
    let p9 = store
        .usage(
            "p9",
            UsageRange {
                from_ms: h,
                to_ms: h + HOUR_MS,
            },
        )
        .await?;
    assert_eq!(p9.len(), 1_234);
    let total: i64 = p9.iter().map(|u| u.accepted_ms).sum();
    assert_eq!(total, (0..1_234).sum::<i64>() + (0..10).sum::<i64>());

    let got = hours(h, h + 2 * HOUR_MS).await?;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].hour_ms, got[0].accepted_ms), (h, 2_000));
    assert_eq!(got[0].traffic, value(9_000, 10_000));
    assert_eq!((got[1].hour_ms, got[1].accepted_ms), (h + HOUR_MS, 7));
    assert_eq!(got[1].traffic, value(2_600, 12_000));
    assert_eq!(
        (got[0].endpoint_id.as_str(), got[0].service_id.as_str()),
        ("e1", "s1")
    );
    // The range is [from, to), and another project sees nothing.
    assert_eq!(hours(h + HOUR_MS, h + 2 * HOUR_MS).await?.len(), 1);
    assert_eq!(hours(h, h + HOUR_MS).await?.len(), 1);
    let other = store
        .usage(
            "p2",
            UsageRange {
                from_ms: h,
                to_ms: h + 2 * HOUR_MS,
            },
        )
        .await?;
    assert!(other.is_empty());

    // Clocks: set, moved, dropped; many at once.
    let mut tx = store.begin().await?;
    tx.set_usage_clocks(&[
        ("e1".into(), Some(h)),
        ("e2".into(), Some(h + 1)),
        ("e1".into(), Some(h + 5)),
    ])
    .await?;
    let many: Vec<(String, Option<i64>)> = (0..1_234).map(|i| (format!("m{i}"), Some(i))).collect();
    tx.set_usage_clocks(&many).await?;
    tx.commit().await?;
    let mut tx = store.begin().await?;
    assert_eq!(tx.usage_clocks().await?.len(), 2 + 1_234);
    let gone: Vec<(String, Option<i64>)> = (0..1_234)
        .map(|i| (format!("m{i}"), None))
        .chain([("e2".to_string(), None)])
        .collect();
    tx.set_usage_clocks(&gone).await?;
    tx.commit().await?;
    let mut tx = store.begin().await?;
    let clocks = tx.usage_clocks().await?;
    assert_eq!(
        clocks.into_iter().collect::<Vec<_>>(),
        vec![("e1".to_string(), h + 5)]
    );
    drop(tx);

    // Metering is not part of the change feed.
    assert_eq!(store.revision().await?, r0, "metering moved the revision");
    Ok(())
}
