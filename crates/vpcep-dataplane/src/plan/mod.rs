//! Desired state → kernel plan. Pure: the same desired state (and leg assignments) always gives
//! the same plan, so the agent applies only namespaces whose plan changed.
//!
//! Layout (see `docs/dataplane.md`): a VPC is a router namespace with one bridge per subnet;
//! servers, load balancers and sites are namespaces attached by veth; one gateway namespace holds
//! a leg into each consumer subnet (endpoint IPs as /32s) and a routed leg into each provider VPC,
//! and translates with nftables maps keyed by conntrack zone.

pub mod desired;
pub mod dns;
pub mod fast;
pub mod flows;
pub mod naming;
pub mod nft;
pub mod objects;
pub mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use vpcep_core::agent::Failure;
use vpcep_core::inventory::{Direction, Listener, SecurityGroupRule};
use vpcep_core::model::{Protocol, ServiceStatus, TcpProxy};

pub use crate::plan::objects::{Addr, Conf, Dst, IpRule, Link, Lookup, Mac, Route, Sysctl};

use crate::plan::desired::Desired;
use crate::plan::naming::{
    Namespaces, PROVIDER_LEG_PEER_PREFIX, bridge, consumer_leg, port_peer, provider_leg, short,
    site_peer,
};
use crate::plan::nft::{
    Action, Addrs, Chain, ChainKind, CtDirection, CtState, DnatTo, Elem, Family, Field, Hook,
    Iface, L4, MapLookup, Match, NftSet, NftTable, Policy, Ports, Priority, Proto, Rule, Val,
    Value,
};
use crate::plan::proxy::{PROXY_MARK, PROXY_PORT, ProxyRoute};

#[cfg(test)]
mod tests;

/// Link addresses of routed legs (gateway ↔ provider router, router ↔ site): /32s with onlink
/// routes, so they never collide with any VPC's addresses.
pub const LINK_NEAR: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
pub const LINK_FAR: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 2);
/// Priority of the gateways' fwmark rules, and where they look up the `local` table: after the
/// fwmark rules instead of first (see [`gateway_rules`]).
pub const FWMARK_PREF: u32 = 1000;
pub const LOCAL_LAST_PREF: u32 = 32000;
/// Routing table (= fwmark) bases in the gateway.
pub const CONSUMER_TABLE_BASE: u32 = 10_000;
pub const PROVIDER_TABLE_BASE: u32 = 20_000;
/// Consumer legs per gateway shard: the kernel scans `ip rule` linearly (reference
/// `dataplane.md`), so a shard stays near the measured cheap size.
pub const LEGS_PER_SHARD: u16 = 100;
/// Shards share 198.19.128.0/20: each owns a /25 (128 SNAT addresses, one per leg).
pub const MAX_SHARDS: u32 = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsPlan {
    pub sysctls: BTreeMap<Sysctl, u32>,
    pub links: Vec<Link>,
    pub addrs: BTreeSet<Addr>,
    pub routes: BTreeSet<Route>,
    /// The namespace's whole routing policy when we manage it (gateways); `None` leaves the
    /// kernel's defaults alone.
    pub rules: Option<BTreeSet<IpRule>>,
    /// Announce new addresses with a gratuitous ARP (gateways: a consumer that asked for an
    /// endpoint's IP before it existed learns it at once instead of on its next retry, 1 s on).
    pub announce: bool,
    /// Our nftables table for this namespace (loaded whole, atomically, as one nf_tables
    /// batch).
    pub nft: Option<NftTable>,
    /// Name servers of a lab host (`/etc/netns/{ns}/resolv.conf`, which `ip netns exec`, and so
    /// `vpcep lab exec`, mounts over `/etc/resolv.conf`); empty: left alone.
    pub resolvers: Vec<Ipv4Addr>,
    /// A provider router's fast path (`plan/fast.rs`): what its tc programs forward directly.
    pub fast: Option<fast::RouterSkip>,
}

/// Gateway leg assignments, stable across plans (and recovered from the kernel after a restart),
/// so established flows keep their shard, zone and SNAT address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Legs {
    /// consumer subnet id → (shard, conntrack zone)
    pub zones: BTreeMap<String, (u32, u16)>,
    /// (shard, provider VPC id) → table index (table = PROVIDER_TABLE_BASE + index)
    pub providers: BTreeMap<(u32, String), u32>,
}

/// A live endpoint in the gateway: what gets cut (conntrack) when it goes.
///
/// Its strings are shared (`Arc<str>`): the agent keeps the set twice (its plan's and what is
/// live in the kernel, a copy of it), and a copy then costs the entry alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveEndpoint {
    pub id: std::sync::Arc<str>,
    pub subnet: std::sync::Arc<str>,
    pub shard: u32,
    pub zone: u16,
    pub ip: std::sync::Arc<str>,
}

impl LiveEndpoint {
    /// The smallest entry with this id: entries are ordered by id first, so `range(probe..)`
    /// starts at an endpoint's entries.
    fn probe(id: &str) -> LiveEndpoint {
        LiveEndpoint {
            id: id.into(),
            subnet: "".into(),
            shard: 0,
            zone: 0,
            ip: "".into(),
        }
    }
}

