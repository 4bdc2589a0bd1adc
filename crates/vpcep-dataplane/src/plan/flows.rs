//! Whose connection a gateway's conntrack entry is: a consumer leg is a conntrack zone of its
//! shard, and an endpoint is its address in that leg, so (gateway namespace, original zone,
//! original destination) names exactly one live endpoint — even when several consumer VPCs use
//! the same CIDRs (their legs have different zones). Pure: built from the plan and the feed.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::plan::Plan;
use crate::plan::desired::Desired;
use crate::plan::naming::Namespaces;

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

/// (gateway namespace, zone, endpoint address) → owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowIndex {
    by: HashMap<(String, u16, Ipv4Addr), Arc<FlowOwner>>,
}

impl FlowIndex {
    /// The live endpoints of `plan`.
    pub fn build(plan: &Plan, d: &Desired, names: &Namespaces) -> Self {
        let mut by = HashMap::new();
        for l in &plan.live {
            let (Some(e), Ok(ip)) = (d.endpoints.get(&l.id), l.ip.parse::<Ipv4Addr>()) else {
                continue;
            };
            let service_project_id = d
                .services
                .get(&e.spec.service_id)
                .map(|s| s.spec.project_id.clone())
                .unwrap_or_default();
            by.insert(
                (names.gateway(l.shard), l.zone, ip),
                Arc::new(FlowOwner {
                    endpoint_id: l.id.clone(),
                    service_id: e.spec.service_id.clone(),
                    project_id: e.spec.project_id.clone(),
                    domain_id: e.spec.domain_id.clone(),
                    service_project_id,
                }),
            );
        }
        Self { by }
    }

    /// `newer`, keeping the entries of endpoints that left whose place nobody took: the end
    /// records of their connections (cut as they leave) still name them.
    pub fn followed_by(&self, newer: FlowIndex) -> FlowIndex {
        let mut by = self.by.clone();
        by.extend(newer.by);
        FlowIndex { by }
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
