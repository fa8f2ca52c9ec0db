//! The part of the store interface that serves playbooks.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Actor,
    playbook::{Playbook, PlaybookId},
};

#[async_trait::async_trait]
pub trait PlaybookStore: Send + Sync + 'static {
    async fn insert_playbook(&self, playbook: &Playbook, actor: &Actor) -> Result<(), StoreError>;
    async fn list_playbooks(&self, account: &AccountId) -> Result<Vec<Playbook>, StoreError>;
    async fn get_playbook(
        &self,
        account: &AccountId,
        id: &PlaybookId,
    ) -> Result<Option<Playbook>, StoreError>;
    /// Saves a playbook's name and message; false if it does not exist (or was deleted).
    async fn update_playbook(&self, playbook: &Playbook, actor: &Actor)
    -> Result<bool, StoreError>;
    async fn delete_playbook(
        &self,
        account: &AccountId,
        id: &PlaybookId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
}
