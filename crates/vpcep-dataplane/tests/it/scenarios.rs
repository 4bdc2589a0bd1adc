//! The end-to-end scenarios, through the public API.

use serde_json::{Value, json};
use vpcep_client::services::ConnectionAction;

use crate::lab::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_backed_service_carries_http_and_member_sees_snat_source() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let alice = lab.account("alice").await;
    let a = &alice;

    // Provider: a member behind a load balancer, its group allowing the SNAT range on 8080.
    let prov = network(a, "prov", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let sg = backend_group(a, &[("tcp", 8080)]).await;
    let (web, _) = server(a, "web", &prov, "192.168.0.10", &[&sg]).await;
    let lb: Value = a
        .post(
            &a.project_path("/lab/loadbalancers"),
            &json!({"loadbalancer": {"name": "elb", "vpc_id": prov.vpc, "subnet_id": prov.subnet, "vip_address": "192.168.0.100",
                "listeners": [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.0.10", "port": 8080}]}]}}),
        )
        .await
        .expect("lb");
    let vip_port = lb["loadbalancer"]["vip_port_id"]
        .as_str()
        .expect("vip")
        .to_string();
    // Consumer: the very same CIDR, a client host.
    let cons = network(a, "cons", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let (client, _) = server(a, "client", &cons, "192.168.0.10", &[]).await;

    let web_ns = lab.names.server(&web);
    let client_ns = lab.names.server(&client);
    lab.namespace(&web_ns).await;
    lab.namespace(&client_ns).await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:8080,fork,reuseaddr",
            "SYSTEM:echo member sees $SOCAT_PEERADDR",
        ],
    )
    .await;

    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": vip_port, "vpc_id": prov.vpc, "server_type": "LB", "service_name": "web",
                "approval_enabled": false, "ports": [{"client_port": 80, "server_port": 80, "protocol": "TCP"}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    wait_for("service available", || async {
        status_of(a, &format!("/vpc-endpoint-services/{sid}")).await == "available"
    })
    .await;

    let started = std::time::Instant::now();
    let ep: Value = a
        .post(
            &a.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": sid, "vpc_id": cons.vpc, "subnet_id": cons.subnet}),
        )
        .await
        .expect("endpoint");
    let eid = ep["id"].as_str().expect("id").to_string();
    let ip = ep["ip"].as_str().expect("ip").to_string();
    wait_for("endpoint accepted", || async {
        status_of(a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    let (ok, out) = tcp_request(&client_ns, &ip, 80).await;
    eprintln!(
        "create → accepted → first response: {:?}",
        started.elapsed()
    );
    assert!(ok, "request through the endpoint failed: {out}");
    assert!(
        out.starts_with("member sees 198.19.1"),
        "the member must see a 198.19.128.0/20 source, got {out:?}"
    );

    // The endpoint's source whitelist: another range only → refused; the client's address → ok.
    let _: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoints/{eid}")),
            &json!({"whitelist": ["10.9.9.0/24"], "enable_whitelist": true}),
        )
        .await
        .expect("whitelist");
    wait_for("whitelist enforced", || async {
        !tcp_request(&client_ns, &ip, 80).await.0
    })
    .await;
    let _: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoints/{eid}")),
            &json!({"whitelist": ["10.9.9.0/24", "192.168.0.10"], "enable_whitelist": true}),
        )
        .await
        .expect("whitelist");
    let (ok, out) = first_success(&client_ns, &ip, 80).await;
    assert!(ok, "a whitelisted source connects: {out}");
    let _: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoints/{eid}")),
            &json!({"whitelist": [], "enable_whitelist": false}),
        )
        .await
        .expect("whitelist off");

    // Nothing but mapped ports.
    let (ok, _) = tcp_request(&client_ns, &ip, 22).await;
    assert!(!ok, "an unmapped port must not connect");

    // Delete: traffic stops, the record goes, the gateway is removed with its last endpoint.
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoints/{eid}")))
            .await
            .expect("delete"),
        204
    );
    wait_gone(a, &format!("/vpc-endpoints/{eid}")).await;
    let (ok, _) = tcp_request(&client_ns, &ip, 80).await;
    assert!(!ok, "a deleted endpoint carries nothing");
}

/// (2) cross-account with whitelist and approval, (3) three parties on 192.168.0.0/24, (4) UDP,
/// (5) one direction only, nothing unmapped, no third VPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_account_approval_isolation_udp_and_reject_cuts_flows() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let alice = lab.account("alice").await;
    let bob = lab.account("bob").await;
    let bob_domain = lab.domain_id("bob").await;
    let (a, b) = (&alice, &bob);

    let prov = network(a, "prov", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let sg = backend_group(a, &[("tcp", 8080), ("tcp", 8081), ("udp", 5353)]).await;
    let (web, web_port) = server(a, "web", &prov, "192.168.0.20", &[&sg]).await;
    let cons1 = network(b, "c1", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let (c1, _) = server(b, "c1", &cons1, "192.168.0.10", &[]).await;
    let cons2 = network(b, "c2", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let (c2, _) = server(b, "c2", &cons2, "192.168.0.10", &[]).await;
    let third = network(
        b,
        "third",
        "192.168.0.0/16",
        "192.168.0.0/24",
        "192.168.0.1",
    )
    .await;
    let (c3, _) = server(b, "c3", &third, "192.168.0.10", &[]).await;
    let (web_ns, c1_ns, c2_ns, c3_ns) = (
        lab.names.server(&web),
        lab.names.server(&c1),
        lab.names.server(&c2),
        lab.names.server(&c3),
    );
    for ns in [&web_ns, &c1_ns, &c2_ns, &c3_ns] {
        lab.namespace(ns).await;
    }
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:8080,fork,reuseaddr",
            "SYSTEM:echo tcp from $SOCAT_PEERADDR",
        ],
    )
    .await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:8081,fork,reuseaddr",
            "SYSTEM:echo slow; sleep 30",
        ],
    )
    .await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "UDP-RECVFROM:5353,fork",
            "SYSTEM:echo udp from $SOCAT_PEERADDR",
        ],
    )
    .await;

    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "service_name": "web", "approval_enabled": true,
                "ports": [{"client_port": 80, "server_port": 8080, "protocol": "TCP"}, {"client_port": 81, "server_port": 8081, "protocol": "TCP"},
                    {"client_port": 53, "server_port": 5353, "protocol": "UDP"}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    a.add_permissions(
        &sid,
        "domainId",
        &[(format!("iam:domain::{bob_domain}"), "bob".into())],
    )
    .await
    .expect("whitelist");
    let mut eps = vec![];
    for net in [&cons1, &cons2] {
        let ep: Value = b
            .post(
                &b.project_path("/vpc-endpoints"),
                &json!({"endpoint_service_id": sid, "vpc_id": net.vpc, "subnet_id": net.subnet}),
            )
            .await
            .expect("endpoint");
        assert_eq!(ep["status"], "pendingAcceptance");
        eps.push((
            ep["id"].as_str().expect("id").to_string(),
            ep["ip"].as_str().expect("ip").to_string(),
        ));
    }
    let (e1, ip1) = eps[0].clone();
    let (e2, ip2) = eps[1].clone();
    // Pending carries nothing.
    let (ok, _) = tcp_request(&c1_ns, &ip1, 80).await;
    assert!(!ok, "a pending endpoint must carry nothing");

    for e in [&e1, &e2] {
        a.connection_action(&sid, ConnectionAction::Accept, e)
            .await
            .expect("receive");
    }
    for e in [&e1, &e2] {
        wait_for("accepted", || async {
            status_of(b, &format!("/vpc-endpoints/{e}")).await == "accepted"
        })
        .await;
    }
    // Identical addresses on three sides: both consumers reach the one provider, each with its own
    // translated source.
    // The pending-time probe left a failed ARP entry in the consumers: their first attempt may
    // need a re-resolution, so allow a short retry window for the first connection.
    let (ok1, out1) = first_success(&c1_ns, &ip1, 80).await;
    let (ok2, out2) = first_success(&c2_ns, &ip2, 80).await;
    assert!(ok1 && out1.starts_with("tcp from 198.19.1"), "{out1}");
    assert!(ok2 && out2.starts_with("tcp from 198.19.1"), "{out2}");
    assert_ne!(
        out1, out2,
        "each consumer attachment has its own SNAT address"
    );
    // UDP mapping. A datagram or its answer may be lost (the responder forks a shell per
    // datagram; on a loaded machine that can outlast the wait): like any UDP client, ask again.
    let mut udp = (false, String::new());
    for _ in 0..3 {
        udp = exec_in(
            &c1_ns,
            &[
                "sh",
                "-c",
                &format!("echo hi | timeout 4 socat -T2 - UDP:{ip1}:53"),
            ],
        )
        .await;
        if udp.0 && !udp.1.is_empty() {
            break;
        }
    }
    let (ok, out) = udp;
    assert!(
        ok && out.starts_with("udp from 198.19.1"),
        "udp through the endpoint: {out}"
    );
    // Unmapped port; third VPC (no endpoint) gets nothing at that address.
    assert!(!tcp_request(&c1_ns, &ip1, 8080).await.0, "unmapped port");
    assert!(
        !tcp_request(&c3_ns, &ip1, 80).await.0,
        "a third VPC must not reach the endpoint"
    );
    // One direction only: the provider cannot open connections to the consumer side.
    let snat = out1.trim_start_matches("tcp from ").to_string();
    assert!(
        !tcp_request(&web_ns, &snat, 80).await.0,
        "provider → translated consumer address"
    );
    assert!(
        !tcp_request(&web_ns, &ip1, 80).await.0,
        "provider → endpoint address"
    );

    // An open TCP connection dies within a second of `reject`.
    let conn = tokio::spawn({
        let ns = c1_ns.clone();
        let ip = ip1.clone();
        async move {
            let started = std::time::Instant::now();
            let _ = exec_in(
                &ns,
                &[
                    "timeout",
                    "20",
                    "socat",
                    "-u",
                    &format!("TCP:{ip}:81"),
                    "STDOUT",
                ],
            )
            .await;
            started.elapsed()
        }
    });
    // Reject only once the connection is really open (the client's socket is established).
    wait_for("connection established", || async {
        let (_, out) = exec_in(
            &c1_ns,
            &[
                "ss",
                "-Htn",
                "state",
                "established",
                "dst",
                &format!("{ip1}:81"),
            ],
        )
        .await;
        !out.is_empty()
    })
    .await;
    let rejected_at = std::time::Instant::now();
    a.connection_action(&sid, ConnectionAction::Reject, &e1)
        .await
        .expect("reject");
    let lived = conn.await.expect("join");
    let after_reject = rejected_at.elapsed();
    eprintln!(
        "connection ended {:?} after reject (ran {lived:?})",
        after_reject
    );
    assert!(
        lived < std::time::Duration::from_secs(15),
        "the open connection must be cut, not run to its 30 s end"
    );
    assert!(
        after_reject < std::time::Duration::from_secs(1),
        "cut within 1 s of reject, took {after_reject:?}"
    );
    assert!(
        !tcp_request(&c1_ns, &ip1, 80).await.0,
        "a rejected endpoint carries nothing"
    );
    assert!(
        tcp_request(&c2_ns, &ip2, 80).await.0,
        "the other consumer is unaffected"
    );
}

