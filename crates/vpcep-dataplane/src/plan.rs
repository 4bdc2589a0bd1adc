//! Desired state → kernel plan. Pure: the same desired state (and leg assignments) always gives
//! the same plan, so the agent applies only namespaces whose plan changed.
//!
//! Layout (see `docs/dataplane.md`): a VPC is a router namespace with one bridge per subnet;
//! servers, load balancers and sites are namespaces attached by veth; one gateway namespace holds
//! a leg into each consumer subnet (endpoint IPs as /32s) and a routed leg into each provider VPC,
//! and translates with nftables maps keyed by conntrack zone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use vpcep_core::inventory::{Direction, SecurityGroupRule};
use vpcep_core::model::{Protocol, ServiceStatus};

use crate::desired::Desired;
use crate::naming::{Namespaces, bridge, consumer_leg, port_peer, provider_leg, short, site_peer};
use crate::nft::{Elem, NftSet, NftTable, Val};

/// Link addresses of routed legs (gateway ↔ provider router, router ↔ site): /32s with onlink
/// routes, so they never collide with any VPC's addresses.
pub const LINK_NEAR: &str = "169.254.0.1";
pub const LINK_FAR: &str = "169.254.0.2";
/// Routing table (= fwmark) bases in the gateway.
pub const CONSUMER_TABLE_BASE: u32 = 10_000;
pub const PROVIDER_TABLE_BASE: u32 = 20_000;
/// Consumer legs per gateway shard: the kernel scans `ip rule` linearly (reference
/// `dataplane.md`), so a shard stays near the measured cheap size.
pub const LEGS_PER_SHARD: u16 = 100;
/// Shards share 198.19.128.0/20: each owns a /25 (128 SNAT addresses, one per leg).
pub const MAX_SHARDS: u32 = 32;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    Bridge {
        name: String,
    },
    /// A veth whose `name` end is in this namespace and `peer` end in `peer_ns` (enslaved to
    /// `peer_master` there when set).
    Veth {
        name: String,
        peer_ns: String,
        peer: String,
        peer_master: Option<String>,
        mac: Option<String>,
    },
}

