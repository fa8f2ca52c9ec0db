//! Making offers in a routing pass: the free agents, and the rounds that give each the callback
//! of highest priority (aged by its queue's rules, then earliest due) it may take: one whose
//! required skills it meets, or whose queue relaxed them.

use std::{collections::HashMap, time::Duration};

use super::DbConn;
use jiff::Timestamp;
use serde_json::json;
use sqlx::Row;

use super::{
    ROWS_PER_STATEMENT, SqlStore, UNMET_SKILL,
    agents::{AGENT_COLUMNS, agent_from_parts},
    events::NewEvent,
    feeds::NewAgentEvent,
    guard::withhold_if_blocked,
    line::leave_line,
    moves, ms,
    rows::fetch_callback,
};
use crate::domain::{
    CallbackId, DialingMode, Status,
    agent::Agent,
    callback::Move,
    ids::QueueId,
    routing::{AgentEventKind, LineRules, RoutingSettings, agent_targets, offer_timeout},
};
use crate::secrets::KeyRing;
use crate::store::{
    StoreError,
    routing::{MadeOffer, RoutePass},
};

/// An available agent and what they may still take.
struct Slot {
    agent: Agent,
    idle_since: i64,
    free: i64,
    targets: Vec<String>,
    /// The agent's skills as the JSON object the offer query compares with (`{}` for none).
    skills: String,
}

impl SqlStore {
    /// Free agents, longest idle first, with their queues.
    async fn free_agents(conn: &mut DbConn, now: Timestamp) -> Result<Vec<Slot>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT * FROM (SELECT {AGENT_COLUMNS}, idle_since, \
             (SELECT COUNT(*) FROM callbacks c WHERE c.agent_id = agents.id \
              AND c.status IN ('offered', 'in_progress', 'scheduled', 'dispatching')) AS load \
             FROM agents WHERE presence = 'available' AND deleted_at IS NULL) AS free \
             WHERE load < concurrency ORDER BY idle_since, id"
        ))
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // The queues of the free agents only: with a thousand agents available and busy, a
        // pass reads a handful of memberships, not every available agent's.
        let mut queues: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let ids = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT agent_id, queue_id FROM queue_members WHERE agent_id IN ({ids}) \
                 ORDER BY queue_id"
            );
            let mut members = sqlx::query_as::<_, (String, String)>(&sql);
            for row in chunk {
                members = members.bind(row.try_get::<String, _>("id")?);
            }
            for (agent, queue) in members.fetch_all(&mut *conn).await? {
                queues.entry(agent).or_default().push(queue);
            }
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
                skills: agent.skills.stored().unwrap_or_else(|| "{}".to_owned()),
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
    pub(super) async fn make_offers(
        conn: &mut DbConn,
        ring: &KeyRing,
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
        let queues = sqlx::query_as::<_, (String, i64, f64)>(
            "SELECT id, offer_timeout_seconds, priority_aging_per_minute FROM queues \
             WHERE deleted_at IS NULL",
        )
        .fetch_all(&mut *conn)
        .await?;
        let aging: HashMap<String, LineRules> = queues
            .iter()
            .filter(|(_, _, aging)| *aging > 0.0)
            .map(|(id, _, aging)| {
                let rules = LineRules {
                    aging_per_minute: *aging,
                    relax_after: None,
                };
                (id.clone(), rules)
            })
            .collect();
        let timeouts: HashMap<QueueId, u32> = queues
            .into_iter()
            .map(|(id, secs, _)| (QueueId::from_trusted(id), secs as u32))
            .collect();
        let still = LineRules::default();
        'rounds: loop {
            let mut offered = false;
            for slot in slots.iter_mut().filter(|s| s.free > 0) {
                if pass.offers.len() >= limit {
                    pass.saturated = true;
                    break 'rounds;
                }
                // The head of each of the agent's lines (what it may take, in the line's order),
                // then the one of highest priority now among them, the earliest due on a tie.
                let mut best: Option<(f64, i64, String)> = None;
                for target in &slot.targets {
                    let row: Option<(String, i64, i64)> = sqlx::query_as(&format!(
                        "SELECT rt.callback_id, rt.due_at, rt.priority FROM routing_targets rt \
                         WHERE rt.target = $1 AND NOT EXISTS (SELECT 1 FROM offer_declines d \
                         WHERE d.callback_id = rt.callback_id AND d.agent_id = $2 AND d.until > $3) \
                         AND (rt.skills IS NULL OR rt.relax_at <= $3 OR NOT EXISTS ({UNMET_SKILL})) \
                         ORDER BY rt.rank_priority, rt.rank_at, rt.due_at, rt.callback_id LIMIT 1",
                    ))
                    .bind(target.as_str())
                    .bind(slot.agent.id.as_str())
                    .bind(now_ms)
                    .bind(slot.skills.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some((id, due, priority)) = row {
                        let rules = aging.get(target).unwrap_or(&still);
                        let waited = jiff::SignedDuration::from_millis(now_ms - due);
                        let now_priority =
                            rules.effective_priority(priority.clamp(0, 100) as u8, waited);
                        let first = |(p, d, i): &(f64, i64, String)| {
                            now_priority > *p || (now_priority == *p && (due, &id) < (*d, i))
                        };
                        if best.as_ref().is_none_or(first) {
                            best = Some((now_priority, due, id));
                        }
                    }
                }
                let Some((_, _, id)) = best else {
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
                if let Some((_, _, event)) = withhold_if_blocked(conn, ring, &cb, now).await? {
                    events.push(event);
                    continue;
                }
                if cb.dialing_mode == DialingMode::Progressive {
                    // Progressive: the agent is reserved and the call is dialled now.
                    sqlx::query(&format!(
                        "UPDATE callbacks SET {}, agent_id = $1, due_at = $2, \
                         version = version + 1, updated_at = $3 WHERE id = $4 AND {}",
                        moves::set(Move::Reserve),
                        moves::from(Move::Reserve),
                    ))
                    .bind(slot.agent.id.as_str())
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(id.as_str())
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query("UPDATE agents SET idle_since = $1 WHERE id = $2")
                        .bind(now_ms)
                        .bind(slot.agent.id.as_str())
                        .execute(&mut *conn)
                        .await?;
                    cb.status = Status::Scheduled;
                    cb.agent_id = Some(slot.agent.id.clone());
                    cb.due_at = now;
                    cb.updated_at = now;
                    cb.version += 1;
                    let details = json!({ "agent_id": slot.agent.id.as_str() });
                    events.push(NewEvent::about(
                        &cb,
                        "callback.agent_reserved",
                        now,
                        details.clone(),
                    ));
                    feed.push(NewAgentEvent::about(
                        slot.agent.id.as_str(),
                        &cb,
                        AgentEventKind::Reserved,
                        now,
                        details,
                    ));
                    pass.reserved += 1;
                    slot.free -= 1;
                    slot.idle_since = now_ms;
                    offered = true;
                    continue;
                }
                let timeout =
                    offer_timeout(cb.assignment.as_ref(), &slot.agent, &timeouts, settings);
                let expires = now.checked_add(timeout).unwrap_or(now);
                sqlx::query(&format!(
                    "UPDATE callbacks SET {}, agent_id = $1, offer_expires_at = $2, \
                     version = version + 1, updated_at = $3 WHERE id = $4 AND {}",
                    moves::set(Move::Offer),
                    moves::from(Move::Offer),
                ))
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
                cb.version += 1;
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