/// (7) the agent stopped right after a change, changes made while it is down, restart: the
/// same kernel state as a clean run, and a restart with nothing to do changes nothing (no link
/// re-created, nothing duplicated). The lab stops its in-process agent between converges
/// (`Lab::stop_agent`): aborting its task was no kill -9 — a converge in flight outlived the
/// abort and raced the next agent. A kill half-way through an apply needs the agent in a
/// process of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_converges_to_the_same_kernel_state() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let prov = network(&a, "prov", "10.1.0.0/16", "10.1.0.0/24", "10.1.0.1").await;
    let sg = backend_group(&a, &[("tcp", 80)]).await;
    let (web, web_port) = server(&a, "web", &prov, "10.1.0.20", &[&sg]).await;
    let cons = network(&a, "cons", "10.1.0.0/16", "10.1.0.0/24", "10.1.0.1").await;
    let (client, _) = server(&a, "client", &cons, "10.1.0.10", &[]).await;
    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "approval_enabled": false,
                "ports": [{"client_port": 80, "server_port": 80}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    let mk = |n: usize| {
        let (a, sid, vpc, subnet) = (
            a.clone(),
            sid.clone(),
            cons.vpc.clone(),
            cons.subnet.clone(),
        );
        async move {
            let mut ids = vec![];
            for _ in 0..n {
                let e: Value = a
                    .post(
                        &a.project_path("/vpc-endpoints"),
                        &json!({"endpoint_service_id": sid, "vpc_id": vpc, "subnet_id": subnet}),
                    )
                    .await
                    .expect("endpoint");
                ids.push(e["id"].as_str().expect("id").to_string());
            }
            ids
        }
    };
    let first = mk(3).await;
    for e in &first {
        wait_for("accepted", || async {
            status_of(&a, &format!("/vpc-endpoints/{e}")).await == "accepted"
        })
        .await;
    }
    let clean = lab.kernel_state().await;

    // A restart with nothing to do changes nothing.
    lab.restart_agent().await;
    let e_probe = mk(1).await;
    wait_for("accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{}", e_probe[0])).await == "accepted"
    })
    .await;
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoints/{}", e_probe[0])))
            .await
            .expect("delete"),
        204
    );
    wait_gone(&a, &format!("/vpc-endpoints/{}", e_probe[0])).await;
    let now = lab.kernel_state().await;
    assert!(
        now == clean,
        "a restarted agent must converge to the identical kernel state:\n{}",
        state_diff(&clean, &now)
    );

    // Stopped in the middle of changes: more endpoints just made (the converge in flight, if
    // any, finishes), and a delete while no agent runs.
    let more = mk(2).await;
    lab.stop_agent().await;
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoints/{}", first[0])))
            .await
            .expect("delete"),
        204
    );
    lab.restart_agent().await;
    for e in &more {
        wait_for("accepted", || async {
            status_of(&a, &format!("/vpc-endpoints/{e}")).await == "accepted"
        })
        .await;
    }
    wait_gone(&a, &format!("/vpc-endpoints/{}", first[0])).await;
    let after = lab.kernel_state().await;
    // Same namespaces and links as before; four endpoint addresses on the gateway leg.
    let links = |s: &str| {
        s.lines()
            .filter(|l| (l.contains('@') && !l.contains('/')) || l.starts_with("##"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        links(&after),
        links(&clean),
        "no link re-created or orphaned"
    );
    assert_eq!(
        after.matches(" : 10.1.0.20 . 80").count(),
        4,
        "exactly the four live endpoints are mapped"
    );
    // Another restart, then a full create/delete round trip (proof the new agent is in sync):
    // nothing changed.
    lab.restart_agent().await;
    let probe = mk(1).await;
    wait_for("accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{}", probe[0])).await == "accepted"
    })
    .await;
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoints/{}", probe[0])))
            .await
            .expect("delete"),
        204
    );
    wait_gone(&a, &format!("/vpc-endpoints/{}", probe[0])).await;
    let now = lab.kernel_state().await;
    assert!(
        now == after,
        "idempotent: another restart changes nothing:\n{}",
        state_diff(&after, &now)
    );
    let _ = (web, client);
}

