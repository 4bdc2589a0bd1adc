//! Authentication of `/v1` and `/v2` requests: SDK-HMAC-SHA256 over the request exactly as
//! received, then binding to the project named in the path.
//!
//! Order matters (SPEC Q6): everything that can be judged from the headers (the `Authorization`
//! syntax, the signed date within the skew window, a known access key, a declared size within
//! 12 MB) is judged before a single body byte is buffered. Only then is the body read, within a
//! per-request limit, a read deadline and a server-wide budget of buffered bytes, so neither an
//! anonymous client nor one that merely knows an access key can make the server hold more than
//! the budget.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use vpcep_auth::{RequestParts, check_headers, parse_authorization, verify};
use vpcep_huawei::ApiError;
use vpcep_huawei::error::codes;

use crate::AppState;
use crate::audit::Identity;
use crate::error::Failure;

/// Huawei limits signed bodies to 12 MB.
pub const MAX_BODY: usize = 12 * 1024 * 1024;

/// Request body bytes the whole server buffers at once (all requests between the start of their
/// body and the end of their handler). Five maximal bodies, or thousands of ordinary ones.
pub const BODY_BUDGET: usize = 64 * 1024 * 1024;

/// A body must arrive within this time of its headers (slow senders hold budget and a task).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request waits for its share of the budget before it is told to come back later.
const BUDGET_WAIT: Duration = Duration::from_secs(10);

/// A refused request's body is read and thrown away for at most this long, so the client reads
/// the JSON error instead of a connection reset (nothing of it is kept).
const DISCARD_TIMEOUT: Duration = Duration::from_secs(10);

/// The server-wide budget of buffered request bytes.
#[derive(Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes)))
    }
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(BODY_BUDGET)
    }
}

pub async fn authenticate(
    State((state, budget)): State<(AppState, BodyBudget)>,
    req: Request,
    next: Next,
) -> Response {
    let mut who = Identity::default();
    match check(&state, &budget, req, &mut who).await {
        Ok((req, held)) => {
            let mut response = next.run(req).await;
            // The body's share of the budget is given back once the handler is done with it.
            drop(held);
            response.extensions_mut().insert(who);
            response
        }
        Err(f) => {
            let mut response = f.into_response();
            // A refusal is audited once the key is known to be an account's (failed attempts
            // are what auditors look for); before that there is no account to file it under.
            if !who.domain_id.is_empty() {
                response.extensions_mut().insert(who);
            }
            response
        }
    }
}

fn unauthenticated() -> Failure {
    Failure(ApiError::unauthenticated())
}

fn too_large() -> Failure {
    Failure(ApiError::new(
        413,
        codes::PARAMETER,
        "The request body is larger than 12 MB.",
    ))
}

