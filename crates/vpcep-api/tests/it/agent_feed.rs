//! The agent protocol: snapshot, watch (long-poll wakes on commit), stale reports ignored.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_delivers_changes_and_reports_move_statuses() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let a = &alice.client;

    // Without the token: refused.
    let resp = reqwest::get(format!("{}/agent/v1/snapshot", srv.url()))
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 401);

    let (st, snap) = srv.agent(Method::GET, "/snapshot", None).await;
    assert_eq!(st, 200);
    let rev = snap["revision"].as_u64().expect("revision");
    assert!(
        snap["objects"].as_array().is_some_and(|o| o.is_empty()),
        "identity is not in the feed"
    );

    // A long-poll started before a change returns as soon as the change commits.
    let url = srv.url();
    let token = srv.token.clone();
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let v: Value = reqwest::Client::new()
            .get(format!(
                "{url}/agent/v1/changes?after={rev}&timeout_ms=20000"
            ))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("json");
        (started.elapsed(), v)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let net = network(a, "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let (waited, changes) = poll.await.expect("join");
    assert!(
        waited < Duration::from_secs(5),
        "woken by the commit, not by the timeout ({waited:?})"
    );
    let kinds: Vec<&str> = changes["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"vpc"), "{kinds:?}");

    // A stale generation is ignored; the current one counts.
    let svc = create_service(
        a,
        &net,
        "feed",
        false,
        json!([{"client_port": 1, "server_port": 1}]),
    )
    .await
    .expect("svc");
    let sid = svc["id"].as_str().expect("id");
    let report = |generation: u64, outcome: &str| {
        json!({"agent": "t", "results": [{"kind": "endpoint_service", "id": sid, "generation": generation, "outcome": outcome,
            "error_code": "EndPoint.4001", "error_message": "nft said no"}]})
    };
    let (_, ack) = srv
        .agent(Method::POST, "/reports", Some(report(7, "applied")))
        .await;
    assert_eq!(ack, json!({"accepted": 0, "stale": 1}));
    let (_, ack) = srv
        .agent(Method::POST, "/reports", Some(report(1, "failed")))
        .await;
    assert_eq!(ack, json!({"accepted": 1, "stale": 0}));
    let d: Value = a
        .get(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}")),
            &[],
        )
        .await
        .expect("detail");
    assert_eq!(d["status"], "failed");
    assert_eq!(
        d["error"],
        json!([{"code": "EndPoint.4001", "message": "nft said no"}])
    );
    let (_, ack) = srv
        .agent(Method::POST, "/reports", Some(report(1, "applied")))
        .await;
    assert_eq!(
        ack["accepted"], 1,
        "a later success recovers a failed service"
    );

    // Deleting: the feed shows it in `deleting`, then a tombstone once removed.
    let before = srv.control.revision().await.expect("rev");
    a.delete(&a.project_path(&format!("/vpc-endpoint-services/{sid}")))
        .await
        .expect("delete");
    let (_, ch) = srv
        .agent(
            Method::GET,
            &format!("/changes?after={before}&timeout_ms=1000"),
            None,
        )
        .await;
    assert_eq!(ch["changes"][0]["object"]["spec"]["status"], "deleting");
    let gen_ = ch["changes"][0]["object"]["generation"]
        .as_u64()
        .expect("gen");
    let mid = ch["revision"].as_u64().expect("rev");
    let (_, ack) = srv
        .agent(Method::POST, "/reports", Some(report(gen_, "removed")))
        .await;
    assert_eq!(ack["accepted"], 1);
    let (_, ch) = srv
        .agent(
            Method::GET,
            &format!("/changes?after={mid}&timeout_ms=1000"),
            None,
        )
        .await;
    assert_eq!(ch["changes"][0]["object"], Value::Null, "tombstone: {ch}");
    assert_eq!(ch["changes"][0]["id"], sid);

    // An empty wait times out cleanly.
    let now = ch["revision"].as_u64().expect("rev");
    let (st, ch) = srv
        .agent(
            Method::GET,
            &format!("/changes?after={now}&timeout_ms=50"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(ch["changes"], json!([]));
}