/// 1,000 consumer VPCs (all 10.0.0.0/24) against one service: gateway shards of at most 100
/// attachments each, traffic from the first and the last, then nothing left in the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_consumer_vpcs_are_sharded_and_cleaned_up() {
    if !can_run() {
        return;
    }
    const N: usize = 1000;
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    lab.server
        .control
        .set_quota("alice", vpcep_core::model::QuotaType::Endpoint, 2000)
        .await
        .expect("quota");
    let prov = network(&a, "prov", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let sg = backend_group(&a, &[("tcp", 80)]).await;
    let (web, web_port) = server(&a, "web", &prov, "10.0.0.20", &[&sg]).await;
    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "approval_enabled": false,
                "ports": [{"client_port": 80, "server_port": 80}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    let started = std::time::Instant::now();
    let mut nets = Vec::with_capacity(N);
    for chunk in (0..N).collect::<Vec<_>>().chunks(25) {
        let made = futures_util::future::join_all(chunk.iter().map(|i| {
            let a = a.clone();
            async move {
                network(
                    &a,
                    &format!("c{i}"),
                    "10.0.0.0/16",
                    "10.0.0.0/24",
                    "10.0.0.1",
                )
                .await
            }
        }))
        .await;
        nets.extend(made);
    }
    let mut eps = Vec::with_capacity(N);
    for chunk in nets.chunks(25) {
        let made = futures_util::future::join_all(chunk.iter().map(|n| {
            let (a, sid) = (a.clone(), sid.clone());
            async move {
                let e: Value = a
                    .post(&a.project_path("/vpc-endpoints"), &json!({"endpoint_service_id": sid, "vpc_id": n.vpc, "subnet_id": n.subnet}))
                    .await
                    .expect("endpoint");
                (e["id"].as_str().expect("id").to_string(), e["ip"].as_str().expect("ip").to_string())
            }
        }))
        .await;
        eps.extend(made);
    }
    eprintln!(
        "{N} VPCs + endpoints created through the API in {:?}",
        started.elapsed()
    );
    let (first_client, _) = server(&a, "first", &nets[0], "10.0.0.10", &[]).await;
    let (last_client, _) = server(&a, "last", &nets[N - 1], "10.0.0.10", &[]).await;
    let web_ns = lab.names.server(&web);
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "SYSTEM:echo hello $SOCAT_PEERADDR",
        ],
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let v: Value = a
            .get(
                &a.project_path("/vpc-endpoints"),
                &[("limit", "1000".into())],
            )
            .await
            .expect("list");
        let accepted = v["endpoints"]
            .as_array()
            .map(|l| l.iter().filter(|e| e["status"] == "accepted").count())
            .unwrap_or(0);
        if accepted == N {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {accepted} of {N} endpoints accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    eprintln!(
        "all {N} endpoints accepted {:?} after the first create",
        started.elapsed()
    );
    let gateways: Vec<String> = (0..20)
        .map(|s| lab.names.gateway(s))
        .filter(|g| {
            std::process::Command::new("ip")
                .args(["netns", "list"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains(g.as_str()))
                .unwrap_or(false)
        })
        .collect();
    assert_eq!(
        gateways.len(),
        N / 100,
        "1,000 consumer attachments need 10 shards of 100"
    );
    for g in &gateways {
        let (_, rules) = exec_in(g, &["ip", "rule"]).await;
        assert!(
            rules.lines().filter(|l| l.contains("fwmark")).count() <= 101,
            "{g} holds at most 100 consumer legs (+1 provider)"
        );
    }
    for (client, (_, ip)) in [(first_client, &eps[0]), (last_client, &eps[N - 1])] {
        let ns = lab.names.server(&client);
        lab.namespace(&ns).await;
        let (ok, out) = first_success(&ns, ip, 80).await;
        assert!(ok && out.starts_with("hello 198.19."), "{out}");
    }
    // Remove everything: endpoints, then the consumer networks; the kernel ends empty of them.
    for chunk in eps.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|(id, _)| {
            let a = a.clone();
            async move {
                a.delete(&a.project_path(&format!("/vpc-endpoints/{id}")))
                    .await
                    .expect("delete")
            }
        }))
        .await;
    }
    wait_for("gateways gone", || async {
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        !String::from_utf8_lossy(&out.stdout).contains(&lab.names.gateway(0))
    })
    .await;
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoint-services/{sid}")))
            .await
            .expect("del service"),
        204
    );
    wait_gone(&a, &format!("/vpc-endpoint-services/{sid}")).await;
    let v: Value = a
        .get(&a.project_path("/lab/servers"), &[])
        .await
        .expect("servers");
    for s in v["servers"].as_array().cloned().unwrap_or_default() {
        a.delete(&a.project_path(&format!(
            "/lab/servers/{}",
            s["id"].as_str().unwrap_or_default()
        )))
        .await
        .expect("del server");
    }
    for chunk in nets.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|n| {
            let a = a.clone();
            async move {
                a.delete(&a.project_path(&format!("/vpcs/{}/subnets/{}", n.vpc, n.subnet)))
                    .await
                    .expect("del subnet");
                a.delete(&a.project_path(&format!("/vpcs/{}", n.vpc)))
                    .await
                    .expect("del vpc");
            }
        }))
        .await;
    }
    wait_for("consumer routers gone", || async {
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(&lab.names.prefix))
            .count()
            == 1
    })
    .await;
    // Only the provider's router is left (its VPC still exists); then it goes too.
    a.delete(&a.project_path(&format!("/vpcs/{}/subnets/{}", prov.vpc, prov.subnet)))
        .await
        .expect("del subnet");
    a.delete(&a.project_path(&format!("/vpcs/{}", prov.vpc)))
        .await
        .expect("del vpc");
    wait_for("no kernel state left", || async {
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        !String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with(&lab.names.prefix))
    })
    .await;
    eprintln!("torn down {:?} after the first create", started.elapsed());
}

