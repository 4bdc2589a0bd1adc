//! A namespace's layout over its route socket: links, addresses, routes and rules listed and
//! changed with typed rtnetlink messages (what `ip -batch` did, without a process or any text),
//! namespaces made the way `ip netns add` makes them, and sysctls written from inside.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use ipnet::Ipv4Net;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_sys::AsyncSocketExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{AddressMessageBuilder, RouteMessageBuilder};

use super::{NsLink, acks_by_seq, err};
use crate::kernel::linux::KernelError;
use crate::plan::nft::{ElemBytes, Family, NftTable, family_id, stamp};
use crate::plan::objects::{Addr, Dst, IpRule, Lookup, Mac, Route};

const ESRCH: i32 = 3;
const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;
/// Requests per datagram: the kernel answers each with an acknowledgement that must fit the
/// receive buffer (the default holds a few hundred), so bigger changes go in several rounds.
const CHUNK: usize = 128;
const RT_TABLE_UNSPEC: u8 = 0;
const RT_TABLE_DEFAULT: u32 = 253;
const RT_TABLE_MAIN: u32 = 254;
const RT_TABLE_LOCAL: u32 = 255;

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub mac: Option<Mac>,
    /// Index of the bridge it is enslaved to.
    pub master: Option<u32>,
    /// Administratively up.
    pub up: bool,
}

/// An nftables table as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelTable {
    /// Netfilter family (`NFPROTO_*`).
    pub family: u8,
    pub name: String,
    /// The table's comment (nft's user data), where ours keep their stamp.
    pub comment: Option<String>,
}

/// A NUL-terminated netlink string.
fn c_string(b: &[u8]) -> String {
    let b = b.split(|c| *c == 0).next().unwrap_or_default();
    String::from_utf8_lossy(b).into_owned()
}

/// The comment record of a table's user data (nft's records: type, length, value).
fn table_comment(mut udata: &[u8]) -> Option<String> {
    const UDATA_TABLE_COMMENT: u8 = 0;
    while let [ty, len, rest @ ..] = udata {
        let value = rest.get(..usize::from(*len))?;
        if *ty == UDATA_TABLE_COMMENT {
            return Some(c_string(value));
        }
        udata = rest.get(usize::from(*len)..)?;
    }
    None
}

/// One request of a batch: the message, its flags, the errors that mean "already so", and what
/// it does (for the error message).
#[derive(Debug, Clone)]
pub struct Request {
    msg: RouteNetlinkMessage,
    flags: u16,
    ok: &'static [i32],
    what: String,
}

fn mac_attr(mac: Mac) -> LinkAttribute {
    LinkAttribute::Address(mac.0.to_vec())
}

fn by_name(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m
}

/// The header value and, beyond 255, the attribute that name a table (as iproute2 sends them).
fn table_parts(table: u32) -> (u8, Option<u32>) {
    match u8::try_from(table) {
        Ok(t) => (t, None),
        Err(_) => (RT_TABLE_UNSPEC, Some(table)),
    }
}

impl Request {
    /// `ip link add NAME address MAC type bridge`.
    pub fn add_bridge(name: &str, mac: Mac) -> Request {
        let mut m = by_name(name);
        m.attributes.push(mac_attr(mac));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        Request {
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            ok: &[],
            what: format!("create bridge {name}"),
        }
    }

