//! Wiring: opens the store, binds the listener, runs the HTTP server and the scheduler, and
//! shuts both down gracefully.
//!
//! The state every handler is given is [`AppState`] (`state.rs`); the routes of the native
//! API, the vendor dialects and the Callback Manager are assembled by [`router`] (`router.rs`);
//! the HTTP server's client connections are accepted and limited in `listener.rs`.

mod listener;
mod router;
mod state;

pub use router::router;
pub use state::{ApiSettings, AppState};

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use listener::{ConnectionLimits, serve};

use crate::{
    api::auth::Authenticator,
    clock::{self, SharedClock},
    config::ServeConfig,
    dialer::{Dialer, HttpBridge},
    domain::{
        SigningSecret,
        customer_link::{CustomerLinks, LINK_KEY_NAME},
        trunk::TrunkKind,
    },
    notifications::{NotificationConfig, NotificationWorker},
    routing::{Router, RouterConfig},
    scheduler::{Scheduler, SchedulerConfig},
    store::{self, Store, StoreError},
    telemetry,
    webhooks::worker::{WebhookConfig, WebhookWorker},
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("could not open the store: {0}")]
    Store(#[from] StoreError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
    #[error("could not set up the SIP user agent: {0}")]
    Sip(String),
}

/// A server ready to run: its listener is bound, so tests can ask for port 0 and read the
/// address back before anything runs.
pub struct Application {
    listener: TcpListener,
    connections: ConnectionLimits,
    store: Arc<dyn Store>,
    router: axum::Router,
    /// One per claimer (`--claimers`).
    schedulers: Vec<Scheduler>,
    routing: Router,
    webhooks: WebhookWorker,
    /// Sends confirmations and reminders to customers.
    notifications: NotificationWorker,
    /// Deletes recordings past their account's retention.
    retention: crate::retention::RetentionSweep,
    /// Seals new audit entries into their account's hash chain.
    sealer: crate::audit::AuditSealer,
    clock: SharedClock,
    shutdown: CancellationToken,
    /// Places calls; its SIP user agent's live calls may go on after a stop for this long.
    dialer: Arc<Dialer>,
    drain_timeout: Duration,
}

impl Application {
    pub async fn build(config: ServeConfig) -> Result<Self, AppError> {
        Self::build_with_clock(config, clock::system()).await
    }

