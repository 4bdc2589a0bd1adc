//! P2/P3 benchmark (root, needs `iperf3`): the same server reached two ways in one run,
//!   * direct: from a peer in the provider's own subnet (veth → bridge → veth), and
//!   * through an endpoint: from a consumer VPC on the same CIDR (consumer bridge → gateway shard
//!     with its nftables DNAT/SNAT → provider router → bridge),
//!
//! and prints each figure with its ratio: TCP one stream and four streams, UDP, new TCP
//! connections per second, and round-trip time of one-byte request/response exchanges.
//!
//!     cargo bench -p vpcep-dataplane --bench throughput

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use vpcep_dataplane::kernel::netlink::in_namespace;

use common::{Bench, connection_rate, iperf, pct, request_ok};
use vpcep_test_support::lab::{create_endpoint, network, server};

const SECONDS: &str = "4";

/// Round trips of one byte over one connection: the middle (p50) time in µs.
fn round_trip(ns: &str, addr: SocketAddr) -> f64 {
    in_namespace(ns, move || {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?; // the greeting
        let mut times = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            s.write_all(b"x")?;
            s.read_exact(&mut b)?;
            times.push(t.elapsed());
        }
        Ok(pct(&mut times, 0.5).as_secs_f64() * 1e6)
    })
    .expect("round trips")
}

/// In `ns`: accept on :80, send one byte, then echo every byte until the peer closes.
fn echo_server(ns: &str) {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let _ = in_namespace(&ns, || {
            let l = TcpListener::bind("0.0.0.0:80")?;
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                std::thread::spawn(move || {
                    let _ = s.set_nodelay(true);
                    let mut b = [0u8; 1];
                    if s.write_all(b"!").is_err() {
                        return;
                    }
                    while s.read_exact(&mut b).is_ok() {
                        if s.write_all(&b).is_err() {
                            return;
                        }
                    }
                });
            }
            Ok(())
        });
    });
}

fn line(what: &str, direct: f64, endpoint: f64, unit: &str, target: &str) {
    println!(
        "{what:<34} direct {direct:>10.1} {unit:<8} endpoint {endpoint:>10.1} {unit:<8} ratio {:>5.1}%  ({target})",
        100.0 * endpoint / direct
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let b = Bench::start("t").await;
    let agent = b.spawn_agent();
    let prov = b.provider_with(&["tcp", "udp"]).await;
    let (peer, _) = server(&b.c, "peer", &prov.net, "10.0.0.30", &[&prov.group]).await;
    let cons = network(&b.c, "cons", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let (client, _) = server(&b.c, "client", &cons, "10.0.0.30", &[]).await;
    let (_, eip) = create_endpoint(&b.c, &prov.service, &cons).await;
    let (web_ns, peer_ns, client_ns) = (
        b.names.server(&prov.web),
        b.names.server(&peer),
        b.names.server(&client),
    );
    let mut srv = common::serve_ok(&web_ns).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !request_ok(&client_ns, &eip, Duration::from_millis(200)).await
        || !request_ok(&peer_ns, "10.0.0.20", Duration::from_millis(200)).await
    {
        assert!(Instant::now() < deadline, "no path");
    }
    let _ = srv.kill();
    let _ = srv.wait();
    println!(
        "web 10.0.0.20; direct from 10.0.0.30 in its subnet; endpoint {eip} from 10.0.0.30 in another VPC on the same CIDR"
    );

    let mut iperf_server = std::process::Command::new("ip")
        .args(["netns", "exec", &web_ns, "iperf3", "-s", "-p", "80"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("iperf3 -s");
    // Ready when its socket listens (a probe connection would count as a test to iperf3).
    let listening = || {
        std::process::Command::new("ip")
            .args(["netns", "exec", &web_ns, "ss", "-Hltn", "sport = :80"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening() {
        assert!(Instant::now() < deadline, "iperf3 -s did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run = |extra: &'static [&'static str]| {
        let (p, c, e) = (peer_ns.clone(), client_ns.clone(), eip.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                (
                    iperf(&p, "10.0.0.20", SECONDS, extra),
                    iperf(&c, &e, SECONDS, extra),
                )
            })
            .await
            .expect("iperf")
        }
    };
    let (d, e) = run(&[]).await;
    line(
        "P2 TCP, one stream",
        d / 1e9,
        e / 1e9,
        "Gbit/s",
        "target ≥ 90%",
    );
    let (d, e) = run(&["-P", "4"]).await;
    line(
        "P2 TCP, four streams",
        d / 1e9,
        e / 1e9,
        "Gbit/s",
        "target ≥ 85%",
    );
    let (d, e) = run(&["-u", "-b", "0", "-l", "1400"]).await;
    line(
        "P2 UDP (1400-byte datagrams)",
        d / 1e9,
        e / 1e9,
        "Gbit/s",
        "target ≥ 70%",
    );
    let _ = iperf_server.kill();
    let _ = iperf_server.wait();

    echo_server(&web_ns);
    let direct: SocketAddr = "10.0.0.20:80".parse().expect("addr");
    let through: SocketAddr = format!("{eip}:80").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(10);
    while in_namespace(&peer_ns, move || TcpStream::connect(direct).map(|_| ())).is_err() {
        assert!(Instant::now() < deadline, "echo server not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (p, c) = (peer_ns.clone(), client_ns.clone());
    let (d, e) = tokio::task::spawn_blocking(move || {
        (
            connection_rate(&p, direct, 2),
            connection_rate(&c, through, 2),
        )
    })
    .await
    .expect("rate");
    line("P3 new TCP connections", d, e, "conn/s", "target ≥ 80%");
    let (p, c) = (peer_ns.clone(), client_ns.clone());
    let (d, e) =
        tokio::task::spawn_blocking(move || (round_trip(&p, direct), round_trip(&c, through)))
            .await
            .expect("rtt");
    println!(
        "{:<34} direct {d:>10.1} µs       endpoint {e:>10.1} µs       added {:>5.1} µs  (target ≤ 5 µs)",
        "P3 round trip, p50",
        e - d
    );
    agent.abort();
    b.teardown().await;
}
