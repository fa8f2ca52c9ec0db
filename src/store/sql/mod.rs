//! The store's SQL, shared by both backends (see [`crate::store::sqlite`] and
//! [`crate::store::postgres`]): this file is compiled once inside each, where `Db`, `DbConn`
//! and `DbRow` name that backend's sqlx types and `begin_write` its write transaction.
//!
//! Statements are written in the SQL both databases speak: `$N` parameters, `ON CONFLICT`,
//! `RETURNING`, row values and `FILTER`; the few phrases that differ (JSON arrays, the claim's
//! row locking) come from the backend module. Instants are integer milliseconds since the Unix
//! epoch, UTC; flags are integers 0 and 1.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::store::{
    BatchItem, CallbackChanges, ChangeError, ClaimBatch, CredentialsSignal, DispatchReport,
    DueSignal, FeedSignals, IdempotentResponse, InsertOutcome, ListFilter, OutcomeReport, Store,
    StoreError,
};
mod agents;
mod audio;
mod audit;
mod audit_chain;
mod auth;
mod callbacks;
mod caller_ids;
mod campaigns;
mod claims;
mod consents;
mod contacts;
mod deliveries;
mod dialects;
mod dispatches;
mod dispositions;
mod dnc;
mod events;
mod facts;
mod fallback;
mod feeds;
mod guard;
mod inserts;
mod line;
pub(super) mod manager;
mod moves;
mod notifications;
mod offers;
mod playbooks;
mod provider_calls;
mod queue_stats;
mod recordings;
mod routing;
mod rows;
mod secrets;
mod slots;
mod subjects;
mod telephony;
mod trunks;
mod users;
mod webhooks;

use self::inserts::{InsertJob, commit_inserts};
pub(super) use self::secrets::unlock;
use super::{
    ASSIGNEE_ROWS, DEBT_REF, Db, DbConn, DbPool, DbRow, SKIP_LOCKED, UNMET_SKILL,
    announce_credentials, begin_claim, begin_write, erase_freed, erasure_begun, erasure_done,
    insert_rows, lock_sealing, lock_writes, plan_for_values, read_snapshot,
};
use crate::domain::{
    Account, AccountId, Actor, ApiKey, Attempt, Callback, CallbackEvent, CallbackId, Status,
    window::CallingWindow,
};

/// SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535; batches are cut
/// well below both.
const ROWS_PER_INSERT: usize = 500;

/// A value of a row written by the backend's `insert_rows` (multi-row `VALUES` on SQLite, a
/// typed array per column on PostgreSQL): the schema's two column types. A `NULL` keeps its
/// column's type, so a column of `NULL`s still has one.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(Some(v.to_owned()))
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(Some(v))
    }
}

impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Self {
        Cell::Text(v)
    }
}

impl From<Option<&str>> for Cell {
    fn from(v: Option<&str>) -> Self {
        Cell::Text(v.map(str::to_owned))
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(Some(v))
    }
}

impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Self {
        Cell::Int(v)
    }
}

/// Rows per statement in the writes of routing (the waiting line, agents' feeds).
const ROWS_PER_STATEMENT: usize = 400;

pub struct SqlStore {
    /// Write transactions (on SQLite, one connection: the single writer).
    pub(super) writer: DbPool,
    /// Reads, which see committed data only.
    pub(super) reader: DbPool,
    pub(super) due: Arc<DueSignal>,
    pub(super) events: Arc<DueSignal>,
    /// Wakes the router: a preview callback or a reminder falls due, an agent frees up.
    pub(super) routing: Arc<DueSignal>,
    /// Raised after every commit that wrote to an agent's feed.
    pub(super) agent_feed: Arc<FeedSignals>,
    /// Raised after every commit that changed credentials, and by changes made elsewhere.
    pub(super) credentials: Arc<CredentialsSignal>,
    /// Single creates are committed in groups by one task (see [`inserts::commit_inserts`]).
    inserts: mpsc::UnboundedSender<InsertJob>,
    /// The keys secrets are sealed and opened with (`secrets.rs`); replaced by a rotation.
    keys: std::sync::RwLock<Arc<crate::secrets::KeyRing>>,
}

/// A callback's columns before its status.
macro_rules! columns_before_status {
    () => {
        "id, account_id, origin"
    };
}

