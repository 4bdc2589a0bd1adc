//! API integration tests: the real router on 127.0.0.1 with a temporary SQLite store, driven
//! through the signed client. One test binary for the crate.

mod harness;

mod agent_feed;
mod audit;
mod auth;
mod concurrency;
mod flows;
mod hardening;
mod inventory;
mod openapi;
mod usage;
