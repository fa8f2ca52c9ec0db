//! What became of a claimed call: bridge requests counted as they are sent, the bridge's
//! answers, and the outcome reported for the attempt (with the recall it may plan).

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::QueryBuilder;

use super::{
    CALLBACK_COLUMNS, Db, DbConn, ROWS_PER_INSERT, SHOWN_STATUS, SqlStore, begin_claim,
    callbacks::{audit_callback_change, existing_callback},
    events::{NewEvent, insert_events},
    facts,
    feeds::{NewAgentEvent, insert_agent_events},
    line::settle_agent,
    moves, ms,
    rows::callback_from_row,
    ts,
};
use crate::domain::{
    AccountId, Actor, Callback, CallbackId, Outcome, Status,
    callback::{BridgeFailurePlan, Move},
    dialing::{decide, earliest_dial},
    view::DispatchChange,
};
use crate::secrets::KeyRing;
use crate::store::{ChangeError, DispatchReport, DispatchResult, OutcomeReport, StoreError};

/// Where a recall asked for at `at` is placed: the first instant the dial decision lets the
/// next attempt through, with why it moved if it did. `None`: no instant will (the number went
/// on the do-not-call list, or the window never opens), so no recall is made.
async fn plan_recall(
    conn: &mut DbConn,
    ring: &KeyRing,
    before: &Callback,
    at: Timestamp,
    now: Timestamp,
) -> Result<Option<(Timestamp, Option<String>)>, StoreError> {
    let mut next = before.clone();
    next.status = Status::Scheduled;
    next.due_at = at;
    next.attempt_open = false;
    let known = facts::OneFacts::read(conn, ring, &next, now).await?;
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

/// Pushes `<id_col> IN (...) AND (<id_col>, <number_col>) IN (VALUES ...)`: the rows of these
/// `(callback, attempt)` keys. The plain `IN` comes first so SQLite finds them through the
/// primary key; with the row-value `IN` alone it scans the whole table.
pub(super) fn push_attempt_match<'args>(
    qb: &mut QueryBuilder<'args, Db>,
    id_col: &str,
    number_col: &str,
    keys: &[(&'args str, u32)],
) {
    qb.push(format!("{id_col} IN ("));
    let mut sep = qb.separated(", ");
    for (id, _) in keys {
        sep.push_bind(*id);
    }
    qb.push(format!(") AND ({id_col}, {number_col}) IN (VALUES "));
    let mut sep = qb.separated(", ");
    for (id, attempt) in keys {
        sep.push("(")
            .push_bind_unseparated(*id)
            .push_unseparated(", ")
            .push_bind_unseparated(i64::from(*attempt))
            .push_unseparated(")");
    }
    qb.push(")");
}

/// Pushes the match of the attempt rows whose open claim is one of these
/// `(callback, attempt, claim)` keys: the answer of a claim taken over is not its successor's.
fn push_claim_match<'args>(qb: &mut QueryBuilder<'args, Db>, keys: &[(&'args str, u32, u32)]) {
    let pairs: Vec<(&str, u32)> = keys.iter().map(|(id, n, _)| (*id, *n)).collect();
    qb.push("open_claim = 1 AND ");
    push_attempt_match(qb, "callback_id", "number", &pairs);
    qb.push(" AND (callback_id, number, claims) IN (VALUES ");
    let mut sep = qb.separated(", ");
    for (id, attempt, claim) in keys {
        sep.push("(")
            .push_bind_unseparated(*id)
            .push_unseparated(", ")
            .push_bind_unseparated(i64::from(*attempt))
            .push_unseparated(", ")
            .push_bind_unseparated(i64::from(*claim))
            .push_unseparated(")");
    }
    qb.push(")");
}

/// Counts the answered request of a claim (and its resend) and closes the claim.
const COUNT_ANSWERED: &str = "bridge_requests = bridge_requests + 1, answered = answered + 1, \
     resends = resends + claim_resend, open_claim = 0";

/// How [`close_claim`] closes a claim.
#[derive(Clone, Copy)]
enum Closing {
    /// Its request was never sent: closed uncounted.
    Unsent,
    /// The bridge answered it (with a refusal or no status): counted, its status kept.
    Answered,
}

/// Closes the claim a report is about, if it is still open (neither answered nor taken over):
/// whether it was. The call's lease ends with it.
async fn close_claim(
    conn: &mut DbConn,
    r: &DispatchReport,
    closing: Closing,
) -> Result<bool, StoreError> {
    let set = match closing {
        Closing::Unsent => "open_claim = 0".to_owned(),
        Closing::Answered => format!("last_bridge_status = $4, {COUNT_ANSWERED}"),
    };
    let sql = format!(
        "UPDATE calls SET {set}, lease_expires_at = NULL \
         WHERE callback_id = $1 AND number = $2 AND claims = $3 AND open_claim = 1"
    );
    let mut query = sqlx::query(&sql)
        .bind(r.callback_id.as_str())
        .bind(i64::from(r.attempt))
        .bind(i64::from(r.claim));
    if let Closing::Answered = closing {
        query = query.bind(r.bridge_status.map(i64::from));
    }
    Ok(query.execute(conn).await?.rows_affected() == 1)
}

impl SqlStore {
    pub(super) async fn record_dispatches(
        &self,
        reports: &[DispatchReport],
    ) -> Result<(), StoreError> {
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

        // Accepted dispatches, in bulk: the common case at high rates. Only the call is
        // written; the callback reads as `in_progress` from it.
        let mut started: Vec<Started> = Vec::new();
        for chunk in accepted.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("UPDATE calls SET last_bridge_status = COALESCE(");
            // One status per statement is enough: bridges answer 200/201/202 consistently.
            qb.push_bind(chunk[0].bridge_status.map(i64::from))
                .push(format!(
                    ", last_bridge_status), {COUNT_ANSWERED}, lease_expires_at = NULL, \
                     accepted_at = COALESCE(accepted_at, "
                ))
                .push_bind(ms(chunk[0].at))
                .push(") WHERE ");
            let claims: Vec<(&str, u32, u32)> = chunk
                .iter()
                .map(|r| (r.callback_id.as_str(), r.attempt, r.claim))
                .collect();
            push_claim_match(&mut qb, &claims);
            qb.push(" RETURNING callback_id");
            let answered: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
            if answered.is_empty() {
                continue;
            }
            // Only what the `callback.started` event stores (the rest of the callback is
            // rendered from its earlier events when the event is read).
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT id, account_id, attempt, updated_at, version, webhook_url FROM callbacks \
                 WHERE {SHOWN_STATUS} = 'in_progress' AND id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in &answered {
                sep.push_bind(id.as_str());
            }
            qb.push(")");
            started.extend(qb.build_query_as::<Started>().fetch_all(&mut *tx).await?);
        }
        // A provider's id of the call (a `CallSid`, a vendor's call id) is stored with its
        // acceptance, so a resend finds the call instead of placing another.
        for r in accepted.iter().filter(|r| r.provider_call_id.is_some()) {
            sqlx::query(
                "UPDATE calls SET provider_call_id = $1, \
                 leg_state = COALESCE(leg_state, 'initiated') \
                 WHERE callback_id = $2 AND number = $3 AND claims = $4",
            )
            .bind(r.provider_call_id.as_deref())
            .bind(r.callback_id.as_str())
            .bind(i64::from(r.attempt))
            .bind(i64::from(r.claim))
            .execute(&mut *tx)
            .await?;
        }
        let at_by_id: HashMap<&str, &DispatchReport> = accepted
            .iter()
            .map(|r| (r.callback_id.as_str(), *r))
            .collect();
        for cb in &started {
            let r = at_by_id[cb.id.as_str()];
            events.push(cb.event(r)?);
        }

        // Claims whose request was never sent (the scheduler could not send it in time): the
        // claim is closed uncounted and the callback handed back, unless it was taken over.
        for r in failed
            .iter()
            .filter(|r| matches!(r.result, DispatchResult::NotSent))
        {
            if !close_claim(&mut tx, r, Closing::Unsent).await? {
                continue;
            }
            sqlx::query(&format!(
                "UPDATE callbacks SET {}, version = version + 1, updated_at = $1 \
                 WHERE id = $2 AND attempt = $3 AND {}",
                moves::set(Move::Retry),
                moves::claimed(),
            ))
            .bind(ms(r.at))
            .bind(r.callback_id.as_str())
            .bind(i64::from(r.attempt))
            .execute(&mut *tx)
            .await?;
            earliest_retry = Some(earliest_retry.map_or(r.at, |e| e.min(r.at)));
        }

        // Refused or unanswered dispatches: retry later or give up.
        let mut failed_rows: Vec<(Callback, &DispatchReport, &'static str)> = Vec::new();
        for r in &failed {
            let DispatchResult::Failed { plan, .. } = &r.result else {
                continue;
            };
            let (step, close, kind) = match plan {
                BridgeFailurePlan::RetryAt(at) => {
                    earliest_retry = Some(earliest_retry.map_or(*at, |e| e.min(*at)));
                    (Move::Retry, "", "callback.dispatch_failed")
                }
                BridgeFailurePlan::Expire => {
                    (Move::Expire, "attempt_open = 0, ", "callback.expired")
                }
            };
            // The answer closes this claim's call, unless the claim was taken over; then
            // the callback is handed back or expired.
            if !close_claim(&mut tx, r, Closing::Answered).await? {
                continue;
            }
            let sql = format!(
                "UPDATE callbacks SET {}, due_at = $1, {close}version = version + 1, \
                 updated_at = $2 WHERE id = $3 AND attempt = $4 AND {} \
                 RETURNING {CALLBACK_COLUMNS}",
                moves::set(step),
                moves::claimed(),
            );
            let due = match plan {
                BridgeFailurePlan::RetryAt(at) => ms(*at),
                BridgeFailurePlan::Expire => ms(r.at),
            };
            let row = sqlx::query(&sql)
                .bind(due)
                .bind(ms(r.at))
                .bind(r.callback_id.as_str())
                .bind(i64::from(r.attempt))
                .fetch_optional(&mut *tx)
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
            events.push(NewEvent::dispatch(
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

    pub(super) async fn record_outcome(
        &self,
        account: &AccountId,
        id: &CallbackId,
        report: &OutcomeReport,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let mut tx = self.begin_write().await?;
        let ended = self
            .outcome_in(&mut tx, account, id, report, None, now, actor)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(self.after_outcome(ended))
    }

    /// Raises what an outcome committed by [`SqlStore::outcome_in`] changes.
    pub(super) fn after_outcome(&self, ended: Ended) -> Callback {
        let Ended {
            cb,
            had_agent,
            recalled,
            feed,
        } = ended;
        self.events.notify();
        if had_agent {
            self.routing.notify();
        }
        if recalled {
            self.wake_for(&cb);
        }
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        cb
    }

    /// Records the outcome of callback `id`'s current attempt in `tx`, with what its provider
    /// reported (`provider`: kept on the call and shown in the event), planning a recall where
    /// the policy wants one. The caller commits, then calls [`SqlStore::after_outcome`].
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn outcome_in(
        &self,
        tx: &mut DbConn,
        account: &AccountId,
        id: &CallbackId,
        report: &OutcomeReport,
        provider: Option<&serde_json::Value>,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Ended, ChangeError> {
        let before = existing_callback(tx, account, id).await?;
        let (status, attempt) = (before.status, before.attempt);
        if !status.accepts_outcome() {
            return Err(ChangeError::InvalidState(status));
        }
        // Not answered, with a recall left: the next attempt, where the dial decision lets
        // it through (calling window, attempt cap, quiet period).
        let earlier_same: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM calls WHERE callback_id = $1 AND number < $2 \
             AND outcome = $3",
        )
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .bind(report.outcome.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        // Recall delays count from the attempt's call time (when it was sent or started),
        // however late its outcome is reported.
        let called_at: Option<i64> = sqlx::query_scalar(
            "SELECT started_at FROM calls WHERE callback_id = $1 AND number = $2",
        )
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let called_at = called_at.map(ts).transpose()?.unwrap_or(now);
        // A final disposition ends the callback, whatever the policy says.
        let next_attempt = before
            .recall
            .next_attempt(attempt, report.outcome, earlier_same as u32, called_at)
            .filter(|_| report.allows_recall());
        let recall = match next_attempt {
            Some(at) => plan_recall(tx, &self.ring(), &before, at.max(now), now).await?,
            None => None,
        };
        // The domain decides the move; the statement persists it if the status it was decided
        // from still holds.
        let step = match recall {
            Some(_) => Move::Recall,
            None => Move::Report(report.outcome),
        };
        let next = status
            .after(step)
            .ok_or(ChangeError::InvalidState(status))?;
        // A call the dialer accepted reads as `in_progress` while it is stored `dispatching`.
        let held = moves::stored_as(status);
        let recall_sql = format!(
            "UPDATE callbacks SET status = $1, due_at = $2, expires_at = $3, \
             attempt_open = 0, agent_id = NULL, offer_expires_at = NULL, \
             updated_at = $4, version = version + 1 \
             WHERE id = $5 AND account_id = $6 AND {held}"
        );
        let end_sql = format!(
            "UPDATE callbacks SET status = $1, outcome = $2, attempt_open = 0, \
             reminder_at = NULL, updated_at = $3, version = version + 1 \
             WHERE id = $4 AND account_id = $5 AND {held}"
        );
        let moved = match &recall {
            Some(next_at) => sqlx::query(&recall_sql)
                .bind(next.as_str())
                .bind(ms(next_at.0))
                .bind(ms(Callback::deadline(
                    next_at.0,
                    before.expire_after_minutes,
                )))
                .bind(ms(now))
                .bind(id.as_str())
                .bind(account.as_str()),
            None => sqlx::query(&end_sql)
                .bind(next.as_str())
                .bind(report.outcome.as_str())
                .bind(ms(now))
                .bind(id.as_str())
                .bind(account.as_str()),
        }
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if moved.rows_affected() == 0 {
            return Err(ChangeError::InvalidState(status));
        }
        sqlx::query(
            "UPDATE calls SET outcome = $1, duration_seconds = $2, notes = $3, ended_at = $4, \
             lease_expires_at = NULL, sip_code = $5, sip_reason = $6, recording_ref = $7, \
             answered_by = $8, provider_details = COALESCE($9, provider_details) \
             WHERE callback_id = $10 AND number = $11",
        )
        .bind(report.outcome.as_str())
        .bind(report.duration_seconds.map(i64::from))
        .bind(&report.notes)
        .bind(ms(now))
        .bind(report.sip_code.map(i64::from))
        .bind(&report.sip_reason)
        .bind(&report.recording)
        .bind(report.answered_by)
        .bind(provider.map(|p| p.to_string()))
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        // The attempt keeps its disposition; the callback shows its latest one.
        if report.disposition.is_some() || before.disposition.is_some() {
            let code = report.disposition.as_ref().map(|d| d.code.as_str());
            sqlx::query("UPDATE calls SET disposition = $1 WHERE callback_id = $2 AND number = $3")
                .bind(code)
                .bind(id.as_str())
                .bind(i64::from(attempt))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            sqlx::query("UPDATE callbacks SET disposition = $1 WHERE id = $2 AND account_id = $3")
                .bind(code)
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        // The number's contact learns what the network said of it.
        let invalid = match report.outcome {
            Outcome::InvalidNumber => Some(Some(ms(now))),
            Outcome::Answered => Some(None),
            _ => None,
        };
        if let Some(invalid_at) = invalid {
            sqlx::query(
                "UPDATE contacts SET phone_invalid_at = $1 \
                 WHERE account_id = $2 AND phone = $3",
            )
            .bind(invalid_at)
            .bind(account.as_str())
            .bind(before.phone.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        let kind = match (&recall, next) {
            (Some(_), _) => "callback.recall_scheduled",
            (None, Status::Completed) => "callback.completed",
            (None, _) => "callback.failed",
        };
        let cb = existing_callback(tx, account, id).await?;
        let mut details = serde_json::json!({
            "attempt": attempt,
            "outcome": report.outcome.as_str(),
            "duration_seconds": report.duration_seconds,
            "next_attempt_at": recall.as_ref().map(|n| n.0.to_string()),
            "moved": recall.as_ref().and_then(|n| n.1.clone()),
        });
        if let Some(provider) = provider {
            details["provider_details"] = provider.clone();
        }
        if let Some(d) = &report.disposition {
            details["disposition"] = d.code.as_str().into();
        }
        insert_events(tx, &[NewEvent::between(&before, &cb, kind, now, details)]).await?;
        audit_callback_change(tx, account, actor, now, "callback.outcome", &before, &cb).await?;
        // The agent who had the call is free again.
        let mut feed = Vec::new();
        if let Some(agent) = &before.agent_id {
            feed.extend(settle_agent(tx, account.as_str(), agent.as_str(), now).await?);
            insert_agent_events(tx, &feed).await?;
        }
        Ok(Ended {
            cb,
            had_agent: before.agent_id.is_some(),
            recalled: recall.is_some(),
            feed,
        })
    }
}

/// An outcome written and not yet committed: what to raise once it is.
pub(super) struct Ended {
    cb: Callback,
    had_agent: bool,
    recalled: bool,
    feed: Vec<NewAgentEvent>,
}

/// What the `callback.started` event of an accepted dispatch needs of its callback.
#[derive(sqlx::FromRow)]
struct Started {
    id: String,
    account_id: String,
    attempt: i64,
    updated_at: i64,
    version: i64,
    webhook_url: Option<String>,
}

impl Started {
    /// The event: the fields of a [`DispatchChange`] as an `in_progress` callback shows them.
    fn event(&self, r: &DispatchReport) -> Result<NewEvent, StoreError> {
        let change = DispatchChange {
            status: Status::InProgress.as_str(),
            attempt_count: u32::try_from(self.attempt).unwrap_or(u32::MAX),
            next_attempt_at: None,
            effective_dial_at: None,
            updated_at: ts(self.updated_at)?.to_string(),
        };
        Ok(NewEvent {
            account_id: self.account_id.clone(),
            resource_type: "callback",
            resource_id: self.id.clone(),
            kind: "callback.started",
            at: r.at,
            data: serde_json::json!({
                "attempt": r.attempt,
                "bridge_status": r.bridge_status,
            })
            .to_string(),
            changes: serde_json::to_string(&change).ok(),
            version: Some(self.version),
            webhook_url: self.webhook_url.clone(),
        })
    }
}