    /// A veth pair whose far end is created directly in the namespace `peer_ns` refers to (it
    /// must stay open until the request is acknowledged).
    pub fn add_veth(name: &str, mac: Mac, peer: &str, peer_mac: Mac, peer_ns: &File) -> Request {
        let mut far = by_name(peer);
        far.attributes.push(mac_attr(peer_mac));
        far.attributes
            .push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        let mut m = by_name(name);
        m.attributes.push(mac_attr(mac));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(far))),
        ]));
        Request {
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            ok: &[],
            what: format!("create veth {name} (peer {peer})"),
        }
    }

    /// `ip link set NAME [address MAC] [master INDEX] up`.
    pub fn set_link(name: &str, mac: Option<Mac>, master: Option<u32>) -> Request {
        let mut m = by_name(name);
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        if let Some(mac) = mac {
            m.attributes.push(mac_attr(mac));
        }
        if let Some(master) = master {
            m.attributes.push(LinkAttribute::Controller(master));
        }
        Request {
            msg: RouteNetlinkMessage::SetLink(m),
            flags: 0,
            ok: &[],
            what: format!("set link {name}"),
        }
    }

    /// `ip link del NAME`; a link already gone (the far end of a veth deleted first) is fine.
    pub fn del_link(name: &str) -> Request {
        Request {
            msg: RouteNetlinkMessage::DelLink(by_name(name)),
            flags: 0,
            ok: &[ENODEV],
            what: format!("delete link {name}"),
        }
    }

    /// `ip addr replace NET dev DEV` (`index` is DEV's).
    pub fn add_addr(a: &Addr, index: u32) -> Request {
        let m = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(a.net.addr(), a.net.prefix_len())
            .build();
        Request {
            msg: RouteNetlinkMessage::NewAddress(m),
            flags: NLM_F_CREATE | NLM_F_REPLACE,
            ok: &[],
            what: format!("add address {} dev {}", a.net, a.dev),
        }
    }

    /// `ip addr del NET dev DEV`; an address already gone is fine.
    pub fn del_addr(a: &Addr, index: u32) -> Request {
        let m = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(a.net.addr(), a.net.prefix_len())
            .build();
        Request {
            msg: RouteNetlinkMessage::DelAddress(m),
            flags: 0,
            ok: &[EADDRNOTAVAIL, ENOENT],
            what: format!("delete address {} dev {}", a.net, a.dev),
        }
    }

    fn route_message(r: &Route, oif: u32) -> RouteMessage {
        let mut m = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let (table, attr) = table_parts(r.table.unwrap_or(RT_TABLE_MAIN));
        m.header.table = table;
        if let Some(t) = attr {
            m.attributes.push(RouteAttribute::Table(t));
        }
        if let Dst::Net(n) = r.dst {
            m.header.destination_prefix_length = n.prefix_len();
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(n.network())));
        }
        if let Some(via) = r.via {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(via)));
        }
        m.attributes.push(RouteAttribute::Oif(oif));
        if let Some(src) = r.src {
            m.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::Inet(src)));
        }
        if r.onlink {
            m.header.flags.insert(RouteFlags::Onlink);
        }
        m
    }

    /// `ip route replace …` (`oif` is the index of the route's device). Protocol `boot` and,
    /// without a gateway, scope `link`: what iproute2 sends, so listings and the kernel's
    /// behaviour are those of routes made by `ip`.
    pub fn replace_route(r: &Route, oif: u32) -> Request {
        let mut m = Self::route_message(r, oif);
        m.header.protocol = RouteProtocol::Boot;
        m.header.kind = RouteType::Unicast;
        m.header.scope = if r.via.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        Request {
            msg: RouteNetlinkMessage::NewRoute(m),
            flags: NLM_F_CREATE | NLM_F_REPLACE,
            ok: &[],
            what: format!("replace route {}", crate::kernel::linux::iproute2::route(r)),
        }
    }

    /// `ip route del …`: any protocol, scope and type match (as iproute2 asks); a route
    /// already gone is fine.
    pub fn del_route(r: &Route, oif: u32) -> Request {
        let mut m = Self::route_message(r, oif);
        m.header.protocol = RouteProtocol::Unspec;
        m.header.kind = RouteType::Unspec;
        m.header.scope = RouteScope::NoWhere;
        Request {
            msg: RouteNetlinkMessage::DelRoute(m),
            flags: 0,
            ok: &[ESRCH],
            what: format!("delete route {}", crate::kernel::linux::iproute2::route(r)),
        }
    }

    fn rule_message(r: &IpRule) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.action = RuleAction::ToTable;
        let (table, attr) = table_parts(match r.table {
            Lookup::Local => RT_TABLE_LOCAL,
            Lookup::Main => RT_TABLE_MAIN,
            Lookup::Default => RT_TABLE_DEFAULT,
            Lookup::Table(t) => t,
        });
        m.header.table = table;
        if let Some(t) = attr {
            m.attributes.push(RuleAttribute::Table(t));
        }
        m.attributes.push(RuleAttribute::Priority(r.pref));
        if let Some(mark) = r.fwmark {
            m.attributes.push(RuleAttribute::FwMark(mark));
        }
        m
    }

    /// `ip rule add pref P [fwmark M] lookup T`; the very rule already there is fine.
    pub fn add_rule(r: &IpRule) -> Request {
        Request {
            msg: RouteNetlinkMessage::NewRule(Self::rule_message(r)),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            ok: &[EEXIST],
            what: format!("add rule {}", crate::kernel::linux::iproute2::rule(r)),
        }
    }

    /// `ip rule del pref P [fwmark M] lookup T`; a rule already gone is fine.
    pub fn del_rule(r: &IpRule) -> Request {
        Request {
            msg: RouteNetlinkMessage::DelRule(Self::rule_message(r)),
            flags: 0,
            ok: &[ENOENT],
            what: format!("delete rule {}", crate::kernel::linux::iproute2::rule(r)),
        }
    }
}

