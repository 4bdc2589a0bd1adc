//! The HTTP front: the Huawei VPCEP v1 API, the Huawei VPC v1 subset, the lab resources, the agent
//! protocol, health and the OpenAPI document. Handlers only translate to and from the service
//! layer (`vpcep-control`).

mod agent;
pub mod audit;
mod auth;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod openapi;
mod usage;
mod vpc;
mod vpcep;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use vpcep_control::Control;
use vpcep_huawei::ApiError;

use crate::error::Failure;

#[derive(Clone)]
pub struct AppState {
    pub control: Control,
    /// Shared secret agents present as a bearer token.
    pub agent_token: Arc<String>,
    pub started: Instant,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API as one router (the console and other fronts are merged in by the binary).
pub fn router(state: AppState) -> Router {
    metrics::install();
    let tenant = vpcep::routes()
        .merge(vpc::routes())
        .merge(usage::routes())
        .merge(audit::routes())
        .layer(from_fn_with_state(
            (state.clone(), auth::BodyBudget::default()),
            auth::authenticate,
        ))
        // Outside authentication, so refused attempts are seen too (with the identity the
        // authentication layer found).
        .layer(from_fn_with_state(state.clone(), audit::record))
        // The authentication layer already bounded and buffered the body (12 MB, Huawei's limit
        // for signed bodies); the framework's own 2 MB default would refuse valid requests.
        .layer(DefaultBodyLimit::max(auth::MAX_BODY));
    Router::new()
        .merge(tenant)
        .merge(vpcep::version_routes())
        .nest("/agent/v1", agent::routes(state.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(readyz))
        .route("/metrics", get(metrics::scrape))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(map_response(error::json_errors_only))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            // Method, path and status per request; headers (Authorization) are never recorded.
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    match state.control.revision().await {
        Ok(rev) => (StatusCode::OK, format!("ready revision={rev}")).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

async fn not_found() -> Failure {
    Failure(ApiError::not_found(
        "The requested resource does not exist: no such API path.",
    ))
}

async fn method_not_allowed() -> Failure {
    Failure(ApiError::new(
        405,
        vpcep_huawei::error::codes::INVALID_REQUEST,
        "Method not allowed on this path.",
    ))
}
