//! Clean, fast stop (issue 9): SIGTERM ends `vpcep serve` within a second even while an agent's
//! long-poll (25 s) is in flight, which graceful shutdown used to wait for.

use std::time::{Duration, Instant};

use crate::support::{DataSpec, ServerProc, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_serve_within_a_second_during_a_long_poll() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataSpec {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let addr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let mut server = ServerProc::start(data.clone(), addr, &dir.path().join("serve.log")).await;
    let token = std::fs::read_to_string(data.data_dir.join("agent.token")).expect("agent token");
    let http = reqwest::Client::new();
    let rev: serde_json::Value = http
        .get(format!("{}/agent/v1/snapshot", server.url()))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("snapshot")
        .json()
        .await
        .expect("snapshot JSON");
    let after = rev["revision"].as_u64().expect("revision");
    // A long-poll with nothing to report: it would hold the connection for 25 s.
    let poll = tokio::spawn({
        let url = format!(
            "{}/agent/v1/changes?after={after}&timeout_ms=25000",
            server.url()
        );
        let token = token.trim().to_string();
        async move { http.get(url).bearer_auth(token).send().await }
    });
    let pending = tokio::time::timeout(Duration::from_millis(200), async {
        while !poll.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        pending.is_err(),
        "the long-poll answered at once: nothing to wait on"
    );
    let started = Instant::now();
    let status = server.sigterm_and_wait(Duration::from_secs(10)).await;
    let took = started.elapsed();
    println!(
        "shutdown: SIGTERM → exit in {} ms ({status})",
        took.as_millis()
    );
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        server.log_tail()
    );
    assert!(
        took < Duration::from_secs(1),
        "serve took {took:?} to stop after SIGTERM:\n{}",
        server.log_tail()
    );
}
