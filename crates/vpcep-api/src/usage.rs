//! `GET /v1/{project_id}/usage?from=&to=[&format=csv]`: the caller's metered usage per endpoint
//! and hour (docs/metering.md), as JSON or, with `format=csv` or `Accept: text/csv`, as CSV.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use vpcep_control::Caller;
use vpcep_core::DomainError;
use vpcep_huawei::usage::{UsageOut, csv};

use crate::AppState;
use crate::error::{Reply, query_map};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/{project_id}/usage", get(list_usage))
}

const FORMATS: &[&str] = &["json", "csv"];

async fn list_usage(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Reply<Response> {
    let q = query_map(q.as_deref());
    let as_csv = match q.get("format").map(String::as_str) {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(DomainError::Unsupported {
                field: "format",
                value: vpcep_core::error::quoted(other),
                allowed: FORMATS,
            }
            .into());
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    let (range, rows) = s
        .control
        .usage(
            &c,
            q.get("from").map(String::as_str),
            q.get("to").map(String::as_str),
        )
        .await?;
    let out = UsageOut::new(range, &rows);
    if as_csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            csv(&out.usage),
        )
            .into_response())
    } else {
        Ok(Json(out).into_response())
    }
}