/// The entries of `live` for the endpoints in `scope`, or every entry when there is no scope.
/// A scope's ids are looked up, not scanned for: a converge of one endpoint among 10,000 that
/// filtered the whole set this way spent ~2 ms comparing ids, several times per converge.
pub fn live_in<'a, V>(
    live: &'a BTreeSet<LiveEndpoint>,
    scope: Option<&'a BTreeMap<String, V>>,
) -> Box<dyn Iterator<Item = &'a LiveEndpoint> + 'a> {
    match scope {
        None => Box::new(live.iter()),
        Some(ids) => Box::new(ids.keys().flat_map(move |id| {
            live.range(LiveEndpoint::probe(id)..)
                .take_while(move |l| *l.id == **id)
        })),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub namespaces: BTreeMap<String, NsPlan>,
    pub live: BTreeSet<LiveEndpoint>,
    /// Objects that cannot be realised, with why (reported `failed`).
    pub problems: BTreeMap<String, Failure>,
    /// TCP mappings of `proxy_open` services' endpoints, served by their shard's userspace
    /// proxy (`plan/proxy.rs`).
    pub proxies: BTreeSet<ProxyRoute>,
}

impl Plan {
    /// Rebuild the large sets (set elements, addresses, live endpoints) with full nodes. Why:
    /// they are filled in ascending order, which leaves a `BTreeSet`'s nodes half empty, and a
    /// clone (the kernel layer's record of what it applied) keeps that shape: at 10,000
    /// endpoints ~1.7 MB per copy (measured with a counting allocator). O(n): after a full
    /// plan or a large patch only.
    pub fn compact(&mut self) {
        fn rebuilt<T: Ord>(s: &mut BTreeSet<T>) {
            *s = std::mem::take(s).into_iter().collect();
        }
        for n in self.namespaces.values_mut() {
            rebuilt(&mut n.addrs);
            if let Some(t) = n.nft.as_mut() {
                for set in t.sets.values_mut() {
                    rebuilt(&mut set.elements);
                }
            }
        }
        rebuilt(&mut self.live);
    }
}

/// The source address providers see for consumer leg `zone` of `shard`.
pub fn snat_address(shard: u32, zone: u16) -> Ipv4Addr {
    let base: u32 = u32::from(vpcep_core::validate::snat_range().network());
    Ipv4Addr::from(base + shard * 128 + u32::from(zone))
}

/// The part of 198.19.128.0/20 a shard's translated traffic comes from.
pub fn shard_snat_net(shard: u32) -> Ipv4Net {
    let base: u32 = u32::from(vpcep_core::validate::snat_range().network());
    Ipv4Net::new(Ipv4Addr::from(base + shard * 128), 25).expect("a /25 is a valid prefix")
}

/// A network as a route destination (host bits cleared).
fn net(cidr: &str) -> Option<Dst> {
    cidr.parse::<Ipv4Net>().ok().map(|n| Dst::Net(n.trunc()))
}

/// `ip` with the prefix length of `cidr` (an interface address in that subnet).
fn addr_in(ip: &str, cidr: &str) -> Option<Ipv4Net> {
    let ip: Ipv4Addr = ip.parse().ok()?;
    Ipv4Net::new(ip, cidr.parse::<Ipv4Net>().ok()?.prefix_len()).ok()
}

fn first_host(cidr: &str) -> Option<Ipv4Addr> {
    cidr.parse::<Ipv4Net>().ok().and_then(|n| n.hosts().next())
}

/// The fixed MAC of one of our link ends (see [`Mac::stable`]): `role` says which end of what.
fn mac(role: &str, id: &str) -> Mac {
    Mac::stable(&format!("{role}/{id}"))
}

/// Sysctls of every namespace that forwards (routers, load balancers, gateways).
fn router_sysctls() -> BTreeMap<Sysctl, u32> {
    BTreeMap::from([
        (Sysctl::IpForward, 1),
        (Sysctl::RpFilter(Conf::All), 0),
        (Sysctl::RpFilter(Conf::Default), 0),
    ])
}

/// A gateway's routing policy: each leg's table by fwmark, then `local` (moved from first to
/// after the fwmark rules: a backend may have the very address of an endpoint in another VPC,
/// and a DNATed packet to it must follow its mark, not be delivered to the gateway itself),
/// then the usual `main` and `default`.
fn gateway_rules(tables: &BTreeSet<u32>) -> BTreeSet<IpRule> {
    let mut rules: BTreeSet<IpRule> = tables
        .iter()
        .map(|t| IpRule {
            pref: FWMARK_PREF,
            fwmark: Some(*t),
            table: Lookup::Table(*t),
        })
        .collect();
    rules.insert(IpRule {
        pref: LOCAL_LAST_PREF,
        fwmark: None,
        table: Lookup::Local,
    });
    rules.extend(
        IpRule::kernel_defaults()
            .into_iter()
            .filter(|r| r.table != Lookup::Local),
    );
    rules
}

/// Build the plan. `legs` is updated: legs no longer needed are released, new ones assigned.
pub fn plan(d: &Desired, names: &Namespaces, legs: &mut Legs) -> Plan {
    let mut p = Plan::default();

    // --- VPC routers and subnet bridges ---------------------------------------------------
    for vpc_id in d.vpcs.keys() {
        let ns = p.namespaces.entry(names.router(vpc_id)).or_default();
        ns.sysctls = router_sysctls();
        // The VPC's resolver address (its socket is opened here by the DNS side, `dns.rs`).
        ns.addrs.insert(Addr::host("lo", dns::RESOLVER_ADDR));
    }
    for (sid, s) in &d.subnets {
        let Some(ns) = p.namespaces.get_mut(&names.router(&s.spec.vpc_id)) else {
            continue;
        };
        let br = bridge(sid);
        ns.links.push(Link::Bridge {
            name: br.clone(),
            mac: mac("bridge", sid),
        });
        if let Some(gw) = addr_in(&s.spec.gateway_ip, &s.spec.cidr) {
            ns.addrs.insert(Addr::new(br, gw));
        }
    }

    // --- servers --------------------------------------------------------------------------
    for (srv_id, srv) in &d.servers {
        let router = names.router(&srv.spec.vpc_id);
        if !p.namespaces.contains_key(&router) {
            continue;
        }
        let mut ns = NsPlan::default();
        for (i, port_id) in srv.spec.nics.iter().enumerate() {
            let Some(port) = d.ports.get(port_id) else {
                continue;
            };
            let Some(subnet) = d.subnets.get(&*port.spec.subnet_id) else {
                continue;
            };
            let dev = format!("eth{i}");
            ns.links.push(Link::Veth {
                name: dev.clone(),
                mac: port_mac(port_id, &port.spec),
                peer_ns: router.clone(),
                peer: port_peer(port_id),
                peer_mac: mac("port-peer", port_id),
                peer_master: Some(bridge(&subnet.spec.id)),
            });
            if let Some(a) = addr_in(&port.spec.ip_address, &subnet.spec.cidr) {
                ns.addrs.insert(Addr::new(dev.clone(), a));
            }
            if i == 0 {
                if let Ok(gw) = subnet.spec.gateway_ip.parse() {
                    ns.routes.insert(Route::via(Dst::Default, gw, dev));
                }
                // The subnet's DNS servers, the VPC's resolver when it names none.
                let listed: Vec<Ipv4Addr> = [&subnet.spec.primary_dns, &subnet.spec.secondary_dns]
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.parse().ok())
                    .collect();
                ns.resolvers = if listed.is_empty() {
                    vec![dns::RESOLVER_ADDR]
                } else {
                    listed
                };
            }
        }
        ns.nft = Some(security_groups(d, srv_id));
        p.namespaces.insert(names.server(srv_id), ns);
    }

    // --- load balancers -------------------------------------------------------------------
    for (lb_id, lb) in &d.lbs {
        let router = names.router(&lb.spec.vpc_id);
        let (Some(subnet), true) = (
            d.subnets.get(&*lb.spec.subnet_id),
            p.namespaces.contains_key(&router),
        ) else {
            continue;
        };
        let mut ns = NsPlan {
            sysctls: router_sysctls(),
            ..Default::default()
        };
        let vip_port = &lb.spec.vip_port_id;
        let vip_mac = d
            .ports
            .get(vip_port)
            .and_then(|p| p.spec.mac_address.parse().ok());
        ns.links.push(Link::Veth {
            name: "eth0".into(),
            mac: vip_mac.unwrap_or(mac("port", vip_port)),
            peer_ns: router.clone(),
            peer: port_peer(vip_port),
            peer_mac: mac("port-peer", vip_port),
            peer_master: Some(bridge(&subnet.spec.id)),
        });
        if let Some(a) = addr_in(&lb.spec.vip_address, &subnet.spec.cidr) {
            ns.addrs.insert(Addr::new("eth0", a));
        }
        if let Ok(gw) = subnet.spec.gateway_ip.parse() {
            ns.routes.insert(Route::via(Dst::Default, gw, "eth0"));
        }
        // Clients inside the VPC reach the VIP directly: spread, and masquerade so replies come
        // back through the balancer.
        let mut table = NftTable::new(Family::Ip, "vpcep_lb");
        table.chains = vec![
            nat_chain("pre", Hook::Prerouting).with(lb_rules(
                &lb.spec.vip_address,
                &lb.spec.listeners,
                None,
            )),
            nat_chain("post", Hook::Postrouting).with([Rule::new(
                vec![Match::CtStatusDnat],
                vec![Action::Masquerade],
            )]),
        ];
        ns.nft = Some(table);
        p.namespaces.insert(names.lb(lb_id), ns);
    }

    // --- sites ----------------------------------------------------------------------------
    for (site_id, site) in &d.sites {
        let router_name = names.router(&site.spec.vpc_id);
        let Some(vpc) = d.vpcs.get(&*site.spec.vpc_id) else {
            continue;
        };
        let Some(router) = p.namespaces.get_mut(&router_name) else {
            continue;
        };
        let peer = site_peer(site_id);
        router.addrs.insert(Addr::host(peer.clone(), LINK_NEAR));
        if let Some(dst) = net(&site.spec.cidr) {
            router
                .routes
                .insert(Route::via(dst, LINK_FAR, peer.clone()).onlink());
        }
        let mut ns = NsPlan::default();
        ns.links.push(Link::Veth {
            name: "vpn0".into(),
            mac: mac("site", site_id),
            peer_ns: router_name.clone(),
            peer,
            peer_mac: mac("site-peer", site_id),
            peer_master: None,
        });
        ns.addrs.insert(Addr::host("vpn0", LINK_FAR));
        if let Some(h) = first_host(&site.spec.cidr) {
            ns.addrs.insert(Addr::host("lo", h));
            if let Some(dst) = net(&vpc.spec.cidr) {
                ns.routes
                    .insert(Route::via(dst, LINK_NEAR, "vpn0").onlink().src(h));
            }
        }
        p.namespaces.insert(names.site(site_id), ns);
    }

    // --- endpoints and the gateway shards --------------------------------------------------
    // (consumer subnet, provider VPC) of every endpoint with at least one mapping.
    let mut paths: Vec<(&str, &str)> = Vec::new();
    let mut consumer_subnets: BTreeSet<&str> = BTreeSet::new();
    let mut live_pending: Vec<(String, std::sync::Arc<str>, std::sync::Arc<str>)> = Vec::new();
    for (eid, e) in &d.endpoints {
        if !e.spec.status.carries_traffic() {
            continue;
        }
        let Some(svc) = d.services.get(&*e.spec.service_id) else {
            p.problems.insert(eid.clone(), Failure::ServiceUnavailable);
            continue;
        };
        if matches!(
            svc.spec.status,
            ServiceStatus::Deleting | ServiceStatus::Failed
        ) {
            p.problems.insert(eid.clone(), Failure::ServiceUnavailable);
            continue;
        }
        if svc.spec.backend.is_none() {
            continue;
        }
        if !d.subnets.contains_key(&*e.spec.subnet_id) || !d.vpcs.contains_key(&*svc.spec.vpc_id) {
            continue;
        }
        consumer_subnets.insert(&*e.spec.subnet_id);
        if !svc.spec.ports.is_empty() {
            paths.push((&*e.spec.subnet_id, &svc.spec.vpc_id));
        }
        live_pending.push((eid.clone(), e.spec.subnet_id.clone(), e.spec.ip.clone()));
    }
    // Consumer legs: keep existing assignments, release unused, put new ones in the first shard
    // with room (a shard's `ip rule` list stays short: the kernel scans it linearly).
    legs.zones
        .retain(|s, _| consumer_subnets.contains(s.as_str()));
    for s in &consumer_subnets {
        if legs.zones.contains_key(*s) {
            continue;
        }
        let mut placed = None;
        for shard in 0..MAX_SHARDS {
            let used: BTreeSet<u16> = legs
                .zones
                .values()
                .filter(|(sh, _)| *sh == shard)
                .map(|(_, z)| *z)
                .collect();
            if let Some(z) = (1..=LEGS_PER_SHARD).find(|z| !used.contains(z)) {
                placed = Some((shard, z));
                break;
            }
        }
        if let Some(a) = placed {
            legs.zones.insert(s.to_string(), a);
        }
    }
    // Provider legs: one per (shard, provider VPC) that shard's endpoints need.
    let needed: BTreeSet<(u32, &str)> = paths
        .iter()
        .filter_map(|(subnet, vpc)| legs.zones.get(*subnet).map(|(sh, _)| (*sh, *vpc)))
        .collect();
    legs.providers
        .retain(|(sh, vpc), _| needed.contains(&(*sh, vpc.as_str())));
    for &(shard, vpc) in &needed {
        let k = (shard, vpc.to_string());
        if !legs.providers.contains_key(&k) {
            let taken: BTreeSet<u32> = legs
                .providers
                .iter()
                .filter(|((sh, _), _)| *sh == k.0)
                .map(|(_, t)| *t)
                .collect();
            let t = (1..).find(|t| !taken.contains(t)).unwrap_or(1);
            legs.providers.insert(k, t);
        }
    }
    // In id order (the desired state's), so the set is built in one pass with full nodes.
    p.live = live_pending
        .into_iter()
        .filter_map(|(eid, subnet, ip)| {
            let (shard, zone) = legs.zones.get(&*subnet)?;
            // The endpoint's subnet and address are the desired state's own (shared, not copied).
            Some(LiveEndpoint {
                id: eid.into(),
                subnet,
                shard: *shard,
                zone: *zone,
                ip,
            })
        })
        .collect();

    // Live endpoints grouped by shard in one pass, and provider legs' tables by borrowed key.
    let provider_table: BTreeMap<(u32, &str), u32> = legs
        .providers
        .iter()
        .map(|((sh, vpc), k)| ((*sh, vpc.as_str()), *k))
        .collect();
    let mut live_of: BTreeMap<u32, Vec<&LiveEndpoint>> = BTreeMap::new();
    for l in &p.live {
        live_of.entry(l.shard).or_default().push(l);
    }
    // Sites by VPC: replies to a site leave through each consumer leg of its VPC.
    let mut sites_of: BTreeMap<&str, Vec<Dst>> = BTreeMap::new();
    for site in d.sites.values() {
        if let Some(dst) = net(&site.spec.cidr) {
            sites_of.entry(&*site.spec.vpc_id).or_default().push(dst);
        }
    }
    let shards: BTreeSet<u32> = legs.zones.values().map(|(sh, _)| *sh).collect();
    for shard in shards {
        let live = live_of.get(&shard).map(Vec::as_slice).unwrap_or_default();
        let mut sysctls = router_sysctls();
        sysctls.insert(Sysctl::ArpIgnore(Conf::All), 1);
        // A reply from a backend whose address equals an endpoint's keeps that source (null
        // DNAT binding): it must not be dropped as a martian.
        sysctls.insert(Sysctl::AcceptLocal(Conf::All), 1);
        // Flow records (docs/flows.md): per-connection volumes and start/stop times, on before
        // the first connection (conntrack adds them to an entry when it is created).
        sysctls.insert(Sysctl::ConntrackAcct, 1);
        sysctls.insert(Sysctl::ConntrackTimestamp, 1);
        let mut gw = NsPlan {
            sysctls,
            announce: true,
            ..Default::default()
        };
        let mut t = gateway_table();
        let mut tables = BTreeSet::new();
        for (sid, (sh, zone)) in &legs.zones {
            if *sh != shard {
                continue;
            }
            let Some(subnet) = d.subnets.get(sid) else {
                continue;
            };
            let router = names.router(&subnet.spec.vpc_id);
            let (gname, rname) = consumer_leg(sid);
            gw.links.push(Link::Veth {
                name: gname.clone(),
                mac: mac("consumer-leg", sid),
                peer_ns: router,
                peer: rname,
                peer_mac: mac("consumer-leg-peer", sid),
                peer_master: Some(bridge(sid)),
            });
            let table = CONSUMER_TABLE_BASE + u32::from(*zone);
            if let Some(dst) = net(&subnet.spec.cidr) {
                gw.routes
                    .insert(Route::link(dst, gname.clone()).table(table));
            }
            // A site of the consumer VPC sits behind the VPC's router: replies to it go to the
            // subnet's gateway (the router's address on the bridge the leg is a port of), which
            // routes them on to the site. The leg holds only /32s, hence `onlink`.
            if let (Some(sites), Ok(gw_ip)) = (
                sites_of.get(subnet.spec.vpc_id.as_str()),
                subnet.spec.gateway_ip.parse::<Ipv4Addr>(),
            ) {
                for dst in sites {
                    gw.routes
                        .insert(Route::via(*dst, gw_ip, gname.clone()).onlink().table(table));
                }
            }
            tables.insert(table);
            let z = Val::Zone(*zone);
            let ifname = Val::Ifname(gname.into());
            add(
                &mut t,
                ZONE_OF_IF,
                Elem::map(vec![ifname.clone()], vec![z.clone()]),
            );
            add(&mut t, CONSUMER_IFS, Elem::key(vec![ifname]));
            add(
                &mut t,
                TABLE_OF_ZONE,
                Elem::map(vec![z.clone()], vec![Val::Mark(table)]),
            );
            let snat = Val::Ip(snat_address(shard, *zone));
            add(&mut t, SNAT_OF_ZONE, Elem::map(vec![z], vec![snat]));
            // The leg's SNAT address is also the gateway's own: the PROXY-v2 listener of the
            // leg binds it, and its connections to backends leave from it (`plan/proxy.rs`).
            gw.addrs
                .insert(Addr::host("lo", snat_address(shard, *zone)));
        }
        for ((sh, vpc_id), k) in &legs.providers {
            if *sh != shard {
                continue;
            }
            let Some(vpc) = d.vpcs.get(vpc_id) else {
                continue;
            };
            let router_name = names.router(vpc_id);
            let (gname, rname) = provider_leg(shard, vpc_id);
            let leg_id = format!("{shard}/{vpc_id}");
            gw.links.push(Link::Veth {
                name: gname.clone(),
                mac: mac("provider-leg", &leg_id),
                peer_ns: router_name.clone(),
                peer: rname.clone(),
                peer_mac: mac("provider-leg-peer", &leg_id),
                peer_master: None,
            });
            gw.addrs.insert(Addr::host(gname.clone(), LINK_NEAR));
            let table = PROVIDER_TABLE_BASE + k;
            if let Some(dst) = net(&vpc.spec.cidr) {
                gw.routes.insert(
                    Route::via(dst, LINK_FAR, gname.clone())
                        .onlink()
                        .table(table),
                );
            }
            tables.insert(table);
            add(
                &mut t,
                PROVIDER_IFS,
                Elem::key(vec![Val::Ifname(gname.into())]),
            );
            if let Some(router) = p.namespaces.get_mut(&router_name) {
                router.addrs.insert(Addr::host(rname.clone(), LINK_FAR));
                router
                    .routes
                    .insert(Route::via(Dst::Net(shard_snat_net(shard)), LINK_NEAR, rname).onlink());
            }
        }
        gw.rules = Some(gateway_rules(&tables));
        // Each live endpoint: its /32 on the leg and its elements (see `endpoint_parts`),
        // gathered first and put into the sets sorted, in one pass each: inserted one by one,
        // 1,000 endpoints' elements took most of a full plan's 9 ms (comparing `Arc<[Val]>`
        // keys down the trees), on the path of a new consumer VPC's first endpoint. Visited in
        // (zone, address) order, each set's elements come almost sorted (keys start with zone
        // and address), which the sort in `sorted_union` merely merges.
        let mut staged: BTreeMap<&'static str, Vec<Elem>> = BTreeMap::new();
        let mut leg_addrs = Vec::with_capacity(live.len());
        let mut in_key_order: Vec<(u16, Ipv4Addr, &LiveEndpoint)> = live
            .iter()
            .filter_map(|l| Some((l.zone, l.ip.parse().ok()?, *l)))
            .collect();
        in_key_order.sort_unstable_by_key(|(zone, ip, _)| (*zone, *ip));
        for (_, _, l) in in_key_order {
            let Some(e) = d.endpoints.get(&*l.id) else {
                continue;
            };
            let Some(svc) = d.services.get(&*e.spec.service_id) else {
                continue;
            };
            let k = provider_table
                .get(&(l.shard, svc.spec.vpc_id.as_str()))
                .copied()
                .unwrap_or(0);
            if let Some(parts) = endpoint_parts(l, &e.spec, &svc.spec, k) {
                leg_addrs.push(parts.addr);
                for (set, elem) in parts.elems {
                    staged.entry(set).or_default().push(elem);
                }
                p.proxies.extend(parts.proxy);
            }
        }
        for (set, elems) in staged {
            if let Some(s) = t.sets.get_mut(set) {
                s.elements = sorted_union(std::mem::take(&mut s.elements), elems);
            }
        }
        gw.addrs = sorted_union(std::mem::take(&mut gw.addrs), leg_addrs);
        gw.nft = Some(t);
        p.namespaces.insert(names.gateway(shard), gw);
    }

    // Routers: load balancers reached from the gateway are spread here, so members see the
    // consumer's translated source (198.19.128.0/20) and reply through the router.
    let provider_vpcs: BTreeSet<&String> = legs.providers.keys().map(|(_, v)| v).collect();
    for lb in d.lbs.values() {
        if !provider_vpcs.contains(&lb.spec.vpc_id) {
            continue;
        }
        if let Some(router) = p.namespaces.get_mut(&names.router(&lb.spec.vpc_id)) {
            let from_gateway = Iface::Prefix(PROVIDER_LEG_PEER_PREFIX.into());
            let rules = lb_rules(&lb.spec.vip_address, &lb.spec.listeners, Some(from_gateway));
            let table = router.nft.get_or_insert_with(|| {
                let mut t = NftTable::new(Family::Ip, "vpcep_router");
                t.chains.push(nat_chain("pre", Hook::Prerouting));
                t
            });
            table.chain_mut("pre").rules.extend(rules);
        }
    }
    // Provider routers that only forward: their fast path (`plan/fast.rs`).
    let hosts = host_ports(d);
    for (shard, vpc_id) in legs.providers.keys() {
        let Some(router) = p.namespaces.get_mut(&names.router(vpc_id)) else {
            continue;
        };
        // A router that translates (load balancers reached from the gateways) keeps its
        // conntrack state whole: no fast path.
        if router.nft.is_some() {
            continue;
        }
        let leg_id = format!("{shard}/{vpc_id}");
        router
            .fast
            .get_or_insert_with(|| fast_ports(d, vpc_id, &hosts))
            .legs
            .insert(
                *shard,
                fast::FastLeg {
                    dev: provider_leg(*shard, vpc_id).1,
                    mac: mac("provider-leg-peer", &leg_id),
                    peer_mac: mac("provider-leg", &leg_id),
                },
            );
    }
    // Consumer subnets: their bridge skip (`plan/fast.rs`), between the gateway's leg and the
    // subnet's host ports, both ways.
    for sid in legs.zones.keys() {
        let Some(subnet) = d.subnets.get(sid) else {
            continue;
        };
        let Some(router) = p.namespaces.get_mut(&names.router(&subnet.spec.vpc_id)) else {
            continue;
        };
        let leg = consumer_leg(sid).1;
        let leg_mac = mac("consumer-leg", sid);
        for (port_id, port) in hosts.get(sid.as_str()).into_iter().flatten() {
            let fast = router.fast.get_or_insert_with(Default::default);
            let port_mac = port_mac(port_id, port);
            fast.to_legs
                .insert((port_peer(port_id), leg_mac), leg.clone());
            fast.to_hosts
                .insert((leg.clone(), port_mac), port_peer(port_id));
        }
    }
    // Services: problems when their backend is gone.
    for (sid, s) in &d.services {
        if s.spec
            .backend
            .as_ref()
            .is_none_or(|b| !d.ports.contains_key(&b.port_id))
            && s.spec.status != ServiceStatus::Deleting
        {
            p.problems.insert(sid.clone(), Failure::BackendGone);
        }
    }
    // No `compact()`: the large sets (the gateways' elements and addresses, the live set)
    // were built in one pass from sorted input, which lays them out with full nodes already.
    p
}

