//! The SQL of agents and queues.

use super::{Db, DbConn, DbRow};
use jiff::Timestamp;
use sqlx::{Row, Transaction};

use super::{
    SqlStore,
    audit::insert_audit,
    corrupt,
    events::insert_events,
    feeds::{NewAgentEvent, insert_agent_events},
    line::{rerank_line, unassign, withdraw_offers},
    ms, ts,
};
use crate::domain::trunk::SipUri;
use crate::domain::{
    AccountId, Actor, AuditRecord, Zone,
    agent::{Agent, Presence, Queue},
    ids::{AgentId, QueueId},
    routing::{LineRules, Skills, WithdrawReason},
};
use crate::store::{StoreError, agents::AgentStore};

pub(super) const AGENT_COLUMNS: &str = "id, account_id, name, external_id, concurrency, timezone, \
    working_hours, presence, presence_changed_at, created_at, updated_at, sip_uri, skills";
const QUEUE_COLUMNS: &str = "id, account_id, name, offer_timeout_seconds, created_at, updated_at, \
    priority_aging_per_minute, skill_relax_after_seconds";

async fn agent_from_row(conn: &mut DbConn, r: &DbRow) -> Result<Agent, StoreError> {
    let id: String = r.try_get("id")?;
    let queue_ids: Vec<String> = sqlx::query_scalar(
        "SELECT queue_id FROM queue_members WHERE agent_id = $1 ORDER BY queue_id",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?;
    agent_from_parts(r, queue_ids)
}

/// An agent from its row (`AGENT_COLUMNS`) and its queues, read separately.
pub(super) fn agent_from_parts(r: &DbRow, queue_ids: Vec<String>) -> Result<Agent, StoreError> {
    let id: String = r.try_get("id")?;
    let zone: String = r.try_get("timezone")?;
    let presence: String = r.try_get("presence")?;
    let hours: Option<String> = r.try_get("working_hours")?;
    Ok(Agent {
        id: AgentId::from_trusted(id),
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        name: r.try_get("name")?,
        external_id: r.try_get("external_id")?,
        sip_uri: r
            .try_get::<Option<String>, _>("sip_uri")?
            .map(|u| SipUri::parse(&u, "sip_uri").map_err(|_| corrupt("sip_uri", &u)))
            .transpose()?,
        queue_ids: queue_ids.into_iter().map(QueueId::from_trusted).collect(),
        concurrency: r.try_get::<i64, _>("concurrency")? as u32,
        timezone: Zone::parse(&zone, "timezone").map_err(|_| corrupt("timezone", &zone))?,
        working_hours: hours
            .map(|h| serde_json::from_str(&h).map_err(|_| corrupt("working_hours", &h)))
            .transpose()?,
        skills: {
            let text: Option<String> = r.try_get("skills")?;
            Skills::from_stored(text.as_deref())
                .ok_or_else(|| corrupt("skills", text.as_deref().unwrap_or_default()))?
        },
        presence: Presence::parse(&presence).ok_or_else(|| corrupt("presence", &presence))?,
        presence_changed_at: ts(r.try_get("presence_changed_at")?)?,
        created_at: ts(r.try_get("created_at")?)?,
        updated_at: ts(r.try_get("updated_at")?)?,
    })
}

async fn queue_from_row(conn: &mut DbConn, r: &DbRow) -> Result<Queue, StoreError> {
    let id: String = r.try_get("id")?;
    let members: Vec<String> = sqlx::query_scalar(
        "SELECT agent_id FROM queue_members WHERE queue_id = $1 ORDER BY agent_id",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Queue {
        id: QueueId::from_trusted(id),
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        name: r.try_get("name")?,
        offer_timeout_seconds: r.try_get::<i64, _>("offer_timeout_seconds")? as u32,
        rules: LineRules {
            aging_per_minute: r.try_get("priority_aging_per_minute")?,
            relax_after: r
                .try_get::<Option<i64>, _>("skill_relax_after_seconds")?
                .map(|s| std::time::Duration::from_secs(s.max(0) as u64)),
        },
        member_ids: members.into_iter().map(AgentId::from_trusted).collect(),
        created_at: ts(r.try_get("created_at")?)?,
        updated_at: ts(r.try_get("updated_at")?)?,
    })
}

fn agent_json(a: &Agent) -> serde_json::Value {
    serde_json::json!({
        "name": a.name, "external_id": a.external_id, "concurrency": a.concurrency,
        "sip_uri": a.sip_uri.as_ref().map(SipUri::as_str),
        "timezone": a.timezone.name(), "working_hours": a.working_hours, "skills": a.skills,
        "queue_ids": a.queue_ids.iter().map(|q| q.as_str()).collect::<Vec<_>>(),
        "presence": a.presence.as_str(),
    })
}

fn queue_json(q: &Queue) -> serde_json::Value {
    serde_json::json!({
        "name": q.name, "offer_timeout_seconds": q.offer_timeout_seconds,
        "priority_aging_per_minute": q.rules.aging_per_minute,
        "skill_relax_after_seconds": q.rules.relax_after.map(|d| d.as_secs()),
        "member_ids": q.member_ids.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    })
}

fn audit(
    action: &'static str,
    kind: &'static str,
    id: &str,
    before: Option<serde_json::Value>,
    after: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: kind,
        resource_id: Some(id.to_owned()),
        changes: crate::domain::auth::diff(&before.unwrap_or_default(), &after),
    }
}

