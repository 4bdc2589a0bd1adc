//! P1 (root): with `present` endpoints already there (one consumer subnet), create `warm` more one
//! at a time (approval off) and time the create call → the first successful TCP request through
//! the new endpoint. The client starts connecting as soon as the create call returns (50 ms
//! connect timeout per try), from a socket inside its namespace; the agent runs as in `vpcep
//! serve`, following the feed over HTTP. Then `new_vpcs` times the first endpoint of a
//! brand-new consumer VPC (a new gateway leg), create → first request.

use std::time::{Duration, Instant};

use vpcep_test_support::lab::{create_endpoint, network, server, wait_server_active};

use crate::figure::{Figure, Target};
use crate::lab::{Bench, pct, request_ok, request_try, serve_ok};

#[derive(Clone, Debug)]
pub struct Config {
    pub present: usize,
    pub warm: usize,
    pub new_vpcs: usize,
}

impl Config {
    pub fn full() -> Config {
        Config {
            present: 1000,
            warm: 20,
            new_vpcs: 10,
        }
    }
    pub fn quick() -> Config {
        Config {
            present: 20,
            warm: 5,
            new_vpcs: 2,
        }
    }
}

pub struct Measured {
    pub figures: Vec<Figure>,
    /// Connection tries per warm endpoint (1 = the first try answered).
    pub tries: Vec<usize>,
    /// How long creating and programming the `present` endpoints took.
    pub setup: Duration,
}

/// A new-VPC sample slower than this prints how its tries went.
const SLOW_SAMPLE: Duration = Duration::from_millis(200);

/// The wall-clock time `ago` before now (UTC, to match the agent's log).
fn wall_clock_before(ago: Duration) -> String {
    let at = time::OffsetDateTime::now_utc() - ago;
    at.format(time::macros::format_description!(
        "[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn measure(cfg: &Config) -> Measured {
    let b = Bench::start("p").await;
    let agent = b.spawn_agent();
    let (sid, web) = b.provider().await;
    // One consumer VPC with a big subnet holding every endpoint (one shard, one zone).
    let cons = network(&b.c, "cons", "10.0.0.0/8", "10.0.0.0/14", "10.0.0.1").await;
    let (client, _) = server(&b.c, "client", &cons, "10.3.255.250", &[]).await;
    let client_ns = b.names.server(&client);
    let mut srv = serve_ok(&b.names.server(&web)).await;
    let started = Instant::now();
    for chunk in (0..cfg.present).collect::<Vec<_>>().chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|_| create_endpoint(&b.c, &sid, &cons)))
            .await;
    }
    b.wait_accepted(cfg.present).await;
    let setup = started.elapsed();
    let (mut to_traffic, mut tries, mut create_call) = (vec![], vec![], vec![]);
    for _ in 0..cfg.warm {
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
    // The first endpoint of a brand-new consumer VPC: its subnet has no gateway leg yet, so the
    // endpoint brings a new leg (layout: veth, routes, rules, a table reload) with it. The host in
    // that VPC is ACTIVE before the clock starts; the time is create call → first TCP request.
    let mut first_of_vpc = vec![];
    for i in 0..cfg.new_vpcs {
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
        let created = t.elapsed();
        // Each try: when it started and ended (ms after the create call began), how it failed.
        let mut attempts: Vec<String> = vec![];
        loop {
            let start = ms(t.elapsed());
            let r = request_try(&host_ns, &eip, Duration::from_millis(50)).await;
            let how = r.as_ref().err().map_or("ok", String::as_str);
            attempts.push(format!("{start:.1}–{:.1} ms {how}", ms(t.elapsed())));
            if r.is_ok() {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no traffic to {eip}");
        }
        let took = t.elapsed();
        let attempts = attempts.join("; ");
        // A slow sample says where its time went (the agent's log, with `VPCEP_LOG=
        // vpcep_dataplane=debug`, has the converge's side at the same wall-clock time).
        tracing::debug!(
            vpc = i,
            endpoint = eip,
            took_ms = ms(took),
            create_ms = ms(created),
            tries = attempts,
            "P1 new-VPC sample"
        );
        if took > SLOW_SAMPLE {
            eprintln!(
                "P1 slow sample: new VPC {i} endpoint {eip} took {:.1} ms (create call {:.1} ms, \
                 started {}): {}",
                ms(took),
                ms(created),
                wall_clock_before(took),
                attempts
            );
        }
        first_of_vpc.push(took);
    }
    let _ = srv.kill();
    let _ = srv.wait();
    b.stop(agent).await;
    b.teardown().await;
    let present = crate::figure::num(cfg.present as f64);
    let n = to_traffic.len();
    let m = first_of_vpc.len();
    let mut figures = vec![
        Figure::absolute(
            "P1",
            format!("create → first TCP request, p50 ({present} present)"),
            ms(pct(&mut to_traffic, 0.5)),
            "ms",
            Some(Target::at_most(20.0)),
        ),
        Figure::absolute(
            "P1",
            format!("create → first TCP request, p99 ({present} present)"),
            ms(pct(&mut to_traffic, 0.99)),
            "ms",
            Some(Target::at_most(100.0)),
        ),
        Figure::absolute(
            "P1",
            "… of which the create call (signed HTTP + SQLite commit), p50",
            ms(pct(&mut create_call, 0.5)),
            "ms",
            None,
        ),
        Figure::absolute(
            "P1",
            "first endpoint of a new consumer VPC, p50",
            ms(pct(&mut first_of_vpc, 0.5)),
            "ms",
            Some(Target::at_most(20.0)),
        ),
        Figure::absolute(
            "P1",
            "first endpoint of a new consumer VPC, p99",
            ms(pct(&mut first_of_vpc, 0.99)),
            "ms",
            Some(Target::at_most(100.0)),
        ),
    ];
    for (i, f) in figures.iter_mut().enumerate() {
        f.rounds = if i < 3 { n } else { m };
    }
    Measured {
        figures,
        tries,
        setup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_sample_is_stamped_like_the_agents_log() {
        // The agent's log stamps `2026-11-30T08:10:59.404979Z`; the sample prints the time part.
        let stamp = wall_clock_before(Duration::from_millis(1500));
        let b = stamp.as_bytes();
        assert_eq!(stamp.len(), "08:10:59.404979Z".len(), "{stamp}");
        assert_eq!(
            (b[2], b[5], b[8], b[15]),
            (b':', b':', b'.', b'Z'),
            "{stamp}"
        );
        assert!(
            stamp.chars().filter(char::is_ascii_digit).count() == 12,
            "{stamp}"
        );
    }
}
