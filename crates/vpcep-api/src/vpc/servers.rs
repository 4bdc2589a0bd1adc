//! Lab servers: `/v1/{project_id}/lab/servers`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_huawei::lab::{CreateServerRequest, ServerEnvelope, ServerOut, ServersEnvelope};

use super::P2;
use crate::AppState;
use crate::error::{VpcReply, parse_body};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{project_id}/lab/servers",
            get(list_servers).post(create_server),
        )
        .route(
            "/v1/{project_id}/lab/servers/{id}",
            get(show_server).delete(delete_server),
        )
}

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
