//! Authentication of `/v1` and `/v2` requests: SDK-HMAC-SHA256 over the request exactly as
//! received, then binding to the project named in the path.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use vpcep_auth::{RequestParts, parse_authorization, verify};
use vpcep_core::ApiError;

use crate::AppState;
use crate::error::Failure;

/// Huawei limits signed bodies to 12 MB.
const MAX_BODY: usize = 12 * 1024 * 1024;

pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match check(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(f) => f.into_response(),
    }
}

async fn check(state: &AppState, req: Request) -> Result<Request, Failure> {
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| Failure(ApiError::param("The request body is larger than 12 MB.")))?;
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        // A header that is not valid text cannot have been signed as the SDK signs.
        let Ok(v) = value.to_str() else {
            return Err(Failure(ApiError::unauthenticated()));
        };
        headers.push((name.as_str().to_string(), v.to_string()));
    }
    let authorization = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Failure(ApiError::unauthenticated()))?;
    let auth = parse_authorization(authorization).map_err(|e| {
        tracing::debug!(reason = %e, "malformed Authorization header");
        Failure(ApiError::unauthenticated())
    })?;
    let Some((secret, domain_id)) = state.control.credential_secret(&auth.access_key).await? else {
        tracing::debug!(access_key = auth.access_key, "unknown access key");
        return Err(Failure(ApiError::unauthenticated()));
    };
    let request = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &bytes,
    };
    let skew = time::Duration::seconds(state.control.settings.max_clock_skew_secs);
    if let Err(e) = verify(&request, &auth, &secret, OffsetDateTime::now_utc(), skew) {
        // The reason is logged for the operator, never told to the caller.
        tracing::info!(access_key = auth.access_key, reason = %e, "signature rejected");
        return Err(Failure(ApiError::unauthenticated()));
    }
    let project_id = parts
        .uri
        .path()
        .split('/')
        .nth(2)
        .unwrap_or_default()
        .to_string();
    let caller = state.control.caller_for(&domain_id, &project_id).await?;
    parts.extensions.insert(caller);
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
