//! Private DNS propagation (root): with N endpoint names already resolvable in one consumer VPC
//! (default 10,000; VPCEP_BENCH_PRESENT), time `receive` → the new endpoint's name answering with
//! its IP, and `reject` → NXDOMAIN, asked of the VPC's resolver (169.254.169.253) from a UDP socket
//! inside a host of the VPC, re-asked as soon as an answer is not yet the expected one. The agent
//! and private DNS run as in `vpcep serve`, following the feed over HTTP.
//!
//!     cargo bench -p vpcep-dataplane --bench dns_propagation

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde_json::{Value, json};
use vpcep_client::services::ConnectionAction;

use common::{Bench, pct};
use vpcep_test_support::lab::{network, server, wait_server_active};

/// Ask `name` (A) once; the answer's code and addresses, or `None` after 50 ms.
async fn ask(
    sock: &tokio::net::UdpSocket,
    name: &str,
    id: u16,
) -> Option<(ResponseCode, Vec<Ipv4Addr>)> {
    let mut msg = Message::query();
    msg.metadata.id = id;
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).ok()?, RecordType::A));
    sock.send(&msg.to_vec().ok()?).await.ok()?;
    let mut buf = [0u8; 1024];
    loop {
        let len = tokio::time::timeout(Duration::from_millis(50), sock.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        let Ok(m) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        if m.metadata.id != id {
            continue;
        }
        let ips = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        return Some((m.metadata.response_code, ips));
    }
}

/// Ask until the answer is `want` (an address, or NXDOMAIN for `None`); how long it took.
async fn until(
    sock: &tokio::net::UdpSocket,
    name: &str,
    want: Option<Ipv4Addr>,
    id: &mut u16,
) -> Duration {
    let t = Instant::now();
    loop {
        *id = id.wrapping_add(1);
        let got = ask(sock, name, *id).await;
        let done = match (&got, want) {
            (Some((ResponseCode::NoError, ips)), Some(ip)) => ips == &[ip],
            (Some((ResponseCode::NXDomain, _)), None) => true,
            _ => false,
        };
        if done {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{name} never became {want:?}: {got:?}"
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // VPCEP_LOG=vpcep_dataplane=debug shows each converge's planning and kernel time.
    if let Ok(filter) = std::env::var("VPCEP_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .init();
    }
    let present: usize = std::env::var("VPCEP_BENCH_PRESENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let b = Bench::start("d").await;
    let agent = b.spawn_agent();
    let dns = b.spawn_dns(None);
    let c = &b.c;
    // A provider behind a service with approval, a consumer VPC with one big subnet and a host.
    let prov = network(c, "prov", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let (_, port) = server(c, "web", &prov, "10.0.0.20", &[]).await;
    let svc: Value = c
        .post(&c.project_path("/vpc-endpoint-services"), &json!({"port_id": port, "vpc_id": prov.vpc, "server_type": "VM", "approval_enabled": true, "service_name": "web", "ports": [{"client_port": 80, "server_port": 80}]}))
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    let cons = network(c, "cons", "10.0.0.0/8", "10.0.0.0/14", "10.0.0.1").await;
    let (client, _) = server(c, "client", &cons, "10.3.255.250", &[]).await;
    let create = |_: usize| async {
        let e: Value = c
            .post(
                &c.project_path("/vpc-endpoints"),
                &json!({"endpoint_service_id": sid, "vpc_id": cons.vpc, "subnet_id": cons.subnet, "enable_dns": true}),
            )
            .await
            .expect("endpoint");
        (
            e["id"].as_str().expect("id").to_string(),
            e["ip"]
                .as_str()
                .expect("ip")
                .parse::<Ipv4Addr>()
                .expect("ip"),
            e["dns_names"][0].as_str().expect("name").to_string(),
        )
    };
    let started = Instant::now();
    for chunk in (0..present).collect::<Vec<_>>().chunks(50) {
        let made = futures_util::future::join_all(chunk.iter().map(|i| create(*i))).await;
        // The API takes one endpoint per action.
        futures_util::future::join_all(
            made.iter()
                .map(|(id, _, _)| c.connection_action(&sid, ConnectionAction::Accept, id)),
        )
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("receive");
        });
    }
    b.wait_accepted(present).await;
    // The client's socket, inside its namespace (programmed: the host is ACTIVE).
    wait_server_active(c, &client).await;
    let std_sock = vpcep_dataplane::kernel::netlink::in_namespace(&b.names.server(&client), || {
        let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.connect((vpcep_dataplane::plan::dns::RESOLVER_ADDR, 53))?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .expect("socket in the client's namespace");
    let sock = tokio::net::UdpSocket::from_std(std_sock).expect("tokio socket");
    let mut id = 0u16;
    println!(
        "{present} endpoint names present (created, accepted) in {:.1?}",
        started.elapsed()
    );
    // Where the time goes: a second follower of the feed notes when each endpoint is first seen
    // `accepted` (the agent has programmed it and its report is stored).
    let seen: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> =
        Default::default();
    let watcher = {
        let (seen, url, token) = (seen.clone(), b.server.url(), b.server.token.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let snap = vpcep_dataplane::agent::fetch_snapshot(&http, &url, &token)
                .await
                .expect("snapshot");
            let mut rev = snap.revision;
            loop {
                let Ok(vpcep_dataplane::agent::Watch::Changes(c)) =
                    vpcep_dataplane::agent::fetch_changes(
                        &http,
                        &url,
                        &token,
                        rev,
                        Duration::from_secs(5),
                    )
                    .await
                else {
                    return;
                };
                let now = Instant::now();
                rev = rev.max(c.revision);
                for ch in c.changes {
                    if ch.object.is_some_and(|o| o.spec["status"] == "accepted") {
                        seen.lock().expect("seen").entry(ch.id).or_insert(now);
                    }
                }
            }
        })
    };
    let (mut up, mut down, mut programmed, mut acted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..20 {
        let (eid, ip, name) = create(0).await;
        // Pending: no name yet.
        until(&sock, &name, None, &mut id).await;
        let t = Instant::now();
        c.connection_action(&sid, ConnectionAction::Accept, &eid)
            .await
            .expect("receive");
        acted.push(t.elapsed());
        let took = until(&sock, &name, Some(ip), &mut id).await;
        up.push(t.elapsed().max(took));
        if let Some(at) = seen.lock().expect("seen").get(&eid) {
            programmed.push(at.saturating_duration_since(t));
        }
        let t = Instant::now();
        c.connection_action(&sid, ConnectionAction::Reject, &eid)
            .await
            .expect("reject");
        until(&sock, &name, None, &mut id).await;
        down.push(t.elapsed());
    }
    println!(
        "P6 propagation with {present} names: receive → name answers p50 {:.1?} p99 {:.1?}; reject → NXDOMAIN p50 {:.1?} p99 {:.1?} (targets p50 ≤ 20 ms, p99 ≤ 100 ms)",
        pct(&mut up, 0.5),
        pct(&mut up, 0.99),
        pct(&mut down, 0.5),
        pct(&mut down, 0.99)
    );
    println!(
        "  of which receive → accepted in the feed (agent programmed and reported) p50 {:.1?} p99 {:.1?} ({} seen)",
        pct(&mut programmed, 0.5),
        pct(&mut programmed, 0.99),
        programmed.len()
    );
    println!(
        "  of which the receive request itself p50 {:.1?} p99 {:.1?}",
        pct(&mut acted, 0.5),
        pct(&mut acted, 0.99)
    );
    watcher.abort();
    drop(dns);
    agent.abort();
    b.teardown().await;
}
