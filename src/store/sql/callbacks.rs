//! Reading and changing one account's callbacks: get, list, attempts, update, cancel (one, or
//! in bulk), and the counts by state.

use std::collections::HashSet;

use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    ASSIGNEE_ROWS, CALLBACK_COLUMNS, Db, DbConn, SHOWN_STATUS, SqlStore,
    audit::{callback_audit, insert_audit},
    corrupt,
    events::{NewEvent, insert_events},
    feeds::{NewAgentEvent, insert_agent_events, tell_recipients},
    line::{enter_line, leave_line, leave_routing},
    moves, ms, opt_ts, read_snapshot,
    rows::{callback_from_row, fetch_callback, stored_source},
    ts,
};
use crate::domain::{
    AccountId, Actor, Attempt, Callback, CallbackId, DialingMode, Outcome, PhoneNumber, Status,
    callback::Move,
    ids::CampaignId,
    routing::{AgentEventKind, WithdrawReason},
};
use crate::store::{CallbackChanges, ChangeError, ListFilter, StoreError};

/// Appends the `WHERE` clause of `filter` for `account`: all but its assignee (which the
/// caller reads, see [`push_assignee`]) and its cursor.
pub(super) fn push_filter(qb: &mut QueryBuilder<'_, Db>, account: &AccountId, filter: &ListFilter) {
    qb.push(" WHERE account_id = ")
        .push_bind(account.as_str().to_owned());
    if let Some(phone) = &filter.phone {
        qb.push(" AND phone = ")
            .push_bind(phone.as_str().to_owned());
    }
    if let Some(status) = filter.status {
        qb.push(format!(" AND {}", moves::reads_as(status)));
    }
    if !filter.states.is_empty() {
        let cases: Vec<String> = filter.states.iter().map(state_condition).collect();
        qb.push(format!(" AND ({})", cases.join(" OR ")));
    }
    if let Some(campaign) = &filter.campaign {
        qb.push(" AND campaign_id = ")
            .push_bind(campaign.as_str().to_owned());
    }
    if let Some(origin) = filter.origin {
        qb.push(" AND origin = ").push_bind(origin.as_str());
    }
    if let Some(from) = filter.scheduled_from {
        qb.push(" AND scheduled_at >= ").push_bind(ms(from));
    }
    if let Some(to) = filter.scheduled_to {
        qb.push(" AND scheduled_at < ").push_bind(ms(to));
    }
}

/// The SQL condition of one [`StateFilter`] (only fixed names and numbers go into it).
fn state_condition(state: &crate::store::StateFilter) -> String {
    let mut parts = Vec::new();
    if !state.statuses.is_empty() {
        let any: Vec<String> = state.statuses.iter().map(|s| moves::reads_as(*s)).collect();
        parts.push(format!("({})", any.join(" OR ")));
    }
    match state.attempted {
        Some(true) => parts.push("attempt > 0".to_owned()),
        Some(false) => parts.push("attempt = 0".to_owned()),
        None => {}
    }
    if let Some((among, outcomes)) = &state.outcomes {
        let list: Vec<String> = outcomes
            .iter()
            .map(|o| format!("'{}'", o.as_str()))
            .collect();
        let list = list.join(", ");
        parts.push(if *among {
            format!("outcome IN ({list})")
        } else {
            format!("(outcome IS NULL OR outcome NOT IN ({list}))")
        });
    }
    if parts.is_empty() {
        "TRUE".to_owned()
    } else {
        format!("({})", parts.join(" AND "))
    }
}

/// Appends the condition that `assignee` is among a callback's assignees.
pub(super) fn push_assignee(qb: &mut QueryBuilder<'_, Db>, assignee: &str) {
    qb.push(format!(
        " AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = "
    ))
    .push_bind(assignee.to_owned())
    .push(")");
}

/// The callback a change is about, read in the change's transaction; `NotFound` when the
/// account has no callback with this id.
pub(super) async fn existing_callback(
    conn: &mut DbConn,
    account: &AccountId,
    id: &CallbackId,
) -> Result<Callback, ChangeError> {
    fetch_callback(conn, account, id)
        .await?
        .ok_or(ChangeError::NotFound)
}

