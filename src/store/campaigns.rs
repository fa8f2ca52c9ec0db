//! The part of the store interface that serves campaigns and the account's dialling policy.

use jiff::Timestamp;

use super::{ChangeError, StoreError};
use crate::domain::{
    AccountId, Actor, Callback, CallbackId, PhoneNumber,
    campaign::{AccountSettings, Campaign, CampaignStatus},
    ids::CampaignId,
};

/// Where a campaign's contacts stand.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct CampaignTotals {
    pub contacts: u64,
    /// Not called yet, or waiting for a recall.
    pub pending: u64,
    /// Waiting for a recall after an unanswered call.
    pub pending_recalls: u64,
    /// Being placed or in progress.
    pub in_progress: u64,
    pub answered: u64,
    /// Every attempt used without an answer.
    pub not_answered: u64,
    pub skipped_dnc: u64,
    pub canceled: u64,
    pub expired: u64,
    /// Calls placed so far, attempts included.
    pub attempts: u64,
}

/// What the store knows that may stop a callback from being dialled now.
#[derive(Debug, Clone, Default)]
pub struct DialFacts {
    pub on_dnc: bool,
    /// Attempts to the number within the account's cap window, and the oldest of them.
    pub attempts_in_window: u32,
    pub oldest_in_window: Option<Timestamp>,
    /// The last answered call to the number (or about the debt).
    pub last_answered: Option<Timestamp>,
    pub campaign_status: Option<CampaignStatus>,
    /// Agents who could take it now (preview callbacks).
    pub free_agents: u32,
}

#[async_trait::async_trait]
pub trait CampaignStore: Send + Sync + 'static {
    /// The account's dialling policy (defaults when never set).
    async fn account_settings(&self, account: &AccountId) -> Result<AccountSettings, StoreError>;
    async fn put_account_settings(
        &self,
        account: &AccountId,
        settings: &AccountSettings,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Stores a campaign and one callback per contact, in one transaction.
    async fn insert_campaign(
        &self,
        campaign: &Campaign,
        calls: &[Callback],
        actor: &Actor,
    ) -> Result<(), StoreError>;
    async fn get_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
    ) -> Result<Option<(Campaign, CampaignTotals)>, StoreError>;
    async fn list_campaigns(
        &self,
        account: &AccountId,
        before: Option<&CampaignId>,
        limit: u32,
    ) -> Result<Vec<Campaign>, StoreError>;
    /// Pauses, resumes or cancels (its calls not yet being placed are canceled).
    async fn set_campaign_status(
        &self,
        account: &AccountId,
        id: &CampaignId,
        status: CampaignStatus,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Campaign, ChangeError>;
    /// The campaign's calls, one per contact, in contact order.
    async fn campaign_calls(
        &self,
        account: &AccountId,
        id: &CampaignId,
        after: Option<&CallbackId>,
        limit: u32,
    ) -> Result<Vec<Callback>, StoreError>;

    /// The facts `GET /v1/callbacks/{id}/eligibility` explains.
    async fn dial_facts(
        &self,
        account: &AccountId,
        callback: &Callback,
        cap_since: Timestamp,
        phone: &PhoneNumber,
    ) -> Result<DialFacts, StoreError>;
}
