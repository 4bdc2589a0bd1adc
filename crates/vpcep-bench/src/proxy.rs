//! P2/P3 of the userspace PROXY-v2 path (`tcp_proxy = proxy_open`, issue 12 item 5) against the direct
//! path and the kernel endpoint path, side by side in one run with interleaved rounds (each
//! round measures all three back to back, so a noisy moment hits them alike):
//!   * direct: from a peer in the provider's own subnet to the server;
//!   * kernel: through an endpoint of a `close` service (gateway DNAT/SNAT only);
//!   * proxy: through an endpoint of a `proxy_open` service on the same server (DNAT to the
//!     gateway's listener, userspace copy, PROXY v2 header to the backend).
//!
//! Figures: single-stream TCP throughput (bytes the server counted / time until it answered),
//! and the p50 of one-byte round trips over one connection, its two ends and the proxy's thread
//! pinned to the last CPU as for P3 (`path::pin_process_to_last_cpu`), so the three paths'
//! round trips compare alike (until 2026-11-29 the ends, started by already pinned threads,
//! landed on CPU 0 while the proxy's thread sat on CPU 1 — see `path::last_online_cpu` — so
//! each proxied exchange woke the other vCPU four times: 127–155 µs idle, 42–94 µs loaded);
//! medians over the rounds. Targets:
//! proxy ≥ 80 % of direct throughput, proxy round trip ≤ direct + 25 µs at p50.
//!

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_dataplane::kernel::netlink::in_namespace;
use vpcep_test_support::lab::{
    backend_group, create_endpoint, network, server, wait_for, wait_server_active,
};

use crate::figure::{Figure, Target};
use crate::lab::{Bench, pct};

#[derive(Clone, Debug)]
pub struct Config {
    pub rounds: usize,
    pub stream_secs: f64,
    pub round_trips: usize,
}

impl Config {
    pub fn full() -> Config {
        Config {
            rounds: 5,
            stream_secs: 2.0,
            round_trips: 10_000,
        }
    }
    pub fn quick() -> Config {
        Config {
            rounds: 2,
            stream_secs: 0.5,
            round_trips: 1_000,
        }
    }
}

/// The three paths' values per round, in the order direct, kernel endpoint, proxy endpoint.
pub struct Rounds {
    /// Single-stream TCP, Gbit/s.
    pub gbit: [Vec<f64>; 3],
    /// One-byte round trip p50, µs.
    pub rtt_us: [Vec<f64>; 3],
}

/// In `ns`: accept on `port`; after skipping a PROXY v2 header when `proxied`, the first byte
/// chooses: `T` counts bytes until the peer stops sending and answers the count; `E` sends one
/// byte, then echoes every byte.
fn test_server(ns: &str, port: u16, proxied: bool, stop: Arc<AtomicBool>) {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let _ = in_namespace(&ns, move || {
            let l = TcpListener::bind(("0.0.0.0", port))?;
            for s in l.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
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
        // Both ends of a round trip on one CPU, as for P3 (`path::pin_to_last_cpu`).
        crate::path::pin_to_last_cpu();
        let mut b = [0u8; 1];
        s.write_all(b"!")?;
        while s.read_exact(&mut b).is_ok() {
            s.write_all(&b)?;
        }
    }
    Ok(())
}

/// One stream from `ns` to `addr` for `secs`: bits per second the server counted.
fn stream(ns: &str, addr: SocketAddr, secs: f64) -> f64 {
    let length = Duration::from_secs_f64(secs);
    in_namespace(ns, move || {
        let mut s = TcpStream::connect(addr)?;
        s.write_all(b"T")?;
        let buf = vec![0x5au8; 256 * 1024];
        let start = Instant::now();
        while start.elapsed() < length {
            s.write_all(&buf)?;
        }
        s.shutdown(std::net::Shutdown::Write)?;
        let mut n = [0u8; 8];
        s.read_exact(&mut n)?;
        Ok(u64::from_be_bytes(n) as f64 * 8.0 / start.elapsed().as_secs_f64())
    })
    .expect("stream")
}

/// `n` one-byte round trips over one connection from `ns` to `addr`: p50 in µs.
fn round_trip(ns: &str, addr: SocketAddr, n: usize) -> f64 {
    in_namespace(ns, move || {
        crate::path::pin_to_last_cpu();
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
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            s.write_all(b"x")?;
            s.read_exact(&mut b)?;
            times.push(t.elapsed());
        }
        Ok(pct(&mut times, 0.5).as_secs_f64() * 1e6)
    })
    .expect("round trips")
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

/// Measure the three paths in interleaved rounds, in a lab of its own (namespaces `vbx…`).
pub async fn rounds(cfg: &Config) -> Rounds {
    let b = Bench::start("x").await;
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
    let stop = Arc::new(AtomicBool::new(false));
    test_server(&web_ns, 80, false, stop.clone());
    test_server(&web_ns, 81, true, stop.clone());
    let direct: SocketAddr = "10.0.0.20:80".parse().expect("addr");
    let kernel: SocketAddr = format!("{kernel_ip}:80").parse().expect("addr");
    let proxy: SocketAddr = format!("{proxy_ip}:80").parse().expect("addr");
    reachable(&peer_ns, direct).await;
    reachable(&client_ns, kernel).await;
    reachable(&client_ns, proxy).await;

    let paths = [
        (peer_ns.clone(), direct),
        (client_ns.clone(), kernel),
        (client_ns.clone(), proxy),
    ];
    let (n, secs, trips) = (cfg.rounds, cfg.stream_secs, cfg.round_trips);
    let (gbit, rtt_us) = tokio::task::spawn_blocking(move || {
        let mut gbit: [Vec<f64>; 3] = Default::default();
        let mut rtt: [Vec<f64>; 3] = Default::default();
        for _ in 0..n {
            for (i, (ns, addr)) in paths.iter().enumerate() {
                gbit[i].push(stream(ns, *addr, secs) / 1e9);
            }
        }
        // The proxy's thread too, not only the two ends (`path::pin_process_to_last_cpu`).
        crate::path::pin_process_to_last_cpu(true);
        for _ in 0..n {
            for (i, (ns, addr)) in paths.iter().enumerate() {
                rtt[i].push(round_trip(ns, *addr, trips));
            }
        }
        crate::path::pin_process_to_last_cpu(false);
        (gbit, rtt)
    })
    .await
    .expect("measure");
    stop.store(true, Ordering::Relaxed);
    for port in [80, 81] {
        let addr = SocketAddr::from(([10, 0, 0, 20], port));
        let _ = in_namespace(&peer_ns, move || TcpStream::connect(addr).map(|_| ()));
    }
    b.stop(agent).await;
    b.teardown().await;
    Rounds { gbit, rtt_us }
}

/// The PROXY-v2 path's figures against the direct path (SPEC P2 userspace ≥ 80 %, P3 ≤ +25 µs).
pub async fn measure(cfg: &Config) -> Vec<Figure> {
    let r = rounds(cfg).await;
    let [gd, _, gp] = r.gbit;
    let [rd, _, rp] = r.rtt_us;
    vec![
        Figure::versus(
            "P2",
            "TCP, one stream, PROXY v2 (userspace) path",
            gd,
            gp,
            "Gbit/s",
            Some(Target::ratio_at_least(80.0)),
        ),
        Figure::versus(
            "P3",
            "one-byte round trip, p50, PROXY v2 (userspace) path",
            rd,
            rp,
            "µs",
            Some(Target::added_at_most(25.0)),
        ),
    ]
}
