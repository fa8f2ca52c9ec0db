//! The store's SQL, shared by both backends (see [`crate::store::sqlite`] and
//! [`crate::store::postgres`]): this file is compiled once inside each, where `Db`, `DbConn`
//! and `DbRow` name that backend's sqlx types and `begin_write` its write transaction.
//!
//! Statements are written in the SQL both databases speak: `$N` parameters, `ON CONFLICT`,
//! `RETURNING`, row values and `FILTER`; the few phrases that differ (JSON arrays, the claim's
//! row locking) come from the backend module. Instants are integer milliseconds since the Unix
//! epoch, UTC; flags are integers 0 and 1.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};
use tokio::sync::{mpsc, oneshot};

use crate::store::{
    BatchItem, CallbackChanges, ChangeError, ClaimBatch, Claimed, CredentialsSignal,
    DispatchReport, DispatchResult, DueSignal, FeedSignals, IdempotentResponse, InsertOutcome,
    ListFilter, OutcomeReport, Store, StoreError,
};
mod agents;
mod auth;
mod campaigns;
mod contacts;
mod dialects;
mod dnc;
mod guard;
pub(super) mod manager;
mod playbooks;
mod routing;
mod users;
mod webhooks;

use self::{
    guard::{DUE_COLUMNS, DueRow, guard_due},
    routing::{
        NewAgentEvent, enter_line, insert_agent_events, leave_routing, settle_agent,
        tell_recipients,
    },
};
use super::{
    ASSIGNEE_ROWS, DEBT_REF, Db, DbConn, DbPool, DbRow, SKIP_LOCKED, announce_credentials,
    begin_claim, begin_write, lock_writes,
};
use crate::domain::{
    Account, AccountId, Actor, ApiKey, AssigneeKind, Assignment, Attempt, AuditRecord, Callback,
    CallbackEvent, CallbackId, CallbackView, DialingMode, Origin, Outcome, PhoneNumber, Status,
    Zone,
    auth::diff,
    callback::{BridgeFailurePlan, ClaimPlan, plan_claim},
    campaign::RecallPolicy,
    dialing::{ZoneSource, decide, earliest_dial},
    geo::Region,
    ids::{AgentId, CampaignId, ContactId},
    routing::{AgentEventKind, WithdrawReason},
    window::CallingWindow,
};

/// SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535; batches are cut
/// well below both.
const ROWS_PER_INSERT: usize = 500;

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
    /// Single creates are committed in groups by one task (see [`commit_inserts`]).
    inserts: mpsc::UnboundedSender<InsertJob>,
}

/// One single-callback insert waiting for the group commit.
struct InsertJob {
    callback: Callback,
    allow_duplicate: bool,
    idempotency: Option<IdempotentResponse>,
    actor: Actor,
    /// Its event and audit entry, prepared by the caller's task.
    event: NewEvent,
    audit: AuditRecord,
    reply: oneshot::Sender<Result<InsertOutcome, StoreError>>,
}

/// A callback to insert, as seen by [`insert_group`].
struct InsertRequest<'a> {
    callback: &'a Callback,
    allow_duplicate: bool,
    idempotency: Option<&'a IdempotentResponse>,
    /// Who asked and the audit entry to write; `None` when the caller audits the group as a
    /// whole.
    audit: Option<(&'a Actor, &'a AuditRecord)>,
    event: &'a NewEvent,
}

pub(super) const CALLBACK_COLUMNS: &str = "id, account_id, origin, status, phone, contact_name, \
    scheduled_at, timezone, due_at, expires_at, attempt, assign_type, assignees, caller_id, \
    dialing_mode, notes, metadata, interaction_id, reminder_minutes_before, \
    expire_after_minutes, max_duration_seconds, recording_enabled, initial_message, \
    webhook_url, outcome, agent_id, offer_expires_at, reminder_at, campaign_id, contact_id, \
    recall, calling_window, timezone_source, region, attempt_open, created_at, updated_at";

/// A callback outside any campaign, or in one that is running (not paused or canceled).
pub(super) const CAMPAIGN_RUNNING: &str = "(campaign_id IS NULL OR campaign_id IN \
    (SELECT id FROM campaigns WHERE status = 'running'))";

pub(super) const ACTIVE: &str = "('scheduled', 'waiting', 'offered', 'dispatching', 'in_progress')";

