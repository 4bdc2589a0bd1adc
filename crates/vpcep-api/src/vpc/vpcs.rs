//! VPCs: `/v1/{project_id}/vpcs`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_huawei::vpc as w;

use super::{P2, paged};
use crate::AppState;
use crate::error::{VpcReply, parse_body, query_map};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/{project_id}/vpcs", get(list_vpcs).post(create_vpc))
        .route(
            "/v1/{project_id}/vpcs/{vpc_id}",
            get(show_vpc).put(update_vpc).delete(delete_vpc),
        )
}

async fn create_vpc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::VpcEnvelope>> {
    let b: w::CreateVpcRequest = parse_body(&body)?;
    let v = s.control.create_vpc(&c, b.vpc.into()).await?;
    Ok(Json(w::VpcEnvelope {
        vpc: w::Vpc::from(&v),
    }))
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
        vpcs: list.iter().map(w::Vpc::from).collect(),
    }))
}

async fn show_vpc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::VpcEnvelope>> {
    Ok(Json(w::VpcEnvelope {
        vpc: w::Vpc::from(&s.control.get_vpc(&c, &id).await?),
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
        vpc: w::Vpc::from(&s.control.update_vpc(&c, &id, b.vpc.into()).await?),
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