/// A route we own from a kernel route message: unicast, added by a command (protocol `boot`),
/// IPv4 — the kernel's connected, local and broadcast routes are not ours (the same filter as
/// `iproute2::parse_routes`). `names` maps link indexes to names.
pub fn route_of(m: &RouteMessage, names: &BTreeMap<u32, String>) -> Option<Route> {
    let h = &m.header;
    if h.address_family != AddressFamily::Inet
        || h.kind != RouteType::Unicast
        || h.protocol != RouteProtocol::Boot
        || h.source_prefix_length != 0
    {
        return None;
    }
    let mut table = u32::from(h.table);
    let (mut dst, mut via, mut oif, mut src) = (None, None, None, None);
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => via = Some(*g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::PrefSource(RouteAddress::Inet(s)) => src = Some(*s),
            // Multipath routes are not of a shape we plan.
            RouteAttribute::MultiPath(_) => return None,
            _ => {}
        }
    }
    let dst = match (h.destination_prefix_length, dst) {
        (0, _) => Dst::Default,
        (len, Some(d)) => Dst::Net(Ipv4Net::new(d, len).ok()?),
        (_, None) => return None,
    };
    Some(Route {
        dst,
        via,
        dev: names.get(&oif?)?.clone(),
        onlink: h.flags.contains(RouteFlags::Onlink),
        src,
        table: (table != RT_TABLE_MAIN).then_some(table),
    })
}

/// A rule of the shape we plan (`pref P [fwmark M] lookup T`, nothing else) from a kernel rule
/// message; anything else is left alone (the same filter as `iproute2::parse_rules`).
pub fn rule_of(m: &RuleMessage) -> Option<IpRule> {
    let h = &m.header;
    if h.family != AddressFamily::Inet
        || h.action != RuleAction::ToTable
        || h.src_len != 0
        || h.dst_len != 0
        || h.tos != 0
        || h.flags.contains(RuleFlags::Invert)
    {
        return None;
    }
    let mut table = u32::from(h.table);
    let (mut pref, mut fwmark, mut mask) = (0, None, None);
    for a in &m.attributes {
        match a {
            RuleAttribute::Priority(p) => pref = *p,
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::FwMark(f) => fwmark = Some(*f),
            RuleAttribute::FwMask(f) => mask = Some(*f),
            // Who made it does not change what it does.
            RuleAttribute::Protocol(_) => {}
            // The kernel reports "no suppression" as -1.
            RuleAttribute::SuppressPrefixLen(p) if *p == u32::MAX => {}
            RuleAttribute::L3MDev(false) => {}
            _ => return None,
        }
    }
    // A mark is matched under a mask; ours is the whole mark (what `fwmark M` means).
    if fwmark.is_some_and(|_| mask.is_some_and(|m| m != u32::MAX)) {
        return None;
    }
    let fwmark = fwmark.filter(|f| *f != 0 || mask.is_some_and(|m| m != 0));
    let table = match table {
        RT_TABLE_LOCAL => Lookup::Local,
        RT_TABLE_MAIN => Lookup::Main,
        RT_TABLE_DEFAULT => Lookup::Default,
        0 => return None,
        t => Lookup::Table(t),
    };
    Some(IpRule {
        pref,
        fwmark,
        table,
    })
}

