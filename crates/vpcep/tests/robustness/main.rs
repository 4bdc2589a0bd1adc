//! Robustness tests of the `vpcep serve` process (issue 8): crashes under concurrent writers and
//! memory under oversized unauthenticated requests, and a fast stop on SIGTERM; and of the
//! `vpcep agent` process: `kill -9` in the middle of programming the kernel. They run the built
//! binary as a child process.

mod agent_crash;
mod audit;
mod crash;
mod memory;
mod shutdown;
mod support;
