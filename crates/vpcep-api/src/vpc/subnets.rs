//! Subnets: `/v1/{project_id}/subnets` and `/v1/{project_id}/vpcs/{vpc_id}/subnets/{id}`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_huawei::vpc as w;

use super::{P2, P3, paged};
use crate::AppState;
use crate::error::{VpcReply, parse_body, query_map};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{project_id}/subnets",
            get(list_subnets).post(create_subnet),
        )
        .route("/v1/{project_id}/subnets/{subnet_id}", get(show_subnet))
        .route(
            "/v1/{project_id}/vpcs/{vpc_id}/subnets/{subnet_id}",
            axum::routing::put(update_subnet).delete(delete_subnet),
        )
}

async fn create_subnet(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::SubnetEnvelope>> {
    let b: w::CreateSubnetRequest = parse_body(&body)?;
    Ok(Json(w::SubnetEnvelope {
        subnet: w::Subnet::from(&s.control.create_subnet(&c, b.subnet.into()).await?),
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
        subnets: list.iter().map(w::Subnet::from).collect(),
    }))
}

async fn show_subnet(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::SubnetEnvelope>> {
    Ok(Json(w::SubnetEnvelope {
        subnet: w::Subnet::from(&s.control.get_subnet(&c, &id).await?),
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
