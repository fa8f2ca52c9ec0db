//! The SQL of routing: routing passes (the line, offers, reminders), answers to offers, and
//! agents' feeds read back. The waiting line and the feeds as other writes touch them live in
//! `line` and `feeds`, the making of offers in `offers`.
//!
//! Everything here runs in write transactions (the single writer connection on SQLite, the
//! cluster-wide write lock on PostgreSQL), so one routing pass sees every agent's load as of
//! its own transaction, whichever node runs it: two offers can never fill the same slot.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use super::{ASSIGNEE_ROWS, Db, DbConn, DbRow};
use jiff::Timestamp;
use serde_json::json;
use sqlx::QueryBuilder;
use tokio::sync::watch;

use super::{
    CALLBACK_COLUMNS, CAMPAIGN_RUNNING, ROWS_PER_STATEMENT, SqlStore,
    audit::{callback_audit, insert_audit},
    events::{NewEvent, insert_events},
    fallback,
    feeds::{NewAgentEvent, insert_agent_events, recipients},
    guard::{DUE_COLUMNS, DueRow, guard_due, record_dial_evidence, withhold_if_blocked},
    line::{enter_line, leave_line, settle_agent},
    moves, ms, opt_ts,
    rows::{callback_from_row, fetch_callback},
    ts,
};
use crate::domain::{
    AccountId, Actor, Callback, CallbackId, Status,
    callback::Move,
    ids::AgentId,
    routing::{AgentEvent, AgentEventKind, RoutingSettings, WithdrawReason},
};
use crate::store::{
    ChangeError, DueSignal, StoreError,
    routing::{OfferAnswer, RoutePass, RoutingStore},
};

/// Every `Callback` of a `RETURNING {CALLBACK_COLUMNS}` answer.
fn callbacks(rows: &[DbRow]) -> Result<Vec<Callback>, StoreError> {
    rows.iter().map(callback_from_row).collect()
}

#[async_trait::async_trait]
impl RoutingStore for SqlStore {
    fn routing_signal(&self) -> Arc<DueSignal> {
        self.routing.clone()
    }

    fn agent_feed(&self, agent: &AgentId) -> watch::Receiver<u64> {
        self.agent_feed.subscribe(agent.as_str())
    }

