//! The desired state as the agent knows it: every feed object, typed, kept current from a
//! snapshot plus changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use vpcep_core::agent::{Change, FeedObject, Snapshot};
use vpcep_core::inventory::{
    LoadBalancer, Port, SecurityGroup, SecurityGroupRule, Server, Site, Subnet, Vpc,
};
use vpcep_core::model::{EndpointService, EndpointStatus, Kind, ServiceStatus};

/// What the data plane reads of an endpoint: the feed's `Endpoint` without what only people
/// and the API read (names, descriptions, tags, policies, times), its repeated ids shared.
///
/// Why not the feed's `Endpoint`: the agent keeps every endpoint, and that type is ~500 bytes
/// plus nine strings of its own each (its project, domain, region, service, VPC and subnet ids
/// repeat across thousands of endpoints): at 10,060 endpoints (P4) 10 MB of the agent's heap
/// and 90,000 allocations (heaptrack). This is ~170 bytes and two strings of its own (id, ip);
/// the ids it shares with other endpoints are one `Arc<str>` each ([`Desired::intern`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(from = "EndpointFields")]
pub struct EndpointSpec {
    /// The consumer's project and account (metrics labels, flow records).
    pub project_id: Arc<str>,
    pub domain_id: Arc<str>,
    pub service_id: Arc<str>,
    pub vpc_id: Arc<str>,
    pub subnet_id: Arc<str>,
    pub ip: Arc<str>,
    pub status: EndpointStatus,
    pub enable_dns: bool,
    pub dns_names: Vec<String>,
    pub whitelist: Vec<String>,
    pub enable_whitelist: bool,
}

/// The feed's endpoint fields [`EndpointSpec`] keeps, as they arrive (unknown fields ignored).
#[derive(serde::Deserialize)]
struct EndpointFields {
    project_id: String,
    domain_id: String,
    service_id: String,
    vpc_id: String,
    subnet_id: String,
    ip: String,
    status: EndpointStatus,
    #[serde(default)]
    enable_dns: bool,
    #[serde(default)]
    dns_names: Vec<String>,
    #[serde(default)]
    whitelist: Vec<String>,
    #[serde(default)]
    enable_whitelist: bool,
}

impl From<EndpointFields> for EndpointSpec {
    fn from(f: EndpointFields) -> Self {
        EndpointSpec {
            project_id: f.project_id.into(),
            domain_id: f.domain_id.into(),
            service_id: f.service_id.into(),
            vpc_id: f.vpc_id.into(),
            subnet_id: f.subnet_id.into(),
            ip: f.ip.into(),
            status: f.status,
            enable_dns: f.enable_dns,
            dns_names: f.dns_names,
            whitelist: f.whitelist,
            enable_whitelist: f.enable_whitelist,
        }
    }
}

/// The ids endpoints share, one `Arc<str>` each. Not part of the desired state's value: two
/// states with the same objects are equal whatever their tables hold.
#[derive(Debug, Clone, Default)]
pub struct Interned(BTreeSet<Arc<str>>);

impl PartialEq for Interned {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Interned {
    fn get(&mut self, s: &Arc<str>) -> Arc<str> {
        if let Some(known) = self.0.get(s) {
            return known.clone();
        }
        self.0.insert(s.clone());
        s.clone()
    }
    /// Forget the ids no endpoint holds any more.
    fn prune(&mut self) {
        self.0.retain(|s| Arc::strong_count(s) > 1);
    }
}

/// One object and the generation the control plane gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub generation: u64,
    pub spec: T,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub revision: u64,
    pub vpcs: BTreeMap<String, Versioned<Vpc>>,
    pub subnets: BTreeMap<String, Versioned<Subnet>>,
    pub ports: BTreeMap<String, Versioned<Port>>,
    pub groups: BTreeMap<String, Versioned<SecurityGroup>>,
    pub rules: BTreeMap<String, Versioned<SecurityGroupRule>>,
    pub servers: BTreeMap<String, Versioned<Server>>,
    pub lbs: BTreeMap<String, Versioned<LoadBalancer>>,
    pub sites: BTreeMap<String, Versioned<Site>>,
    pub services: BTreeMap<String, Versioned<EndpointService>>,
    pub endpoints: BTreeMap<String, Versioned<EndpointSpec>>,
    /// The ids the endpoints share ([`EndpointSpec`]).
    pub interned: Interned,
}

