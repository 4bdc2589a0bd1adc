//! P5 benchmark: `vpcep_bench::p5`, signed GETs/s, creates/s, and `limit=100` list latency with
//! many endpoints, on SQLite, through the real router and the signing client.
//!
//!     cargo bench -p vpcep-bench --bench api              # 100,000 endpoints for the list test
//!     VPCEP_BENCH_ENDPOINTS=10000 cargo bench -p vpcep-bench --bench api

use vpcep_bench::figure::num;
use vpcep_bench::p5::{Config, measure};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut cfg = Config::full();
    cfg.endpoints = std::env::var("VPCEP_BENCH_ENDPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cfg.endpoints);
    for f in measure(&cfg).await {
        let target = f.target.map(|t| t.describe(&f.unit)).unwrap_or_default();
        println!("{} {}: {} {} {target}", f.id, f.name, num(f.value), f.unit);
    }
}
