//! P1 benchmark (root): with N endpoints already present (default 1,000 in one consumer subnet;
//! set VPCEP_BENCH_PRESENT), create 20 more one at a time (approval off) and time the create call
//! → the first successful TCP request through the new endpoint. The client starts connecting as
//! soon as the create call returns (50 ms connect timeout per try), from a socket inside its
//! namespace; the agent runs as in `vpcep serve`, following the feed over HTTP. Then 10 times
//! the first endpoint of a brand-new consumer VPC (a new gateway leg), create → first request.
//!
//! Runs in namespaces with a unique prefix and removes them at the end.
//!
//!     cargo bench -p vpcep-dataplane --bench create_to_traffic

mod common;

use std::time::{Duration, Instant};

use common::{Bench, pct, request_ok, serve_ok};
use vpcep_test_support::lab::{create_endpoint, network, server, wait_server_active};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let present: usize = std::env::var("VPCEP_BENCH_PRESENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let b = Bench::start("p").await;
    let agent = b.spawn_agent();
    let (sid, web) = b.provider().await;
    // One consumer VPC with a big subnet holding every endpoint (one shard, one zone).
    let cons = network(&b.c, "cons", "10.0.0.0/8", "10.0.0.0/14", "10.0.0.1").await;
    let (client, _) = server(&b.c, "client", &cons, "10.3.255.250", &[]).await;
    let client_ns = b.names.server(&client);
    let mut srv = serve_ok(&b.names.server(&web)).await;
    let started = Instant::now();
    for chunk in (0..present).collect::<Vec<_>>().chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|_| create_endpoint(&b.c, &sid, &cons)))
            .await;
    }
    b.wait_accepted(present).await;
    println!(
        "{present} endpoints present (created and programmed in {:.1?})",
        started.elapsed()
    );
    let mut to_traffic = vec![];
    let mut tries = vec![];
    let mut create_call = vec![];
    for _ in 0..20 {
        let t = Instant::now();
        let (_, eip) = create_endpoint(&b.c, &sid, &cons).await;
        create_call.push(t.elapsed());
        let mut n = 0;
        loop {
            n += 1;
            if request_ok(&client_ns, &eip, Duration::from_millis(50)).await {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no traffic to {eip}");
        }
        to_traffic.push(t.elapsed());
        tries.push(n);
    }
    println!(
        "create call alone (signed HTTP + SQLite commit): p50 {:.1?}",
        pct(&mut create_call, 0.5)
    );
    println!(
        "P1 create → first TCP request through the endpoint: p50 {:.1?} p99 {:.1?} (target p50 ≤ 20 ms, p99 ≤ 100 ms); connection tries per endpoint: {tries:?}",
        pct(&mut to_traffic, 0.5),
        pct(&mut to_traffic, 0.99)
    );
    // The first endpoint of a brand-new consumer VPC: its subnet has no gateway leg yet, so the
    // endpoint brings a new leg (layout: veth, routes, rules, a table reload) with it. The host in
    // that VPC is ACTIVE before the clock starts; the time is create call → first TCP request.
    let mut first_of_vpc = vec![];
    for i in 0..10 {
        let new = network(
            &b.c,
            &format!("new{i}"),
            "10.0.0.0/16",
            "10.0.0.0/24",
            "10.0.0.1",
        )
        .await;
        let (host, _) = server(&b.c, &format!("newc{i}"), &new, "10.0.0.20", &[]).await;
        wait_server_active(&b.c, &host).await;
        let host_ns = b.names.server(&host);
        let t = Instant::now();
        let (_, eip) = create_endpoint(&b.c, &sid, &new).await;
        loop {
            if request_ok(&host_ns, &eip, Duration::from_millis(50)).await {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no traffic to {eip}");
        }
        first_of_vpc.push(t.elapsed());
    }
    println!(
        "P1 first endpoint of a new consumer VPC, create → first TCP request: p50 {:.1?} p99 {:.1?} (target p50 ≤ 20 ms, p99 ≤ 100 ms)",
        pct(&mut first_of_vpc, 0.5),
        pct(&mut first_of_vpc, 0.99)
    );
    let _ = srv.kill();
    let _ = srv.wait();
    agent.abort();
    b.teardown().await;
}
