//! The part of the store interface that the recording retention sweep
//! ([`crate::retention`]) uses: which recordings have outlived their account's
//! `recording_retention_days`, and forgetting them once their files are gone.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, CallbackId};

/// A call's recording, as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecording {
    pub account_id: AccountId,
    pub callback_id: CallbackId,
    /// The attempt's number.
    pub attempt: u32,
    /// The file, relative to the recordings directory (`<account>/<call id>.wav`).
    pub file: String,
}

#[async_trait::async_trait]
pub trait RecordingStore: Send + Sync + 'static {
    /// Every account that keeps recordings for a limited time, with that time in days: its
    /// `recording_retention_days`, or its `retention_days` when that is shorter (a callback's
    /// recordings go before the callback).
    async fn recording_retentions(&self) -> Result<Vec<(AccountId, u32)>, StoreError>;

    /// Every account that keeps ended callbacks for a limited time (`retention_days`).
    async fn callback_retentions(&self) -> Result<Vec<(AccountId, u32)>, StoreError>;

    /// Deletes up to `limit` of the account's callbacks that ended (a final status) before
    /// `ended_before` and whose calls name no recording any more (the sweep deletes those
    /// first), with everything kept about them: calls, events and their webhook deliveries,
    /// agents' feed entries, declined offers, line and assignee rows, messages to the
    /// customer. One transaction per batch; answers how many callbacks went.
    async fn purge_ended_callbacks(
        &self,
        account: &AccountId,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// Up to `limit` of the account's recorded calls that ended (or, without an end, started)
    /// before `ended_before`, oldest first.
    async fn expired_recordings(
        &self,
        account: &AccountId,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<StoredRecording>, StoreError>;

    /// Forgets these recordings (their files were deleted): each call's `recording` becomes
    /// null if it still names that file. Returns how many calls changed.
    async fn forget_recordings(
        &self,
        account: &AccountId,
        recordings: &[StoredRecording],
    ) -> Result<u64, StoreError>;
}
