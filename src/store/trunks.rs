//! The part of the store interface that serves trunks.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Actor,
    ids::TrunkId,
    trunk::{Trunk, TrunkKind},
};

/// Why a trunk was not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrunkDeletion {
    Deleted,
    NotFound,
    /// The account's default trunk, or named by a callback not yet ended or a campaign not yet
    /// finished: `what` says which.
    InUse {
        what: &'static str,
    },
}

#[async_trait::async_trait]
pub trait TrunkStore: Send + Sync + 'static {
    async fn insert_trunk(&self, trunk: &Trunk, actor: &Actor) -> Result<(), StoreError>;
    async fn list_trunks(&self, account: &AccountId) -> Result<Vec<Trunk>, StoreError>;
    async fn get_trunk(
        &self,
        account: &AccountId,
        id: &TrunkId,
    ) -> Result<Option<Trunk>, StoreError>;
    /// Saves a trunk's name, settings and limits; false if it does not exist (or was deleted).
    async fn update_trunk(&self, trunk: &Trunk, actor: &Actor) -> Result<bool, StoreError>;
    async fn delete_trunk(
        &self,
        account: &AccountId,
        id: &TrunkId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<TrunkDeletion, StoreError>;
    /// Whether any account has a trunk of `kind` (across accounts: what the server must run).
    async fn any_trunk_of_kind(&self, kind: TrunkKind) -> Result<bool, StoreError>;
}
