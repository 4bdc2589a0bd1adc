//! The Huawei VPC v1 subset (`huaweicloudsdkvpc` v2 `VpcClient`, see `docs/vpc-v1-wire.md`) and
//! the lab resources under `/v1/{project_id}/lab/`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_core::inventory as inv;
use vpcep_core::timefmt::to_wire;
use vpcep_huawei::error::vpc_codes;
use vpcep_huawei::lab::{
    CreateLoadBalancerRequest, CreateServerRequest, CreateSiteRequest, LoadBalancerEnvelope,
    LoadBalancerOut, LoadBalancersEnvelope, ServerEnvelope, ServerOut, ServersEnvelope,
    SiteEnvelope, SiteOut, SitesEnvelope, UpdateLoadBalancerRequest,
};
use vpcep_huawei::vpc as w;

use crate::AppState;
use crate::error::{VpcFailure, VpcReply, parse_body, query_map, query_pairs};

type P2 = Path<(String, String)>;
type P3 = Path<(String, String, String)>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/{project_id}/vpcs", get(list_vpcs).post(create_vpc))
        .route(
            "/v1/{project_id}/vpcs/{vpc_id}",
            get(show_vpc).put(update_vpc).delete(delete_vpc),
        )
        .route(
            "/v1/{project_id}/subnets",
            get(list_subnets).post(create_subnet),
        )
        .route("/v1/{project_id}/subnets/{subnet_id}", get(show_subnet))
        .route(
            "/v1/{project_id}/vpcs/{vpc_id}/subnets/{subnet_id}",
            axum::routing::put(update_subnet).delete(delete_subnet),
        )
        .route("/v1/{project_id}/ports", get(list_ports).post(create_port))
        .route(
            "/v1/{project_id}/ports/{port_id}",
            get(show_port).put(update_port).delete(delete_port),
        )
        .route(
            "/v1/{project_id}/security-groups",
            get(list_security_groups).post(create_security_group),
        )
        .route(
            "/v1/{project_id}/security-groups/{id}",
            get(show_security_group).delete(delete_security_group),
        )
        .route(
            "/v1/{project_id}/security-group-rules",
            get(list_security_group_rules).post(create_security_group_rule),
        )
        .route(
            "/v1/{project_id}/security-group-rules/{id}",
            get(show_security_group_rule).delete(delete_security_group_rule),
        )
        .route(
            "/v1/{project_id}/lab/servers",
            get(list_servers).post(create_server),
        )
        .route(
            "/v1/{project_id}/lab/servers/{id}",
            get(show_server).delete(delete_server),
        )
        .route(
            "/v1/{project_id}/lab/loadbalancers",
            get(list_loadbalancers).post(create_loadbalancer),
        )
        .route(
            "/v1/{project_id}/lab/loadbalancers/{id}",
            get(show_loadbalancer)
                .put(update_loadbalancer)
                .delete(delete_loadbalancer),
        )
        .route(
            "/v1/{project_id}/lab/sites",
            get(list_sites).post(create_site),
        )
        .route(
            "/v1/{project_id}/lab/sites/{id}",
            get(show_site).delete(delete_site),
        )
}

/// Apply `limit` / `marker` paging (marker = id of the last item of the previous page).
fn paged<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    limit: Option<&str>,
    marker: Option<&str>,
) -> Vec<T> {
    let start = match marker.filter(|m| !m.is_empty()) {
        Some(m) => items
            .iter()
            .position(|x| id(x) == m)
            .map(|i| i + 1)
            .unwrap_or(items.len()),
        None => 0,
    };
    let limit = limit
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    items.into_iter().skip(start).take(limit).collect()
}

// ---- conversions --------------------------------------------------------------------------------