    async fn route(
        &self,
        now: Timestamp,
        settings: &RoutingSettings,
        limit: u32,
    ) -> Result<RoutePass, StoreError> {
        let now_ms = ms(now);
        let limit_i = i64::from(limit);
        let mut pass = RoutePass::default();
        let mut events: Vec<NewEvent> = Vec::new();
        let mut feed: Vec<NewAgentEvent> = Vec::new();
        let ring = self.ring();
        let mut tx = self.begin_write().await?;

        // Preview and progressive callbacks that fell due join the line (a progressive one waits
        // there for an agent to reserve), if the dial decision lets them: the
        // same guard as a dispatch (do-not-call, attempt cap, quiet period, calling window).
        let due: Vec<DueRow> = sqlx::query_as(&format!(
            "SELECT {DUE_COLUMNS} FROM callbacks WHERE {due} \
             AND dialing_mode IN ('preview', 'progressive') AND agent_id IS NULL \
             AND due_at <= $1 AND {CAMPAIGN_RUNNING} \
             ORDER BY due_at LIMIT $2",
            due = moves::from(Move::Line),
        ))
        .bind(now_ms)
        .bind(limit_i)
        .fetch_all(&mut *tx)
        .await?;
        pass.saturated |= due.len() as u32 >= limit;
        let joining = guard_due(&mut tx, &ring, due, now).await?;
        // Preview callbacks are called by the agent they are offered to: the decision that let
        // them join the line is their attempt's evidence.
        let previews: Vec<&DueRow> = joining
            .iter()
            .filter(|row| row.dialing_mode == "preview")
            .collect();
        record_dial_evidence(&mut tx, &ring, &previews, "offer.allowed", now).await?;
        let mut rows = Vec::with_capacity(joining.len());
        for chunk in joining.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "UPDATE callbacks SET {}, version = version + 1, updated_at = ",
                moves::set(Move::Line)
            ));
            qb.push_bind(now_ms)
                .push(format!(" WHERE {} AND id IN (", moves::from(Move::Line)));
            let mut sep = qb.separated(", ");
            for row in chunk {
                sep.push_bind(row.id.as_str());
            }
            qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
            rows.extend(qb.build().fetch_all(&mut *tx).await?);
        }
        let queued = callbacks(&rows)?;
        enter_line(&mut tx, &queued.iter().collect::<Vec<_>>()).await?;
        events.extend(queued.iter().map(|cb| {
            NewEvent::about(
                cb,
                "callback.waiting",
                now,
                json!({ "lateness_ms": (now_ms - ms(cb.due_at)).max(0) }),
            )
        }));
        pass.queued = queued.len();

        // Personal callbacks their agent has not taken in time (or cannot take today) move to
        // the team, before offers are made.
        let fallen = fallback::fall_back(&mut tx, now, limit_i, &queued).await?;
        pass.reassigned = fallen.count;
        pass.saturated |= fallen.count as u32 >= limit;
        events.extend(fallen.events);
        feed.extend(fallen.feed);

        // Offers that ran out go back in line; their agents are not answering.
        let expiring: Vec<(String, Option<String>)> = sqlx::query_as(&format!(
            "SELECT id, agent_id FROM callbacks WHERE {} \
             AND offer_expires_at <= $1 ORDER BY offer_expires_at LIMIT $2",
            moves::from(Move::Withdraw)
        ))
        .bind(now_ms)
        .bind(limit_i)
        .fetch_all(&mut *tx)
        .await?;
        let holders: HashMap<String, String> = expiring
            .iter()
            .filter_map(|(id, agent)| Some((id.clone(), agent.clone()?)))
            .collect();
        let mut back = Vec::with_capacity(expiring.len());
        for chunk in expiring.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "UPDATE callbacks SET {}, agent_id = NULL, \
                 offer_expires_at = NULL, version = version + 1, updated_at = ",
                moves::set(Move::Withdraw)
            ));
            qb.push_bind(now_ms).push(format!(
                " WHERE {} AND id IN (",
                moves::from(Move::Withdraw)
            ));
            let mut sep = qb.separated(", ");
            for (id, _) in chunk {
                sep.push_bind(id.as_str());
            }
            qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
            back.extend(callbacks(&qb.build().fetch_all(&mut *tx).await?)?);
        }
        pass.timed_out = back.len();
        pass.saturated |= back.len() as u32 >= limit;
        if !back.is_empty() {
            let until = now_ms + settings.reoffer_after.as_millis() as i64;
            let mut away: HashSet<(String, String)> = HashSet::new();
            for cb in &back {
                let holder = holders.get(cb.id.as_str());
                if let Some(agent) = holder {
                    decline(&mut tx, cb.id.as_str(), agent, until).await?;
                    feed.push(NewAgentEvent::about(
                        agent,
                        cb,
                        AgentEventKind::OfferWithdrawn,
                        now,
                        json!({ "reason": WithdrawReason::Timeout.as_str() }),
                    ));
                    away.insert((cb.account_id.as_str().to_owned(), agent.clone()));
                }
                events.push(NewEvent::about(
                    cb,
                    "callback.offer_timeout",
                    now,
                    json!({ "agent_id": holder }),
                ));
            }
            enter_line(&mut tx, &back.iter().collect::<Vec<_>>()).await?;
            for (account, agent) in away {
                let done = sqlx::query(
                    "UPDATE agents SET presence = 'away', presence_auto = 1, \
                     presence_changed_at = $1, updated_at = $2 \
                     WHERE id = $3 AND account_id = $4 AND presence = 'available'",
                )
                .bind(now_ms)
                .bind(now_ms)
                .bind(&agent)
                .bind(&account)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    feed.push(NewAgentEvent::presence(
                        &account,
                        &agent,
                        "away",
                        "offer_timeout",
                        now,
                    ));
                }
            }
        }

        // Waiting callbacks whose deadline passed with nobody to take them.
        let rows = sqlx::query(&format!(
            "UPDATE callbacks SET {expire}, reminder_at = NULL, version = version + 1, \
             updated_at = $1 WHERE id IN (SELECT id FROM callbacks WHERE {waiting} \
             AND expires_at <= $2 ORDER BY expires_at LIMIT $3) RETURNING {CALLBACK_COLUMNS}",
            expire = moves::set(Move::Expire),
            waiting = moves::from(Move::Offer),
        ))
        .bind(now_ms)
        .bind(now_ms)
        .bind(limit_i)
        .fetch_all(&mut *tx)
        .await?;
        let expired = callbacks(&rows)?;
        leave_line(
            &mut tx,
            &expired.iter().map(|cb| cb.id.as_str()).collect::<Vec<_>>(),
        )
        .await?;
        events.extend(expired.iter().map(|cb| {
            NewEvent::about(
                cb,
                "callback.expired",
                now,
                json!({ "reason": "no_agent_before_deadline" }),
            )
        }));
        pass.expired = expired.len();
        pass.saturated |= expired.len() as u32 >= limit;

        // Reminders that fell due.
        let rows = sqlx::query(&format!(
            "UPDATE callbacks SET reminder_at = NULL WHERE id IN (SELECT id FROM callbacks \
             WHERE reminder_at <= $1 ORDER BY reminder_at LIMIT $2) RETURNING {CALLBACK_COLUMNS}"
        ))
        .bind(now_ms)
        .bind(limit_i)
        .fetch_all(&mut *tx)
        .await?;
        pass.saturated |= rows.len() as u32 >= limit;
        for cb in callbacks(&rows)? {
            if cb.status != Status::Scheduled {
                continue;
            }
            let agents = recipients(&mut tx, &cb).await?;
            let details = json!({
                "minutes_before": cb.reminder_minutes_before,
                "agent_ids": agents,
            });
            events.push(NewEvent::about(
                &cb,
                "callback.reminder",
                now,
                details.clone(),
            ));
            feed.extend(agents.iter().map(|a| {
                NewAgentEvent::about(a, &cb, AgentEventKind::Reminder, now, details.clone())
            }));
            pass.reminders += 1;
        }

        // Lines whose queue stopped requiring skills of a callback: it requires none there now.
        sqlx::query(
            "UPDATE routing_targets SET skills = NULL, relax_at = NULL WHERE relax_at <= $1",
        )
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;

        Self::make_offers(
            &mut tx,
            &ring,
            now,
            settings,
            limit as usize,
            &mut pass,
            &mut events,
            &mut feed,
        )
        .await?;

        sqlx::query("DELETE FROM offer_declines WHERE until <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        insert_events(&mut tx, &events).await?;
        insert_agent_events(&mut tx, &feed).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.events.notify();
        }
        if pass.reserved > 0 {
            self.due.announce(now);
        }
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        Ok(pass)
    }

    async fn next_routing_wakeup(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(t) FROM ( \
             SELECT MIN(due_at) AS t FROM callbacks \
               WHERE {due} AND dialing_mode IN ('preview', 'progressive') AND agent_id IS NULL \
             UNION ALL SELECT MIN(offer_expires_at) FROM callbacks WHERE {offered} \
             UNION ALL SELECT MIN(expires_at) FROM callbacks WHERE {waiting} \
             UNION ALL SELECT MIN(due_at + fallback_after_minutes * 60000) FROM callbacks \
               WHERE {waiting} AND fallback_after_minutes IS NOT NULL AND assign_type = 'agent' \
             UNION ALL SELECT MIN(reminder_at) FROM callbacks WHERE reminder_at IS NOT NULL \
             UNION ALL SELECT MIN(until) FROM offer_declines \
             UNION ALL SELECT MIN(relax_at) FROM routing_targets WHERE relax_at IS NOT NULL) \
             AS soonest",
            due = moves::from(Move::Line),
            offered = moves::from(Move::Withdraw),
            waiting = moves::from(Move::Offer),
        ))
        .fetch_one(&self.reader)
        .await?;
        opt_ts(next)
    }

    async fn answer_offer(
        &self,
        account: &AccountId,
        agent: &AgentId,
        callback: &CallbackId,
        answer: OfferAnswer,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let now_ms = ms(now);
        let mut tx = self.begin_write().await?;
        let before = fetch_callback(&mut tx, account, callback)
            .await?
            .ok_or(ChangeError::NotFound)?;
        if before.status != Status::Offered || before.agent_id.as_ref() != Some(agent) {
            return Err(ChangeError::NotHeld(before.status));
        }
        // What accepting or rejecting makes of it: the domain's move, persisted only from the
        // status it was decided from.
        let moved = |step: Move| {
            before
                .after(step)
                .ok_or(ChangeError::InvalidState(before.status))
        };
        let mut feed = Vec::new();
        if answer == OfferAnswer::Accept
            && let Some((after, block, event)) =
                withhold_if_blocked(&mut tx, &self.ring(), &before, now).await?
        {
            // Accepting is placing the call: the rules are read once more, and the offer is
            // taken back from an agent who may not make it now.
            feed.push(NewAgentEvent::about(
                agent.as_str(),
                &after,
                AgentEventKind::OfferWithdrawn,
                now,
                json!({ "reason": block.code.as_str(), "detail": block.reason }),
            ));
            insert_events(&mut tx, &[event]).await?;
            insert_agent_events(&mut tx, &feed).await?;
            tx.commit().await.map_err(StoreError::from)?;
            self.events.notify();
            self.routing.notify();
            self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
            return Err(ChangeError::Blocked(block));
        }
        // On a `sip` trunk Ringback dials the call itself: the accepting agent is reserved and
        // the scheduler rings them first, then the customer. Elsewhere (a bridge, no trunk) the
        // agent dials, as preview always meant.
        let dials = answer == OfferAnswer::Accept
            && super::trunks::goes_out_on_sip(&mut tx, account, &before).await?;
        let (kind, action) = match answer {
            OfferAnswer::Accept if dials => {
                sqlx::query(
                    "UPDATE callbacks SET status = $1, due_at = $2, offer_expires_at = NULL, \
                     reminder_at = NULL, version = version + 1, updated_at = $3 \
                     WHERE id = $4 AND account_id = $5 AND status = $6",
                )
                .bind(moved(Move::Reserve)?.as_str())
                .bind(now_ms)
                .bind(now_ms)
                .bind(callback.as_str())
                .bind(account.as_str())
                .bind(before.status.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                ("callback.accepted", "callback.accept")
            }
            OfferAnswer::Accept => {
                sqlx::query(
                    "UPDATE callbacks SET status = $1, attempt = attempt + 1, \
                     attempt_open = 1, offer_expires_at = NULL, reminder_at = NULL, \
                     version = version + 1, updated_at = $2 \
                     WHERE id = $3 AND account_id = $4 AND status = $5",
                )
                .bind(moved(Move::Start)?.as_str())
                .bind(now_ms)
                .bind(callback.as_str())
                .bind(account.as_str())
                .bind(before.status.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                sqlx::query(
                    "INSERT INTO calls (callback_id, number, account_id, started_at, \
                     bridge_requests, resends, accepted_at, agent_id) VALUES ($1, $2, $3, $4, 0, 0, $5, $6)",
                )
                .bind(callback.as_str())
                .bind(i64::from(before.attempt) + 1)
                .bind(account.as_str())
                .bind(now_ms)
                .bind(now_ms)
                .bind(agent.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                feed.extend(settle_agent(&mut tx, account.as_str(), agent.as_str(), now).await?);
                ("callback.accepted", "callback.accept")
            }
            OfferAnswer::Reject { reoffer_after } => {
                sqlx::query(
                    "UPDATE callbacks SET status = $1, agent_id = NULL, \
                     offer_expires_at = NULL, version = version + 1, updated_at = $2 \
                     WHERE id = $3 AND account_id = $4 AND status = $5",
                )
                .bind(moved(Move::Withdraw)?.as_str())
                .bind(now_ms)
                .bind(callback.as_str())
                .bind(account.as_str())
                .bind(before.status.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                let until = now_ms + reoffer_after.as_millis() as i64;
                decline(&mut tx, callback.as_str(), agent.as_str(), until).await?;
                ("callback.offer_rejected", "callback.reject")
            }
        };
        let cb = fetch_callback(&mut tx, account, callback)
            .await?
            .ok_or(ChangeError::NotFound)?;
        if cb.status == Status::Waiting {
            enter_line(&mut tx, &[&cb]).await?;
        }
        insert_events(
            &mut tx,
            &[NewEvent::about(
                &cb,
                kind,
                now,
                json!({ "agent_id": agent.as_str(), "attempt": cb.attempt }),
            )],
        )
        .await?;
        insert_audit(
            &mut tx,
            account.as_str(),
            actor,
            now,
            &[callback_audit(action, Some(&before), &cb)],
        )
        .await?;
        insert_agent_events(&mut tx, &feed).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.events.notify();
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        if answer != OfferAnswer::Accept {
            self.routing.notify();
        }
        if dials {
            self.due.announce(now);
        }
        Ok(cb)
    }

    async fn agent_events(
        &self,
        account: &AccountId,
        agent: &AgentId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AgentEvent>, StoreError> {
        let rows: Vec<(i64, String, String, Option<String>, i64, String)> = sqlx::query_as(
            "SELECT account_seq, agent_id, type, callback_id, occurred_at, data FROM agent_events \
             WHERE agent_id = $1 AND account_id = $2 AND account_seq > $3 \
             ORDER BY account_seq LIMIT $4",
        )
        .bind(agent.as_str())
        .bind(account.as_str())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(seq, agent, kind, callback_id, at, data)| {
                Ok(AgentEvent {
                    seq,
                    agent_id: AgentId::from_trusted(agent),
                    kind,
                    callback_id,
                    at: ts(at)?,
                    data,
                })
            })
            .collect()
    }

    async fn last_agent_event(
        &self,
        account: &AccountId,
        agent: &AgentId,
    ) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(account_seq) FROM agent_events WHERE agent_id = $1 AND account_id = $2",
        )
        .bind(agent.as_str())
        .bind(account.as_str())
        .fetch_one(&self.reader)
        .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn agent_callbacks(
        &self,
        account: &AccountId,
        agent: &AgentId,
        limit: u32,
    ) -> Result<Vec<Callback>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let mut targets: Vec<String> = sqlx::query_scalar(
            "SELECT queue_id FROM queue_members WHERE agent_id = $1 AND account_id = $2",
        )
        .bind(agent.as_str())
        .bind(account.as_str())
        .fetch_all(&mut *conn)
        .await?;
        targets.push(agent.as_str().to_owned());
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE account_id = "
        ));
        qb.push_bind(account.as_str())
            .push(" AND ((agent_id = ")
            .push_bind(agent.as_str())
            .push(format!(
                " AND status IN ('offered', 'in_progress')) OR (status IN ('scheduled', 'waiting') \
                 AND assignees IS NOT NULL AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} \
                 WHERE j.value IN ("
            ));
        let mut sep = qb.separated(", ");
        for t in &targets {
            sep.push_bind(t.as_str());
        }
        qb.push(")))) ORDER BY due_at, id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&mut *conn).await?;
        callbacks(&rows)
    }

    async fn purge_agent_events(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM agent_events WHERE occurred_at < $1")
            .bind(ms(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// Notes that `agent` turned down `callback` (rejected or let it run out): it goes to others
/// first until `until`.
async fn decline(
    conn: &mut DbConn,
    callback: &str,
    agent: &str,
    until: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO offer_declines (callback_id, agent_id, until) VALUES ($1, $2, $3) \
         ON CONFLICT (callback_id, agent_id) DO UPDATE SET until = excluded.until",
    )
    .bind(callback)
    .bind(agent)
    .bind(until)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
