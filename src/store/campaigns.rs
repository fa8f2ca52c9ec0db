//! The part of the store interface that serves campaigns and the account's dialling policy.

use jiff::Timestamp;

use super::{ChangeError, StoreError};
use crate::domain::{
    AccountId, Actor, Callback, CallbackId,
    campaign::{AccountSettings, Campaign, CampaignStatus},
    contact::Contact,
    dialing::{CampaignFacts, History},
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

/// What the store knows that the dial decision needs, beyond the callbacks themselves.
#[derive(Debug, Clone, Default)]
pub struct DialFacts {
    /// The account's dialling policy.
    pub settings: AccountSettings,
    /// One per callback asked about, in order.
    pub calls: Vec<CallFacts>,
    /// The account's contacts for the callbacks' numbers (their zone and state say where
    /// the callee is).
    pub contacts: Vec<Contact>,
}

/// What the store knows about one call.
#[derive(Debug, Clone, Default)]
pub struct CallFacts {
    pub on_dnc: bool,
    /// What the customer consented to (or withdrew) for the number.
    pub consent: crate::domain::consent::ConsentState,
    /// Attempts to the number (or the same debt) in the cap's period before now, and the last
    /// answered call; read only where the account caps attempts or keeps quiet periods.
    pub history: History,
    pub campaign: Option<CampaignFacts>,
    /// Agents of the account who could take a call now: counted for preview callbacks only.
    pub free_agents: Option<u32>,
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

    /// What the dial decision needs to know about `callbacks` at `now`, beyond the callbacks
    /// themselves (which need not be stored yet: a create judges its callbacks before storing
    /// them).
    async fn dial_facts(
        &self,
        account: &AccountId,
        callbacks: &[&Callback],
        now: Timestamp,
    ) -> Result<DialFacts, StoreError>;
}