/// The MAC a port's veth end gets: its own, or a stable one when it has none that parses.
fn port_mac(port_id: &str, port: &vpcep_core::inventory::Port) -> Mac {
    port.mac_address
        .parse()
        .unwrap_or_else(|_| mac("port", port_id))
}

/// Server ports by subnet, (port id, port): what the routers' fast path reaches, gathered once
/// per plan instead of walking every server for each router and each consumer subnet.
fn host_ports(d: &Desired) -> BTreeMap<&str, Vec<(&str, &vpcep_core::inventory::Port)>> {
    let mut by_subnet: BTreeMap<&str, Vec<(&str, &vpcep_core::inventory::Port)>> = BTreeMap::new();
    for srv in d.servers.values() {
        for port_id in &srv.spec.nics {
            if let Some(port) = d.ports.get(port_id) {
                by_subnet
                    .entry(port.spec.subnet_id.as_str())
                    .or_default()
                    .push((port_id.as_str(), &port.spec));
            }
        }
    }
    by_subnet
}

/// The server ports of `vpc` as a router's fast path reaches them (the same MACs their veths
/// are given above).
fn fast_ports(
    d: &Desired,
    vpc: &str,
    hosts: &BTreeMap<&str, Vec<(&str, &vpcep_core::inventory::Port)>>,
) -> fast::RouterSkip {
    let mut skip = fast::RouterSkip::default();
    for subnet in d.subnets.values().filter(|s| s.spec.vpc_id == vpc) {
        for (port_id, port) in hosts.get(subnet.spec.id.as_str()).into_iter().flatten() {
            let Ok(ip) = port.ip_address.parse::<Ipv4Addr>() else {
                continue;
            };
            skip.ports.insert(
                ip,
                fast::FastPort {
                    dev: port_peer(port_id),
                    mac: port_mac(port_id, port),
                    bridge_mac: mac("bridge", &subnet.spec.id),
                },
            );
        }
    }
    skip
}

