//! Whose connection a gateway's conntrack entry is: a consumer leg is a conntrack zone of its
//! shard, and an endpoint is its address in that leg, so (gateway namespace, original zone,
//! original destination) names exactly one live endpoint — even when several consumer VPCs use
//! the same CIDRs (their legs have different zones). Pure: built from the plan and the feed.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::plan::desired::Desired;
use crate::plan::naming::Namespaces;
use crate::plan::{LiveEndpoint, Plan};

/// The labels a flow of one endpoint carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowOwner {
    pub endpoint_id: String,
    pub service_id: String,
    /// The consumer's project and account (the endpoint's owner).
    pub project_id: String,
    pub domain_id: String,
    /// The provider's project (the service's owner).
    pub service_project_id: String,
}

/// Endpoint `id` in `plan`'s live set (`live` is ordered by id first: found by range, not by a
/// scan).
pub fn live_of<'p>(plan: &'p Plan, id: &str) -> impl Iterator<Item = &'p LiveEndpoint> {
    let from = LiveEndpoint {
        id: id.into(),
        subnet: "".into(),
        shard: 0,
        zone: 0,
        ip: "".into(),
    };
    plan.live
        .range(from.clone()..)
        .take_while(move |l| l.id == from.id)
}

/// (gateway namespace, zone, endpoint address) → owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowIndex {
    by: HashMap<(String, u16, Ipv4Addr), Arc<FlowOwner>>,
}

impl FlowIndex {
    /// The live endpoints of `plan`.
    pub fn build(plan: &Plan, d: &Desired, names: &Namespaces) -> Self {
        let mut index = Self::default();
        index.follow(plan, d, names, None);
        index
    }

    /// Take in `plan`'s live endpoints — only those named in `only` when given (a patched plan
    /// changed just them), so one endpoint costs the same among ten or ten thousand. Entries of
    /// endpoints that left are kept until another endpoint takes their place: the end records
    /// of their connections (cut as they leave) still name them.
    pub fn follow(&mut self, plan: &Plan, d: &Desired, names: &Namespaces, only: Option<&[&str]>) {
        let mut put = |l: &LiveEndpoint| {
            let (Some(e), Ok(ip)) = (d.endpoints.get(&*l.id), l.ip.parse::<Ipv4Addr>()) else {
                return;
            };
            let service_project_id = d
                .services
                .get(&*e.spec.service_id)
                .map(|s| s.spec.project_id.clone())
                .unwrap_or_default();
            self.by.insert(
                (names.gateway(l.shard), l.zone, ip),
                Arc::new(FlowOwner {
                    endpoint_id: l.id.to_string(),
                    service_id: e.spec.service_id.to_string(),
                    project_id: e.spec.project_id.to_string(),
                    domain_id: e.spec.domain_id.to_string(),
                    service_project_id,
                }),
            );
        };
        match only {
            None => plan.live.iter().for_each(&mut put),
            Some(ids) => {
                for &id in ids {
                    live_of(plan, id).for_each(&mut put);
                }
            }
        }
    }

    pub fn lookup(&self, ns: &str, zone: u16, ip: Ipv4Addr) -> Option<&Arc<FlowOwner>> {
        self.by.get(&(ns.to_string(), zone, ip))
    }

    /// The gateway namespaces holding endpoints.
    pub fn gateways(&self) -> std::collections::BTreeSet<&str> {
        self.by.keys().map(|(ns, _, _)| ns.as_str()).collect()
    }

    pub fn len(&self) -> usize {
        self.by.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by.is_empty()
    }
}
