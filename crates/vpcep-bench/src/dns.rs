//! P6, private DNS:
//!   * resolver queries/s: one VPC's view of the resolver side by side in one run with hickory's
//!     plain in-memory zone serving the same records, over UDP on loopback, rounds alternating
//!     (ours, plain, ours, …) so machine noise hits both (SPEC: ≥ 0.8×);
//!   * propagation (root): with `present` endpoint names already resolvable in one consumer VPC,
//!     time `receive` → the new endpoint's name answering with its IP, and `reject` → NXDOMAIN,
//!     asked of the VPC's resolver (169.254.169.253) from a UDP socket inside a host of the VPC,
//!     re-asked as soon as an answer is not yet the expected one. The agent and private DNS run
//!     as in `vpcep serve`, following the feed over HTTP (SPEC: p50 ≤ 20 ms, p99 ≤ 100 ms).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record as DnsRecord, RecordType};
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use vpcep_client::services::ConnectionAction;
use vpcep_dns::{Record, Resolver, ResolverConfig, Views};
use vpcep_test_support::lab::{network, server, wait_server_active};

use crate::figure::{Figure, Target, num};
use crate::lab::{Bench, pct};

#[derive(Clone, Debug)]
pub struct DnsLoad {
    pub names: u64,
    pub rounds: usize,
    pub secs: f64,
    pub clients: u64,
}

fn ip(i: u64) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | (i as u32 & 0x00ff_ffff))
}

fn name(i: u64) -> String {
    format!("h{i}.bench.internal.")
}

/// Queries answered in `secs` by `clients` concurrent clients, each waiting for its answer
/// before asking again (a random name of the `names` each time).
async fn load(server: SocketAddr, names: u64, clients: u64, secs: f64) -> f64 {
    let answered = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("client");
            sock.connect(server).await.expect("connect");
            let mut buf = [0u8; 512];
            let mut n: u64 = c.wrapping_mul(7919);
            let mut id: u16 = 0;
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                id = id.wrapping_add(1);
                let mut msg = Message::query();
                msg.metadata.id = id;
                msg.metadata.recursion_desired = true;
                msg.add_query(Query::query(
                    Name::from_ascii(name((n >> 33) % names)).expect("name"),
                    RecordType::A,
                ));
                let bytes = msg.to_vec().expect("encode");
                if sock.send(&bytes).await.is_err() {
                    continue;
                }
                if let Ok(Ok(len)) =
                    tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await
                    && Message::from_vec(&buf[..len]).is_ok_and(|m| m.answers.len() == 1)
                {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    answered.load(Ordering::Relaxed) as f64 / secs
}

/// The resolver's queries/s against plain hickory's on the same records: (ours per round, plain
/// per round).
pub async fn resolver_rounds(cfg: &DnsLoad) -> (Vec<f64>, Vec<f64>) {
    let (names, rounds, secs, clients) = (cfg.names, cfg.rounds, cfg.secs, cfg.clients);
    // Ours: the names in VPC `v0`, plus 100 other VPCs holding the same names with other
    // addresses (what per-VPC views are for).
    let mut views = Views::new();
    for i in 0..names {
        views
            .upsert(Record {
                vpc: "v0".into(),
                name: name(i),
                ip: ip(i),
            })
            .expect("record");
    }
    for v in 1..=100u64 {
        for i in 0..100 {
            views
                .upsert(Record {
                    vpc: format!("v{v}"),
                    name: name(i),
                    ip: ip(v * 1000 + i),
                })
                .expect("record");
        }
    }
    let ours = Resolver::new(ResolverConfig::default(), views).expect("resolver");
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("udp");
    let tcp = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("tcp");
    let ours_at = udp.local_addr().expect("addr");
    ours.serve_vpc("v0", udp, tcp);

    // Plain hickory: one in-memory zone `internal.` with the same records of `v0`.
    let origin = Name::from_ascii("internal.").expect("origin");
    let mut zone = InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    let soa = SOA::new(
        Name::from_ascii("ns.internal.").expect("mname"),
        Name::from_ascii("hostmaster.internal.").expect("rname"),
        1,
        3600,
        600,
        86400,
        5,
    );
    zone.upsert_mut(DnsRecord::from_rdata(origin.clone(), 5, RData::SOA(soa)), 1);
    for i in 0..names {
        let owner = Name::from_ascii(name(i)).expect("name");
        zone.upsert_mut(DnsRecord::from_rdata(owner, 5, RData::A(A(ip(i)))), 1);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    let mut plain = Server::new(catalog);
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("udp");
    let plain_at = udp.local_addr().expect("addr");
    plain.register_socket(udp);

    // Warm both, then alternate.
    load(ours_at, names, clients, 0.5).await;
    load(plain_at, names, clients, 0.5).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(load(ours_at, names, clients, secs).await);
        b.push(load(plain_at, names, clients, secs).await);
    }
    (a, b)
}

/// The resolver figure (P6 queries/s, ours vs plain hickory, medians of interleaved rounds).
pub async fn resolver(cfg: &DnsLoad) -> Figure {
    let (ours, plain) = resolver_rounds(cfg).await;
    let mut f = Figure::versus(
        "P6",
        format!(
            "resolver queries/s, {} names: the VPC's view (direct column: hickory's plain zone)",
            num(cfg.names as f64)
        ),
        plain,
        ours,
        "q/s",
        Some(Target::ratio_at_least(80.0)),
    );
    f.rounds = cfg.rounds;
    f
}

#[derive(Clone, Debug)]
pub struct PropagationConfig {
    pub present: usize,
    pub samples: usize,
}

/// Ask `name` (A) once; the answer's code and addresses, or `None` after 50 ms.
/// One query over the client's socket (blocking, 50 ms for the answer).
fn ask(sock: &std::net::UdpSocket, name: &str, id: u16) -> Option<(ResponseCode, Vec<Ipv4Addr>)> {
    let mut msg = Message::query();
    msg.metadata.id = id;
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).ok()?, RecordType::A));
    sock.send(&msg.to_vec().ok()?).ok()?;
    let mut buf = [0u8; 1024];
    loop {
        // The socket's read timeout (50 ms) ends a lost query.
        let len = sock.recv(&mut buf).ok()?;
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
/// The client asks from a thread of its own, as a process beside `vpcep serve` would: on the
/// bench's runtime its timer and socket wake-ups queued behind the very agent and control
/// plane being timed, and asking back to back kept one of the two CPUs busy answering.
async fn until(
    sock: &Arc<std::net::UdpSocket>,
    name: &str,
    want: Option<Ipv4Addr>,
    id: &mut u16,
) -> Duration {
    let (sock, name, first) = (sock.clone(), name.to_string(), *id);
    let (took, last) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let mut id = first;
        loop {
            id = id.wrapping_add(1);
            let got = ask(&sock, &name, id);
            let done = match (&got, want) {
                (Some((ResponseCode::NoError, ips)), Some(ip)) => ips == &[ip],
                (Some((ResponseCode::NXDomain, _)), None) => true,
                _ => false,
            };
            if done {
                return (t.elapsed(), id);
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{name} never became {want:?}: {got:?}"
            );
            // Again in a millisecond (the figure's resolution), as a waiting client would.
            std::thread::sleep(Duration::from_millis(1));
        }
    })
    .await
    .expect("the asking thread");
    *id = last;
    took
}

