//! The part of the store interface that reads what a queue's wait estimate needs: what waits
//! in its line, who of its members can take it, and how long its recent calls took.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, agent::Agent, ids::QueueId, queue_wait::Waiting};

#[async_trait::async_trait]
pub trait QueueStatsStore: Send + Sync + 'static {
    /// The callbacks waiting in the queue's line for an agent: those in the line, and those
    /// assigned to the queue that fell due by `now` and are about to join it (preview and
    /// progressive, held by no agent). Each with its priority and line instant.
    async fn queue_waiting(
        &self,
        account: &AccountId,
        queue: &QueueId,
        now: Timestamp,
    ) -> Result<Vec<Waiting>, StoreError>;
    /// The queue's members (not deleted), each with what it holds now: offers, reservations
    /// and calls, as the routing pass counts them against its concurrency.
    async fn queue_staff(
        &self,
        account: &AccountId,
        queue: &QueueId,
    ) -> Result<Vec<(Agent, u32)>, StoreError>;
    /// How long the queue's answered calls that ended at or after `since` were handled, in
    /// seconds, latest first, at most `limit`: `ended_at - answered_at` where the call's
    /// answer was recorded, else the duration its outcome reported, else `ended_at -
    /// started_at` (from the offer's acceptance or the call's start to its outcome). A call is
    /// the queue's when its callback is assigned to the queue. Read by the wait estimate and
    /// by the capacity of bookable slots.
    async fn queue_handle_times(
        &self,
        account: &AccountId,
        queue: &QueueId,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<u32>, StoreError>;
}