fn vpc_out(v: &inv::Vpc) -> w::Vpc {
    w::Vpc {
        id: v.id.clone(),
        name: v.name.clone(),
        description: v.description.clone(),
        cidr: v.cidr.clone(),
        status: v.status.clone(),
        enterprise_project_id: "0".into(),
        tenant_id: v.project_id.clone(),
        created_at: to_wire(v.created_ms),
        updated_at: to_wire(v.updated_ms),
        ..Default::default()
    }
}

fn subnet_out(s: &inv::Subnet) -> w::Subnet {
    w::Subnet {
        id: s.id.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        cidr: s.cidr.clone(),
        gateway_ip: s.gateway_ip.clone(),
        dhcp_enable: s.dhcp_enable,
        primary_dns: s.primary_dns.clone(),
        secondary_dns: s.secondary_dns.clone(),
        dns_list: s
            .primary_dns
            .iter()
            .chain(s.secondary_dns.iter())
            .cloned()
            .collect(),
        availability_zone: s.availability_zone.clone().unwrap_or_default(),
        vpc_id: s.vpc_id.clone(),
        status: s.status.clone(),
        neutron_network_id: s.id.clone(),
        neutron_subnet_id: s.neutron_subnet_id.clone(),
        tenant_id: s.project_id.clone(),
        created_at: to_wire(s.created_ms),
        updated_at: to_wire(s.updated_ms),
        ..Default::default()
    }
}

fn port_out(p: &inv::Port, neutron_subnet_id: &str) -> w::Port {
    w::Port {
        id: p.id.clone(),
        name: p.name.clone(),
        network_id: p.subnet_id.clone(),
        admin_state_up: p.admin_state_up,
        mac_address: p.mac_address.clone(),
        fixed_ips: vec![w::FixedIp {
            subnet_id: Some(if neutron_subnet_id.is_empty() {
                p.subnet_id.clone()
            } else {
                neutron_subnet_id.to_string()
            }),
            ip_address: Some(p.ip_address.clone()),
        }],
        device_id: p.device_id.clone(),
        device_owner: p.device_owner.clone(),
        tenant_id: p.project_id.clone(),
        status: p.status.clone(),
        security_groups: p.security_groups.clone(),
        binding_vnic_type: "normal".into(),
        instance_id: p.device_id.clone(),
        port_security_enabled: true,
        ..Default::default()
    }
}

fn rule_out(r: &inv::SecurityGroupRule) -> w::SecurityGroupRule {
    w::SecurityGroupRule {
        id: r.id.clone(),
        description: r.description.clone(),
        security_group_id: r.security_group_id.clone(),
        direction: match r.direction {
            inv::Direction::Ingress => "ingress".into(),
            inv::Direction::Egress => "egress".into(),
        },
        ethertype: r.ethertype.clone(),
        protocol: r.protocol.clone(),
        port_range_min: r.port_range_min,
        port_range_max: r.port_range_max,
        remote_ip_prefix: r.remote_ip_prefix.clone(),
        remote_group_id: r.remote_group_id.clone(),
        remote_address_group_id: None,
        tenant_id: r.project_id.clone(),
    }
}

fn sg_out(g: &inv::SecurityGroup, rules: &[inv::SecurityGroupRule]) -> w::SecurityGroup {
    w::SecurityGroup {
        id: g.id.clone(),
        name: g.name.clone(),
        description: g.description.clone(),
        vpc_id: g.vpc_id.clone(),
        enterprise_project_id: "0".into(),
        security_group_rules: rules.iter().map(rule_out).collect(),
    }
}

async fn neutron_subnet(s: &AppState, subnet_id: &str) -> String {
    match s.control.subnet_by_any_id(subnet_id).await {
        Ok(Some(sn)) => sn.neutron_subnet_id,
        _ => String::new(),
    }
}

// ---- VPCs ---------------------------------------------------------------------------------------

async fn create_vpc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::VpcEnvelope>> {
    let b: w::CreateVpcRequest = parse_body(&body)?;
    let v = s.control.create_vpc(&c, b.vpc.into()).await?;
    Ok(Json(w::VpcEnvelope { vpc: vpc_out(&v) }))
}

