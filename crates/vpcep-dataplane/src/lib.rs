//! The data plane: an agent that follows the control plane's change feed and makes the lab
//! substrate and every live endpoint real in Linux network namespaces (SPEC R3, R4). It never
//! reads the database.
//!
//! Three parts, and the direction between them is one way (`agent` → `plan`, `agent` →
//! `kernel` → `plan`):
//! - [`plan`]: pure. The desired state from the feed, and the kernel objects it amounts to
//!   (namespaces, links, addresses, routes, rules, sysctls, nftables tables as typed values and
//!   their netlink encoding). No I/O.
//! - [`kernel`]: the only code that touches the kernel, reads included (netlink sockets in each
//!   namespace, conntrack, socket kills, `/run/netns` watching).
//! - [`agent`]: follows the feed, converges through [`kernel::KernelOps`], reports outcomes.
//!
//! [`doctor`] compares the kernel with the plan for people.

pub mod agent;
pub mod doctor;
pub mod kernel;
pub mod plan;
pub mod proxy;
