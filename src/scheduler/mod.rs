//! The scheduler: claims due callbacks from the store and dispatches them to the dialer bridge.
//!
//! Architecture invariant: the scheduler and the HTTP handlers meet only through `store` and
//! `domain`. A new or rescheduled callback wakes the scheduler through the store's
//! [`DueSignal`](crate::store::DueSignal), never through a call from the API.
//!
//! One step ([`Scheduler::run_once`]) claims what is due and starts a dispatch task per callback;
//! the loop ([`Scheduler::run`]) repeats it, sleeping until the next due time. Answers from the
//! bridge are written back in batches by a separate writer task, so thousands of dispatches a
//! second cost a handful of transactions.

mod horizon;

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use self::horizon::SendHorizon;
use crate::{
    background::{Arm, Loop, Pacing, Recent, Step, run_loop, write_in_batches},
    clock::SharedClock,
    dialer::{Dialer, Placement},
    domain::{AccountId, SigningSecret, callback::plan_bridge_failure},
    store::{Claimed, DispatchReport, DispatchResult, Store, StoreError},
    telemetry::names,
};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The name this scheduler claims under.
    pub owner: String,
    pub claim_batch: u32,
    pub lease: Duration,
    pub max_in_flight: usize,
    /// How long to wait for in-flight dispatches at shutdown.
    pub drain: Duration,
    /// Longest sleep without looking at the store (other processes may write to it).
    pub max_idle: Duration,
    /// How far ahead of their due time callbacks are claimed, so that claiming (a store
    /// transaction) is off the critical path and each fires from a timer at its due time.
    /// A callback this close to its time can no longer be canceled or changed.
    pub lookahead: Duration,
    /// Shortest pause between two claims when not saturated, so a steady stream of due
    /// callbacks is claimed in batches rather than one transaction each.
    pub min_claim_interval: Duration,
}

/// What one step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub dispatched: usize,
    pub expired: usize,
    pub taken_over: usize,
    /// The step claimed as much as it was allowed: more may be due right now.
    pub saturated: bool,
}

pub struct Scheduler {
    store: Arc<dyn Store>,
    dialer: Arc<Dialer>,
    clock: SharedClock,
    config: SchedulerConfig,
    in_flight: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<DispatchReport>,
    reports_rx: Option<mpsc::UnboundedReceiver<DispatchReport>>,
    secrets: Arc<SecretCache>,
    horizon: Arc<SendHorizon>,
}

/// Accounts' signing secrets, re-read every half minute so a rotation takes effect soon
/// without a query per dispatch.
struct SecretCache(Recent<AccountId, Option<SigningSecret>>);

impl Default for SecretCache {
    fn default() -> Self {
        Self(Recent::new(Duration::from_secs(30)))
    }
}

