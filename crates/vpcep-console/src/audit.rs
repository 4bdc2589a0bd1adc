//! The audit log at the console's edge (`docs/audit.md`): each form that changes something
//! (create, delete, accept/reject, whitelist) is recorded once its answer is known, under the
//! signed-in account, with the operation named as on the API. A `303` answer is a change made, a
//! 4xx/5xx page a refusal (its error code is the one the page shows); a `200` answer is a form
//! step that changed nothing (the endpoint form's "verify", a re-shown form) and is not recorded.
//! Sign-in, sign-out and the region or language switch change no resource and are not recorded.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use vpcep_control::audit::{AuditEntry, ClientAddr, Front};

use crate::ConsoleState;
use crate::session;

/// The console's changing forms and the API operation each performs.
const AUDITED: &[(&str, &str)] = &[
    ("/console/endpoints/new", "CreateEndpoint"),
    ("/console/endpoints/{id}/delete", "DeleteEndpoint"),
    ("/console/services/new", "CreateEndpointService"),
    ("/console/services/{id}/delete", "DeleteEndpointService"),
    (
        "/console/services/{id}/connections",
        "AcceptOrRejectEndpoint",
    ),
    (
        "/console/services/{id}/permissions",
        "BatchAddEndpointServicePermissions",
    ),
    (
        "/console/services/{id}/permissions/remove",
        "BatchRemoveEndpointServicePermissions",
    ),
];

/// Refusal pages are read for their error code up to this size (they are a few tens of KB).
const MAX_PAGE: usize = 1 << 20;

/// The code a refusal page shows (`<span class="err-code">EndPoint.0002</span>`).
fn shown_code(page: &str) -> Option<String> {
    let start = page.find("class=\"err-code\">")? + "class=\"err-code\">".len();
    let code: String = page[start..]
        .chars()
        .take_while(|c| *c != '<' && !c.is_whitespace())
        .take(64)
        .collect();
    (!code.is_empty()).then_some(code)
}

pub(crate) async fn record(
    State(state): State<ConsoleState>,
    req: Request,
    next: Next,
) -> Response {
    let operation = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| AUDITED.iter().find(|(t, _)| *t == m.as_str()))
        .map(|(_, op)| *op);
    let Some(operation) = operation.filter(|_| req.method() == Method::POST) else {
        return next.run(req).await;
    };
    let cookies = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    // No valid session: the handler sends the browser to sign in; no account to file it under.
    let Some(session) = session::read_cookie(&cookies, session::SESSION_COOKIE)
        .and_then(|raw| state.keys.open(raw, session::now_secs()))
    else {
        return next.run(req).await;
    };
    let resource_ids: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .nth(3)
        .filter(|id| !id.is_empty() && *id != "new")
        .map(|id| vec![id.to_string()])
        .unwrap_or_default();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(vpcep_control::new_uuid);
    let source = req
        .extensions()
        .get::<ClientAddr>()
        .map(|a| a.0.clone())
        .unwrap_or_default();
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_redirection() || status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (response, error_code) = if status.is_redirection() {
        (response, String::new())
    } else {
        let (parts, body) = response.into_parts();
        match axum::body::to_bytes(body, MAX_PAGE).await {
            Ok(bytes) => {
                let code = shown_code(&String::from_utf8_lossy(&bytes)).unwrap_or_default();
                (Response::from_parts(parts, Body::from(bytes)), code)
            }
            Err(e) => {
                tracing::error!(error = %e, "console page could not be read for the audit log");
                (Response::from_parts(parts, Body::empty()), String::new())
            }
        }
    };
    let entry = AuditEntry {
        domain_id: session.domain_id,
        project_id: session.project_id,
        // A console session signs in with an AK/SK but keeps only the account and project.
        access_key_id: String::new(),
        front: Front::Console,
        operation: operation.to_string(),
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_shown_code_is_read_from_the_page() {
        assert_eq!(
            super::shown_code("x<span class=\"err-code\">EndPoint.3043</span>").as_deref(),
            Some("EndPoint.3043")
        );
        assert_eq!(
            super::shown_code("<span class=\"err-code\">VPC.0209 · m</span>").as_deref(),
            Some("VPC.0209")
        );
        assert_eq!(super::shown_code("<p>nothing</p>"), None);
    }
}