/// (6) a backend whose security group lacks the 198.19.128.0/20 rule gets no traffic, and the
/// doctor names the missing rule; after adding it, traffic flows and the doctor is satisfied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_security_group_rule_blocks_traffic_and_doctor_names_it() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let prov = network(&a, "prov", "10.2.0.0/16", "10.2.0.0/24", "10.2.0.1").await;
    let bare: Value = a
        .post(
            &a.project_path("/security-groups"),
            &json!({"security_group": {"name": "bare"}}),
        )
        .await
        .expect("sg");
    let sg = bare["security_group"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (web, web_port) = server(&a, "web", &prov, "10.2.0.20", &[&sg]).await;
    let cons = network(&a, "cons", "10.2.0.0/16", "10.2.0.0/24", "10.2.0.1").await;
    let (client, _) = server(&a, "client", &cons, "10.2.0.10", &[]).await;
    let (web_ns, client_ns) = (lab.names.server(&web), lab.names.server(&client));
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo ok"],
    )
    .await;
    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "approval_enabled": false,
                "ports": [{"client_port": 80, "server_port": 8080}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    let e: Value = a
        .post(
            &a.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": sid, "vpc_id": cons.vpc, "subnet_id": cons.subnet}),
        )
        .await
        .expect("endpoint");
    let (eid, ip) = (
        e["id"].as_str().expect("id").to_string(),
        e["ip"].as_str().expect("ip").to_string(),
    );
    wait_for("accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    lab.namespace(&client_ns).await;
    assert!(
        !tcp_request(&client_ns, &ip, 80).await.0,
        "the backend's group does not admit the SNAT range"
    );

    let findings = vpcep_dataplane::doctor::endpoint(&a, &eid, Some(&lab.names))
        .await
        .expect("doctor");
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    eprintln!("{}", text.join("\n"));
    let missing = text.iter().find(|l| {
        l.starts_with("error")
            && l.contains("no security-group rule admits 198.19.128.0/20 on tcp/8080")
    });
    let missing = missing.unwrap_or_else(|| panic!("doctor must name the missing rule: {text:?}"));
    assert!(missing.contains(&format!("vpcep lab sg-rule add {sg} --direction ingress --protocol tcp --ports 8080 --remote-ip 198.19.128.0/20")));
    assert!(
        text.iter()
            .any(|l| l.starts_with("error") && l.contains("probe 10.2.0.20:8080/tcp")),
        "the live probe fails too"
    );

    // Apply the fix the doctor gave: traffic flows, the doctor is satisfied.
    let _: Value = a
        .post(
            &a.project_path("/security-group-rules"),
            &json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp",
                "port_range_min": 8080, "port_range_max": 8080, "remote_ip_prefix": "198.19.128.0/20"}}),
        )
        .await
        .expect("rule");
    let (ok, out) = first_success(&client_ns, &ip, 80).await;
    assert!(ok && out == "ok", "{out}");
    let findings = vpcep_dataplane::doctor::endpoint(&a, &eid, Some(&lab.names))
        .await
        .expect("doctor");
    assert!(findings.iter().all(|f| f.level == "ok"), "{findings:?}");
}

