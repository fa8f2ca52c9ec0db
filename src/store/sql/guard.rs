//! The check every due callback passes before it is dialled or offered, in the transaction that
//! claims it: the facts [`decide`] needs are read in `facts` (the do-not-call list, the attempts
//! to the number, the campaign and its pacing, the account's policy), the decision is the
//! domain's, and what it says is written here (skipped, deferred, expired, held back).

use std::collections::HashSet;

use super::{DbConn, lock_writes};
use jiff::Timestamp;
use serde_json::json;

use super::{
    CALLBACK_COLUMNS,
    audit::insert_audit_about_many,
    consents::consent_states,
    events::{NewEvent, insert_events},
    facts::settings_of,
    facts::{OneFacts, campaign_facts, cap_since, history, needs_history},
    moves, ms,
    rows::callback_from_row,
    ts, window_from_text,
};
use crate::domain::{
    Actor, AuditRecord, Callback, DialingMode, Outcome, PhoneNumber, Status, Zone,
    callback::Move,
    campaign::{AccountSettings, debt_ref},
    dialing::{
        Block, BlockCode, Decision, Facts, History, Location, ZoneSource, decide, earliest_dial,
        evidence,
    },
    geo::Region,
    window::CallingWindow,
};
use crate::secrets::KeyRing;
use crate::store::StoreError;

/// What the claim reads of each due callback: enough to dispatch it and to judge it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DueRow {
    pub(super) id: String,
    pub(super) due_at: i64,
    pub(super) expires_at: i64,
    pub(super) account_id: String,
    phone: String,
    campaign_id: Option<String>,
    attempt: i64,
    attempt_open: i64,
    calling_window: Option<String>,
    timezone: String,
    timezone_source: String,
    region: Option<String>,
    pub(super) dialing_mode: String,
    metadata: Option<String>,
    pub(super) trunk_id: Option<String>,
    /// What the dial decision that let it through rested on (`dialing::evidence`), for the
    /// attempt's audit entry.
    #[sqlx(skip)]
    pub(super) evidence: Option<serde_json::Value>,
}

pub(super) const DUE_COLUMNS: &str = "id, due_at, expires_at, account_id, phone, \
    campaign_id, attempt, attempt_open, calling_window, timezone, timezone_source, region, \
    dialing_mode, metadata, trunk_id";

impl DueRow {
    /// Where calls to it are judged.
    fn location(&self) -> Result<Location, StoreError> {
        let corrupt = |what: &str, value: &str| super::corrupt(what, value);
        let source = ZoneSource::parse(&self.timezone_source)
            .ok_or_else(|| corrupt("timezone_source", &self.timezone_source))?;
        let zone = Zone::parse(&self.timezone, "timezone")
            .map_err(|_| corrupt("timezone", &self.timezone))?;
        let region = self
            .region
            .as_deref()
            .map(|r| Region::parse(r, "region").map_err(|_| corrupt("region", r)))
            .transpose()?;
        Ok(Location::locate(
            &PhoneNumber::from_trusted(self.phone.clone()),
            source.is_stated().then_some((&zone, source)),
            region.as_ref(),
        ))
    }
}

/// What the guard does with one due callback.
enum Verdict {
    Dial,
    /// The number is on the do-not-call list, or lacks consent: never dialled.
    Skip(Outcome),
    /// Moved to when every rule that lifts in time has lifted.
    Defer(Timestamp, Vec<Block>),
    /// No instant will do (the window never opens in every zone of the number).
    Expire(Block),
    /// Held back by pacing (or a paused campaign): stays due for a later claim.
    Hold,
}

/// Turns a decision about a due call into what to do with it.
fn verdict(
    decision: &Decision,
    facts: &Facts<'_>,
    settings: &AccountSettings,
    at: Timestamp,
) -> Verdict {
    if decision.may_dial() {
        return Verdict::Dial;
    }
    if decision.blocked_by(BlockCode::Dnc).is_some() {
        return Verdict::Skip(Outcome::SkippedDnc);
    }
    if decision.blocked_by(BlockCode::NoConsent).is_some() {
        return Verdict::Skip(Outcome::SkippedNoConsent);
    }
    match earliest_dial(facts, settings, at) {
        // Only blocks an event lifts (pacing, a paused campaign, no free agent).
        Ok(t) if t <= at => Verdict::Hold,
        Ok(t) => Verdict::Defer(
            t,
            decision
                .blocks
                .iter()
                .filter(|b| b.until.is_some())
                .cloned()
                .collect(),
        ),
        Err(block) if block.code == BlockCode::Dnc => Verdict::Skip(Outcome::SkippedDnc),
        Err(block) if block.code == BlockCode::NoConsent => {
            Verdict::Skip(Outcome::SkippedNoConsent)
        }
        Err(block) => Verdict::Expire(block),
    }
}