/// Replaces the memberships on one side: an agent's queues or a queue's agents.
async fn set_members(
    conn: &mut DbConn,
    account: &str,
    pairs: &[(&str, &str)],
    clear_column: &str,
    clear_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "DELETE FROM queue_members WHERE {clear_column} = $1 AND account_id = $2"
    ))
    .bind(clear_id)
    .bind(account)
    .execute(&mut *conn)
    .await?;
    for (queue, agent) in pairs {
        sqlx::query(
            "INSERT INTO queue_members (queue_id, agent_id, account_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(*queue)
        .bind(*agent)
        .bind(account)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The account's live (not deleted) rows of `table`, in id order.
async fn live_rows(
    conn: &mut DbConn,
    columns: &str,
    table: &str,
    account: &AccountId,
) -> Result<Vec<DbRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {columns} FROM {table} WHERE account_id = $1 AND deleted_at IS NULL ORDER BY id"
    ))
    .bind(account.as_str())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// The account's live (not deleted) row of `table` with this id.
async fn live_row(
    conn: &mut DbConn,
    columns: &str,
    table: &str,
    account: &AccountId,
    id: &str,
) -> Result<Option<DbRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {columns} FROM {table} WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(account.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}

pub(super) async fn fetch_agent(
    conn: &mut DbConn,
    account: &AccountId,
    id: &AgentId,
) -> Result<Option<Agent>, StoreError> {
    match live_row(conn, AGENT_COLUMNS, "agents", account, id.as_str()).await? {
        Some(r) => Ok(Some(agent_from_row(conn, &r).await?)),
        None => Ok(None),
    }
}

async fn fetch_queue(
    conn: &mut DbConn,
    account: &AccountId,
    id: &QueueId,
) -> Result<Option<Queue>, StoreError> {
    match live_row(conn, QUEUE_COLUMNS, "queues", account, id.as_str()).await? {
        Some(r) => Ok(Some(queue_from_row(conn, &r).await?)),
        None => Ok(None),
    }
}

/// Appends the audit entry of one change to an agent or a queue, and commits.
async fn commit_audited(
    mut tx: Transaction<'static, Db>,
    account: &AccountId,
    actor: &Actor,
    at: Timestamp,
    record: AuditRecord,
) -> Result<(), StoreError> {
    insert_audit(&mut tx, account.as_str(), actor, at, &[record]).await?;
    tx.commit().await?;
    Ok(())
}