impl SqlStore {
    /// A store over pools whose schema is up to date.
    pub(super) fn new(writer: DbPool, reader: DbPool) -> Self {
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
        }
    }

    /// Wakes whichever loop acts next on `cb`: the scheduler for bridge work, the router for
    /// preview callbacks and reminders.
    pub(super) fn wake_for(&self, cb: &Callback) {
        if cb.status == Status::Scheduled {
            if cb.dialing_mode == DialingMode::Preview {
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

/// A calling window stored as its JSON text.
pub(super) fn window_from_text(text: &str) -> Result<CallingWindow, StoreError> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| CallingWindow::parse(&v, "calling_window").ok())
        .ok_or_else(|| corrupt("calling_window", text))
}

pub(super) fn callback_from_row(row: &DbRow) -> Result<Callback, StoreError> {
    let origin: String = row.try_get("origin")?;
    let status: String = row.try_get("status")?;
    let timezone: String = row.try_get("timezone")?;
    let dialing_mode: String = row.try_get("dialing_mode")?;
    let assign_type: Option<String> = row.try_get("assign_type")?;
    let assignees: Option<String> = row.try_get("assignees")?;
    let metadata: Option<String> = row.try_get("metadata")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    let caller_id: Option<String> = row.try_get("caller_id")?;
    let timezone_source: String = row.try_get("timezone_source")?;
    let region: Option<String> = row.try_get("region")?;
    let assignment = match (assign_type, assignees) {
        (Some(kind), Some(ids)) => Some(Assignment {
            kind: AssigneeKind::parse(&kind).ok_or_else(|| corrupt("assign_type", &kind))?,
            ids: serde_json::from_str(&ids).map_err(|_| corrupt("assignees", &ids))?,
        }),
        _ => None,
    };
    Ok(Callback {
        id: CallbackId::from_trusted(row.try_get("id")?),
        account_id: AccountId::from_trusted(row.try_get("account_id")?),
        origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        phone: PhoneNumber::from_trusted(row.try_get("phone")?),
        contact_name: row.try_get("contact_name")?,
        scheduled_at: ts(row.try_get("scheduled_at")?)?,
        timezone: Zone::parse(&timezone, "timezone").map_err(|_| corrupt("timezone", &timezone))?,
        due_at: ts(row.try_get("due_at")?)?,
        expires_at: ts(row.try_get("expires_at")?)?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        assignment,
        caller_id: caller_id.map(PhoneNumber::from_trusted),
        dialing_mode: DialingMode::parse(&dialing_mode)
            .ok_or_else(|| corrupt("dialing_mode", &dialing_mode))?,
        notes: row.try_get("notes")?,
        metadata: metadata
            .map(|m| serde_json::from_str(&m).map_err(|_| corrupt("metadata", &m)))
            .transpose()?,
        interaction_id: row.try_get("interaction_id")?,
        reminder_minutes_before: row
            .try_get::<Option<i64>, _>("reminder_minutes_before")?
            .map(|v| v as u32),
        expire_after_minutes: row.try_get::<i64, _>("expire_after_minutes")? as u32,
        max_duration_seconds: row.try_get::<i64, _>("max_duration_seconds")? as u32,
        recording_enabled: row.try_get::<i64, _>("recording_enabled")? != 0,
        initial_message: row.try_get("initial_message")?,
        webhook_url: row.try_get("webhook_url")?,
        outcome: outcome
            .map(|o| Outcome::parse(&o).ok_or_else(|| corrupt("outcome", &o)))
            .transpose()?,
        agent_id: row
            .try_get::<Option<String>, _>("agent_id")?
            .map(AgentId::from_trusted),
        offer_expires_at: opt_ts(row.try_get("offer_expires_at")?)?,
        campaign_id: row
            .try_get::<Option<String>, _>("campaign_id")?
            .map(CampaignId::from_trusted),
        contact_id: row
            .try_get::<Option<String>, _>("contact_id")?
            .map(ContactId::from_trusted),
        recall: match row.try_get::<Option<String>, _>("recall")? {
            Some(text) => {
                RecallPolicy::from_stored(&text).ok_or_else(|| corrupt("recall", &text))?
            }
            None => RecallPolicy::default(),
        },
        calling_window: row
            .try_get::<Option<String>, _>("calling_window")?
            .map(|text| window_from_text(&text))
            .transpose()?,
        timezone_source: ZoneSource::parse(&timezone_source)
            .ok_or_else(|| corrupt("timezone_source", &timezone_source))?,
        region: region
            .map(|r| Region::parse(&r, "region").map_err(|_| corrupt("region", &r)))
            .transpose()?,
        attempt_open: row.try_get::<i64, _>("attempt_open")? != 0,
        created_at: ts(row.try_get("created_at")?)?,
        updated_at: ts(row.try_get("updated_at")?)?,
    })
}

/// Where a recall asked for at `at` is placed: the first instant the dial decision lets the
/// next attempt through, with why it moved if it did. `None`: no instant will (the number went
/// on the do-not-call list, or the window never opens), so no recall is made.
async fn plan_recall(
    conn: &mut DbConn,
    before: &Callback,
    at: Timestamp,
    now: Timestamp,
) -> Result<Option<(Timestamp, Option<String>)>, StoreError> {
    let mut next = before.clone();
    next.status = Status::Scheduled;
    next.due_at = at;
    next.attempt_open = false;
    let known = guard::OneFacts::read(conn, &next, now).await?;
    let facts = known.facts(&next);
    Ok(earliest_dial(&facts, &known.settings, at)
        .ok()
        .map(|placed| {
            let moved = (placed != at).then(|| {
                decide(&facts, &known.settings, at)
                    .blocks
                    .iter()
                    .map(|b| b.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            (placed, moved)
        }))
}

/// A zone source as stored: whether a number is ambiguous is read from the number each time.
fn stored_source(source: ZoneSource) -> &'static str {
    match source {
        ZoneSource::NumberAmbiguous => ZoneSource::Number.as_str(),
        source => source.as_str(),
    }
}

/// Appends the bound values of one callback row, in `CALLBACK_COLUMNS` order.
fn push_callback_values(mut b: sqlx::query_builder::Separated<'_, '_, Db, &str>, cb: &Callback) {
    b.push_bind(cb.id.as_str().to_owned())
        .push_bind(cb.account_id.as_str().to_owned())
        .push_bind(cb.origin.as_str())
        .push_bind(cb.status.as_str())
        .push_bind(cb.phone.as_str().to_owned())
        .push_bind(cb.contact_name.clone())
        .push_bind(ms(cb.scheduled_at))
        .push_bind(cb.timezone.name().to_owned())
        .push_bind(ms(cb.due_at))
        .push_bind(ms(cb.expires_at))
        .push_bind(i64::from(cb.attempt))
        .push_bind(cb.assignment.as_ref().map(|a| a.kind.as_str()))
        .push_bind(
            cb.assignment
                .as_ref()
                .map(|a| serde_json::to_string(&a.ids).unwrap_or_default()),
        )
        .push_bind(cb.caller_id.as_ref().map(|p| p.as_str().to_owned()))
        .push_bind(cb.dialing_mode.as_str())
        .push_bind(cb.notes.clone())
        .push_bind(
            cb.metadata
                .as_ref()
                .map(|m| serde_json::to_string(m).unwrap_or_default()),
        )
        .push_bind(cb.interaction_id.clone())
        .push_bind(cb.reminder_minutes_before.map(i64::from))
        .push_bind(i64::from(cb.expire_after_minutes))
        .push_bind(i64::from(cb.max_duration_seconds))
        .push_bind(i64::from(cb.recording_enabled))
        .push_bind(cb.initial_message.clone())
        .push_bind(cb.webhook_url.clone())
        .push_bind(cb.outcome.map(Outcome::as_str))
        .push_bind(cb.agent_id.as_ref().map(|a| a.as_str().to_owned()))
        .push_bind(cb.offer_expires_at.map(ms))
        .push_bind(cb.reminder_at().map(ms))
        .push_bind(cb.campaign_id.as_ref().map(|c| c.as_str().to_owned()))
        .push_bind(cb.contact_id.as_ref().map(|c| c.as_str().to_owned()))
        .push_bind((!cb.recall.is_empty()).then(|| cb.recall.to_json().to_string()))
        .push_bind(cb.calling_window.as_ref().map(|w| w.to_json().to_string()))
        .push_bind(stored_source(cb.timezone_source))
        .push_bind(cb.region.as_ref().map(|r| r.as_str().to_owned()))
        .push_bind(i64::from(cb.attempt_open))
        .push_bind(ms(cb.created_at))
        .push_bind(ms(cb.updated_at));
}

/// An event about a callback, to be appended to the event log in the transaction that makes
/// the change it describes.
pub(super) struct NewEvent {
    pub(super) account_id: String,
    pub(super) resource_type: &'static str,
    pub(super) resource_id: String,
    pub(super) kind: &'static str,
    pub(super) at: Timestamp,
    /// The event's `data` as JSON text, serialized once.
    pub(super) data: String,
    /// The callback's own webhook URL, which also receives the event.
    pub(super) webhook_url: Option<String>,
}

impl NewEvent {
    /// An event carrying the callback as it stands after the change (`data.object`) and the
    /// details of the change beside it.
    pub(super) fn about(
        cb: &Callback,
        kind: &'static str,
        at: Timestamp,
        details: serde_json::Value,
    ) -> Self {
        /// One serialization pass: the details beside the snapshot, straight to text.
        #[derive(serde::Serialize)]
        struct Data {
            #[serde(flatten)]
            details: serde_json::Value,
            object: CallbackView,
        }
        let details = match details {
            serde_json::Value::Object(_) => details,
            _ => serde_json::Value::Object(serde_json::Map::new()),
        };
        let data = serde_json::to_string(&Data {
            details,
            object: CallbackView::from(cb),
        })
        .unwrap_or_else(|_| "{}".to_owned());
        Self {
            account_id: cb.account_id.as_str().to_owned(),
            resource_type: "callback",
            resource_id: cb.id.as_str().to_owned(),
            kind,
            at,
            data,
            webhook_url: cb.webhook_url.clone(),
        }
    }
}

pub(super) async fn insert_events(
    conn: &mut DbConn,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    let refs: Vec<&NewEvent> = events.iter().collect();
    insert_event_refs(conn, &refs).await
}

/// Appends events. Events are numbered in commit order, in the whole log (`seq`, which the
/// outbox reads) and in their account (`account_seq`, their public id), so a transaction that
/// does not hold the write lock yet takes it here, and holds it to its end.
async fn insert_event_refs(conn: &mut DbConn, events: &[&NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    lock_writes(conn).await?;
    let accounts: Vec<String> = events.iter().map(|e| e.account_id.clone()).collect();
    let numbers = number_rows(conn, Numbering::Events, &accounts).await?;
    for start in (0..events.len()).step_by(ROWS_PER_INSERT) {
        let rows = start..events.len().min(start + ROWS_PER_INSERT);
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO events (account_id, resource_type, resource_id, type, occurred_at, data, \
             webhook_url, account_seq) ",
        );
        qb.push_values(rows, |mut b, i| {
            let e = events[i];
            b.push_bind(e.account_id.as_str())
                .push_bind(e.resource_type)
                .push_bind(e.resource_id.as_str())
                .push_bind(e.kind)
                .push_bind(ms(e.at))
                .push_bind(e.data.as_str())
                .push_bind(e.webhook_url.as_deref())
                .push_bind(numbers[i]);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which of an account's counters ([`number_rows`]) numbers a kind of row.
#[derive(Debug, Clone, Copy)]
pub(super) enum Numbering {
    /// The account's events: their public ids.
    Events,
    /// Its agents' feed entries: the ids of their Server-Sent Events.
    AgentEvents,
}

/// Gives each row (named by its account) the next number of its account's counter, in the
/// rows' order: what clients see of an event's place, so that it says nothing about other
/// accounts. Only under the write lock (every transaction that writes agents' feeds begins
/// with it; events take it in [`insert_event_refs`]): an account's numbers then follow commit
/// order, and a counter's row is only ever locked by the lock's holder.
pub(super) async fn number_rows(
    conn: &mut DbConn,
    numbering: Numbering,
    accounts: &[String],
) -> Result<Vec<i64>, StoreError> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let column = match numbering {
        Numbering::Events => "last_event",
        Numbering::AgentEvents => "last_agent_event",
    };
    // How many rows each account has (in account order: counters' rows are locked in one
    // order).
    let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
    for account in accounts {
        *counts.entry(account.clone()).or_default() += 1;
    }
    let counts: Vec<(String, i64)> = counts.into_iter().collect();
    let mut next: HashMap<String, i64> = HashMap::with_capacity(counts.len());
    for chunk in counts.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "INSERT INTO account_sequences (account_id, {column}) "
        ));
        qb.push_values(chunk, |mut b, (account, n)| {
            b.push_bind(account.as_str()).push_bind(*n);
        });
        qb.push(format!(
            " ON CONFLICT (account_id) DO UPDATE SET \
             {column} = account_sequences.{column} + excluded.{column} \
             RETURNING account_id, {column}"
        ));
        for row in qb.build().fetch_all(&mut *conn).await? {
            next.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    // Each account's counter now stands at its last row's number.
    for (account, n) in &counts {
        let last = next
            .get_mut(account)
            .ok_or_else(|| corrupt("account sequence", account))?;
        *last -= n - 1;
    }
    accounts
        .iter()
        .map(|account| {
            let number = next
                .get_mut(account)
                .ok_or_else(|| corrupt("account sequence", account))?;
            *number += 1;
            Ok(*number - 1)
        })
        .collect()
}

/// Appends entries to the audit trail (in the caller's transaction).
pub(super) async fn insert_audit(
    conn: &mut DbConn,
    account: &str,
    actor: &Actor,
    at: Timestamp,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    let rows: Vec<AuditRow> = records.iter().map(|r| (account, actor, at, r)).collect();
    insert_audit_rows(conn, &rows).await
}

/// One audit entry: account, actor, time and record.
type AuditRow<'a> = (&'a str, &'a Actor, Timestamp, &'a AuditRecord);

/// Appends entries of possibly different accounts and actors in few statements.
async fn insert_audit_rows(conn: &mut DbConn, rows: &[AuditRow<'_>]) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO audit_log (account_id, occurred_at, actor_type, actor_id, action, \
             resource_type, resource_id, changes) ",
        );
        qb.push_values(chunk, |mut b, (account, actor, at, r)| {
            b.push_bind(*account)
                .push_bind(ms(*at))
                .push_bind(actor.kind())
                .push_bind(actor.id())
                .push_bind(r.action)
                .push_bind(r.resource_type)
                .push_bind(r.resource_id.as_deref())
                .push_bind(r.changes.to_string());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The audit record of a change to a callback: the fields of its public view that differ.
pub(super) fn callback_audit(
    action: &'static str,
    before: Option<&Callback>,
    after: &Callback,
) -> AuditRecord {
    let view = |cb: &Callback| serde_json::to_value(CallbackView::from(cb)).unwrap_or_default();
    AuditRecord {
        action,
        resource_type: "callback",
        resource_id: Some(after.id.as_str().to_owned()),
        changes: diff(
            &before.map(view).unwrap_or(serde_json::Value::Null),
            &view(after),
        ),
    }
}

pub(super) async fn insert_callback_rows(
    conn: &mut DbConn,
    rows: &[&Callback],
    events: &[&NewEvent],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_INSERT / 2) {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("INSERT INTO callbacks ({CALLBACK_COLUMNS}) "));
        qb.push_values(chunk, |b, cb| push_callback_values(b, cb));
        qb.build().execute(&mut *conn).await?;
    }
    insert_event_refs(conn, events).await
}

/// The `callback.created` event of a new callback, built before the write transaction so the
/// writer is not held while it is serialized.
pub(super) fn created_event(cb: &Callback) -> NewEvent {
    NewEvent::about(cb, "callback.created", cb.created_at, serde_json::json!({}))
}

/// Commits concurrent single inserts together: one transaction for every job waiting, instead
/// of one per request. Each job still gets its own answer, and a `201` is sent only after the
/// commit that holds its row. Concurrent requests are what make groups; a lone request is
/// committed alone, at once.
async fn commit_inserts(
    writer: DbPool,
    mut jobs: mpsc::UnboundedReceiver<InsertJob>,
    wake: [Arc<DueSignal>; 2],
    events: Arc<DueSignal>,
) {
    const MAX_GROUP: usize = 256;
    let mut group = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
        let requests: Vec<InsertRequest> = group
            .iter()
            .map(|j| InsertRequest {
                callback: &j.callback,
                allow_duplicate: j.allow_duplicate,
                idempotency: j.idempotency.as_ref(),
                audit: Some((&j.actor, &j.audit)),
                event: &j.event,
            })
            .collect();
        let result = async {
            let mut tx = begin_write(&writer).await?;
            let outcomes = insert_group(&mut tx, &requests).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(outcomes)
        }
        .await;
        match result {
            Ok(outcomes) => {
                announce_earliest(&wake, &requests, &outcomes);
                events.notify();
                drop(requests);
                for (job, outcome) in group.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                drop(requests);
                let message = e.to_string();
                for job in group.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Write(message.clone())));
                }
            }
        }
    }
}

/// Wakes the scheduler (`[0]`) for the earliest new bridge work, and the router (`[1]`) for the
/// earliest preview callback or reminder.
fn announce_earliest(
    wake: &[Arc<DueSignal>; 2],
    requests: &[InsertRequest],
    outcomes: &[InsertOutcome],
) {
    let inserted = || {
        requests
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| matches!(o, InsertOutcome::Inserted))
            .map(|(r, _)| r.callback)
    };
    let bridge = inserted()
        .filter(|cb| cb.dialing_mode != DialingMode::Preview)
        .map(|cb| cb.due_at)
        .min();
    let routing = inserted()
        .flat_map(|cb| {
            let preview = (cb.dialing_mode == DialingMode::Preview).then_some(cb.due_at);
            preview.into_iter().chain(cb.reminder_at())
        })
        .min();
    if let Some(at) = bridge {
        wake[0].announce(at);
    }
    if let Some(at) = routing {
        wake[1].announce(at);
    }
}

