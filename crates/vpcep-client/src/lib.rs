//! A typed client of the vpcep API: requests signed with SDK-HMAC-SHA256 exactly as the official
//! SDK signs them, errors decoded from `{"error_code","error_msg"}`. Used by the CLI and tests.

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

pub mod audit;
pub mod endpoints;
pub mod inventory;
pub mod lab;
pub mod params;
pub mod project;
pub mod services;

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{code}: {message} (HTTP {status}, request {request_id})")]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: String,
    },
    #[error("cannot reach {endpoint}: {source}")]
    Transport {
        endpoint: String,
        source: reqwest::Error,
    },
    #[error("unexpected response (HTTP {status}): {body}")]
    Decode { status: u16, body: String },
    #[error("invalid endpoint URL {0}")]
    BadEndpoint(String),
}

impl ClientError {
    /// The `EndPoint.xxxx` code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Credentials and where the server is.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    access_key: String,
    secret_key: String,
    pub project_id: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// Percent-encode like the SDK's `quote(v, safe='~')`.
fn enc(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

impl Client {
    /// `endpoint` such as `http://127.0.0.1:8480`.
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        project_id: &str,
    ) -> Result<Self, ClientError> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let host = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"))
            .map(|h| h.split('/').next().unwrap_or(h).to_string())
            .ok_or_else(|| ClientError::BadEndpoint(endpoint.clone()))?;
        Ok(Self {
            http: reqwest::Client::new(),
            endpoint,
            host,
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            project_id: project_id.to_string(),
        })
    }

    /// `/v1/{project_id}` + `rest`.
    pub fn project_path(&self, rest: &str) -> String {
        format!("/v1/{}{rest}", self.project_id)
    }

    /// Send a signed request. `path` is unencoded segments joined by `/`; `query` pairs are sorted
    /// and encoded as the SDK does. Returns the status and the JSON body (`null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), ClientError> {
        let raw_path: String = path.split('/').map(enc).collect::<Vec<_>>().join("/");
        let mut pairs: Vec<(String, String)> =
            query.iter().map(|(k, v)| (enc(k), enc(v))).collect();
        pairs.sort();
        let raw_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let body_bytes = match body {
            Some(v) => serde_json::to_vec(v).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut headers = vec![
            ("Host".to_string(), self.host.clone()),
            (
                "Content-Type".to_string(),
                if body.is_some() {
                    "application/json;charset=utf-8"
                } else {
                    "application/json"
                }
                .to_string(),
            ),
            ("X-Project-Id".to_string(), self.project_id.clone()),
        ];
        vpcep_auth::sign_request(
            &self.access_key,
            &self.secret_key,
            method.as_str(),
            &raw_path,
            &raw_query,
            &mut headers,
            &body_bytes,
            OffsetDateTime::now_utc(),
        );
        let url = if raw_query.is_empty() {
            format!("{}{raw_path}", self.endpoint)
        } else {
            format!("{}{raw_path}?{raw_query}", self.endpoint)
        };
        let mut req = self.http.request(method, &url);
        for (k, v) in &headers {
            if !k.eq_ignore_ascii_case("host") {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        if body.is_some() {
            req = req.body(body_bytes);
        }
        let resp = req.send().await.map_err(|source| ClientError::Transport {
            endpoint: self.endpoint.clone(),
            source,
        })?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.map_err(|source| ClientError::Transport {
            endpoint: self.endpoint.clone(),
            source,
        })?;
        let json: serde_json::Value = if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| ClientError::Decode {
                status,
                body: text.clone(),
            })?
        };
        if status >= 400 {
            let code = json
                .get("error_code")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let message = json
                .get("error_msg")
                .and_then(|v| v.as_str())
                .unwrap_or(&text)
                .to_string();
            return Err(ClientError::Api {
                status,
                code,
                message,
                request_id,
            });
        }
        Ok((status, json))
    }

    /// `call` and decode the body as `T`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let (status, v) = self.call(method, path, query, body).await?;
        serde_json::from_value(v.clone()).map_err(|_| ClientError::Decode {
            status,
            body: v.to_string(),
        })
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        self.json(Method::GET, path, query, None).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let v = serde_json::to_value(body).unwrap_or_default();
        self.json(Method::POST, path, &[], Some(&v)).await
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let v = serde_json::to_value(body).unwrap_or_default();
        self.json(Method::PUT, path, &[], Some(&v)).await
    }

    /// DELETE; returns the status (204 expected).
    pub async fn delete(&self, path: &str) -> Result<u16, ClientError> {
        Ok(self.call(Method::DELETE, path, &[], None).await?.0)
    }
}
