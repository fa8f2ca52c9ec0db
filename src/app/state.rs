//! What every handler is given: the store, the clock, the settings the handlers need, the
//! authenticator and the Callback Manager's state.

use std::{sync::Arc, time::Duration};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::{api::auth, clock::SharedClock, store::Store};

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub min_lead_seconds: u64,
    pub max_body_bytes: usize,
    /// The body limit of `POST /v1/campaigns` (a contact list).
    pub max_bulk_body_bytes: usize,
    pub request_timeout: Duration,
    /// Allow webhook URLs on loopback and private networks (operators only).
    pub allow_private_webhooks: bool,
    pub routing: crate::domain::routing::RoutingSettings,
    /// Where call recordings are (`--recordings-dir`).
    pub recordings_dir: std::path::PathBuf,
    /// `--audit-retention-floor-days`: the fewest days `audit_retention_days` may say.
    pub audit_retention_floor_days: u32,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub settings: Arc<ApiSettings>,
    pub auth: Arc<auth::Authenticator>,
    /// When the callbacks-by-state gauges were last counted, and how long it took.
    pub status_counts: Arc<tokio::sync::Mutex<Option<crate::api::ops::StatusCount>>>,
    pub prometheus: PrometheusHandle,
    /// The Callback Manager's sign-in throttle and cookie settings.
    pub ui: Arc<crate::ui::UiState>,
    /// Makes each callback's `customer_link` (the server's public URL and link key).
    pub links: Arc<crate::domain::customer_link::CustomerLinks>,
    /// How long the SMTP test of `POST /v1/settings/email/test` may take.
    pub notification_timeout: Duration,
}
