//! Persistence behind one narrow interface with domain verbs.
//!
//! Architecture invariant: only this module contains SQL. The API and the scheduler see the
//! [`Store`] trait and domain types, never a database row, so a PostgreSQL implementation can
//! sit beside the SQLite one without touching either.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;

use crate::config::DatabaseConfig;
use crate::domain::{
    Account, AccountId, Actor, ApiKey, Assignment, Attempt, Callback, CallbackEvent, CallbackId,
    Origin, Outcome, PhoneNumber, Status, callback::BridgeFailurePlan,
};
use crate::secrets::{Key, file::KeyFile};

pub mod agents;
pub mod audio;
pub mod audit_chain;
pub mod auth;
pub mod caller_ids;
pub mod campaigns;
pub mod consents;
pub mod contacts;
pub mod dialects;
pub mod dispositions;
pub mod dnc;
pub mod manager;
pub mod notifications;
pub mod playbooks;
pub mod postgres;
pub mod provider_calls;
pub mod queue_stats;
pub mod recordings;
pub mod routing;
pub mod signals;
pub mod slots;
pub mod sqlite;
pub mod subjects;
pub mod telephony;
pub mod trunks;
pub mod users;
pub mod webhooks;

pub use agents::AgentStore;
pub use audio::{AudioDeletion, AudioStore};
pub use audit_chain::{AuditChainStore, ChainState, ChainedEntry, SubjectEntries};
pub use auth::{AuditFilter, AuthStore};
pub use caller_ids::CallerIdStore;
pub use campaigns::{CallFacts, CampaignStore, CampaignTotals, DialFacts};
pub use consents::ConsentStore;
pub use contacts::ContactStore;
pub use dialects::DialectStore;
pub use dispositions::DispositionStore;
pub use dnc::DncStore;
pub use manager::{CallbackSearch, ManagerStore, SearchCursor, SearchOrder};
pub use notifications::{
    ClaimedNotification, NotificationOutcome, NotificationReport, NotificationStore,
};
pub use playbooks::PlaybookStore;
pub use queue_stats::QueueStatsStore;
pub use recordings::{RecordingStore, StoredRecording};
pub use routing::{MadeOffer, OfferAnswer, RoutePass, RoutingStore};

pub use provider_calls::{ProviderCallStore, ProviderFinish};
pub(crate) use signals::{Channel, Wake};
pub use signals::{CredentialsSignal, DueSignal, FeedSignals};
pub use slots::{BookingOutcome, SlotBooking, SlotStore};
pub use sqlite::SqliteStore;
pub use subjects::SubjectStore;
pub use telephony::{ProviderCall, TelephonyStore, UnfinishedCall};
pub use trunks::{TrunkDeletion, TrunkStore};
pub use users::UserStore;
pub use webhooks::{ClaimedDelivery, DeliveryOutcome, DeliveryReport, WebhookStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is not valid: {0}")]
    Corrupt(String),
    /// A write shared with other requests (a group commit) failed.
    #[error("write failed: {0}")]
    Write(String),
    /// The cluster's write lock was not free in time (PostgreSQL).
    #[error("the database's write lock was not free in time")]
    Busy,
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// The secret key file is missing, unreadable or not the database's key.
    #[error("secrets: {0}")]
    Secrets(String),
}

impl StoreError {
    /// The database could not be reached or gave up on the statement (no connection in time,
    /// a connection lost or refused, a restart, a statement timeout): the request may be
    /// retried as it is, unlike a bug or a constraint.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Busy
            | StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => true,
            StoreError::Database(sqlx::Error::Database(e)) => e.code().is_some_and(|code| {
                // Class 08: connection exception; 57P01-03: shutdown or starting up;
                // 57014: statement timeout or cancel; 55P03: lock not available; 40P01: chosen
                // to break a deadlock (rolled back, safe to run again).
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "40P01"
                    )
            }),
            _ => false,
        }
    }
}

