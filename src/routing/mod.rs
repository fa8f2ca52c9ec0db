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
    background::{Arm, Loop, Pacing, Step, run_loop},
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
        if pass.reassigned > 0 {
            metrics::counter!(names::FALLBACKS).increment(pass.reassigned as u64);
        }
        if pass.reminders > 0 {
            metrics::counter!(names::REMINDERS).increment(pass.reminders as u64);
        }
        Ok(pass)
    }

    /// Runs passes until `shutdown`, sleeping until the next timed work or a signal.
    pub async fn run(self, shutdown: CancellationToken) {
        let pacing = Pacing {
            max_idle: self.config.max_idle,
            min_interval: Duration::ZERO,
            lookahead: Duration::ZERO,
            after_read_error: Duration::from_secs(1),
            // Agents becoming available and offers rejected show in no due time, only in a pass.
            arm: Arm::BeforeStep,
        };
        let signal = self.store.routing_signal();
        run_loop(&self, &signal, &self.clock, pacing, &shutdown).await;
    }
}

impl Loop for Router {
    const STEP_FAILED: &'static str = "routing pass failed";
    const WAKEUP_FAILED: &'static str = "reading the next routing time failed";

    /// A saturated pass is followed by the next at once: it waits for nothing in flight.
    async fn step(&self) -> Result<Step, StoreError> {
        Ok(Step::from_saturated(self.run_once().await?.saturated))
    }

    async fn next_wakeup(&self, _now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.store.next_routing_wakeup().await
    }
}
