//! The routers' fast path (docs/dataplane.md, "Fast path"): endpoint traffic to a VM backend is
//! handed between the gateway's legs, the provider's server port and the consumer's host port
//! without the provider router's IP forward and without the consumer subnet's bridge. Its
//! programs, maps and links are pinned: they outlive the agent (stopped, restarted or killed),
//! a restarted agent adopts them (same links, same programs), and what the agent no longer
//! wants, or a teardown, is unpinned — after which the routers forward the normal way again,
//! still flowing. A router that translates (load balancer) keeps the normal path:
//! `scenarios::lb_backed_service_carries_http_and_member_sees_snat_source` and `lb.rs` run with
//! the fast path on. Shapes users have besides the plain one: a provider server with a NIC in
//! each of two subnets, and several consumer VPCs (of two accounts) on the same CIDR with an
//! endpoint each.
//!
//! Each test ends by removing the lab's pins and seeing the same requests forwarded and bridged
//! again: the counters it reads are on the path, so their zeros are the fast path's doing
//! (`VPCEP_NO_FAST_PATH=1` fails each test at its first count).

use serde_json::{Value, json};
use vpcep_client::Client;

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
        // The servers answer `hello`, some followed by the source they saw.
        assert!(
            ok && out.starts_with("hello"),
            "request {i} through the endpoint: {out}"
        );
    }
    (
        forwarded(provider).await - before.0,
        bridged(consumer).await - before.1,
    )
}

/// 20 requests from `client_ns` through the endpoint at `ip` while the agent runs: the provider
/// router forwards none of them and the consumer's bridge carries fewer frames than requests.
async fn assert_skipped(client_ns: &str, routers: (&str, &str), ip: &str) {
    // Each request is a connection: handshake, data and close both ways, ~8 datagrams the
    // provider router would forward and the consumer's bridge would carry. With the fast path
    // neither does that work (ARP, not IPv4, may still take the bridge).
    let (forwarded_n, bridged_n) = requests(client_ns, routers, ip, 20).await;
    assert_eq!(
        forwarded_n, 0,
        "{client_ns} → {ip}: the provider router {} forwarded {forwarded_n} datagrams of 20 requests: the router skip is not in use",
        routers.0
    );
    assert!(
        bridged_n < 20,
        "{client_ns} → {ip}: the consumer's bridge in {} sent {bridged_n} frames for 20 requests: the bridge skip is not in use",
        routers.1
    );
}

/// The agent stopped and the lab's pins removed (what a teardown does): the routers forward
/// and bridge the same requests again, each still answered. Proves the counters
/// [`assert_skipped`] reads are on the path, so its zeros are the fast path's.
async fn unpin_and_assert_normal_path(lab: &mut Lab, paths: &[(&str, (&str, &str), &str)]) {
    lab.stop_agent().await;
    assert!(
        vpcep_dataplane::kernel::fastpath::remove_pins(&lab.names) > 0,
        "the stopped agent left no fast-path pins"
    );
    for (client_ns, routers, ip) in paths {
        assert_normal_path(client_ns, *routers, ip).await;
    }
}

async fn assert_normal_path(client_ns: &str, routers: (&str, &str), ip: &str) {
    wait_for("the routers doing their work again", || async {
        let (f, b) = requests(client_ns, routers, ip, 1).await;
        f > 0 && b > 0
    })
    .await;
    let (forwarded_n, bridged_n) = requests(client_ns, routers, ip, 20).await;
    assert!(
        // A connection is at least SYN, SYN-ACK, ACK and the answer (one segment may carry its
        // FIN, and ACKs may be merged): ≥ 4 each, far above the fast path's 0.
        forwarded_n >= 20 * 4 && bridged_n >= 20 * 4,
        "{client_ns} → {ip}: the normal path forwarded {forwarded_n} datagrams and bridged {bridged_n} frames for 20 requests"
    );
}

/// One VM service and one endpoint of it in another of alice's VPCs, answering.
struct Plain {
    lab: Lab,
    a: Client,
    provider: String,
    consumer: String,
    client_ns: String,
    eid: String,
    ip: String,
}

