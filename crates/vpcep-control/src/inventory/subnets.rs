//! Subnets of a VPC (Huawei VPC v1): inside the VPC's CIDR, no overlap, the VPC's resolver as
//! DNS by default.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use vpcep_core::command::{CreateSubnet, UpdateSubnet};
use vpcep_core::error::{DomainError, DomainResult, Overlapped, Thing, quoted};
use vpcep_core::inventory::{Subnet, Vpc};
use vpcep_core::ipam::overlaps;
use vpcep_core::model::{Endpoint, Kind};
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, TxExt};

use super::{own, stored_cidr};
use crate::{Caller, Control, new_uuid, now_ms};

impl Control {
    pub async fn create_subnet(&self, caller: &Caller, body: CreateSubnet) -> DomainResult<Subnet> {
        body.check_required()?;
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name)?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let net = validate::network_cidr("cidr", body.cidr.as_deref().unwrap_or_default())?;
        let gateway: Ipv4Addr = body
            .gateway_ip
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|_| DomainError::InvalidAddress {
                field: "gateway_ip",
                value: quoted(body.gateway_ip.as_deref().unwrap_or_default()),
            })?;
        if !net.contains(&gateway) || gateway == net.network() || gateway == net.broadcast() {
            return Err(DomainError::GatewayNotHost {
                gateway: gateway.to_string(),
                cidr: net.to_string(),
            });
        }
        let description = body.description.unwrap_or_default();
        validate::description("description", &description)?;
        let dns: Vec<String> = body.dns_list.unwrap_or_default();
        // No DNS server given: the VPC's own resolver (private names, then the upstream).
        let primary_dns = body
            .primary_dns
            .or_else(|| dns.first().cloned())
            .or_else(|| Some(vpcep_core::naming::VPC_RESOLVER.to_string()));
        let secondary_dns = body.secondary_dns.or_else(|| dns.get(1).cloned());
        for d in primary_dns.iter().chain(secondary_dns.iter()) {
            d.parse::<Ipv4Addr>()
                .map_err(|_| DomainError::InvalidAddress {
                    field: "dns_list",
                    value: quoted(d),
                })?;
        }
        let mut tx = self.store.begin().await?;
        let vpc: Vpc = own(&mut tx, caller, &vpc_id, Thing::Vpc).await?;
        let vnet: Ipv4Net = stored_cidr(&vpc.cidr)?;
        if !vnet.contains(&net) {
            return Err(DomainError::CidrOutsideVpc {
                cidr: net.to_string(),
                vpc_cidr: vnet.to_string(),
            });
        }
        for s in tx
            .load_all::<Subnet>(Query::of(Kind::Subnet).parent(&vpc_id))
            .await?
        {
            let other: Ipv4Net = stored_cidr(&s.cidr)?;
            if overlaps(&net, &other) {
                return Err(DomainError::CidrOverlap {
                    cidr: net.to_string(),
                    with: Overlapped::Subnet {
                        name: s.name,
                        cidr: other.to_string(),
                    },
                });
            }
        }
        let now = now_ms();
        let subnet = Subnet {
            id: new_uuid(),
            project_id: caller.project_id.clone(),
            vpc_id,
            name,
            description,
            cidr: net.to_string(),
            gateway_ip: gateway.to_string(),
            neutron_subnet_id: new_uuid(),
            primary_dns,
            secondary_dns,
            dhcp_enable: body.dhcp_enable.unwrap_or(true),
            availability_zone: body.availability_zone,
            status: "ACTIVE".to_string(),
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&subnet, 1).await?;
        tx.commit().await?;
        Ok(subnet)
    }

    pub async fn get_subnet(&self, caller: &Caller, id: &str) -> DomainResult<Subnet> {
        caller.own(self.store.load::<Subnet>(id).await?, Thing::Subnet, id)
    }

    pub async fn list_subnets(
        &self,
        caller: &Caller,
        vpc_id: Option<&str>,
    ) -> DomainResult<Vec<Subnet>> {
        let mut q = Query::of(Kind::Subnet).project(&caller.project_id);
        q.parent_id = vpc_id.filter(|s| !s.is_empty()).map(str::to_string);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<Subnet>(q).await?.0)
    }

    pub async fn update_subnet(
        &self,
        caller: &Caller,
        vpc_id: &str,
        id: &str,
        body: UpdateSubnet,
    ) -> DomainResult<Subnet> {
        let mut tx = self.store.begin().await?;
        let mut s: Subnet = own(&mut tx, caller, id, Thing::Subnet).await?;
        if s.vpc_id != vpc_id {
            return Err(DomainError::NotFound {
                kind: Thing::Subnet,
                id: quoted(id),
            });
        }
        if let Some(n) = body.name {
            validate::resource_name("name", &n)?;
            s.name = n;
        }
        if let Some(d) = body.description {
            validate::description("description", &d)?;
            s.description = d;
        }
        if let Some(d) = body.dhcp_enable {
            s.dhcp_enable = d;
        }
        if let Some(d) = body.primary_dns {
            s.primary_dns = Some(d);
        }
        if let Some(d) = body.secondary_dns {
            s.secondary_dns = Some(d);
        }
        s.updated_ms = now_ms();
        tx.save(&s, s.generation).await?;
        tx.commit().await?;
        Ok(s)
    }

    pub async fn delete_subnet(&self, caller: &Caller, vpc_id: &str, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let s: Subnet = own(&mut tx, caller, id, Thing::Subnet).await?;
        if s.vpc_id != vpc_id {
            return Err(DomainError::NotFound {
                kind: Thing::Subnet,
                id: quoted(id),
            });
        }
        let ports = tx.count(&Query::of(Kind::Port).parent(id)).await?;
        let mut eq = Query::of(Kind::Endpoint).vpc(vpc_id);
        eq.project_id = None;
        let endpoints = tx
            .load_all::<Endpoint>(eq)
            .await?
            .into_iter()
            .filter(|e| e.subnet_id == id)
            .count();
        if ports > 0 || endpoints > 0 {
            return Err(DomainError::SubnetNotEmpty { ports, endpoints });
        }
        tx.delete(Kind::Subnet, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Subnet of an id given either as the v1 id or the Neutron subnet id.
    pub async fn subnet_by_any_id(&self, id: &str) -> DomainResult<Option<Subnet>> {
        if let Some(s) = self.store.load::<Subnet>(id).await? {
            return Ok(Some(s));
        }
        let all = self
            .store
            .load_page::<Subnet>(Query::of(Kind::Subnet))
            .await?
            .0;
        Ok(all.into_iter().find(|s| s.neutron_subnet_id == id))
    }
}