/// Why a change to one callback could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("callback not found")]
    NotFound,
    #[error("callback is {0:?}")]
    InvalidState(Status),
    #[error("callback was changed concurrently")]
    Conflict,
    /// A campaign cannot go from this state to the one asked for.
    #[error("campaign is {0:?}")]
    CampaignState(crate::domain::campaign::CampaignStatus),
    /// The agent does not hold an offer of this callback (it ran out, or went elsewhere).
    #[error("the offer is not held by this agent (callback is {0:?})")]
    NotHeld(Status),
    /// The dial decision stops the call now (the callback has been moved or ended).
    #[error("the call may not be placed now: {}", .0.reason)]
    Blocked(crate::domain::dialing::Block),
    /// The slot the new time books has no place left (nothing was changed).
    #[error("the slot has no place left")]
    SlotFull,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A response remembered under an `Idempotency-Key`, written in the same transaction as the
/// resource it created.
#[derive(Debug, Clone)]
pub struct IdempotentResponse {
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

#[derive(Debug)]
pub enum InsertOutcome {
    Inserted,
    /// The key was seen before: here is what was answered then (the caller compares hashes).
    Replayed(IdempotentResponse),
    /// An active callback already holds this phone number in this account.
    Duplicate {
        existing_id: CallbackId,
    },
}

/// One item of a batch insert.
pub struct BatchItem {
    pub callback: Callback,
    pub allow_duplicate: bool,
}

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub phone: Option<PhoneNumber>,
    pub status: Option<Status>,
    /// Callbacks in any of these states (empty: any state): how a dialect's status names
    /// several native ones.
    pub states: Vec<StateFilter>,
    pub campaign: Option<crate::domain::ids::CampaignId>,
    pub assignee: Option<String>,
    pub origin: Option<Origin>,
    pub scheduled_from: Option<Timestamp>,
    pub scheduled_to: Option<Timestamp>,
    /// Return callbacks created before this one (newest first).
    pub before: Option<CallbackId>,
    pub limit: u32,
}

/// A callback state a dialect names: one of `statuses` (as a callback reads, see
/// `Status`), narrowed by whether it was dialled yet and by its outcome.
#[derive(Debug, Clone, Default)]
pub struct StateFilter {
    pub statuses: Vec<Status>,
    /// `Some(false)`: never dialled (`attempt` 0); `Some(true)`: dialled at least once.
    pub attempted: Option<bool>,
    /// The outcome is one of these (`Some((true, ..))`) or not one of them, or none
    /// (`Some((false, ..))`).
    pub outcomes: Option<(bool, Vec<crate::domain::Outcome>)>,
}

/// The editable fields of a scheduled callback, already validated.
#[derive(Debug, Default, Clone)]
pub struct CallbackChanges {
    /// A new number to call (the Talkdesk dialect's `/phoneNumber`).
    pub phone: Option<PhoneNumber>,
    pub scheduled_at: Option<Reschedule>,
    pub assignment: Option<Option<Assignment>>,
    pub notes: Option<Option<String>>,
    pub contact_name: Option<Option<String>>,
    pub metadata: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    /// A new priority, or new required skills (none when empty).
    pub priority: Option<u8>,
    pub skills: Option<crate::domain::routing::Skills>,
    /// The slot a new time books (`scheduled_at` is its start): its places are counted again
    /// in the change's transaction, the callback among them. A new time without one leaves
    /// the slot the callback had booked.
    pub slot: Option<slots::SlotBooking>,
}

/// A new time for a callback.
#[derive(Debug, Clone)]
pub struct Reschedule {
    pub at: Timestamp,
    /// The zone the request named, which calls are judged in from now on; `None` keeps the
    /// callback's.
    pub zone: Option<crate::domain::Zone>,
}

impl CallbackChanges {
    pub fn is_empty(&self) -> bool {
        self.phone.is_none()
            && self.scheduled_at.is_none()
            && self.assignment.is_none()
            && self.notes.is_none()
            && self.contact_name.is_none()
            && self.metadata.is_none()
            && self.priority.is_none()
            && self.skills.is_none()
    }
}