async fn plain_endpoint() -> Plain {
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let s = vm_service(&a, "10.7.0", "10.7.0.0/16").await;
    let provider = provider_router(&lab, &a, &s.service).await;
    let consumer = lab.names.router(&s.consumer.vpc);
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
    Plain {
        lab,
        a,
        provider,
        consumer,
        client_ns,
        eid,
        ip,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_traffic_skips_the_routers_across_agent_restarts() {
    if !can_run() {
        return;
    }
    let Plain {
        mut lab,
        a,
        provider,
        consumer,
        client_ns,
        eid,
        ip,
    } = plain_endpoint().await;
    let routers = (provider.as_str(), consumer.as_str());

    assert_skipped(&client_ns, routers, &ip).await;
    use vpcep_dataplane::kernel::fastpath::pinned_links;
    let pinned = (pinned_links(&provider), pinned_links(&consumer));
    assert!(
        !pinned.0.is_empty() && !pinned.1.is_empty(),
        "no pinned links: {pinned:?}"
    );

    // A restarted agent adopts the pinned instances: the same links and programs, nothing
    // loaded or attached again, and the traffic still skips the routers.
    lab.restart_agent().await;
    wait_for("the restarted agent's first converge", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    assert_skipped(&client_ns, routers, &ip).await;
    assert_eq!(
        (pinned_links(&provider), pinned_links(&consumer)),
        pinned,
        "the restarted agent replaced the pinned links"
    );

    // The agent stopped, the fast path stays (as its tables and routes do).
    lab.stop_agent().await;
    assert_skipped(&client_ns, routers, &ip).await;

    // Changed while the agent was down: the endpoint goes. The next agent's plan has no fast
    // path for these routers any more, and it removes their pins.
    a.delete_endpoint(&eid).await.expect("delete the endpoint");
    lab.restart_agent().await;
    wait_gone(&a, &format!("/vpc-endpoints/{eid}")).await;
    assert!(
        pinned_links(&provider).is_empty(),
        "the provider router's pins outlived the endpoint: {:?}",
        pinned_links(&provider)
    );
}

/// With the endpoint kept, the pins removed (what a teardown does) leave the normal path: the
/// counters the other tests read for the fast path are on the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_pins_the_traffic_takes_the_normal_path() {
    if !can_run() {
        return;
    }
    let Plain {
        mut lab,
        a: _,
        provider,
        consumer,
        client_ns,
        eid: _,
        ip,
    } = plain_endpoint().await;
    let routers = (provider.as_str(), consumer.as_str());
    assert_skipped(&client_ns, routers, &ip).await;
    unpin_and_assert_normal_path(&mut lab, &[(&client_ns, routers, &ip)]).await;
}

/// The router namespace of the service's VPC.
async fn provider_router(lab: &Lab, c: &Client, service: &str) -> String {
    let svc: Value = c
        .get(
            &c.project_path(&format!("/vpc-endpoint-services/{service}")),
            &[],
        )
        .await
        .expect("service");
    lab.names
        .router(svc["vpc_id"].as_str().expect("the service's VPC"))
}

/// The provider's server has a NIC in each of two subnets of its VPC, and the service is on the
/// second (`plan::tests::fast_path_only_where_the_provider_router_only_forwards` in the plan):
/// the router holds two bridges, a request goes to the second NIC and, the server's default
/// route leaving by its first NIC, the answer comes back through the other bridge. Both
/// ways skip the provider router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_nic_provider_server_skips_the_router() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let prov = network(&a, "prov", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let second: Value = a
        .post(
            &a.project_path("/subnets"),
            &json!({"subnet": {"name": "prov2", "cidr": "10.7.1.0/24", "gateway_ip": "10.7.1.1", "vpc_id": prov.vpc}}),
        )
        .await
        .expect("second subnet");
    let second = second["subnet"]["id"].as_str().expect("subnet id");
    let sg = backend_group(&a, &[("tcp", 80)]).await;
    let web: Value = a
        .post(
            &a.project_path("/lab/servers"),
            &json!({"server": {"name": "web", "vpc_id": prov.vpc, "security_groups": [sg], "nics": [
                {"subnet_id": prov.subnet, "ip_address": "10.7.0.10"},
                {"subnet_id": second, "ip_address": "10.7.1.10"}]}}),
        )
        .await
        .expect("two-NIC server");
    let web_id = web["server"]["id"].as_str().expect("server id");
    let second_nic = web["server"]["nics"][1]["port_id"]
        .as_str()
        .expect("second NIC's port");
    let service = vm_service_on(
        &a,
        second_nic,
        &prov.vpc,
        json!([{"client_port": 80, "server_port": 80}]),
    )
    .await;
    let cons = network(&a, "cons", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let (client, _) = server(&a, "client", &cons, "10.7.0.20", &[]).await;

    let provider = provider_router(&lab, &a, &service).await;
    let consumer = lab.names.router(&cons.vpc);
    let routers = (provider.as_str(), consumer.as_str());
    let (web_ns, client_ns) = (lab.names.server(web_id), lab.names.server(&client));
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hello"],
    )
    .await;
    let (eid, ip) = create_endpoint(&a, &service, &cons).await;
    wait_for("endpoint accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    lab.namespace(&client_ns).await;
    let (ok, out) = first_success(&client_ns, &ip, 80).await;
    assert!(ok, "first request: {out}");

    assert_skipped(&client_ns, routers, &ip).await;
    unpin_and_assert_normal_path(&mut lab, &[(&client_ns, routers, &ip)]).await;
}

/// An endpoint of `service` in `net` at `ip` (the caller's choice, `port_ip`): its id.
async fn endpoint_at(c: &Client, service: &str, net: &Net, ip: &str) -> String {
    let e: Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": service, "vpc_id": net.vpc, "subnet_id": net.subnet, "port_ip": ip}),
        )
        .await
        .expect("endpoint");
    assert_eq!(e["ip"], ip, "the endpoint's address: {e}");
    e["id"].as_str().expect("id").to_string()
}

/// Three consumers of one service, all on the provider's CIDR (10.7.0.0/16, a client at
/// 10.7.0.20 in each): two VPCs of the provider's own account and one of another account. (A
/// project is an account's place in one region and services are regional, so the projects that
/// reach one service are those of several accounts; several VPCs of one project is the other
/// way to have several consumers.) Every consumer gets its answer through its own endpoint
/// (its own translated source), its own bridge is skipped, the provider router forwards
/// nothing, and none reaches another's endpoint: each endpoint has an address of its own,
/// which in the other consumers' VPCs is nobody's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_vpcs_on_one_cidr_each_skip_their_bridge_and_stay_apart() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let b = lab.account("bob").await;
    let bob_domain = lab.domain_id("bob").await;
    let s = vm_service(&a, "10.7.0", "10.7.0.0/16").await;
    a.add_permissions(
        &s.service,
        "domainId",
        &[(format!("iam:domain::{bob_domain}"), "bob".into())],
    )
    .await
    .expect("bob allowed");
    let cons2 = network(&a, "cons2", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let (client2, _) = server(&a, "client2", &cons2, "10.7.0.20", &[]).await;
    let cons3 = network(&b, "cons3", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let (client3, _) = server(&b, "client3", &cons3, "10.7.0.20", &[]).await;

    let provider = provider_router(&lab, &a, &s.service).await;
    let web_ns = lab.names.server(&s.web);
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "SYSTEM:echo hello from $SOCAT_PEERADDR",
        ],
    )
    .await;
    // (account, VPC, client, endpoint address)
    let consumers = [
        (&a, &s.consumer, &s.client, "10.7.0.101"),
        (&a, &cons2, &client2, "10.7.0.102"),
        (&b, &cons3, &client3, "10.7.0.103"),
    ];
    let mut eids = vec![];
    for (c, net, _, ip) in consumers {
        eids.push((c, endpoint_at(c, &s.service, net, ip).await));
    }
    for (c, eid) in &eids {
        wait_for("endpoint accepted", || async {
            status_of(c, &format!("/vpc-endpoints/{eid}")).await == "accepted"
        })
        .await;
    }
    // Per consumer: (client namespace, its router, its endpoint's address).
    let paths: Vec<(String, String, &str)> = consumers
        .iter()
        .map(|(_, net, client, ip)| (lab.names.server(client), lab.names.router(&net.vpc), *ip))
        .collect();

    let mut sources = vec![];
    for (client_ns, _, ip) in &paths {
        lab.namespace(client_ns).await;
        let (ok, out) = first_success(client_ns, ip, 80).await;
        assert!(
            ok && out.starts_with("hello from 198.19.1"),
            "{client_ns} → {ip}: {out}"
        );
        sources.push(out);
    }
    sources.sort();
    sources.dedup();
    assert_eq!(
        sources.len(),
        paths.len(),
        "each consumer through its own endpoint, with its own translated source: {sources:?}"
    );

    for (client_ns, router, ip) in &paths {
        assert_skipped(client_ns, (&provider, router), ip).await;
    }

    // Isolation, with every bridge skipped: another consumer's endpoint address reaches
    // nothing (all pairs at once: each refusal waits out its connect timeout).
    let mut tries = tokio::task::JoinSet::new();
    for (from, _, _) in &paths {
        for (_, _, ip) in paths.iter().filter(|(ns, _, _)| ns != from) {
            let (from, ip) = (from.clone(), ip.to_string());
            tries.spawn(async move {
                let (ok, out) = tcp_request(&from, &ip, 80).await;
                (from, ip, ok, out)
            });
        }
    }
    while let Some(r) = tries.join_next().await {
        let (from, ip, ok, out) = r.expect("isolation probe");
        assert!(
            !ok,
            "{from} reached another consumer's endpoint at {ip}: {out}"
        );
    }

    let normal: Vec<(&str, (&str, &str), &str)> = paths
        .iter()
        .map(|(client_ns, router, ip)| {
            (
                client_ns.as_str(),
                (provider.as_str(), router.as_str()),
                *ip,
            )
        })
        .collect();
    unpin_and_assert_normal_path(&mut lab, &normal).await;
}
