//! Flow records under a connection storm (root): several threads in a consumer host open new TCP
//! connections through an endpoint as fast as they can for a few seconds (connect, one byte
//! back, close); then every connection made must have its start and its end record, and the
//! listener's overruns (kernel-dropped events, `overrun` records and
//! `vpcep_flow_overruns_total`) are counted. Target (issue 12): ≥ 5,000 new connections/s with
//! no record dropped.
//!
//!     cargo bench -p vpcep-bench --bench flows
//!
//! `FLOWS_SECONDS` (default 5) and `FLOWS_THREADS` (default 4) change the storm.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use vpcep_core::flows::{FlowEvent, FlowRecord, rotated};
use vpcep_dataplane::kernel::netlink::in_namespace;

use vpcep_bench::lab::{Bench, greeter, request_ok};
use vpcep_test_support::lab::{create_endpoint, network, server};

/// (start, end, overrun) records in `dir` of sources in `client` (overruns: all).
fn count(dir: &Path, client: &str) -> (u64, u64, u64) {
    let (mut starts, mut ends, mut overruns) = (0, 0, 0);
    for i in 0..16 {
        let Ok(text) = std::fs::read_to_string(dir.join(rotated(i))) else {
            continue;
        };
        for r in text
            .lines()
            .filter_map(|l| serde_json::from_str::<FlowRecord>(l).ok())
        {
            let ours = r.source.is_some_and(|s| s.ip().to_string() == client);
            match r.event {
                FlowEvent::Start if ours => starts += 1,
                FlowEvent::End if ours => ends += 1,
                FlowEvent::Overrun => overruns += r.overruns,
                _ => {}
            }
        }
    }
    (starts, ends, overruns)
}

/// `threads` clients in `ns` connecting to `addr` for `seconds`: connections completed.
fn storm(ns: &str, addr: SocketAddr, seconds: u64, threads: usize) -> (u64, Duration) {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let ns = ns.to_string();
            std::thread::spawn(move || {
                in_namespace(&ns, move || {
                    let mut n = 0u64;
                    while start.elapsed() < Duration::from_secs(seconds) {
                        let mut s = TcpStream::connect(addr)?;
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b)?;
                        n += 1;
                    }
                    Ok(n)
                })
                .expect("connections")
            })
        })
        .collect();
    let n = handles.into_iter().map(|h| h.join().expect("client")).sum();
    (n, start.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (seconds, threads) = (env("FLOWS_SECONDS", 5), env("FLOWS_THREADS", 4) as usize);
    let dir = tempfile::tempdir().expect("dir");
    let flows = dir.path().join("flows");
    let b = Bench::start_with(
        "f",
        vpcep_control::Settings {
            flow_dir: Some(flows.clone()),
            ..Default::default()
        },
    )
    .await;
    let agent = b.spawn_agent();
    let prov = b.provider_with(&["tcp"]).await;
    let cons = network(&b.c, "cons", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let client_ip = "10.0.0.30";
    let (client, _) = server(&b.c, "client", &cons, client_ip, &[]).await;
    let (_, eip) = create_endpoint(&b.c, &prov.service, &cons).await;
    let (web_ns, client_ns) = (b.names.server(&prov.web), b.names.server(&client));
    let gw = b.names.gateway(0);
    let mut srv = vpcep_bench::lab::serve_ok(&web_ns).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !request_ok(&client_ns, &eip, Duration::from_millis(200)).await {
        assert!(Instant::now() < deadline, "no path");
    }
    let _ = srv.kill();
    let _ = srv.wait();
    greeter(&web_ns);
    let through: SocketAddr = format!("{eip}:80").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = client_ns.clone();
    while in_namespace(&c, move || TcpStream::connect(through).map(|_| ())).is_err() {
        assert!(Instant::now() < deadline, "greeter not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // End records come when conntrack forgets a connection: after TIME_WAIT (120 s by
    // default) or another closing state's timeout (up to 120 s when a FIN or the last ACK
    // crosses with the peer's), shortened so the storm's ends arrive within the bench.
    for state in ["time_wait", "fin_wait", "close_wait", "last_ack", "close"] {
        let key = format!("net.netfilter.nf_conntrack_tcp_timeout_{state}=1");
        let ok = std::process::Command::new("ip")
            .args(["netns", "exec", &gw, "sysctl", "-qw", &key])
            .status()
            .expect("sysctl")
            .success();
        assert!(ok, "{key}");
    }
    // Earlier connections (the probes) end first, so only the storm is counted.
    let settle = Instant::now() + Duration::from_secs(30);
    let mut before = count(&flows, client_ip);
    while before.0 != before.1 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        before = count(&flows, client_ip);
    }

    let c = client_ns.clone();
    let (made, took) = tokio::task::spawn_blocking(move || storm(&c, through, seconds, threads))
        .await
        .expect("storm");
    let rate = made as f64 / took.as_secs_f64();
    // Wait for the records (or for the count to stop moving: then some are missing).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = (0, 0, 0);
    let mut still = Instant::now();
    let got = loop {
        let now = count(&flows, client_ip);
        let got = (now.0 - before.0, now.1 - before.1, now.2 - before.2);
        if (got.0 >= made && got.1 >= made) || Instant::now() > deadline {
            break got;
        }
        if got != last {
            last = got;
            still = Instant::now();
        } else if still.elapsed() > Duration::from_secs(15) {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Connections the gateway still tracks (their end records are still to come).
    let tracked = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &gw,
            "cat",
            "/proc/sys/net/netfilter/nf_conntrack_count",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let bytes: u64 = (0..16)
        .filter_map(|i| std::fs::metadata(flows.join(rotated(i))).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "connection storm: {threads} threads, {:.1} s: {made} connections, {rate:.0} new connections/s (target ≥ 5,000)",
        took.as_secs_f64()
    );
    println!(
        "flow records: {} start, {} end for {made} connections; missing {} start, {} end; overruns {} (target 0 missing)",
        got.0,
        got.1,
        made.saturating_sub(got.0),
        made.saturating_sub(got.1),
        got.2
    );
    println!("still tracked by the gateway's conntrack: {tracked}");
    println!(
        "written: {:.1} MB, {:.0} bytes a record",
        bytes as f64 / 1e6,
        bytes as f64 / (got.0 + got.1).max(1) as f64
    );
    b.stop(agent).await;
    b.teardown().await;
}