/// Bring `p`, the plan of the desired state before some endpoints changed, to the plan of `d`,
/// touching only their gateway shards. `before` holds each changed endpoint's previous spec
/// (`None`: it is new). Returns the namespaces changed, or `None` when the change reaches beyond
/// the elements of existing legs (a leg comes or goes, a problem starts or ends): then `p` is
/// spoilt and the full [`plan`] is needed. The result equals `plan(d)` (the agent's debug builds
/// check that on every change); it costs what the changed endpoints cost, not what all do.
pub fn patch_endpoints(
    p: &mut Plan,
    d: &Desired,
    names: &Namespaces,
    legs: &Legs,
    before: &BTreeMap<String, Option<crate::plan::desired::EndpointSpec>>,
) -> Option<Dirty> {
    let mut dirty = Dirty::new();
    let provider = |shard: u32, vpc: &str| legs.providers.get(&(shard, vpc.to_string())).copied();
    for (id, old) in before {
        if p.problems.contains_key(id) {
            return None;
        }
        let found = p
            .live
            .range(LiveEndpoint::probe(id)..)
            .next()
            .filter(|l| *l.id == **id)
            .cloned();
        if let Some(l) = found {
            let old = old.as_ref()?;
            let svc = &d.services.get(&*old.service_id)?.spec;
            let parts = endpoint_parts(&l, old, svc, provider(l.shard, &svc.vpc_id)?)?;
            let ns = names.gateway(l.shard);
            let gw = p.namespaces.get_mut(&ns)?;
            let leg = parts.addr.dev.clone();
            parts.place(gw, &mut p.proxies, false, dirty.entry(ns).or_default())?;
            if !gw.addrs.iter().any(|a| a.dev == leg) {
                return None; // the last endpoint of its subnet: the leg goes
            }
            p.live.remove(&l);
        }
        let Some(e) = d.endpoints.get(id) else {
            continue;
        };
        if !e.spec.status.carries_traffic() {
            continue;
        }
        let svc = &d.services.get(&*e.spec.service_id)?.spec;
        if matches!(svc.status, ServiceStatus::Deleting | ServiceStatus::Failed)
            || svc.backend.is_none()
            || svc.ports.is_empty()
            || !d.subnets.contains_key(&*e.spec.subnet_id)
            || !d.vpcs.contains_key(&svc.vpc_id)
        {
            return None;
        }
        let (shard, zone) = *legs.zones.get(&*e.spec.subnet_id)?;
        let l = LiveEndpoint {
            id: id.as_str().into(),
            subnet: e.spec.subnet_id.clone(),
            shard,
            zone,
            ip: e.spec.ip.clone(),
        };
        let parts = endpoint_parts(&l, &e.spec, svc, provider(shard, &svc.vpc_id)?)?;
        let ns = names.gateway(shard);
        parts.place(
            p.namespaces.get_mut(&ns)?,
            &mut p.proxies,
            true,
            dirty.entry(ns).or_default(),
        )?;
        p.live.insert(l);
    }
    Some(dirty)
}

