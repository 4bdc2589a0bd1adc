//! Prometheus metrics of the API listener: `/metrics` (the process's recorder, rendered in the
//! Prometheus text format), requests by operation and status with their latency, and the
//! store's objects by status. Other parts of the process (the built-in agent's kernel counters)
//! are read at scrape time through hooks registered with [`on_scrape`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use vpcep_core::model::{EndpointStatus, Kind, ServiceStatus};

use crate::AppState;

/// Latency buckets (seconds) of every `*_seconds` histogram: 100 µs to 10 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process's Prometheus recorder (once; later calls return the same handle).
/// `None` when another recorder was installed first: then nothing is exported here.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .and_then(|b| b.install_recorder());
            match built {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

type Hook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

static HOOKS: Mutex<BTreeMap<String, Hook>> = Mutex::new(BTreeMap::new());

/// Run `hook` before every render (e.g. the agent reading its kernel counters); a hook of the
/// same `name` is replaced.
pub fn on_scrape<F, Fut>(name: &str, hook: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let hook: Hook = Arc::new(move || Box::pin(hook()));
    HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string(), hook);
}

/// Run the scrape hooks, then render everything recorded (Prometheus text format 0.0.4).
pub async fn render() -> Response {
    let Some(handle) = install() else {
        return (StatusCode::NOT_FOUND, "metrics are not recorded").into_response();
    };
    let hooks: Vec<Hook> = HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for h in hooks {
        h().await;
    }
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// `GET /metrics` on the API listener: the store's objects by status, then [`render`].
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let mut up = true;
    let services = [
        ServiceStatus::Creating,
        ServiceStatus::Available,
        ServiceStatus::Failed,
        ServiceStatus::Deleting,
    ]
    .map(|s| (Kind::EndpointService, "endpoint_service", s.as_str()));
    let endpoints = EndpointStatus::ALL.map(|s| (Kind::Endpoint, "endpoint", s.as_str()));
    for (kind, name, status) in services.into_iter().chain(endpoints) {
        match state.control.count_in_status(kind, status).await {
            Ok(n) => {
                metrics::gauge!("vpcep_objects", "kind" => name, "status" => status).set(n as f64);
            }
            Err(e) => {
                up = false;
                tracing::warn!(error = %e, "cannot count objects for /metrics");
                break;
            }
        }
    }
    metrics::gauge!("vpcep_store_up").set(if up { 1.0 } else { 0.0 });
    metrics::histogram!("vpcep_store_count_seconds").record(started.elapsed().as_secs_f64());
    render().await
}

/// Requests by operation (the matched route template, e.g.
/// `/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}`; `unmatched` for paths no route has),
/// method and status, and their latency.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let operation = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::histogram!(
        "vpcep_api_request_duration_seconds",
        "operation" => operation.clone(),
        "method" => method.clone(),
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "vpcep_api_requests_total",
        "operation" => operation,
        "method" => method,
        "status" => status,
    )
    .increment(1);
    resp
}
