//! The userspace PROXY-v2 path (`tcp_proxy = proxy_open`, issue 12 item 5) against the direct
//! path and the kernel endpoint path, side by side in one run with interleaved rounds (each
//! round measures all three back to back, so a noisy moment hits them alike):
//!   * direct: from a peer in the provider's own subnet to the server;
//!   * kernel: through an endpoint of a `close` service (gateway DNAT/SNAT only);
//!   * proxy: through an endpoint of a `proxy_open` service on the same server (DNAT to the
//!     gateway's listener, userspace copy, PROXY v2 header to the backend).
//!
//! Figures: single-stream TCP throughput (bytes the server counted / time until it answered),
//! and the p50 of one-byte round trips over one connection; medians over the rounds. Targets:
//! proxy ≥ 80 % of direct throughput, proxy round trip ≤ direct + 25 µs at p50.
//!
//!     cargo bench -p vpcep-bench --bench proxy

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_dataplane::kernel::netlink::in_namespace;

use vpcep_bench::lab::{Bench, pct};
use vpcep_test_support::lab::{
    backend_group, create_endpoint, network, server, wait_for, wait_server_active,
};

const ROUNDS: usize = 5;
const STREAM: Duration = Duration::from_secs(2);
const ROUND_TRIPS: usize = 10_000;

/// In `ns`: accept on `port`; after skipping a PROXY v2 header when `proxied`, the first byte
/// chooses: `T` counts bytes until the peer stops sending and answers the count; `E` sends one
/// byte, then echoes every byte.
fn test_server(ns: &str, port: u16, proxied: bool) {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let _ = in_namespace(&ns, move || {
            let l = TcpListener::bind(("0.0.0.0", port))?;
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                std::thread::spawn(move || {
                    let _ = serve(s, proxied);
                });
            }
            Ok(())
        });
    });
}

fn serve(mut s: TcpStream, proxied: bool) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    if proxied {
        let mut fixed = [0u8; 16];
        s.read_exact(&mut fixed)?;
        let len = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
        let mut rest = vec![0u8; len];
        s.read_exact(&mut rest)?;
    }
    let mut mode = [0u8; 1];
    s.read_exact(&mut mode)?;
    if mode[0] == b'T' {
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            match s.read(&mut buf)? {
                0 => break,
                k => n += k as u64,
            }
        }
        s.write_all(&n.to_be_bytes())?;
    } else {
        let mut b = [0u8; 1];
        s.write_all(b"!")?;
        while s.read_exact(&mut b).is_ok() {
            s.write_all(&b)?;
        }
    }
    Ok(())
}

/// One stream from `ns` to `addr` for [`STREAM`]: bits per second the server counted.
fn stream(ns: &str, addr: SocketAddr) -> f64 {
    in_namespace(ns, move || {
        let mut s = TcpStream::connect(addr)?;
        s.write_all(b"T")?;
        let buf = vec![0x5au8; 256 * 1024];
        let start = Instant::now();
        while start.elapsed() < STREAM {
            s.write_all(&buf)?;
        }
        s.shutdown(std::net::Shutdown::Write)?;
        let mut n = [0u8; 8];
        s.read_exact(&mut n)?;
        Ok(u64::from_be_bytes(n) as f64 * 8.0 / start.elapsed().as_secs_f64())
    })
    .expect("stream")
}