/// Inserts callbacks inside the caller's transaction, deciding for each whether it is a replay
/// of an idempotency key, a duplicate of an active callback for the same phone (in the store or
/// earlier in the group), or new. A handful of statements whatever the group's size.
async fn insert_group(
    conn: &mut DbConn,
    requests: &[InsertRequest<'_>],
) -> Result<Vec<InsertOutcome>, StoreError> {
    // Idempotency keys already used.
    let mut seen_keys: HashMap<(String, String), IdempotentResponse> = HashMap::new();
    for r in requests {
        let Some(idem) = r.idempotency else { continue };
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT request_hash, status, body FROM idempotency_keys \
             WHERE account_id = $1 AND key = $2",
        )
        .bind(r.callback.account_id.as_str())
        .bind(&idem.key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((request_hash, status, body)) = row {
            seen_keys.insert(
                (r.callback.account_id.as_str().to_owned(), idem.key.clone()),
                IdempotentResponse {
                    key: idem.key.clone(),
                    request_hash,
                    status: status as u16,
                    body,
                },
            );
        }
    }

    // Active callbacks already holding the phones asked for, per account.
    let mut holders: HashMap<(String, String), CallbackId> = HashMap::new();
    let mut by_account: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in requests.iter().filter(|r| !r.allow_duplicate) {
        by_account
            .entry(r.callback.account_id.as_str())
            .or_default()
            .push(r.callback.phone.as_str());
    }
    for (account, phones) in by_account {
        for chunk in phones.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("SELECT phone, id FROM callbacks WHERE account_id = ");
            qb.push_bind(account);
            qb.push(format!(" AND status IN {ACTIVE} AND phone IN ("));
            let mut sep = qb.separated(", ");
            for phone in chunk {
                sep.push_bind(*phone);
            }
            qb.push(")");
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
            for (phone, id) in rows {
                holders
                    .entry((account.to_owned(), phone))
                    .or_insert_with(|| CallbackId::from_trusted(id));
            }
        }
    }

    let mut outcomes = Vec::with_capacity(requests.len());
    let mut to_insert = Vec::with_capacity(requests.len());
    let mut to_insert_events = Vec::with_capacity(requests.len());
    let mut new_keys = Vec::new();
    for r in requests {
        let cb = r.callback;
        let account = cb.account_id.as_str().to_owned();
        if let Some(idem) = r.idempotency
            && let Some(seen) = seen_keys.get(&(account.clone(), idem.key.clone()))
        {
            outcomes.push(InsertOutcome::Replayed(seen.clone()));
            continue;
        }
        let phone_key = (account.clone(), cb.phone.as_str().to_owned());
        if !r.allow_duplicate
            && let Some(existing) = holders.get(&phone_key)
        {
            outcomes.push(InsertOutcome::Duplicate {
                existing_id: existing.clone(),
            });
            continue;
        }
        holders.entry(phone_key).or_insert_with(|| cb.id.clone());
        if let Some(idem) = r.idempotency {
            seen_keys.insert((account, idem.key.clone()), idem.clone());
            new_keys.push((cb, idem));
        }
        to_insert.push(cb);
        to_insert_events.push(r.event);
        outcomes.push(InsertOutcome::Inserted);
    }
    insert_callback_rows(conn, &to_insert, &to_insert_events).await?;
    let rows: Vec<AuditRow> = requests
        .iter()
        .zip(&outcomes)
        .filter_map(|(r, outcome)| match (r.audit, outcome) {
            (Some((actor, record)), InsertOutcome::Inserted) => Some((
                r.callback.account_id.as_str(),
                actor,
                r.callback.created_at,
                record,
            )),
            _ => None,
        })
        .collect();
    insert_audit_rows(conn, &rows).await?;
    for chunk in new_keys.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, status, body, created_at) ",
        );
        qb.push_values(chunk, |mut b, (cb, idem)| {
            b.push_bind(cb.account_id.as_str())
                .push_bind(idem.key.as_str())
                .push_bind(idem.request_hash.as_str())
                .push_bind(i64::from(idem.status))
                .push_bind(idem.body.as_str())
                .push_bind(ms(cb.created_at));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(outcomes)
}

pub(super) async fn fetch_callback(
    conn: &mut DbConn,
    account: &AccountId,
    id: &CallbackId,
) -> Result<Option<Callback>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = $1 AND account_id = $2"
    ))
    .bind(id.as_str())
    .bind(account.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(callback_from_row).transpose()
}

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
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO accounts (id, name, created_at, signing_secret) VALUES ($1, $2, $3, $4)",
        )
        .bind(account.id.as_str())
        .bind(&account.name)
        .bind(ms(account.created_at))
        .bind(account.signing_secret.expose())
        .execute(&mut *tx)
        .await?;
        self::auth::insert_key_row(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM api_keys WHERE hash = $1",
            auth::KEY_COLUMNS
        ))
        .bind(hash)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(self::auth::key_from_row).transpose()
    }

    async fn find_idempotent_response(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT request_hash, status, body FROM idempotency_keys WHERE account_id = $1 AND key = $2",
        )
        .bind(account.as_str())
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(request_hash, status, body)| IdempotentResponse {
            key: key.to_owned(),
            request_hash,
            status: status as u16,
            body,
        }))
    }

    async fn insert_callback(
        &self,
        callback: &Callback,
        allow_duplicate: bool,
        idempotency: Option<&IdempotentResponse>,
        actor: &Actor,
    ) -> Result<InsertOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = InsertJob {
            event: created_event(callback),
            audit: callback_audit("callback.create", None, callback),
            callback: callback.clone(),
            allow_duplicate,
            idempotency: idempotency.cloned(),
            actor: actor.clone(),
            reply,
        };
        self.inserts
            .send(job)
            .map_err(|_| StoreError::Write("the insert writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Write("the insert writer has stopped".to_owned()))?
    }

    async fn insert_callbacks(
        &self,
        items: &[BatchItem],
        actor: &Actor,
    ) -> Result<Vec<Option<CallbackId>>, StoreError> {
        let events: Vec<NewEvent> = items.iter().map(|i| created_event(&i.callback)).collect();
        let requests: Vec<InsertRequest> = items
            .iter()
            .zip(&events)
            .map(|(i, event)| InsertRequest {
                callback: &i.callback,
                allow_duplicate: i.allow_duplicate,
                idempotency: None,
                audit: None,
                event,
            })
            .collect();
        let mut tx = self.begin_write().await?;
        let outcomes = insert_group(&mut tx, &requests).await?;
        // One audit entry for the batch, naming every callback it created.
        let mut by_account: HashMap<&str, (Vec<&str>, Timestamp)> = HashMap::new();
        for (r, o) in requests.iter().zip(&outcomes) {
            if matches!(o, InsertOutcome::Inserted) {
                let entry = by_account
                    .entry(r.callback.account_id.as_str())
                    .or_insert_with(|| (Vec::new(), r.callback.created_at));
                entry.0.push(r.callback.id.as_str());
            }
        }
        for (account, (ids, at)) in by_account {
            let record = AuditRecord {
                action: "callback.create_batch",
                resource_type: "callback",
                resource_id: None,
                changes: serde_json::json!({ "created": ids }),
            };
            insert_audit(&mut tx, account, actor, at, &[record]).await?;
        }
        tx.commit().await?;
        announce_earliest(
            &[self.due.clone(), self.routing.clone()],
            &requests,
            &outcomes,
        );
        self.events.notify();
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                InsertOutcome::Duplicate { existing_id } => Some(existing_id),
                _ => None,
            })
            .collect())
    }

    async fn get_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Option<Callback>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_callback(&mut conn, account, id).await
    }

    async fn callback_attempts(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, started_at, bridge_requests, resends, last_bridge_status, accepted_at, \
             outcome, duration_seconds, notes, ended_at, agent_id FROM callback_attempts \
             WHERE callback_id = $1 AND account_id = $2 ORDER BY number",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let outcome: Option<String> = r.try_get("outcome")?;
                Ok(Attempt {
                    number: r.try_get::<i64, _>("number")? as u32,
                    started_at: ts(r.try_get("started_at")?)?,
                    bridge_requests: r.try_get::<i64, _>("bridge_requests")? as u32,
                    resends: r.try_get::<i64, _>("resends")? as u32,
                    last_bridge_status: r
                        .try_get::<Option<i64>, _>("last_bridge_status")?
                        .map(|s| s as u16),
                    accepted_at: opt_ts(r.try_get("accepted_at")?)?,
                    outcome: outcome
                        .map(|o| Outcome::parse(&o).ok_or_else(|| corrupt("outcome", &o)))
                        .transpose()?,
                    duration_seconds: r
                        .try_get::<Option<i64>, _>("duration_seconds")?
                        .map(|d| d as u32),
                    notes: r.try_get("notes")?,
                    ended_at: opt_ts(r.try_get("ended_at")?)?,
                    agent_id: r.try_get("agent_id")?,
                })
            })
            .collect()
    }

    async fn callback_history(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<CallbackEvent>, StoreError> {
        // `seq` and `account_seq` run in the same order within an account.
        let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
            "SELECT account_seq, type, occurred_at, data FROM events \
             WHERE resource_id = $1 AND account_id = $2 ORDER BY seq",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(number, kind, at, data)| {
                Ok(CallbackEvent {
                    id: crate::domain::StoredEvent::id_for(account, number),
                    kind,
                    at: ts(at)?,
                    data: serde_json::from_str(&data).map_err(|_| corrupt("event data", &data))?,
                })
            })
            .collect()
    }

    async fn list_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
    ) -> Result<Vec<Callback>, StoreError> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE account_id = "
        ));
        qb.push_bind(account.as_str().to_owned());
        if let Some(phone) = &filter.phone {
            qb.push(" AND phone = ")
                .push_bind(phone.as_str().to_owned());
        }
        if let Some(status) = filter.status {
            qb.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(origin) = filter.origin {
            qb.push(" AND origin = ").push_bind(origin.as_str());
        }
        match filter.assignee.as_deref() {
            // Callbacks nobody in particular is to take (never assigned, or whose assignees
            // were all deleted).
            Some("unassigned") => {
                qb.push(" AND assignees IS NULL");
            }
            Some(assignee) => {
                qb.push(format!(
                    " AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = "
                ))
                .push_bind(assignee.to_owned())
                .push(")");
            }
            None => {}
        }
        if let Some(from) = filter.scheduled_from {
            qb.push(" AND scheduled_at >= ").push_bind(ms(from));
        }
        if let Some(to) = filter.scheduled_to {
            qb.push(" AND scheduled_at < ").push_bind(ms(to));
        }
        if let Some(before) = &filter.before {
            qb.push(" AND id < ").push_bind(before.as_str().to_owned());
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(callback_from_row).collect()
    }

    async fn update_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        changes: &CallbackChanges,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let mut tx = self.begin_write().await?;
        let mut cb = fetch_callback(&mut tx, account, id)
            .await?
            .ok_or(ChangeError::NotFound)?;
        let before = cb.clone();
        if !cb.status.is_editable() {
            return Err(ChangeError::InvalidState(cb.status));
        }
        let mut changed = Vec::new();
        let rescheduled = changes.scheduled_at.is_some();
        let reassigned = changes.assignment.is_some();
        let mut feed = Vec::new();
        if before.status != Status::Scheduled && (rescheduled || reassigned) {
            let reason = if rescheduled {
                WithdrawReason::Rescheduled
            } else {
                WithdrawReason::Reassigned
            };
            feed.extend(leave_routing(&mut tx, &before, reason, now).await?);
            cb.agent_id = None;
            cb.offer_expires_at = None;
            cb.status = if rescheduled {
                Status::Scheduled
            } else {
                Status::Waiting
            };
        }
        if let Some(phone) = &changes.phone {
            cb.change_phone(phone.clone());
            changed.push("phone");
        }
        if let Some(new) = &changes.scheduled_at {
            cb.reschedule(new.at, new.zone.clone());
            changed.extend(["scheduled_at", "timezone"]);
        }
        if let Some(assignment) = &changes.assignment {
            cb.assignment = assignment.clone();
            changed.push("assignment");
        }
        if let Some(notes) = &changes.notes {
            cb.notes = notes.clone();
            changed.push("notes");
        }
        if let Some(name) = &changes.contact_name {
            cb.contact_name = name.clone();
            changed.push("contact_name");
        }
        if let Some(metadata) = &changes.metadata {
            cb.metadata = metadata.clone();
            changed.push("metadata");
        }
        cb.updated_at = now;
        sqlx::query(
            "UPDATE callbacks SET status = $1, agent_id = $2, offer_expires_at = $3, \
             reminder_at = CASE WHEN $4 THEN $5 ELSE reminder_at END, \
             phone = $6, scheduled_at = $7, due_at = $8, timezone = $9, expires_at = $10, \
             assign_type = $11, assignees = $12, notes = $13, contact_name = $14, metadata = $15, \
             updated_at = $16, timezone_source = $17, version = version + 1 \
             WHERE id = $18 AND account_id = $19 AND status = $20",
        )
        .bind(cb.status.as_str())
        .bind(cb.agent_id.as_ref().map(|a| a.as_str().to_owned()))
        .bind(cb.offer_expires_at.map(ms))
        .bind(rescheduled)
        .bind(cb.reminder_at().map(ms))
        .bind(cb.phone.as_str())
        .bind(ms(cb.scheduled_at))
        .bind(ms(cb.due_at))
        .bind(cb.timezone.name())
        .bind(ms(cb.expires_at))
        .bind(cb.assignment.as_ref().map(|a| a.kind.as_str()))
        .bind(
            cb.assignment
                .as_ref()
                .map(|a| serde_json::to_string(&a.ids).unwrap_or_default()),
        )
        .bind(&cb.notes)
        .bind(&cb.contact_name)
        .bind(
            cb.metadata
                .as_ref()
                .map(|m| serde_json::to_string(m).unwrap_or_default()),
        )
        .bind(ms(now))
        .bind(stored_source(cb.timezone_source))
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(before.status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if cb.status == Status::Waiting {
            enter_line(&mut tx, &[&cb]).await?;
        }
        if rescheduled {
            let details =
                serde_json::json!({ "previous_scheduled_at": before.scheduled_at.to_string() });
            let holder = before.agent_id.as_ref();
            feed.extend(
                tell_recipients(
                    &mut tx,
                    &cb,
                    AgentEventKind::Rescheduled,
                    now,
                    details,
                    holder,
                )
                .await?,
            );
        }
        insert_events(
            &mut tx,
            &[NewEvent::about(
                &cb,
                "callback.updated",
                now,
                serde_json::json!({ "changed": changed, "from": before.status.as_str() }),
            )],
        )
        .await?;
        insert_audit(
            &mut tx,
            account.as_str(),
            actor,
            now,
            &[callback_audit("callback.update", Some(&before), &cb)],
        )
        .await?;
        insert_agent_events(&mut tx, &feed).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_for(&cb);
        if before.status != Status::Scheduled {
            self.routing.notify();
        }
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        self.events.notify();
        Ok(cb)
    }

    async fn cancel_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let mut tx = self.begin_write().await?;
        let before = fetch_callback(&mut tx, account, id)
            .await?
            .ok_or(ChangeError::NotFound)?;
        let status = before.status;
        let mut feed = Vec::new();
        match status {
            Status::Canceled => {}
            Status::Scheduled | Status::Waiting | Status::Offered => {
                feed.extend(leave_routing(&mut tx, &before, WithdrawReason::Canceled, now).await?);
                sqlx::query(
                    "UPDATE callbacks SET status = 'canceled', attempt_open = 0, agent_id = NULL, \
                     offer_expires_at = NULL, reminder_at = NULL, updated_at = $1, \
                     version = version + 1 WHERE id = $2 AND account_id = $3",
                )
                .bind(ms(now))
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            }
            other => return Err(ChangeError::InvalidState(other)),
        }
        let cb = fetch_callback(&mut tx, account, id)
            .await?
            .ok_or(ChangeError::NotFound)?;
        if status != Status::Canceled {
            feed.extend(
                tell_recipients(
                    &mut tx,
                    &cb,
                    AgentEventKind::Canceled,
                    now,
                    serde_json::json!({}),
                    None,
                )
                .await?,
            );
            insert_events(
                &mut tx,
                &[NewEvent::about(
                    &cb,
                    "callback.canceled",
                    now,
                    serde_json::json!({ "from": status.as_str() }),
                )],
            )
            .await?;
            insert_audit(
                &mut tx,
                account.as_str(),
                actor,
                now,
                &[callback_audit("callback.cancel", Some(&before), &cb)],
            )
            .await?;
            insert_agent_events(&mut tx, &feed).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.events.notify();
        if status == Status::Offered {
            self.routing.notify();
        }
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        Ok(cb)
    }

    async fn record_outcome(
        &self,
        account: &AccountId,
        id: &CallbackId,
        report: &OutcomeReport,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let mut tx = self.begin_write().await?;
        let before = fetch_callback(&mut tx, account, id)
            .await?
            .ok_or(ChangeError::NotFound)?;
        let (status, attempt) = (before.status, before.attempt);
        if !status.accepts_outcome() {
            return Err(ChangeError::InvalidState(status));
        }
        // Not answered, with a recall left: the next attempt, where the dial decision lets
        // it through (calling window, attempt cap, quiet period).
        let earlier_same: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM callback_attempts WHERE callback_id = $1 AND number < $2 \
             AND outcome = $3",
        )
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .bind(report.outcome.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let recall =
            match before
                .recall
                .next_attempt(attempt, report.outcome, earlier_same as u32, now)
            {
                Some(at) => plan_recall(&mut tx, &before, at, now).await?,
                None => None,
            };
        let final_status = report.outcome.final_status();
        match &recall {
            Some(next) => {
                sqlx::query(
                    "UPDATE callbacks SET status = 'scheduled', due_at = $1, expires_at = $2, \
                     attempt_open = 0, lease_owner = NULL, \
                     lease_expires_at = NULL, agent_id = NULL, offer_expires_at = NULL, \
                     updated_at = $3, version = version + 1 WHERE id = $4 AND account_id = $5",
                )
                .bind(ms(next.0))
                .bind(ms(Callback::deadline(next.0, before.expire_after_minutes)))
                .bind(ms(now))
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            }
            None => {
                sqlx::query(
                    "UPDATE callbacks SET status = $1, outcome = $2, attempt_open = 0, \
                     lease_owner = NULL, lease_expires_at = NULL, \
                     reminder_at = NULL, updated_at = $3, version = version + 1 \
                     WHERE id = $4 AND account_id = $5",
                )
                .bind(final_status.as_str())
                .bind(report.outcome.as_str())
                .bind(ms(now))
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            }
        }
        sqlx::query(
            "UPDATE callback_attempts SET outcome = $1, duration_seconds = $2, notes = $3, ended_at = $4 \
             WHERE callback_id = $5 AND number = $6",
        )
        .bind(report.outcome.as_str())
        .bind(report.duration_seconds.map(i64::from))
        .bind(&report.notes)
        .bind(ms(now))
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let kind = match (&recall, final_status) {
            (Some(_), _) => "callback.recall_scheduled",
            (None, Status::Completed) => "callback.completed",
            (None, _) => "callback.failed",
        };
        let cb = fetch_callback(&mut tx, account, id)
            .await?
            .ok_or(ChangeError::NotFound)?;
        insert_events(
            &mut tx,
            &[NewEvent::about(
                &cb,
                kind,
                now,
                serde_json::json!({
                    "attempt": attempt,
                    "outcome": report.outcome.as_str(),
                    "duration_seconds": report.duration_seconds,
                    "next_attempt_at": recall.as_ref().map(|n| n.0.to_string()),
                    "moved": recall.as_ref().and_then(|n| n.1.clone()),
                }),
            )],
        )
        .await?;
        insert_audit(
            &mut tx,
            account.as_str(),
            actor,
            now,
            &[callback_audit("callback.outcome", Some(&before), &cb)],
        )
        .await?;
        // The agent who had the call is free again.
        let mut feed = Vec::new();
        if let Some(agent) = &before.agent_id {
            feed.extend(settle_agent(&mut tx, account.as_str(), agent.as_str(), now).await?);
            insert_agent_events(&mut tx, &feed).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.events.notify();
        if before.agent_id.is_some() {
            self.routing.notify();
        }
        if recall.is_some() {
            self.wake_for(&cb);
        }
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        Ok(cb)
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        due_until: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<ClaimBatch, StoreError> {
        let now_ms = ms(now);
        let lease_until = now_ms + lease.as_millis() as i64;
        // Row locks only: the write lock is taken for the rules that count across rows (in
        // `guard_due`) and for the events, so the selection and the updates of claims made by
        // several nodes run side by side.
        let mut tx = begin_claim(&self.writer).await?;

        // Claims whose holder stopped renewing them, then callbacks that fell due.
        let taken_over: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT id, due_at, expires_at FROM callbacks \
             WHERE status = 'dispatching' AND lease_expires_at <= $1 \
             ORDER BY lease_expires_at LIMIT $2{SKIP_LOCKED}"
        ))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let remaining = i64::from(limit) - taken_over.len() as i64;
        let due: Vec<DueRow> = if remaining > 0 {
            sqlx::query_as(&format!(
                "SELECT {DUE_COLUMNS} FROM callbacks \
                 WHERE status = 'scheduled' AND dialing_mode <> 'preview' AND due_at <= $1 \
                 AND {CAMPAIGN_RUNNING} ORDER BY due_at LIMIT $2{SKIP_LOCKED}"
            ))
            .bind(ms(due_until.max(now)))
            .bind(remaining)
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        // Skipped (do-not-call), deferred (attempt cap, calling window) or held back (pacing).
        let due = guard_due(&mut tx, due, now).await?;

        let mut batch = ClaimBatch {
            taken_over: taken_over.len(),
            ..ClaimBatch::default()
        };
        // (id, due_at)
        let mut to_dispatch: Vec<(String, i64)> = taken_over
            .into_iter()
            .map(|(id, due_at, _)| (id, due_at))
            .collect();
        let mut to_expire = Vec::new();
        for DueRow {
            id,
            due_at,
            expires_at,
            ..
        } in due
        {
            match plan_claim(now, ts(expires_at)?) {
                ClaimPlan::Dispatch => to_dispatch.push((id, due_at)),
                ClaimPlan::Expire => to_expire.push(id),
            }
        }

        if !to_expire.is_empty() {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callbacks SET status = 'expired', attempt_open = 0, \
                 lease_owner = NULL, lease_expires_at = NULL, version = version + 1, updated_at = ",
            );
            qb.push_bind(now_ms).push(" WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in &to_expire {
                sep.push_bind(id.as_str());
            }
            qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
            let rows = qb.build().fetch_all(&mut *tx).await?;
            let expired = rows
                .iter()
                .map(callback_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let events: Vec<NewEvent> = expired
                .iter()
                .map(|cb| {
                    NewEvent::about(
                        cb,
                        "callback.expired",
                        now,
                        serde_json::json!({ "reason": "deadline_passed_before_dispatch" }),
                    )
                })
                .collect();
            insert_events(&mut tx, &events).await?;
            batch.expired = expired.into_iter().map(|cb| cb.id).collect();
        }

        if !to_dispatch.is_empty() {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callbacks SET status = 'dispatching', \
                 attempt = attempt + 1 - attempt_open, attempt_open = 1, \
                 version = version + 1, lease_owner = ",
            );
            qb.push_bind(owner.to_owned())
                .push(", lease_expires_at = ")
                .push_bind(lease_until)
                .push(", updated_at = ")
                .push_bind(now_ms)
                .push(" WHERE id IN (");
            let mut sep = qb.separated(", ");
            for (id, _) in &to_dispatch {
                sep.push_bind(id.as_str());
            }
            qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
            let rows = qb.build().fetch_all(&mut *tx).await?;
            let mut claimed: HashMap<String, Callback> = HashMap::with_capacity(rows.len());
            for row in &rows {
                let cb = callback_from_row(row)?;
                claimed.insert(cb.id.as_str().to_owned(), cb);
            }

            // The attempt row is committed before the bridge hears of the call. Its requests
            // are counted when they are sent (`record_sends`), not here: a claim a crash keeps
            // from the bridge is no request. Whether the next one is a resend is known now,
            // since this claim is the only one: some earlier request's answer never came.
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO callback_attempts (callback_id, number, account_id, started_at) ",
            );
            qb.push_values(&to_dispatch, |mut b, (id, due_at)| {
                let cb = &claimed[id.as_str()];
                // A callback claimed ahead of its time starts at its time.
                b.push_bind(id.as_str())
                    .push_bind(i64::from(cb.attempt))
                    .push_bind(cb.account_id.as_str())
                    .push_bind(now_ms.max(*due_at));
            });
            qb.push(
                " ON CONFLICT (callback_id, number) DO UPDATE SET \
                 in_doubt = callback_attempts.in_doubt \
                 RETURNING callback_id, bridge_requests, in_doubt",
            );
            // id -> (the number of the request about to go, whether it is a resend)
            let requests: HashMap<String, (u32, bool)> = qb
                .build_query_as::<(String, i64, i64)>()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(id, sent, in_doubt)| (id, (sent as u32 + 1, in_doubt != 0)))
                .collect();

            let mut events = Vec::with_capacity(to_dispatch.len());
            for (id, due_at) in &to_dispatch {
                let cb = &claimed[id.as_str()];
                let (bridge_request, resend) =
                    requests.get(id.as_str()).copied().unwrap_or((1, false));
                events.push(NewEvent::about(
                    cb,
                    "callback.due",
                    now,
                    serde_json::json!({
                        "attempt": cb.attempt,
                        "bridge_request": bridge_request,
                        "resend": resend,
                        "lateness_ms": (now_ms - due_at).max(0),
                        "claimed_by": owner,
                    }),
                ));
            }
            insert_events(&mut tx, &events).await?;
            for (id, _) in to_dispatch {
                let (bridge_requests, resend) =
                    requests.get(id.as_str()).copied().unwrap_or((1, false));
                if let Some(callback) = claimed.remove(&id) {
                    batch.dispatch.push(Claimed {
                        callback,
                        resend,
                        bridge_requests,
                    });
                }
            }
        }
        tx.commit().await?;
        if !batch.dispatch.is_empty() || !batch.expired.is_empty() {
            self.events.notify();
        }
        Ok(batch)
    }

    async fn record_sends(&self, sends: &[(CallbackId, u32)]) -> Result<(), StoreError> {
        if sends.is_empty() {
            return Ok(());
        }
        // This node's claims only: row locks suffice.
        let mut tx = begin_claim(&self.writer).await?;
        for chunk in sends.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callback_attempts SET bridge_requests = bridge_requests + 1, \
                 resends = resends + in_doubt, in_doubt = 1 WHERE (callback_id, number) IN (VALUES ",
            );
            let mut sep = qb.separated(", ");
            for (id, attempt) in chunk {
                sep.push("(")
                    .push_bind_unseparated(id.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(i64::from(*attempt))
                    .push_unseparated(")");
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_dispatches(&self, reports: &[DispatchReport]) -> Result<(), StoreError> {
        if reports.is_empty() {
            return Ok(());
        }
        // This node's claims only: row locks suffice until the events are written.
        let mut tx = begin_claim(&self.writer).await?;
        let mut events = Vec::with_capacity(reports.len());
        let mut earliest_retry: Option<Timestamp> = None;
        let (accepted, failed): (Vec<&DispatchReport>, Vec<&DispatchReport>) = reports
            .iter()
            .partition(|r| matches!(r.result, DispatchResult::Accepted));

        // Accepted dispatches, in bulk: the common case at high rates.
        let mut started: Vec<Callback> = Vec::new();
        for chunk in accepted.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callbacks SET lease_owner = NULL, lease_expires_at = NULL, \
                 version = version + 1, \
                 status = CASE status WHEN 'dispatching' THEN 'in_progress' ELSE status END, \
                 updated_at = ",
            );
            qb.push_bind(ms(chunk[0].at))
                .push(" WHERE status IN ('dispatching', 'completed', 'failed') AND (id, attempt) IN (VALUES ");
            let mut sep = qb.separated(", ");
            for r in chunk {
                sep.push("(")
                    .push_bind_unseparated(r.callback_id.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(i64::from(r.attempt))
                    .push_unseparated(")");
            }
            qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
            for row in qb.build().fetch_all(&mut *tx).await? {
                let cb = callback_from_row(&row)?;
                if cb.status == Status::InProgress {
                    started.push(cb);
                }
            }
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("UPDATE callback_attempts SET last_bridge_status = COALESCE(");
            // One status per statement is enough: bridges answer 200/201/202 consistently.
            qb.push_bind(chunk[0].bridge_status.map(i64::from))
                .push(", last_bridge_status), in_doubt = 0, accepted_at = COALESCE(accepted_at, ")
                .push_bind(ms(chunk[0].at))
                .push(") WHERE (callback_id, number) IN (VALUES ");
            let mut sep = qb.separated(", ");
            for r in chunk {
                sep.push("(")
                    .push_bind_unseparated(r.callback_id.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(i64::from(r.attempt))
                    .push_unseparated(")");
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }
        let at_by_id: HashMap<&str, &DispatchReport> = accepted
            .iter()
            .map(|r| (r.callback_id.as_str(), *r))
            .collect();
        for cb in &started {
            let r = at_by_id[cb.id.as_str()];
            events.push(NewEvent::about(
                cb,
                "callback.started",
                r.at,
                serde_json::json!({
                    "attempt": r.attempt,
                    "bridge_status": r.bridge_status,
                }),
            ));
        }

        // Refused or unanswered dispatches: retry later or give up.
        let mut failed_rows: Vec<(Callback, &DispatchReport, &'static str)> = Vec::new();
        for r in &failed {
            let DispatchResult::Failed { plan, .. } = &r.result else {
                continue;
            };
            let (sql, kind) = match plan {
                BridgeFailurePlan::RetryAt(at) => {
                    earliest_retry = Some(earliest_retry.map_or(*at, |e| e.min(*at)));
                    (
                        "UPDATE callbacks SET status = 'scheduled', due_at = $1, \
                         lease_owner = NULL, lease_expires_at = NULL, version = version + 1, \
                         updated_at = $2 WHERE id = $3 AND attempt = $4 AND status = 'dispatching' \
                         RETURNING *",
                        "callback.dispatch_failed",
                    )
                }
                BridgeFailurePlan::Expire => (
                    "UPDATE callbacks SET status = 'expired', due_at = $1, attempt_open = 0, \
                     lease_owner = NULL, lease_expires_at = NULL, \
                     version = version + 1, updated_at = $2 \
                     WHERE id = $3 AND attempt = $4 AND status = 'dispatching' RETURNING *",
                    "callback.expired",
                ),
            };
            let due = match plan {
                BridgeFailurePlan::RetryAt(at) => ms(*at),
                BridgeFailurePlan::Expire => ms(r.at),
            };
            let row = sqlx::query(sql)
                .bind(due)
                .bind(ms(r.at))
                .bind(r.callback_id.as_str())
                .bind(i64::from(r.attempt))
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE callback_attempts SET last_bridge_status = $1, in_doubt = 0 \
                 WHERE callback_id = $2 AND number = $3",
            )
            .bind(r.bridge_status.map(i64::from))
            .bind(r.callback_id.as_str())
            .bind(i64::from(r.attempt))
            .execute(&mut *tx)
            .await?;
            if let Some(row) = row {
                failed_rows.push((callback_from_row(&row)?, r, kind));
            }
        }
        for (cb, r, kind) in &failed_rows {
            let DispatchResult::Failed { error, plan } = &r.result else {
                continue;
            };
            let retry_at = match plan {
                BridgeFailurePlan::RetryAt(at) => Some(at.to_string()),
                BridgeFailurePlan::Expire => None,
            };
            events.push(NewEvent::about(
                cb,
                kind,
                r.at,
                serde_json::json!({
                    "attempt": r.attempt,
                    "bridge_status": r.bridge_status,
                    "error": error,
                    "retry_at": retry_at,
                    "reason": if retry_at.is_none() { Some("bridge_unavailable_until_deadline") } else { None },
                }),
            ));
        }
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        self.events.notify();
        if let Some(at) = earliest_retry {
            self.due.announce(at);
        }
        Ok(())
    }

    async fn extend_leases(
        &self,
        owner: &str,
        renew_before: Timestamp,
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        // Row locks only, and rows another transaction holds are skipped (the next round
        // extends them): this runs every third of a lease beside the claims and answers of the
        // same claims, and holding the write lock while waiting for one of their rows stalled
        // every writer of the cluster until that transaction gave up.
        let mut tx = begin_claim(&self.writer).await?;
        let done = sqlx::query(&format!(
            "UPDATE callbacks SET lease_expires_at = $1 WHERE id IN (SELECT id FROM callbacks \
             WHERE status = 'dispatching' AND lease_expires_at < $2 AND lease_owner = $3{SKIP_LOCKED})"
        ))
        .bind(ms(until))
        .bind(ms(renew_before))
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn release_claims(&self, owner: &str, now: Timestamp) -> Result<u64, StoreError> {
        // Row locks only: it writes no event and counts nothing across rows.
        let mut tx = begin_claim(&self.writer).await?;
        let done = sqlx::query(
            "UPDATE callbacks SET status = 'scheduled', lease_owner = NULL, lease_expires_at = NULL, \
             version = version + 1, updated_at = $1 WHERE status = 'dispatching' AND lease_owner = $2",
        )
        .bind(ms(now))
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn next_wakeup(&self) -> Result<Option<Timestamp>, StoreError> {
        let (due, lease): (Option<i64>, Option<i64>) = sqlx::query_as(&format!(
            "SELECT (SELECT MIN(due_at) FROM callbacks \
                 WHERE status = 'scheduled' AND dialing_mode <> 'preview' AND {CAMPAIGN_RUNNING}), \
                 (SELECT MIN(lease_expires_at) FROM callbacks WHERE status = 'dispatching')"
        ))
        .fetch_one(&self.reader)
        .await?;
        let next = match (due, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        opt_ts(next)
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(ms(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM callbacks GROUP BY status")
                .fetch_all(&self.reader)
                .await?;
        let seen: HashSet<String> = rows.iter().map(|(s, _)| s.clone()).collect();
        let mut out: Vec<(Status, i64)> = rows
            .into_iter()
            .filter_map(|(s, n)| Status::parse(&s).map(|st| (st, n)))
            .collect();
        out.extend(
            Status::ALL
                .into_iter()
                .filter(|s| !seen.contains(s.as_str()))
                .map(|s| (s, 0)),
        );
        Ok(out)
    }
}
