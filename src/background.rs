//! Pieces shared by the background workers (the scheduler, the webhook worker, the router).

use std::{future::Future, sync::Arc, time::Duration};

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::SharedClock,
    store::{DueSignal, Store, StoreError},
};

/// What one step of a [`run_loop`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It took everything due that it could see: sleep until the next due time.
    CaughtUp,
    /// It took as much as it was allowed: more may be due right now. The loop steps again as
    /// soon as [`Loop::wait_for_slot`] says there is room.
    Saturated,
}

impl Step {
    /// The step whose pass was `saturated` (took all it was allowed), else caught up.
    pub fn from_saturated(saturated: bool) -> Self {
        if saturated {
            Step::Saturated
        } else {
            Step::CaughtUp
        }
    }
}

/// When a [`run_loop`] arms its wake-up signal (see [`DueSignal::arm`]).
///
/// An announcement reaches the loop only while the signal is armed; until then the loop must
/// see the work by reading the store. So the signal is armed before the last read the sleep
/// depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// Before reading the next due time: for loops whose next due time shows whatever a step
    /// left undone (the scheduler, the webhook worker). A write committed during the step is
    /// in that time; one committed after the read wakes the sleep. Arming earlier would only
    /// add wake-ups for work the read already shows.
    BeforeNextWakeup,
    /// Before the step: for a loop woken by changes that no due time shows (the router: an
    /// agent becoming available, an offer rejected), which only the step reads. A change
    /// committed during the step, after it read, then still wakes the sleep that follows.
    BeforeStep,
}

/// How a [`run_loop`] paces its sleeps.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Longest sleep without looking at the store (other processes may write to it).
    pub max_idle: Duration,
    /// Shortest sleep before stepping for a due time, so a steady stream of due work is taken in
    /// batches rather than one transaction each. Zero for none.
    pub min_interval: Duration,
    /// How far ahead of its due time work is taken: the loop wakes this long before the next
    /// due time, and is woken by work announced before its wake-up plus this. Zero for none.
    pub lookahead: Duration,
    /// Sleep after a failed read of the next due time.
    pub after_read_error: Duration,
    pub arm: Arm,
}

/// One background worker, as [`run_loop`] drives it.
pub trait Loop {
    /// What a failed step is logged as.
    const STEP_FAILED: &'static str;
    /// What a failed read of the next due time is logged as.
    const WAKEUP_FAILED: &'static str;

    /// Takes (or starts) the work due now.
    fn step(&self) -> impl Future<Output = Result<Step, StoreError>> + Send;

