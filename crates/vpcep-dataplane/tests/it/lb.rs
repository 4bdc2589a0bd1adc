//! Load-balancer-backed services with several members (issue 9): the provider router spreads
//! new connections from the endpoint path over every member, each member sees a source in
//! 198.19.128.0/20, and a change of members takes effect.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::lab::*;

/// Members answer `m<i> <peer address>` on TCP 8080 and UDP 5353.
const MEMBERS: usize = 4;

fn in_snat_range(addr: &str) -> bool {
    addr.parse::<Ipv4Addr>()
        .is_ok_and(|a| vpcep_core::validate::snat_range().contains(&a))
}

/// `n` TCP requests through the endpoint: the members that answered. Panics when a request
/// fails or a member saw a source outside the SNAT range.
async fn tcp_round(client_ns: &str, ip: &str, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        let (ok, out) = first_success(client_ns, ip, 80).await;
        assert!(ok, "request through the endpoint failed: {out:?}");
        let (member, source) = out.split_once(' ').unwrap_or((&out, ""));
        assert!(
            in_snat_range(source),
            "{member} must see a 198.19.128.0/20 source over TCP, saw {source:?}"
        );
        seen.insert(member.to_string());
    }
    seen
}

/// Up to `n` UDP exchanges (a datagram may be lost on a loaded machine): the members that
/// answered.
async fn udp_round(client_ns: &str, ip: &str, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        let (ok, out) = exec_in(
            client_ns,
            &[
                "sh",
                "-c",
                &format!("echo hi | timeout 4 socat -T2 - UDP:{ip}:53"),
            ],
        )
        .await;
        if !ok || out.is_empty() {
            continue;
        }
        let (member, source) = out.split_once(' ').unwrap_or((&out, ""));
        assert!(
            in_snat_range(source),
            "{member} must see a 198.19.128.0/20 source over UDP, saw {source:?}"
        );
        seen.insert(member.to_string());
    }
    seen
}

fn listeners(members: &[usize]) -> Value {
    let of = |port: u16| -> Vec<Value> {
        members
            .iter()
            .map(|i| json!({"address": format!("10.7.0.{}", 10 + i), "port": port}))
            .collect()
    };
    json!([
        {"protocol": "TCP", "port": 80, "members": of(8080)},
        {"protocol": "UDP", "port": 53, "members": of(5353)},
    ])
}

fn names(members: &[usize]) -> BTreeSet<String> {
    members.iter().map(|i| format!("m{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_listener_spreads_over_every_member_and_follows_member_changes() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let a = &a;
    let prov = network(a, "prov", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let sg = backend_group(a, &[("tcp", 8080), ("udp", 5353)]).await;
    let mut member_ns = Vec::new();
    for i in 1..=MEMBERS {
        let (id, _) = server(
            a,
            &format!("m{i}"),
            &prov,
            &format!("10.7.0.{}", 10 + i),
            &[&sg],
        )
        .await;
        member_ns.push((i, lab.names.server(&id)));
    }
    for (i, ns) in &member_ns {
        lab.namespace(ns).await;
        lab.spawn_in(
            ns,
            &[
                "socat",
                "TCP-LISTEN:8080,fork,reuseaddr",
                &format!("SYSTEM:echo m{i} $SOCAT_PEERADDR"),
            ],
        )
        .await;
        lab.spawn_in(
            ns,
            &[
                "socat",
                "UDP-RECVFROM:5353,fork",
                &format!("SYSTEM:echo m{i} $SOCAT_PEERADDR"),
            ],
        )
        .await;
    }
    // One member first: the change to two is the one that used to leave the old rule in place.
    let lb: Value = a
        .post(
            &a.project_path("/lab/loadbalancers"),
            &json!({"loadbalancer": {"name": "elb", "vpc_id": prov.vpc, "subnet_id": prov.subnet,
                "vip_address": "10.7.0.100", "listeners": listeners(&[1])}}),
        )
        .await
        .expect("lb");
    let lb_id = lb["loadbalancer"]["id"].as_str().expect("id").to_string();
    let vip_port = lb["loadbalancer"]["vip_port_id"]
        .as_str()
        .expect("vip")
        .to_string();
    let cons = network(a, "cons", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let (client, _) = server(a, "client", &cons, "10.7.0.10", &[]).await;
    let client_ns = lab.names.server(&client);
    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": vip_port, "vpc_id": prov.vpc, "server_type": "LB", "approval_enabled": false,
                "ports": [{"client_port": 80, "server_port": 80, "protocol": "TCP"},
                          {"client_port": 53, "server_port": 53, "protocol": "UDP"}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    let (eid, ip) = create_endpoint(a, &sid, &cons).await;
    wait_for("endpoint accepted", || async {
        status_of(a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    lab.namespace(&client_ns).await;
    assert_eq!(tcp_round(&client_ns, &ip, 4).await, names(&[1]));

    for members in [&[1, 2][..], &[1, 2, 3, 4], &[3], &[2, 4]] {
        let _: Value = a
            .put(
                &a.project_path(&format!("/lab/loadbalancers/{lb_id}")),
                &json!({"loadbalancer": {"listeners": listeners(members)}}),
            )
            .await
            .expect("update lb");
        let want = names(members);
        // Converged when a round of new connections reaches exactly the new members (round
        // robin: 3 rounds over n members meet each of them).
        let rounds = 3 * members.len();
        wait_for(&format!("TCP spread over {want:?}"), || async {
            tcp_round(&client_ns, &ip, rounds).await == want
        })
        .await;
        // Stays so.
        assert_eq!(tcp_round(&client_ns, &ip, rounds).await, want);
        // UDP: only the new members answer, and (datagrams may be lost on a loaded machine)
        // within a few rounds more than one of them when there are several.
        let mut udp = BTreeSet::new();
        for _ in 0..5 {
            let round = udp_round(&client_ns, &ip, rounds).await;
            assert!(
                round.is_subset(&want),
                "UDP over {want:?}: answered by {round:?}"
            );
            udp.extend(round);
            if udp.len() == want.len() {
                break;
            }
        }
        assert!(
            members.len() == 1 || udp.len() > 1,
            "UDP over {want:?}: answered by {udp:?} only"
        );
    }
}