/// A callback claimed for dispatch by one scheduler.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub callback: Callback,
    /// The trunk the call goes out on; `None`: the server's `--dialer-url` bridge.
    pub trunk_id: Option<crate::domain::ids::TrunkId>,
    /// The previous request for this attempt may have reached the bridge (crash, lease
    /// takeover); this one carries the same idempotency key.
    pub resend: bool,
    /// This request's number among the attempt's requests (those sent before it, plus one).
    pub bridge_requests: u32,
    /// This claim's number among the attempt's claims; its answer names it.
    pub claim: u32,
}

#[derive(Debug, Default)]
pub struct ClaimBatch {
    pub dispatch: Vec<Claimed>,
    /// Callbacks that were due but past their deadline: now `expired`.
    pub expired: Vec<CallbackId>,
    /// Claims taken over from a scheduler whose lease ran out.
    pub taken_over: usize,
}

/// What the dialer bridge answered to one dispatch.
#[derive(Debug, Clone)]
pub struct DispatchReport {
    pub callback_id: CallbackId,
    pub attempt: u32,
    /// The claim this answers ([`Claimed::claim`]).
    pub claim: u32,
    pub at: Timestamp,
    pub bridge_status: Option<u16>,
    pub result: DispatchResult,
    /// The provider's id of an accepted call (a `twilio_compatible` trunk's `CallSid`),
    /// stored with the acceptance.
    pub provider_call_id: Option<String>,
}

#[derive(Debug, Clone)]
pub enum DispatchResult {
    Accepted,
    Failed {
        error: String,
        plan: BridgeFailurePlan,
    },
    /// Not sent: the scheduler could not send it while its claim was surely its own. The
    /// claim is handed back and the request is not counted.
    NotSent,
}

/// An outcome reported for the current attempt.
#[derive(Debug, Clone)]
pub struct OutcomeReport {
    pub outcome: Outcome,
    pub duration_seconds: Option<u32>,
    pub notes: Option<String>,
    /// The final SIP response of a call placed by the SIP driver, and its reason (or why the
    /// call ended without one).
    pub sip_code: Option<u16>,
    pub sip_reason: Option<String>,
    /// The call's recording, relative to the server's recordings directory.
    pub recording: Option<String>,
    /// What answering-machine detection found: `human`, `machine` or `unknown`.
    pub answered_by: Option<&'static str>,
    /// The disposition the call was completed with (its class is `outcome`); a final one
    /// plans no recall.
    pub disposition: Option<crate::domain::disposition::Disposition>,
}

impl OutcomeReport {
    /// Whether a recall policy may follow this report: not after a final disposition.
    pub fn allows_recall(&self) -> bool {
        self.disposition.as_ref().is_none_or(|d| d.allows_recall())
    }
}

