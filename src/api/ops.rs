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

/// How many times its own duration a count of the callbacks by status is reused: counting
/// takes at most a tenth of the server's time, however large the store.
const STATUS_COUNT_REUSE: u32 = 10;

/// When the callbacks were last counted by status, and how long the count took.
#[derive(Debug, Clone, Copy)]
pub struct StatusCount {
    at: std::time::Instant,
    took: std::time::Duration,
}

impl StatusCount {
    /// Scrapes share one count for 10 s, or ten times as long as the count took.
    fn is_fresh(&self) -> bool {
        self.at.elapsed() < STATUS_COUNT_TTL.max(self.took * STATUS_COUNT_REUSE)
    }
}

/// Metrics in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Counting every row takes a while on a large store (9 s with 10,000,000 callbacks on a
    // 2-core machine): scrapes share one count while it is fresh.
    let mut last = state.status_counts.lock().await;
    let fresh = last.as_ref().is_some_and(StatusCount::is_fresh);
    if !fresh {
        let started = std::time::Instant::now();
        match state.store.count_by_status().await {
            Ok(counts) => {
                for (status, n) in counts {
                    metrics::gauge!(names::CALLBACKS, "state" => status.as_str()).set(n as f64);
                }
                *last = Some(StatusCount {
                    at: std::time::Instant::now(),
                    took: started.elapsed(),
                });
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::StatusCount;

    fn counted(ago: Duration, took: Duration) -> StatusCount {
        StatusCount {
            at: Instant::now() - ago,
            took,
        }
    }

    #[test]
    fn a_slow_count_is_reused_ten_times_as_long_as_it_took() {
        let quick = Duration::from_millis(40);
        assert!(counted(Duration::from_secs(9), quick).is_fresh());
        assert!(!counted(Duration::from_secs(11), quick).is_fresh());
        let slow = Duration::from_secs(9);
        assert!(counted(Duration::from_secs(80), slow).is_fresh());
        assert!(!counted(Duration::from_secs(91), slow).is_fresh());
    }
}
