//! The SQL of what a queue's past calls say: how long its answered calls were handled.

use jiff::Timestamp;

use super::{ASSIGNEE_ROWS, SqlStore, ms};
use crate::domain::{AccountId, ids::QueueId};
use crate::store::{StoreError, queue_stats::QueueStatsStore};

/// The most handle times one read returns (the newest).
const MAX_HANDLE_TIMES: i64 = 1_000;

#[async_trait::async_trait]
impl QueueStatsStore for SqlStore {
    async fn queue_handle_times(
        &self,
        account: &AccountId,
        queue_id: &QueueId,
        since: Timestamp,
    ) -> Result<Vec<u32>, StoreError> {
        let rows: Vec<(Option<i64>,)> = sqlx::query_as(&format!(
            "SELECT COALESCE(k.ended_at - k.answered_at, 1000 * k.duration_seconds) \
             FROM calls k JOIN callbacks ON callbacks.id = k.callback_id \
             WHERE k.account_id = $1 AND callbacks.account_id = $1 \
             AND k.outcome = 'answered' AND k.ended_at >= $3 \
             AND callbacks.assign_type = 'queue' \
             AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = $2) \
             ORDER BY k.ended_at DESC LIMIT $4"
        ))
        .bind(account.as_str())
        .bind(queue_id.as_str())
        .bind(ms(since))
        .bind(MAX_HANDLE_TIMES)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(handled,)| handled)
            .filter(|ms| *ms >= 0)
            .map(|ms| u32::try_from((ms + 500) / 1000).unwrap_or(u32::MAX))
            .collect())
    }
}
