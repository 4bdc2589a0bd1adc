//! The PROXY protocol v2 path (`tcp_proxy = proxy_open`) as plan values. Pure: which TCP
//! mappings of which endpoints a gateway shard's userspace proxy answers, on which socket, and
//! where each connection goes. The sockets themselves live in `crate::proxy`.
//!
//! Steering (see `docs/dataplane.md`): the mapping's `ep_tcp` element DNATs to the consumer
//! leg's own SNAT address (on the gateway's `lo`) at [`PROXY_PORT`] instead of to the backend,
//! and its `prov_tcp` element marks the flow [`PROXY_MARK`], which no routing rule names, so the
//! packet falls through to the `local` table and is delivered to the listener there. The proxy's
//! own connection to the backend leaves from that same address, so the backend still sees
//! 198.19.128.0/20.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::plan::{CONSUMER_TABLE_BASE, snat_address};

/// The port every leg's proxy listener binds on the leg's SNAT address. Below 1024, so the
/// kernel path's SNAT (which keeps or remaps source ports within 1024–65535) never takes it.
pub const PROXY_PORT: u16 = 1;

/// The connection mark of flows DNATed to a proxy listener: non-zero (the gateway's rules tell
/// endpoint flows by a mark) and matched by no `ip rule`, so routing reaches the `local` table.
/// Below [`CONSUMER_TABLE_BASE`], so it is never a leg's table.
pub const PROXY_MARK: u32 = CONSUMER_TABLE_BASE - 1;

/// One TCP mapping of one endpoint served by the proxy of its gateway shard.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProxyRoute {
    /// Gateway shard and consumer leg (conntrack zone): which listener accepts it.
    pub shard: u32,
    pub zone: u16,
    /// What the consumer connected to: the endpoint's address and client port (recovered from
    /// conntrack by the listener, `SO_ORIGINAL_DST`).
    pub endpoint_ip: Ipv4Addr,
    pub client_port: u16,
    /// Sent in the PROXY header's endpoint-id TLV.
    pub endpoint_id: String,
    pub backend: SocketAddrV4,
    /// The provider leg's routing table (= fwmark) the connection to the backend takes.
    pub provider_mark: u32,
}

impl ProxyRoute {
    /// The listener of this route's consumer leg.
    pub fn listener(&self) -> ProxyListener {
        ProxyListener::of_leg(self.shard, self.zone)
    }
}

/// One listening socket: a consumer leg's SNAT address and [`PROXY_PORT`], marked with the leg's
/// routing table so its replies (and SYN-ACKs) are routed back out of that leg even when several
/// consumer VPCs share one CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProxyListener {
    pub zone: u16,
    pub addr: SocketAddrV4,
    pub mark: u32,
}

impl ProxyListener {
    pub fn of_leg(shard: u32, zone: u16) -> Self {
        ProxyListener {
            zone,
            addr: SocketAddrV4::new(snat_address(shard, zone), PROXY_PORT),
            mark: CONSUMER_TABLE_BASE + u32::from(zone),
        }
    }
}
