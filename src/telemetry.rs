//! Logs and metrics.
//!
//! Metrics use the `metrics` facade with a Prometheus recorder installed once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Metric names, kept in one place so dashboards and code agree.
pub mod names {
    pub const CALLBACKS: &str = "ringback_callbacks";
    pub const DISPATCH_LATENESS: &str = "ringback_dispatch_lateness_seconds";
    pub const DISPATCHES: &str = "ringback_dispatches_total";
    pub const BRIDGE_ERRORS: &str = "ringback_bridge_errors_total";
    pub const BRIDGE_RETRIES: &str = "ringback_bridge_retries_total";
    pub const RESENDS: &str = "ringback_dispatch_resends_total";
    /// How far ahead of the clock the committed send horizon reaches: the requests a crash
    /// would leave in doubt (counted as sent, the next one a resend).
    pub const SEND_HORIZON_LEAD: &str = "ringback_send_horizon_lead_seconds";
    pub const LEASE_TAKEOVERS: &str = "ringback_lease_takeovers_total";
    pub const EXPIRED: &str = "ringback_callbacks_expired_total";
    pub const CLAIM_SECONDS: &str = "ringback_claim_duration_seconds";
    pub const WEBHOOK_DELIVERIES: &str = "ringback_webhook_deliveries_total";
    pub const WEBHOOK_LATENCY: &str = "ringback_webhook_latency_seconds";
    pub const HTTP_REQUESTS: &str = "ringback_http_requests_total";
    pub const HTTP_DURATION: &str = "ringback_http_request_duration_seconds";
    pub const ROUTE_SECONDS: &str = "ringback_routing_pass_duration_seconds";
    /// How long a free agent waited for each offer made to them.
    pub const OFFER_WAIT: &str = "ringback_offer_agent_wait_seconds";
    pub const OFFERS: &str = "ringback_offers_total";
    pub const OFFER_TIMEOUTS: &str = "ringback_offer_timeouts_total";
    pub const REMINDERS: &str = "ringback_reminders_total";
    /// Personal callbacks their agent did not take, moved to the team.
    pub const FALLBACKS: &str = "ringback_callbacks_fallen_back_total";
    /// Ended callbacks deleted past their account's `retention_days`.
    pub const PURGED: &str = "ringback_callbacks_purged_total";
    /// Recordings deleted past their account's retention.
    pub const RECORDINGS_PURGED: &str = "ringback_recordings_purged_total";
    /// Audit entries deleted past their account's `audit_retention_days`.
    pub const AUDIT_PURGED: &str = "ringback_audit_entries_purged_total";
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::DISPATCH_LATENESS.to_owned()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                        300.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets(&[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ])
                })
                .expect("bucket lists are non-empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests embedding several apps); the
            // handle still renders what this one records.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Installs the log subscriber: human-readable or JSON lines, filtered by `RUST_LOG`.
pub fn init_logs(json: bool) {
    // rsipstack logs whole SIP messages at info: phone numbers, names and call context stay
    // out of the logs unless asked for.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn,rsipstack=warn")
    });
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(fmt::layer().json()).init();
    } else {
        registry.with(fmt::layer()).init();
    }
}
