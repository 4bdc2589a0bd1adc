//! The desired state as the agent knows it: every feed object, typed, kept current from a
//! snapshot plus changes.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use vpcep_core::agent::{Change, FeedObject, Snapshot};
use vpcep_core::inventory::{
    LoadBalancer, Port, SecurityGroup, SecurityGroupRule, Server, Site, Subnet, Vpc,
};
use vpcep_core::model::{Endpoint, EndpointService, Kind, ServiceStatus};

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
    pub endpoints: BTreeMap<String, Versioned<Endpoint>>,
}

fn put<T: DeserializeOwned>(map: &mut BTreeMap<String, Versioned<T>>, o: &FeedObject) {
    match serde_json::from_value::<T>(o.spec.clone()) {
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
    serde_json::from_value(o.spec.clone())
        .ok()
        .map(|new| (old, new))
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
    let serde_json::Value::Object(mut new) = o.spec.clone() else {
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
            Kind::Endpoint => put(&mut self.endpoints, o),
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
    ) -> Option<BTreeMap<String, Option<Endpoint>>> {
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
