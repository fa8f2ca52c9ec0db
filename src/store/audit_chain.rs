//! The part of the store interface that keeps the audit trail tamper-evident
//! ([`crate::domain::audit_chain`]): sealing new entries into their account's hash chain,
//! reading a chain back for `ringback audit verify`, the entries about one number for the
//! evidence export, and the audit retention that moves a chain's anchor.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, Actor, audit_chain::Sealed};

/// One account's chain as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    pub account_id: AccountId,
    /// The last sealed entry's index and hash (0 and the anchor's hash when none).
    pub head_index: i64,
    pub head_hash: String,
    /// Where retention left the chain's start: the last deleted entry's index and hash (0 and
    /// the genesis hash when nothing was deleted).
    pub anchor_index: i64,
    pub anchor_hash: String,
}

/// An audit entry as the evidence export shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainedEntry {
    pub seq: i64,
    pub occurred_at: Timestamp,
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The content as stored (`{"redacted":true}` after an erasure).
    pub changes: serde_json::Value,
    pub redacted: bool,
    pub content_digest: Option<String>,
    /// The chain link, once sealed: index, the previous entry's hash, its own.
    pub link: Option<(i64, String, String)>,
}

/// What the audit trail holds about one number.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectEntries {
    /// The number's salted hash in the account.
    pub subject_hash: String,
    pub entries: Vec<ChainedEntry>,
}

#[async_trait::async_trait]
pub trait AuditChainStore: Send + Sync + 'static {
    /// Seals up to `limit` unsealed entries, in the order they were written, into their
    /// accounts' chains (one write transaction). Answers how many were sealed.
    async fn seal_audit(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError>;

    /// The chain of every account that has one, by account (the operator's `audit verify`).
    async fn audit_chains(&self) -> Result<Vec<ChainState>, StoreError>;

    /// The account's chain, if it has one.
    async fn audit_chain(&self, account: &AccountId) -> Result<Option<ChainState>, StoreError>;

    /// Up to `limit` sealed entries of the account's chain after index `after`, in index order,
    /// each with its content (none when redacted).
    async fn sealed_entries(
        &self,
        account: &AccountId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Sealed>, StoreError>;

    /// Entries of the account not sealed yet (written in the last moments).
    async fn unsealed_entries(&self, account: &AccountId) -> Result<u64, StoreError>;

    /// Every entry of the account about the number `phone` (E.164), by its salted hash,
    /// oldest first; the read is itself audited first
    /// (`compliance.evidence_exported`, under the same hash, by `actor`).
    async fn subject_entries(
        &self,
        account: &AccountId,
        phone: &str,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<SubjectEntries, StoreError>;

    /// Every account that keeps audit entries for a limited time, with that time in days.
    async fn audit_retentions(&self) -> Result<Vec<(AccountId, u32)>, StoreError>;

    /// Deletes up to `limit` of the account's oldest sealed entries written before `before`,
    /// from the start of its chain, moving the chain's anchor to the last one deleted in the
    /// same transaction (the chain still verifies from there). Answers how many went.
    async fn purge_audit(
        &self,
        account: &AccountId,
        before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError>;
}