async fn list_vpcs(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> VpcReply<Json<w::VpcsEnvelope>> {
    let q = query_map(q.as_deref());
    let mut list = s.control.list_vpcs(&c).await?;
    if let Some(id) = q.get("id").filter(|v| !v.is_empty()) {
        list.retain(|v| &v.id == id);
    }
    let list = paged(
        list,
        |v| &v.id,
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
    );
    Ok(Json(w::VpcsEnvelope {
        vpcs: list.iter().map(vpc_out).collect(),
    }))
}

async fn show_vpc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::VpcEnvelope>> {
    Ok(Json(w::VpcEnvelope {
        vpc: vpc_out(&s.control.get_vpc(&c, &id).await?),
    }))
}

async fn update_vpc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> VpcReply<Json<w::VpcEnvelope>> {
    let b: w::UpdateVpcRequest = parse_body(&body)?;
    Ok(Json(w::VpcEnvelope {
        vpc: vpc_out(&s.control.update_vpc(&c, &id, b.vpc.into()).await?),
    }))
}

async fn delete_vpc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_vpc(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- subnets ------------------------------------------------------------------------------------

async fn create_subnet(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::SubnetEnvelope>> {
    let b: w::CreateSubnetRequest = parse_body(&body)?;
    Ok(Json(w::SubnetEnvelope {
        subnet: subnet_out(&s.control.create_subnet(&c, b.subnet.into()).await?),
    }))
}

async fn list_subnets(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> VpcReply<Json<w::SubnetsEnvelope>> {
    let q = query_map(q.as_deref());
    let list = s
        .control
        .list_subnets(&c, q.get("vpc_id").map(String::as_str))
        .await?;
    let list = paged(
        list,
        |v| &v.id,
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
    );
    Ok(Json(w::SubnetsEnvelope {
        subnets: list.iter().map(subnet_out).collect(),
    }))
}

async fn show_subnet(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::SubnetEnvelope>> {
    Ok(Json(w::SubnetEnvelope {
        subnet: subnet_out(&s.control.get_subnet(&c, &id).await?),
    }))
}

async fn update_subnet(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, vpc_id, id)): P3,
    body: Bytes,
) -> VpcReply<Json<w::SubnetResultEnvelope>> {
    let b: w::UpdateSubnetRequest = parse_body(&body)?;
    let sn = s
        .control
        .update_subnet(&c, &vpc_id, &id, b.subnet.into())
        .await?;
    Ok(Json(w::SubnetResultEnvelope {
        subnet: w::SubnetResult {
            id: sn.id,
            status: sn.status,
        },
    }))
}

async fn delete_subnet(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, vpc_id, id)): P3,
) -> VpcReply<StatusCode> {
    s.control.delete_subnet(&c, &vpc_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- ports --------------------------------------------------------------------------------------

async fn create_port(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::PortEnvelope>> {
    let b: w::CreatePortRequest = parse_body(&body)?;
    let p = s.control.create_port(&c, b.port.into()).await?;
    let ns = neutron_subnet(&s, &p.subnet_id).await;
    Ok(Json(w::PortEnvelope {
        port: port_out(&p, &ns),
    }))
}

async fn list_ports(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> VpcReply<Json<w::PortsEnvelope>> {
    let pairs = query_pairs(q.as_deref());
    let q = w::ListPortsQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|k| {
            VpcFailure(vpcep_huawei::ApiError::new(
                400,
                vpc_codes::PARAMETER,
                format!("Invalid query parameter '{k}'."),
            ))
        })?;
    let mut list = s.control.list_ports(&c).await?;
    list.retain(|p| {
        (q.id.is_empty() || q.id.contains(&p.id))
            && q.name.as_ref().is_none_or(|n| &p.name == n)
            && q.network_id.as_ref().is_none_or(|n| &p.subnet_id == n)
            && q.device_id.as_ref().is_none_or(|n| &p.device_id == n)
            && q.device_owner.as_ref().is_none_or(|n| &p.device_owner == n)
            && q.mac_address.as_ref().is_none_or(|n| &p.mac_address == n)
            && q.status.as_ref().is_none_or(|n| &p.status == n)
            && q.admin_state_up.is_none_or(|a| p.admin_state_up == a)
            && q.security_groups
                .iter()
                .all(|g| p.security_groups.contains(g))
            && q.fixed_ips.iter().all(|f| match f.split_once('=') {
                Some(("ip_address", ip)) => p.ip_address == ip,
                Some(("subnet_id", _)) => true,
                _ => true,
            })
    });
    let limit = q.limit.map(|l| l.to_string());
    let list = paged(list, |p| &p.id, limit.as_deref(), q.marker.as_deref());
    // The Neutron subnet ids of every subnet of the project in one query, not one per port.
    let neutron: std::collections::HashMap<String, String> = s
        .control
        .list_subnets(&c, None)
        .await?
        .into_iter()
        .map(|sn| (sn.id, sn.neutron_subnet_id))
        .collect();
    let mut out = Vec::with_capacity(list.len());
    for p in &list {
        let ns = match neutron.get(&p.subnet_id) {
            Some(ns) => ns.clone(),
            None => neutron_subnet(&s, &p.subnet_id).await,
        };
        out.push(port_out(p, &ns));
    }
    Ok(Json(w::PortsEnvelope { ports: out }))
}

async fn show_port(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::PortEnvelope>> {
    let p = s.control.get_port(&c, &id).await?;
    let ns = neutron_subnet(&s, &p.subnet_id).await;
    Ok(Json(w::PortEnvelope {
        port: port_out(&p, &ns),
    }))
}

async fn update_port(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> VpcReply<Json<w::PortEnvelope>> {
    let b: w::UpdatePortRequest = parse_body(&body)?;
    let p = s.control.update_port(&c, &id, b.port.into()).await?;
    let ns = neutron_subnet(&s, &p.subnet_id).await;
    Ok(Json(w::PortEnvelope {
        port: port_out(&p, &ns),
    }))
}

async fn delete_port(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_port(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- security groups ----------------------------------------------------------------------------

async fn create_security_group(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::SecurityGroupEnvelope>> {
    let b: w::CreateSecurityGroupRequest = parse_body(&body)?;
    let (g, rules) = s
        .control
        .create_security_group(&c, b.security_group.into())
        .await?;
    Ok(Json(w::SecurityGroupEnvelope {
        security_group: sg_out(&g, &rules),
    }))
}

async fn list_security_groups(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> VpcReply<Json<w::SecurityGroupsEnvelope>> {
    let q = query_map(q.as_deref());
    let list = s
        .control
        .list_security_groups(&c, q.get("vpc_id").map(String::as_str))
        .await?;
    let list = paged(
        list,
        |(g, _)| &g.id,
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
    );
    Ok(Json(w::SecurityGroupsEnvelope {
        security_groups: list.iter().map(|(g, r)| sg_out(g, r)).collect(),
    }))
}

async fn show_security_group(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::SecurityGroupEnvelope>> {
    let (g, rules) = s.control.get_security_group(&c, &id).await?;
    Ok(Json(w::SecurityGroupEnvelope {
        security_group: sg_out(&g, &rules),
    }))
}

async fn delete_security_group(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_security_group(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_security_group_rule(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::SecurityGroupRuleEnvelope>> {
    let b: w::CreateSecurityGroupRuleRequest = parse_body(&body)?;
    let r = s
        .control
        .create_security_group_rule(&c, b.security_group_rule.into())
        .await?;
    Ok(Json(w::SecurityGroupRuleEnvelope {
        security_group_rule: rule_out(&r),
    }))
}

async fn list_security_group_rules(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> VpcReply<Json<w::SecurityGroupRulesEnvelope>> {
    let q = query_map(q.as_deref());
    let mut list = s
        .control
        .list_security_group_rules(&c, q.get("security_group_id").map(String::as_str))
        .await?;
    if let Some(p) = q.get("remote_ip_prefix").filter(|p| !p.is_empty()) {
        list.retain(|r| r.remote_ip_prefix.as_ref() == Some(p));
    }
    let list = paged(
        list,
        |r| &r.id,
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
    );
    Ok(Json(w::SecurityGroupRulesEnvelope {
        security_group_rules: list.iter().map(rule_out).collect(),
    }))
}

async fn show_security_group_rule(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::SecurityGroupRuleEnvelope>> {
    Ok(Json(w::SecurityGroupRuleEnvelope {
        security_group_rule: rule_out(&s.control.get_security_group_rule(&c, &id).await?),
    }))
}

async fn delete_security_group_rule(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_security_group_rule(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- lab ----------------------------------------------------------------------------------------

async fn create_server(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<ServerEnvelope>> {
    let b: CreateServerRequest = parse_body(&body)?;
    let (srv, ports) = s.control.create_server(&c, b.server.into()).await?;
    Ok(Json(ServerEnvelope {
        server: ServerOut::from_server(&srv, &ports),
    }))
}

async fn list_servers(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> VpcReply<Json<ServersEnvelope>> {
    let list = s.control.list_servers(&c).await?;
    Ok(Json(ServersEnvelope {
        servers: list
            .iter()
            .map(|(srv, p)| ServerOut::from_server(srv, p))
            .collect(),
    }))
}

async fn show_server(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<ServerEnvelope>> {
    let (srv, ports) = s.control.get_server(&c, &id).await?;
    Ok(Json(ServerEnvelope {
        server: ServerOut::from_server(&srv, &ports),
    }))
}

async fn delete_server(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_server(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_loadbalancer(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<LoadBalancerEnvelope>> {
    let b: CreateLoadBalancerRequest = parse_body(&body)?;
    Ok(Json(LoadBalancerEnvelope {
        loadbalancer: LoadBalancerOut::from(
            &s.control
                .create_loadbalancer(&c, b.loadbalancer.into())
                .await?,
        ),
    }))
}

async fn list_loadbalancers(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> VpcReply<Json<LoadBalancersEnvelope>> {
    Ok(Json(LoadBalancersEnvelope {
        loadbalancers: s
            .control
            .list_loadbalancers(&c)
            .await?
            .iter()
            .map(LoadBalancerOut::from)
            .collect(),
    }))
}

async fn show_loadbalancer(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<LoadBalancerEnvelope>> {
    Ok(Json(LoadBalancerEnvelope {
        loadbalancer: LoadBalancerOut::from(&s.control.get_loadbalancer(&c, &id).await?),
    }))
}

async fn update_loadbalancer(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> VpcReply<Json<LoadBalancerEnvelope>> {
    let b: UpdateLoadBalancerRequest = parse_body(&body)?;
    Ok(Json(LoadBalancerEnvelope {
        loadbalancer: LoadBalancerOut::from(
            &s.control
                .update_loadbalancer(&c, &id, b.loadbalancer.into())
                .await?,
        ),
    }))
}

async fn delete_loadbalancer(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_loadbalancer(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_site(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<SiteEnvelope>> {
    let b: CreateSiteRequest = parse_body(&body)?;
    Ok(Json(SiteEnvelope {
        site: SiteOut::from(&s.control.create_site(&c, b.site.into()).await?),
    }))
}

async fn list_sites(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> VpcReply<Json<SitesEnvelope>> {
    Ok(Json(SitesEnvelope {
        sites: s
            .control
            .list_sites(&c)
            .await?
            .iter()
            .map(SiteOut::from)
            .collect(),
    }))
}

async fn show_site(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<SiteEnvelope>> {
    Ok(Json(SiteEnvelope {
        site: SiteOut::from(&s.control.get_site(&c, &id).await?),
    }))
}

async fn delete_site(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_site(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