/// A NAT base chain that lets through whatever its rules do not translate.
fn nat_chain(name: &'static str, hook: Hook) -> Chain {
    let priority = match hook {
        Hook::Postrouting => Priority::SrcNat,
        _ => Priority::DstNat,
    };
    Chain::base(name, ChainKind::Nat, hook, priority, Policy::Accept)
}

fn l4(p: Protocol) -> L4 {
    match p {
        Protocol::TCP => L4::Tcp,
        Protocol::UDP => L4::Udp,
    }
}

/// DNAT rules of one load balancer's listeners, spreading new connections round-robin over
/// the members. `from`: only packets arriving on these interfaces (the router: gateway legs).
fn lb_rules(vip: &str, listeners: &[Listener], from: Option<Iface>) -> Vec<Rule> {
    let Ok(vip) = vip.parse::<Ipv4Addr>() else {
        return Vec::new();
    };
    let mut rules = Vec::new();
    for l in listeners {
        let members = l
            .members
            .iter()
            .filter_map(|m| Some((m.address.parse().ok()?, m.port)))
            .collect();
        let Some(to) = DnatTo::spread(members) else {
            continue;
        };
        let mut matches: Vec<Match> = from.iter().cloned().map(Match::Iifname).collect();
        matches.push(Match::Daddr(Addrs::One(vip)));
        matches.push(Match::Dport(l4(l.protocol), Ports::One(l.port)));
        rules.push(Rule::new(matches, vec![Action::Dnat(to)]));
    }
    rules
}

