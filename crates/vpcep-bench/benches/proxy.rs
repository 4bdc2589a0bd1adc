//! The userspace PROXY-v2 path (`tcp_proxy = proxy_open`, issue 12 item 5) against the direct
//! path and the kernel endpoint path, side by side in one run with interleaved rounds:
//! `vpcep_bench::proxy::rounds` (what it measures is described there). Prints every round and
//! the medians. Targets: proxy ≥ 80 % of direct throughput, proxy round trip ≤ direct + 25 µs.
//!
//!     cargo bench -p vpcep-bench --bench proxy

use vpcep_bench::lab::median;
use vpcep_bench::proxy::{Config, rounds};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cfg = Config::full();
    let r = rounds(&cfg).await;
    println!(
        "web 10.0.0.20; direct from 10.0.0.30 in its subnet; endpoints of a close and a proxy_open service from 10.0.0.30 in another VPC on the same CIDR; {} interleaved rounds",
        cfg.rounds
    );
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let names = ["direct", "kernel", "proxy"];
    println!("single-stream TCP, Gbit/s (rounds, then median):");
    for (name, v) in names.iter().zip(&r.gbit) {
        println!(
            "  {name:<7} {:<40} median {:>6.2}",
            show(v),
            median(&mut v.clone())
        );
    }
    let m: Vec<f64> = r.gbit.iter().map(|v| median(&mut v.clone())).collect();
    println!(
        "  proxy / direct {:.1}% (target ≥ 80%), proxy / kernel endpoint {:.1}%",
        100.0 * m[2] / m[0],
        100.0 * m[2] / m[1]
    );
    println!("one-byte round trip p50, µs (rounds, then median):");
    for (name, v) in names.iter().zip(&r.rtt_us) {
        println!(
            "  {name:<7} {:<40} median {:>6.1}",
            show(v),
            median(&mut v.clone())
        );
    }
    let m: Vec<f64> = r.rtt_us.iter().map(|v| median(&mut v.clone())).collect();
    println!(
        "  proxy − direct {:+.1} µs (target ≤ +25 µs), proxy − kernel endpoint {:+.1} µs",
        m[2] - m[0],
        m[2] - m[1]
    );
}
