//! P6 (resolver throughput): `vpcep_bench::dns::resolver`, queries per second answered from one
//! VPC's view of the resolver, side by side in one run with hickory's plain in-memory zone
//! serving the same records, over UDP on loopback; rounds alternate, medians and their ratio
//! are printed (target ≥ 0.8).
//!
//!     cargo bench -p vpcep-bench --bench resolver
//!     (VPCEP_BENCH_NAMES, VPCEP_BENCH_ROUNDS, VPCEP_BENCH_SECS change the shape)

use vpcep_bench::dns::{DnsLoad, resolver};
use vpcep_bench::figure::num;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cfg = DnsLoad {
        names: env("VPCEP_BENCH_NAMES", 10_000),
        rounds: env("VPCEP_BENCH_ROUNDS", 5) as usize,
        secs: env("VPCEP_BENCH_SECS", 3) as f64,
        clients: 8,
    };
    let f = resolver(&cfg).await;
    println!(
        "P6 resolver, {} names in the asking VPC's view (+100 VPCs × 100 names), UDP on loopback, {} clients, median of {} interleaved rounds of {} s:",
        cfg.names, cfg.clients, cfg.rounds, cfg.secs
    );
    println!(
        "  per-VPC view {} q/s; hickory in-memory zone, same records {} q/s; ratio {:.2} (target ≥ 0.8)",
        num(f.value),
        num(f.direct.unwrap_or(f64::NAN)),
        f.ratio.unwrap_or(f64::NAN)
    );
}
