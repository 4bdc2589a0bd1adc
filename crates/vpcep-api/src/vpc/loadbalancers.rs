//! Lab load balancers: `/v1/{project_id}/lab/loadbalancers`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_huawei::lab::{
    CreateLoadBalancerRequest, LoadBalancerEnvelope, LoadBalancerOut, LoadBalancersEnvelope,
    UpdateLoadBalancerRequest,
};

use super::P2;
use crate::AppState;
use crate::error::{VpcReply, parse_body};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
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
