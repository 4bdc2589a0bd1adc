//! P2/P3 (root, needs `iperf3`): one web server reached two ways in one lab,
//!   * direct: from a peer in the provider's own subnet (veth → bridge → veth), and
//!   * through an endpoint: from a consumer VPC on the same CIDR (consumer bridge → gateway shard
//!     with its nftables DNAT/SNAT → provider router → bridge),
//!
//! in `rounds` interleaved rounds (direct, endpoint, direct, endpoint, …) so machine noise hits
//! both: TCP one stream and four streams, UDP, new TCP connections per second, and one-byte
//! round trips on one connection. Figures are the medians of the rounds; every round's value
//! and every round trip are kept (the SVG draws them).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vpcep_dataplane::kernel::netlink::in_namespace;
use vpcep_test_support::lab::{create_endpoint, network, server};

use crate::figure::{Distribution, Figure, Target};
use crate::lab::{Bench, connection_rate, iperf, median, request_ok};

#[derive(Clone, Debug)]
pub struct Config {
    pub rounds: usize,
    /// Seconds per iperf3 run.
    pub iperf_secs: u32,
    /// Seconds per connection-rate run.
    pub connect_secs: u64,
    /// One-byte exchanges per round-trip run.
    pub round_trips: usize,
}

impl Config {
    pub fn full() -> Config {
        Config {
            // Seven rounds of 4 s: with five of 3 s, two idle runs of the same build gave the
            // four-stream ratio as 82.9 % and 93.7 %.
            rounds: 7,
            iperf_secs: 4,
            connect_secs: 2,
            round_trips: 20_000,
        }
    }
    pub fn quick() -> Config {
        Config {
            rounds: 2,
            iperf_secs: 1,
            connect_secs: 1,
            round_trips: 2_000,
        }
    }
}

pub struct Measured {
    pub figures: Vec<Figure>,
    pub round_trips: Vec<Distribution>,
}

/// Pin the calling thread to the machine's last CPU. Round trips run with both ends pinned there,
/// as the reference measurements did: on a VM an idle vCPU sleeps, and waking it for the other
/// end's every reply costs tens of µs that belong to the host's scheduler, not to the path (idle:
/// 70 µs direct; with the CPUs kept busy or the ends on one CPU: 5–6 µs). Both paths are
/// measured the same way, so the added time is the path's.
pub fn pin_to_last_cpu() {
    if let Some(set) = cpus(true) {
        // Best effort: unpinned, the figure is only noisier.
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// The machine's last CPU (`last`) or all of them.
fn cpus(last: bool) -> Option<nix::sched::CpuSet> {
    let max = last_online_cpu();
    let mut set = nix::sched::CpuSet::new();
    for cpu in if last { max..=max } else { 0..=max } {
        set.set(cpu).ok()?;
    }
    Some(set)
}

/// The highest online CPU's number, taken from the machine and not from the calling thread:
/// `available_parallelism` counts only the CPUs the caller may run on, so a thread already
/// pinned (every thread started after `pin_process_to_last_cpu(true)`, e.g. a round trip's two
/// ends) saw one CPU and "pinned to the last" CPU 0, while the relay stayed on CPU 1: four
/// cross-CPU wakeups per PROXY round trip (2026-11-29: 127–155 µs idle).
fn last_online_cpu() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| last_in_cpu_list(&s))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()) - 1)
}

/// The last CPU of a kernel CPU list ("0-1", "0,2-3", "0"): ranges are ascending, so it is
/// the last number.
fn last_in_cpu_list(list: &str) -> Option<usize> {
    list.trim().rsplit([',', '-']).next()?.parse().ok()
}

/// Pin every thread of this process to the last CPU (`true`) or let them run anywhere again
/// (`false`). A path with a relay in this process (the PROXY-v2 proxy runs in the bench's
/// agent) has a third context per round trip: pinned like the two ends, it is measured the way
/// P3 measures the kernel path instead of paying an idle vCPU's wakeup twice per exchange.
/// Threads started later inherit their starter's setting.
pub fn pin_process_to_last_cpu(pin: bool) {
    let Some(set) = cpus(pin) else {
        return;
    };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
            // Best effort: a thread that ended meanwhile is fine.
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set);
        }
    }
}

/// Round trips of one byte over one connection from `ns` to `addr`: each exchange in µs.
pub fn round_trips(ns: &str, addr: SocketAddr, n: usize) -> Vec<f64> {
    in_namespace(ns, move || {
        pin_to_last_cpu();
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?; // the greeting
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            s.write_all(b"x")?;
            s.read_exact(&mut b)?;
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(times)
    })
    .expect("round trips")
}

