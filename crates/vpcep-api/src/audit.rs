//! The audit log at the API's edge: a layer on the tenant routes that records every mutating
//! request (POST/PUT/DELETE/PATCH; the two reads Huawei sends as POST excepted) once its answer is
//! known, and `GET /v1/{project_id}/audit` for the account to read its entries (`docs/audit.md`).
//!
//! Who asked comes from the authentication layer ([`Identity`], put on the response): the
//! account, the project and the access key id. A request refused before its access key was
//! found in the store (no or malformed `Authorization`, an unknown key) names no account and is
//! not recorded; one refused later (bad signature, wrong project) is, under the key's account.
//! The secret key never reaches this module.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::{Body, HttpBody as _};
use axum::extract::{ConnectInfo, MatchedPath, RawQuery, Request, State};
use axum::http::{Method, Response};
use axum::middleware::Next;
use axum::routing::get;
use axum::{Extension, Json, Router};
use vpcep_control::Caller;
use vpcep_control::audit::{AuditEntry, AuditLogQuery, AuditRecord, Front};
use vpcep_huawei::audit::{AuditEntryOut, AuditListOut};

use crate::AppState;
use crate::error::{Reply, query_map, status_code};
use crate::listener::PeerAddr;
use crate::openapi::OPERATIONS;

/// Who the authentication layer found behind a request, set on its response (also on a refusal,
/// once the access key is known to belong to an account).
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub access_key_id: String,
    pub domain_id: String,
    pub project_id: String,
}

/// Operations Huawei defines as POST that change nothing.
const READS_BY_POST: &[&str] = &["ListResourceInstances"];

/// Path parameters that name no resource.
const NOT_RESOURCE_IDS: &[&str] = &["project_id", "resource_type", "version"];

/// Bodies of successful creates are read for the new id up to this size (answers are a few KB;
/// a larger or unsized body is passed on untouched and the id is left out).
const MAX_INSPECTED_BODY: u64 = 256 * 1024;

/// `/v1/{}/vpcs/{}` from `/v1/{project_id}/vpcs/{vpc_id}`: route and document name their
/// parameters differently.
fn shape(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// (method, path shape) → the documented operation name.
static OPERATION_NAMES: LazyLock<HashMap<(String, String), &'static str>> = LazyLock::new(|| {
    OPERATIONS
        .iter()
        .map(|op| ((op.method.to_string(), shape(op.path)), op.id))
        .collect()
});

fn operation(method: &Method, template: &str) -> String {
    OPERATION_NAMES
        .get(&(method.as_str().to_string(), shape(template)))
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("{method} {template}"))
}

fn is_mutating(m: &Method) -> bool {
    m == Method::POST || m == Method::PUT || m == Method::DELETE || m == Method::PATCH
}

/// The path's resource ids: the values of the template's parameters that name resources.
fn path_ids(template: &str, path: &str) -> Vec<String> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, v)| {
            let name = t.strip_prefix('{')?.strip_suffix('}')?;
            (!NOT_RESOURCE_IDS.contains(&name) && !v.is_empty()).then(|| v.to_string())
        })
        .collect()
}

