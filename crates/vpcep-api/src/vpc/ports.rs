//! Ports: `/v1/{project_id}/ports`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_huawei::error::vpc_codes;
use vpcep_huawei::vpc as w;

use super::{P2, neutron_subnet, paged};
use crate::AppState;
use crate::error::{VpcFailure, VpcReply, parse_body, query_pairs};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/{project_id}/ports", get(list_ports).post(create_port))
        .route(
            "/v1/{project_id}/ports/{port_id}",
            get(show_port).put(update_port).delete(delete_port),
        )
}

async fn create_port(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::PortEnvelope>> {
    let b: w::CreatePortRequest = parse_body(&body)?;
    let p = s.control.create_port(&c, b.port.into()).await?;
    let ns = neutron_subnet(&s, &p.subnet_id).await;
    Ok(Json(w::PortEnvelope {
        port: w::Port::from_port(&p, &ns),
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
        out.push(w::Port::from_port(p, &ns));
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
        port: w::Port::from_port(&p, &ns),
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
        port: w::Port::from_port(&p, &ns),
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
