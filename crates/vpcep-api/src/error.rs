//! How errors and bodies cross the HTTP boundary.

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use vpcep_core::ApiError;
use vpcep_core::error::codes;

/// An [`ApiError`] rendered as Huawei's `{"error_code","error_msg"}` with its HTTP status.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

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
        (status, Json(self.0.body())).into_response()
    }
}

pub type Reply<T> = Result<T, Failure>;

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

pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    let Some(raw) = raw else { return vec![] };
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}