    pub async fn build_with_clock(
        config: ServeConfig,
        clock: SharedClock,
    ) -> Result<Self, AppError> {
        let store = store::open(&config.database).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| AppError::Bind {
                addr: config.listen,
                source,
            })?;
        let local = listener.local_addr()?;
        let connections = ConnectionLimits::of(&config);
        // The customer links' key: the server's own, the same on every node.
        let link_key = store
            .server_secret(LINK_KEY_NAME, SigningSecret::generate(), clock.now())
            .await?;
        let links = Arc::new(CustomerLinks::new(config.public_url.as_ref(), link_key));
        let notification_timeout = Duration::from_millis(config.notification_timeout_ms.max(1));
        let public_url = config.public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{local}")).expect("a socket address makes a valid URL")
        });
        let state = AppState {
            store: store.clone(),
            clock: clock.clone(),
            settings: Arc::new(ApiSettings {
                min_lead_seconds: config.min_lead_seconds,
                max_body_bytes: config.max_body_bytes,
                max_bulk_body_bytes: config.max_bulk_body_bytes,
                request_timeout: Duration::from_secs(config.request_timeout_seconds.max(1)),
                allow_private_webhooks: config.allow_private_webhooks,
                routing: config.routing(),
                recordings_dir: config.recordings_dir.clone(),
                audit_retention_floor_days: config.audit_retention_floor_days,
            }),
            auth: Arc::new(Authenticator::new(
                config.rate_limit_per_second,
                config.rate_limit_burst,
                store.credentials_signal(),
            )),
            prometheus: telemetry::prometheus(),
            status_counts: Arc::default(),
            ui: Arc::new(crate::ui::UiState::new(
                config
                    .public_url
                    .as_ref()
                    .is_some_and(|u| u.scheme() == "https"),
            )),
            links: links.clone(),
            notification_timeout,
        };
        let bridge = HttpBridge::new(
            config.dialer_url.clone(),
            public_url,
            Duration::from_millis(config.bridge_timeout_ms.max(1)),
            config.bridge_concurrency,
        );
        let twilio = Arc::new(crate::dialer::twilio::TwilioDriver::new(
            store.clone(),
            Duration::from_millis(config.bridge_timeout_ms.max(1)),
        ));
        // Ends when the dialer (the driver's last owner) is dropped.
        tokio::spawn(crate::dialer::twilio::sweep_unfinished_calls(
            Arc::downgrade(&twilio),
            clock.clone(),
            Duration::from_secs(config.lost_call_grace_seconds),
        ));
        let tls_roots = crate::dialer::trust::trust_anchors(config.sip_tls_ca_file.as_deref())
            .map_err(|e| AppError::Sip(e.to_string()))?;
        let tls_identity = match (&config.sip_tls_certificate, &config.sip_tls_key) {
            (Some(certificate), Some(key)) => Some(
                crate::dialer::trust::identity(certificate, key)
                    .map_err(|e| AppError::Sip(e.to_string()))?,
            ),
            _ => None,
        };
        let dialer = Dialer::new(bridge).with_twilio(twilio).with_sip(
            crate::dialer::sip::SipConfig {
                listen: config
                    .sip_listen
                    .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 5060))),
                public_address: config.sip_public_address,
                rtp_ports: config.rtp_ports.clone(),
                ring_timeout: Duration::from_secs(config.ring_timeout_seconds.max(1)),
                recordings: config.recordings_dir.clone(),
                lost_call_grace: Duration::from_secs(config.lost_call_grace_seconds),
                tls_roots,
                tls_identity,
            },
            store.clone(),
            clock.clone(),
        );
        // The SIP user agent runs from the start where asked, or once any account has a `sip`
        // trunk; otherwise the first call on a `sip` trunk starts it.
        let start_sip = config.sip_listen.is_some() || {
            let any = store.any_trunk_of_kind(TrunkKind::Sip).await?;
            if any {
                tracing::info!(
                    "an account has a sip trunk: starting the SIP user agent on 0.0.0.0:5060"
                );
            }
            any
        };
        if start_sip {
            dialer.start_sip().await.map_err(|source| AppError::Bind {
                addr: config
                    .sip_listen
                    .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 5060))),
                source,
            })?;
        }
        let dialer = Arc::new(dialer);
        let owner = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", ulid::Ulid::new()));
        let webhooks = WebhookWorker::new(
            store.clone(),
            clock.clone(),
            WebhookConfig {
                owner: owner.clone(),
                allow_private: config.allow_private_webhooks,
                timeout: Duration::from_millis(config.webhook_timeout_ms.max(1)),
                max_in_flight: config.webhook_concurrency.max(1),
                lease: config.lease(),
                max_idle: Duration::from_secs(2),
                retry_delays: config
                    .webhook_retry_delays_ms
                    .iter()
                    .map(|ms| Duration::from_millis(*ms))
                    .collect(),
            },
        );
        let notifications = NotificationWorker::new(
            store.clone(),
            clock.clone(),
            (*links).clone(),
            NotificationConfig {
                owner: owner.clone(),
                lease: config.lease(),
                retry_delays: config
                    .notification_retry_delays_ms
                    .iter()
                    .map(|ms| Duration::from_millis(*ms))
                    .collect(),
                timeout: notification_timeout,
                max_idle: Duration::from_secs(1),
                batch: 50,
                allow_private: config.allow_private_webhooks,
            },
        );
        let routing = Router::new(
            store.clone(),
            clock.clone(),
            RouterConfig {
                settings: config.routing(),
                batch: 1000,
                max_idle: Duration::from_secs(2),
            },
        );
        let retention = crate::retention::RetentionSweep::new(
            store.clone(),
            clock.clone(),
            config.recordings_dir.clone(),
            Duration::from_secs(config.recording_sweep_seconds),
            config.audit_retention_floor_days,
        );
        let sealer = crate::audit::AuditSealer::new(store.clone(), clock.clone());
        let maintenance_clock = clock.clone();
        // On PostgreSQL, claims hold row locks only until they write their events, so two
        // claimers on one node fill the database's cores; SQLite's single writer gains nothing.
        let default_claimers = match store::Backend::of(&config.database.database_url) {
            Some(store::Backend::Postgres) => 2,
            _ => 1,
        };
        let claimers = config.claimers.unwrap_or(default_claimers).max(1);
        let schedulers = (0..claimers)
            .map(|i| {
                Scheduler::new(
                    store.clone(),
                    dialer.clone(),
                    clock.clone(),
                    SchedulerConfig {
                        // Claims name the node; a second claimer adds its number.
                        owner: if i == 0 {
                            owner.clone()
                        } else {
                            format!("{owner}#{}", i + 1)
                        },
                        claim_batch: config.claim_batch.max(1),
                        lease: config.lease(),
                        max_in_flight: (config.dispatch_concurrency / claimers).max(1),
                        drain: Duration::from_secs(config.drain_seconds),
                        max_idle: Duration::from_secs(2),
                        lookahead: Duration::from_millis(config.claim_ahead_ms),
                        min_claim_interval: Duration::from_millis(50),
                    },
                )
            })
            .collect();
        Ok(Self {
            listener,
            connections,
            store,
            router: router(state),
            schedulers,
            webhooks,
            notifications,
            routing,
            retention,
            sealer,
            clock: maintenance_clock,
            shutdown: CancellationToken::new(),
            dialer,
            drain_timeout: Duration::from_secs(config.drain_timeout_seconds),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Cancel this token to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves HTTP and runs the scheduler until the shutdown token is cancelled, then stops
    /// claiming, drains in-flight dispatches and returns.
    pub async fn run(self) -> Result<(), AppError> {
        let Self {
            listener,
            connections,
            router,
            schedulers,
            webhooks,
            notifications,
            routing,
            retention,
            sealer,
            store,
            clock,
            shutdown,
            dialer,
            drain_timeout,
        } = self;
        let scheduler_tasks: Vec<_> = schedulers
            .into_iter()
            .map(|s| tokio::spawn(s.run(shutdown.clone())))
            .collect();
        let routing_task = tokio::spawn(routing.run(shutdown.clone()));
        let webhooks_task = tokio::spawn(webhooks.run(shutdown.clone()));
        let retention_task = tokio::spawn(retention.run(shutdown.clone()));
        let sealer_task = tokio::spawn(sealer.run(shutdown.clone()));
        let notifications_task = tokio::spawn(notifications.run(shutdown.clone()));
        let maintenance = tokio::spawn(crate::background::maintain(
            store.clone(),
            clock.clone(),
            shutdown.clone(),
        ));
        serve(listener, router, connections, shutdown.clone()).await;
        shutdown.cancel();
        for task in scheduler_tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "scheduler task failed");
            }
        }
        if let Err(e) = routing_task.await {
            tracing::error!(error = %e, "routing task failed");
        }
        if let Err(e) = webhooks_task.await {
            tracing::error!(error = %e, "webhook task failed");
        }
        let _ = maintenance.await;
        let _ = retention_task.await;
        let _ = sealer_task.await;
        let _ = notifications_task.await;
        // Calls under way carry on through a stop until they end (or the drain time runs out).
        if let Some(driver) = dialer.running_sip()
            && !driver.drain(drain_timeout).await
        {
            tracing::warn!("calls still under way at the end of the drain time are dropped");
        }
        Ok(())
    }
}
