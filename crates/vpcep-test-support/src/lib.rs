//! What the test suites and benches share instead of copying: an in-process control plane
//! ([`server`]) and a fake kernel for the data-plane agent ([`fake_kernel`]). Dev-only.

pub mod fake_kernel;
pub mod server;