/// In `ns`: accept on :80, send one byte, then echo every byte until the peer closes; stops
/// accepting once `stop` is set and one more connection arrives.
pub fn echo_server(ns: &str, stop: Arc<AtomicBool>) {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let _ = in_namespace(&ns, move || {
            let l = TcpListener::bind("0.0.0.0:80")?;
            for s in l.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut s) = s else { continue };
                std::thread::spawn(move || {
                    pin_to_last_cpu();
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

/// Run P2/P3 in a lab of its own (namespaces `vbt…`, removed at the end).
pub async fn measure(cfg: &Config) -> Measured {
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
    let mut srv = crate::lab::serve_ok(&web_ns).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !request_ok(&client_ns, &eip, Duration::from_millis(200)).await
        || !request_ok(&peer_ns, "10.0.0.20", Duration::from_millis(200)).await
    {
        assert!(Instant::now() < deadline, "no path");
    }
    let _ = srv.kill();
    let _ = srv.wait();

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
    let kinds: [(&str, &[&str], f64); 3] = [
        ("TCP, one stream", &[], 90.0),
        ("TCP, four streams", &["-P", "4"], 85.0),
        (
            "UDP, 1,400-byte datagrams",
            &["-u", "-b", "0", "-l", "1400"],
            70.0,
        ),
    ];
    let mut samples = vec![(Vec::new(), Vec::new()); kinds.len()];
    let secs = cfg.iperf_secs.to_string();
    for _ in 0..cfg.rounds {
        for (k, (_, extra, _)) in kinds.iter().enumerate() {
            let (p, c, e, s, extra) = (
                peer_ns.clone(),
                client_ns.clone(),
                eip.clone(),
                secs.clone(),
                *extra,
            );
            let (d, t) = tokio::task::spawn_blocking(move || {
                let d = iperf(&p, "10.0.0.20", &s, extra);
                (d, iperf(&c, &e, &s, extra))
            })
            .await
            .expect("iperf");
            samples[k].0.push(d / 1e9);
            samples[k].1.push(t / 1e9);
        }
    }
    let _ = iperf_server.kill();
    let _ = iperf_server.wait();
    let mut figures: Vec<Figure> = kinds
        .iter()
        .zip(samples)
        .map(|((name, _, target), (d, t))| {
            Figure::versus(
                "P2",
                *name,
                d,
                t,
                "Gbit/s",
                Some(Target::ratio_at_least(*target)),
            )
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    echo_server(&web_ns, stop.clone());
    let direct: SocketAddr = "10.0.0.20:80".parse().expect("addr");
    let through: SocketAddr = format!("{eip}:80").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(10);
    while in_namespace(&peer_ns, move || TcpStream::connect(direct).map(|_| ())).is_err() {
        assert!(Instant::now() < deadline, "echo server not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut rate_d, mut rate_e, mut rtt_d, mut rtt_e) = (vec![], vec![], vec![], vec![]);
    let (mut all_d, mut all_e) = (vec![], vec![]);
    for _ in 0..cfg.rounds {
        let (p, c, secs, n) = (
            peer_ns.clone(),
            client_ns.clone(),
            cfg.connect_secs,
            cfg.round_trips,
        );
        let (d, e, td, te) = tokio::task::spawn_blocking(move || {
            let d = connection_rate(&p, direct, secs);
            let e = connection_rate(&c, through, secs);
            let td = round_trips(&p, direct, n);
            let te = round_trips(&c, through, n);
            (d, e, td, te)
        })
        .await
        .expect("connections");
        rate_d.push(d);
        rate_e.push(e);
        rtt_d.push(median(&mut td.clone()));
        rtt_e.push(median(&mut te.clone()));
        all_d.extend(td);
        all_e.extend(te);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = in_namespace(&peer_ns, move || TcpStream::connect(direct).map(|_| ()));
    figures.push(Figure::versus(
        "P3",
        "new TCP connections",
        rate_d,
        rate_e,
        "conn/s",
        Some(Target::ratio_at_least(80.0)),
    ));
    figures.push(Figure::versus(
        "P3",
        "one-byte round trip, p50",
        rtt_d,
        rtt_e,
        "µs",
        Some(Target::added_at_most(5.0)),
    ));
    b.stop(agent).await;
    b.teardown().await;
    Measured {
        figures,
        round_trips: vec![
            Distribution::of("direct", all_d),
            Distribution::of("endpoint", all_e),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::last_in_cpu_list;

    #[test]
    fn the_last_cpu_of_a_kernel_cpu_list() {
        assert_eq!(last_in_cpu_list("0-1\n"), Some(1));
        assert_eq!(last_in_cpu_list("0,2-3"), Some(3));
        assert_eq!(last_in_cpu_list("0"), Some(0));
        assert_eq!(last_in_cpu_list("0-7,9"), Some(9));
        assert_eq!(last_in_cpu_list(""), None);
    }
}
