//! The part of the store interface that only the compatible dialects need.

use jiff::Timestamp;

use super::{ChangeError, ListFilter, StoreError};
use crate::domain::{
    AccountId, Actor, Callback, CallbackId,
    ids::{CampaignId, ContactId},
};

/// One numbered page of callbacks and how many match in all.
#[derive(Debug, Clone)]
pub struct CallbackPage {
    pub callbacks: Vec<Callback>,
    pub total: u64,
}

/// Reopening an ended callback at a new time (the Kore.ai-style dialect's `callContactAt`).
#[derive(Debug, Clone)]
pub struct Reopen {
    pub at: Timestamp,
    /// The callback's metadata after the change (the dialect adds its own key).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Why, for the event (the dialect's name).
    pub reason: &'static str,
}

#[async_trait::async_trait]
pub trait DialectStore: Send + Sync + 'static {
    /// Callbacks matching `filter` (its `before` and `limit` are ignored), newest first,
    /// skipping `offset` and returning at most `limit`, with the number that match in all.
    /// Vendor APIs page by number (`page`, `per_page`) and show a total, where the native API
    /// pages by cursor.
    async fn page_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
        offset: u64,
        limit: u32,
    ) -> Result<CallbackPage, StoreError>;

    /// The first call of `campaign` made for `contact`, if any.
    async fn campaign_call_for_contact(
        &self,
        account: &AccountId,
        campaign: &CampaignId,
        contact: &ContactId,
    ) -> Result<Option<Callback>, StoreError>;

    /// Puts an ended callback (`completed`, `failed`, `expired`, or `canceled` other than for
    /// do-not-call) back to `scheduled` at `reopen.at`: the same callback, its attempts and
    /// history kept, its outcome cleared. Writes `callback.rescheduled` (with `reopen.reason`)
    /// and the audit entry in the same transaction. `InvalidState` for any other status.
    async fn reopen_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        reopen: &Reopen,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError>;
}
