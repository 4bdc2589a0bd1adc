//! Cost of traffic accounting (root, needs `iperf3`): the same endpoint path measured with the
//! gateway's counting rules (as planned), without them (the three lookups into `ep_rx`,
//! `ep_tx`, `ep_new` deleted from the running table by handle), and with them again (a restarted
//! agent reloads the planned table), interleaved over several rounds in one run: TCP one
//! stream, UDP, and new TCP connections per second; medians compared. Target (issue 12):
//! accounting costs ≤ 5 %.
//!
//!     cargo bench -p vpcep-bench --bench accounting

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use vpcep_dataplane::kernel::netlink::in_namespace;

use vpcep_bench::lab::{Bench, connection_rate, greeter, iperf, request_ok};
use vpcep_test_support::lab::{Running, create_endpoint, network, server};

/// Handles of the gateway's counting rules (`@ep_rx`, `@ep_tx`, `@ep_new`): (chain, handle).
fn counting_rules(gw: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new("ip")
        .args([
            "netns", "exec", gw, "nft", "-a", "list", "table", "ip", "vpcep",
        ])
        .output()
        .expect("nft");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut chain = String::new();
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        let counts = ["@ep_rx", "@ep_tx", "@ep_new"]
            .iter()
            .any(|s| line.contains(&format!("{s} #")));
        if counts && let Some((_, h)) = line.rsplit_once("# handle ") {
            found.push((chain.clone(), h.to_string()));
        }
    }
    found
}

/// Delete the counting rules from the running gateway table.
fn accounting_off(gw: &str) {
    let rules = counting_rules(gw);
    assert_eq!(rules.len(), 3, "counting rules: {rules:?}");
    for (chain, handle) in &rules {
        let ok = std::process::Command::new("ip")
            .args([
                "netns", "exec", gw, "nft", "delete", "rule", "ip", "vpcep", chain, "handle",
                handle,
            ])
            .status()
            .expect("nft delete rule")
            .success();
        assert!(ok, "delete rule {chain} {handle}");
    }
}

/// Restart the agent: it reloads the planned table, counting rules included. The old one is
/// stopped first, so it cannot still be applying its table when the new one starts.
async fn accounting_on(b: &Bench, agent: Running, gw: &str) -> Running {
    b.stop(agent).await;
    let agent = b.spawn_agent();
    let deadline = Instant::now() + Duration::from_secs(30);
    while counting_rules(gw).len() != 3 {
        assert!(Instant::now() < deadline, "table not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent
}

/// Rounds without accounting (with it: one more, before and after each).
const ROUNDS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Medians with and without accounting, each round's figures, and the cost.
fn show(what: &str, (with, without): (Vec<f64>, Vec<f64>), unit: &str, scale: f64) {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{:.2}", x / scale))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (w, wo) = (median(with.clone()), median(without.clone()));
    println!(
        "{what:<26} with {:>9.2} {unit:<6} without {:>9.2} {unit:<6} cost {:>5.1}%  (target ≤ 5%)  rounds: with [{}] without [{}]",
        w / scale,
        wo / scale,
        100.0 * (wo - w) / wo,
        list(&with),
        list(&without)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let b = Bench::start("a").await;
    let mut agent = b.spawn_agent();
    let prov = b.provider_with(&["tcp", "udp"]).await;
    let cons = network(&b.c, "cons", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let (client, _) = server(&b.c, "client", &cons, "10.0.0.30", &[]).await;
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
    let mut iperf_server = std::process::Command::new("ip")
        .args(["netns", "exec", &web_ns, "iperf3", "-s", "-p", "80"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("iperf3 -s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let streams = |extra: &'static [&'static str]| {
        let (c, e) = (client_ns.clone(), eip.clone());
        async move {
            tokio::task::spawn_blocking(move || iperf(&c, &e, "3", extra))
                .await
                .expect("iperf")
        }
    };
    let udp: &[&str] = &["-u", "-b", "0", "-l", "1400"];
    // Interleaved rounds (this machine's load drifts): with, without, … , with.
    let (mut tcp, mut udps) = ((vec![], vec![]), (vec![], vec![]));
    for i in 0..=ROUNDS {
        tcp.0.push(streams(&[]).await);
        udps.0.push(streams(udp).await);
        if i == ROUNDS {
            break;
        }
        accounting_off(&gw);
        tcp.1.push(streams(&[]).await);
        udps.1.push(streams(udp).await);
        agent = accounting_on(&b, agent, &gw).await;
    }
    let _ = iperf_server.kill();
    let _ = iperf_server.wait();

    greeter(&web_ns);
    let through: SocketAddr = format!("{eip}:80").parse().expect("addr");
    let rate = || {
        let c = client_ns.clone();
        async move {
            tokio::task::spawn_blocking(move || connection_rate(&c, through, 3))
                .await
                .expect("rate")
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = client_ns.clone();
    while in_namespace(&c, move || TcpStream::connect(through).map(|_| ())).is_err() {
        assert!(Instant::now() < deadline, "greeter not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut conns = (vec![], vec![]);
    for i in 0..=ROUNDS {
        conns.0.push(rate().await);
        if i == ROUNDS {
            break;
        }
        accounting_off(&gw);
        conns.1.push(rate().await);
        agent = accounting_on(&b, agent, &gw).await;
    }
    show("TCP, one stream", tcp, "Gbit/s", 1e9);
    show("UDP, 1400-byte datagrams", udps, "Gbit/s", 1e9);
    show("new TCP connections", conns, "conn/s", 1.0);
    b.stop(agent).await;
    b.teardown().await;
}