fn put<T: DeserializeOwned>(map: &mut BTreeMap<String, Versioned<T>>, o: &FeedObject) {
    match o.decode::<T>() {
        Ok(spec) => {
            map.insert(
                o.id.clone(),
                Versioned {
                    generation: o.generation,
                    spec,
                },
            );
        }
        Err(e) => {
            tracing::warn!(kind = o.kind.as_str(), id = o.id, error = %e, "cannot decode feed object; ignored")
        }
    }
}

/// An object as the agent has it and as a change brings it (`None` if either is missing or the
/// new one does not decode).
fn old_and_new<'a, T: DeserializeOwned>(
    map: &'a BTreeMap<String, Versioned<T>>,
    id: &str,
    o: &FeedObject,
) -> Option<(&'a T, T)> {
    let old = &map.get(id)?.spec;
    o.decode().ok().map(|new| (old, new))
}

/// True when the object changed only in what the agent reports back (status, fault, time).
fn only_status_moved<T: serde::Serialize>(
    map: &BTreeMap<String, Versioned<T>>,
    id: &str,
    o: &FeedObject,
) -> bool {
    let Some(old) = map.get(id) else {
        return false;
    };
    let Ok(serde_json::Value::Object(mut old)) = serde_json::to_value(&old.spec) else {
        return false;
    };
    let Ok(serde_json::Value::Object(mut new)) = o.decode() else {
        return false;
    };
    for reported in ["status", "fault", "updated_ms"] {
        old.remove(reported);
        new.remove(reported);
    }
    old == new
}

