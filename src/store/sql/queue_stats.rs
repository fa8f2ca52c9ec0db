//! The SQL of a queue's wait and of its slots' capacity: its line, its members' load and its
//! recent handle times. Reads only, from the reader pool.

use std::collections::HashSet;

use jiff::Timestamp;
use sqlx::Row;

use super::{
    ASSIGNEE_ROWS, SqlStore,
    agents::{AGENT_COLUMNS, agent_from_parts},
    ms, opt_ts, ts,
};
use crate::domain::{
    AccountId,
    agent::Agent,
    ids::QueueId,
    queue_wait::{Waiting, line_instant},
};
use crate::store::{StoreError, queue_stats::QueueStatsStore};

#[async_trait::async_trait]
impl QueueStatsStore for SqlStore {
    async fn queue_waiting(
        &self,
        account: &AccountId,
        queue: &QueueId,
        now: Timestamp,
    ) -> Result<Vec<Waiting>, StoreError> {
        // One statement, so one snapshot: a routing pass moving a callback from due to in line
        // between two reads would be counted in neither.
        let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(&format!(
            // In line: the line's `due_at` is the line instant.
            "SELECT callback_id, priority, due_at, CAST(NULL AS BIGINT) FROM routing_targets \
             WHERE target = $1 AND account_id = $2 \
             UNION ALL \
             SELECT id, priority, due_at, queued_since FROM callbacks \
             WHERE status = 'scheduled' AND dialing_mode IN ('preview', 'progressive') \
             AND agent_id IS NULL AND due_at <= $3 AND account_id = $4 \
             AND assign_type = 'queue' AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = $5)"
        ))
        .bind(queue.as_str())
        .bind(account.as_str())
        .bind(ms(now))
        .bind(account.as_str())
        .bind(queue.as_str())
        .fetch_all(&self.reader)
        .await?;
        let mut seen = HashSet::with_capacity(rows.len());
        let mut waiting = Vec::with_capacity(rows.len());
        for (id, priority, due_at, queued_since) in rows {
            if !seen.insert(id.clone()) {
                continue;
            }
            waiting.push(Waiting {
                callback_id: id,
                priority: priority.clamp(0, 100) as u8,
                line_at: line_instant(ts(due_at)?, opt_ts(queued_since)?),
            });
        }
        Ok(waiting)
    }

    async fn queue_staff(
        &self,
        account: &AccountId,
        queue: &QueueId,
    ) -> Result<Vec<(Agent, u32)>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS}, \
             (SELECT COUNT(*) FROM callbacks c WHERE c.agent_id = agents.id \
              AND c.status IN ('offered', 'in_progress', 'scheduled', 'dispatching')) AS load \
             FROM agents WHERE account_id = $1 AND deleted_at IS NULL \
             AND id IN (SELECT agent_id FROM queue_members WHERE queue_id = $2 AND account_id = $3) \
             ORDER BY id"
        ))
        .bind(account.as_str())
        .bind(queue.as_str())
        .bind(account.as_str())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                let agent = agent_from_parts(row, vec![queue.as_str().to_owned()])?;
                let load = row.try_get::<i64, _>("load")?.max(0) as u32;
                Ok((agent, load))
            })
            .collect()
    }

    async fn queue_handle_times(
        &self,
        account: &AccountId,
        queue: &QueueId,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<u32>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let rows: Vec<(Option<i64>,)> = sqlx::query_as(&format!(
            "SELECT COALESCE(k.ended_at - k.answered_at, 1000 * k.duration_seconds, \
             k.ended_at - k.started_at) FROM calls k \
             JOIN callbacks ON callbacks.id = k.callback_id \
             WHERE k.account_id = $1 AND k.outcome = 'answered' AND k.ended_at >= $2 \
             AND callbacks.account_id = $3 AND callbacks.assign_type = 'queue' \
             AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = $4) \
             ORDER BY k.ended_at DESC LIMIT $5"
        ))
        .bind(account.as_str())
        .bind(ms(since))
        .bind(account.as_str())
        .bind(queue.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(handled,)| handled)
            .map(|ms| u32::try_from(ms.max(0) / 1000).unwrap_or(u32::MAX))
            .collect())
    }
}