impl SecretCache {
    async fn get(&self, store: &Arc<dyn Store>, account: &AccountId) -> Option<SigningSecret> {
        if let Some(secret) = self.0.get(account) {
            return secret;
        }
        let secret = match store.signing_secret(account).await {
            Ok(secret) => secret,
            Err(e) => {
                tracing::warn!(error = %e, "reading the signing secret failed; sending unsigned");
                return None;
            }
        };
        self.0.keep(account.clone(), secret.clone());
        secret
    }
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        dialer: Arc<Dialer>,
        clock: SharedClock,
        mut config: SchedulerConfig,
    ) -> Self {
        let (reports, reports_rx) = mpsc::unbounded_channel();
        // A claim is sent within the first two thirds of its lease or handed back (see
        // `send_by`), so it is claimed no further ahead than a third.
        config.lookahead = config.lookahead.min(config.lease / 3);
        let horizon = Arc::new(SendHorizon::new(
            store.clone(),
            clock.clone(),
            config.owner.clone(),
        ));
        Self {
            horizon,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            store,
            dialer,
            clock,
            config,
            reports,
            reports_rx: Some(reports_rx),
            secrets: Arc::default(),
        }
    }

    /// Claims what is due now and starts its dispatches.
    pub async fn run_once(&self) -> Result<StepReport, StoreError> {
        let limit = self
            .in_flight
            .available_permits()
            .min(self.config.claim_batch as usize) as u32;
        if limit == 0 {
            return Ok(StepReport {
                saturated: true,
                ..StepReport::default()
            });
        }
        let started = std::time::Instant::now();
        let now = self.clock.now();
        let due_until = now.checked_add(self.config.lookahead).unwrap_or(now);
        let batch = self
            .store
            .claim_due(now, due_until, limit, &self.config.owner, self.config.lease)
            .await?;
        metrics::histogram!(names::CLAIM_SECONDS).record(started.elapsed().as_secs_f64());
        let report = StepReport {
            dispatched: batch.dispatch.len(),
            expired: batch.expired.len(),
            taken_over: batch.taken_over,
            saturated: (batch.dispatch.len() + batch.expired.len()) as u32 >= limit,
        };
        if report.expired > 0 {
            metrics::counter!(names::EXPIRED).increment(report.expired as u64);
        }
        if report.taken_over > 0 {
            metrics::counter!(names::LEASE_TAKEOVERS).increment(report.taken_over as u64);
            tracing::warn!(count = report.taken_over, "took over expired claims");
        }
        if !batch.dispatch.is_empty() {
            self.horizon.claimed();
        }
        for claimed in batch.dispatch {
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                // Cannot happen (we claimed no more than the free permits), but never drop a
                // claim: its lease runs out and it is dispatched again.
                tracing::error!(callback_id = %claimed.callback.id, "no dispatch slot for a claim");
                continue;
            };
            let dialer = self.dialer.clone();
            let clock = self.clock.clone();
            let reports = self.reports.clone();
            let secrets = self.secrets.clone();
            let store = self.store.clone();
            let horizon = self.horizon.clone();
            // Past this, the claim may have run out and been taken over: it is not sent. A
            // lease is extended only once half of it is gone, so until two thirds of it the
            // claim is surely ours (with the clocks of the nodes a sixth of a lease apart).
            let send_by = now
                .checked_add(self.config.lease * 2 / 3)
                .unwrap_or(Timestamp::MAX);
            tokio::spawn(async move {
                let cb = &claimed.callback;
                let secret = secrets.get(&store, &cb.account_id).await;
                // Claimed a little ahead: fire at the due time itself.
                if let Ok(wait) = Duration::try_from(cb.due_at.duration_since(clock.now())) {
                    tokio::time::sleep(wait).await;
                }
                if !may_send(&horizon, &clock, cb.due_at.max(now), send_by).await {
                    tracing::warn!(callback_id = %cb.id, "a claim could not be sent in time; handing it back");
                    let _ = reports.send(dispatch_report(
                        &claimed,
                        clock.now(),
                        None,
                        DispatchResult::NotSent,
                    ));
                    drop(permit);
                    return;
                }
                let lateness = clock.now().duration_since(cb.due_at).as_secs_f64().max(0.0);
                metrics::histogram!(names::DISPATCH_LATENESS).record(lateness);
                if claimed.resend {
                    metrics::counter!(names::RESENDS).increment(1);
                }
                if claimed.bridge_requests > 1 {
                    metrics::counter!(names::BRIDGE_RETRIES).increment(1);
                }
                let answer = dialer
                    .place(&store, &claimed, secret.as_ref(), clock.now())
                    .await;
                let at = clock.now();
                let mut provider_call_id = None;
                let (bridge_status, result) = match answer {
                    Placement::Accepted { status, call_id } => {
                        provider_call_id = call_id;
                        (status, DispatchResult::Accepted)
                    }
                    Placement::Refused { status, reason } => {
                        (status, failure(at, &claimed, reason))
                    }
                    Placement::Unreachable { reason } => (None, failure(at, &claimed, reason)),
                };
                // The bridge answered: accepted, or a failure (`NotSent` is reported above).
                let outcome = if matches!(result, DispatchResult::Accepted) {
                    "accepted"
                } else {
                    metrics::counter!(names::BRIDGE_ERRORS).increment(1);
                    tracing::warn!(callback_id = %cb.id, attempt = cb.attempt, ?bridge_status, "dispatch failed");
                    "failed"
                };
                metrics::counter!(names::DISPATCHES, "result" => outcome).increment(1);
                let mut report = dispatch_report(&claimed, at, bridge_status, result);
                report.provider_call_id = provider_call_id;
                let _ = reports.send(report);
                drop(permit);
            });
        }
        Ok(report)
    }

    /// Runs until `shutdown` is cancelled, then drains: waits for in-flight dispatches (up to
    /// the drain time), records their answers and hands back any claim still held.
    pub async fn run(mut self, shutdown: CancellationToken) {
        if !self.dialer.has_default_bridge() {
            tracing::warn!(
                "no --dialer-url: due callbacks without a trunk will be retried until they expire"
            );
        }
        let store = self.store.clone();
        let writer = tokio::spawn(write_in_batches(
            self.reports_rx.take().expect("run is called once"),
            1000,
            "dispatches",
            async move |batch| store.record_dispatches(batch).await,
        ));
        let renewer = tokio::spawn(extend_leases(
            self.store.clone(),
            self.clock.clone(),
            self.config.owner.clone(),
            self.config.lease,
        ));
        let keeper = tokio::spawn({
            let (horizon, slots) = (self.horizon.clone(), self.in_flight.clone());
            let all = self.config.max_in_flight;
            async move { horizon.keep(|| slots.available_permits() < all).await }
        });
        let pacing = Pacing {
            max_idle: self.config.max_idle,
            min_interval: self.config.min_claim_interval,
            lookahead: self.config.lookahead,
            after_read_error: Duration::from_secs(1),
            arm: Arm::BeforeNextWakeup,
        };
        let signal = self.store.due_signal();
        run_loop(&self, &signal, &self.clock, pacing, &shutdown).await;
        self.drain(writer).await;
        renewer.abort();
        keeper.abort();
    }

    async fn drain(self, writer: tokio::task::JoinHandle<()>) {
        let max = self.config.max_in_flight as u32;
        let drained = tokio::time::timeout(self.config.drain, self.in_flight.acquire_many(max))
            .await
            .is_ok();
        if !drained {
            tracing::warn!("dispatches still in flight at shutdown; they will be re-sent");
        }
        let Scheduler {
            store,
            reports,
            clock,
            config,
            ..
        } = self;
        drop(reports);
        if !drained {
            writer.abort();
        }
        let _ = writer.await;
        match store.release_claims(&config.owner, clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "handed back claims at shutdown"),
            Err(e) => tracing::error!(error = %e, "handing back claims failed; leases will expire"),
        }
    }
}