impl Desired {
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let mut d = Desired {
            revision: s.revision,
            ..Default::default()
        };
        for o in &s.objects {
            d.upsert(o);
        }
        d.compact();
        d
    }

    /// Rebuild every map with full nodes. Why: objects arrive in id order (a snapshot, a large
    /// batch of changes; ids are time-ordered), and a `BTreeMap` filled in ascending order
    /// keeps its nodes half empty. An endpoint is ~500 bytes in its node, so at 10,000
    /// endpoints that is ~5 MB of the agent's memory (measured with a counting allocator:
    /// 15.9 → 11.1 MB). O(n), done only after such a fill, never for one change.
    pub fn compact(&mut self) {
        fn rebuilt<T>(m: &mut BTreeMap<String, Versioned<T>>) {
            *m = std::mem::take(m).into_iter().collect();
        }
        rebuilt(&mut self.vpcs);
        rebuilt(&mut self.subnets);
        rebuilt(&mut self.ports);
        rebuilt(&mut self.groups);
        rebuilt(&mut self.rules);
        rebuilt(&mut self.servers);
        rebuilt(&mut self.lbs);
        rebuilt(&mut self.sites);
        rebuilt(&mut self.services);
        rebuilt(&mut self.endpoints);
        self.interned.prune();
    }

    pub fn upsert(&mut self, o: &FeedObject) {
        match o.kind {
            Kind::Vpc => put(&mut self.vpcs, o),
            Kind::Subnet => put(&mut self.subnets, o),
            Kind::Port => put(&mut self.ports, o),
            Kind::SecurityGroup => put(&mut self.groups, o),
            Kind::SecurityGroupRule => put(&mut self.rules, o),
            Kind::Server => put(&mut self.servers, o),
            Kind::Loadbalancer => put(&mut self.lbs, o),
            Kind::Site => put(&mut self.sites, o),
            Kind::EndpointService => put(&mut self.services, o),
            Kind::Endpoint => {
                put(&mut self.endpoints, o);
                if let Some(e) = self.endpoints.get_mut(&o.id) {
                    let e = &mut e.spec;
                    let t = &mut self.interned;
                    for id in [
                        &mut e.project_id,
                        &mut e.domain_id,
                        &mut e.service_id,
                        &mut e.vpc_id,
                        &mut e.subnet_id,
                    ] {
                        *id = t.get(id);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn remove(&mut self, kind: Kind, id: &str) {
        match kind {
            Kind::Vpc => drop(self.vpcs.remove(id)),
            Kind::Subnet => drop(self.subnets.remove(id)),
            Kind::Port => drop(self.ports.remove(id)),
            Kind::SecurityGroup => drop(self.groups.remove(id)),
            Kind::SecurityGroupRule => drop(self.rules.remove(id)),
            Kind::Server => drop(self.servers.remove(id)),
            Kind::Loadbalancer => drop(self.lbs.remove(id)),
            Kind::Site => drop(self.sites.remove(id)),
            Kind::EndpointService => drop(self.services.remove(id)),
            Kind::Endpoint => drop(self.endpoints.remove(id)),
            _ => {}
        }
    }

    /// True when `changes` only record what the agent itself reported: endpoints that moved
    /// between `creating`, `accepted` and `failed` and services from `creating` to `available`,
    /// with nothing the data plane reads changed. Neither the plan nor any report can differ, so the agent skips
    /// converging on them (half of all changes while endpoints are being created).
    pub fn only_settles(&self, changes: &[Change]) -> bool {
        !changes.is_empty()
            && changes.iter().all(|c| {
                let Some(o) = &c.object else {
                    return false;
                };
                match c.kind {
                    Kind::Endpoint => {
                        let Some((o, new)) = old_and_new(&self.endpoints, &c.id, o) else {
                            return false;
                        };
                        // Creating, accepted and failed are planned alike (all carry traffic):
                        // a move between them that the agent reported changes nothing below.
                        o.status.carries_traffic()
                            && new.status.carries_traffic()
                            && (&o.service_id, &o.subnet_id, &o.ip, &o.whitelist)
                                == (&new.service_id, &new.subnet_id, &new.ip, &new.whitelist)
                            && o.enable_whitelist == new.enable_whitelist
                    }
                    Kind::EndpointService => {
                        let Some((o, new)) = old_and_new(&self.services, &c.id, o) else {
                            return false;
                        };
                        o.status == ServiceStatus::Creating
                            && new.status == ServiceStatus::Available
                            && (&o.vpc_id, &o.backend, &o.ports)
                                == (&new.vpc_id, &new.backend, &new.ports)
                            && o.tcp_proxy == new.tcp_proxy
                    }
                    // A lab host's status is the agent's own report: nothing below depends on it.
                    Kind::Server => only_status_moved(&self.servers, &c.id, o),
                    Kind::Loadbalancer => only_status_moved(&self.lbs, &c.id, o),
                    Kind::Site => only_status_moved(&self.sites, &c.id, o),
                    _ => false,
                }
            })
    }

    /// When `changes` touch endpoints only: each one's current spec (`None` if new), to be
    /// taken before applying them.
    pub fn endpoints_before(
        &self,
        changes: &[Change],
    ) -> Option<BTreeMap<String, Option<EndpointSpec>>> {
        changes
            .iter()
            .map(|c| {
                (c.kind == Kind::Endpoint).then(|| {
                    (
                        c.id.clone(),
                        self.endpoints.get(&c.id).map(|e| e.spec.clone()),
                    )
                })
            })
            .collect()
    }

    pub fn apply(&mut self, changes: &[Change], revision: u64) {
        for c in changes {
            match &c.object {
                Some(o) => self.upsert(o),
                None => self.remove(c.kind, &c.id),
            }
        }
        self.revision = self.revision.max(revision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(id: &str, subnet: &str, ip: &str) -> FeedObject {
        FeedObject {
            kind: Kind::Endpoint,
            id: id.into(),
            generation: 1,
            revision: 1,
            spec: FeedObject::spec_of(&serde_json::json!({
                "id": id, "project_id": "p1", "domain_id": "d1", "region": "r1",
                "service_id": "s1", "service_name": "svc", "vpc_id": "v1", "subnet_id": subnet,
                "ip": ip, "status": "accepted", "enable_dns": true, "dns_names": ["a.example"],
                "whitelist": [], "enable_whitelist": false, "description": "kept by the API only",
                "tags": [{"key": "k", "value": "v"}], "created_ms": 1, "updated_ms": 2,
            }))
            .expect("JSON text"),
        }
    }

    #[test]
    fn endpoints_share_their_repeated_ids_and_drop_what_the_data_plane_does_not_read() {
        let mut d = Desired::default();
        d.upsert(&endpoint("e1", "sn1", "10.0.0.5"));
        d.upsert(&endpoint("e2", "sn1", "10.0.0.6"));
        let (a, b) = (&d.endpoints["e1"].spec, &d.endpoints["e2"].spec);
        assert_eq!(
            (&*a.subnet_id, &*a.ip, a.enable_dns),
            ("sn1", "10.0.0.5", true)
        );
        assert_eq!(a.dns_names, ["a.example"]);
        for (x, y) in [
            (&a.project_id, &b.project_id),
            (&a.domain_id, &b.domain_id),
            (&a.service_id, &b.service_id),
            (&a.vpc_id, &b.vpc_id),
            (&a.subnet_id, &b.subnet_id),
        ] {
            assert!(Arc::ptr_eq(x, y), "{x} is held twice");
        }
        // An id no endpoint holds any more is forgotten.
        d.upsert(&endpoint("e2", "sn2", "10.0.0.6"));
        d.remove(Kind::Endpoint, "e1");
        d.compact();
        assert!(!d.interned.0.iter().any(|s| &**s == "sn1"));
        assert!(d.interned.0.iter().any(|s| &**s == "sn2"));
    }
}
