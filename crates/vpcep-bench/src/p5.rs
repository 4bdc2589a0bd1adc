//! P5: signed GETs/s, creates/s, and `limit=100` list latency with many endpoints in the store,
//! on SQLite, through the real router and the signing client (what a user's SDK would see).
//! The client runs in the same process, so the numbers include its signing cost too.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_control::Settings;
use vpcep_core::model::Quotas;
use vpcep_test_support::lab::{network, server, vm_service_on};
use vpcep_test_support::server::Server;

use crate::figure::{Figure, Target, num};
use crate::lab::pct;

#[derive(Clone, Debug)]
pub struct Config {
    /// Endpoints in the store when the list is timed (all created through the API: the
    /// creates/s figure is over all of them).
    pub endpoints: usize,
    pub get_secs: f64,
    pub lists: usize,
}

impl Config {
    pub fn full() -> Config {
        Config {
            endpoints: 100_000,
            get_secs: 3.0,
            lists: 200,
        }
    }
    pub fn quick() -> Config {
        Config {
            endpoints: 400,
            get_secs: 1.0,
            lists: 50,
        }
    }
}

pub async fn measure(cfg: &Config) -> Vec<Figure> {
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

    // Signed GETs/s: 16 concurrent clients.
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.get_secs);
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
    let mut figures = vec![Figure::absolute(
        "P5",
        "signed GET (list services, limit=10), 16 clients",
        gets as f64 / cfg.get_secs,
        "req/s",
        Some(Target::at_least(3000.0)),
    )];

    // Creates/s: endpoints, 8 concurrent clients.
    let started = Instant::now();
    let per = cfg.endpoints / 8;
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
    figures.push(Figure::absolute(
        "P5",
        format!(
            "create endpoint, 8 clients, over {} creates",
            num(created as f64)
        ),
        created as f64 / started.elapsed().as_secs_f64(),
        "creates/s",
        Some(Target::at_least(300.0)),
    ));

    // List latency with `created` endpoints present, pages spread over the first 1,000.
    let mut lat = vec![];
    for i in 0..cfg.lists {
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
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        let mut f = Figure::absolute(
            "P5",
            format!(
                "list endpoints limit=100 with {} present, {name}",
                num(created as f64)
            ),
            ms(pct(&mut lat, q)),
            "ms",
            (name == "p99").then(|| Target::at_most(20.0)),
        );
        f.rounds = lat.len();
        figures.push(f);
    }
    figures
}
