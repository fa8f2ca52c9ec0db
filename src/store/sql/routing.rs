//! The SQL of routing: the waiting line, offers, reminders and agents' feeds.
//!
//! Everything here runs in write transactions (the single writer connection on SQLite, the
//! cluster-wide write lock on PostgreSQL), so one routing pass sees every agent's load as of
//! its own transaction, whichever node runs it: two offers can never fill the same slot.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use super::{ASSIGNEE_ROWS, Db, DbConn, DbRow};
use jiff::Timestamp;
use serde_json::json;
use sqlx::{QueryBuilder, Row};
use tokio::sync::watch;

use super::{
    CALLBACK_COLUMNS, CAMPAIGN_RUNNING, SqlStore,
    agents::{AGENT_COLUMNS, agent_from_parts},
    audit::callback_audit,
    audit::insert_audit,
    events::NewEvent,
    events::Numbering,
    events::insert_events,
    events::number_rows,
    guard::{DUE_COLUMNS, DueRow, guard_due, withhold_if_blocked},
    ms, opt_ts,
    rows::callback_from_row,
    rows::fetch_callback,
    ts,
};
use crate::domain::{
    AccountId, Actor, AssigneeKind, Callback, CallbackId, CallbackView, PhoneNumber, Status,
    agent::Agent,
    ids::{AgentId, CampaignId, QueueId},
    routing::{
        AgentEvent, AgentEventKind, RoutingSettings, WithdrawReason, agent_targets,
        callback_targets, offer_timeout,
    },
};
use crate::store::{
    ChangeError, DueSignal, StoreError,
    routing::{MadeOffer, OfferAnswer, RoutePass, RoutingStore},
};

const ROWS_PER_STATEMENT: usize = 400;

/// An entry for an agent's feed, written in the transaction of the change it tells of.
pub(super) struct NewAgentEvent {
    account_id: String,
    agent_id: String,
    kind: AgentEventKind,
    callback_id: Option<String>,
    at: Timestamp,
    data: serde_json::Value,
}

impl NewAgentEvent {
    pub(super) fn agent(&self) -> &str {
        &self.agent_id
    }

    /// About a callback: the callback as it now stands under `callback`, details beside it.
    pub(super) fn about(
        agent: &str,
        cb: &Callback,
        kind: AgentEventKind,
        at: Timestamp,
        details: serde_json::Value,
    ) -> Self {
        let mut data = match details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        data.insert(
            "callback".to_owned(),
            serde_json::to_value(CallbackView::from(cb)).unwrap_or_default(),
        );
        Self {
            account_id: cb.account_id.as_str().to_owned(),
            agent_id: agent.to_owned(),
            kind,
            callback_id: Some(cb.id.as_str().to_owned()),
            at,
            data: serde_json::Value::Object(data),
        }
    }

    fn presence(account: &str, agent: &str, presence: &str, reason: &str, at: Timestamp) -> Self {
        Self {
            account_id: account.to_owned(),
            agent_id: agent.to_owned(),
            kind: AgentEventKind::Presence,
            callback_id: None,
            at,
            data: json!({ "presence": presence, "reason": reason }),
        }
    }
}

