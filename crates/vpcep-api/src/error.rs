//! How errors and bodies cross the HTTP boundary.

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use vpcep_core::DomainError;
use vpcep_huawei::ApiError;
use vpcep_huawei::ErrorBody;
use vpcep_huawei::error::codes;

/// An [`ApiError`] rendered as Huawei's `{"error_code","error_msg"}` with its HTTP status.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

/// A domain error as the VPCEP API words it.
impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        Self(vpcep_huawei::error::vpcep(&e))
    }
}

/// A failure of the VPC and lab APIs: domain errors take their `VPC.xxxx` codes.
#[derive(Debug)]
pub struct VpcFailure(pub ApiError);

impl From<DomainError> for VpcFailure {
    fn from(e: DomainError) -> Self {
        Self(vpcep_huawei::error::vpc(&e))
    }
}

impl From<Failure> for VpcFailure {
    fn from(f: Failure) -> Self {
        Self(f.0)
    }
}

impl IntoResponse for VpcFailure {
    fn into_response(self) -> Response {
        Failure(self.0).into_response()
    }
}

pub type VpcReply<T> = Result<T, VpcFailure>;

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(
                code = self.0.code,
                message = self.0.message,
                "request failed"
            );
        } else {
            tracing::debug!(
                code = self.0.code,
                message = self.0.message,
                "request refused"
            );
        }
        (status, Json(ErrorBody::from(&self.0))).into_response()
    }
}

pub type Reply<T> = Result<T, Failure>;

/// The one rejection handler: any error response that is not already Huawei's JSON shape (the
/// framework's own rejections of a path, query, body, size, method or route, a timeout) is
/// rewritten to `{"error_code","error_msg"}` with the documented code for its status, keeping the
/// framework's explanation as the message. Success responses pass untouched.
pub async fn json_errors_only(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Framework rejections are one short sentence; anything longer is cut, not buffered.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_string();
    let (code, summary) = status_code(status.as_u16());
    let message = if detail.is_empty() || status.is_server_error() {
        summary.to_string()
    } else {
        format!("{summary} {detail}")
    };
    let mut out = Failure(ApiError::new(status.as_u16(), code, message)).into_response();
    // Keep what the original response said about the request (its id, allowed methods).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// The documented code and summary of an error status the framework answered on its own.
pub(crate) fn status_code(status: u16) -> (&'static str, &'static str) {
    match status {
        401 => (
            codes::AUTH_FAILED,
            "Authentication failed or authentication information is invalid.",
        ),
        403 => (codes::FORBIDDEN, "You have no permissions."),
        404 => (codes::NOT_FOUND, "The requested resource does not exist."),
        405 => (codes::INVALID_REQUEST, "Method not allowed on this path."),
        408 => (codes::TIMEOUT, "The request timed out."),
        413 => (codes::PARAMETER, "The request body is larger than 12 MB."),
        429 => (
            codes::TOO_MANY_REQUESTS,
            "The number of requests exceeded the limit. Please try later.",
        ),
        s if s >= 500 => (codes::SYSTEM, "System error. Please retry."),
        _ => (codes::PARAMETER, "Parameter error."),
    }
}

/// Parse a JSON body into `T`. An empty body, broken JSON or a wrong type becomes
/// `EndPoint.0002` with serde's explanation (it names the field and the position).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure(ApiError::new(
            400,
            codes::PARAMETER,
            "The request body is empty: a JSON object is required.",
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Failure(ApiError::new(
            400,
            codes::PARAMETER,
            format!("Parameter error: invalid JSON body: {e}."),
        ))
    })
}

/// Query parameters as received (last value wins for repeated keys, except through
/// [`query_pairs`]).
pub fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    query_pairs(raw).into_iter().collect()
}

/// Decoded exactly as the signature check decodes them (one function for both, so what was signed
/// is what the handler reads).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(vpcep_auth::signing::query_pairs)
        .unwrap_or_default()
}