// The gateway's sets and maps (declared in `gateway_table`).
/// Consumer leg → conntrack zone.
const ZONE_OF_IF: &str = "zone_of_if";
const CONSUMER_IFS: &str = "consumer_ifs";
const PROVIDER_IFS: &str = "provider_ifs";
/// Zone → the consumer leg's routing table (mark), for replies.
const TABLE_OF_ZONE: &str = "table_of_zone";
/// Zone → the source providers see.
const SNAT_OF_ZONE: &str = "snat_of_zone";
/// Endpoints with a source whitelist (`zone . ip`) and their allowed sources (`zone . ip .
/// source`, interval).
const EP_RESTRICTED: &str = "ep_restricted";
const EP_ALLOW: &str = "ep_allow";
/// Traffic accounting, one counted element (`zone . endpoint ip`) per live endpoint in each:
/// packets and bytes the endpoint received from consumers (original direction, after the
/// whitelist), sent back to them (replies, after un-NAT), new connections (the NAT chain sees
/// a connection's first packet only), and new connections dropped by the source whitelist.
pub const EP_RX: &str = "ep_rx";
pub const EP_TX: &str = "ep_tx";
pub const EP_NEW: &str = "ep_new";
pub const EP_DROP: &str = "ep_drop";
/// The counted sets, in the order above.
pub const ACCOUNTING_SETS: [&str; 4] = [EP_RX, EP_TX, EP_NEW, EP_DROP];

/// `zone . endpoint ip . port → backend ip . server port`
fn ep_map(p: L4) -> &'static str {
    match p {
        L4::Tcp => "ep_tcp",
        L4::Udp => "ep_udp",
    }
}

/// `zone . endpoint ip . port → mark of the provider leg's routing table`
fn prov_map(p: L4) -> &'static str {
    match p {
        L4::Tcp => "prov_tcp",
        L4::Udp => "prov_udp",
    }
}

/// The key of both endpoint maps of `p`.
fn endpoint_key(p: L4) -> Vec<Field> {
    vec![Field::CtZone, Field::IpDaddr, Field::Dport(p)]
}

/// `have` and `more` as one set, built in one pass: `BTreeSet::from_iter` gathers its input in
/// a vector, sorts it (a stable sort, which finds the sorted runs — `have`, and `more` when it
/// comes in key order — and merges them) and builds the tree bottom-up from it, dropping
/// duplicates, with full nodes and no search per element.
fn sorted_union<T: Ord>(have: BTreeSet<T>, more: Vec<T>) -> BTreeSet<T> {
    have.into_iter().chain(more).collect()
}

/// Put an element into one of a table's sets (declared by its skeleton).
fn add(t: &mut NftTable, set: &'static str, e: Elem) {
    if let Some(s) = t.sets.get_mut(set) {
        s.elements.insert(e);
    }
}

/// What one live endpoint puts into its gateway shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointParts {
    /// Its /32 on the consumer leg.
    pub addr: Addr,
    /// (set name, element)
    pub elems: Vec<(&'static str, Elem)>,
    /// Its mappings served by the shard's PROXY-v2 proxy (`proxy_open` services).
    pub proxy: Vec<ProxyRoute>,
}

/// What a patch changed in one namespace's plan: addresses and set elements taken out and put
/// in, net of each other (an element taken out and put back is no change). The kernel programs
/// exactly this instead of comparing the namespace's whole plan with the one before it, which
/// at 10,000 endpoints in a shard costs more than the change itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NsDelta {
    pub del_addrs: BTreeSet<Addr>,
    pub add_addrs: BTreeSet<Addr>,
    /// By set: (elements taken out, elements put in).
    pub sets: BTreeMap<&'static str, (BTreeSet<Elem>, BTreeSet<Elem>)>,
}

/// Namespaces a patch changed, each with its change.
pub type Dirty = BTreeMap<String, NsDelta>;

/// Record that `item` went in (`present`) or out, net of an earlier opposite change.
fn note<T: Ord>(out: &mut BTreeSet<T>, into: &mut BTreeSet<T>, item: T, present: bool) {
    let (gone, came) = if present { (out, into) } else { (into, out) };
    if !gone.remove(&item) {
        came.insert(item);
    }
}

impl EndpointParts {
    /// Put these parts into (`present`) or take them out of a gateway's plan (and its proxy
    /// routes into or out of `proxies`), noting in `delta` what really changed in the kernel's
    /// objects; `None` when the plan lacks the table or a set.
    fn place(
        self,
        gw: &mut NsPlan,
        proxies: &mut BTreeSet<ProxyRoute>,
        present: bool,
        delta: &mut NsDelta,
    ) -> Option<()> {
        let table = gw.nft.as_mut()?;
        for (set, e) in self.elems {
            let elements = &mut table.sets.get_mut(set)?.elements;
            let changed = if present {
                elements.insert(e.clone())
            } else {
                elements.remove(&e)
            };
            if changed {
                let (del, add) = delta.sets.entry(set).or_default();
                note(del, add, e, present);
            }
        }
        let changed = if present {
            gw.addrs.insert(self.addr.clone())
        } else {
            gw.addrs.remove(&self.addr)
        };
        if changed {
            note(
                &mut delta.del_addrs,
                &mut delta.add_addrs,
                self.addr,
                present,
            );
        }
        if present {
            proxies.extend(self.proxy);
        } else {
            for r in &self.proxy {
                proxies.remove(r);
            }
        }
        Some(())
    }
}

