//! Racing creates never exceed a quota or the backend limit and never hand out an IP twice
//! (SPEC Q5).

use std::collections::HashSet;

use futures_util::future::join_all;
use serde_json::{Value, json};
use vpcep_control::Settings;
use vpcep_core::model::Quotas;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_respect_limits() {
    let settings = Settings {
        default_quotas: Quotas {
            endpoint_service: 8,
            endpoint: 12,
        },
        ..Settings::default()
    };
    let srv = Server::start_with(settings).await;
    let alice = srv.account("alice").await;
    let a = &alice.client;
    // A /28: 13 usable addresses, the LB VIP and the server NIC take two: 11 left.
    let net = network(a, "10.20.0.0/16", "10.20.0.0/28", "10.20.0.1").await;

    // 20 services race for one backend: exactly 5 win, the rest get EndPoint.3056.
    let tries = (0..20).map(|i| {
        let a = a.clone();
        let net = &net;
        async move {
            create_service(
                &a,
                net,
                &format!("race{i}"),
                false,
                json!([{"client_port": 80, "server_port": 1000 + i}]),
            )
            .await
        }
    });
    let results = join_all(tries).await;
    let ok: Vec<&Value> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 5, "exactly five services per backend");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), Some("EndPoint.3056"));
    }
    let sid = ok[0]["id"].as_str().expect("id").to_string();

    // 30 endpoints race for 11 addresses under a quota of 12: 11 win, all distinct.
    let tries = (0..30).map(|_| {
        let a = a.clone();
        let (sid, net) = (&sid, &net);
        async move { create_endpoint(&a, sid, net).await }
    });
    let results = join_all(tries).await;
    let ips: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|e| e["ip"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ips.len(), 11, "every free address handed out once");
    assert_eq!(
        ips.iter().collect::<HashSet<_>>().len(),
        ips.len(),
        "no IP twice"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(
            r.code(),
            Some("EndPoint.3001"),
            "the rest find the subnet full"
        );
    }

    // Now the quota is the limit: a roomy subnet, 10 racers, quota 12, 11 used: one wins.
    let big = network(a, "10.30.0.0/16", "10.30.0.0/24", "10.30.0.1").await;
    let tries = (0..10).map(|_| {
        let a = a.clone();
        let (sid, big) = (&sid, &big);
        async move { create_endpoint(&a, sid, big).await }
    });
    let results = join_all(tries).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "quota 12 holds under a race"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), Some("Endpoint.1018"));
    }
    let q: Value = a
        .get(&a.project_path("/quotas"), &[])
        .await
        .expect("quotas");
    assert_eq!(
        q["quotas"]["resources"][1],
        json!({"type": "endpoint", "used": 12, "quota": 12})
    );
}
