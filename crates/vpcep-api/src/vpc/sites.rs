//! Lab sites: `/v1/{project_id}/lab/sites`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_huawei::lab::{CreateSiteRequest, SiteEnvelope, SiteOut, SitesEnvelope};

use super::P2;
use crate::AppState;
use crate::error::{VpcReply, parse_body};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{project_id}/lab/sites",
            get(list_sites).post(create_site),
        )
        .route(
            "/v1/{project_id}/lab/sites/{id}",
            get(show_site).delete(delete_site),
        )
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