/// The one place that decides an endpoint's kernel contribution, used by the full plan and by
/// [`patch_endpoints`] alike. `provider_table` is the index of its (shard, provider VPC) leg.
/// `None` when its address is not an IPv4 address (it then contributes nothing).
pub fn endpoint_parts(
    l: &LiveEndpoint,
    e: &crate::plan::desired::EndpointSpec,
    svc: &vpcep_core::model::EndpointService,
    provider_table: u32,
) -> Option<EndpointParts> {
    let ip: Ipv4Addr = l.ip.parse().ok()?;
    let addr = Addr::host(consumer_leg(&l.subnet).0, ip);
    let mut elems = Vec::new();
    let mut proxy = Vec::new();
    // One element (one allocation) shared by the four counter sets: the same key.
    let acct = Elem::key(vec![Val::Zone(l.zone), Val::Ip(ip)]);
    for set in ACCOUNTING_SETS {
        elems.push((set, acct.clone()));
    }
    if let Some(backend) = svc
        .backend
        .as_ref()
        .and_then(|b| b.ip.parse::<Ipv4Addr>().ok())
    {
        for m in &svc.ports {
            let key = vec![Val::Zone(l.zone), Val::Ip(ip), Val::Port(m.client_port)];
            let p = l4(m.protocol);
            let provider_mark = PROVIDER_TABLE_BASE + provider_table;
            // `proxy_open`: TCP goes to the leg's PROXY-v2 listener (the leg's SNAT address on
            // the gateway itself), which connects on to the backend; UDP stays in the kernel.
            let (to, mark) = if svc.tcp_proxy == TcpProxy::ProxyOpen && p == L4::Tcp {
                proxy.push(ProxyRoute {
                    shard: l.shard,
                    zone: l.zone,
                    endpoint_ip: ip,
                    client_port: m.client_port,
                    endpoint_id: l.id.to_string(),
                    backend: std::net::SocketAddrV4::new(backend, m.server_port),
                    provider_mark,
                });
                ((snat_address(l.shard, l.zone), PROXY_PORT), PROXY_MARK)
            } else {
                ((backend, m.server_port), provider_mark)
            };
            elems.push((
                ep_map(p),
                Elem::map(key.clone(), vec![Val::Ip(to.0), Val::Port(to.1)]),
            ));
            elems.push((prov_map(p), Elem::map(key, vec![Val::Mark(mark)])));
        }
    }
    // Endpoint source whitelist (`enable_whitelist`): new connections to a restricted endpoint
    // must come from one of its allowed sources.
    if e.enable_whitelist {
        let key = vec![Val::Zone(l.zone), Val::Ip(ip)];
        elems.push((EP_RESTRICTED, Elem::key(key.clone())));
        for src in &e.whitelist {
            let net = src
                .parse::<Ipv4Net>()
                .or_else(|_| src.parse::<Ipv4Addr>().map(Ipv4Net::from));
            if let Ok(net) = net {
                let mut k = key.clone();
                k.push(Val::Net(net.trunc()));
                elems.push((EP_ALLOW, Elem::key(k)));
            }
        }
    }
    Some(EndpointParts { addr, elems, proxy })
}

/// The gateway's fixed ruleset, its sets empty; endpoints and legs are only elements of them.
fn gateway_table() -> NftTable {
    use Field::{CtMark, CtZone, Iifname, IpDaddr, IpSaddr, MetaMark};
    let mut t = NftTable::new(Family::Ip, "vpcep");
    let mut sets = vec![
        (ZONE_OF_IF, NftSet::map(vec![Iifname], vec![CtZone])),
        (CONSUMER_IFS, NftSet::set(vec![Iifname])),
        (PROVIDER_IFS, NftSet::set(vec![Iifname])),
        (TABLE_OF_ZONE, NftSet::map(vec![CtZone], vec![MetaMark])),
        (SNAT_OF_ZONE, NftSet::map(vec![CtZone], vec![IpSaddr])),
        (EP_RESTRICTED, NftSet::set(vec![CtZone, IpDaddr])),
        (
            EP_ALLOW,
            NftSet::set(vec![CtZone, IpDaddr, IpSaddr]).interval(),
        ),
        (EP_RX, NftSet::set(vec![CtZone, IpDaddr]).counter()),
        (EP_TX, NftSet::set(vec![CtZone, IpSaddr]).counter()),
        (EP_NEW, NftSet::set(vec![CtZone, IpDaddr]).counter()),
        (EP_DROP, NftSet::set(vec![CtZone, IpDaddr]).counter()),
    ];
    for p in [L4::Tcp, L4::Udp] {
        let backend = vec![IpDaddr, Field::Dport(p)];
        sets.push((ep_map(p), NftSet::map(endpoint_key(p), backend)));
        sets.push((prov_map(p), NftSet::map(endpoint_key(p), vec![MetaMark])));
    }
    t.sets = sets.into_iter().collect();
    let consumer = || Match::Iifname(Iface::InSet(CONSUMER_IFS));
    let filter =
        |name, hook, priority, policy| Chain::base(name, ChainKind::Filter, hook, priority, policy);
    t.chains = vec![
        filter("raw_pre", Hook::Prerouting, Priority::Raw, Policy::Accept).with([Rule::new(
            vec![],
            vec![Action::SetCtOriginalZone(Value::Map(MapLookup::new(
                vec![Iifname],
                ZONE_OF_IF,
            )))],
        )]),
        filter(
            "mangle_pre",
            Hook::Prerouting,
            Priority::Mangle,
            Policy::Accept,
        )
        .with([
            // Replies are routed by the consumer leg's table, originals by the provider's.
            Rule::new(
                vec![Match::CtDirection(CtDirection::Reply)],
                vec![Action::SetMetaMark(Value::Map(MapLookup::new(
                    vec![CtZone],
                    TABLE_OF_ZONE,
                )))],
            ),
            Rule::new(
                vec![Match::CtDirection(CtDirection::Original), Match::CtMarked],
                vec![Action::SetMetaMark(Value::Field(CtMark))],
            ),
            Rule::new(
                vec![
                    consumer(),
                    Match::CtState(vec![CtState::New]),
                    Match::Lookup {
                        key: vec![CtZone, IpDaddr],
                        set: EP_RESTRICTED,
                        negate: false,
                    },
                    Match::Lookup {
                        key: vec![CtZone, IpDaddr, IpSaddr],
                        set: EP_ALLOW,
                        negate: true,
                    },
                    // Counts the drop (the element always exists for a live endpoint).
                    Match::Lookup {
                        key: vec![CtZone, IpDaddr],
                        set: EP_DROP,
                        negate: false,
                    },
                ],
                vec![Action::Drop],
            ),
            // Received by the endpoint: consumer packets that passed the whitelist, before
            // DNAT (the destination is still the endpoint's address).
            Rule::new(
                vec![
                    Match::CtDirection(CtDirection::Original),
                    Match::Lookup {
                        key: vec![CtZone, IpDaddr],
                        set: EP_RX,
                        negate: false,
                    },
                ],
                vec![],
            ),
        ]),
        // A connection's first packet only: counts new connections per endpoint.
        nat_chain("nat_pre", Hook::Prerouting)
            .with([Rule::new(
                vec![Match::Lookup {
                    key: vec![CtZone, IpDaddr],
                    set: EP_NEW,
                    negate: false,
                }],
                vec![],
            )])
            .with([L4::Tcp, L4::Udp].map(|p| {
                Rule::new(
                    vec![consumer(), Match::L4proto(p.into())],
                    vec![
                        Action::SetCtMark(Value::Map(MapLookup::new(endpoint_key(p), prov_map(p)))),
                        Action::SetMetaMark(Value::Field(CtMark)),
                        Action::Dnat(DnatTo::Map(MapLookup::new(endpoint_key(p), ep_map(p)))),
                    ],
                )
            })),
        nat_chain("nat_post", Hook::Postrouting).with([Rule::new(
            vec![Match::CtMarked, Match::Oifname(Iface::InSet(PROVIDER_IFS))],
            vec![Action::Snat(MapLookup::new(vec![CtZone], SNAT_OF_ZONE))],
        )]),
        // Endpoint flows are recognised by their connection mark (set with the DNAT), not by
        // the DNAT status bit: a backend whose address and port equal the endpoint's gets a null
        // binding that never sets that bit.
        // A consumer packet that matches no live flow (its endpoint was rejected or deleted and
        // its conntrack entry cut) gets a reset, so the client learns at once instead of hanging.
        filter("forward_f", Hook::Forward, Priority::Filter, Policy::Drop).with([
            Rule::new(
                vec![Match::CtState(vec![CtState::Established, CtState::Related])],
                vec![Action::Accept],
            ),
            Rule::new(vec![consumer(), Match::CtMarked], vec![Action::Accept]),
            Rule::new(
                vec![consumer(), Match::L4proto(Proto::Tcp)],
                vec![Action::RejectTcpReset],
            ),
        ]),
        // The gateway itself takes only what its PROXY-v2 listeners serve: consumer flows
        // DNATed to them (marked like every endpoint flow) and the replies to the proxy's own
        // connections to backends.
        filter("input_f", Hook::Input, Priority::Filter, Policy::Drop).with([
            Rule::new(
                vec![Match::CtState(vec![CtState::Established, CtState::Related])],
                vec![Action::Accept],
            ),
            Rule::new(vec![consumer(), Match::CtMarked], vec![Action::Accept]),
        ]),
        // Sent by the endpoint: replies after source NAT, whose source is the endpoint's
        // address again.
        filter(
            "acct_post",
            Hook::Postrouting,
            Priority::AfterSrcNat,
            Policy::Accept,
        )
        .with([Rule::new(
            vec![
                Match::CtDirection(CtDirection::Reply),
                Match::Lookup {
                    key: vec![CtZone, IpSaddr],
                    set: EP_TX,
                    negate: false,
                },
            ],
            vec![],
        )]),
    ];
    t
}

