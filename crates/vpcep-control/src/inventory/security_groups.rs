//! Security groups and their rules (Huawei VPC v1); a project's `default` group is made on first
//! use.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use vpcep_core::command::{CreateSecurityGroup, CreateSecurityGroupRule};
use vpcep_core::error::{DomainError, DomainResult, Thing, quoted};
use vpcep_core::inventory::{Direction, Port, SecurityGroup, SecurityGroupRule, Vpc};
use vpcep_core::model::Kind;
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, Tx, TxExt};

use super::own;
use crate::{Caller, Control, new_uuid, now_ms};

fn default_rules(g: &SecurityGroup, now: i64) -> Vec<SecurityGroupRule> {
    let base = |direction, remote_group_id: Option<String>| SecurityGroupRule {
        id: new_uuid(),
        project_id: g.project_id.clone(),
        security_group_id: g.id.clone(),
        direction,
        ethertype: "IPv4".to_string(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id,
        description: String::new(),
        generation: 1,
        created_ms: now,
        updated_ms: now,
    };
    vec![
        base(Direction::Egress, None),
        base(Direction::Ingress, Some(g.id.clone())),
    ]
}

fn same_rule(a: &SecurityGroupRule, b: &SecurityGroupRule) -> bool {
    a.direction == b.direction
        && a.protocol == b.protocol
        && a.port_range_min == b.port_range_min
        && a.port_range_max == b.port_range_max
        && a.remote_ip_prefix == b.remote_ip_prefix
        && a.remote_group_id == b.remote_group_id
}

impl Control {
    /// The project's `default` group, created on first use with Huawei's default rules: all
    /// egress, ingress only from members of the same group.
    pub(crate) async fn default_security_group(
        &self,
        tx: &mut Box<dyn Tx>,
        caller: &Caller,
    ) -> DomainResult<SecurityGroup> {
        let existing = tx
            .load_all::<SecurityGroup>(
                Query::of(Kind::SecurityGroup)
                    .project(&caller.project_id)
                    .named("default"),
            )
            .await?;
        if let Some(g) = existing.into_iter().next() {
            return Ok(g);
        }
        let now = now_ms();
        let g = SecurityGroup {
            id: new_uuid(),
            project_id: caller.project_id.clone(),
            name: "default".to_string(),
            description: "Default security group".to_string(),
            vpc_id: None,
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&g, 1).await?;
        for rule in default_rules(&g, now) {
            tx.save(&rule, 1).await?;
        }
        Ok(g)
    }

    pub async fn create_security_group(
        &self,
        caller: &Caller,
        body: CreateSecurityGroup,
    ) -> DomainResult<(SecurityGroup, Vec<SecurityGroupRule>)> {
        body.check_required()?;
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name)?;
        let description = body.description.unwrap_or_default();
        validate::description("description", &description)?;
        let mut tx = self.store.begin().await?;
        if let Some(v) = body.vpc_id.as_deref().filter(|s| !s.is_empty()) {
            let _vpc: Vpc = own(&mut tx, caller, v, Thing::Vpc).await?;
        }
        let now = now_ms();
        let g = SecurityGroup {
            id: new_uuid(),
            project_id: caller.project_id.clone(),
            name,
            description,
            vpc_id: body.vpc_id.filter(|s| !s.is_empty()),
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&g, 1).await?;
        let rules = default_rules(&g, now);
        for r in &rules {
            tx.save(r, 1).await?;
        }
        tx.commit().await?;
        Ok((g, rules))
    }

    pub async fn get_security_group(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<(SecurityGroup, Vec<SecurityGroupRule>)> {
        let g = caller.own(
            self.store.load::<SecurityGroup>(id).await?,
            Thing::SecurityGroup,
            id,
        )?;
        let rules = self
            .store
            .load_page::<SecurityGroupRule>(Query::of(Kind::SecurityGroupRule).parent(id))
            .await?
            .0;
        Ok((g, rules))
    }

    pub async fn list_security_groups(
        &self,
        caller: &Caller,
        vpc_id: Option<&str>,
    ) -> DomainResult<Vec<(SecurityGroup, Vec<SecurityGroupRule>)>> {
        let mut q = Query::of(Kind::SecurityGroup).project(&caller.project_id);
        q.vpc_id = vpc_id.filter(|s| !s.is_empty()).map(str::to_string);
        q.order = vpcep_store::Order::CreatedAsc;
        let groups = self.store.load_page::<SecurityGroup>(q).await?.0;
        // Every rule of the project in one query, not one query per group.
        let mut rules_by_group: HashMap<String, Vec<SecurityGroupRule>> = HashMap::new();
        for r in self
            .store
            .load_page::<SecurityGroupRule>(
                Query::of(Kind::SecurityGroupRule).project(&caller.project_id),
            )
            .await?
            .0
        {
            rules_by_group
                .entry(r.security_group_id.clone())
                .or_default()
                .push(r);
        }
        Ok(groups
            .into_iter()
            .map(|g| {
                let rules = rules_by_group.remove(&g.id).unwrap_or_default();
                (g, rules)
            })
            .collect())
    }

    pub async fn delete_security_group(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let _g: SecurityGroup = own(&mut tx, caller, id, Thing::SecurityGroup).await?;
        let ports = tx
            .load_all::<Port>(Query::of(Kind::Port).project(&caller.project_id))
            .await?;
        let users = ports
            .iter()
            .filter(|p| p.security_groups.iter().any(|g| g == id))
            .count();
        if users > 0 {
            return Err(DomainError::SecurityGroupInUse { ports: users });
        }
        for r in tx
            .load_all::<SecurityGroupRule>(Query::of(Kind::SecurityGroupRule).parent(id))
            .await?
        {
            tx.delete(Kind::SecurityGroupRule, &r.id).await?;
        }
        tx.delete(Kind::SecurityGroup, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_security_group_rule(
        &self,
        caller: &Caller,
        body: CreateSecurityGroupRule,
    ) -> DomainResult<SecurityGroupRule> {
        body.check_required()?;
        let direction = match body.direction.as_deref() {
            Some("ingress") => Direction::Ingress,
            Some("egress") => Direction::Egress,
            other => {
                return Err(DomainError::Unsupported {
                    field: "direction",
                    value: quoted(other.unwrap_or("")),
                    allowed: &["ingress", "egress"],
                });
            }
        };
        let ethertype = body.ethertype.unwrap_or_else(|| "IPv4".to_string());
        if ethertype != "IPv4" {
            return Err(DomainError::Unsupported {
                field: "ethertype",
                value: quoted(&ethertype),
                allowed: &["IPv4"],
            });
        }
        let protocol = match body
            .protocol
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("any") => None,
            Some(p @ ("tcp" | "udp" | "icmp")) => Some(p.to_string()),
            Some(p) => {
                return Err(DomainError::Unsupported {
                    field: "protocol",
                    value: quoted(p),
                    allowed: &["tcp", "udp", "icmp"],
                });
            }
        };
        let range = |v: Option<i64>, field: &'static str| -> DomainResult<Option<u16>> {
            v.map(|n| validate::port_number(field, n)).transpose()
        };
        let port_range_min = range(body.port_range_min, "port_range_min")?;
        let port_range_max = range(body.port_range_max, "port_range_max")?;
        if (port_range_min.is_some() || port_range_max.is_some())
            && !matches!(protocol.as_deref(), Some("tcp" | "udp"))
        {
            return Err(DomainError::PortRangeNeedsProtocol);
        }
        if let (Some(a), Some(b)) = (port_range_min, port_range_max)
            && a > b
        {
            return Err(DomainError::PortRangeReversed);
        }
        let remote_ip_prefix = match body.remote_ip_prefix.as_deref().filter(|s| !s.is_empty()) {
            Some(p) => {
                let net = if p.contains('/') {
                    p.parse::<Ipv4Net>().ok()
                } else {
                    p.parse::<Ipv4Addr>().ok().map(Ipv4Net::from)
                };
                Some(net.map(|n| n.trunc().to_string()).ok_or_else(|| {
                    DomainError::InvalidAddress {
                        field: "remote_ip_prefix",
                        value: quoted(p),
                    }
                })?)
            }
            None => None,
        };
        let remote_group_id = body.remote_group_id.filter(|s| !s.is_empty());
        if remote_ip_prefix.is_some() && remote_group_id.is_some() {
            return Err(DomainError::ExclusiveFields {
                first: "remote_ip_prefix",
                second: "remote_group_id",
            });
        }
        let description = body.description.unwrap_or_default();
        validate::description("description", &description)?;
        let sg_id = body.security_group_id.unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let mut g: SecurityGroup = own(&mut tx, caller, &sg_id, Thing::SecurityGroup).await?;
        if let Some(r) = &remote_group_id {
            let _other: SecurityGroup = own(&mut tx, caller, r, Thing::SecurityGroup).await?;
        }
        let now = now_ms();
        let rule = SecurityGroupRule {
            id: new_uuid(),
            project_id: caller.project_id.clone(),
            security_group_id: sg_id,
            direction,
            ethertype,
            protocol,
            port_range_min: port_range_min.or(port_range_max),
            port_range_max: port_range_max.or(port_range_min),
            remote_ip_prefix,
            remote_group_id,
            description,
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        let existing = tx
            .load_all::<SecurityGroupRule>(Query::of(Kind::SecurityGroupRule).parent(&g.id))
            .await?;
        if existing.iter().any(|r| same_rule(r, &rule)) {
            return Err(DomainError::DuplicateRule);
        }
        tx.save(&rule, 1).await?;
        g.updated_ms = now;
        tx.save(&g, g.generation).await?;
        tx.commit().await?;
        Ok(rule)
    }

    pub async fn get_security_group_rule(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<SecurityGroupRule> {
        caller.own(
            self.store.load::<SecurityGroupRule>(id).await?,
            Thing::SecurityGroupRule,
            id,
        )
    }

    pub async fn list_security_group_rules(
        &self,
        caller: &Caller,
        sg: Option<&str>,
    ) -> DomainResult<Vec<SecurityGroupRule>> {
        let mut q = Query::of(Kind::SecurityGroupRule).project(&caller.project_id);
        q.parent_id = sg.filter(|s| !s.is_empty()).map(str::to_string);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<SecurityGroupRule>(q).await?.0)
    }

    pub async fn delete_security_group_rule(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let _r: SecurityGroupRule = own(&mut tx, caller, id, Thing::SecurityGroupRule).await?;
        tx.delete(Kind::SecurityGroupRule, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
