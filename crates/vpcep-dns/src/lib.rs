//! Embedded private-DNS resolver of vpcep (SPEC R5, S2, S8).
//!
//! * [`views`]: the pure model. Per VPC id, lower-cased FQDN → A addresses;
//!   validated names; a VPC sees only its own names.
//! * [`server`]: the resolver. Answers from the views (authoritative, short
//!   TTL), NXDOMAIN for absent names under the private suffixes (default
//!   `internal.`), NODATA for other types of an existing name, and forwards
//!   everything else to an optional upstream (SERVFAIL after a timeout;
//!   REFUSED at once without an upstream).
//!
//! # Which VPC asked
//!
//! VPCs have overlapping (often identical) CIDRs, so a query's source address
//! does not identify its VPC. Each VPC gets its own UDP socket and TCP
//! listener, opened inside that VPC's router network namespace, and the
//! resolver runs **one hickory [`hickory_server::Server`] per VPC** whose
//! [`hickory_server::server::RequestHandler`] carries the VPC id. hickory 0.26
//! does not tell a handler which local socket a request came in on
//! (`Request` only has the source address and protocol), so "one handler that
//! learns the local socket" is not possible without forking hickory's socket
//! loops; one `Server` per VPC is the supported way, and it is cheap: a
//! `Server` is an `Arc` with a cancellation token plus one task per socket, so
//! 1,000 VPCs = 1,000 small structs and 2,000 idle tasks parked on their
//! sockets (no thread, no timer per VPC). All servers share one `Arc` of state
//! (views, SNAT map, forwarder, whose cache is therefore shared too). Stopping
//! a VPC cancels and drops only its server.
//!
//! The one exception to "socket decides": a query whose source address is in
//! the endpoint SNAT map (`198.19.128.x` → consumer VPC) came through a DNS
//! endpoint and is answered in that consumer VPC's view.
//!
//! Records and the SNAT map change at runtime through [`server::ViewsHandle`]
//! and [`server::SnatMap`] (`RwLock`s held only for a hash lookup or a single
//! update), so a change is visible to the next query, with no restart and no
//! polling.

pub mod server;
pub mod views;

pub use server::{DnsError, Probe, Resolver, ResolverConfig, SnatMap, ViewsHandle};
pub use views::{Record, ViewError, Views};