impl NsLink {
    /// Every link's message, without counters: a dump's cost is mostly per-link attributes,
    /// and the statistics (IFLA_STATS, IFLA_STATS64, IPv6's) are the largest that nothing here
    /// reads.
    async fn link_dump(&mut self) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let mut get = LinkMessage::default();
        get.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.route_dump(RouteNetlinkMessage::GetLink(get), "list links")
            .await
    }

    /// Every link of the namespace (and the index cache refreshed with them).
    pub async fn links(&mut self) -> Result<BTreeMap<String, LinkState>, KernelError> {
        let list = self.link_dump().await?;
        let mut out = BTreeMap::new();
        self.index.clear();
        for l in list {
            let RouteNetlinkMessage::NewLink(l) = l else {
                continue;
            };
            let mut name = None;
            let mut state = LinkState {
                index: l.header.index,
                mac: None,
                master: None,
                up: l.header.flags.contains(LinkFlags::Up),
            };
            for a in &l.attributes {
                match a {
                    LinkAttribute::IfName(n) => name = Some(n.clone()),
                    LinkAttribute::Address(m) => {
                        state.mac = <[u8; 6]>::try_from(m.as_slice()).ok().map(Mac);
                    }
                    LinkAttribute::Controller(i) => state.master = Some(*i),
                    _ => {}
                }
            }
            if let Some(name) = name {
                self.index
                    .insert(name.clone(), (state.index, state.mac.map(|m| m.0)));
                out.insert(name, state);
            }
        }
        self.listing = Some(out.clone());
        Ok(out)
    }

    /// The links that are operationally up (`IFF_RUNNING`). A veth has its carrier as soon as
    /// both ends are up, but the kernel acts on that later, in its link-watch work: only then
    /// does it attach the device's queueing discipline (before, the device drops whatever is
    /// sent through it) and let a bridge port forward. Listed without touching the index
    /// cache or the layout pass's listing.
    pub async fn running_links(&mut self) -> Result<BTreeSet<String>, KernelError> {
        let list = self.link_dump().await?;
        Ok(list
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) if l.header.flags.contains(LinkFlags::Running) => {
                    l.attributes.into_iter().find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n),
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// The links as [`NsLink::links`] last listed them when `unchanged` (the caller knows no
    /// link of the namespace changed since), else listed again.
    pub async fn links_listed(
        &mut self,
        unchanged: bool,
    ) -> Result<BTreeMap<String, LinkState>, KernelError> {
        match self.listing.as_ref().filter(|_| unchanged) {
            Some(listing) => Ok(listing.clone()),
            None => self.links().await,
        }
    }

    /// Forget the last listing (a layout pass is over: what it saw is no longer known to hold).
    pub fn drop_listing(&mut self) {
        self.listing = None;
    }

    /// The IPv4 addresses, without loopback's own 127/8 (`names`: link index → name).
    pub async fn addrs(
        &mut self,
        names: &BTreeMap<u32, String>,
    ) -> Result<BTreeSet<Addr>, KernelError> {
        let list = self
            .route_dump(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                "list addresses",
            )
            .await?;
        let mut out = BTreeSet::new();
        for m in list {
            let RouteNetlinkMessage::NewAddress(m) = m else {
                continue;
            };
            if m.header.family != AddressFamily::Inet {
                continue;
            }
            let Some(dev) = names.get(&m.header.index) else {
                continue;
            };
            // IFA_LOCAL is the address itself (IFA_ADDRESS is the peer's on point-to-point).
            let local = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(std::net::IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let address = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(std::net::IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let Some(ip) = local.or(address) else {
                continue;
            };
            if dev == "lo" && ip.is_loopback() {
                continue;
            }
            if let Ok(net) = Ipv4Net::new(ip, m.header.prefix_len) {
                out.insert(Addr::new(dev.clone(), net));
            }
        }
        Ok(out)
    }

    /// The IPv4 routes we own, in every table.
    pub async fn routes(
        &mut self,
        names: &BTreeMap<u32, String>,
    ) -> Result<BTreeSet<Route>, KernelError> {
        let list = self
            .route_dump(
                RouteNetlinkMessage::GetRoute(RouteMessageBuilder::<Ipv4Addr>::new().build()),
                "list routes",
            )
            .await?;
        Ok(list
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(m) => route_of(m, names),
                _ => None,
            })
            .collect())
    }

    /// The IPv4 rules of the shapes we plan.
    pub async fn rules(&mut self) -> Result<BTreeSet<IpRule>, KernelError> {
        let mut get = RuleMessage::default();
        get.header.family = AddressFamily::Inet;
        let list = self
            .route_dump(RouteNetlinkMessage::GetRule(get), "list rules")
            .await?;
        Ok(list
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(m) => rule_of(m),
                _ => None,
            })
            .collect())
    }

    /// The nftables tables of the namespace, from an nf_tables dump (`NFT_MSG_GETTABLE`) on
    /// the namespace's netfilter socket: what `nft list tables` prints, without the process.
    pub async fn tables(&mut self) -> Result<Vec<KernelTable>, KernelError> {
        const NFNL_SUBSYS_NFTABLES: u16 = 10;
        const NFT_MSG_NEWTABLE: u16 = 0;
        const NFT_MSG_GETTABLE: u16 = 1;
        const NFTA_TABLE_NAME: u16 = 1;
        const NFTA_TABLE_USERDATA: u16 = 6;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        // nfgenmsg: family any, version 0, resource id 0.
        let req = super::message(
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE,
            NLM_F_REQUEST | super::NLM_F_DUMP,
            seq,
            &[0, 0, 0, 0],
        );
        let mut out = Vec::new();
        super::dump(
            &self.nft,
            &self.ns,
            "list tables",
            seq,
            &req,
            |kind, body| {
                if kind != (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE {
                    return;
                }
                // The family is the nfgenmsg's first byte; attributes follow its 4 bytes.
                let (Some(&family), Some(attrs)) = (body.first(), body.get(4..)) else {
                    return;
                };
                let Some(name) = super::nlattr(attrs, NFTA_TABLE_NAME) else {
                    return;
                };
                out.push(KernelTable {
                    family,
                    name: c_string(name),
                    comment: super::nlattr(attrs, NFTA_TABLE_USERDATA).and_then(table_comment),
                });
            },
        )
        .await?;
        Ok(out)
    }

    /// The elements of set (or map) `set` of table `table` of netfilter family `family`, from
    /// an nf_tables dump (`NFT_MSG_GETSETELEM`): what `nft list set` prints, without the
    /// process.
    pub async fn set_elements_of(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
    ) -> Result<Vec<ElemBytes>, KernelError> {
        const NFNL_SUBSYS_NFTABLES: u16 = 10;
        const NFT_MSG_NEWSETELEM: u16 = 12;
        const NFT_MSG_GETSETELEM: u16 = 13;
        const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
        const NFTA_SET_ELEM_LIST_SET: u16 = 2;
        const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
        const NFTA_LIST_ELEM: u16 = 1;
        const NFTA_SET_ELEM_KEY: u16 = 1;
        const NFTA_SET_ELEM_DATA: u16 = 2;
        const NFTA_SET_ELEM_KEY_END: u16 = 10;
        const NFTA_DATA_VALUE: u16 = 1;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut a = crate::plan::nft::Nla::default();
        a.str(NFTA_SET_ELEM_LIST_TABLE, table)
            .str(NFTA_SET_ELEM_LIST_SET, set);
        let mut body = vec![family, 0, 0, 0];
        body.extend_from_slice(a.bytes());
        let req = super::message(
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM,
            NLM_F_REQUEST | super::NLM_F_DUMP,
            seq,
            &body,
        );
        let what = format!("list set {table} {set}");
        let mut out = Vec::new();
        super::dump(&self.nft, &self.ns, &what, seq, &req, |kind, body| {
            if kind != (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM {
                return;
            }
            let value = |e: &[u8], ty| {
                super::nlattr(e, ty)
                    .and_then(|d| super::nlattr(d, NFTA_DATA_VALUE))
                    .map(<[u8]>::to_vec)
            };
            let Some(list) = body
                .get(4..)
                .and_then(|b| super::nlattr(b, NFTA_SET_ELEM_LIST_ELEMENTS))
            else {
                return;
            };
            for (ty, e) in super::nlattrs(list) {
                if ty != NFTA_LIST_ELEM {
                    continue;
                }
                if let Some(key) = value(e, NFTA_SET_ELEM_KEY) {
                    out.push(ElemBytes {
                        key,
                        key_end: value(e, NFTA_SET_ELEM_KEY_END),
                        data: value(e, NFTA_SET_ELEM_DATA).unwrap_or_default(),
                    });
                }
            }
        })
        .await?;
        Ok(out)
    }

    /// Whether the namespace holds `table` exactly as planned: a table of that family and name
    /// with the plan's stamp (so the plan's chains, rules and set declarations, as this agent
    /// encodes them), and in every set the plan's elements, compared as the kernel lists them.
    /// A restarted agent keeps such a table, counters and all, instead of loading it again.
    /// Anything else (no such table, another stamp, one element more or less) is `false`.
    pub async fn holds_table(&mut self, table: &NftTable) -> Result<bool, KernelError> {
        let (Ok(stamp), family) = (stamp(table), family_id(table.family)) else {
            return Ok(false);
        };
        let found = self.tables().await?.into_iter().any(|t| {
            t.family == family && t.name == table.name && t.comment.as_deref() == Some(&stamp)
        });
        if !found {
            return Ok(false);
        }
        for (name, set) in &table.sets {
            let Ok(want) = ElemBytes::all(set) else {
                return Ok(false);
            };
            let have = self.set_elements_of(family, table.name, name).await?;
            if have.len() != want.len() || have.into_iter().collect::<BTreeSet<_>>() != want {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The gateway's leg zones: interface name → conntrack zone, from map `zone_of_if` of table
    /// `ip vpcep` (keys are interface names zero-padded to 16 bytes, values host-order u16).
    pub async fn leg_zones(&mut self) -> Result<BTreeMap<String, u16>, KernelError> {
        let elems = self
            .set_elements_of(family_id(Family::Ip), "vpcep", "zone_of_if")
            .await?;
        Ok(elems
            .iter()
            .filter_map(|e| leg_zone(&e.key, &e.data))
            .collect())
    }

    /// Send `reqs` in order (several per datagram) and wait for every acknowledgement. The
    /// kernel carries on after a refused request, so every request is tried; the first refusal
    /// not listed as "already so" is the error.
    pub async fn batch(&mut self, reqs: Vec<Request>) -> Result<(), KernelError> {
        let mut first_error = None;
        for chunk in reqs.chunks(CHUNK) {
            let first = self.seq;
            let mut bytes = Vec::new();
            for r in chunk {
                let mut header = NetlinkHeader::default();
                header.flags = NLM_F_REQUEST | NLM_F_ACK | r.flags;
                header.sequence_number = self.seq;
                self.seq = self.seq.wrapping_add(1);
                let mut m =
                    NetlinkMessage::new(header, NetlinkPayload::InnerMessage(r.msg.clone()));
                m.finalize();
                let start = bytes.len();
                bytes.resize(start + m.buffer_len(), 0);
                m.serialize(&mut bytes[start..]);
            }
            let count = self.seq.wrapping_sub(first);
            self.route_raw
                .send(&bytes)
                .await
                .map_err(|e| err(&self.ns, "send layout requests", e))?;
            let refused = acks_by_seq(&self.route_raw, first, count)
                .await
                .map_err(|e| err(&self.ns, "layout requests", e))?;
            for (seq, code) in refused {
                let Some(r) = usize::try_from(seq.wrapping_sub(first))
                    .ok()
                    .and_then(|i| chunk.get(i))
                else {
                    continue;
                };
                if !r.ok.contains(&code) && first_error.is_none() {
                    first_error = Some(err(
                        &self.ns,
                        &r.what,
                        std::io::Error::from_raw_os_error(code),
                    ));
                }
            }
        }
        // Links may have come or gone: indexes are learnt again on next use.
        self.index.clear();
        first_error.map_or(Ok(()), Err)
    }
}

/// One `zone_of_if` element: the interface name (up to the first NUL) and the zone.
fn leg_zone(key: &[u8], data: &[u8]) -> Option<(String, u16)> {
    let name = key.split(|b| *b == 0).next()?;
    let name = std::str::from_utf8(name).ok().filter(|n| !n.is_empty())?;
    let zone = data.get(..2)?;
    Some((name.to_string(), u16::from_ne_bytes([zone[0], zone[1]])))
}

/// Is `/run/netns/{ns}` a handle with nothing mounted on it? That is what a creation cut short
/// leaves: the handle is made first and the namespace mounted on it after `unshare` (the slow
/// part), so a process killed in between leaves a plain file that names no namespace and cannot
/// be entered (EINVAL). A handle with anything mounted on it, a namespace or whatever else an
/// operator put there, is not one: what lies under such a mount is not ours to hide.
pub fn is_stale_handle(ns: &str) -> bool {
    use nix::sys::statfs::{NSFS_MAGIC, statfs};
    let path = format!("/run/netns/{ns}");
    match statfs(path.as_str()) {
        Ok(s) if s.filesystem_type() == NSFS_MAGIC => false,
        Ok(_) => !is_mount_point(&path),
        Err(_) => false,
    }
}

/// Is `path` a mount point in this process's mount namespace (`/proc/self/mountinfo`, whose
/// fifth field is the mount point)? Read only for a handle that holds no namespace, which is
/// rare. When the table cannot be read, yes: nothing is taken over on a guess.
fn is_mount_point(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").map_or(true, |table| {
        table.lines().any(|l| l.split(' ').nth(4) == Some(path))
    })
}

/// Create namespace `ns` the way `ip netns add` does, without the process: a thread unshares its
/// network namespace and bind-mounts its handle onto `/run/netns/NS` (which keeps the namespace
/// alive after the thread ends). `/run/netns` is made a shared mount point first so handles
/// appear in other mount namespaces too (`ip netns exec` runs in its own). A handle left by a
/// creation cut short ([`is_stale_handle`]) is taken over: the namespace is mounted on it.
pub fn create_namespace(ns: &str) -> std::io::Result<()> {
    use nix::mount::{MsFlags, mount};
    const DIR: &str = "/run/netns";
    std::fs::create_dir_all(DIR)?;
    let shared = || {
        mount(
            None::<&str>,
            DIR,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    if let Err(nix::errno::Errno::EINVAL) = shared() {
        // Not a mount point yet: make it one (bind onto itself), as iproute2 does.
        mount(
            Some(DIR),
            DIR,
            Some("none"),
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )?;
        shared()?;
    }
    let path = format!("{DIR}/{ns}");
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(_) => {}
        // Mounted on in place, not removed and made again: to the agent's watch of /run/netns a
        // removal would be a namespace of its plan deleted behind its back.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_stale_handle(ns) => {}
        Err(e) => return Err(e),
    }
    let target = path.clone();
    let made = std::thread::spawn(move || -> std::io::Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        mount(
            Some("/proc/thread-self/ns/net"),
            target.as_str(),
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .map_err(|_| std::io::Error::other("namespace thread panicked"))
    .and_then(|r| r);
    if made.is_err() {
        // Leave no handle that names nothing.
        let _ = std::fs::remove_file(&path);
    }
    made
}

/// Delete namespace `ns` the way `ip netns del` does, without the process: whatever runs inside
/// is killed first (processes whose network namespace is the very one the handle names, what
/// `ip netns pids` finds) so the namespace really goes away, then the handle is detached and
/// removed.
pub fn delete_namespace(ns: &str) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let path = format!("/run/netns/{ns}");
    let handle = std::fs::metadata(&path)?;
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(pid).is_ok_and(|p| p == me) {
            continue;
        }
        // A process may end while we look: whatever cannot be read is not ours to kill.
        if let Ok(m) = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            && m.dev() == handle.dev()
            && m.ino() == handle.ino()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    match nix::mount::umount2(path.as_str(), nix::mount::MntFlags::MNT_DETACH) {
        // Not a mount (a stale handle): removing the file is all there is to do.
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e.into()),
    }
    std::fs::remove_file(&path)
}

/// Write `values` (`/proc/sys/net/…` path, value) from a thread inside namespace `ns`: the
/// `net` sysctls a task sees are those of its own network namespace. Values already so are
/// left alone; returns how many were written.
pub fn write_sysctls(ns: &str, values: Vec<(String, u32)>) -> std::io::Result<usize> {
    super::in_namespace(ns, move || write_sysctls_here(&values))
}

/// [`write_sysctls`] from a thread already inside the namespace.
///
/// Each file is opened relative to its namespace's own directory under `/proc/sys/net`
/// (`ipv4`, `netfilter`), opened once per call. Why: every namespace has its own dentry of
/// that name under the one shared `/proc/sys/net`, all in one dcache hash chain that a path
/// lookup walks comparing each (`proc_sys_compare`), so a full path costs O(namespaces) at the
/// first level. With nine paths per namespace that made the agent's restart quadratic: at
/// 1,013 namespaces the path walks were 18 % of its samples (`perf`, 2026-11-29). Below that
/// level every directory is the namespace's own.
pub fn write_sysctls_here(values: &[(String, u32)]) -> std::io::Result<usize> {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    const NET: &str = "/proc/sys/net/";
    let mut dirs: Vec<(&str, std::fs::File)> = Vec::new();
    let mut written = 0;
    for (path, value) in values {
        let with_path = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{path}: {e}"));
        // (directory under net/, the rest); a path elsewhere, from its own directory.
        let (dir, rest) = match path.strip_prefix(NET).and_then(|p| p.split_once('/')) {
            Some((dir, rest)) => (&path[..NET.len() + dir.len()], rest),
            None => path
                .rsplit_once('/')
                .ok_or_else(|| with_path(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?,
        };
        let mut open = |flags: OFlag| -> std::io::Result<std::fs::File> {
            let at = match dirs.iter().position(|(d, _)| *d == dir) {
                Some(i) => i,
                None => {
                    dirs.push((dir, std::fs::File::open(dir)?));
                    dirs.len() - 1
                }
            };
            let fd = openat(
                dirs[at].1.as_fd(),
                rest,
                flags | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            Ok(std::fs::File::from(fd))
        };
        let mut now = String::new();
        let same = open(OFlag::O_RDONLY).is_ok_and(|mut f| f.read_to_string(&mut now).is_ok())
            && now.trim().parse::<u32>().ok() == Some(*value);
        if same {
            continue;
        }
        open(OFlag::O_WRONLY)
            .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()))
            .map_err(with_path)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> BTreeMap<u32, String> {
        BTreeMap::from([(4, "v1".to_string()), (7, "bx".to_string())])
    }

    #[test]
    fn leg_zones_read_from_padded_names_and_host_order_zones() {
        let mut key = b"c-sub1".to_vec();
        key.resize(16, 0);
        assert_eq!(
            leg_zone(&key, &300u16.to_ne_bytes()),
            Some(("c-sub1".to_string(), 300))
        );
        assert_eq!(leg_zone(&key, &[1]), None);
        assert_eq!(leg_zone(&[0; 16], &[1, 0]), None);
    }

    /// What we send is what we read back: a route or rule encoded for the kernel and decoded as
    /// the kernel would echo it parse into the same value.
    #[test]
    fn routes_and_rules_read_back_as_sent() {
        let routes = [
            Route::link(Dst::Net("10.0.0.0/24".parse().expect("net")), "v1").table(10001),
            Route::via(
                Dst::Net("10.9.0.0/16".parse().expect("net")),
                "169.254.0.2".parse().expect("ip"),
                "v1",
            )
            .onlink()
            .table(20001),
            Route::via(Dst::Default, "10.0.0.254".parse().expect("ip"), "bx"),
            Route::via(
                Dst::Net("10.8.0.0/16".parse().expect("net")),
                "169.254.0.2".parse().expect("ip"),
                "v1",
            )
            .onlink()
            .src("10.0.0.1".parse().expect("ip"))
            .table(7),
        ];
        for r in &routes {
            let oif = if r.dev == "v1" { 4 } else { 7 };
            let RouteNetlinkMessage::NewRoute(m) = Request::replace_route(r, oif).msg else {
                panic!("not a route");
            };
            assert_eq!(route_of(&m, &names()).as_ref(), Some(r));
        }
        let rules = [
            IpRule {
                pref: 1000,
                fwmark: Some(10001),
                table: Lookup::Table(10001),
            },
            IpRule {
                pref: 32000,
                fwmark: None,
                table: Lookup::Local,
            },
        ];
        for r in rules.iter().chain(&IpRule::kernel_defaults()) {
            let RouteNetlinkMessage::NewRule(m) = Request::add_rule(r).msg else {
                panic!("not a rule");
            };
            assert_eq!(rule_of(&m), Some(*r));
        }
    }

    #[test]
    fn rules_of_other_shapes_are_left_alone() {
        let r = IpRule {
            pref: 500,
            fwmark: None,
            table: Lookup::Main,
        };
        let RouteNetlinkMessage::NewRule(mut m) = Request::add_rule(&r).msg else {
            panic!("not a rule");
        };
        m.attributes.push(RuleAttribute::Iifname("x".into()));
        assert_eq!(rule_of(&m), None);
    }

    #[test]
    fn kernel_routes_are_not_ours() {
        let r = Route::link(Dst::Net("10.0.0.0/24".parse().expect("net")), "bx");
        let RouteNetlinkMessage::NewRoute(mut m) = Request::replace_route(&r, 7).msg else {
            panic!("not a route");
        };
        m.header.protocol = RouteProtocol::Kernel;
        assert_eq!(route_of(&m, &names()), None);
        m.header.protocol = RouteProtocol::Boot;
        m.header.kind = RouteType::Local;
        assert_eq!(route_of(&m, &names()), None);
    }
}
