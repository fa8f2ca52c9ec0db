//! The router: puts due preview callbacks in line and offers them to free agents.
//!
//! Architecture invariant: like the scheduler, the router meets the HTTP handlers only through
//! `store` and `domain`. Whatever may give it work sooner than it planned (a preview callback
//! created, an agent becoming available, an offer rejected, a call ended) raises the store's
//! routing signal; each pass is one store transaction ([`RoutingStore::route`]).
//!
//! [`RoutingStore::route`]: crate::store::RoutingStore::route

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::SharedClock,
    domain::routing::RoutingSettings,
    store::{RoutePass, Store, StoreError},
    telemetry::names,
};

#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub settings: RoutingSettings,
    /// Most offers (and of each other kind of change) in one pass.
    pub batch: u32,
    /// Longest sleep without looking at the store (working hours start, other processes).
    pub max_idle: Duration,
}

pub struct Router {
    store: Arc<dyn Store>,
    clock: SharedClock,
    config: RouterConfig,
}

impl Router {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, config: RouterConfig) -> Self {
        Self {
            store,
            clock,
            config,
        }
    }

    /// One pass: whatever fell due, then offers.
    pub async fn run_once(&self) -> Result<RoutePass, StoreError> {
        let started = std::time::Instant::now();
        let pass = self
            .store
            .route(self.clock.now(), &self.config.settings, self.config.batch)
            .await?;
        metrics::histogram!(names::ROUTE_SECONDS).record(started.elapsed().as_secs_f64());
        for offer in &pass.offers {
            metrics::histogram!(names::OFFER_WAIT).record(offer.agent_waited.as_secs_f64());
        }
        if !pass.offers.is_empty() {
            metrics::counter!(names::OFFERS).increment(pass.offers.len() as u64);
        }
        if pass.timed_out > 0 {
            metrics::counter!(names::OFFER_TIMEOUTS).increment(pass.timed_out as u64);
        }
        if pass.expired > 0 {
            metrics::counter!(names::EXPIRED).increment(pass.expired as u64);
        }
        if pass.reminders > 0 {
            metrics::counter!(names::REMINDERS).increment(pass.reminders as u64);
        }
        Ok(pass)
    }

    /// Runs passes until `shutdown`, sleeping until the next timed work or a signal.
    pub async fn run(self, shutdown: CancellationToken) {
        let signal = self.store.routing_signal();
        while !shutdown.is_cancelled() {
            // Armed before the pass: a change committed during it wakes the next sleep.
            signal.arm();
            match self.run_once().await {
                Ok(pass) if pass.saturated => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "routing pass failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = shutdown.cancelled() => break,
                    }
                    continue;
                }
            }
            let now = self.clock.now();
            let idle_until = now
                .checked_add(self.config.max_idle)
                .unwrap_or(Timestamp::MAX);
            let until = match self.store.next_routing_wakeup().await {
                Ok(Some(next)) => next.min(idle_until),
                Ok(None) => idle_until,
                Err(e) => {
                    tracing::error!(error = %e, "reading the next routing time failed");
                    now.checked_add(Duration::from_secs(1))
                        .unwrap_or(idle_until)
                }
            };
            tokio::select! {
                () = signal.sleep_until(until, until, now) => {}
                () = shutdown.cancelled() => break,
            }
        }
    }
}