/// Filters the due rows down to those that may be dialled (or offered) now; skips, defers and
/// expires the others (writing their events) and leaves the ones held back by pacing for a
/// later claim. Each fact costs a query only when some row or account could need it.
pub(super) async fn guard_due(
    conn: &mut DbConn,
    ring: &KeyRing,
    due: Vec<DueRow>,
    now: Timestamp,
) -> Result<Vec<DueRow>, StoreError> {
    if due.is_empty() {
        return Ok(due);
    }

    let numbers: Vec<(&str, &str)> = due
        .iter()
        .map(|r| (r.account_id.as_str(), r.phone.as_str()))
        .collect();
    let on_dnc = super::dnc::listed(conn, ring, &numbers).await?;
    let consents = consent_states(conn, ring, &numbers).await?;

    let accounts: Vec<&str> = due
        .iter()
        .map(|r| r.account_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let settings = settings_of(conn, &accounts).await?;
    let default_settings = AccountSettings::default();
    let campaign_ids: Vec<&str> = due
        .iter()
        .filter_map(|r| r.campaign_id.as_deref())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // Caps, quiet periods and campaign pacing count across rows other claims and writes
    // change: read them, and act on them, holding the write lock.
    if settings.values().any(needs_history) || !campaign_ids.is_empty() {
        lock_writes(conn).await?;
    }
    let mut campaigns = campaign_facts(conn, &campaign_ids).await?;

    let mut dial = Vec::with_capacity(due.len());
    let mut skipped = Vec::new();
    let mut deferred: Vec<(String, Timestamp, Vec<Block>)> = Vec::new();
    let mut expired: Vec<(String, Block)> = Vec::new();
    let no_history = History::default();
    // The evidence of the calls refused (do-not-call, consent): account, number, callback.
    let mut refused: Vec<(String, String, String, serde_json::Value)> = Vec::new();
    for mut row in due {
        let policy = settings.get(&row.account_id).unwrap_or(&default_settings);
        // A callback claimed ahead of its time is judged at its time.
        let at = now.max(ts(row.due_at)?);
        let location = row.location()?;
        let window: Option<CallingWindow> = row
            .calling_window
            .as_deref()
            .map(window_from_text)
            .transpose()?;
        let metadata: Option<serde_json::Map<String, serde_json::Value>> = row
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok());
        let attempt = row.attempt as u32;
        let attempt_open = row.attempt_open != 0;
        let book = if needs_history(policy) {
            history(
                conn,
                &row.account_id,
                &row.phone,
                debt_ref(metadata.as_ref()),
                cap_since(policy, at),
                attempt_open.then_some((row.id.as_str(), attempt)),
            )
            .await?
        } else {
            no_history.clone()
        };
        let facts = Facts {
            status: Status::Scheduled,
            due_at: ts(row.due_at)?,
            attempt,
            attempt_open,
            campaign: row
                .campaign_id
                .as_deref()
                .and_then(|c| campaigns.get(c).copied()),
            dialing_mode: DialingMode::parse(&row.dialing_mode)
                .ok_or_else(|| super::corrupt("dialing_mode", &row.dialing_mode))?,
            window: window.as_ref(),
            location: &location,
            on_dnc: on_dnc.contains(&(row.account_id.to_string(), row.phone.to_string())),
            consent: consents
                .get(&(row.account_id.clone(), row.phone.clone()))
                .copied()
                .unwrap_or_default(),
            history: &book,
            free_agents: None,
        };
        let decision = decide(&facts, policy, at);
        let verdict = verdict(&decision, &facts, policy, at);
        if matches!(verdict, Verdict::Dial | Verdict::Skip(_)) {
            let content = json!({
                "callback_id": row.id,
                "decision": evidence(&facts, policy, &decision),
            });
            if matches!(verdict, Verdict::Dial) {
                row.evidence = Some(content);
            } else {
                refused.push((
                    row.account_id.clone(),
                    row.phone.clone(),
                    row.id.clone(),
                    content,
                ));
            }
        }
        match verdict {
            Verdict::Dial => {
                if let Some(c) = row
                    .campaign_id
                    .as_deref()
                    .and_then(|c| campaigns.get_mut(c))
                    && let Some(room) = c.room.as_mut()
                {
                    *room -= 1;
                }
                dial.push(row);
            }
            Verdict::Skip(outcome) => skipped.push((row.id, outcome)),
            Verdict::Defer(until, blocks) => deferred.push((row.id, until, blocks)),
            Verdict::Expire(block) => expired.push((row.id, block)),
            Verdict::Hold => {}
        }
    }

    let refusals: Vec<(&str, &str, AuditRecord)> = refused
        .iter()
        .map(|(account, phone, id, content)| {
            (
                account.as_str(),
                phone.as_str(),
                dial_record("dial.refused", id, content),
            )
        })
        .collect();
    insert_audit_about_many(conn, ring, &Actor::System, now, &refusals).await?;
    let mut events = Vec::new();
    for (id, outcome) in &skipped {
        events.extend(skip(conn, id, *outcome, now).await?.map(|(_, event)| event));
    }
    for (id, until, blocks) in &deferred {
        if let Some(cb) = defer(conn, id, *until, now).await? {
            events.push(deferred_event(&cb, *until, blocks, now));
        }
    }
    for (id, block) in &expired {
        if let Some(cb) = expire(conn, id, now).await? {
            events.push(expired_event(&cb, block, now));
        }
    }
    insert_events(conn, &events).await?;
    Ok(dial)
}