/// The persistence interface. Every method that reads or changes tenant data takes the
/// account, so a query can never cross accounts.
#[async_trait::async_trait]
pub trait Store:
    WebhookStore
    + AuthStore
    + AgentStore
    + RoutingStore
    + CampaignStore
    + ContactStore
    + DialectStore
    + DncStore
    + ConsentStore
    + PlaybookStore
    + TrunkStore
    + ProviderCallStore
    + UserStore
    + ManagerStore
    + AudioStore
    + RecordingStore
    + TelephonyStore
    + DispositionStore
    + CallerIdStore
    + QueueStatsStore
    + NotificationStore
    + SlotStore
    + AuditChainStore
    + SubjectStore
    + Send
    + Sync
    + 'static
{
    /// The signal raised when a new or earlier due time is written.
    fn due_signal(&self) -> Arc<DueSignal>;

    /// The signal raised when events are appended to the log (webhooks to fan out).
    fn event_signal(&self) -> Arc<DueSignal>;

    /// The signal raised when credentials change, here or elsewhere (see [`CredentialsSignal`]).
    fn credentials_signal(&self) -> Arc<CredentialsSignal>;

    /// Is the database reachable?
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_account(&self, account: &Account, key: &ApiKey) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;

    async fn find_idempotent_response(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError>;

    /// Stores a new callback (refusing a second active one for the same phone unless
    /// `allow_duplicate`), its `callback.created` event and, if given, the idempotent response,
    /// all in one transaction.
    async fn insert_callback(
        &self,
        callback: &Callback,
        allow_duplicate: bool,
        idempotency: Option<&IdempotentResponse>,
        actor: &Actor,
    ) -> Result<InsertOutcome, StoreError>;

    /// Stores the insertable items of a batch in one transaction. The answer has one entry per
    /// item: `None` if stored, or the id of the active callback that holds its phone.
    async fn insert_callbacks(
        &self,
        items: &[BatchItem],
        actor: &Actor,
    ) -> Result<Vec<Option<CallbackId>>, StoreError>;

    async fn get_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Option<Callback>, StoreError>;

    /// The recording of attempt `number` of the account's callback `id`: its file, relative to
    /// the recordings directory.
    async fn call_recording(
        &self,
        account: &AccountId,
        id: &CallbackId,
        number: u32,
    ) -> Result<Option<String>, StoreError>;

    /// A callback with its attempts and history, read in one snapshot.
    async fn callback_detail(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Option<(Callback, Vec<Attempt>, Vec<CallbackEvent>)>, StoreError>;

    async fn callback_attempts(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<Attempt>, StoreError>;

    async fn callback_history(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<CallbackEvent>, StoreError>;

    async fn list_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
    ) -> Result<Vec<Callback>, StoreError>;

    /// Applies changes to a callback nobody has started calling (`scheduled`, `waiting` or
    /// `offered`). A new time puts a waiting or offered callback back to `scheduled`; a new
    /// assignment puts it back in line under its new assignees.
    async fn update_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        changes: &CallbackChanges,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError>;

    /// Cancels a callback nobody has started calling; a canceled one stays canceled (no error).
    async fn cancel_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError>;

    async fn record_outcome(
        &self,
        account: &AccountId,
        id: &CallbackId,
        report: &OutcomeReport,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError>;

    /// Claims up to `limit` callbacks that are due by `due_until` (at or a little after `now`,
    /// so the scheduler can fire them from timers on time) or whose claim's lease ran out,
    /// commits an attempt row for each, and leases them to `owner`.
    async fn claim_due(
        &self,
        now: Timestamp,
        due_until: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<ClaimBatch, StoreError>;

    /// Records the bridge's answers to dispatches, in one transaction.
    async fn record_dispatches(&self, reports: &[DispatchReport]) -> Result<(), StoreError>;

    /// Commits that `owner` may send requests whose time is up to `until` (it sends none
    /// later than what it has committed). A claim taken over from `owner` counts its request
    /// as sent, and the next one as a resend, only when its time is within this horizon.
    async fn extend_send_horizon(&self, owner: &str, until: Timestamp) -> Result<(), StoreError>;

    /// Extends the claims `owner` holds whose lease ends before `renew_before` to `until` (their
    /// work is still under way); returns how many. A node that stops extending loses its claims
    /// to the others when they run out.
    async fn extend_leases(
        &self,
        owner: &str,
        renew_before: Timestamp,
        until: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Hands back every claim `owner` still holds (graceful shutdown), so another scheduler or
    /// the next start picks them up at once without waiting for the lease.
    async fn release_claims(&self, owner: &str, now: Timestamp) -> Result<u64, StoreError>;

    /// The earliest instant at which `claim_due` would find work.
    async fn next_wakeup(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Calls a node took on with its own `driver` (`sip`) and never saw end: accepted, no
    /// outcome, and past the latest instant they could still be live (the claim, plus the
    /// callback's ring timeout or `ring`, plus `ring` for a second leg, plus its
    /// `max_duration_seconds`, plus `grace`). At most `limit`, oldest first.
    async fn lost_calls(
        &self,
        driver: &str,
        ring: std::time::Duration,
        grace: std::time::Duration,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(AccountId, CallbackId)>, StoreError>;

    /// Forgets idempotency keys recorded before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Number of callbacks in each state, across accounts (for metrics).
    async fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError>;
}

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one node.
    Sqlite,
    /// Any number of nodes sharing one database.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, by its scheme.
    pub fn of(database_url: &str) -> Option<Self> {
        if database_url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Opens the store named by the database URL, brings its schema up to date and unlocks its
/// secrets with the key file (see [`secret_key_file`]; `sql/secrets.rs`).
pub async fn open(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    let database_url = config.database_url.as_str();
    let keys = secret_key_file(config)?;
    match Backend::of(database_url) {
        Some(Backend::Sqlite) => Ok(Arc::new(sqlite::open(database_url, &keys).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(postgres::open(config, &keys).await?)),
        None => Err(StoreError::UnsupportedUrl(redact_url(database_url))),
    }
}

/// The key file that encrypts the database's secrets: `--secret-key-file`, else, for SQLite,
/// beside the database file. PostgreSQL has no default: every node must name the same file.
pub fn secret_key_file(config: &DatabaseConfig) -> Result<KeyFile, StoreError> {
    if let Some(path) = &config.secret_key_file {
        return Ok(KeyFile::new(path));
    }
    let database_url = config.database_url.as_str();
    match Backend::of(database_url) {
        Some(Backend::Sqlite) => Ok(KeyFile::beside(&sqlite::file_of(database_url)?)),
        Some(Backend::Postgres) => Err(StoreError::Secrets(
            "PostgreSQL needs --secret-key-file (RINGBACK_SECRET_KEY_FILE): the file of the key \
             that encrypts the database's secrets, the same file on every node (made if absent)"
                .to_owned(),
        )),
        None => Err(StoreError::UnsupportedUrl(redact_url(database_url))),
    }
}

/// What `ringback secrets rotate-key` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    /// Secrets re-encrypted under the new key.
    pub reencrypted: u64,
    /// The new key's id, which the key file now holds.
    pub key_id: String,
    /// The key it replaced, which no longer decrypts anything.
    pub previous_key_id: String,
    /// The key file.
    pub key_file: String,
}

/// Makes a new key and re-encrypts every secret under it, crash-safe: the new key is written
/// beside the key file (`<file>.new`), then every secret is re-encrypted in one transaction
/// that also records the new key, then the new file replaces the old. A start after a crash
/// in between keeps whichever key the database names (`sql/secrets.rs` `unlock`). Servers
/// using the database should be stopped first (they would keep writing with the old key).
pub async fn rotate_secret_key(
    config: &DatabaseConfig,
    now: Timestamp,
) -> Result<Rotation, StoreError> {
    let database_url = config.database_url.as_str();
    let file = secret_key_file(config)?;
    let new = Key::generate();
    let key_id = new.id().to_owned();
    let written = |e: crate::secrets::file::KeyFileError| StoreError::Secrets(e.to_string());
    let (previous_key_id, reencrypted) = match Backend::of(database_url) {
        Some(Backend::Sqlite) => {
            let store = sqlite::open(database_url, &file).await?;
            let previous = store.secret_key_id();
            file.write_pending(&new).map_err(written)?;
            (
                previous,
                store.rotate_secrets(new, now.as_millisecond()).await?,
            )
        }
        Some(Backend::Postgres) => {
            let store = postgres::open(config, &file).await?;
            let previous = store.secret_key_id();
            file.write_pending(&new).map_err(written)?;
            (
                previous,
                store.rotate_secrets(new, now.as_millisecond()).await?,
            )
        }
        None => return Err(StoreError::UnsupportedUrl(redact_url(database_url))),
    };
    file.promote_pending().map_err(written)?;
    Ok(Rotation {
        reencrypted,
        key_id,
        previous_key_id,
        key_file: file.path().display().to_string(),
    })
}

/// A database URL with any password replaced, fit for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/rb"),
            "postgres://app:***@db:5432/rb"
        );
        assert_eq!(
            super::redact_url("sqlite://ringback.db"),
            "sqlite://ringback.db"
        );
    }
}