/// A callback's columns after its status, up to its version.
macro_rules! columns_after_status {
    () => {
        "phone, contact_name, \
        scheduled_at, timezone, due_at, expires_at, attempt, assign_type, assignees, caller_id, \
        caller_id_pool, \
        dialing_mode, notes, metadata, interaction_id, reminder_minutes_before, \
        expire_after_minutes, max_duration_seconds, recording_enabled, initial_message, \
        webhook_url, outcome, disposition, agent_id, offer_expires_at, reminder_at, campaign_id, contact_id, \
        recall, calling_window, timezone_source, region, trunk_id, ring_timeout_seconds, amd, \
        fallback_after_minutes, fallback_queue_id, priority, skills, \
        attempt_open, created_at, updated_at, created_by, queued_since"
    };
}

/// Whether the current call of the `callbacks` row in scope was accepted by the dialer: a
/// callback stored `dispatching` then reads as `in_progress` (the acceptance is written to the
/// call only).
macro_rules! call_accepted {
    () => {
        "EXISTS (SELECT 1 FROM calls k WHERE k.callback_id = callbacks.id \
         AND k.number = callbacks.attempt AND k.accepted_at IS NOT NULL)"
    };
}

/// A callback's status as it reads: `dispatching` once the dialer accepted its current call is
/// `in_progress` ([`call_accepted`]).
macro_rules! shown_status {
    () => {
        concat!(
            "CASE WHEN status = 'dispatching' AND ",
            call_accepted!(),
            " THEN 'in_progress' ELSE status END"
        )
    };
}

/// The columns a new callback is written with (its version starts at 1).
pub(super) const INSERTED_COLUMNS: &str = concat!(
    columns_before_status!(),
    ", status, ",
    columns_after_status!()
);

/// The columns a callback is read from: those it is written with, its status as it reads
/// ([`SHOWN_STATUS`]) and its version.
pub(super) const CALLBACK_COLUMNS: &str = concat!(
    columns_before_status!(),
    ", ",
    shown_status!(),
    " AS status, ",
    columns_after_status!(),
    ", version"
);

/// The status of the `callbacks` row in scope as it reads.
pub(super) const SHOWN_STATUS: &str = shown_status!();

/// The current call of the `callbacks` row in scope was accepted by the dialer.
pub(super) const CALL_ACCEPTED: &str = call_accepted!();

/// A callback outside any campaign, or in one that is running (not paused or canceled).
pub(super) const CAMPAIGN_RUNNING: &str = "(campaign_id IS NULL OR campaign_id IN \
    (SELECT id FROM campaigns WHERE status = 'running'))";

pub(super) const ACTIVE: &str = "('scheduled', 'waiting', 'offered', 'dispatching', 'in_progress')";

impl SqlStore {
    /// A store over pools whose schema is up to date, sealing secrets with `keys` (see
    /// [`unlock`]).
    pub(super) fn new(writer: DbPool, reader: DbPool, keys: crate::secrets::KeyRing) -> Self {
        let due = Arc::new(DueSignal::default());
        let events = Arc::new(DueSignal::default());
        let routing = Arc::new(DueSignal::default());
        let (inserts, jobs) = mpsc::unbounded_channel();
        tokio::spawn(commit_inserts(
            writer.clone(),
            jobs,
            [due.clone(), routing.clone()],
            events.clone(),
        ));
        Self {
            writer,
            reader,
            due,
            events,
            routing,
            agent_feed: Arc::default(),
            credentials: Arc::default(),
            inserts,
            keys: std::sync::RwLock::new(Arc::new(keys)),
        }
    }

    /// Wakes whichever loop acts next on `cb`: the scheduler for bridge work, the router for
    /// preview callbacks and reminders.
    pub(super) fn wake_for(&self, cb: &Callback) {
        if cb.status == Status::Scheduled {
            if cb.dialing_mode.waits_for_agent() && cb.agent_id.is_none() {
                self.routing.announce(cb.due_at);
            } else {
                self.due.announce(cb.due_at);
            }
        }
        if let Some(at) = cb.reminder_at() {
            self.routing.announce(at);
        }
    }

    pub(super) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>, StoreError> {
        Ok(begin_write(&self.writer).await?)
    }
}

pub(super) fn ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

pub(super) fn ts(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

pub(super) fn opt_ts(ms: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    ms.map(ts).transpose()
}

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

/// The audit record of an action with no fields to compare: a deletion, a rotated secret.
pub(super) fn audit_without_changes(
    action: &'static str,
    resource_type: &'static str,
    id: &str,
) -> crate::domain::AuditRecord {
    crate::domain::AuditRecord {
        action,
        resource_type,
        resource_id: Some(id.to_owned()),
        changes: serde_json::json!({}),
    }
}

/// A calling window stored as its JSON text.
pub(super) fn window_from_text(text: &str) -> Result<CallingWindow, StoreError> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| CallingWindow::parse(&v, "calling_window").ok())
        .ok_or_else(|| corrupt("calling_window", text))
}

