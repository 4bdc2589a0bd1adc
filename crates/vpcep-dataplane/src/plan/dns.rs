//! What private DNS serves, derived from the desired state (pure): the names each VPC sees, the
//! sockets the resolver listens on, and which translated source belongs to which VPC.
//!
//! - **Every VPC's resolver** answers at [`RESOLVER_ADDR`] inside the VPC: the address sits on the
//!   loopback of the VPC's router namespace, which every host already reaches through its subnet
//!   gateway, and the resolver's socket for that VPC is opened inside that namespace. The socket a
//!   query arrives on says which VPC asked, so two VPCs with identical CIDRs never see each
//!   other's names.
//! - **Names**: an endpoint's `dns_names` while it is `accepted` (traffic flows; a name never
//!   resolves before its path works), and every lab host as `{host}.{vpc}.{region}.internal` (its
//!   primary NIC's address), each in its own VPC's view.
//! - **The DNS cloud service** (the public service tagged `vpcep.builtin=dns`, see
//!   `vpcep_core::builtin`) has the resolver itself
//!   as backend: a socket in its backend host's namespace, on the host's address, port 53.
//!   Queries arrive there through consumers' DNS endpoints, translated to a 198.19.128.0/20
//!   source that is unique per consumer subnet leg; [`DnsPlan::snat`] maps each back to the
//!   consumer's VPC, whose view answers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use vpcep_core::model::EndpointStatus;

use super::desired::{Desired, EndpointSpec};
use super::naming::Namespaces;
use super::{Legs, snat_address};

/// Where a VPC's hosts reach its resolver (the address AWS also uses for its in-VPC resolver).
pub const RESOLVER_ADDR: Ipv4Addr = vpcep_core::naming::VPC_RESOLVER;

pub use vpcep_core::builtin::{DNS_PORT, is_builtin_dns};

/// One A record of one VPC's view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Name {
    pub vpc: String,
    pub name: String,
    pub ip: Ipv4Addr,
}

/// A resolver socket pair (UDP and TCP): in namespace `ns`, on `addr:53`, answering from the
/// view of `view` (a VPC id; the cloud service's host answers mostly through [`DnsPlan::snat`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listener {
    pub ns: String,
    pub addr: Ipv4Addr,
    pub view: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsPlan {
    pub names: Vec<Name>,
    /// Listeners by a stable key (`vpc:{id}` or `service:{id}`).
    pub listeners: BTreeMap<String, Listener>,
    /// A consumer leg's translated source address → its VPC.
    pub snat: BTreeMap<Ipv4Addr, String>,
}

/// `s` as a DNS label: lower case, `_` and spaces as `-`, nothing else outside `[a-z0-9-]`,
/// no leading or trailing `-`, at most 63 characters. `None` when nothing usable is left.
pub fn label(s: &str) -> Option<String> {
    let mapped: String = s
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            '_' | ' ' | '.' => Some('-'),
            _ => None,
        })
        .collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// The key of a VPC's resolver sockets (what [`vpcep_dns::Probe::answers`] takes).
pub fn vpc_listener_key(vpc_id: &str) -> String {
    format!("vpc:{vpc_id}")
}

/// A lab host's private name: `{host}.{vpc}.{region}.internal`.
pub fn host_name(host: &str, vpc: &str, region: &str) -> Option<String> {
    Some(format!(
        "{}.{}.{}.internal",
        label(host)?,
        label(vpc)?,
        label(region)?
    ))
}

/// The names `e` puts in its VPC's view: its `dns_names` while it is `accepted`, none otherwise.
pub fn endpoint_names(d: &Desired, e: &EndpointSpec) -> Vec<Name> {
    if e.status != EndpointStatus::Accepted || !d.vpcs.contains_key(&*e.vpc_id) {
        return Vec::new();
    }
    let Ok(ip) = e.ip.parse::<Ipv4Addr>() else {
        return Vec::new();
    };
    e.dns_names
        .iter()
        .map(|name| Name {
            vpc: e.vpc_id.to_string(),
            name: name.clone(),
            ip,
        })
        .collect()
}

/// How many `accepted` endpoints each subnet holds: the gateway legs (and so the translated-source
/// map) change only when a subnet's count goes from 0 to 1 or back.
pub fn live_subnets(d: &Desired) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in d.endpoints.values() {
        if e.spec.status == EndpointStatus::Accepted {
            *counts.entry(e.spec.subnet_id.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// The DNS side of the desired state. `legs` are the gateway legs as programmed (consumer
/// subnet → shard and zone), for the translated-source map.
pub fn dns_plan(d: &Desired, names: &Namespaces, legs: &Legs, region: &str) -> DnsPlan {
    let mut p = DnsPlan::default();
    for vpc_id in d.vpcs.keys() {
        p.listeners.insert(
            vpc_listener_key(vpc_id),
            Listener {
                ns: names.router(vpc_id),
                addr: RESOLVER_ADDR,
                view: vpc_id.clone(),
            },
        );
    }
    for e in d.endpoints.values() {
        p.names.extend(endpoint_names(d, &e.spec));
    }
    for srv in d.servers.values().map(|v| &v.spec) {
        let (Some(vpc), Some(nic)) = (d.vpcs.get(&srv.vpc_id), srv.nics.first()) else {
            continue;
        };
        let Some(ip) = d
            .ports
            .get(nic)
            .and_then(|p| p.spec.ip_address.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        if let Some(name) = host_name(&srv.name, &vpc.spec.name, region) {
            p.names.push(Name {
                vpc: srv.vpc_id.clone(),
                name,
                ip,
            });
        }
    }
    // The cloud service's backend host: the server whose NIC is the service's port.
    for (sid, s) in &d.services {
        if !is_builtin_dns(&s.spec) {
            continue;
        }
        let Some(port) = d.ports.get(&s.spec.port_id) else {
            continue;
        };
        let Ok(addr) = port.spec.ip_address.parse::<Ipv4Addr>() else {
            continue;
        };
        let host = d
            .servers
            .iter()
            .find(|(_, srv)| srv.spec.nics.contains(&s.spec.port_id));
        if let Some((srv_id, _)) = host {
            p.listeners.insert(
                format!("service:{sid}"),
                Listener {
                    ns: names.server(srv_id),
                    addr,
                    view: s.spec.vpc_id.clone(),
                },
            );
        }
    }
    for (subnet_id, (shard, zone)) in &legs.zones {
        if let Some(subnet) = d.subnets.get(subnet_id) {
            p.snat
                .insert(snat_address(*shard, *zone), subnet.spec.vpc_id.clone());
        }
    }
    p.names.sort();
    p.names.dedup();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_dns_rules() {
        assert_eq!(label("Web_01").as_deref(), Some("web-01"));
        assert_eq!(label("-a-").as_deref(), Some("a"));
        assert_eq!(label("数据库").as_deref(), None);
        assert_eq!(label(&"x".repeat(80)).map(|l| l.len()), Some(63));
        assert_eq!(
            host_name("Web1", "prod", "cn-north-4").as_deref(),
            Some("web1.prod.cn-north-4.internal")
        );
        assert_eq!(host_name("", "prod", "r"), None);
    }
}
