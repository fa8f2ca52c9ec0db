//! The part of the store interface that answers for a data subject (a phone number and the
//! person behind it): everything held about the number, and its erasure.

use jiff::Timestamp;

use super::{ChainedEntry, StoreError, dnc::DncEntry};
use crate::domain::{
    AccountId, Actor, Attempt, Callback, CallbackEvent, PhoneNumber, consent::Consent,
    contact::Contact, erasure::ErasureCounts,
};

/// A customer message still in the outbox (sent ones are in their callback's history).
#[derive(Debug, Clone)]
pub struct PendingMessage {
    pub id: String,
    pub callback_id: String,
    /// `confirmation`, `reminder` ...
    pub kind: String,
    /// `sms` or `email`.
    pub channel: String,
    pub due_at: Timestamp,
}

/// A recording of a call to the number: the attempt and its file under the recordings
/// directory.
#[derive(Debug, Clone)]
pub struct SubjectRecording {
    pub callback_id: String,
    pub attempt: u32,
    pub file: String,
}

/// Everything one account holds about one number, read in one snapshot.
#[derive(Debug, Clone, Default)]
pub struct SubjectData {
    pub contacts: Vec<Contact>,
    /// Each callback to the number with its attempts and its history.
    pub callbacks: Vec<(Callback, Vec<Attempt>, Vec<CallbackEvent>)>,
    pub consents: Vec<Consent>,
    pub dnc: Option<DncEntry>,
    pub messages: Vec<PendingMessage>,
    pub recordings: Vec<SubjectRecording>,
    /// Audit entries about the number (by its subject hash) or about its callbacks and
    /// contacts, oldest first.
    pub audit: Vec<ChainedEntry>,
}

/// What an erasure did: its counts, and the recording files the rows no longer name (to be
/// deleted by the caller, under the recordings directory).
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    pub counts: ErasureCounts,
    pub recordings: Vec<String>,
}

#[async_trait::async_trait]
pub trait SubjectStore: Send + Sync + 'static {
    /// Everything the account holds about `phone`, audited (`data_subject.exported`, keyed by
    /// the number's subject hash, with no number in its content).
    async fn subject_data(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<SubjectData, StoreError>;

    /// Erases `phone` from the account in one write transaction: its callbacks still to be
    /// called are canceled; its contacts deleted; its callbacks, their attempts, events, feed
    /// entries and remembered answers masked; its unsent webhook deliveries and messages
    /// deleted; its do-not-call entry and consents keyed by the number's hash; the audit
    /// entries that hold the person's data redacted. Audited (`data_subject.erased`, keyed by
    /// the subject hash, content: the counts). Another account's rows are never touched.
    async fn erase_subject(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Erasure, StoreError>;

    /// How many erasures the account has committed. An export reads it before its first read
    /// and again after each, and stops when it changed: no row read before an erasure is sent
    /// after it.
    async fn erasures(&self, account: &AccountId) -> Result<u64, StoreError>;
}