impl Link {
    pub fn name(&self) -> &str {
        match self {
            Link::Bridge { name } | Link::Veth { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsPlan {
    pub sysctls: Vec<(String, String)>,
    pub links: Vec<Link>,
    /// (device, address/prefix)
    pub addrs: BTreeSet<(String, String)>,
    /// `ip route replace` arguments, e.g. `default via 10.0.0.1 dev eth0`.
    pub routes: BTreeSet<String>,
    /// fwmark → table rules.
    pub rules: BTreeSet<u32>,
    /// Look up the `local` table after the fwmark rules instead of first (gateways): a backend
    /// may have the very address of an endpoint in another VPC (identical CIDRs), and a DNATed
    /// packet to it must follow its mark, not be delivered to the gateway itself.
    pub local_table_last: bool,
    /// Announce new addresses with a gratuitous ARP (gateways: a consumer that asked for an
    /// endpoint's IP before it existed learns it at once instead of on its next retry, 1 s on).
    pub announce: bool,
    /// Our nftables table(s) for this namespace, as one `nft -f` script (replaces atomically).
    pub nft: Option<NftTable>,
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveEndpoint {
    pub id: String,
    pub subnet: String,
    pub shard: u32,
    pub zone: u16,
    pub ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub namespaces: BTreeMap<String, NsPlan>,
    pub live: BTreeSet<LiveEndpoint>,
    /// Objects that cannot be realised, with why (reported `failed`).
    pub problems: BTreeMap<String, (String, String)>,
}

/// The source address providers see for consumer leg `zone` of `shard`.
pub fn snat_address(shard: u32, zone: u16) -> Ipv4Addr {
    let base: u32 = u32::from(vpcep_core::validate::snat_range().network());
    Ipv4Addr::from(base + shard * 128 + u32::from(zone))
}

/// The part of 198.19.128.0/20 a shard's translated traffic comes from.
pub fn shard_snat_net(shard: u32) -> String {
    let base: u32 = u32::from(vpcep_core::validate::snat_range().network());
    format!("{}/25", Ipv4Addr::from(base + shard * 128))
}

fn prefix_of(cidr: &str) -> u8 {
    cidr.parse::<Ipv4Net>()
        .map(|n| n.prefix_len())
        .unwrap_or(32)
}

fn first_host(cidr: &str) -> Option<Ipv4Addr> {
    cidr.parse::<Ipv4Net>().ok().and_then(|n| n.hosts().next())
}

/// Build the plan. `legs` is updated: legs no longer needed are released, new ones assigned.
pub fn plan(d: &Desired, names: &Namespaces, legs: &mut Legs) -> Plan {
    let mut p = Plan::default();
    let router_sysctls = || {
        vec![
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
            ("net.ipv4.conf.all.rp_filter".to_string(), "0".to_string()),
            (
                "net.ipv4.conf.default.rp_filter".to_string(),
                "0".to_string(),
            ),
        ]
    };

    // --- VPC routers and subnet bridges ---------------------------------------------------
    for vpc_id in d.vpcs.keys() {
        let ns = p.namespaces.entry(names.router(vpc_id)).or_default();
        ns.sysctls = router_sysctls();
    }
    for (sid, s) in &d.subnets {
        let Some(ns) = p.namespaces.get_mut(&names.router(&s.spec.vpc_id)) else {
            continue;
        };
        let br = bridge(sid);
        ns.links.push(Link::Bridge { name: br.clone() });
        ns.addrs.insert((
            br,
            format!("{}/{}", s.spec.gateway_ip, prefix_of(&s.spec.cidr)),
        ));
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
            let Some(subnet) = d.subnets.get(&port.spec.subnet_id) else {
                continue;
            };
            let dev = format!("eth{i}");
            ns.links.push(Link::Veth {
                name: dev.clone(),
                peer_ns: router.clone(),
                peer: port_peer(port_id),
                peer_master: Some(bridge(&subnet.spec.id)),
                mac: Some(port.spec.mac_address.clone()),
            });
            ns.addrs.insert((
                dev.clone(),
                format!("{}/{}", port.spec.ip_address, prefix_of(&subnet.spec.cidr)),
            ));
            if i == 0 {
                ns.routes
                    .insert(format!("default via {} dev {dev}", subnet.spec.gateway_ip));
            }
        }
        ns.nft = Some(security_groups(d, srv_id));
        p.namespaces.insert(names.server(srv_id), ns);
    }

    // --- load balancers -------------------------------------------------------------------
    for (lb_id, lb) in &d.lbs {
        let router = names.router(&lb.spec.vpc_id);
        let (Some(subnet), true) = (
            d.subnets.get(&lb.spec.subnet_id),
            p.namespaces.contains_key(&router),
        ) else {
            continue;
        };
        let mut ns = NsPlan {
            sysctls: router_sysctls(),
            ..Default::default()
        };
        let mac = d
            .ports
            .get(&lb.spec.vip_port_id)
            .map(|p| p.spec.mac_address.clone());
        ns.links.push(Link::Veth {
            name: "eth0".into(),
            peer_ns: router.clone(),
            peer: port_peer(&lb.spec.vip_port_id),
            peer_master: Some(bridge(&subnet.spec.id)),
            mac,
        });
        ns.addrs.insert((
            "eth0".into(),
            format!("{}/{}", lb.spec.vip_address, prefix_of(&subnet.spec.cidr)),
        ));
        ns.routes
            .insert(format!("default via {} dev eth0", subnet.spec.gateway_ip));
        // Clients inside the VPC reach the VIP directly: spread, and masquerade so replies come
        // back through the balancer.
        let mut body = String::from(
            "  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n",
        );
        body += &lb_rules(&lb.spec.vip_address, &lb.spec.listeners, "");
        body += "  }\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n    ct status dnat masquerade\n  }\n";
        ns.nft = Some(NftTable {
            body,
            ..NftTable::new("ip", "vpcep_lb")
        });
        p.namespaces.insert(names.lb(lb_id), ns);
    }

    // --- sites ----------------------------------------------------------------------------
    for (site_id, site) in &d.sites {
        let router_name = names.router(&site.spec.vpc_id);
        let Some(vpc) = d.vpcs.get(&site.spec.vpc_id) else {
            continue;
        };
        let Some(router) = p.namespaces.get_mut(&router_name) else {
            continue;
        };
        let peer = site_peer(site_id);
        router
            .addrs
            .insert((peer.clone(), format!("{LINK_NEAR}/32")));
        router.routes.insert(format!(
            "{} via {LINK_FAR} dev {peer} onlink",
            site.spec.cidr
        ));
        let mut ns = NsPlan::default();
        ns.links.push(Link::Veth {
            name: "vpn0".into(),
            peer_ns: router_name.clone(),
            peer,
            peer_master: None,
            mac: None,
        });
        ns.addrs.insert(("vpn0".into(), format!("{LINK_FAR}/32")));
        if let Some(h) = first_host(&site.spec.cidr) {
            ns.addrs.insert(("lo".into(), format!("{h}/32")));
            ns.routes.insert(format!(
                "{} via {LINK_NEAR} dev vpn0 onlink src {h}",
                vpc.spec.cidr
            ));
        }
        p.namespaces.insert(names.site(site_id), ns);
    }

    // --- endpoints and the gateway shards --------------------------------------------------
    // (consumer subnet, provider VPC) of every endpoint with at least one mapping.
    let mut paths: Vec<(&str, &str)> = Vec::new();
    let mut consumer_subnets: BTreeSet<&str> = BTreeSet::new();
    let mut live_pending: Vec<(String, String, String)> = Vec::new();
    for (eid, e) in &d.endpoints {
        if !e.spec.status.carries_traffic() {
            continue;
        }
        let Some(svc) = d.services.get(&e.spec.service_id) else {
            p.problems.insert(
                eid.clone(),
                (
                    "EndPoint.2004".into(),
                    "The endpoint service is unavailable.".into(),
                ),
            );
            continue;
        };
        if matches!(
            svc.spec.status,
            ServiceStatus::Deleting | ServiceStatus::Failed
        ) {
            p.problems.insert(
                eid.clone(),
                (
                    "EndPoint.2004".into(),
                    "The endpoint service is unavailable.".into(),
                ),
            );
            continue;
        }
        if svc.spec.backend.is_none() {
            continue;
        }
        if !d.subnets.contains_key(&e.spec.subnet_id) || !d.vpcs.contains_key(&svc.spec.vpc_id) {
            continue;
        }
        consumer_subnets.insert(&e.spec.subnet_id);
        if !svc.spec.ports.is_empty() {
            paths.push((&e.spec.subnet_id, &svc.spec.vpc_id));
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
    for (eid, subnet, ip) in live_pending {
        if let Some((shard, zone)) = legs.zones.get(&subnet) {
            p.live.insert(LiveEndpoint {
                id: eid,
                subnet,
                shard: *shard,
                zone: *zone,
                ip,
            });
        }
    }

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
    let shards: BTreeSet<u32> = legs.zones.values().map(|(sh, _)| *sh).collect();
    for shard in shards {
        let live = live_of.get(&shard).map(Vec::as_slice).unwrap_or_default();
        let mut gw = NsPlan {
            sysctls: vec![
                ("net.ipv4.ip_forward".into(), "1".into()),
                ("net.ipv4.conf.all.rp_filter".into(), "0".into()),
                ("net.ipv4.conf.default.rp_filter".into(), "0".into()),
                ("net.ipv4.conf.all.arp_ignore".into(), "1".into()),
                // A reply from a backend whose address equals an endpoint's keeps that source
                // (null DNAT binding): it must not be dropped as a martian.
                ("net.ipv4.conf.all.accept_local".into(), "1".into()),
            ],
            local_table_last: true,
            announce: true,
            ..Default::default()
        };
        let mut t = GatewaySets::default();
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
                peer_ns: router,
                peer: rname,
                peer_master: Some(bridge(sid)),
                mac: None,
            });
            let table = CONSUMER_TABLE_BASE + u32::from(*zone);
            gw.routes
                .insert(format!("{} dev {gname} table {table}", subnet.spec.cidr));
            gw.rules.insert(table);
            let z = Val::Zone(*zone);
            t.set("zone_of_if")
                .insert(Elem::map(vec![Val::Ifname(gname.clone())], vec![z.clone()]));
            t.set("consumer_ifs")
                .insert(Elem::key(vec![Val::Ifname(gname)]));
            t.set("table_of_zone")
                .insert(Elem::map(vec![z.clone()], vec![Val::Mark(table)]));
            t.set("snat_of_zone").insert(Elem::map(
                vec![z],
                vec![Val::Ip(snat_address(shard, *zone))],
            ));
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
            gw.links.push(Link::Veth {
                name: gname.clone(),
                peer_ns: router_name.clone(),
                peer: rname.clone(),
                peer_master: None,
                mac: None,
            });
            gw.addrs.insert((gname.clone(), format!("{LINK_NEAR}/32")));
            let table = PROVIDER_TABLE_BASE + k;
            gw.routes.insert(format!(
                "{} via {LINK_FAR} dev {gname} onlink table {table}",
                vpc.spec.cidr
            ));
            gw.rules.insert(table);
            t.set("provider_ifs")
                .insert(Elem::key(vec![Val::Ifname(gname)]));
            if let Some(router) = p.namespaces.get_mut(&router_name) {
                router
                    .addrs
                    .insert((rname.clone(), format!("{LINK_FAR}/32")));
                router.routes.insert(format!(
                    "{} via {LINK_NEAR} dev {rname} onlink",
                    shard_snat_net(shard)
                ));
            }
        }
        // Each live endpoint: its /32 on the leg and its elements (see `endpoint_parts`).
        for l in live {
            let Some(e) = d.endpoints.get(&l.id) else {
                continue;
            };
            let Some(svc) = d.services.get(&e.spec.service_id) else {
                continue;
            };
            let k = provider_table
                .get(&(l.shard, svc.spec.vpc_id.as_str()))
                .copied()
                .unwrap_or(0);
            let parts = endpoint_parts(l, &e.spec, &svc.spec, k);
            gw.addrs.insert(parts.addr);
            for (set, elem) in parts.elems {
                t.set(set).insert(elem);
            }
        }
        gw.nft = Some(gateway_table(t));
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
            let rules = lb_rules(&lb.spec.vip_address, &lb.spec.listeners, "iifname \"h*\" ");
            let table = router.nft.get_or_insert_with(|| NftTable {
                body:
                    "  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n"
                        .into(),
                ..NftTable::new("ip", "vpcep_router")
            });
            table.body += &rules;
        }
    }
    for ns in p.namespaces.values_mut() {
        if let Some(t) = ns.nft.as_mut()
            && t.name == "vpcep_router"
            && !t.body.ends_with("}\n")
        {
            t.body += "  }\n";
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
            p.problems.insert(
                sid.clone(),
                ("EndPoint.3008".into(), "The port does not exist.".into()),
            );
        }
    }
    p
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
    before: &BTreeMap<String, Option<vpcep_core::model::Endpoint>>,
) -> Option<BTreeSet<String>> {
    let mut dirty = BTreeSet::new();
    let provider = |shard: u32, vpc: &str| legs.providers.get(&(shard, vpc.to_string())).copied();
    for (id, old) in before {
        if p.problems.contains_key(id) {
            return None;
        }
        // Live endpoints are ordered by id first: the smallest entry with this id, if any.
        let probe = LiveEndpoint {
            id: id.clone(),
            subnet: String::new(),
            shard: 0,
            zone: 0,
            ip: String::new(),
        };
        let found = p
            .live
            .range(probe..)
            .next()
            .filter(|l| &l.id == id)
            .cloned();
        if let Some(l) = found {
            let old = old.as_ref()?;
            let svc = &d.services.get(&old.service_id)?.spec;
            let parts = endpoint_parts(&l, old, svc, provider(l.shard, &svc.vpc_id)?);
            let ns = names.gateway(l.shard);
            let gw = p.namespaces.get_mut(&ns)?;
            let leg = parts.addr.0.clone();
            parts.place(gw, false)?;
            if !gw.addrs.iter().any(|(dev, _)| *dev == leg) {
                return None; // the last endpoint of its subnet: the leg goes
            }
            p.live.remove(&l);
            dirty.insert(ns);
        }
        let Some(e) = d.endpoints.get(id) else {
            continue;
        };
        if !e.spec.status.carries_traffic() {
            continue;
        }
        let svc = &d.services.get(&e.spec.service_id)?.spec;
        if matches!(svc.status, ServiceStatus::Deleting | ServiceStatus::Failed)
            || svc.backend.is_none()
            || svc.ports.is_empty()
            || !d.subnets.contains_key(&e.spec.subnet_id)
            || !d.vpcs.contains_key(&svc.vpc_id)
        {
            return None;
        }
        let (shard, zone) = *legs.zones.get(&e.spec.subnet_id)?;
        let l = LiveEndpoint {
            id: id.clone(),
            subnet: e.spec.subnet_id.clone(),
            shard,
            zone,
            ip: e.spec.ip.clone(),
        };
        let parts = endpoint_parts(&l, &e.spec, svc, provider(shard, &svc.vpc_id)?);
        let ns = names.gateway(shard);
        parts.place(p.namespaces.get_mut(&ns)?, true)?;
        p.live.insert(l);
        dirty.insert(ns);
    }
    Some(dirty)
}

/// DNAT rules of one load balancer's listeners, spreading connections round-robin.
fn lb_rules(vip: &str, listeners: &[vpcep_core::inventory::Listener], prefix: &str) -> String {
    let mut s = String::new();
    for l in listeners {
        let proto = match l.protocol {
            Protocol::TCP => "tcp",
            Protocol::UDP => "udp",
        };
        match l.members.len() {
            0 => {}
            1 => {
                let m = &l.members[0];
                let _ = writeln!(
                    s,
                    "    {prefix}ip daddr {vip} {proto} dport {} dnat to {}:{}",
                    l.port, m.address, m.port
                );
            }
            n => {
                let elems: Vec<String> = l
                    .members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| format!("{i} : {} . {}", m.address, m.port))
                    .collect();
                let _ = writeln!(
                    s,
                    "    {prefix}ip daddr {vip} {proto} dport {} dnat ip to numgen inc mod {n} map {{ {} }}",
                    l.port,
                    elems.join(", ")
                );
            }
        }
    }
    s
}

/// Elements of the gateway's sets and maps by set name (declared in `gateway_table`):
/// `zone_of_if` (consumer leg → conntrack zone), `consumer_ifs`, `provider_ifs`,
/// `ep_tcp`/`ep_udp` (zone . endpoint ip . port → backend ip . server port),
/// `prov_tcp`/`prov_udp` (same key → mark of the provider leg's routing table), `table_of_zone`
/// (zone → consumer leg's table, for replies), `snat_of_zone` (zone → source providers see),
/// `ep_restricted`/`ep_allow` (endpoint source whitelists).
#[derive(Debug, Default)]
struct GatewaySets(BTreeMap<&'static str, BTreeSet<Elem>>);

impl GatewaySets {
    fn set(&mut self, name: &'static str) -> &mut BTreeSet<Elem> {
        self.0.entry(name).or_default()
    }
    fn take(&mut self, name: &'static str) -> BTreeSet<Elem> {
        self.0.remove(name).unwrap_or_default()
    }
}

/// What one live endpoint puts into its gateway shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointParts {
    /// (consumer leg, `ip/32`)
    pub addr: (String, String),
    /// (set name, element)
    pub elems: Vec<(&'static str, Elem)>,
}

impl EndpointParts {
    /// Put these parts into (`present`) or take them out of a gateway's plan; `None` when the
    /// plan lacks the table or a set.
    fn place(self, gw: &mut NsPlan, present: bool) -> Option<()> {
        let table = gw.nft.as_mut()?;
        for (set, e) in self.elems {
            let elements = &mut table.sets.get_mut(set)?.elements;
            if present {
                elements.insert(e);
            } else {
                elements.remove(&e);
            }
        }
        if present {
            gw.addrs.insert(self.addr);
        } else {
            gw.addrs.remove(&self.addr);
        }
        Some(())
    }
}

/// The one place that decides an endpoint's kernel contribution, used by the full plan and by
/// [`patch_endpoints`] alike. `provider_table` is the index of its (shard, provider VPC) leg.
pub fn endpoint_parts(
    l: &LiveEndpoint,
    e: &vpcep_core::model::Endpoint,
    svc: &vpcep_core::model::EndpointService,
    provider_table: u32,
) -> EndpointParts {
    let addr = (consumer_leg(&l.subnet).0, format!("{}/32", l.ip));
    let mut elems = Vec::new();
    let Ok(ip) = l.ip.parse::<Ipv4Addr>() else {
        return EndpointParts { addr, elems };
    };
    if let Some(backend) = svc
        .backend
        .as_ref()
        .and_then(|b| b.ip.parse::<Ipv4Addr>().ok())
    {
        for m in &svc.ports {
            let key = vec![Val::Zone(l.zone), Val::Ip(ip), Val::Port(m.client_port)];
            let (ep, prov) = match m.protocol {
                Protocol::TCP => ("ep_tcp", "prov_tcp"),
                Protocol::UDP => ("ep_udp", "prov_udp"),
            };
            elems.push((
                ep,
                Elem::map(
                    key.clone(),
                    vec![Val::Ip(backend), Val::Port(m.server_port)],
                ),
            ));
            elems.push((
                prov,
                Elem::map(key, vec![Val::Mark(PROVIDER_TABLE_BASE + provider_table)]),
            ));
        }
    }
    // Endpoint source whitelist (`enable_whitelist`): new connections to a restricted endpoint
    // must come from one of its allowed sources.
    if e.enable_whitelist {
        let key = vec![Val::Zone(l.zone), Val::Ip(ip)];
        elems.push(("ep_restricted", Elem::key(key.clone())));
        for src in &e.whitelist {
            let net = src
                .parse::<Ipv4Net>()
                .or_else(|_| src.parse::<Ipv4Addr>().map(Ipv4Net::from));
            if let Ok(net) = net {
                let mut k = key.clone();
                k.push(Val::Net(net));
                elems.push(("ep_allow", Elem::key(k)));
            }
        }
    }
    EndpointParts { addr, elems }
}

/// The gateway's fixed ruleset; endpoints and legs are only elements of its sets.
fn gateway_table(mut t: GatewaySets) -> NftTable {
    let mut b = String::new();
    let decls: [(&'static str, &str, BTreeSet<Elem>, bool); 11] = [
        (
            "zone_of_if",
            "map zone_of_if { typeof iifname : ct zone; }",
            t.take("zone_of_if"),
            false,
        ),
        (
            "consumer_ifs",
            "set consumer_ifs { type ifname; }",
            t.take("consumer_ifs"),
            false,
        ),
        (
            "provider_ifs",
            "set provider_ifs { type ifname; }",
            t.take("provider_ifs"),
            false,
        ),
        (
            "ep_tcp",
            "map ep_tcp { typeof ct zone . ip daddr . tcp dport : ip daddr . tcp dport; }",
            t.take("ep_tcp"),
            false,
        ),
        (
            "prov_tcp",
            "map prov_tcp { typeof ct zone . ip daddr . tcp dport : meta mark; }",
            t.take("prov_tcp"),
            false,
        ),
        (
            "ep_udp",
            "map ep_udp { typeof ct zone . ip daddr . udp dport : ip daddr . udp dport; }",
            t.take("ep_udp"),
            false,
        ),
        (
            "prov_udp",
            "map prov_udp { typeof ct zone . ip daddr . udp dport : meta mark; }",
            t.take("prov_udp"),
            false,
        ),
        (
            "table_of_zone",
            "map table_of_zone { typeof ct zone : meta mark; }",
            t.take("table_of_zone"),
            false,
        ),
        (
            "snat_of_zone",
            "map snat_of_zone { typeof ct zone : ip saddr; }",
            t.take("snat_of_zone"),
            false,
        ),
        (
            "ep_restricted",
            "set ep_restricted { typeof ct zone . ip daddr; }",
            t.take("ep_restricted"),
            false,
        ),
        (
            "ep_allow",
            "set ep_allow { typeof ct zone . ip daddr . ip saddr; flags interval; }",
            t.take("ep_allow"),
            true,
        ),
    ];
    let mut sets = BTreeMap::new();
    for (name, decl, elements, interval) in decls {
        let _ = writeln!(b, "  {decl}");
        sets.insert(name, NftSet { interval, elements });
    }
    b += "  chain raw_pre {\n    type filter hook prerouting priority raw; policy accept;\n    ct original zone set iifname map @zone_of_if\n  }\n";
    b += "  chain mangle_pre {\n    type filter hook prerouting priority mangle; policy accept;\n    ct direction reply meta mark set ct zone map @table_of_zone\n    ct direction original ct mark != 0 meta mark set ct mark\n    iifname @consumer_ifs ct state new ct zone . ip daddr @ep_restricted ct zone . ip daddr . ip saddr != @ep_allow drop\n  }\n";
    b += "  chain nat_pre {\n    type nat hook prerouting priority dstnat; policy accept;\n";
    for proto in ["tcp", "udp"] {
        let _ = writeln!(
            b,
            "    iifname @consumer_ifs meta l4proto {proto} ct mark set ct zone . ip daddr . {proto} dport map @prov_{proto} meta mark set ct mark dnat ip to ct zone . ip daddr . {proto} dport map @ep_{proto}"
        );
    }
    b += "  }\n";
    b += "  chain nat_post {\n    type nat hook postrouting priority srcnat; policy accept;\n    ct mark != 0 oifname @provider_ifs snat ip to ct zone map @snat_of_zone\n  }\n";
    // Endpoint flows are recognised by their connection mark (set with the DNAT), not by the
    // DNAT status bit: a backend whose address and port equal the endpoint's gets a null
    // binding that never sets that bit.
    // A consumer packet that matches no live flow (its endpoint was rejected or deleted and its
    // conntrack entry cut) gets a reset, so the client learns at once instead of hanging.
    b += "  chain forward_f {\n    type filter hook forward priority filter; policy drop;\n    ct state established,related accept\n    iifname @consumer_ifs ct mark != 0 accept\n    iifname @consumer_ifs meta l4proto tcp reject with tcp reset\n  }\n";
    b += "  chain input_f {\n    type filter hook input priority filter; policy drop;\n  }\n";
    NftTable {
        body: b,
        sets,
        ..NftTable::new("ip", "vpcep")
    }
}

/// A server's security groups (Huawei semantics): stateful; each direction allows only what a
/// rule allows; a rule with a remote group matches the addresses of that group's ports.
fn security_groups(d: &Desired, server_id: &str) -> NftTable {
    let Some(srv) = d.servers.get(server_id) else {
        return NftTable::new("inet", "vpcep_sg");
    };
    let groups: BTreeSet<&String> = srv.spec.security_groups.iter().collect();
    let rules: Vec<&SecurityGroupRule> = d
        .rules
        .values()
        .map(|r| &r.spec)
        .filter(|r| groups.contains(&r.security_group_id))
        .collect();
    let members = |group: &str| -> Vec<String> {
        d.ports
            .values()
            .filter(|p| p.spec.security_groups.iter().any(|g| g == group))
            .map(|p| p.spec.ip_address.clone())
            .collect()
    };
    let mut chains = String::new();
    for (chain, hook, dir, addr) in [
        ("in", "input", Direction::Ingress, "saddr"),
        ("out", "output", Direction::Egress, "daddr"),
    ] {
        let _ = writeln!(
            chains,
            "  chain {chain} {{\n    type filter hook {hook} priority filter; policy drop;"
        );
        chains += "    ct state established,related accept\n    ct state invalid drop\n";
        let _ = writeln!(
            chains,
            "    {}f \"lo\" accept",
            if hook == "input" { "ii" } else { "oi" }
        );
        for r in rules.iter().filter(|r| r.direction == dir) {
            let mut m = String::new();
            if let Some(prefix) = &r.remote_ip_prefix {
                let _ = write!(m, "ip {addr} {prefix} ");
            }
            if let Some(g) = &r.remote_group_id {
                let ips = members(g);
                if ips.is_empty() {
                    continue;
                }
                let _ = write!(m, "ip {addr} {{ {} }} ", ips.join(", "));
            }
            match (r.protocol.as_deref(), r.port_range_min, r.port_range_max) {
                (Some(p @ ("tcp" | "udp")), Some(a), Some(b)) if a == b => {
                    let _ = write!(m, "{p} dport {a} ");
                }
                (Some(p @ ("tcp" | "udp")), Some(a), Some(b)) => {
                    let _ = write!(m, "{p} dport {a}-{b} ");
                }
                (Some(p), _, _) => {
                    let _ = write!(m, "meta l4proto {p} ");
                }
                _ => {}
            }
            let _ = writeln!(chains, "    {m}accept comment \"rule {}\"", short(&r.id));
        }
        chains += "  }\n";
    }
    NftTable {
        body: chains,
        ..NftTable::new("inet", "vpcep_sg")
    }
}
