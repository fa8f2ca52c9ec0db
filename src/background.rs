//! Pieces shared by the background workers (the scheduler and the webhook worker).

use std::time::Duration;

use tokio::sync::mpsc;

use crate::store::StoreError;

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
