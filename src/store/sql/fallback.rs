//! Personal callbacks falling back to the team, a step of the routing pass: a waiting callback
//! assigned to an agent moves to its fallback queue (else the agent's first queue, else anyone
//! in the account) once `fallback_after_minutes` have passed since it fell due, or as it joins
//! the line when its agent is offline with no working hours left that day.

use jiff::Timestamp;
use serde_json::json;

use super::{
    CALLBACK_COLUMNS, DbConn,
    agents::fetch_agent,
    events::NewEvent,
    feeds::NewAgentEvent,
    line::{enter_line, leave_line},
    moves, ms,
    rows::callback_from_row,
};
use crate::domain::{
    AssigneeKind, Callback,
    agent::Agent,
    callback::{Fallback, FallbackReason, Move},
    ids::{AgentId, QueueId},
    routing::AgentEventKind,
};
use crate::store::StoreError;

/// What a fallback step did, for the routing pass to record.
#[derive(Default)]
pub(super) struct Fallen {
    pub events: Vec<NewEvent>,
    pub feed: Vec<NewAgentEvent>,
    pub count: usize,
}

/// Moves the personal callbacks that are due to fall back: those waiting past their
/// `fallback_after_minutes` (at most `limit`), and those of `joined` (callbacks that joined
/// the line in this pass) whose agent is offline for the rest of the day.
pub(super) async fn fall_back(
    conn: &mut DbConn,
    now: Timestamp,
    limit: i64,
    joined: &[Callback],
) -> Result<Fallen, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE {waiting} \
         AND fallback_after_minutes IS NOT NULL AND assign_type = 'agent' \
         AND due_at + fallback_after_minutes * 60000 <= $1 ORDER BY due_at LIMIT $2",
        waiting = moves::from(Move::Offer),
    ))
    .bind(ms(now))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut moving: Vec<(Callback, FallbackReason, Vec<Agent>)> = Vec::with_capacity(rows.len());
    for row in &rows {
        let cb = callback_from_row(row)?;
        let agents = assigned_agents(conn, &cb).await?;
        moving.push((cb, FallbackReason::NotTaken, agents));
    }
    for cb in joined {
        if cb.fallback.is_none() || moving.iter().any(|(m, _, _)| m.id == cb.id) {
            continue;
        }
        let agents = assigned_agents(conn, cb).await?;
        if !agents.is_empty() && agents.iter().all(|a| a.off_for_the_day(now)) {
            moving.push((cb.clone(), FallbackReason::AgentOffline, agents));
        }
    }
    let mut fallen = Fallen::default();
    for (cb, reason, agents) in moving {
        move_to_team(conn, cb, reason, &agents, now, &mut fallen).await?;
    }
    Ok(fallen)
}

/// The live agents a personal callback is assigned to, in the order it names them.
async fn assigned_agents(conn: &mut DbConn, cb: &Callback) -> Result<Vec<Agent>, StoreError> {
    let Some(a) = cb
        .assignment
        .as_ref()
        .filter(|a| a.kind == AssigneeKind::Agent)
    else {
        return Ok(Vec::new());
    };
    let mut agents = Vec::with_capacity(a.ids.len());
    for id in &a.ids {
        if let Some(agent) =
            fetch_agent(conn, &cb.account_id, &AgentId::from_trusted(id.clone())).await?
        {
            agents.push(agent);
        }
    }
    Ok(agents)
}

/// Reassigns one waiting personal callback to its team, puts it back in line under its new
/// targets, and tells the webhook subscribers and `agents`, the ones it leaves.
async fn move_to_team(
    conn: &mut DbConn,
    mut cb: Callback,
    reason: FallbackReason,
    agents: &[Agent],
    now: Timestamp,
    fallen: &mut Fallen,
) -> Result<(), StoreError> {
    let Some(fallback) = cb.fallback.take() else {
        return Ok(());
    };
    // A fallback queue deleted since the callback was made is passed over.
    let queue_id = match fallback.queue_id {
        Some(queue) if live_queue(conn, &cb, &queue).await? => Some(queue),
        _ => None,
    };
    let agent_queues = agents
        .first()
        .map(|a| a.queue_ids.as_slice())
        .unwrap_or(&[]);
    let target = Fallback {
        queue_id,
        ..fallback
    }
    .target(agent_queues);
    let from = cb.assignment.take();
    cb.assignment = target;
    cb.updated_at = now;
    let done = sqlx::query(&format!(
        "UPDATE callbacks SET assign_type = $1, assignees = $2, fallback_after_minutes = NULL, \
         fallback_queue_id = NULL, version = version + 1, updated_at = $3 \
         WHERE id = $4 AND account_id = $5 AND {waiting}",
        waiting = moves::from(Move::Offer),
    ))
    .bind(cb.assignment.as_ref().map(|a| a.kind.as_str()))
    .bind(
        cb.assignment
            .as_ref()
            .map(|a| serde_json::to_string(&a.ids).unwrap_or_default()),
    )
    .bind(ms(now))
    .bind(cb.id.as_str())
    .bind(cb.account_id.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(());
    }
    cb.version += 1;
    leave_line(conn, &[cb.id.as_str()]).await?;
    enter_line(conn, &[&cb]).await?;
    let details = json!({
        "reason": reason.as_str(),
        "from": from,
        "to": cb.assignment,
    });
    fallen.feed.extend(agents.iter().map(|agent| {
        NewAgentEvent::about(
            agent.id.as_str(),
            &cb,
            AgentEventKind::Reassigned,
            now,
            details.clone(),
        )
    }));
    fallen
        .events
        .push(NewEvent::about(&cb, "callback.reassigned", now, details));
    fallen.count += 1;
    Ok(())
}

async fn live_queue(conn: &mut DbConn, cb: &Callback, queue: &QueueId) -> Result<bool, StoreError> {
    let live: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM queues WHERE id = $1 AND account_id = $2 \
         AND deleted_at IS NULL)",
    )
    .bind(queue.as_str())
    .bind(cb.account_id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(live)
}
