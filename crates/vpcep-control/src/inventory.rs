//! The network inventory (SPEC R3): VPCs, subnets, ports, security groups and rules (Huawei VPC v1
//! semantics) and the lab's servers, load balancers and sites. Records only here; the data-plane
//! agent realises them from the change feed.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpcep_core::error::{ApiError, ApiResult};
use vpcep_core::inventory::{
    Direction, Listener, LoadBalancer, Member, Port, SecurityGroup, SecurityGroupRule, Server,
    Site, Subnet, Vpc,
};

use vpcep_core::model::{Endpoint, EndpointService, Kind, Resource};
use vpcep_core::validate;
use vpcep_core::vpc_wire::{
    CreatePortBody, CreateSecurityGroupBody, CreateSecurityGroupRuleBody, CreateSubnetBody,
    CreateVpcBody, UpdatePortBody, UpdateSubnetBody, UpdateVpcBody,
};
use vpcep_store::{Query, StoreExt, Tx, TxExt};

use crate::endpoints::{allocate_ip, ip_claim_key};
use crate::{Caller, Control, new_uuid, now_ms};

/// Error codes of the VPC side, in Huawei's `VPC.xxxx` style.
pub mod vpc_codes {
    pub const PARAMETER: &str = "VPC.0002";
    pub const VPC_NOT_FOUND: &str = "VPC.0101";
    pub const SUBNET_NOT_FOUND: &str = "VPC.0202";
    pub const PORT_NOT_FOUND: &str = "VPC.0701";
    pub const SG_NOT_FOUND: &str = "VPC.0602";
    pub const RULE_NOT_FOUND: &str = "VPC.0603";
    pub const IN_USE: &str = "VPC.0008";
    pub const CIDR_CONFLICT: &str = "VPC.0209";
    pub const IP_IN_USE: &str = "VPC.0704";
    pub const LAB_NOT_FOUND: &str = "LAB.0404";
}

use vpc_codes as vc;

fn param(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, vc::PARAMETER, msg)
}

fn not_found(code: &'static str, what: &str, id: &str) -> ApiError {
    ApiError::new(404, code, format!("The {what} {id} does not exist."))
}

fn in_use(msg: impl Into<String>) -> ApiError {
    ApiError::new(409, vc::IN_USE, msg)
}

/// Load a resource of the caller's project, or 404.
async fn own<R: Resource>(
    tx: &mut Box<dyn Tx>,
    caller: &Caller,
    id: &str,
    code: &'static str,
    what: &str,
) -> ApiResult<R> {
    let rec = tx.get(R::KIND, id).await?;
    match rec {
        Some(r) if r.index.project_id == caller.project_id => {
            Ok(vpcep_store::typed::from_record(&r)?)
        }
        _ => Err(not_found(code, what, id)),
    }
}

fn mac_for(id: &str) -> String {
    // fa:16:3e (the OpenStack prefix) + the last 3 bytes of the id: with time-ordered (v7) ids
    // the leading digits are a timestamp shared by ports created together; the tail is random.
    let digits: Vec<char> = id.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let hex: String = digits[digits.len().saturating_sub(6)..].iter().collect();
    let b = |i: usize| hex.get(i..i + 2).unwrap_or("00").to_string();
    format!("fa:16:3e:{}:{}:{}", b(0), b(2), b(4))
}

