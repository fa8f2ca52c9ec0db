//! Pieces shared by the background workers (the scheduler and the webhook worker).

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::SharedClock,
    store::{Store, StoreError},
};

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
