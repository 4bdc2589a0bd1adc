//! The provider routers' fast path (docs/dataplane.md, "Fast path"): endpoint traffic to a VM
//! backend is handed between the gateway's leg and the server's port without the router's IP
//! forward while the agent runs, and takes the normal path again, still flowing, once the agent
//! is gone (its links die with it). A router that translates (load balancer) keeps the normal
//! path: `scenarios::lb_backed_service_carries_http_and_member_sees_snat_source` and `lb.rs`
//! run with the fast path on.

use serde_json::Value;

use crate::lab::*;

/// IPv4 datagrams the namespace's stack has forwarded (`Ip: ForwDatagrams`, /proc/net/snmp).
async fn forwarded(ns: &str) -> u64 {
    let (ok, out) = exec_in(ns, &["cat", "/proc/net/snmp"]).await;
    assert!(ok, "reading /proc/net/snmp in {ns}");
    let mut ip = out.lines().filter(|l| l.starts_with("Ip:"));
    let (Some(names), Some(values)) = (ip.next(), ip.next()) else {
        panic!("no Ip: lines in /proc/net/snmp of {ns}: {out}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ForwDatagrams")
        .and_then(|(_, v)| v.parse().ok())
        .expect("ForwDatagrams")
}

/// `n` requests through the endpoint, each answered; the router's forwarded datagrams meanwhile.
async fn requests(client_ns: &str, router: &str, ip: &str, n: usize) -> u64 {
    let before = forwarded(router).await;
    for i in 0..n {
        let (ok, out) = tcp_request(client_ns, ip, 80).await;
        assert!(
            ok && out == "hello",
            "request {i} through the endpoint: {out}"
        );
    }
    forwarded(router).await - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_backend_traffic_skips_the_provider_router_until_the_agent_stops() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let s = vm_service(&a, "10.7.0", "10.7.0.0/16").await;
    let svc: Value = a
        .get(
            &a.project_path(&format!("/vpc-endpoint-services/{}", s.service)),
            &[],
        )
        .await
        .expect("service");
    let router = lab
        .names
        .router(svc["vpc_id"].as_str().expect("the service's VPC"));
    let (web_ns, client_ns) = (lab.names.server(&s.web), lab.names.server(&s.client));
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hello"],
    )
    .await;
    let (eid, ip) = create_endpoint(&a, &s.service, &s.consumer).await;
    wait_for("endpoint accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    let (ok, out) = first_success(&client_ns, &ip, 80).await;
    assert!(ok, "first request: {out}");

    // Each request is a connection: handshake, data and close both ways, ≥ 8 datagrams the
    // router would forward. With the fast path it forwards none of them.
    let skipped = requests(&client_ns, &router, &ip, 20).await;
    assert_eq!(
        skipped, 0,
        "the provider router forwarded {skipped} datagrams of 20 requests: the fast path is not in use"
    );

    // The agent gone (as kill -9 leaves it), its links go with it: the router forwards again,
    // and no request fails meanwhile.
    lab.stop_agent();
    wait_for("the router forwarding again", || async {
        requests(&client_ns, &router, &ip, 1).await > 0
    })
    .await;
    let normal = requests(&client_ns, &router, &ip, 20).await;
    assert!(
        normal >= 20 * 8,
        "the normal path forwarded only {normal} datagrams for 20 requests"
    );
}
