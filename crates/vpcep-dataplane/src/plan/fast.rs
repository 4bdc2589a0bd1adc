//! The provider routers' fast path, as plan values (`docs/dataplane.md`, "Fast path").
//!
//! Router skip: a provider VPC's router only forwards between the gateway shards' legs and the
//! VPC's server ports (it has no nftables table, so no conntrack state) unless a load balancer
//! of the VPC is reached through it (then its table translates and it keeps the normal path).
//! Bridge skip: a consumer subnet's bridge carries frames between the hosts and the gateway's
//! leg unchanged. The plan lists where such a packet goes, so a tc program at each leg and port
//! can hand it straight to the far namespace: the kernel layer resolves the devices to
//! ifindexes and fills the programs' maps with exactly this.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::plan::objects::Mac;

/// A server port that packets from the gateway legs are handed to directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastPort {
    /// The port's end in the router (on the subnet bridge); its peer is the server's NIC.
    pub dev: String,
    /// The server NIC's MAC (the frame's destination).
    pub mac: Mac,
    /// The subnet bridge's MAC: the source the server sees, and the destination of the frames
    /// the server sends to the router.
    pub bridge_mac: Mac,
}

/// A gateway shard's leg into the router: where replies to that shard's translated range go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastLeg {
    /// The leg's end in the router; its peer is in the gateway.
    pub dev: String,
    /// This end's MAC (the frame's source).
    pub mac: Mac,
    /// The gateway end's MAC (the frame's destination).
    pub peer_mac: Mac,
}

/// What one router's fast path holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterSkip {
    /// Router skip (forwarding-only provider routers): server port addresses of the VPC →
    /// their port.
    pub ports: BTreeMap<Ipv4Addr, FastPort>,
    /// Router skip: shard → its leg.
    pub legs: BTreeMap<u32, FastLeg>,
    /// Bridge skip (any router with consumer legs), listed only between a consumer leg and the
    /// host ports of its subnet, both ways (the frames the subnet's bridge would carry between
    /// them, unchanged): (the consumer leg's router end, a host's MAC) → the host's port.
    pub to_hosts: BTreeMap<(String, Mac), String>,
    /// … and (a host port's bridge end, the gateway leg end's MAC) → the leg's router end.
    pub to_legs: BTreeMap<(String, Mac), String>,
}

impl RouterSkip {
    /// The router skip has something to forward (a leg and a port).
    pub fn skips_router(&self) -> bool {
        !self.ports.is_empty() && !self.legs.is_empty()
    }

    /// Nothing to forward.
    pub fn is_idle(&self) -> bool {
        !self.skips_router() && self.to_hosts.is_empty() && self.to_legs.is_empty()
    }
}
