//! Lab sites: on-premises networks joined to a VPC by a VPN link; their CIDR overlaps neither the
//! VPC nor another site of it.

use ipnet::Ipv4Net;
use vpcep_core::command::CreateSite;
use vpcep_core::error::{DomainError, DomainResult, Overlapped, Thing};
use vpcep_core::inventory::{Site, Vpc};
use vpcep_core::ipam::overlaps;
use vpcep_core::model::Kind;
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, TxExt};

use super::{own, stored_cidr};
use crate::{Caller, Control, new_uuid, now_ms};

impl Control {
    pub async fn create_site(&self, caller: &Caller, body: CreateSite) -> DomainResult<Site> {
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name)?;
        let net = validate::network_cidr("cidr", body.cidr.as_deref().unwrap_or_default())?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let vpc: Vpc = own(&mut tx, caller, &vpc_id, Thing::Vpc).await?;
        let vnet: Ipv4Net = stored_cidr(&vpc.cidr)?;
        if overlaps(&net, &vnet) {
            return Err(DomainError::CidrOverlap {
                cidr: net.to_string(),
                with: Overlapped::Vpc {
                    cidr: vnet.to_string(),
                },
            });
        }
        for other in tx
            .load_all::<Site>(Query::of(Kind::Site).vpc(&vpc_id))
            .await?
        {
            let o: Ipv4Net = stored_cidr(&other.cidr)?;
            if overlaps(&net, &o) {
                return Err(DomainError::CidrOverlap {
                    cidr: net.to_string(),
                    with: Overlapped::Site {
                        name: other.name,
                        cidr: o.to_string(),
                    },
                });
            }
        }
        let now = now_ms();
        let site = Site {
            id: new_uuid(),
            project_id: caller.project_id.clone(),
            name,
            vpc_id,
            cidr: net.to_string(),
            status: vpcep_core::inventory::host_status::BUILD.to_string(),
            fault: None,
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&site, 1).await?;
        tx.commit().await?;
        Ok(site)
    }

    pub async fn get_site(&self, caller: &Caller, id: &str) -> DomainResult<Site> {
        caller.own(self.store.load::<Site>(id).await?, Thing::Site, id)
    }

    pub async fn list_sites(&self, caller: &Caller) -> DomainResult<Vec<Site>> {
        let mut q = Query::of(Kind::Site).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<Site>(q).await?.0)
    }

    pub async fn delete_site(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let _s: Site = own(&mut tx, caller, id, Thing::Site).await?;
        tx.delete(Kind::Site, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