/// One security-group rule as an nftables rule in the chain of its direction (`None`: it can
/// match nothing, e.g. a remote group without ports, or a protocol we do not know).
fn security_group_rule(
    r: &SecurityGroupRule,
    members: impl Fn(&str) -> Vec<Ipv4Addr>,
) -> Option<Rule> {
    let remote = |a: Addrs| match r.direction {
        Direction::Ingress => Match::Saddr(a),
        Direction::Egress => Match::Daddr(a),
    };
    let mut matches = Vec::new();
    if let Some(prefix) = &r.remote_ip_prefix {
        let net = prefix
            .parse::<Ipv4Net>()
            .or_else(|_| prefix.parse::<Ipv4Addr>().map(Ipv4Net::from))
            .ok()?;
        matches.push(remote(Addrs::Net(net.trunc())));
    }
    if let Some(g) = &r.remote_group_id {
        let ips = members(g);
        if ips.is_empty() {
            return None;
        }
        matches.push(remote(Addrs::AnyOf(ips)));
    }
    let l4_of = |p: &str| match p {
        "tcp" => Some(L4::Tcp),
        "udp" => Some(L4::Udp),
        _ => None,
    };
    match (r.protocol.as_deref(), r.port_range_min, r.port_range_max) {
        (Some(p), Some(a), Some(b)) if l4_of(p).is_some() => {
            let ports = if a == b {
                Ports::One(a)
            } else {
                Ports::Range(a, b)
            };
            matches.push(Match::Dport(l4_of(p)?, ports));
        }
        (Some(p), _, _) => matches.push(Match::L4proto(match p {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            _ => return None,
        })),
        (None, _, _) => {}
    }
    Some(Rule::new(matches, vec![Action::Accept]).comment(format!("rule {}", short(&r.id))))
}

/// A server's security groups (Huawei semantics): stateful; each direction allows only what a
/// rule allows; a rule with a remote group matches the addresses of that group's ports.
fn security_groups(d: &Desired, server_id: &str) -> NftTable {
    let mut t = NftTable::new(Family::Inet, "vpcep_sg");
    let Some(srv) = d.servers.get(server_id) else {
        return t;
    };
    let groups: BTreeSet<&String> = srv.spec.security_groups.iter().collect();
    let rules: Vec<&SecurityGroupRule> = d
        .rules
        .values()
        .map(|r| &r.spec)
        .filter(|r| groups.contains(&r.security_group_id))
        .collect();
    let members = |group: &str| -> Vec<Ipv4Addr> {
        d.ports
            .values()
            .filter(|p| p.spec.security_groups.iter().any(|g| g == group))
            .filter_map(|p| p.spec.ip_address.parse().ok())
            .collect()
    };
    for (name, hook, dir) in [
        ("in", Hook::Input, Direction::Ingress),
        ("out", Hook::Output, Direction::Egress),
    ] {
        let lo = match dir {
            Direction::Ingress => Match::FromLoopback,
            Direction::Egress => Match::ToLoopback,
        };
        let mut chain = Chain::base(
            name,
            ChainKind::Filter,
            hook,
            Priority::Filter,
            Policy::Drop,
        )
        .with([
            Rule::new(
                vec![Match::CtState(vec![CtState::Established, CtState::Related])],
                vec![Action::Accept],
            ),
            Rule::new(
                vec![Match::CtState(vec![CtState::Invalid])],
                vec![Action::Drop],
            ),
            Rule::new(vec![lo], vec![Action::Accept]),
        ]);
        chain.rules.extend(
            rules
                .iter()
                .filter(|r| r.direction == dir)
                .filter_map(|r| security_group_rule(r, members)),
        );
        t.chains.push(chain);
    }
    t
}
