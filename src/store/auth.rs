//! The part of the store interface that serves authentication and the audit trail.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, Actor, ApiKey, JwtKey, auth::AuditEntry, ids::ApiKeyId};

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub resource_id: Option<String>,
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Entries older than this sequence (newest first paging).
    pub before: Option<i64>,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait AuthStore: Send + Sync + 'static {
    async fn insert_api_key(&self, key: &ApiKey, actor: &Actor) -> Result<(), StoreError>;
    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key (a revoked key stays revoked). Returns it, or `None` if the account has
    /// no such key.
    async fn revoke_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Option<ApiKey>, StoreError>;
    /// Stores `new` and revokes `old` in one transaction. Returns the old key, or `None` if
    /// the account has no such active key.
    async fn rotate_api_key(
        &self,
        account: &AccountId,
        old: &ApiKeyId,
        new: &ApiKey,
        actor: &Actor,
    ) -> Result<Option<ApiKey>, StoreError>;

    async fn jwt_key(&self, account: &AccountId) -> Result<Option<JwtKey>, StoreError>;
    async fn set_jwt_key(
        &self,
        account: &AccountId,
        key: Option<&JwtKey>,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    async fn list_audit(
        &self,
        account: &AccountId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
