//! `/agent/v1/*`: the agent protocol (see `vpcep_core::agent`), behind a bearer token.

use std::time::Duration;

use axum::extract::{RawQuery, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use vpcep_control::agent::WatchError;
use vpcep_core::agent::{Changes, Reports, ReportsAck, Snapshot, UsageAck, UsageReport};
use vpcep_huawei::ApiError;
use vpcep_huawei::ErrorBody;

use crate::AppState;
use crate::error::{Failure, Reply, parse_body, query_map};

/// Longest long-poll an agent may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/snapshot", get(snapshot))
        .route("/changes", get(changes))
        .route("/reports", post(reports))
        .route("/usage", post(usage))
        .layer(from_fn_with_state(state, require_token))
}

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(presented.as_bytes(), state.agent_token.as_bytes()) {
        next.run(req).await
    } else {
        Failure(ApiError::unauthenticated()).into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn snapshot(State(s): State<AppState>) -> Reply<Json<Snapshot>> {
    Ok(Json(s.control.agent_snapshot().await?))
}

async fn changes(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q = query_map(q.as_deref());
    let Some(after) = q.get("after").and_then(|v| v.parse::<u64>().ok()) else {
        return Failure(ApiError::param("after=<revision> is required.")).into_response();
    };
    let wait = q
        .get("timeout_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(30))
        .min(MAX_WAIT);
    match s.control.agent_changes(after, wait).await {
        Ok(c) => Json::<Changes>(c).into_response(),
        Err(WatchError::Compacted) => (
            StatusCode::GONE,
            Json(ErrorBody::from(&ApiError::new(
                410,
                "EndPoint.0005",
                format!(
                    "Revision {after} is no longer in the change history: take a new snapshot."
                ),
            ))),
        )
            .into_response(),
        Err(WatchError::Other(e)) => Failure::from(e).into_response(),
    }
}

async fn reports(State(s): State<AppState>, body: Bytes) -> Reply<Json<ReportsAck>> {
    let r: Reports = parse_body(&body)?;
    Ok(Json(s.control.agent_report(r).await?))
}

/// Traffic counters (docs/metering.md): billed by the delta rule, so a repeated report is
/// harmless.
async fn usage(State(s): State<AppState>, body: Bytes) -> Reply<Json<UsageAck>> {
    let r: UsageReport = parse_body(&body)?;
    Ok(Json(s.control.agent_usage(r).await?))
}