/// Appends the audit entry of a change to a callback (in the caller's transaction).
pub(super) async fn audit_callback_change(
    conn: &mut DbConn,
    account: &AccountId,
    actor: &Actor,
    now: Timestamp,
    action: &'static str,
    before: &Callback,
    after: &Callback,
) -> Result<(), StoreError> {
    let record = callback_audit(action, Some(before), after);
    insert_audit(conn, account.as_str(), actor, now, &[record]).await
}

impl SqlStore {
    pub(super) async fn get_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Option<Callback>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_callback(&mut conn, account, id).await
    }

    pub(super) async fn callback_attempts(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<Attempt>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        attempts_on(&mut conn, account, id).await
    }

    /// A callback with its attempts and history, read in one snapshot (so the three parts
    /// agree even while the callback changes).
    pub(super) async fn callback_detail(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Option<(Callback, Vec<Attempt>, Vec<crate::domain::CallbackEvent>)>, StoreError>
    {
        let mut tx = self.reader.begin().await?;
        read_snapshot(&mut tx).await?;
        let Some(cb) = fetch_callback(&mut tx, account, id).await? else {
            return Ok(None);
        };
        let attempts = attempts_on(&mut tx, account, id).await?;
        let history = super::events::history_on(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(Some((cb, attempts, history)))
    }
}

/// A callback's attempts, in order.
pub(super) async fn attempts_on(
    conn: &mut DbConn,
    account: &AccountId,
    id: &CallbackId,
) -> Result<Vec<Attempt>, StoreError> {
    {
        let rows = sqlx::query(
            "SELECT number, started_at, bridge_requests, resends, last_bridge_status, accepted_at, \
             outcome, duration_seconds, notes, ended_at, agent_id, sip_code, sip_reason, \
             recording_ref IS NOT NULL AS recorded, answered_by, provider_call_id, leg_state, \
             provider_details, disposition, caller_id FROM calls \
             WHERE callback_id = $1 AND account_id = $2 ORDER BY number",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let outcome: Option<String> = r.try_get("outcome")?;
                let number = r.try_get::<i64, _>("number")? as u32;
                Ok(Attempt {
                    number,
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
                    disposition: r.try_get("disposition")?,
                    duration_seconds: r
                        .try_get::<Option<i64>, _>("duration_seconds")?
                        .map(|d| d as u32),
                    notes: r.try_get("notes")?,
                    ended_at: opt_ts(r.try_get("ended_at")?)?,
                    agent_id: r.try_get("agent_id")?,
                    caller_id: r.try_get("caller_id")?,
                    sip_code: r.try_get::<Option<i64>, _>("sip_code")?.map(|c| c as u16),
                    sip_reason: r.try_get("sip_reason")?,
                    answered_by: r.try_get("answered_by")?,
                    recording_url: r
                        .try_get::<bool, _>("recorded")?
                        .then(|| Attempt::recording_url(id, number)),
                    provider_call_id: r.try_get("provider_call_id")?,
                    leg_state: r.try_get("leg_state")?,
                    provider_details: r
                        .try_get::<Option<String>, _>("provider_details")?
                        .and_then(|text| serde_json::from_str(&text).ok()),
                })
            })
            .collect()
    }
}

