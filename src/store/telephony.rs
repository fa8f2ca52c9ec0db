//! The part of the store interface that serves calls placed through a provider's API
//! (`twilio_compatible` trunks): the provider's callbacks, found by trunk and provider call id,
//! and trunks whose provider refused their credentials (`failing`).

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, CallbackId, ids::TrunkId};

/// A call the provider knows by its id, as its status callbacks need it.
#[derive(Debug, Clone)]
pub struct ProviderCall {
    pub account_id: AccountId,
    pub callback_id: CallbackId,
    pub attempt: u32,
    /// The dispatch's acceptance is stored (an outcome may be recorded).
    pub accepted: bool,
    /// The call has its outcome.
    pub ended: bool,
    /// What answering-machine detection reported earlier (`human`, `machine`, `unknown`).
    pub answered_by: Option<String>,
}

/// A provider's call whose end was never reported, though it must have ended by now.
#[derive(Debug, Clone)]
pub struct UnfinishedCall {
    pub trunk_id: TrunkId,
    pub provider_call_id: String,
    pub call: ProviderCall,
}

#[async_trait::async_trait]
pub trait TelephonyStore: Send + Sync + 'static {
    /// The call `provider_call_id` placed on the account's trunk `trunk`.
    async fn provider_call(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
        provider_call_id: &str,
    ) -> Result<Option<ProviderCall>, StoreError>;

    /// Records what a provider reported about a call still under way: its leg state, who
    /// answered, and `details` merged into `calls.provider_details`. False if there is no such
    /// call.
    async fn update_provider_call(
        &self,
        account: &AccountId,
        callback: &CallbackId,
        attempt: u32,
        leg_state: Option<&str>,
        answered_by: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<bool, StoreError>;

    /// Provider calls accepted, without an outcome, and past the latest instant they could
    /// still be live: their acceptance, plus their ring timeout (else `default_ring`) and five
    /// seconds, plus their `max_duration_seconds`, plus `grace`. At most `limit`, oldest first.
    async fn unfinished_provider_calls(
        &self,
        default_ring: std::time::Duration,
        grace: std::time::Duration,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<UnfinishedCall>, StoreError>;

    /// Marks the trunk `failing` with the provider's `reason`, with a `trunk.failing` event,
    /// unless it already is; true if it was not failing before.
    async fn mark_trunk_failing(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Clears the trunk's `failing` state (a call went through); true if it was failing.
    async fn clear_trunk_failing(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
    ) -> Result<bool, StoreError>;
}
