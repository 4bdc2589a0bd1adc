//! The routers' fast path (docs/dataplane.md, "Fast path"): endpoint traffic to a VM backend is
//! handed between the gateway's legs, the provider's server port and the consumer's host port
//! without the provider router's IP forward and without the consumer subnet's bridge while the
//! agent runs, and takes the normal path again, still flowing, once the agent is gone (its
//! links die with it). A router that translates (load balancer) keeps the normal path:
//! `scenarios::lb_backed_service_carries_http_and_member_sees_snat_source` and `lb.rs` run with
//! the fast path on.

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

/// Frames the router's bridges sent out of its ports (consumer legs `g…` and host ports `n…`):
/// the bridge's work, which the bridge skip takes away.
async fn bridged(router: &str) -> u64 {
    let (ok, out) = exec_in(
        router,
        &["sh", "-c", "cat /sys/class/net/[gn]*/statistics/tx_packets"],
    )
    .await;
    assert!(ok, "reading the bridge ports' counters in {router}: {out}");
    out.lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum()
}

/// `n` requests through the endpoint, each answered; meanwhile the datagrams the provider router
/// forwarded and the frames the consumer router's bridge sent out of its ports.
async fn requests(client_ns: &str, routers: (&str, &str), ip: &str, n: usize) -> (u64, u64) {
    let (provider, consumer) = routers;
    let before = (forwarded(provider).await, bridged(consumer).await);
    for i in 0..n {
        let (ok, out) = tcp_request(client_ns, ip, 80).await;
        assert!(
            ok && out == "hello",
            "request {i} through the endpoint: {out}"
        );
    }
    (
        forwarded(provider).await - before.0,
        bridged(consumer).await - before.1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_traffic_skips_the_routers_until_the_agent_stops() {
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
    let provider = lab
        .names
        .router(svc["vpc_id"].as_str().expect("the service's VPC"));
    let consumer = lab.names.router(&s.consumer.vpc);
    let routers = (provider.as_str(), consumer.as_str());
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

    // Each request is a connection: handshake, data and close both ways, ~8 datagrams the
    // provider router would forward and the consumer's bridge would carry. With the fast path
    // neither does that work (ARP, not IPv4, may still take the bridge).
    let (forwarded_n, bridged_n) = requests(&client_ns, routers, &ip, 20).await;
    assert_eq!(
        forwarded_n, 0,
        "the provider router forwarded {forwarded_n} datagrams of 20 requests: the router skip is not in use"
    );
    assert!(
        bridged_n < 20,
        "the consumer's bridge sent {bridged_n} frames for 20 requests: the bridge skip is not in use"
    );

    // The agent gone (stopped; kill -9 ends its process's links the same way), its links go
    // with it: the routers forward and bridge again, and no request fails meanwhile.
    lab.stop_agent().await;
    wait_for("the routers doing their work again", || async {
        let (f, b) = requests(&client_ns, routers, &ip, 1).await;
        f > 0 && b > 0
    })
    .await;
    let (forwarded_n, bridged_n) = requests(&client_ns, routers, &ip, 20).await;
    assert!(
        // A connection is at least SYN, SYN-ACK, ACK and the answer (one segment may carry its
        // FIN, and ACKs may be merged): ≥ 4 each, far above the fast path's 0.
        forwarded_n >= 20 * 4 && bridged_n >= 20 * 4,
        "the normal path forwarded {forwarded_n} datagrams and bridged {bridged_n} frames for 20 requests"
    );
}