impl SqlStore {
    pub(super) async fn list_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
    ) -> Result<Vec<Callback>, StoreError> {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {CALLBACK_COLUMNS} FROM callbacks"));
        push_filter(&mut qb, account, filter);
        match filter.assignee.as_deref() {
            // Callbacks nobody in particular is to take (never assigned, or whose assignees
            // were all deleted).
            Some("unassigned") => {
                qb.push(" AND assignees IS NULL");
            }
            Some(assignee) => push_assignee(&mut qb, assignee),
            None => {}
        }
        if let Some(before) = &filter.before {
            qb.push(" AND id < ").push_bind(before.as_str().to_owned());
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(callback_from_row).collect()
    }

    pub(super) async fn update_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        changes: &CallbackChanges,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let mut tx = self.begin_write().await?;
        let mut cb = existing_callback(&mut tx, account, id).await?;
        let before = cb.clone();
        if cb.after(Move::Edit).is_none() {
            return Err(ChangeError::InvalidState(cb.status));
        }
        let mut changed = Vec::new();
        let rescheduled = changes.scheduled_at.is_some();
        let reassigned = changes.assignment.is_some();
        let mut feed = Vec::new();
        if before.status == Status::Scheduled
            && before.agent_id.is_some()
            && (rescheduled || reassigned)
        {
            // A progressive callback's reserved agent is released: it lines up again at its
            // new time (or for its new assignees).
            cb.agent_id = None;
        }
        if before.status != Status::Scheduled && (rescheduled || reassigned) {
            let reason = if rescheduled {
                WithdrawReason::Rescheduled
            } else {
                WithdrawReason::Reassigned
            };
            feed.extend(leave_routing(&mut tx, &before, reason, now).await?);
            cb.agent_id = None;
            cb.offer_expires_at = None;
            // A new time starts it over (`scheduled`); new assignees take back an offer (the
            // callback waits in line again for one of them).
            let step = if rescheduled {
                Move::Edit
            } else {
                Move::Withdraw
            };
            cb.status = before.after(step).unwrap_or(before.status);
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
        if let Some(priority) = changes.priority {
            cb.priority = priority;
            changed.push("priority");
        }
        if let Some(skills) = &changes.skills {
            cb.skills = skills.clone();
            changed.push("skills");
        }
        cb.updated_at = now;
        cb.version += 1;
        sqlx::query(
            "UPDATE callbacks SET status = $1, agent_id = $2, offer_expires_at = $3, \
             reminder_at = CASE WHEN $4 THEN $5 ELSE reminder_at END, \
             phone = $6, scheduled_at = $7, due_at = $8, timezone = $9, expires_at = $10, \
             assign_type = $11, assignees = $12, notes = $13, contact_name = $14, metadata = $15, \
             updated_at = $16, timezone_source = $17, version = version + 1, \
             priority = $21, skills = $22 \
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
        .bind(i64::from(cb.priority))
        .bind(cb.skills.stored())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if rescheduled {
            // A new time holds the slot it books, if any, and no other.
            let slot = changes.slot.as_ref();
            sqlx::query(
                "UPDATE callbacks SET slot_start = $1, slot_end = $2 \
                 WHERE id = $3 AND account_id = $4",
            )
            .bind(slot.map(|s| ms(s.start)))
            .bind(slot.map(|s| ms(s.end)))
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            if let Some(slot) = slot
                && super::slots::over_capacity(&mut tx, account, slot).await?
            {
                tx.rollback().await.map_err(StoreError::from)?;
                return Err(ChangeError::SlotFull);
            }
        }
        if cb.status == Status::Waiting {
            // Its place in line follows its priority and skills: placed again.
            leave_line(&mut tx, &[cb.id.as_str()]).await?;
            enter_line(&mut tx, &[&cb]).await?;
        }
        if rescheduled {
            // Its pending reminder is superseded; the customer hears of the new time.
            super::notifications::enqueue_rescheduled(&mut tx, &cb, now).await?;
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
        audit_callback_change(
            &mut tx,
            account,
            actor,
            now,
            "callback.update",
            &before,
            &cb,
        )
        .await?;
        insert_agent_events(&mut tx, &feed).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_for(&cb);
        if before.status != Status::Scheduled || before.agent_id != cb.agent_id {
            self.routing.notify();
        }
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        self.events.notify();
        Ok(cb)
    }

    pub(super) async fn cancel_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let mut tx = self.begin_write().await?;
        let before = existing_callback(&mut tx, account, id).await?;
        let status = before.status;
        let mut feed = Vec::new();
        // Canceling a canceled callback changes nothing; otherwise the domain says whether it
        // may be canceled from where it is.
        if status != Status::Canceled {
            let next = status
                .after(Move::Cancel)
                .ok_or(ChangeError::InvalidState(status))?;
            feed.extend(leave_routing(&mut tx, &before, WithdrawReason::Canceled, now).await?);
            sqlx::query(
                "UPDATE callbacks SET status = $1, attempt_open = 0, agent_id = NULL, \
                 offer_expires_at = NULL, reminder_at = NULL, updated_at = $2, \
                 version = version + 1 WHERE id = $3 AND account_id = $4 AND status = $5",
            )
            .bind(next.as_str())
            .bind(ms(now))
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(status.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            // Nothing more is said to the customer about it.
            super::notifications::drop_pending(&mut tx, account, &[id.as_str()]).await?;
        }
        let cb = existing_callback(&mut tx, account, id).await?;
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
            audit_callback_change(
                &mut tx,
                account,
                actor,
                now,
                "callback.cancel",
                &before,
                &cb,
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

    pub(super) async fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT shown, COUNT(*) FROM (SELECT {SHOWN_STATUS} AS shown FROM callbacks) s \
             GROUP BY shown"
        ))
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

/// Which of an account's callbacks a bulk cancel takes.
pub(super) enum Untouched<'a> {
    /// Those to a number (it went on the do-not-call list).
    To(&'a PhoneNumber),
    /// Those to a number placed in one of these modes (consent to them was revoked).
    ToIn(&'a PhoneNumber, &'a [DialingMode]),
    /// Those of a campaign (it was canceled).
    Of(&'a CampaignId),
}

/// Cancels the account's callbacks that nobody has started calling (`scheduled`, `waiting`,
/// `offered`) among `which`, the way a cancel request does (same update, `callback.canceled`
/// event, audit entry and word to the agents concerned), with `reason` in the event. Answers
/// the callbacks canceled and the agents whose feeds were written.
pub(super) async fn cancel_untouched(
    conn: &mut DbConn,
    account: &AccountId,
    which: Untouched<'_>,
    reason: &str,
    now: Timestamp,
    actor: &Actor,
) -> Result<(Vec<CallbackId>, Vec<String>), StoreError> {
    let (column, value, modes) = match which {
        Untouched::To(phone) => ("phone", phone.as_str(), None),
        Untouched::ToIn(phone, modes) => ("phone", phone.as_str(), Some(modes)),
        Untouched::Of(campaign) => ("campaign_id", campaign.as_str(), None),
    };
    let in_modes = match modes {
        None => String::new(),
        Some([]) => return Ok((Vec::new(), Vec::new())),
        Some(modes) => format!(
            " AND dialing_mode IN ({})",
            modes
                .iter()
                .map(|m| format!("'{}'", m.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let rows = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks \
         WHERE account_id = $1 AND {column} = $2 AND {cancelable}{in_modes} ORDER BY id",
        cancelable = moves::from(Move::Cancel),
    ))
    .bind(account.as_str())
    .bind(value)
    .fetch_all(&mut *conn)
    .await?;
    let mut canceled = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    let mut records = Vec::with_capacity(rows.len());
    let mut feed = Vec::new();
    for row in &rows {
        let before = callback_from_row(row)?;
        let Some(next) = before.status.after(Move::Cancel) else {
            continue;
        };
        let done = sqlx::query(
            "UPDATE callbacks SET status = $1, attempt_open = 0, agent_id = NULL, \
             offer_expires_at = NULL, reminder_at = NULL, updated_at = $2, \
             version = version + 1 WHERE id = $3 AND account_id = $4 AND status = $5",
        )
        .bind(next.as_str())
        .bind(ms(now))
        .bind(before.id.as_str())
        .bind(account.as_str())
        .bind(before.status.as_str())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            continue;
        }
        let after = sqlx::query(&format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = $1 AND account_id = $2"
        ))
        .bind(before.id.as_str())
        .bind(account.as_str())
        .fetch_one(&mut *conn)
        .await?;
        let after = callback_from_row(&after)?;
        feed.extend(leave_routing(conn, &before, WithdrawReason::Canceled, now).await?);
        let details = serde_json::json!({ "reason": reason });
        feed.extend(
            tell_recipients(conn, &after, AgentEventKind::Canceled, now, details, None).await?,
        );
        events.push(NewEvent::about(
            &after,
            "callback.canceled",
            now,
            serde_json::json!({ "from": before.status.as_str(), "reason": reason }),
        ));
        records.push(callback_audit("callback.cancel", Some(&before), &after));
        canceled.push(after.id);
    }
    insert_events(conn, &events).await?;
    insert_audit(conn, account.as_str(), actor, now, &records).await?;
    insert_agent_events(conn, &feed).await?;
    let told = feed.iter().map(|e| e.agent().to_owned()).collect();
    Ok((canceled, told))
}