async fn write_agent(conn: &mut DbConn, a: &Agent, insert: bool) -> Result<bool, StoreError> {
    let hours = a
        .working_hours
        .as_ref()
        .map(|h| serde_json::to_string(h).unwrap_or_default());
    let done = if insert {
        sqlx::query(&format!(
            "INSERT INTO agents ({AGENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(a.id.as_str())
        .bind(a.account_id.as_str())
        .bind(&a.name)
        .bind(&a.external_id)
        .bind(i64::from(a.concurrency))
        .bind(a.timezone.name())
        .bind(hours)
        .bind(a.presence.as_str())
        .bind(ms(a.presence_changed_at))
        .bind(ms(a.created_at))
        .bind(ms(a.updated_at))
        .bind(a.sip_uri.as_ref().map(SipUri::as_str))
        .bind(a.skills.stored())
        .execute(&mut *conn)
        .await?
    } else {
        sqlx::query(
            "UPDATE agents SET name = $1, external_id = $2, concurrency = $3, timezone = $4, \
             working_hours = $5, presence = $6, presence_changed_at = $7, updated_at = $8, \
             sip_uri = $9, skills = $10 WHERE id = $11 AND account_id = $12 AND deleted_at IS NULL",
        )
        .bind(&a.name)
        .bind(&a.external_id)
        .bind(i64::from(a.concurrency))
        .bind(a.timezone.name())
        .bind(hours)
        .bind(a.presence.as_str())
        .bind(ms(a.presence_changed_at))
        .bind(ms(a.updated_at))
        .bind(a.sip_uri.as_ref().map(SipUri::as_str))
        .bind(a.skills.stored())
        .bind(a.id.as_str())
        .bind(a.account_id.as_str())
        .execute(&mut *conn)
        .await?
    };
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let pairs: Vec<(&str, &str)> = a
        .queue_ids
        .iter()
        .map(|q| (q.as_str(), a.id.as_str()))
        .collect();
    set_members(
        conn,
        a.account_id.as_str(),
        &pairs,
        "agent_id",
        a.id.as_str(),
    )
    .await?;
    Ok(true)
}

async fn write_queue(conn: &mut DbConn, q: &Queue, insert: bool) -> Result<bool, StoreError> {
    let relax = q.rules.relax_after.map(|d| d.as_secs() as i64);
    let done = if insert {
        sqlx::query(&format!(
            "INSERT INTO queues ({QUEUE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(q.id.as_str())
        .bind(q.account_id.as_str())
        .bind(&q.name)
        .bind(i64::from(q.offer_timeout_seconds))
        .bind(ms(q.created_at))
        .bind(ms(q.updated_at))
        .bind(q.rules.aging_per_minute)
        .bind(relax)
        .execute(&mut *conn)
        .await?
    } else {
        sqlx::query(
            "UPDATE queues SET name = $1, offer_timeout_seconds = $2, updated_at = $3, \
             priority_aging_per_minute = $4, skill_relax_after_seconds = $5 \
             WHERE id = $6 AND account_id = $7 AND deleted_at IS NULL",
        )
        .bind(&q.name)
        .bind(i64::from(q.offer_timeout_seconds))
        .bind(ms(q.updated_at))
        .bind(q.rules.aging_per_minute)
        .bind(relax)
        .bind(q.id.as_str())
        .bind(q.account_id.as_str())
        .execute(&mut *conn)
        .await?
    };
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let pairs: Vec<(&str, &str)> = q
        .member_ids
        .iter()
        .map(|a| (q.id.as_str(), a.as_str()))
        .collect();
    set_members(
        conn,
        q.account_id.as_str(),
        &pairs,
        "queue_id",
        q.id.as_str(),
    )
    .await?;
    Ok(true)
}

/// How one kind of resource is deleted: marked, taken out of its queue memberships, audited.
struct Deletion {
    /// `UPDATE` setting `deleted_at` and `updated_at` (binds: now, now, id, account).
    sql: &'static str,
    member_column: &'static str,
    action: &'static str,
    kind: &'static str,
}

const AGENT_DELETION: Deletion = Deletion {
    sql: "UPDATE agents SET deleted_at = $1, presence = 'offline', updated_at = $2 \
          WHERE id = $3 AND account_id = $4 AND deleted_at IS NULL",
    member_column: "agent_id",
    action: "agent.delete",
    kind: "agent",
};

const QUEUE_DELETION: Deletion = Deletion {
    sql: "UPDATE queues SET deleted_at = $1, updated_at = $2 \
          WHERE id = $3 AND account_id = $4 AND deleted_at IS NULL",
    member_column: "queue_id",
    action: "queue.delete",
    kind: "queue",
};

/// Deletes an agent or a queue; false if the account has no such live one.
async fn soft_delete(
    store: &SqlStore,
    what: Deletion,
    account: &AccountId,
    id: &str,
    now: Timestamp,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(what.sql)
        .bind(ms(now))
        .bind(ms(now))
        .bind(id)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
    let deleted = done.rows_affected() == 1;
    let (mut events, mut feed) = (Vec::new(), Vec::new());
    if deleted {
        set_members(&mut tx, account.as_str(), &[], what.member_column, id).await?;
        if what.kind == "agent" {
            let reason = WithdrawReason::Presence;
            (events, feed) = withdraw_offers(&mut tx, account.as_str(), id, reason, now).await?;
        }
        // Its callbacks stay visible, with one assignee fewer (or unassigned).
        events.extend(unassign(&mut tx, account.as_str(), id, now).await?);
        let record = audit(what.action, what.kind, id, None, serde_json::json!({}));
        insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        insert_events(&mut tx, &events).await?;
        insert_agent_events(&mut tx, &feed).await?;
    }
    tx.commit().await?;
    if !events.is_empty() {
        store.events.notify();
        store.routing.notify();
    }
    store
        .agent_feed
        .raise(feed.iter().map(NewAgentEvent::agent));
    Ok(deleted)
}

#[async_trait::async_trait]
impl AgentStore for SqlStore {
    async fn insert_agent(&self, agent: &Agent, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        write_agent(&mut tx, agent, true).await?;
        sqlx::query("UPDATE agents SET idle_since = $1 WHERE id = $2")
            .bind(ms(agent.presence_changed_at))
            .bind(agent.id.as_str())
            .execute(&mut *tx)
            .await?;
        let record = audit(
            "agent.create",
            "agent",
            agent.id.as_str(),
            None,
            agent_json(agent),
        );
        commit_audited(tx, &agent.account_id, actor, agent.created_at, record).await
    }

    async fn list_agents(&self, account: &AccountId) -> Result<Vec<Agent>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let rows = live_rows(&mut conn, AGENT_COLUMNS, "agents", account).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(agent_from_row(&mut conn, r).await?);
        }
        Ok(out)
    }

    async fn held_skills(
        &self,
        account: &AccountId,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let sets: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT skills FROM agents WHERE account_id = $1 AND deleted_at IS NULL \
             AND skills IS NOT NULL",
        )
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        let mut held = std::collections::BTreeSet::new();
        for text in &sets {
            let skills = Skills::from_stored(Some(text)).ok_or_else(|| corrupt("skills", text))?;
            held.extend(skills.names().map(str::to_owned));
        }
        Ok(held)
    }

    async fn get_agent(
        &self,
        account: &AccountId,
        id: &AgentId,
    ) -> Result<Option<Agent>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_agent(&mut conn, account, id).await
    }

    async fn update_agent(&self, agent: &Agent, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch_agent(&mut tx, &agent.account_id, &agent.id).await? else {
            return Ok(false);
        };
        if !write_agent(&mut tx, agent, false).await? {
            return Ok(false);
        }
        let record = audit(
            "agent.update",
            "agent",
            agent.id.as_str(),
            Some(agent_json(&before)),
            agent_json(agent),
        );
        commit_audited(tx, &agent.account_id, actor, agent.updated_at, record).await?;
        // New skills or queues may let the agent take what waits.
        self.routing.notify();
        Ok(true)
    }

    async fn delete_agent(
        &self,
        account: &AccountId,
        id: &AgentId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        soft_delete(self, AGENT_DELETION, account, id.as_str(), now, actor).await
    }

    async fn set_presence(
        &self,
        account: &AccountId,
        id: &AgentId,
        presence: Presence,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Option<Agent>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(mut agent) = fetch_agent(&mut tx, account, id).await? else {
            return Ok(None);
        };
        let (mut events, mut feed) = (Vec::new(), Vec::new());
        if agent.presence != presence {
            let before = agent_json(&agent);
            agent.presence = presence;
            agent.presence_changed_at = now;
            agent.updated_at = now;
            write_agent(&mut tx, &agent, false).await?;
            // Set by a person from now on; an agent who becomes available is idle from now.
            sqlx::query(
                "UPDATE agents SET presence_auto = 0, \
                 idle_since = CASE WHEN presence = 'available' THEN $1 ELSE idle_since END \
                 WHERE id = $2",
            )
            .bind(ms(now))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            if presence != Presence::Available {
                let reason = WithdrawReason::Presence;
                (events, feed) =
                    withdraw_offers(&mut tx, account.as_str(), id.as_str(), reason, now).await?;
            }
            let record = audit(
                "agent.presence",
                "agent",
                id.as_str(),
                Some(before),
                agent_json(&agent),
            );
            insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
            insert_events(&mut tx, &events).await?;
            insert_agent_events(&mut tx, &feed).await?;
        }
        tx.commit().await?;
        if presence == Presence::Available || !events.is_empty() {
            self.routing.notify();
        }
        if !events.is_empty() {
            self.events.notify();
        }
        self.agent_feed.raise(feed.iter().map(NewAgentEvent::agent));
        Ok(Some(agent))
    }

    async fn insert_queue(&self, queue: &Queue, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        write_queue(&mut tx, queue, true).await?;
        let record = audit(
            "queue.create",
            "queue",
            queue.id.as_str(),
            None,
            queue_json(queue),
        );
        commit_audited(tx, &queue.account_id, actor, queue.created_at, record).await
    }

    async fn list_queues(&self, account: &AccountId) -> Result<Vec<Queue>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let rows = live_rows(&mut conn, QUEUE_COLUMNS, "queues", account).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(queue_from_row(&mut conn, r).await?);
        }
        Ok(out)
    }

    async fn get_queue(
        &self,
        account: &AccountId,
        id: &QueueId,
    ) -> Result<Option<Queue>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_queue(&mut conn, account, id).await
    }

    async fn update_queue(&self, queue: &Queue, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch_queue(&mut tx, &queue.account_id, &queue.id).await? else {
            return Ok(false);
        };
        if !write_queue(&mut tx, queue, false).await? {
            return Ok(false);
        }
        if queue.rules != before.rules {
            rerank_line(&mut tx, queue.id.as_str(), &queue.rules).await?;
        }
        let record = audit(
            "queue.update",
            "queue",
            queue.id.as_str(),
            Some(queue_json(&before)),
            queue_json(queue),
        );
        commit_audited(tx, &queue.account_id, actor, queue.updated_at, record).await?;
        self.routing.notify();
        Ok(true)
    }

    async fn delete_queue(
        &self,
        account: &AccountId,
        id: &QueueId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        soft_delete(self, QUEUE_DELETION, account, id.as_str(), now, actor).await
    }
}
