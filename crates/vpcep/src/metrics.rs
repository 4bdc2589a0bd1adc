//! `--metrics-listen` of `vpcep agent` and `vpcep dns` run alone: `/metrics` (the process's
//! Prometheus recorder, as on `vpcep serve`'s API listener), `/health` (the process answers) and
//! `/ready` (`ready()`: for the agent, its last converge programmed every namespace).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

/// Serve the metrics endpoints on `addr` until the process ends.
pub async fn spawn(
    addr: SocketAddr,
    ready: impl Fn() -> bool + Send + Sync + 'static,
) -> anyhow::Result<()> {
    vpcep_api::metrics::install();
    let ready = Arc::new(ready);
    let app = Router::new()
        .route("/metrics", get(vpcep_api::metrics::render))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready() {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr}"))?;
    tracing::info!(%addr, "metrics listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics listener ended");
        }
    });
    Ok(())
}
