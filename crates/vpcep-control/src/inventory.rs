//! The network inventory (SPEC R3): VPCs, subnets, ports, security groups and rules (Huawei VPC v1
//! semantics) and the lab's servers, load balancers and sites. Records only here; the data-plane
//! agent realises them from the change feed.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use vpcep_core::error::{DomainError, DomainResult, Overlapped, Thing, quoted};
use vpcep_core::inventory::{
    Direction, Listener, LoadBalancer, Member, Port, SecurityGroup, SecurityGroupRule, Server,
    Site, Subnet, Vpc,
};

use vpcep_core::command::{
    CreateLoadBalancer, CreateServer, CreateSite, ListenerInput, UpdateLoadBalancer,
};
use vpcep_core::command::{
    CreatePort, CreateSecurityGroup, CreateSecurityGroupRule, CreateSubnet, CreateVpc, UpdatePort,
    UpdateSubnet, UpdateVpc,
};
use vpcep_core::model::{Endpoint, EndpointService, Kind, Resource};
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, Tx, TxExt};

use crate::endpoints::{allocate_ip, ip_claim_key};
use crate::{Caller, Control, Owned, new_uuid, now_ms};

/// Load a resource of the caller's project inside a transaction, or 404.
async fn own<R: Resource + Owned>(
    tx: &mut Box<dyn Tx>,
    caller: &Caller,
    id: &str,
    kind: Thing,
) -> DomainResult<R> {
    caller.own(tx.load::<R>(id).await?, kind, id)
}

fn mac_for(id: &str) -> String {
    // fa:16:3e (the OpenStack prefix) + the last 3 bytes of the id: with time-ordered (v7) ids
    // the leading digits are a timestamp shared by ports created together; the tail is random.
    let digits: Vec<char> = id.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let hex: String = digits[digits.len().saturating_sub(6)..].iter().collect();
    let b = |i: usize| hex.get(i..i + 2).unwrap_or("00").to_string();
    format!("fa:16:3e:{}:{}:{}", b(0), b(2), b(4))
}

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
    // ---- VPCs ---------------------------------------------------------------------------------

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
                let sn: Ipv4Net = s
                    .cidr
                    .parse()
                    .map_err(|_| DomainError::internal("stored CIDR invalid"))?;
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

    // ---- Subnets ------------------------------------------------------------------------------

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
        let vnet: Ipv4Net = vpc
            .cidr
            .parse()
            .map_err(|_| DomainError::internal("stored CIDR invalid"))?;
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
            let other: Ipv4Net = s
                .cidr
                .parse()
                .map_err(|_| DomainError::internal("stored CIDR invalid"))?;
            if other.contains(&net.network()) || net.contains(&other.network()) {
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

    // ---- Security groups ----------------------------------------------------------------------

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

    // ---- Ports --------------------------------------------------------------------------------

    async fn check_groups(
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
    async fn new_port(
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

    // ---- Lab: servers -------------------------------------------------------------------------

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

    // ---- Lab: load balancers ------------------------------------------------------------------

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

    // ---- Lab: sites ---------------------------------------------------------------------------

    pub async fn create_site(&self, caller: &Caller, body: CreateSite) -> DomainResult<Site> {
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name)?;
        let net = validate::network_cidr("cidr", body.cidr.as_deref().unwrap_or_default())?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let vpc: Vpc = own(&mut tx, caller, &vpc_id, Thing::Vpc).await?;
        let vnet: Ipv4Net = vpc
            .cidr
            .parse()
            .map_err(|_| DomainError::internal("stored CIDR invalid"))?;
        if vnet.contains(&net.network()) || net.contains(&vnet.network()) {
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
            let o: Ipv4Net = other
                .cidr
                .parse()
                .map_err(|_| DomainError::internal("stored CIDR invalid"))?;
            if o.contains(&net.network()) || net.contains(&o.network()) {
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

/// A port that backs an endpoint service cannot go away under it.
async fn check_not_a_backend(tx: &mut Box<dyn Tx>, port_id: &str) -> DomainResult<()> {
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
