//! P5 benchmark: signed GETs/s, creates/s, and `limit=100` list latency with many endpoints, on
//! SQLite, through the real router and the signing client (what a user's SDK would see).
//!
//!     cargo bench -p vpcep-api --bench api              # 10,000 endpoints for the list test
//!     VPCEP_BENCH_ENDPOINTS=100000 cargo bench -p vpcep-api --bench api
//!
//! The client runs in the same process, so the numbers include its signing cost too.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_control::Settings;
use vpcep_core::model::Quotas;
use vpcep_test_support::lab::{network, server, vm_service_on};
use vpcep_test_support::server::Server;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n_endpoints: usize = std::env::var("VPCEP_BENCH_ENDPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let srv = Server::start_with(Settings {
        default_quotas: Quotas {
            endpoint_service: 1000,
            endpoint: 1_000_000,
        },
        ..Settings::default()
    })
    .await;
    let c = srv.account("bench").await.client;

    let net = network(&c, "v", "10.0.0.0/8", "10.0.0.0/12", "10.0.0.1").await;
    let (vpc, subnet) = (net.vpc.clone(), net.subnet.clone());
    let (_, port) = server(&c, "b", &net, "10.0.0.10", &[]).await;
    let sid = vm_service_on(
        &c,
        &port,
        &vpc,
        json!([{"client_port": 80, "server_port": 80}]),
    )
    .await;

    // Signed GETs/s: 16 concurrent clients for 3 s.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut tasks = vec![];
    for _ in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let _: Value = c
                    .get(
                        &c.project_path("/vpc-endpoint-services"),
                        &[("limit", "10".into())],
                    )
                    .await
                    .expect("get");
                n += 1;
            }
            n
        }));
    }
    let mut gets = 0;
    for t in tasks {
        gets += t.await.expect("join");
    }
    println!(
        "P5 signed GET (list services, limit=10): {:.0} req/s (target ≥ 3000)",
        gets as f64 / 3.0
    );

    // Creates/s: endpoints, 8 concurrent clients.
    let total = n_endpoints;
    let started = Instant::now();
    let per = total / 8;
    let mut tasks = vec![];
    for _ in 0..8 {
        let (c, sid, vpc, subnet) = (c.clone(), sid.clone(), vpc.clone(), subnet.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let _: Value = c
                    .post(
                        &c.project_path("/vpc-endpoints"),
                        &json!({"endpoint_service_id": sid, "vpc_id": vpc, "subnet_id": subnet}),
                    )
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let created = per * 8;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "P5 create endpoint: {:.0} creates/s over {created} creates (target ≥ 300)",
        created as f64 / secs
    );

    // List latency with `created` endpoints present.
    let mut lat = vec![];
    for i in 0..200 {
        let t = Instant::now();
        let _: Value = c
            .get(
                &c.project_path("/vpc-endpoints"),
                &[
                    ("limit", "100".into()),
                    ("offset", ((i * 37) % 1000).to_string()),
                ],
            )
            .await
            .expect("list");
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "P5 list endpoints limit=100 with {created} present: p50 {:.2} ms, p99 {:.2} ms (target p99 ≤ 20 ms)",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3
    );
}