/// Identical CIDRs taken to the limit: the endpoint's address in the consumer VPC is the very
/// address of the backend in the provider VPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_ip_equal_to_backend_ip() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let prov = network(&a, "prov", "10.5.0.0/16", "10.5.0.0/24", "10.5.0.1").await;
    let sg = backend_group(&a, &[("tcp", 80)]).await;
    let (web, web_port) = server(&a, "web", &prov, "10.5.0.50", &[&sg]).await;
    let cons = network(&a, "cons", "10.5.0.0/16", "10.5.0.0/24", "10.5.0.1").await;
    let (client, _) = server(&a, "client", &cons, "10.5.0.10", &[]).await;
    let (web_ns, client_ns) = (lab.names.server(&web), lab.names.server(&client));
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo same"],
    )
    .await;
    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "approval_enabled": false, "ports": [{"client_port": 80, "server_port": 80}]}),
        )
        .await
        .expect("service");
    let e: Value = a
        .post(
            &a.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": svc["id"], "vpc_id": cons.vpc, "subnet_id": cons.subnet, "port_ip": "10.5.0.50"}),
        )
        .await
        .expect("endpoint");
    let eid = e["id"].as_str().expect("id").to_string();
    wait_for("accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    lab.namespace(&client_ns).await;
    let (ok, out) = first_success(&client_ns, "10.5.0.50", 80).await;
    assert!(
        ok && out == "same",
        "endpoint 10.5.0.50 must reach backend 10.5.0.50: {out}"
    );
}
