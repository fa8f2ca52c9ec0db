//! The part of the store interface that keeps customers' consent.

use super::StoreError;
use crate::domain::{AccountId, Actor, CallbackId, PhoneNumber, consent::Consent};

#[async_trait::async_trait]
pub trait ConsentStore: Send + Sync + 'static {
    /// Stores the customer's word on some scopes for one number (each replacing what was
    /// known of its scope), audited, and in the same transaction cancels the account's
    /// callbacks to the number that nobody has started calling and whose calls need a scope
    /// now revoked (`callback.canceled`, `"reason": "consent_revoked"`). Answers the
    /// callbacks canceled. `consents` are all of one account and number.
    async fn record_consents(
        &self,
        consents: &[Consent],
        actor: &Actor,
    ) -> Result<Vec<CallbackId>, StoreError>;
    /// What is known of the number's consent, scope by scope.
    async fn consents_of(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> Result<Vec<Consent>, StoreError>;
}
