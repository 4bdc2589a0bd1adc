//! VPCs (Huawei VPC v1): a CIDR that holds every subnet; deleted only when empty.

use ipnet::Ipv4Net;
use vpcep_core::command::{CreateVpc, UpdateVpc};
use vpcep_core::error::{DomainError, DomainResult, Thing};
use vpcep_core::inventory::{Subnet, Vpc};
use vpcep_core::model::Kind;
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, TxExt};

use super::{own, stored_cidr};
use crate::{Caller, Control, new_uuid, now_ms};

impl Control {
    pub async fn create_vpc(&self, caller: &Caller, body: CreateVpc) -> DomainResult<Vpc> {
        let name = body.name.unwrap_or_else(|| "vpc".to_string());
        validate::resource_name("name", &name)?;
        let cidr =
            validate::network_cidr("cidr", body.cidr.as_deref().unwrap_or("192.168.0.0/16"))?;
        let description = body.description.unwrap_or_default();
        validate::description("description", &description)?;
        let now = now_ms();
        let vpc = Vpc {
            id: new_uuid(),
            project_id: caller.project_id.clone(),
            name,
            description,
            cidr: cidr.to_string(),
            status: "OK".to_string(),
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        let mut tx = self.store.begin().await?;
        tx.save(&vpc, 1).await?;
        tx.commit().await?;
        Ok(vpc)
    }

    pub async fn get_vpc(&self, caller: &Caller, id: &str) -> DomainResult<Vpc> {
        caller.own(self.store.load::<Vpc>(id).await?, Thing::Vpc, id)
    }

    pub async fn list_vpcs(&self, caller: &Caller) -> DomainResult<Vec<Vpc>> {
        let mut q = Query::of(Kind::Vpc).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<Vpc>(q).await?.0)
    }

    pub async fn update_vpc(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdateVpc,
    ) -> DomainResult<Vpc> {
        let mut tx = self.store.begin().await?;
        let mut v: Vpc = own(&mut tx, caller, id, Thing::Vpc).await?;
        if let Some(n) = body.name {
            validate::resource_name("name", &n)?;
            v.name = n;
        }
        if let Some(d) = body.description {
            validate::description("description", &d)?;
            v.description = d;
        }
        if let Some(c) = body.cidr {
            let net = validate::network_cidr("cidr", &c)?;
            let subnets = tx
                .load_all::<Subnet>(Query::of(Kind::Subnet).parent(id))
                .await?;
            for s in subnets {
                let sn: Ipv4Net = stored_cidr(&s.cidr)?;
                if !net.contains(&sn) {
                    return Err(DomainError::CidrLeavesOutSubnet {
                        cidr: net.to_string(),
                        subnet_name: s.name,
                        subnet_cidr: s.cidr,
                    });
                }
            }
            v.cidr = net.to_string();
            v.generation += 1;
        }
        v.updated_ms = now_ms();
        tx.save(&v, v.generation).await?;
        tx.commit().await?;
        Ok(v)
    }

    pub async fn delete_vpc(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let _v: Vpc = own(&mut tx, caller, id, Thing::Vpc).await?;
        for (kind, what) in [
            (Kind::Subnet, "subnets"),
            (Kind::Server, "servers"),
            (Kind::Loadbalancer, "load balancers"),
            (Kind::Site, "sites"),
            (Kind::EndpointService, "endpoint services"),
            (Kind::Endpoint, "endpoints"),
        ] {
            let n = tx.count(&Query::of(kind).vpc(id)).await?;
            if n > 0 {
                return Err(DomainError::VpcNotEmpty { count: n, what });
            }
        }
        tx.delete(Kind::Vpc, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
