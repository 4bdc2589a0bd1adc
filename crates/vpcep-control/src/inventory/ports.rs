//! Ports (Huawei VPC v1): an address in a subnet, a MAC, security groups; also the NICs and VIPs
//! of lab servers and load balancers.

use std::net::Ipv4Addr;

use vpcep_core::command::{CreatePort, UpdatePort};
use vpcep_core::error::{DomainError, DomainResult, Thing};
use vpcep_core::inventory::{Port, SecurityGroup, Subnet};
use vpcep_core::model::Kind;
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, Tx, TxExt};

use super::{check_not_a_backend, own};
use crate::endpoints::{allocate_ip, ip_claim_key};
use crate::{Caller, Control, new_uuid, now_ms};

fn mac_for(id: &str) -> String {
    // fa:16:3e (the OpenStack prefix) + the last 3 bytes of the id: with time-ordered (v7) ids
    // the leading digits are a timestamp shared by ports created together; the tail is random.
    let digits: Vec<char> = id.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let hex: String = digits[digits.len().saturating_sub(6)..].iter().collect();
    let b = |i: usize| hex.get(i..i + 2).unwrap_or("00").to_string();
    format!("fa:16:3e:{}:{}:{}", b(0), b(2), b(4))
}

impl Control {
    /// Every group named is one of the caller's (another project's reads as missing).
    pub(super) async fn check_groups(
        &self,
        tx: &mut Box<dyn Tx>,
        caller: &Caller,
        groups: &[String],
    ) -> DomainResult<()> {
        for g in groups {
            let _g: SecurityGroup = own(tx, caller, g, Thing::SecurityGroup).await?;
        }
        Ok(())
    }

    /// Create a port in `subnet` inside an open transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn new_port(
        &self,
        tx: &mut Box<dyn Tx>,
        caller: &Caller,
        subnet: &Subnet,
        name: String,
        ip: Option<&str>,
        device_owner: &str,
        device_id: &str,
        security_groups: Vec<String>,
    ) -> DomainResult<Port> {
        let id = new_uuid();
        let ip = allocate_ip(tx, subnet, ip, &format!("port:{id}")).await?;
        let now = now_ms();
        let port = Port {
            mac_address: mac_for(&id),
            id,
            project_id: caller.project_id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            subnet_id: subnet.id.clone(),
            name,
            ip_address: ip.to_string(),
            device_owner: device_owner.to_string(),
            device_id: device_id.to_string(),
            security_groups,
            admin_state_up: true,
            status: if device_id.is_empty() {
                "DOWN".to_string()
            } else {
                "ACTIVE".to_string()
            },
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&port, 1).await?;
        Ok(port)
    }

    pub async fn create_port(&self, caller: &Caller, body: CreatePort) -> DomainResult<Port> {
        body.check_required()?;
        let name = body.name.unwrap_or_default();
        if !name.is_empty() {
            validate::resource_name("name", &name)?;
        }
        let network_id = body.network_id.unwrap_or_default();
        let fixed = body.fixed_ips.unwrap_or_default();
        if fixed.len() > 1 {
            return Err(DomainError::TooMany {
                field: "fixed_ips",
                max: 1,
            });
        }
        let mut tx = self.store.begin().await?;
        let subnet: Subnet = own(&mut tx, caller, &network_id, Thing::Network).await?;
        if let Some(f) = fixed.first()
            && let Some(sid) = f.subnet_id.as_deref().filter(|s| !s.is_empty())
            && sid != subnet.id
            && sid != subnet.neutron_subnet_id
        {
            return Err(DomainError::FixedIpOutsideNetwork);
        }
        let groups = match body.security_groups {
            Some(g) => g,
            None => vec![self.default_security_group(&mut tx, caller).await?.id],
        };
        self.check_groups(&mut tx, caller, &groups).await?;
        let ip = fixed.first().and_then(|f| f.ip_address.clone());
        let port = self
            .new_port(
                &mut tx,
                caller,
                &subnet,
                name,
                ip.as_deref(),
                body.device_owner.as_deref().unwrap_or(""),
                "",
                groups,
            )
            .await?;
        tx.commit().await?;
        Ok(port)
    }

    pub async fn get_port(&self, caller: &Caller, id: &str) -> DomainResult<Port> {
        caller.own(self.store.load::<Port>(id).await?, Thing::Port, id)
    }

    pub async fn list_ports(&self, caller: &Caller) -> DomainResult<Vec<Port>> {
        let mut q = Query::of(Kind::Port).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<Port>(q).await?.0)
    }

    pub async fn update_port(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdatePort,
    ) -> DomainResult<Port> {
        let mut tx = self.store.begin().await?;
        let mut p: Port = own(&mut tx, caller, id, Thing::Port).await?;
        if let Some(n) = body.name {
            if !n.is_empty() {
                validate::resource_name("name", &n)?;
            }
            p.name = n;
        }
        if let Some(g) = body.security_groups {
            self.check_groups(&mut tx, caller, &g).await?;
            p.security_groups = g;
            p.generation += 1;
        }
        p.updated_ms = now_ms();
        tx.save(&p, p.generation).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn delete_port(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let p: Port = own(&mut tx, caller, id, Thing::Port).await?;
        if !p.device_id.is_empty() {
            return Err(DomainError::PortOwned {
                device_owner: p.device_owner,
                device_id: p.device_id,
            });
        }
        check_not_a_backend(&mut tx, id).await?;
        tx.release(
            "ip",
            &ip_claim_key(
                &p.subnet_id,
                p.ip_address.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
            ),
        )
        .await?;
        tx.release_owner(&format!("port:{id}")).await?;
        tx.delete(Kind::Port, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