async fn check(
    state: &AppState,
    budget: &BodyBudget,
    req: Request,
    who: &mut Identity,
) -> Result<(Request, Option<OwnedSemaphorePermit>), Failure> {
    let (mut parts, body) = req.into_parts();
    let project_id = parts
        .uri
        .path()
        .split('/')
        .nth(2)
        .unwrap_or_default()
        .to_string();
    who.project_id.clone_from(&project_id);
    let refuse = |body: Body, failure: Failure| {
        discard_in_background(body);
        Err(failure)
    };
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        // A header that is not valid text cannot have been signed as the SDK signs.
        let Ok(v) = value.to_str() else {
            return refuse(body, unauthenticated());
        };
        headers.push((name.as_str().to_string(), v.to_string()));
    }
    let Some(authorization) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return refuse(body, unauthenticated());
    };
    let auth = match parse_authorization(authorization) {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(reason = %e, "malformed Authorization header");
            return refuse(body, unauthenticated());
        }
    };
    who.access_key_id.clone_from(&auth.access_key);
    let skew = time::Duration::seconds(state.control.settings.max_clock_skew_secs);
    if let Err(e) = check_headers(&headers, &auth, OffsetDateTime::now_utc(), skew) {
        tracing::info!(access_key = auth.access_key, reason = %e, "signature rejected");
        return refuse(body, unauthenticated());
    }
    // The project named in the path is read with the key (one store query); it binds the caller
    // only once the signature holds.
    let (secret, project) = match state
        .control
        .credential_and_project(&auth.access_key, &project_id)
        .await
    {
        Ok((Some(found), project)) => {
            who.domain_id.clone_from(&found.1);
            (found, project)
        }
        Ok((None, _)) => {
            tracing::debug!(access_key = auth.access_key, "unknown access key");
            return refuse(body, unauthenticated());
        }
        Err(e) => return refuse(body, Failure::from(e)),
    };
    let declared = match parts.headers.get(CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(n) => Some(n),
            None => {
                return refuse(
                    body,
                    Failure(ApiError::param("Invalid Content-Length header.")),
                );
            }
        },
    };
    if declared.is_some_and(|n| n > MAX_BODY) {
        return refuse(body, too_large());
    }
    let (bytes, held) = read_body(body, declared.unwrap_or(0), budget).await?;
    let (secret, domain_id) = secret;
    let request = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &bytes,
    };
    if let Err(e) = verify(&request, &auth, &secret, OffsetDateTime::now_utc(), skew) {
        // The reason is logged for the operator, never told to the caller.
        tracing::info!(access_key = auth.access_key, reason = %e, "signature rejected");
        return Err(unauthenticated());
    }
    let caller = vpcep_control::Control::caller_in(&domain_id, project)?;
    parts.extensions.insert(caller);
    Ok((Request::from_parts(parts, Body::from(bytes)), held))
}

/// Read the whole body, at most [`MAX_BODY`], within [`BODY_READ_TIMEOUT`], holding a share of
/// the budget for every byte kept (reserved up front for a declared length, grown per frame for
/// a chunked body).
async fn read_body(
    mut body: Body,
    declared: usize,
    budget: &BodyBudget,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Failure> {
    let deadline = Instant::now() + BODY_READ_TIMEOUT;
    let mut held = reserve(budget, None, declared).await?;
    let mut reserved = declared;
    let mut buf = BytesMut::with_capacity(declared);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(Failure(ApiError::new(
                    408,
                    codes::TIMEOUT,
                    "The request timed out: the body did not arrive in time.",
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "request body could not be read");
                return Err(Failure(ApiError::param(
                    "The request body could not be read.",
                )));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing we sign
        };
        let len = buf.len() + data.len();
        if len > MAX_BODY {
            return Err(too_large());
        }
        if len > reserved {
            held = reserve(budget, held, len - reserved).await?;
            reserved = len;
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf.freeze(), held))
}

/// `n` more bytes of the budget, merged into what the request already holds.
async fn reserve(
    budget: &BodyBudget,
    held: Option<OwnedSemaphorePermit>,
    n: usize,
) -> Result<Option<OwnedSemaphorePermit>, Failure> {
    if n == 0 {
        return Ok(held);
    }
    let permits = u32::try_from(n).map_err(|_| too_large())?;
    let busy = || {
        Failure(ApiError::new(
            429,
            codes::TOO_MANY_REQUESTS,
            "The number of requests exceeded the limit. Please try later.",
        ))
    };
    let more = tokio::time::timeout(BUDGET_WAIT, budget.0.clone().acquire_many_owned(permits))
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    Ok(Some(match held {
        Some(mut h) => {
            h.merge(more);
            h
        }
        None => more,
    }))
}

/// Read and drop a refused request's body in the background (bounded in bytes and time), so the
/// connection stays usable and the client reads its error; nothing is kept in memory.
fn discard_in_background(mut body: Body) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(DISCARD_TIMEOUT, async {
            let mut seen = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    seen += data.len();
                    if seen > MAX_BODY {
                        break;
                    }
                }
            }
        })
        .await;
    });
}