/// The id of a created resource in its answer: `{"id": …}` (VPCEP) or `{"vpc": {"id": …}}` (VPC
/// v1 and lab envelopes).
fn created_id(body: &serde_json::Value) -> Option<String> {
    let obj = body.as_object()?;
    if let Some(id) = obj.get("id").and_then(|v| v.as_str()) {
        return Some(id.to_string());
    }
    match obj.values().collect::<Vec<_>>().as_slice() {
        [inner] => inner.get("id")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// Read a small, sized body (the answer is rebuilt from the bytes, so nothing is lost).
async fn small_body(response: Response<Body>) -> (Response<Body>, Option<serde_json::Value>) {
    let fits = response
        .body()
        .size_hint()
        .upper()
        .is_some_and(|n| n <= MAX_INSPECTED_BODY);
    if !fits {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_INSPECTED_BODY as usize).await {
        Ok(bytes) => {
            let json = serde_json::from_slice(&bytes).ok();
            (Response::from_parts(parts, Body::from(bytes)), json)
        }
        Err(e) => {
            // Cannot happen for a body within its size hint; the answer is lost either way.
            tracing::error!(error = %e, "answer body could not be read for the audit log");
            (Response::from_parts(parts, Body::empty()), None)
        }
    }
}

/// The layer: runs the request, then appends one entry (awaited, so a change the client saw
/// acknowledged is in the log; a failure to record is logged and does not change the answer).
pub(crate) async fn record(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
    // Reads pass straight through: no lookup, no allocation.
    if !is_mutating(req.method()) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let Some(template) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let op = operation(&method, &template);
    if READS_BY_POST.contains(&op.as_str()) {
        return next.run(req).await;
    }
    let mut resource_ids = path_ids(&template, req.uri().path());
    let request_id = req
        .headers()
        .get(crate::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let source = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0.to_string())
        .unwrap_or_default();
    let response = next.run(req).await;
    let Some(who) = response.extensions().get::<Identity>().cloned() else {
        return response;
    };
    let status = response.status();
    let inspect = status.is_client_error()
        || status.is_server_error()
        || (method == Method::POST && status.is_success() && op.starts_with("Create"));
    let (response, body) = if inspect {
        small_body(response).await
    } else {
        (response, None)
    };
    let mut error_code = String::new();
    if status.is_client_error() || status.is_server_error() {
        error_code = body
            .as_ref()
            .and_then(|b| b["error_code"].as_str())
            .unwrap_or_else(|| status_code(status.as_u16()).0)
            .to_string();
    } else if let Some(id) = body.as_ref().and_then(created_id)
        && !resource_ids.contains(&id)
    {
        resource_ids.push(id);
    }
    let entry = AuditEntry {
        domain_id: who.domain_id,
        project_id: who.project_id,
        access_key_id: who.access_key_id,
        front: Front::Api,
        operation: op,
        resource_ids,
        request_id,
        source,
        status: status.as_u16(),
        error_code,
    };
    if let Err(e) = state.control.record_audit(entry).await {
        tracing::error!(error = %e, "audit entry not recorded");
    }
    response
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/{project_id}/audit", get(list_audit))
}

pub fn entry_out(r: &AuditRecord) -> AuditEntryOut {
    AuditEntryOut {
        seq: r.seq,
        time_ms: r.time_ms,
        time: vpcep_core::timefmt::to_wire(r.time_ms),
        domain_id: r.entry.domain_id.clone(),
        project_id: r.entry.project_id.clone(),
        access_key_id: r.entry.access_key_id.clone(),
        front: r.entry.front.as_str().to_string(),
        operation: r.entry.operation.clone(),
        resource_ids: r.entry.resource_ids.clone(),
        request_id: r.entry.request_id.clone(),
        source: r.entry.source.clone(),
        status: r.entry.status,
        error_code: r.entry.error_code.clone(),
    }
}

async fn list_audit(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Reply<Json<AuditListOut>> {
    let mut q = query_map(raw.as_deref());
    let query = AuditLogQuery {
        from: q.remove("from"),
        to: q.remove("to"),
        limit: q.remove("limit"),
        marker: q.remove("marker"),
    };
    let page = s.control.audit_log(&c, &query).await?;
    Ok(Json(AuditListOut {
        audit_logs: page.records.iter().map(entry_out).collect(),
        next_marker: page.next_marker.map(|m| m.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_ids_and_created_ids() {
        assert_eq!(
            operation(&Method::POST, "/v1/{project_id}/vpc-endpoints"),
            "CreateEndpoint"
        );
        assert_eq!(
            operation(
                &Method::DELETE,
                "/v1/{project_id}/vpc-endpoint-services/{service_id}"
            ),
            "DeleteEndpointService"
        );
        assert_eq!(operation(&Method::PATCH, "/v1/{x}/y"), "PATCH /v1/{x}/y");
        assert_eq!(
            path_ids(
                "/v1/{project_id}/{resource_type}/{resource_id}/tags/action",
                "/v1/p/endpoint/e1/tags/action"
            ),
            ["e1"]
        );
        let j = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json");
        assert_eq!(created_id(&j(r#"{"id":"a","x":1}"#)).as_deref(), Some("a"));
        assert_eq!(
            created_id(&j(r#"{"vpc":{"id":"v"}}"#)).as_deref(),
            Some("v")
        );
        assert_eq!(created_id(&j(r#"{"a":{"id":"v"},"b":1}"#)), None);
    }
}
