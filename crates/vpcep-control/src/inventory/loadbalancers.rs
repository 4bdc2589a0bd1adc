//! Lab load balancers: a VIP port and listeners spreading over members.

use std::net::Ipv4Addr;

use vpcep_core::command::{CreateLoadBalancer, ListenerInput, UpdateLoadBalancer};
use vpcep_core::error::{DomainError, DomainResult, Thing, quoted};
use vpcep_core::inventory::{Listener, LoadBalancer, Member, Subnet, Vpc};
use vpcep_core::model::Kind;
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, TxExt};

use super::{check_not_a_backend, own};
use crate::{Caller, Control, new_uuid, now_ms};

fn parse_listeners(raw: Vec<ListenerInput>) -> DomainResult<Vec<Listener>> {
    let mut out: Vec<Listener> = Vec::new();
    for l in raw {
        let protocol = validate::protocol(l.protocol.as_deref().unwrap_or("TCP"))?;
        let port = validate::port_number("listener port", l.port.unwrap_or(0))?;
        if out.iter().any(|x| x.port == port && x.protocol == protocol) {
            return Err(DomainError::DuplicateListener { protocol, port });
        }
        let mut members = Vec::new();
        for m in l.members.unwrap_or_default() {
            let address = m.address.unwrap_or_default();
            address
                .parse::<Ipv4Addr>()
                .map_err(|_| DomainError::InvalidAddress {
                    field: "members.address",
                    value: quoted(&address),
                })?;
            let port = validate::port_number("member port", m.port.unwrap_or(0))?;
            members.push(Member { address, port });
        }
        out.push(Listener {
            protocol,
            port,
            members,
        });
    }
    Ok(out)
}

impl Control {
    pub async fn create_loadbalancer(
        &self,
        caller: &Caller,
        body: CreateLoadBalancer,
    ) -> DomainResult<LoadBalancer> {
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name)?;
        let listeners = parse_listeners(body.listeners.unwrap_or_default())?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let subnet_id = body.subnet_id.unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let _vpc: Vpc = own(&mut tx, caller, &vpc_id, Thing::Vpc).await?;
        let subnet: Subnet = own(&mut tx, caller, &subnet_id, Thing::Subnet).await?;
        if subnet.vpc_id != vpc_id {
            return Err(DomainError::SubnetNotInVpc {
                subnet_id: quoted(&subnet_id),
                vpc_id: quoted(&vpc_id),
            });
        }
        let id = new_uuid();
        let vip = self
            .new_port(
                &mut tx,
                caller,
                &subnet,
                format!("{name}-vip"),
                body.vip_address.as_deref(),
                "neutron:LOADBALANCERV2",
                &id,
                vec![],
            )
            .await?;
        let now = now_ms();
        let lb = LoadBalancer {
            id,
            project_id: caller.project_id.clone(),
            name,
            vpc_id,
            subnet_id,
            vip_port_id: vip.id.clone(),
            vip_address: vip.ip_address.clone(),
            listeners,
            status: vpcep_core::inventory::host_status::BUILD.to_string(),
            fault: None,
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&lb, 1).await?;
        tx.commit().await?;
        Ok(lb)
    }

    pub async fn get_loadbalancer(&self, caller: &Caller, id: &str) -> DomainResult<LoadBalancer> {
        caller.own(
            self.store.load::<LoadBalancer>(id).await?,
            Thing::LoadBalancer,
            id,
        )
    }

    pub async fn list_loadbalancers(&self, caller: &Caller) -> DomainResult<Vec<LoadBalancer>> {
        let mut q = Query::of(Kind::Loadbalancer).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<LoadBalancer>(q).await?.0)
    }

    pub async fn update_loadbalancer(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdateLoadBalancer,
    ) -> DomainResult<LoadBalancer> {
        let listeners = body.listeners.map(parse_listeners).transpose()?;
        let mut tx = self.store.begin().await?;
        let mut lb: LoadBalancer = own(&mut tx, caller, id, Thing::LoadBalancer).await?;
        if let Some(n) = body.name {
            validate::resource_name("name", &n)?;
            lb.name = n;
        }
        if let Some(l) = listeners {
            lb.listeners = l;
            lb.generation += 1;
            // The new listeners are not in the kernel until the agent says so.
            lb.status = vpcep_core::inventory::host_status::BUILD.to_string();
        }
        lb.updated_ms = now_ms();
        tx.save(&lb, lb.generation).await?;
        tx.commit().await?;
        Ok(lb)
    }

    pub async fn delete_loadbalancer(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let lb: LoadBalancer = own(&mut tx, caller, id, Thing::LoadBalancer).await?;
        check_not_a_backend(&mut tx, &lb.vip_port_id).await?;
        tx.release_owner(&format!("port:{}", lb.vip_port_id))
            .await?;
        tx.delete(Kind::Port, &lb.vip_port_id).await?;
        tx.delete(Kind::Loadbalancer, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
