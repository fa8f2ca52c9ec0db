//! The part of the store interface that serves the do-not-call list.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, Actor, CallbackId, PhoneNumber};

/// A number the account must not call.
#[derive(Debug, Clone)]
pub struct DncEntry {
    pub account_id: AccountId,
    pub phone: PhoneNumber,
    /// Where the opt-out came from (an IVR, an agent, a CRM ...).
    pub source: Option<String>,
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

/// What adding one number did.
#[derive(Debug, Clone)]
pub struct DncAdded {
    /// The entry as stored: the first one, if the number was already on the list.
    pub entry: DncEntry,
    pub created: bool,
    /// The account's `scheduled` callbacks to that number, now `canceled`.
    pub canceled: Vec<CallbackId>,
}

#[async_trait::async_trait]
pub trait DncStore: Send + Sync + 'static {
    /// Puts numbers on their account's list (a number already there keeps its entry) and, in
    /// the same transaction, cancels every `scheduled` callback of that account to them, each
    /// with its `callback.canceled` event (`"reason": "dnc"`) and audit entry.
    async fn add_to_dnc(
        &self,
        entries: &[DncEntry],
        actor: &Actor,
    ) -> Result<Vec<DncAdded>, StoreError>;
    /// The list in number order; `after` is the previous page's last number.
    async fn list_dnc(
        &self,
        account: &AccountId,
        phone: Option<&PhoneNumber>,
        after: Option<&PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<DncEntry>, StoreError>;
    async fn get_dnc(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> Result<Option<DncEntry>, StoreError>;
    /// Takes a number off the list; false if it was not on it.
    async fn remove_from_dnc(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// Must this number not be called? (For the dispatcher and campaign planning.)
    async fn is_on_dnc(&self, account: &AccountId, phone: &PhoneNumber)
    -> Result<bool, StoreError>;
}
