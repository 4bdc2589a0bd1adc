//! Robustness tests of the `vpcep serve` process (issue 8): crashes under concurrent writers and
//! memory under oversized unauthenticated requests, and a fast stop on SIGTERM. They run the built binary as a child process.

mod audit;
mod crash;
mod memory;
mod shutdown;
mod support;
