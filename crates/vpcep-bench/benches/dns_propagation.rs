//! Private DNS propagation (root): `vpcep_bench::dns::propagation_times`. With N endpoint names
//! already resolvable in one consumer VPC (default 10,000; VPCEP_BENCH_PRESENT), time `receive`
//! → the new endpoint's name answering with its IP, and `reject` → NXDOMAIN, and where the time
//! goes.
//!
//!     cargo bench -p vpcep-bench --bench dns_propagation

use vpcep_bench::dns::{PropagationConfig, propagation_times};
use vpcep_bench::lab::pct;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // VPCEP_LOG=vpcep_dataplane=debug shows each converge's planning and kernel time.
    if let Ok(filter) = std::env::var("VPCEP_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .init();
    }
    let cfg = PropagationConfig {
        present: std::env::var("VPCEP_BENCH_PRESENT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        samples: 20,
    };
    let mut p = propagation_times(&cfg).await;
    println!(
        "{} endpoint names present (created, accepted) in {:.1?}",
        cfg.present, p.setup
    );
    println!(
        "P6 propagation with {} names: receive → name answers p50 {:.1?} p99 {:.1?}; reject → NXDOMAIN p50 {:.1?} p99 {:.1?} (targets p50 ≤ 20 ms, p99 ≤ 100 ms)",
        cfg.present,
        pct(&mut p.up, 0.5),
        pct(&mut p.up, 0.99),
        pct(&mut p.down, 0.5),
        pct(&mut p.down, 0.99)
    );
    println!(
        "  of which receive → accepted in the feed (agent programmed and reported) p50 {:.1?} p99 {:.1?} ({} seen)",
        pct(&mut p.programmed, 0.5),
        pct(&mut p.programmed, 0.99),
        p.programmed.len()
    );
    println!(
        "  of which the receive request itself p50 {:.1?} p99 {:.1?}",
        pct(&mut p.acted, 0.5),
        pct(&mut p.acted, 0.99)
    );
}
