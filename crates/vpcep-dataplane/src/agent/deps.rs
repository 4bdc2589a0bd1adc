//! Which namespaces an object's traffic passes through, so a failure in any of them is reported
//! on every object it breaks (not only on the endpoints of a gateway shard). Pure.
//!
//! - an endpoint service: its VPC's router and its backend's namespace (the load balancer of a
//!   VIP port, the cloud host of a NIC);
//! - an endpoint: its gateway shard, its consumer subnet's router, and everything its service
//!   depends on.

use vpcep_core::model::EndpointService;

use crate::plan::Legs;
use crate::plan::desired::{Desired, EndpointSpec};
use crate::plan::naming::Namespaces;

/// The namespace realising backend port `port_id`: its load balancer or its cloud host.
fn backend_namespace(d: &Desired, names: &Namespaces, port_id: &str) -> Option<String> {
    if let Some((id, _)) = d.lbs.iter().find(|(_, lb)| lb.spec.vip_port_id == port_id) {
        return Some(names.lb(id));
    }
    d.servers
        .iter()
        .find(|(_, s)| s.spec.nics.iter().any(|n| n == port_id))
        .map(|(id, _)| names.server(id))
}

pub fn service_namespaces(d: &Desired, names: &Namespaces, svc: &EndpointService) -> Vec<String> {
    let mut out = vec![names.router(&svc.vpc_id)];
    if let Some(ns) = svc
        .backend
        .as_ref()
        .and_then(|b| backend_namespace(d, names, &b.port_id))
    {
        out.push(ns);
    }
    out
}

pub fn endpoint_namespaces(
    d: &Desired,
    names: &Namespaces,
    legs: &Legs,
    e: &EndpointSpec,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((shard, _)) = legs.zones.get(&*e.subnet_id) {
        out.push(names.gateway(*shard));
    }
    if let Some(subnet) = d.subnets.get(&*e.subnet_id) {
        out.push(names.router(&subnet.spec.vpc_id));
    }
    if let Some(svc) = d.services.get(&*e.service_id) {
        out.extend(service_namespaces(d, names, &svc.spec));
    }
    out.dedup();
    out
}
