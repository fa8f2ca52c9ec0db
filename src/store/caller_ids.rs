//! The part of the store interface that serves the caller IDs an account owns.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, Actor, PhoneNumber, caller_id::CallerId};

#[async_trait::async_trait]
pub trait CallerIdStore: Send + Sync + 'static {
    /// Registers a number; false (nothing written) if the account has it already.
    async fn insert_caller_id(
        &self,
        caller_id: &CallerId,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// The account's numbers (those of `pool` only, if given), in registration order, each
    /// with the calls it was shown on since the start of `now`'s day (UTC).
    async fn list_caller_ids(
        &self,
        account: &AccountId,
        pool: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<(CallerId, u32)>, StoreError>;
    async fn get_caller_id(
        &self,
        account: &AccountId,
        number: &PhoneNumber,
    ) -> Result<Option<CallerId>, StoreError>;
    /// Saves a number's pool, region, area code and cap; false if it is not registered.
    async fn update_caller_id(
        &self,
        caller_id: &CallerId,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// Forgets a number (calls that showed it keep it); false if it was not registered.
    async fn delete_caller_id(
        &self,
        account: &AccountId,
        number: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// Whether the account owns `number`: `None` when it has registered no number at all
    /// (then any caller ID may be shown).
    async fn owns_caller_id(
        &self,
        account: &AccountId,
        number: &PhoneNumber,
    ) -> Result<Option<bool>, StoreError>;
    /// How many numbers the account's `pool` has.
    async fn pool_size(&self, account: &AccountId, pool: &str) -> Result<u64, StoreError>;
}
