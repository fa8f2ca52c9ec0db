//! The part of the store interface that reads what a queue's past calls say of its future.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, ids::QueueId};

#[async_trait::async_trait]
pub trait QueueStatsStore: Send + Sync + 'static {
    /// How long the queue's answered calls that ended at or after `since` were handled, in
    /// seconds, newest first (at most 1,000): `ended_at - answered_at` where the call's answer
    /// was recorded, else the duration its outcome reported. A call is the queue's when its
    /// callback is assigned to the queue.
    async fn queue_handle_times(
        &self,
        account: &AccountId,
        queue_id: &QueueId,
        since: Timestamp,
    ) -> Result<Vec<u32>, StoreError>;
}
