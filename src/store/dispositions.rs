//! The part of the store interface that serves dispositions (wrap-up codes).

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, Actor, disposition::Disposition};

#[async_trait::async_trait]
pub trait DispositionStore: Send + Sync + 'static {
    /// Stores a new disposition, or brings a deleted one of the same code back with these
    /// fields; false (nothing written) if a live one has the code.
    async fn insert_disposition(
        &self,
        disposition: &Disposition,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// The account's live dispositions, by code.
    async fn list_dispositions(&self, account: &AccountId) -> Result<Vec<Disposition>, StoreError>;
    /// A live disposition by its code.
    async fn get_disposition(
        &self,
        account: &AccountId,
        code: &str,
    ) -> Result<Option<Disposition>, StoreError>;
    /// Saves a live disposition's label, class and finality; false if there is none.
    async fn update_disposition(
        &self,
        disposition: &Disposition,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// Marks a live disposition deleted (calls keep its code); false if there is none.
    async fn delete_disposition(
        &self,
        account: &AccountId,
        code: &str,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
}
