//! Operational endpoints: liveness, readiness and Prometheus metrics.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::error::ApiError;
use crate::app::AppState;
use crate::{domain::ErrorCode, telemetry::names};

/// The body of `/healthz` (`ok`) and `/readyz` (`ready`).
#[derive(utoipa::ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: String,
}

/// The process is up.
#[utoipa::path(
    get, path = "/healthz", operation_id = "healthz", tag = "ops",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = HealthStatus, example = json!({"status": "ok"}))),
)]
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// The store is reachable.
#[utoipa::path(
    get, path = "/readyz", operation_id = "readyz", tag = "ops",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = HealthStatus, example = json!({"status": "ready"})),
        (status = 503, response = super::error::Unavailable),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    // A database that does not answer within the probe's patience is as good as down.
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping());
    let failure = match ping.await {
        Ok(Ok(())) => return Ok(axum::Json(serde_json::json!({ "status": "ready" }))),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 2 s".to_owned(),
    };
    tracing::warn!(error = %failure, "readiness check failed");
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        "the store is not reachable",
    ))
}

const STATUS_COUNT_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Metrics in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Counting every row takes a while on a large store; scrapes within a few seconds of each
    // other share one count.
    let mut last = state.status_counts.lock().await;
    let fresh = last
        .as_ref()
        .is_some_and(|at| at.elapsed() < STATUS_COUNT_TTL);
    if !fresh {
        match state.store.count_by_status().await {
            Ok(counts) => {
                for (status, n) in counts {
                    metrics::gauge!(names::CALLBACKS, "state" => status.as_str()).set(n as f64);
                }
                *last = Some(std::time::Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "counting callbacks for metrics failed"),
        }
    }
    drop(last);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.prometheus.render(),
    )
}
