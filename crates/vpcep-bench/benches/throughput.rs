//! P2/P3 benchmark (root, needs `iperf3`): `vpcep_bench::path`, the same server reached directly
//! and through an endpoint in interleaved rounds; prints each figure's medians and ratio.
//!
//!     cargo bench -p vpcep-bench --bench throughput
//!     (VPCEP_BENCH_ROUNDS, VPCEP_BENCH_SECS change the shape)

use vpcep_bench::figure::num;
use vpcep_bench::path::{Config, measure};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut cfg = Config::full();
    cfg.rounds = env("VPCEP_BENCH_ROUNDS", cfg.rounds);
    cfg.iperf_secs = env("VPCEP_BENCH_SECS", cfg.iperf_secs as usize) as u32;
    let m = measure(&cfg).await;
    println!(
        "web 10.0.0.20; direct from 10.0.0.30 in its subnet; endpoint from 10.0.0.30 in another VPC on the same CIDR; medians of {} interleaved rounds",
        cfg.rounds
    );
    for f in &m.figures {
        let target = f.target.map(|t| t.describe(&f.unit)).unwrap_or_default();
        println!(
            "{} {:<28} direct {:>9} {:<7} endpoint {:>9} {:<7} ratio {:>6} %  (target {target}; rounds: direct {:?}, endpoint {:?})",
            f.id,
            f.name,
            num(f.direct.unwrap_or(f64::NAN)),
            f.unit,
            num(f.value),
            f.unit,
            num(100.0 * f.ratio.unwrap_or(f64::NAN)),
            f.direct_samples.iter().map(|v| num(*v)).collect::<Vec<_>>(),
            f.samples.iter().map(|v| num(*v)).collect::<Vec<_>>(),
        );
    }
    for d in &m.round_trips {
        let q = |i: usize| num(d.quantiles_us.get(i).copied().unwrap_or(f64::NAN));
        println!(
            "round trips {:<8}: p1 {} p50 {} p90 {} p99 {} µs ({} exchanges)",
            d.path,
            q(1),
            q(50),
            q(90),
            q(99),
            d.samples
        );
    }
}
