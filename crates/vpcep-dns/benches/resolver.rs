//! P6 (resolver throughput): queries per second answered from one VPC's view of the resolver,
//! side by side in one run with hickory's plain in-memory zone serving the same records, over
//! UDP on loopback. Rounds alternate (ours, plain, ours, …) so machine noise hits both; the
//! median of each and their ratio are printed (target ≥ 0.8).
//!
//!     cargo bench -p vpcep-dns --bench resolver
//!     (VPCEP_BENCH_NAMES, VPCEP_BENCH_ROUNDS, VPCEP_BENCH_SECS change the shape)

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record as DnsRecord, RecordType};
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::UdpSocket;
use vpcep_dns::{Record, Resolver, ResolverConfig, Views};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let names = env("VPCEP_BENCH_NAMES", 10_000);
        let rounds = env("VPCEP_BENCH_ROUNDS", 5);
        let secs = env("VPCEP_BENCH_SECS", 3) as f64;
        let clients = 8;

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
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("udp");
        let tcp = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("tcp");
        let ours_at = udp.local_addr().expect("addr");
        ours.serve_vpc("v0", udp, tcp);

        // Plain hickory: one in-memory zone `internal.` with the same records of `v0`.
        let origin = Name::from_ascii("internal.").expect("origin");
        let mut zone =
            InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::empty(
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
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("udp");
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
        let (a, b) = (median(&mut a), median(&mut b));
        println!(
            "P6 resolver, {names} names in the asking VPC's view (+100 VPCs × 100 names), UDP on loopback, {clients} clients, median of {rounds} interleaved rounds of {secs} s:"
        );
        println!(
            "  per-VPC view {a:.0} q/s; hickory in-memory zone, same records {b:.0} q/s; ratio {:.2} (target ≥ 0.8)",
            a / b
        );
    });
}