/// A NIC to create for a lab server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct NicIn {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateServerBody {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    /// Primary NIC first.
    pub nics: Option<Vec<NicIn>>,
    /// Security group ids; the project's `default` group when empty.
    pub security_groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct MemberIn {
    pub address: Option<String>,
    pub port: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ListenerIn {
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub members: Option<Vec<MemberIn>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateLoadBalancerBody {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub vip_address: Option<String>,
    pub listeners: Option<Vec<ListenerIn>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateLoadBalancerBody {
    pub name: Option<String>,
    pub listeners: Option<Vec<ListenerIn>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateSiteBody {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    pub cidr: Option<String>,
}

fn parse_listeners(raw: Vec<ListenerIn>) -> ApiResult<Vec<Listener>> {
    let mut out: Vec<Listener> = Vec::new();
    for l in raw {
        let protocol = validate::protocol(l.protocol.as_deref().unwrap_or("TCP"))
            .map_err(|e| param(e.message))?;
        let port = validate::port_number("listener port", l.port.unwrap_or(0), vc::PARAMETER)
            .map_err(|e| param(e.message))?;
        if out.iter().any(|x| x.port == port && x.protocol == protocol) {
            return Err(param(format!(
                "Listener {} {port} is defined twice.",
                protocol.as_str()
            )));
        }
        let mut members = Vec::new();
        for m in l.members.unwrap_or_default() {
            let address = m.address.unwrap_or_default();
            address
                .parse::<Ipv4Addr>()
                .map_err(|_| param(format!("Invalid member address '{address}'.")))?;
            let port = validate::port_number("member port", m.port.unwrap_or(0), vc::PARAMETER)
                .map_err(|e| param(e.message))?;
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

    pub async fn create_vpc(&self, caller: &Caller, body: CreateVpcBody) -> ApiResult<Vpc> {
        let name = body.name.unwrap_or_else(|| "vpc".to_string());
        validate::resource_name("name", &name).map_err(|e| param(e.message))?;
        let cidr = validate::network_cidr("cidr", body.cidr.as_deref().unwrap_or("192.168.0.0/16"))
            .map_err(|e| ApiError::new(400, vc::PARAMETER, e.message))?;
        let description = body.description.unwrap_or_default();
        validate::description("description", &description).map_err(|e| param(e.message))?;
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

    pub async fn get_vpc(&self, caller: &Caller, id: &str) -> ApiResult<Vpc> {
        match self.store.load::<Vpc>(id).await? {
            Some(v) if v.project_id == caller.project_id => Ok(v),
            _ => Err(not_found(vc::VPC_NOT_FOUND, "VPC", id)),
        }
    }

    pub async fn list_vpcs(&self, caller: &Caller) -> ApiResult<Vec<Vpc>> {
        let mut q = Query::of(Kind::Vpc).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<Vpc>(q).await?.0)
    }

    pub async fn update_vpc(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdateVpcBody,
    ) -> ApiResult<Vpc> {
        let mut tx = self.store.begin().await?;
        let mut v: Vpc = own(&mut tx, caller, id, vc::VPC_NOT_FOUND, "VPC").await?;
        if let Some(n) = body.name {
            validate::resource_name("name", &n).map_err(|e| param(e.message))?;
            v.name = n;
        }
        if let Some(d) = body.description {
            validate::description("description", &d).map_err(|e| param(e.message))?;
            v.description = d;
        }
        if let Some(c) = body.cidr {
            let net = validate::network_cidr("cidr", &c).map_err(|e| param(e.message))?;
            let subnets = tx
                .load_all::<Subnet>(Query::of(Kind::Subnet).parent(id))
                .await?;
            for s in subnets {
                let sn: Ipv4Net = s
                    .cidr
                    .parse()
                    .map_err(|_| ApiError::system("stored CIDR invalid"))?;
                if !net.contains(&sn) {
                    return Err(param(format!(
                        "The new CIDR {net} does not contain subnet {} ({}).",
                        s.name, s.cidr
                    )));
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

    pub async fn delete_vpc(&self, caller: &Caller, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let _v: Vpc = own(&mut tx, caller, id, vc::VPC_NOT_FOUND, "VPC").await?;
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
                return Err(in_use(format!(
                    "The VPC still has {n} {what}: delete them first."
                )));
            }
        }
        tx.delete(Kind::Vpc, id).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- Subnets ------------------------------------------------------------------------------

    pub async fn create_subnet(
        &self,
        caller: &Caller,
        body: CreateSubnetBody,
    ) -> ApiResult<Subnet> {
        if let Some(f) = body.missing_required() {
            return Err(param(format!("{f} is required.")));
        }
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name).map_err(|e| param(e.message))?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let net = validate::network_cidr("cidr", body.cidr.as_deref().unwrap_or_default())
            .map_err(|e| param(e.message))?;
        let gateway: Ipv4Addr = body
            .gateway_ip
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|_| param("gateway_ip must be an IPv4 address."))?;
        if !net.contains(&gateway) || gateway == net.network() || gateway == net.broadcast() {
            return Err(param(format!(
                "gateway_ip {gateway} must be a host address of {net}."
            )));
        }
        let description = body.description.unwrap_or_default();
        validate::description("description", &description).map_err(|e| param(e.message))?;
        let dns: Vec<String> = body.dns_list.unwrap_or_default();
        // No DNS server given: the VPC's own resolver (private names, then the upstream).
        let primary_dns = body
            .primary_dns
            .or_else(|| dns.first().cloned())
            .or_else(|| Some(vpcep_core::naming::VPC_RESOLVER.to_string()));
        let secondary_dns = body.secondary_dns.or_else(|| dns.get(1).cloned());
        for d in primary_dns.iter().chain(secondary_dns.iter()) {
            d.parse::<Ipv4Addr>()
                .map_err(|_| param(format!("Invalid DNS server '{d}'.")))?;
        }
        let mut tx = self.store.begin().await?;
        let vpc: Vpc = own(&mut tx, caller, &vpc_id, vc::VPC_NOT_FOUND, "VPC").await?;
        let vnet: Ipv4Net = vpc
            .cidr
            .parse()
            .map_err(|_| ApiError::system("stored CIDR invalid"))?;
        if !vnet.contains(&net) {
            return Err(param(format!(
                "The subnet CIDR {net} is not inside the VPC CIDR {vnet}."
            )));
        }
        for s in tx
            .load_all::<Subnet>(Query::of(Kind::Subnet).parent(&vpc_id))
            .await?
        {
            let other: Ipv4Net = s
                .cidr
                .parse()
                .map_err(|_| ApiError::system("stored CIDR invalid"))?;
            if other.contains(&net.network()) || net.contains(&other.network()) {
                return Err(ApiError::new(
                    400,
                    vc::CIDR_CONFLICT,
                    format!(
                        "The subnet CIDR {net} overlaps subnet {} ({other}) in this VPC.",
                        s.name
                    ),
                ));
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

    pub async fn get_subnet(&self, caller: &Caller, id: &str) -> ApiResult<Subnet> {
        match self.store.load::<Subnet>(id).await? {
            Some(s) if s.project_id == caller.project_id => Ok(s),
            _ => Err(not_found(vc::SUBNET_NOT_FOUND, "subnet", id)),
        }
    }

    pub async fn list_subnets(
        &self,
        caller: &Caller,
        vpc_id: Option<&str>,
    ) -> ApiResult<Vec<Subnet>> {
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
        body: UpdateSubnetBody,
    ) -> ApiResult<Subnet> {
        let mut tx = self.store.begin().await?;
        let mut s: Subnet = own(&mut tx, caller, id, vc::SUBNET_NOT_FOUND, "subnet").await?;
        if s.vpc_id != vpc_id {
            return Err(not_found(vc::SUBNET_NOT_FOUND, "subnet", id));
        }
        if let Some(n) = body.name {
            validate::resource_name("name", &n).map_err(|e| param(e.message))?;
            s.name = n;
        }
        if let Some(d) = body.description {
            validate::description("description", &d).map_err(|e| param(e.message))?;
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

    pub async fn delete_subnet(&self, caller: &Caller, vpc_id: &str, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let s: Subnet = own(&mut tx, caller, id, vc::SUBNET_NOT_FOUND, "subnet").await?;
        if s.vpc_id != vpc_id {
            return Err(not_found(vc::SUBNET_NOT_FOUND, "subnet", id));
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
            return Err(in_use(format!(
                "The subnet still has {ports} port(s) and {endpoints} endpoint(s): delete them first."
            )));
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
    ) -> ApiResult<SecurityGroup> {
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
        body: CreateSecurityGroupBody,
    ) -> ApiResult<(SecurityGroup, Vec<SecurityGroupRule>)> {
        if let Some(f) = body.missing_required() {
            return Err(param(format!("{f} is required.")));
        }
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name).map_err(|e| param(e.message))?;
        let description = body.description.unwrap_or_default();
        validate::description("description", &description).map_err(|e| param(e.message))?;
        let mut tx = self.store.begin().await?;
        if let Some(v) = body.vpc_id.as_deref().filter(|s| !s.is_empty()) {
            let _vpc: Vpc = own(&mut tx, caller, v, vc::VPC_NOT_FOUND, "VPC").await?;
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
    ) -> ApiResult<(SecurityGroup, Vec<SecurityGroupRule>)> {
        let g = match self.store.load::<SecurityGroup>(id).await? {
            Some(g) if g.project_id == caller.project_id => g,
            _ => return Err(not_found(vc::SG_NOT_FOUND, "security group", id)),
        };
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
    ) -> ApiResult<Vec<(SecurityGroup, Vec<SecurityGroupRule>)>> {
        let mut q = Query::of(Kind::SecurityGroup).project(&caller.project_id);
        q.vpc_id = vpc_id.filter(|s| !s.is_empty()).map(str::to_string);
        q.order = vpcep_store::Order::CreatedAsc;
        let groups = self.store.load_page::<SecurityGroup>(q).await?.0;
        let mut out = Vec::new();
        for g in groups {
            let rules = self
                .store
                .load_page::<SecurityGroupRule>(Query::of(Kind::SecurityGroupRule).parent(&g.id))
                .await?
                .0;
            out.push((g, rules));
        }
        Ok(out)
    }

    pub async fn delete_security_group(&self, caller: &Caller, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let _g: SecurityGroup =
            own(&mut tx, caller, id, vc::SG_NOT_FOUND, "security group").await?;
        let ports = tx
            .load_all::<Port>(Query::of(Kind::Port).project(&caller.project_id))
            .await?;
        let users = ports
            .iter()
            .filter(|p| p.security_groups.iter().any(|g| g == id))
            .count();
        if users > 0 {
            return Err(in_use(format!(
                "The security group is used by {users} port(s)."
            )));
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
        body: CreateSecurityGroupRuleBody,
    ) -> ApiResult<SecurityGroupRule> {
        if let Some(f) = body.missing_required() {
            return Err(param(format!("{f} is required.")));
        }
        let direction = match body.direction.as_deref() {
            Some("ingress") => Direction::Ingress,
            Some("egress") => Direction::Egress,
            other => {
                return Err(param(format!(
                    "Invalid direction '{}': use ingress or egress.",
                    other.unwrap_or("")
                )));
            }
        };
        let ethertype = body.ethertype.unwrap_or_else(|| "IPv4".to_string());
        if ethertype != "IPv4" {
            return Err(param("Only ethertype IPv4 is supported."));
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
                return Err(param(format!(
                    "Invalid protocol '{p}': use tcp, udp, icmp or leave it empty."
                )));
            }
        };
        let range = |v: Option<i64>, what: &str| -> ApiResult<Option<u16>> {
            match v {
                None => Ok(None),
                Some(n) if (1..=65535).contains(&n) => Ok(Some(n as u16)),
                Some(n) => Err(param(format!("{what} {n} is out of range 1-65535."))),
            }
        };
        let port_range_min = range(body.port_range_min, "port_range_min")?;
        let port_range_max = range(body.port_range_max, "port_range_max")?;
        if (port_range_min.is_some() || port_range_max.is_some())
            && !matches!(protocol.as_deref(), Some("tcp" | "udp"))
        {
            return Err(param("Port ranges need protocol tcp or udp."));
        }
        if let (Some(a), Some(b)) = (port_range_min, port_range_max)
            && a > b
        {
            return Err(param("port_range_min must not exceed port_range_max."));
        }
        let remote_ip_prefix = match body.remote_ip_prefix.as_deref().filter(|s| !s.is_empty()) {
            Some(p) => {
                let net = if p.contains('/') {
                    p.parse::<Ipv4Net>().ok()
                } else {
                    p.parse::<Ipv4Addr>().ok().map(Ipv4Net::from)
                };
                Some(
                    net.map(|n| n.trunc().to_string())
                        .ok_or_else(|| param(format!("Invalid remote_ip_prefix '{p}'.")))?,
                )
            }
            None => None,
        };
        let remote_group_id = body.remote_group_id.filter(|s| !s.is_empty());
        if remote_ip_prefix.is_some() && remote_group_id.is_some() {
            return Err(param("Give remote_ip_prefix or remote_group_id, not both."));
        }
        let description = body.description.unwrap_or_default();
        validate::description("description", &description).map_err(|e| param(e.message))?;
        let sg_id = body.security_group_id.unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let mut g: SecurityGroup =
            own(&mut tx, caller, &sg_id, vc::SG_NOT_FOUND, "security group").await?;
        if let Some(r) = &remote_group_id {
            let _other: SecurityGroup =
                own(&mut tx, caller, r, vc::SG_NOT_FOUND, "security group").await?;
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
            return Err(ApiError::new(
                409,
                "VPC.0604",
                "An identical rule already exists in this security group.",
            ));
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
    ) -> ApiResult<SecurityGroupRule> {
        match self.store.load::<SecurityGroupRule>(id).await? {
            Some(r) if r.project_id == caller.project_id => Ok(r),
            _ => Err(not_found(vc::RULE_NOT_FOUND, "security group rule", id)),
        }
    }

    pub async fn list_security_group_rules(
        &self,
        caller: &Caller,
        sg: Option<&str>,
    ) -> ApiResult<Vec<SecurityGroupRule>> {
        let mut q = Query::of(Kind::SecurityGroupRule).project(&caller.project_id);
        q.parent_id = sg.filter(|s| !s.is_empty()).map(str::to_string);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<SecurityGroupRule>(q).await?.0)
    }

    pub async fn delete_security_group_rule(&self, caller: &Caller, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let _r: SecurityGroupRule = own(
            &mut tx,
            caller,
            id,
            vc::RULE_NOT_FOUND,
            "security group rule",
        )
        .await?;
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
    ) -> ApiResult<()> {
        for g in groups {
            let _g: SecurityGroup = own(tx, caller, g, vc::SG_NOT_FOUND, "security group").await?;
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
    ) -> ApiResult<Port> {
        let id = new_uuid();
        let ip = allocate_ip(tx, subnet, ip, &format!("port:{id}"))
            .await
            .map_err(|e| {
                let code = if e.code == vpcep_core::error::codes::PORT_IP_IN_USE {
                    vc::IP_IN_USE
                } else {
                    vc::PARAMETER
                };
                ApiError::new(e.status, code, e.message)
            })?;
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

    pub async fn create_port(&self, caller: &Caller, body: CreatePortBody) -> ApiResult<Port> {
        if let Some(f) = body.missing_required() {
            return Err(param(format!("{f} is required.")));
        }
        let name = body.name.unwrap_or_default();
        if !name.is_empty() {
            validate::resource_name("name", &name).map_err(|e| param(e.message))?;
        }
        let network_id = body.network_id.unwrap_or_default();
        let fixed = body.fixed_ips.unwrap_or_default();
        if fixed.len() > 1 {
            return Err(param("A port has at most one fixed IP here."));
        }
        let mut tx = self.store.begin().await?;
        let subnet: Subnet = own(
            &mut tx,
            caller,
            &network_id,
            vc::SUBNET_NOT_FOUND,
            "network",
        )
        .await?;
        if let Some(f) = fixed.first()
            && let Some(sid) = f.subnet_id.as_deref().filter(|s| !s.is_empty())
            && sid != subnet.id
            && sid != subnet.neutron_subnet_id
        {
            return Err(param("fixed_ips.subnet_id does not belong to network_id."));
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

    pub async fn get_port(&self, caller: &Caller, id: &str) -> ApiResult<Port> {
        match self.store.load::<Port>(id).await? {
            Some(p) if p.project_id == caller.project_id => Ok(p),
            _ => Err(not_found(vc::PORT_NOT_FOUND, "port", id)),
        }
    }

    pub async fn list_ports(&self, caller: &Caller) -> ApiResult<Vec<Port>> {
        let mut q = Query::of(Kind::Port).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<Port>(q).await?.0)
    }

    pub async fn update_port(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdatePortBody,
    ) -> ApiResult<Port> {
        let mut tx = self.store.begin().await?;
        let mut p: Port = own(&mut tx, caller, id, vc::PORT_NOT_FOUND, "port").await?;
        if let Some(n) = body.name {
            if !n.is_empty() {
                validate::resource_name("name", &n).map_err(|e| param(e.message))?;
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

    pub async fn delete_port(&self, caller: &Caller, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let p: Port = own(&mut tx, caller, id, vc::PORT_NOT_FOUND, "port").await?;
        if !p.device_id.is_empty() {
            return Err(in_use(format!(
                "The port belongs to {} {}: delete that instead.",
                p.device_owner, p.device_id
            )));
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
        body: CreateServerBody,
    ) -> ApiResult<(Server, Vec<Port>)> {
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name).map_err(|e| param(e.message))?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let nics = body.nics.unwrap_or_default();
        if nics.is_empty() || nics.len() > 8 {
            return Err(param("A server needs 1 to 8 NICs (primary first)."));
        }
        let mut tx = self.store.begin().await?;
        let _vpc: Vpc = own(&mut tx, caller, &vpc_id, vc::VPC_NOT_FOUND, "VPC").await?;
        let groups = match body.security_groups.filter(|g| !g.is_empty()) {
            Some(g) => g,
            None => vec![self.default_security_group(&mut tx, caller).await?.id],
        };
        self.check_groups(&mut tx, caller, &groups).await?;
        let id = new_uuid();
        let mut ports = Vec::new();
        for (i, nic) in nics.into_iter().enumerate() {
            let sid = nic.subnet_id.unwrap_or_default();
            let subnet: Subnet = own(&mut tx, caller, &sid, vc::SUBNET_NOT_FOUND, "subnet").await?;
            if subnet.vpc_id != vpc_id {
                return Err(param(format!("Subnet {sid} is not in VPC {vpc_id}.")));
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

    pub async fn get_server(&self, caller: &Caller, id: &str) -> ApiResult<(Server, Vec<Port>)> {
        let s = match self.store.load::<Server>(id).await? {
            Some(s) if s.project_id == caller.project_id => s,
            _ => return Err(not_found(vc::LAB_NOT_FOUND, "server", id)),
        };
        let mut ports = Vec::new();
        for p in &s.nics {
            if let Some(p) = self.store.load::<Port>(p).await? {
                ports.push(p);
            }
        }
        Ok((s, ports))
    }

    pub async fn list_servers(&self, caller: &Caller) -> ApiResult<Vec<(Server, Vec<Port>)>> {
        let mut q = Query::of(Kind::Server).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        let servers = self.store.load_page::<Server>(q).await?.0;
        let mut out = Vec::new();
        for s in servers {
            out.push(self.get_server(caller, &s.id).await?);
        }
        Ok(out)
    }

    pub async fn delete_server(&self, caller: &Caller, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let s: Server = own(&mut tx, caller, id, vc::LAB_NOT_FOUND, "server").await?;
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
        body: CreateLoadBalancerBody,
    ) -> ApiResult<LoadBalancer> {
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name).map_err(|e| param(e.message))?;
        let listeners = parse_listeners(body.listeners.unwrap_or_default())?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let subnet_id = body.subnet_id.unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let _vpc: Vpc = own(&mut tx, caller, &vpc_id, vc::VPC_NOT_FOUND, "VPC").await?;
        let subnet: Subnet =
            own(&mut tx, caller, &subnet_id, vc::SUBNET_NOT_FOUND, "subnet").await?;
        if subnet.vpc_id != vpc_id {
            return Err(param(format!("Subnet {subnet_id} is not in VPC {vpc_id}.")));
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

    pub async fn get_loadbalancer(&self, caller: &Caller, id: &str) -> ApiResult<LoadBalancer> {
        match self.store.load::<LoadBalancer>(id).await? {
            Some(l) if l.project_id == caller.project_id => Ok(l),
            _ => Err(not_found(vc::LAB_NOT_FOUND, "load balancer", id)),
        }
    }

    pub async fn list_loadbalancers(&self, caller: &Caller) -> ApiResult<Vec<LoadBalancer>> {
        let mut q = Query::of(Kind::Loadbalancer).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<LoadBalancer>(q).await?.0)
    }

    pub async fn update_loadbalancer(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdateLoadBalancerBody,
    ) -> ApiResult<LoadBalancer> {
        let listeners = body.listeners.map(parse_listeners).transpose()?;
        let mut tx = self.store.begin().await?;
        let mut lb: LoadBalancer =
            own(&mut tx, caller, id, vc::LAB_NOT_FOUND, "load balancer").await?;
        if let Some(n) = body.name {
            validate::resource_name("name", &n).map_err(|e| param(e.message))?;
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

    pub async fn delete_loadbalancer(&self, caller: &Caller, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let lb: LoadBalancer = own(&mut tx, caller, id, vc::LAB_NOT_FOUND, "load balancer").await?;
        check_not_a_backend(&mut tx, &lb.vip_port_id).await?;
        tx.release_owner(&format!("port:{}", lb.vip_port_id))
            .await?;
        tx.delete(Kind::Port, &lb.vip_port_id).await?;
        tx.delete(Kind::Loadbalancer, id).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- Lab: sites ---------------------------------------------------------------------------

    pub async fn create_site(&self, caller: &Caller, body: CreateSiteBody) -> ApiResult<Site> {
        let name = body.name.unwrap_or_default();
        validate::resource_name("name", &name).map_err(|e| param(e.message))?;
        let net = validate::network_cidr("cidr", body.cidr.as_deref().unwrap_or_default())
            .map_err(|e| param(e.message))?;
        let vpc_id = body.vpc_id.unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let vpc: Vpc = own(&mut tx, caller, &vpc_id, vc::VPC_NOT_FOUND, "VPC").await?;
        let vnet: Ipv4Net = vpc
            .cidr
            .parse()
            .map_err(|_| ApiError::system("stored CIDR invalid"))?;
        if vnet.contains(&net.network()) || net.contains(&vnet.network()) {
            return Err(ApiError::new(
                400,
                vc::CIDR_CONFLICT,
                format!(
                    "The site CIDR {net} overlaps the VPC CIDR {vnet}: a VPN needs distinct networks on each side."
                ),
            ));
        }
        for other in tx
            .load_all::<Site>(Query::of(Kind::Site).vpc(&vpc_id))
            .await?
        {
            let o: Ipv4Net = other
                .cidr
                .parse()
                .map_err(|_| ApiError::system("stored CIDR invalid"))?;
            if o.contains(&net.network()) || net.contains(&o.network()) {
                return Err(ApiError::new(
                    400,
                    vc::CIDR_CONFLICT,
                    format!("The site CIDR {net} overlaps site {} ({o}).", other.name),
                ));
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

    pub async fn get_site(&self, caller: &Caller, id: &str) -> ApiResult<Site> {
        match self.store.load::<Site>(id).await? {
            Some(s) if s.project_id == caller.project_id => Ok(s),
            _ => Err(not_found(vc::LAB_NOT_FOUND, "site", id)),
        }
    }

    pub async fn list_sites(&self, caller: &Caller) -> ApiResult<Vec<Site>> {
        let mut q = Query::of(Kind::Site).project(&caller.project_id);
        q.order = vpcep_store::Order::CreatedAsc;
        Ok(self.store.load_page::<Site>(q).await?.0)
    }

    pub async fn delete_site(&self, caller: &Caller, id: &str) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        let _s: Site = own(&mut tx, caller, id, vc::LAB_NOT_FOUND, "site").await?;
        tx.delete(Kind::Site, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Subnet of an id given either as the v1 id or the Neutron subnet id.
    pub async fn subnet_by_any_id(&self, id: &str) -> ApiResult<Option<Subnet>> {
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
async fn check_not_a_backend(tx: &mut Box<dyn Tx>, port_id: &str) -> ApiResult<()> {
    let services = tx
        .load_all::<EndpointService>(Query::of(Kind::EndpointService).parent(port_id))
        .await?;
    if let Some(s) = services.first() {
        return Err(in_use(format!(
            "The port backs endpoint service {}: delete the service first.",
            s.service_name
        )));
    }
    Ok(())
}