impl Loop for Scheduler {
    const STEP_FAILED: &'static str = "claiming due callbacks failed";
    const WAKEUP_FAILED: &'static str = "reading the next due time failed";

    async fn step(&self) -> Result<Step, StoreError> {
        Ok(Step::from_saturated(self.run_once().await?.saturated))
    }

    /// Saturated with every dispatch slot taken: waits for one to free up. (Saturated with
    /// slots free, the batch was full: claims again at once.)
    async fn wait_for_slot(&self) {
        if self.in_flight.available_permits() == 0 {
            drop(self.in_flight.acquire().await);
        }
    }

    async fn next_wakeup(&self, _now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.store.next_wakeup().await
    }
}

/// Keeps this scheduler's claims alive while their dispatches are under way: every third of
/// the lease, each claim it holds with less than half a lease left is extended to a full lease
/// from now (most dispatches are answered long before that, and are never touched). Should
/// this process die, the extensions stop and other nodes take the claims over once they run
/// out.
async fn extend_leases(store: Arc<dyn Store>, clock: SharedClock, owner: String, lease: Duration) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock.now();
        let until = now.checked_add(lease).unwrap_or(Timestamp::MAX);
        let renew_before = now.checked_add(lease / 2).unwrap_or(until);
        match store.extend_leases(&owner, renew_before, until).await {
            Ok(n) if n > 0 => tracing::debug!(count = n, "extended claims"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "extending claims failed; they may be taken over"),
        }
    }
}

/// Waits until a request whose time is `at` is within the committed send horizon, and says
/// whether that happened before `send_by`.
async fn may_send(
    horizon: &SendHorizon,
    clock: &SharedClock,
    at: Timestamp,
    send_by: Timestamp,
) -> bool {
    let Ok(left) = Duration::try_from(send_by.duration_since(clock.now())) else {
        return false;
    };
    match tokio::time::timeout(left, horizon.cover(at)).await {
        Ok(Ok(())) => clock.now() < send_by,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "committing the send horizon failed");
            false
        }
        Err(_) => false,
    }
}

fn dispatch_report(
    claimed: &Claimed,
    at: Timestamp,
    bridge_status: Option<u16>,
    result: DispatchResult,
) -> DispatchReport {
    DispatchReport {
        callback_id: claimed.callback.id.clone(),
        attempt: claimed.callback.attempt,
        claim: claimed.claim,
        at,
        bridge_status,
        result,
        provider_call_id: None,
    }
}

fn failure(at: Timestamp, claimed: &Claimed, reason: String) -> DispatchResult {
    let plan = plan_bridge_failure(
        at,
        claimed.callback.expires_at,
        claimed.bridge_requests,
        rand::random::<f64>(),
    );
    DispatchResult::Failed {
        error: reason,
        plan,
    }
}