/// The audit entry of a dial decision about callback `id`: `dial.allowed` (the attempt it
/// starts) or `dial.refused`.
pub(super) fn dial_record(
    action: &'static str,
    id: &str,
    content: &serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "callback",
        resource_id: Some(id.to_owned()),
        changes: content.clone(),
    }
}

/// The attempts that `rows` start (`dial.allowed`), or the offers to agents they join the line
/// for (`offer.allowed`): one entry each, with the evidence its decision rested on, keyed by
/// the number's salted hash.
pub(super) async fn record_dial_evidence(
    conn: &mut DbConn,
    ring: &KeyRing,
    rows: &[&DueRow],
    action: &'static str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let items: Vec<(&str, &str, AuditRecord)> = rows
        .iter()
        .filter_map(|row| {
            let content = row.evidence.as_ref()?;
            Some((
                row.account_id.as_str(),
                row.phone.as_str(),
                dial_record(action, &row.id, content),
            ))
        })
        .collect();
    insert_audit_about_many(conn, ring, &Actor::System, now, &items).await
}

/// Never dials a callback whose number is on the do-not-call list, or lacks consent: canceled,
/// with an attempt recorded as `skipped_dnc` (or `skipped_no_consent`).
async fn skip(
    conn: &mut DbConn,
    id: &str,
    outcome: Outcome,
    now: Timestamp,
) -> Result<Option<(Callback, NewEvent)>, StoreError> {
    let row = sqlx::query(&format!(
        "UPDATE callbacks SET {}, outcome = '{}', attempt_open = 0, \
         attempt = attempt + 1, reminder_at = NULL, agent_id = NULL, offer_expires_at = NULL, \
         version = version + 1, updated_at = $1 \
         WHERE id = $2 AND {} RETURNING {CALLBACK_COLUMNS}",
        moves::set(Move::Cancel),
        outcome.as_str(),
        moves::from(Move::Cancel),
    ))
    .bind(ms(now))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let cb = callback_from_row(&row)?;
    sqlx::query(
        "INSERT INTO calls (callback_id, number, account_id, started_at, \
         bridge_requests, resends, outcome, ended_at) VALUES ($1, $2, $3, $4, 0, 0, $5, $6) \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(i64::from(cb.attempt))
    .bind(cb.account_id.as_str())
    .bind(ms(now))
    .bind(outcome.as_str())
    .bind(ms(now))
    .execute(&mut *conn)
    .await?;
    let reason = match outcome {
        Outcome::SkippedNoConsent => "no_consent",
        _ => "dnc",
    };
    let event = NewEvent::about(
        &cb,
        "callback.skipped",
        now,
        json!({ "reason": reason, "attempt": cb.attempt }),
    );
    Ok(Some((cb, event)))
}

/// Moves a scheduled (or waiting) callback to `until`, keeping the span between its due time
/// and its deadline.
pub(super) async fn defer(
    conn: &mut DbConn,
    id: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<Option<Callback>, StoreError> {
    let row = sqlx::query(&format!(
        "UPDATE callbacks SET {}, due_at = $1, expires_at = CASE \
         WHEN expires_at > $2 + (expires_at - due_at) THEN expires_at \
         ELSE $2 + (expires_at - due_at) END, agent_id = NULL, offer_expires_at = NULL, \
         version = version + 1, updated_at = $3 WHERE id = $4 \
         AND {} RETURNING {CALLBACK_COLUMNS}",
        moves::set(Move::Edit),
        moves::from(Move::Edit),
    ))
    .bind(ms(until))
    .bind(ms(until))
    .bind(ms(now))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(callback_from_row).transpose()
}

/// `callback.deferred`: the first rule that moved it (`rule`, `reason`), every rule that did
/// (`blocked_by`), and when it will be tried again (`until`).
pub(super) fn deferred_event(
    cb: &Callback,
    until: Timestamp,
    blocks: &[Block],
    now: Timestamp,
) -> NewEvent {
    let first = blocks.first();
    NewEvent::about(
        cb,
        "callback.deferred",
        now,
        json!({
            "rule": first.map(|b| b.code.as_str()),
            "reason": first.map(|b| b.reason.as_str()),
            "until": until.to_string(),
            "blocked_by": blocks.iter().map(block_json).collect::<Vec<_>>(),
        }),
    )
}

/// Ends a callback that no instant will do for.
async fn expire(
    conn: &mut DbConn,
    id: &str,
    now: Timestamp,
) -> Result<Option<Callback>, StoreError> {
    let row = sqlx::query(&format!(
        "UPDATE callbacks SET {}, attempt_open = 0, \
         reminder_at = NULL, agent_id = NULL, offer_expires_at = NULL, version = version + 1, \
         updated_at = $1 WHERE id = $2 AND {} RETURNING {CALLBACK_COLUMNS}",
        moves::set(Move::Expire),
        moves::unstarted(),
    ))
    .bind(ms(now))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(callback_from_row).transpose()
}

fn expired_event(cb: &Callback, block: &Block, now: Timestamp) -> NewEvent {
    NewEvent::about(
        cb,
        "callback.expired",
        now,
        json!({ "reason": "no_calling_window_opening", "rule": block.code.as_str(),
                "detail": block.reason }),
    )
}

/// A block as events and answers show it.
pub(super) fn block_json(block: &Block) -> serde_json::Value {
    json!({
        "rule": block.code.as_str(),
        "reason": block.reason,
        "until": block.until.map(|t| t.to_string()),
    })
}

/// Judges a callback about to be offered to an agent, or accepted by one, at `now`; when a rule
/// stops it, it leaves the agent's hands: back to `scheduled` at the time the rules allow
/// (`callback.deferred`), or canceled (do-not-call) or expired when none will. Answers the
/// callback as it now is and the block, or `None` when the call may go ahead.
pub(super) async fn withhold_if_blocked(
    conn: &mut DbConn,
    ring: &KeyRing,
    cb: &Callback,
    now: Timestamp,
) -> Result<Option<(Callback, Block, NewEvent)>, StoreError> {
    let known = OneFacts::read(conn, ring, cb, now).await?;
    let facts = known.facts(cb);
    let decision = decide(&facts, &known.settings, now);
    let Some(first) = decision.blocks.first().cloned() else {
        return Ok(None);
    };
    Ok(match verdict(&decision, &facts, &known.settings, now) {
        Verdict::Dial | Verdict::Hold => None,
        Verdict::Defer(until, blocks) => {
            defer(conn, cb.id.as_str(), until, now).await?.map(|after| {
                let event = deferred_event(&after, until, &blocks, now);
                (after, first, event)
            })
        }
        Verdict::Skip(outcome) => skip(conn, cb.id.as_str(), outcome, now)
            .await?
            .map(|(after, event)| (after, first, event)),
        Verdict::Expire(block) => expire(conn, cb.id.as_str(), now).await?.map(|after| {
            let event = expired_event(&after, &block, now);
            (after, block, event)
        }),
    })
}