/// The bodies live in the rooms of their concern (`inserts`, `callbacks`, `claims`,
/// `dispatches`, `events`, `auth`) as inherent methods of the same names, which method calls
/// on `self` resolve to before the trait's.
#[async_trait::async_trait]
impl Store for SqlStore {
    fn due_signal(&self) -> Arc<DueSignal> {
        self.due.clone()
    }

    fn event_signal(&self) -> Arc<DueSignal> {
        self.events.clone()
    }

    fn credentials_signal(&self) -> Arc<CredentialsSignal> {
        self.credentials.clone()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_account(&self, account: &Account, key: &ApiKey) -> Result<(), StoreError> {
        self.create_account(account, key).await
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        self.find_api_key(hash).await
    }

    async fn find_idempotent_response(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        self.find_idempotent_response(account, key).await
    }

    async fn insert_callback(
        &self,
        callback: &Callback,
        allow_duplicate: bool,
        idempotency: Option<&IdempotentResponse>,
        actor: &Actor,
    ) -> Result<InsertOutcome, StoreError> {
        self.insert_callback(callback, allow_duplicate, idempotency, actor)
            .await
    }

    async fn insert_callbacks(
        &self,
        items: &[BatchItem],
        actor: &Actor,
    ) -> Result<Vec<Option<CallbackId>>, StoreError> {
        self.insert_callbacks(items, actor).await
    }

    async fn get_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Option<Callback>, StoreError> {
        self.get_callback(account, id).await
    }

    async fn callback_detail(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Option<(Callback, Vec<Attempt>, Vec<CallbackEvent>)>, StoreError> {
        self.callback_detail(account, id).await
    }

    async fn call_recording(
        &self,
        account: &AccountId,
        id: &CallbackId,
        number: u32,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT recording_ref FROM calls WHERE callback_id = $1 AND account_id = $2 \
             AND number = $3",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(i64::from(number))
        .fetch_optional(&self.reader)
        .await?
        .flatten())
    }

    async fn callback_attempts(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<Attempt>, StoreError> {
        self.callback_attempts(account, id).await
    }

    async fn callback_history(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<CallbackEvent>, StoreError> {
        self.callback_history(account, id).await
    }

    async fn list_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
    ) -> Result<Vec<Callback>, StoreError> {
        self.list_callbacks(account, filter).await
    }

    async fn update_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        changes: &CallbackChanges,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        self.update_callback(account, id, changes, now, actor).await
    }

    async fn cancel_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        self.cancel_callback(account, id, now, actor).await
    }

    async fn record_outcome(
        &self,
        account: &AccountId,
        id: &CallbackId,
        report: &OutcomeReport,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        self.record_outcome(account, id, report, now, actor).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        due_until: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<ClaimBatch, StoreError> {
        self.claim_due(now, due_until, limit, owner, lease).await
    }

    async fn record_dispatches(&self, reports: &[DispatchReport]) -> Result<(), StoreError> {
        self.record_dispatches(reports).await
    }

    async fn extend_send_horizon(&self, owner: &str, until: Timestamp) -> Result<(), StoreError> {
        self.extend_send_horizon(owner, until).await
    }

    async fn extend_leases(
        &self,
        owner: &str,
        renew_before: Timestamp,
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        self.extend_leases(owner, renew_before, until).await
    }

    async fn release_claims(&self, owner: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.release_claims(owner, now).await
    }

    async fn next_wakeup(&self) -> Result<Option<Timestamp>, StoreError> {
        self.next_wakeup().await
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.purge_idempotency_keys(before).await
    }

    async fn lost_calls(
        &self,
        driver: &str,
        ring: std::time::Duration,
        grace: std::time::Duration,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(AccountId, CallbackId)>, StoreError> {
        let ring_ms = ring.as_millis() as i64;
        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT c.account_id, c.id FROM callbacks c JOIN calls k \
             ON k.callback_id = c.id AND k.number = c.attempt \
             WHERE c.{in_call} AND k.driver = $1 AND k.open_claim = 0 AND k.outcome IS NULL \
             AND k.claim_at + COALESCE(1000 * c.ring_timeout_seconds, $2) + $2 \
             + 1000 * c.max_duration_seconds + $3 <= $4 \
             ORDER BY k.claim_at LIMIT $5",
            in_call = moves::stored_as(Status::InProgress),
        ))
        .bind(driver)
        .bind(ring_ms)
        .bind(grace.as_millis() as i64)
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(account, id)| {
                (
                    AccountId::from_trusted(account),
                    CallbackId::from_trusted(id),
                )
            })
            .collect())
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError> {
        self.count_by_status().await
    }
}