/// Propagation times, one per sample endpoint.
pub struct Propagation {
    /// receive → the name answers with the endpoint's address.
    pub up: Vec<Duration>,
    /// reject → NXDOMAIN.
    pub down: Vec<Duration>,
    /// receive → the endpoint `accepted` in the feed (the agent programmed and reported it).
    pub programmed: Vec<Duration>,
    /// The receive request itself.
    pub acted: Vec<Duration>,
    /// Creating and accepting the `present` endpoints.
    pub setup: Duration,
}

pub async fn propagation_times(cfg: &PropagationConfig) -> Propagation {
    let present = cfg.present;
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
        s.set_read_timeout(Some(Duration::from_millis(50)))?;
        Ok(s)
    })
    .expect("socket in the client's namespace");
    let sock = Arc::new(std_sock);
    let mut id = 0u16;
    let setup = started.elapsed();
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
                    if ch.object.is_some_and(|o| {
                        o.decode::<serde_json::Value>()
                            .is_ok_and(|s| s["status"] == "accepted")
                    }) {
                        seen.lock().expect("seen").entry(ch.id).or_insert(now);
                    }
                }
            }
        })
    };
    let (mut up, mut down, mut programmed, mut acted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.samples {
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
    watcher.abort();
    b.stop(dns).await;
    b.stop(agent).await;
    b.teardown().await;
    Propagation {
        up,
        down,
        programmed,
        acted,
        setup,
    }
}

/// The propagation figures (P6).
pub async fn propagation(cfg: &PropagationConfig) -> Vec<Figure> {
    let Propagation {
        mut up, mut down, ..
    } = propagation_times(cfg).await;
    let n = up.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let present = num(cfg.present as f64);
    let mut figures = vec![
        Figure::absolute(
            "P6",
            format!("receive → name answers, p50 ({present} names)"),
            ms(pct(&mut up, 0.5)),
            "ms",
            Some(Target::at_most(20.0)),
        ),
        Figure::absolute(
            "P6",
            format!("receive → name answers, p99 ({present} names)"),
            ms(pct(&mut up, 0.99)),
            "ms",
            Some(Target::at_most(100.0)),
        ),
        Figure::absolute(
            "P6",
            format!("reject → NXDOMAIN, p50 ({present} names)"),
            ms(pct(&mut down, 0.5)),
            "ms",
            Some(Target::at_most(20.0)),
        ),
        Figure::absolute(
            "P6",
            format!("reject → NXDOMAIN, p99 ({present} names)"),
            ms(pct(&mut down, 0.99)),
            "ms",
            Some(Target::at_most(100.0)),
        ),
    ];
    for f in &mut figures {
        f.rounds = n;
    }
    figures
}
