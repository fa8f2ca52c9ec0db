//! The send horizon: how a scheduler lets the others know which of its requests may have gone
//! out, without a write per request.
//!
//! A claim commits the attempt row before the bridge hears of the call, but the request is
//! counted only once it was sent. Should the scheduler die holding claims, whoever takes them
//! over must tell a request that may have reached the bridge (counted, and the next one a
//! resend) from one that surely did not (claimed ahead of its time, never sent). The scheduler
//! therefore commits a horizon, an instant, and sends no request whose time is after the
//! horizon it has committed. A taken-over claim whose time is within its owner's horizon may
//! have been sent; one after it was not.
//!
//! The horizon is kept ahead of the clock while claims wait, so a request rarely waits for it:
//! by [`MIN_LEAD`] on a quiet store, by three times as long as its writes take when the store is
//! busy (a write waits behind the claims on SQLite's single writer). What a crash leaves in
//! doubt is the requests within that lead.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use jiff::Timestamp;
use tokio::sync::{Mutex, Notify};

use crate::{
    clock::SharedClock,
    store::{Store, StoreError},
    telemetry::names,
};

/// How far ahead of the clock a committed horizon reaches at least.
const MIN_LEAD: Duration = Duration::from_millis(300);

/// How often the horizon is moved on while claims wait to be sent.
const STEP: Duration = Duration::from_millis(100);

pub(super) struct SendHorizon {
    store: Arc<dyn Store>,
    clock: SharedClock,
    owner: String,
    /// The committed horizon, in milliseconds since the epoch.
    committed: AtomicI64,
    /// How far ahead of the clock the next write reaches, in milliseconds.
    lead: AtomicI64,
    /// One write at a time; a request that waits for it finds it covered by the write before.
    writing: Mutex<()>,
    /// Raised when claims are taken: the keeper moves the horizon on while they wait.
    claims: Notify,
}

impl SendHorizon {
    pub(super) fn new(store: Arc<dyn Store>, clock: SharedClock, owner: String) -> Self {
        Self {
            store,
            clock,
            owner,
            committed: AtomicI64::new(i64::MIN),
            lead: AtomicI64::new(MIN_LEAD.as_millis() as i64),
            writing: Mutex::new(()),
            claims: Notify::new(),
        }
    }

    /// Returns once a request whose time is `at` may be sent: the committed horizon reaches it.
    pub(super) async fn cover(&self, at: Timestamp) -> Result<(), StoreError> {
        let at_ms = at.as_millisecond();
        if self.committed.load(Ordering::Acquire) >= at_ms {
            return Ok(());
        }
        let _writing = self.writing.lock().await;
        if self.committed.load(Ordering::Acquire) >= at_ms {
            return Ok(());
        }
        let from = self.clock.now().max(at);
        self.extend(from).await
    }

    /// Claims were taken: the keeper wakes to move the horizon on ahead of their times.
    pub(super) fn claimed(&self) {
        self.claims.notify_one();
    }

    async fn extend(&self, from: Timestamp) -> Result<(), StoreError> {
        let lead = self.lead.load(Ordering::Relaxed);
        let until = from
            .checked_add(jiff::SignedDuration::from_millis(lead))
            .unwrap_or(Timestamp::MAX);
        let started = std::time::Instant::now();
        self.store.extend_send_horizon(&self.owner, until).await?;
        self.committed
            .fetch_max(until.as_millisecond(), Ordering::AcqRel);
        // The lead follows how long writes take (three of them, and a step), easing back
        // by a tenth a write when the store is quiet again.
        let took = started.elapsed().as_millis() as i64;
        let wanted = (3 * took + STEP.as_millis() as i64).max(MIN_LEAD.as_millis() as i64);
        let lead = wanted.max(lead - lead / 10);
        self.lead.store(lead, Ordering::Relaxed);
        metrics::gauge!(names::SEND_HORIZON_LEAD).set(lead as f64 / 1000.0);
        Ok(())
    }

    /// Moves the horizon on every [`STEP`] while `waiting()` says claims wait to be sent, and
    /// sleeps until [`claimed`](Self::claimed) otherwise. Requests never depend on it (they
    /// [`cover`](Self::cover) themselves); it keeps them from waiting for a write.
    pub(super) async fn keep(&self, waiting: impl Fn() -> bool) {
        loop {
            if !waiting() {
                self.claims.notified().await;
            }
            {
                let _writing = self.writing.lock().await;
                if let Err(e) = self.extend(self.clock.now()).await {
                    tracing::warn!(error = %e, "moving the send horizon on failed");
                }
            }
            tokio::time::sleep(STEP).await;
        }
    }
}
