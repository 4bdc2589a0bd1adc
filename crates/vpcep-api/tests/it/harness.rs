//! The shared set-ups live in `vpcep-test-support` (also used by the other suites and benches).

pub use vpcep_test_support::server::*;
