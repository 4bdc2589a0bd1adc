//! What the test suites and benches share instead of copying, dev-only (never a normal
//! dependency of a product crate):
//! - [`server`]: a control plane per test (either store, the real API router on a loopback port,
//!   accounts with signed clients, an agent stand-in) and the API tests' resource builders;
//! - [`lab`]: that control plane with a namespace prefix, the real agent and private DNS
//!   following it, and the lab resources the data-plane tests and benches build on;
//! - [`fake_kernel`]: a kernel that only records, for the agent's logic without root.

pub mod fake_kernel;
pub mod lab;
pub mod server;