/// One-byte round trips over one connection from `ns` to `addr`: p50 in µs.
fn round_trip(ns: &str, addr: SocketAddr) -> f64 {
    in_namespace(ns, move || {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.write_all(b"E")?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        // Warm the path (caches, the proxy's task) before timing.
        for _ in 0..500 {
            s.write_all(b"x")?;
            s.read_exact(&mut b)?;
        }
        let mut times = Vec::with_capacity(ROUND_TRIPS);
        for _ in 0..ROUND_TRIPS {
            let t = Instant::now();
            s.write_all(b"x")?;
            s.read_exact(&mut b)?;
            times.push(t.elapsed());
        }
        Ok(pct(&mut times, 0.5).as_secs_f64() * 1e6)
    })
    .expect("round trips")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn service(b: &Bench, port_id: &str, vpc: &str, server_port: u16, tcp_proxy: &str) -> String {
    let c = &b.c;
    let svc: Value = c
        .post(
            &c.project_path("/vpc-endpoint-services"),
            &json!({"port_id": port_id, "vpc_id": vpc, "server_type": "VM", "approval_enabled": false,
                "tcp_proxy": tcp_proxy,
                "ports": [{"client_port": 80, "server_port": server_port, "protocol": "TCP"}]}),
        )
        .await
        .expect("service");
    svc["id"].as_str().expect("id").to_string()
}

/// Wait until `addr` answers an echo exchange from `ns`.
async fn reachable(ns: &str, addr: SocketAddr) {
    let ns = ns.to_string();
    wait_for(&format!("{addr} from {ns}"), || {
        let ns = ns.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                in_namespace(&ns, move || {
                    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300))?;
                    s.set_read_timeout(Some(Duration::from_millis(500)))?;
                    s.write_all(b"E")?;
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b)?;
                    Ok(b[0] == b'!')
                })
                .unwrap_or(false)
            })
            .await
            .unwrap_or(false)
        }
    })
    .await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let b = Bench::start("p").await;
    let agent = b.spawn_agent();
    let c = &b.c;
    let prov = network(c, "prov", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let group = backend_group(c, &[("tcp", 80), ("tcp", 81)]).await;
    let (web, web_port) = server(c, "web", &prov, "10.0.0.20", &[&group]).await;
    let (peer, _) = server(c, "peer", &prov, "10.0.0.30", &[&group]).await;
    let cons = network(c, "cons", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let (client, _) = server(c, "client", &cons, "10.0.0.30", &[]).await;
    for id in [&web, &peer, &client] {
        wait_server_active(c, id).await;
    }
    let kernel_svc = service(&b, &web_port, &prov.vpc, 80, "close").await;
    let proxy_svc = service(&b, &web_port, &prov.vpc, 81, "proxy_open").await;
    let (_, kernel_ip) = create_endpoint(c, &kernel_svc, &cons).await;
    let (_, proxy_ip) = create_endpoint(c, &proxy_svc, &cons).await;
    let (web_ns, peer_ns, client_ns) = (
        b.names.server(&web),
        b.names.server(&peer),
        b.names.server(&client),
    );
    test_server(&web_ns, 80, false);
    test_server(&web_ns, 81, true);
    let direct: SocketAddr = "10.0.0.20:80".parse().expect("addr");
    let kernel: SocketAddr = format!("{kernel_ip}:80").parse().expect("addr");
    let proxy: SocketAddr = format!("{proxy_ip}:80").parse().expect("addr");
    reachable(&peer_ns, direct).await;
    reachable(&client_ns, kernel).await;
    reachable(&client_ns, proxy).await;
    println!(
        "web 10.0.0.20; direct from 10.0.0.30 in its subnet; endpoints {kernel_ip} (close) and {proxy_ip} (proxy_open) from 10.0.0.30 in another VPC on the same CIDR; {ROUNDS} interleaved rounds"
    );

    let paths = [
        ("direct", peer_ns.clone(), direct),
        ("kernel", client_ns.clone(), kernel),
        ("proxy", client_ns.clone(), proxy),
    ];
    let measure = move |f: fn(&str, SocketAddr) -> f64| {
        let paths = paths.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut per_path: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
                for _ in 0..ROUNDS {
                    for (i, (_, ns, addr)) in paths.iter().enumerate() {
                        per_path[i].push(f(ns, *addr));
                    }
                }
                per_path
            })
            .await
            .expect("measure")
        }
    };
    let tput = measure(stream).await;
    let rtt = measure(round_trip).await;
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("single-stream TCP, Gbit/s (rounds, then median):");
    let gbit: Vec<Vec<f64>> = tput
        .iter()
        .map(|r| r.iter().map(|x| x / 1e9).collect())
        .collect();
    for (i, name) in ["direct", "kernel", "proxy"].iter().enumerate() {
        println!(
            "  {name:<7} {:<40} median {:>6.2}",
            show(&gbit[i]),
            median(gbit[i].clone())
        );
    }
    let (d, k, p) = (
        median(gbit[0].clone()),
        median(gbit[1].clone()),
        median(gbit[2].clone()),
    );
    println!(
        "  proxy / direct {:.1}% (target ≥ 80%), proxy / kernel endpoint {:.1}%",
        100.0 * p / d,
        100.0 * p / k
    );
    println!("one-byte round trip p50, µs (rounds, then median):");
    for (i, name) in ["direct", "kernel", "proxy"].iter().enumerate() {
        println!(
            "  {name:<7} {:<40} median {:>6.1}",
            show(&rtt[i]),
            median(rtt[i].clone())
        );
    }
    let (d, k, p) = (
        median(rtt[0].clone()),
        median(rtt[1].clone()),
        median(rtt[2].clone()),
    );
    println!(
        "  proxy − direct {:+.1} µs (target ≤ +25 µs), proxy − kernel endpoint {:+.1} µs",
        p - d,
        p - k
    );
    agent.abort();
    b.teardown().await;
}
