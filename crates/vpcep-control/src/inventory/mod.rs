//! The network inventory (SPEC R3): VPCs, subnets, ports, security groups and rules (Huawei VPC v1
//! semantics) and the lab's servers, load balancers and sites. Records only here; the data-plane
//! agent realises them from the change feed.

mod loadbalancers;
mod ports;
mod security_groups;
mod servers;
mod sites;
mod subnets;
mod vpcs;

use vpcep_core::error::{DomainError, DomainResult, Thing};
use vpcep_core::model::{EndpointService, Kind, Resource};
use vpcep_store::{Query, Tx, TxExt};

use crate::{Caller, Owned};

/// A CIDR the store holds (validated when it was written, so a bad one is an internal error).
fn stored_cidr(cidr: &str) -> DomainResult<ipnet::Ipv4Net> {
    cidr.parse()
        .map_err(|_| DomainError::internal("stored CIDR invalid"))
}

/// Load a resource of the caller's project inside a transaction, or 404.
pub(super) async fn own<R: Resource + Owned>(
    tx: &mut Box<dyn Tx>,
    caller: &Caller,
    id: &str,
    kind: Thing,
) -> DomainResult<R> {
    caller.own(tx.load::<R>(id).await?, kind, id)
}

/// A port that backs an endpoint service cannot go away under it.
pub(super) async fn check_not_a_backend(tx: &mut Box<dyn Tx>, port_id: &str) -> DomainResult<()> {
    let services = tx
        .load_all::<EndpointService>(Query::of(Kind::EndpointService).parent(port_id))
        .await?;
    if let Some(s) = services.first() {
        return Err(DomainError::PortBacksService {
            service_name: s.service_name.clone(),
        });
    }
    Ok(())
}