    /// After a saturated step, returns once another step could take more (a free slot for a
    /// dispatch). By default at once.
    fn wait_for_slot(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The earliest time a step would find work at, if the store knows of any.
    fn next_wakeup(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send;
}

/// Runs `work` until `shutdown` is cancelled: a step; after a saturated one, the next as soon as
/// there is room; otherwise a sleep until the next due time (less the lookahead, at least the
/// minimum interval, at most the idle time) or until `signal` announces earlier work. A failed
/// step is retried after a second. Returns at once when `shutdown` is cancelled during a wait;
/// a step under way is finished first. Draining is the caller's.
pub async fn run_loop<L: Loop>(
    work: &L,
    signal: &DueSignal,
    clock: &SharedClock,
    pacing: Pacing,
    shutdown: &CancellationToken,
) {
    while !shutdown.is_cancelled() {
        if pacing.arm == Arm::BeforeStep {
            signal.arm();
        }
        match work.step().await {
            Ok(Step::Saturated) => {
                tokio::select! {
                    () = work.wait_for_slot() => {}
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            Ok(Step::CaughtUp) => {}
            Err(e) => {
                tracing::error!(error = %e, "{}", L::STEP_FAILED);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
        }
        // Armed before the next due time is read (if not before the step): work written after
        // the read announces itself and wakes the sleep, work written before it is in the read.
        if pacing.arm == Arm::BeforeNextWakeup {
            signal.arm();
        }
        let now = clock.now();
        let next = work.next_wakeup(now).await;
        if let Err(e) = &next {
            tracing::error!(error = %e, "{}", L::WAKEUP_FAILED);
        }
        let until = pacing.wake_at(now, next.ok());
        if until <= now {
            // Work is due already: step again without sleeping.
            continue;
        }
        let covers_until = until.checked_add(pacing.lookahead).unwrap_or(until);
        tokio::select! {
            () = signal.sleep_until(until, covers_until, now) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

impl Pacing {
    /// When to wake, given the next due time read at `now` (`None`: the read failed).
    fn wake_at(&self, now: Timestamp, next: Option<Option<Timestamp>>) -> Timestamp {
        let idle_until = now.checked_add(self.max_idle).unwrap_or(Timestamp::MAX);
        match next {
            Some(Some(next)) => {
                let floor = now.checked_add(self.min_interval).unwrap_or(idle_until);
                next.checked_sub(self.lookahead)
                    .unwrap_or(next)
                    .max(floor)
                    .min(idle_until)
            }
            Some(None) => idle_until,
            None => now.checked_add(self.after_read_error).unwrap_or(idle_until),
        }
    }
}

/// Reads the rest of an outbound request's answer (the dialer bridge's, a webhook receiver's),
/// so its kept-alive connection goes back to the pool instead of being closed. Answers are
/// small; past 64 KiB the rest is dropped with its connection.
pub async fn finish_response(mut resp: reqwest::Response) {
    let mut read = 0;
    while let Ok(Some(chunk)) = resp.chunk().await {
        read += chunk.len();
        if read > 64 * 1024 {
            break;
        }
    }
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_KEY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long agents' feeds are kept for desktops to resume from.
pub const AGENT_FEED_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Housekeeping every hour until shutdown: forgets idempotency keys older than a day and
/// agents' feed entries older than a week, expired sign-in sessions.
pub async fn maintain(store: Arc<dyn Store>, clock: SharedClock, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60 * 60));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let Ok(before) = clock.now().checked_sub(IDEMPOTENCY_KEY_TTL) else {
            continue;
        };
        match store.purge_idempotency_keys(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "forgot idempotency keys older than a day"),
            Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
        }
        match store.purge_sessions(clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "forgot expired sign-in sessions"),
            Err(e) => tracing::warn!(error = %e, "purging sessions failed"),
        }
        let Ok(before) = clock.now().checked_sub(AGENT_FEED_TTL) else {
            continue;
        };
        match store.purge_agent_events(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "forgot agent feed entries older than a week"),
            Err(e) => tracing::warn!(error = %e, "purging agent feeds failed"),
        }
    }
}

/// Writes what arrives on `rx` in batches of at most `max`, until every sender is gone. A batch
/// the store refuses is retried with backoff (50 ms doubling to 5 s) and kept meanwhile: the
/// results it carries exist nowhere else. If the process dies first, the claims they answer
/// expire and the work is done again under the same idempotency key or event id.
pub async fn write_in_batches<T>(
    mut rx: mpsc::UnboundedReceiver<T>,
    max: usize,
    what: &'static str,
    mut write: impl AsyncFnMut(&[T]) -> Result<(), StoreError>,
) {
    let mut batch = Vec::with_capacity(max);
    while rx.recv_many(&mut batch, max).await > 0 {
        let mut delay = Duration::from_millis(50);
        while let Err(e) = write(&batch).await {
            tracing::error!(error = %e, count = batch.len(), what, "recording results failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        batch.clear();
    }
}

/// Values read from the store and kept for a while, so a hot path (each dispatch) does not read
/// them once per use while a change to them still takes effect soon.
pub struct Recent<K, V> {
    ttl: Duration,
    entries: std::sync::Mutex<std::collections::HashMap<K, (V, std::time::Instant)>>,
}

impl<K: Eq + std::hash::Hash, V: Clone> Recent<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: std::sync::Mutex::default(),
        }
    }

    /// The value kept for `key`, if it was read less than the time to live ago.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value`, just read, for `key`.
    pub fn keep(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key, (value, std::time::Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const SCHEDULER: Pacing = Pacing {
        max_idle: Duration::from_secs(2),
        min_interval: Duration::from_millis(50),
        lookahead: Duration::from_secs(1),
        after_read_error: Duration::from_secs(1),
        arm: Arm::BeforeNextWakeup,
    };

    #[test]
    fn wakes_ahead_of_the_next_due_time_within_the_floor_and_the_idle_time() {
        let now = at("2026-12-05T00:00:00Z");
        let wake = |next: &str| SCHEDULER.wake_at(now, Some(Some(at(next))));
        assert_eq!(
            wake("2026-12-05T00:00:01.500Z"),
            at("2026-12-05T00:00:00.500Z")
        );
        assert_eq!(
            wake("2026-12-05T00:00:00.200Z"),
            at("2026-12-05T00:00:00.050Z")
        );
        assert_eq!(wake("2026-12-05T00:01:00Z"), at("2026-12-05T00:00:02Z"));
        assert_eq!(
            SCHEDULER.wake_at(now, Some(None)),
            at("2026-12-05T00:00:02Z")
        );
        assert_eq!(SCHEDULER.wake_at(now, None), at("2026-12-05T00:00:01Z"));
    }

    #[test]
    fn without_floor_a_passed_due_time_means_now() {
        let pacing = Pacing {
            min_interval: Duration::ZERO,
            lookahead: Duration::ZERO,
            ..SCHEDULER
        };
        let now = at("2026-12-05T00:00:00Z");
        assert_eq!(
            pacing.wake_at(now, Some(Some(at("2026-12-04T23:59:00Z")))),
            now
        );
    }
}