/// Appends entries to agents' feeds, each numbered in its account (the feed's event ids).
pub(super) async fn insert_agent_events(
    conn: &mut DbConn,
    events: &[NewAgentEvent],
) -> Result<(), StoreError> {
    let accounts: Vec<String> = events.iter().map(|e| e.account_id.clone()).collect();
    let numbers = number_rows(conn, Numbering::AgentEvents, &accounts).await?;
    for start in (0..events.len()).step_by(ROWS_PER_STATEMENT) {
        let rows = start..events.len().min(start + ROWS_PER_STATEMENT);
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO agent_events (account_id, agent_id, type, callback_id, occurred_at, data, \
             account_seq) ",
        );
        qb.push_values(rows, |mut b, i| {
            let e = &events[i];
            b.push_bind(e.account_id.as_str())
                .push_bind(e.agent_id.as_str())
                .push_bind(e.kind.as_str())
                .push_bind(e.callback_id.as_deref())
                .push_bind(ms(e.at))
                .push_bind(e.data.to_string())
                .push_bind(numbers[i]);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Puts waiting callbacks in line under each of their targets.
pub(super) async fn enter_line(
    conn: &mut DbConn,
    callbacks: &[&Callback],
) -> Result<(), StoreError> {
    let rows: Vec<(String, i64, &str, &str)> = callbacks
        .iter()
        .flat_map(|cb| {
            callback_targets(&cb.account_id, cb.assignment.as_ref())
                .into_iter()
                .map(|target| {
                    (
                        target,
                        ms(cb.due_at),
                        cb.id.as_str(),
                        cb.account_id.as_str(),
                    )
                })
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO routing_targets (target, due_at, callback_id, account_id) ",
        );
        qb.push_values(chunk, |mut b, (target, due, id, account)| {
            b.push_bind(target.as_str())
                .push_bind(*due)
                .push_bind(*id)
                .push_bind(*account);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Takes callbacks out of the waiting line.
pub(super) async fn leave_line(conn: &mut DbConn, ids: &[&str]) -> Result<(), StoreError> {
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new("DELETE FROM routing_targets WHERE callback_id IN (");
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        qb.push(")");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Takes a callback out of routing before it is rescheduled, reassigned or canceled: out of the
/// waiting line, and out of the hands of an agent holding its offer, who is told why.
pub(super) async fn leave_routing(
    conn: &mut DbConn,
    before: &Callback,
    reason: WithdrawReason,
    now: Timestamp,
) -> Result<Vec<NewAgentEvent>, StoreError> {
    match (before.status, &before.agent_id) {
        (Status::Waiting, _) => {
            leave_line(conn, &[before.id.as_str()]).await?;
            Ok(Vec::new())
        }
        (Status::Offered, Some(agent)) => Ok(vec![NewAgentEvent::about(
            agent.as_str(),
            before,
            AgentEventKind::OfferWithdrawn,
            now,
            json!({ "reason": reason.as_str() }),
        )]),
        _ => Ok(Vec::new()),
    }
}

/// Who hears about a callback: the agent holding it, its assigned agents and the members of its
/// queues (live agents only), each once.
pub(super) async fn recipients(
    conn: &mut DbConn,
    cb: &Callback,
) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = cb.agent_id.iter().map(|a| a.as_str().to_owned()).collect();
    let Some(assignment) = cb.assignment.as_ref().filter(|a| !a.ids.is_empty()) else {
        return Ok(out);
    };
    let mut qb: QueryBuilder<Db> = match assignment.kind {
        AssigneeKind::Agent => {
            QueryBuilder::new("SELECT id FROM agents WHERE deleted_at IS NULL AND account_id = ")
        }
        AssigneeKind::Queue => QueryBuilder::new(
            "SELECT DISTINCT m.agent_id FROM queue_members m JOIN agents a ON a.id = m.agent_id \
             WHERE a.deleted_at IS NULL AND m.account_id = ",
        ),
    };
    qb.push_bind(cb.account_id.as_str());
    qb.push(match assignment.kind {
        AssigneeKind::Agent => " AND id IN (",
        AssigneeKind::Queue => " AND m.queue_id IN (",
    });
    let mut sep = qb.separated(", ");
    for id in &assignment.ids {
        sep.push_bind(id.as_str());
    }
    qb.push(")");
    for id in qb
        .build_query_scalar::<String>()
        .fetch_all(&mut *conn)
        .await?
    {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The feed entries telling every recipient of `cb` about it.
pub(super) async fn tell_recipients(
    conn: &mut DbConn,
    cb: &Callback,
    kind: AgentEventKind,
    now: Timestamp,
    details: serde_json::Value,
    except: Option<&AgentId>,
) -> Result<Vec<NewAgentEvent>, StoreError> {
    Ok(recipients(conn, cb)
        .await?
        .into_iter()
        .filter(|a| except.is_none_or(|e| e.as_str() != a))
        .map(|a| NewAgentEvent::about(&a, cb, kind, now, details.clone()))
        .collect())
}

/// Sets an agent's presence as their calls require: `busy` once their calls fill their
/// concurrency, and `available` again (idle from now) when a call ends, if Ringback was the one
/// that made them busy.
pub(super) async fn settle_agent(
    conn: &mut DbConn,
    account: &str,
    agent: &str,
    now: Timestamp,
) -> Result<Option<NewAgentEvent>, StoreError> {
    let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT presence, presence_auto, concurrency, \
         (SELECT COUNT(*) FROM callbacks c WHERE c.agent_id = agents.id AND c.status = 'in_progress') \
         FROM agents WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
    )
    .bind(agent)
    .bind(account)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((presence, auto, concurrency, calls)) = row else {
        return Ok(None);
    };
    let (next, reason) = if presence == "available" && calls >= concurrency {
        ("busy", "at_capacity")
    } else if presence == "busy" && auto == 1 && calls < concurrency {
        ("available", "call_ended")
    } else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE agents SET presence = $1, presence_auto = 1, presence_changed_at = $2, \
         idle_since = CASE WHEN $3 = 'available' THEN $4 ELSE idle_since END, updated_at = $5 \
         WHERE id = $6",
    )
    .bind(next)
    .bind(ms(now))
    .bind(next)
    .bind(ms(now))
    .bind(ms(now))
    .bind(agent)
    .execute(&mut *conn)
    .await?;
    Ok(Some(NewAgentEvent::presence(
        account, agent, next, reason, now,
    )))
}

/// Takes back every offer an agent holds (they went away, or were deleted): the callbacks go
/// back in line.
pub(super) async fn withdraw_offers(
    conn: &mut DbConn,
    account: &str,
    agent: &str,
    reason: WithdrawReason,
    now: Timestamp,
) -> Result<(Vec<NewEvent>, Vec<NewAgentEvent>), StoreError> {
    let rows = sqlx::query(&format!(
        "UPDATE callbacks SET status = 'waiting', agent_id = NULL, offer_expires_at = NULL, \
         version = version + 1, updated_at = $1 \
         WHERE account_id = $2 AND agent_id = $3 AND status = 'offered' RETURNING {CALLBACK_COLUMNS}"
    ))
    .bind(ms(now))
    .bind(account)
    .bind(agent)
    .fetch_all(&mut *conn)
    .await?;
    let back = rows
        .iter()
        .map(callback_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    enter_line(conn, &back.iter().collect::<Vec<_>>()).await?;
    let events = back
        .iter()
        .map(|cb| {
            NewEvent::about(
                cb,
                "callback.waiting",
                now,
                json!({ "reason": "offer_withdrawn", "agent_id": agent, "why": reason.as_str() }),
            )
        })
        .collect();
    let feed = back
        .iter()
        .map(|cb| {
            NewAgentEvent::about(
                agent,
                cb,
                AgentEventKind::OfferWithdrawn,
                now,
                json!({ "reason": reason.as_str() }),
            )
        })
        .collect();
    Ok((events, feed))
}

/// Removes a deleted agent or queue from the assignments of active callbacks. A callback left
/// with no assignee is unassigned (any of the account's agents may take it), never dropped.
pub(super) async fn unassign(
    conn: &mut DbConn,
    account: &str,
    assignee: &str,
    now: Timestamp,
) -> Result<Vec<NewEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE account_id = $1 \
         AND status IN ('scheduled', 'waiting', 'offered', 'dispatching', 'in_progress') \
         AND assignees IS NOT NULL \
         AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = $2)"
    ))
    .bind(account)
    .bind(assignee)
    .fetch_all(&mut *conn)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut cb = callback_from_row(row)?;
        if let Some(a) = cb.assignment.as_mut() {
            a.ids.retain(|id| id != assignee);
        }
        if cb.assignment.as_ref().is_some_and(|a| a.ids.is_empty()) {
            cb.assignment = None;
        }
        cb.updated_at = now;
        sqlx::query(
            "UPDATE callbacks SET assign_type = $1, assignees = $2, version = version + 1, \
             updated_at = $3 WHERE id = $4 AND account_id = $5",
        )
        .bind(cb.assignment.as_ref().map(|a| a.kind.as_str()))
        .bind(
            cb.assignment
                .as_ref()
                .map(|a| serde_json::to_string(&a.ids).unwrap_or_default()),
        )
        .bind(ms(now))
        .bind(cb.id.as_str())
        .bind(account)
        .execute(&mut *conn)
        .await?;
        if cb.status == Status::Waiting {
            leave_line(conn, &[cb.id.as_str()]).await?;
            enter_line(conn, &[&cb]).await?;
        }
        events.push(NewEvent::about(
            &cb,
            "callback.unassigned",
            now,
            json!({ "removed": assignee, "unassigned": cb.assignment.is_none() }),
        ));
    }
    Ok(events)
}

/// Every `Callback` of a `RETURNING {CALLBACK_COLUMNS}` answer.
fn callbacks(rows: &[DbRow]) -> Result<Vec<Callback>, StoreError> {
    rows.iter().map(callback_from_row).collect()
}

/// An available agent and what they may still take.
struct Slot {
    agent: Agent,
    idle_since: i64,
    free: i64,
    targets: Vec<String>,
}

impl SqlStore {
    /// Free agents, longest idle first, with their queues.
    async fn free_agents(conn: &mut DbConn, now: Timestamp) -> Result<Vec<Slot>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT * FROM (SELECT {AGENT_COLUMNS}, idle_since, \
             (SELECT COUNT(*) FROM callbacks c WHERE c.agent_id = agents.id \
              AND c.status IN ('offered', 'in_progress')) AS load \
             FROM agents WHERE presence = 'available' AND deleted_at IS NULL) AS free \
             WHERE load < concurrency ORDER BY idle_since, id"
        ))
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let members: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.agent_id, m.queue_id FROM queue_members m JOIN agents a ON a.id = m.agent_id \
             WHERE a.presence = 'available' AND a.deleted_at IS NULL ORDER BY m.queue_id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut queues: HashMap<String, Vec<String>> = HashMap::new();
        for (agent, queue) in members {
            queues.entry(agent).or_default().push(queue);
        }
        let mut slots = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let agent = agent_from_parts(row, queues.remove(&id).unwrap_or_default())?;
            let free = i64::from(agent.concurrency) - row.try_get::<i64, _>("load")?;
            if free <= 0 || !agent.works_at(now) {
                continue;
            }
            slots.push(Slot {
                targets: agent_targets(&agent),
                idle_since: row.try_get("idle_since")?,
                agent,
                free,
            });
        }
        Ok(slots)
    }

    /// Offers waiting callbacks to free agents: in rounds, each agent (longest idle first) gets
    /// the earliest callback it may take, until no agent finds one or `limit` is reached.
    #[allow(clippy::too_many_arguments)]
    async fn make_offers(
        conn: &mut DbConn,
        now: Timestamp,
        settings: &RoutingSettings,
        limit: usize,
        pass: &mut RoutePass,
        events: &mut Vec<NewEvent>,
        feed: &mut Vec<NewAgentEvent>,
    ) -> Result<(), StoreError> {
        let now_ms = ms(now);
        let anyone_waiting: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM routing_targets)")
                .fetch_one(&mut *conn)
                .await?;
        if !anyone_waiting {
            return Ok(());
        }
        let mut slots = Self::free_agents(conn, now).await?;
        if slots.is_empty() {
            return Ok(());
        }
        let timeouts: HashMap<QueueId, u32> = sqlx::query_as::<_, (String, i64)>(
            "SELECT id, offer_timeout_seconds FROM queues WHERE deleted_at IS NULL",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id, secs)| (QueueId::from_trusted(id), secs as u32))
        .collect();
        'rounds: loop {
            let mut offered = false;
            for slot in slots.iter_mut().filter(|s| s.free > 0) {
                if pass.offers.len() >= limit {
                    pass.saturated = true;
                    break 'rounds;
                }
                let mut best: Option<(i64, String)> = None;
                for target in &slot.targets {
                    let row: Option<(String, i64)> = sqlx::query_as(
                        "SELECT rt.callback_id, rt.due_at FROM routing_targets rt \
                         WHERE rt.target = $1 AND NOT EXISTS (SELECT 1 FROM offer_declines d \
                         WHERE d.callback_id = rt.callback_id AND d.agent_id = $2 AND d.until > $3) \
                         ORDER BY rt.due_at, rt.callback_id LIMIT 1",
                    )
                    .bind(target.as_str())
                    .bind(slot.agent.id.as_str())
                    .bind(now_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some((id, due)) = row
                        && best.as_ref().is_none_or(|(d, i)| (due, &id) < (*d, i))
                    {
                        best = Some((due, id));
                    }
                }
                let Some((_, id)) = best else {
                    slot.free = 0;
                    continue;
                };
                leave_line(conn, &[id.as_str()]).await?;
                let id = CallbackId::from_trusted(id);
                let Some(mut cb) = fetch_callback(conn, &slot.agent.account_id, &id).await? else {
                    continue;
                };
                if cb.status != Status::Waiting {
                    continue;
                }
                // Time has passed since it joined the line: the rules may stop it now.
                if let Some((_, _, event)) = withhold_if_blocked(conn, &cb, now).await? {
                    events.push(event);
                    continue;
                }
                let timeout =
                    offer_timeout(cb.assignment.as_ref(), &slot.agent, &timeouts, settings);
                let expires = now.checked_add(timeout).unwrap_or(now);
                sqlx::query(
                    "UPDATE callbacks SET status = 'offered', agent_id = $1, offer_expires_at = $2, \
                     version = version + 1, updated_at = $3 WHERE id = $4 AND status = 'waiting'",
                )
                .bind(slot.agent.id.as_str())
                .bind(ms(expires))
                .bind(now_ms)
                .bind(id.as_str())
                .execute(&mut *conn)
                .await?;
                sqlx::query("UPDATE agents SET idle_since = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(slot.agent.id.as_str())
                    .execute(&mut *conn)
                    .await?;
                cb.status = Status::Offered;
                cb.agent_id = Some(slot.agent.id.clone());
                cb.offer_expires_at = Some(expires);
                cb.updated_at = now;
                let details = json!({
                    "agent_id": slot.agent.id.as_str(),
                    "offer_expires_at": expires.to_string(),
                });
                events.push(NewEvent::about(
                    &cb,
                    "callback.offered",
                    now,
                    details.clone(),
                ));
                feed.push(NewAgentEvent::about(
                    slot.agent.id.as_str(),
                    &cb,
                    AgentEventKind::Offer,
                    now,
                    details,
                ));
                pass.offers.push(MadeOffer {
                    callback_id: cb.id,
                    agent_id: slot.agent.id.clone(),
                    agent_waited: Duration::from_millis((now_ms - slot.idle_since).max(0) as u64),
                });
                slot.free -= 1;
                slot.idle_since = now_ms;
                offered = true;
            }
            if !offered {
                break;
            }
        }
        Ok(())
    }
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
        let mut tx = self.begin_write().await?;

        // Preview callbacks that fell due join the line, if the dial decision lets them: the
        // same guard as a dispatch (do-not-call, attempt cap, quiet period, calling window).
        let due: Vec<DueRow> = sqlx::query_as(&format!(
            "SELECT {DUE_COLUMNS} FROM callbacks WHERE status = 'scheduled' \
             AND dialing_mode = 'preview' AND due_at <= $1 AND {CAMPAIGN_RUNNING} \
             ORDER BY due_at LIMIT $2"
        ))
        .bind(now_ms)
        .bind(limit_i)
        .fetch_all(&mut *tx)
        .await?;
        pass.saturated |= due.len() as u32 >= limit;
        let joining = guard_due(&mut tx, due, now).await?;
        let mut rows = Vec::with_capacity(joining.len());
        for chunk in joining.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callbacks SET status = 'waiting', version = version + 1, updated_at = ",
            );
            qb.push_bind(now_ms)
                .push(" WHERE status = 'scheduled' AND id IN (");
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

        // Offers that ran out go back in line; their agents are not answering.
        let expiring: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT id, agent_id FROM callbacks WHERE status = 'offered' \
             AND offer_expires_at <= $1 ORDER BY offer_expires_at LIMIT $2",
        )
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
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callbacks SET status = 'waiting', agent_id = NULL, \
                 offer_expires_at = NULL, version = version + 1, updated_at = ",
            );
            qb.push_bind(now_ms).push(" WHERE id IN (");
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
            "UPDATE callbacks SET status = 'expired', reminder_at = NULL, version = version + 1, \
             updated_at = $1 WHERE id IN (SELECT id FROM callbacks WHERE status = 'waiting' \
             AND expires_at <= $2 ORDER BY expires_at LIMIT $3) RETURNING {CALLBACK_COLUMNS}"
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

        Self::make_offers(
            &mut tx,
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
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        Ok(pass)
    }

    async fn next_routing_wakeup(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(t) FROM ( \
             SELECT MIN(due_at) AS t FROM callbacks \
               WHERE status = 'scheduled' AND dialing_mode = 'preview' \
             UNION ALL SELECT MIN(offer_expires_at) FROM callbacks WHERE status = 'offered' \
             UNION ALL SELECT MIN(expires_at) FROM callbacks WHERE status = 'waiting' \
             UNION ALL SELECT MIN(reminder_at) FROM callbacks WHERE reminder_at IS NOT NULL \
             UNION ALL SELECT MIN(until) FROM offer_declines) AS soonest",
        )
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
        let mut feed = Vec::new();
        if answer == OfferAnswer::Accept
            && let Some((after, block, event)) = withhold_if_blocked(&mut tx, &before, now).await?
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
        let (kind, action) = match answer {
            OfferAnswer::Accept => {
                sqlx::query(
                    "UPDATE callbacks SET status = 'in_progress', attempt = attempt + 1, \
                     attempt_open = 1, offer_expires_at = NULL, reminder_at = NULL, \
                     version = version + 1, updated_at = $1 WHERE id = $2 AND account_id = $3",
                )
                .bind(now_ms)
                .bind(callback.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                sqlx::query(
                    "INSERT INTO callback_attempts (callback_id, number, account_id, started_at, \
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
                    "UPDATE callbacks SET status = 'waiting', agent_id = NULL, \
                     offer_expires_at = NULL, version = version + 1, updated_at = $1 \
                     WHERE id = $2 AND account_id = $3",
                )
                .bind(now_ms)
                .bind(callback.as_str())
                .bind(account.as_str())
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

/// Which of an account's callbacks a bulk cancel takes.
pub(super) enum Untouched<'a> {
    /// Those to a number (it went on the do-not-call list).
    To(&'a PhoneNumber),
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
    let (column, value) = match which {
        Untouched::To(phone) => ("phone", phone.as_str()),
        Untouched::Of(campaign) => ("campaign_id", campaign.as_str()),
    };
    let rows = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks \
         WHERE account_id = $1 AND {column} = $2 AND status IN ('scheduled', 'waiting', 'offered') \
         ORDER BY id"
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
        let done = sqlx::query(
            "UPDATE callbacks SET status = 'canceled', attempt_open = 0, agent_id = NULL, \
             offer_expires_at = NULL, reminder_at = NULL, updated_at = $1, \
             version = version + 1 WHERE id = $2 AND account_id = $3 AND status = $4",
        )
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
