//! P1 benchmark (root): `vpcep_bench::p1`. With N endpoints already present (default 1,000 in
//! one consumer subnet; set VPCEP_BENCH_PRESENT), create 20 more one at a time (approval off) and
//! time the create call → the first successful TCP request through the new endpoint; then 10
//! times the first endpoint of a brand-new consumer VPC.
//!
//!     cargo bench -p vpcep-bench --bench create_to_traffic

use vpcep_bench::figure::num;
use vpcep_bench::p1::{Config, measure};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut cfg = Config::full();
    cfg.present = std::env::var("VPCEP_BENCH_PRESENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cfg.present);
    let m = measure(&cfg).await;
    println!(
        "{} endpoints present (created and programmed in {:.1?}); connection tries per endpoint: {:?}",
        cfg.present, m.setup, m.tries
    );
    for f in &m.figures {
        let target = f.target.map(|t| t.describe(&f.unit)).unwrap_or_default();
        println!("{} {}: {} {} {target}", f.id, f.name, num(f.value), f.unit);
    }
}
