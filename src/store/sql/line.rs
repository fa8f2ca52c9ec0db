//! Where callbacks stand in routing, as the writes of other rooms change it: the waiting line,
//! offers taken back, deleted assignees removed, and agents' presence settled as their calls
//! come and go.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use super::{ASSIGNEE_ROWS, Db, DbConn};
use jiff::Timestamp;
use serde_json::json;
use sqlx::QueryBuilder;

use super::{
    CALLBACK_COLUMNS, ROWS_PER_STATEMENT, events::NewEvent, feeds::NewAgentEvent, moves, ms,
    rows::callback_from_row,
};
use crate::domain::{
    Callback, Status,
    callback::Move,
    ids::QueueId,
    routing::{AgentEventKind, LineRules, WithdrawReason, callback_targets},
};
use crate::store::StoreError;

/// The priority aging and skill relaxation of the queues among `targets` (agents and accounts
/// have none).
pub(super) async fn line_rules<'a>(
    conn: &mut DbConn,
    targets: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, LineRules>, StoreError> {
    let queues: HashSet<&str> = targets.filter(|t| QueueId::parse(t).is_some()).collect();
    let mut rules = HashMap::with_capacity(queues.len());
    let queues: Vec<&str> = queues.into_iter().collect();
    for chunk in queues.chunks(ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT id, priority_aging_per_minute, skill_relax_after_seconds FROM queues \
             WHERE id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        qb.push(")");
        let rows: Vec<(String, f64, Option<i64>)> =
            qb.build_query_as().fetch_all(&mut *conn).await?;
        rules.extend(rows.into_iter().map(|(id, aging, relax)| {
            let relax_after = relax.map(|s| Duration::from_secs(s.max(0) as u64));
            (
                id,
                LineRules {
                    aging_per_minute: aging,
                    relax_after,
                },
            )
        }));
    }
    Ok(rules)
}

/// A callback's place in line under a target: the columns `rank_priority`, `rank_at` and
/// `relax_at` of `routing_targets`.
type Place = (i64, i64, Option<i64>);

/// A callback's [`Place`] in line under a target with `rules`, counted from its
/// [`Callback::line_instant`] (its due time, or when its caller joined the inbound queue),
/// which is the line's `due_at` column.
fn line_place(cb: &Callback, rules: &LineRules) -> Place {
    let since = cb.line_instant();
    let (rank_priority, rank_at) = rules.rank(cb.priority, since);
    let relax_at = rules
        .relax_after
        .filter(|_| !cb.skills.is_empty())
        .map(|d| ms(since) + d.as_millis() as i64);
    (rank_priority, ms(rank_at), relax_at)
}

/// Puts waiting callbacks in line under each of their targets, placed by their priority (aged
/// by the target queue's rules) with their required skills.
pub(super) async fn enter_line(
    conn: &mut DbConn,
    callbacks: &[&Callback],
) -> Result<(), StoreError> {
    let targets: Vec<(String, &Callback)> = callbacks
        .iter()
        .flat_map(|cb| {
            callback_targets(&cb.account_id, cb.assignment.as_ref())
                .into_iter()
                .map(move |target| (target, *cb))
        })
        .collect();
    let rules = line_rules(conn, targets.iter().map(|(t, _)| t.as_str())).await?;
    let none = LineRules::default();
    let rows: Vec<(&str, Place, &Callback, Option<String>)> = targets
        .iter()
        .map(|(target, cb)| {
            let place = line_place(cb, rules.get(target).unwrap_or(&none));
            (target.as_str(), place, *cb, cb.skills.stored())
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO routing_targets (target, rank_priority, rank_at, due_at, callback_id, \
             account_id, priority, skills, relax_at) ",
        );
        qb.push_values(chunk, |mut b, (target, (rank, at, relax), cb, skills)| {
            b.push_bind(*target)
                .push_bind(*rank)
                .push_bind(*at)
                .push_bind(ms(cb.line_instant()))
                .push_bind(cb.id.as_str())
                .push_bind(cb.account_id.as_str())
                .push_bind(i64::from(cb.priority))
                .push_bind(skills.clone())
                .push_bind(*relax);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Places the line of queue `queue` again after its rules changed.
pub(super) async fn rerank_line(
    conn: &mut DbConn,
    queue: &str,
    rules: &LineRules,
) -> Result<(), StoreError> {
    let step = rules.aging_step().map_or(0, |s| s.as_millis() as i64);
    sqlx::query(
        "UPDATE routing_targets SET \
         rank_priority = CASE WHEN $1 = 0 THEN -priority ELSE 0 END, \
         rank_at = due_at - priority * $2, \
         relax_at = CASE WHEN skills IS NULL OR $3 < 0 THEN NULL ELSE due_at + $4 END \
         WHERE target = $5",
    )
    .bind(step)
    .bind(step)
    .bind(rules.relax_after.map_or(-1, |d| d.as_millis() as i64))
    .bind(rules.relax_after.map_or(0, |d| d.as_millis() as i64))
    .bind(queue)
    .execute(&mut *conn)
    .await?;
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
        "UPDATE callbacks SET {}, agent_id = NULL, offer_expires_at = NULL, \
         version = version + 1, updated_at = $1 \
         WHERE account_id = $2 AND agent_id = $3 AND {} RETURNING {CALLBACK_COLUMNS}",
        moves::set(Move::Withdraw),
        moves::from(Move::Withdraw),
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
         AND {active} AND assignees IS NOT NULL \
         AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = $2)",
        active = moves::active(),
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
        cb.version += 1;
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
