//! The data plane: an agent that follows the control plane's change feed and makes the lab
//! substrate and every live endpoint real in Linux network namespaces (SPEC R3, R4). It never
//! reads the database.

pub mod agent;
pub mod deps;
pub mod desired;
pub mod doctor;
pub mod kernel;
pub mod linux;
pub mod naming;
pub mod netlink;
pub mod nft;
pub mod ops;
pub mod plan;
pub mod watch;
