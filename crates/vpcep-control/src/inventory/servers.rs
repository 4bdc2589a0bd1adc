//! Lab servers: cloud hosts with one to eight NICs (ports), primary first.

use std::collections::HashMap;

use vpcep_core::command::CreateServer;
use vpcep_core::error::{DomainError, DomainResult, Thing, quoted};
use vpcep_core::inventory::{Port, Server, Subnet, Vpc};
use vpcep_core::model::Kind;
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, TxExt};

use super::{check_not_a_backend, own};
use crate::{Caller, Control, new_uuid, now_ms};

impl Control {
    pub async fn create_server(
        &self,
        caller: &Caller,
        body: CreateServer,
    ) -> DomainResult<(Server, Vec<Port>)> {
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name)?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let nics = body.nics.unwrap_or_default();
        if nics.is_empty() || nics.len() > 8 {
            return Err(DomainError::CountOutOfRange {
                field: "nics",
                min: 1,
                max: 8,
            });
        }
        let mut tx = self.store.begin().await?;
        let _vpc: Vpc = own(&mut tx, caller, &vpc_id, Thing::Vpc).await?;
        let groups = match body.security_groups.filter(|g| !g.is_empty()) {
            Some(g) => g,
            None => vec![self.default_security_group(&mut tx, caller).await?.id],
        };
        self.check_groups(&mut tx, caller, &groups).await?;
        let id = new_uuid();
        let mut ports = Vec::new();
        for (i, nic) in nics.into_iter().enumerate() {
            let sid = nic.subnet_id.unwrap_or_default();
            let subnet: Subnet = own(&mut tx, caller, &sid, Thing::Subnet).await?;
            if subnet.vpc_id != vpc_id {
                return Err(DomainError::SubnetNotInVpc {
                    subnet_id: quoted(&sid),
                    vpc_id: quoted(&vpc_id),
                });
            }
            let port = self
                .new_port(
                    &mut tx,
                    caller,
                    &subnet,
                    format!("{name}-nic{i}"),
                    nic.ip_address.as_deref(),
                    "compute:lab",
                    &id,
                    groups.clone(),
                )
                .await?;
            ports.push(port);
        }
        let now = now_ms();
        let server = Server {
            id,
            project_id: caller.project_id.clone(),
            name,
            vpc_id,
            nics: ports.iter().map(|p| p.id.clone()).collect(),
            security_groups: groups,
            status: vpcep_core::inventory::host_status::BUILD.to_string(),
            fault: None,
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&server, 1).await?;
        tx.commit().await?;
        Ok((server, ports))
    }

    pub async fn get_server(&self, caller: &Caller, id: &str) -> DomainResult<(Server, Vec<Port>)> {
        let s = caller.own(self.store.load::<Server>(id).await?, Thing::Server, id)?;
        let mut ports = Vec::new();
        for p in &s.nics {
            if let Some(p) = self.store.load::<Port>(p).await? {
                ports.push(p);
            }
        }
        Ok((s, ports))
    }

    pub async fn list_servers(&self, caller: &Caller) -> DomainResult<Vec<(Server, Vec<Port>)>> {
        let mut q = Query::of(Kind::Server).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        let servers = self.store.load_page::<Server>(q).await?.0;
        // Every port of the project in one query, not one per NIC of each server.
        let mut ports: HashMap<String, Port> = self
            .list_ports(caller)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        Ok(servers
            .into_iter()
            .map(|s| {
                let nics = s.nics.iter().filter_map(|p| ports.remove(p)).collect();
                (s, nics)
            })
            .collect())
    }

    pub async fn delete_server(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let s: Server = own(&mut tx, caller, id, Thing::Server).await?;
        for p in &s.nics {
            check_not_a_backend(&mut tx, p).await?;
        }
        for p in &s.nics {
            tx.release_owner(&format!("port:{p}")).await?;
            tx.delete(Kind::Port, p).await?;
        }
        tx.delete(Kind::Server, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
