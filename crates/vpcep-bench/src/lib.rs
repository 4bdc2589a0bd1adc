//! Every benchmark of vpcep (SPEC P1–P6) as a function that sets up its own lab
//! (`vpcep-test-support`: an in-process control plane, namespaces under a unique prefix removed
//! on drop), measures, tears down and returns [`figure::Figure`]s.
//!
//! Two callers: the `cargo bench -p vpcep-bench --bench NAME` targets, which print one area's
//! figures (with extra breakdowns), and the `vpcep-bench` harness (`scripts/bench.sh`), which
//! runs them all and writes `target/bench/result.json`, `docs/benchmarks.md` and
//! `docs/benchmarks.svg` from the same run (`--quick`: tiny sizes, `target/bench/` only, run by
//! `scripts/test.sh`).
//!
//! A dev-only crate like `vpcep-test-support` (which it builds on): no product crate depends on
//! it (checked by `crates/vpcep/tests/architecture.rs`).
//!
//! | module | SPEC | root |
//! |---|---|---|
//! | [`p1`] create → first TCP request (warm, and the first endpoint of a new VPC) | P1 | yes |
//! | [`path`] throughput, connections/s, round trips: direct vs endpoint, interleaved | P2, P3 | yes, `iperf3` |
//! | [`proxy`] the PROXY-v2 (userspace) path vs direct (and the kernel endpoint), interleaved | P2, P3 | yes |
//! | [`p4`] one more endpoint at 0/1,000/10,000, host reboot, restart, agent memory | P4 | yes |
//! | [`p5`] signed GETs/s, creates/s, list latency at 100,000 endpoints | P5 | no |
//! | [`dns`] resolver q/s vs plain hickory; accept/reject → name propagation | P6 | propagation |

pub mod dns;
pub mod figure;
pub mod lab;
pub mod p1;
pub mod p4;
pub mod p5;
pub mod path;
pub mod proxy;
pub mod report;
