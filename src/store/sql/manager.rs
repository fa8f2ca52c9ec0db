//! The SQL of the Callback Manager's searches and report data.

use super::{
    Db,
    deliveries::{Of, deliveries_of},
};
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    CALLBACK_COLUMNS, SHOWN_STATUS, SqlStore, corrupt, moves, ms, opt_ts, rows::callback_from_row,
    ts,
};
use crate::domain::{
    AccountId, Callback, CallbackId, Origin, Outcome, Status,
    report::{ReportAttempt, ReportCallback},
    webhook::Delivery,
};
use crate::store::{
    StoreError,
    manager::{CallbackSearch, ManagerStore, SearchOrder},
};

/// The first string after every string that starts with `prefix` (for index range scans).
fn prefix_end(prefix: &str) -> String {
    let mut s = prefix.to_owned();
    s.push(char::MAX);
    s
}

/// The query of one search page; `prefix` goes before it (`EXPLAIN QUERY PLAN` in tests).
pub(in crate::store) fn search_query<'a>(
    prefix: &str,
    account: &AccountId,
    search: &'a CallbackSearch,
) -> QueryBuilder<'a, Db> {
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
        "{prefix}SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE account_id = "
    ));
    qb.push_bind(account.as_str().to_owned());
    if let Some(status) = search.status {
        qb.push(format!(" AND {}", moves::reads_as(status)));
    }
    if let Some(origin) = search.origin {
        qb.push(" AND origin = ").push_bind(origin.as_str());
    }
    if let Some(phone) = &search.phone {
        qb.push(" AND phone = ")
            .push_bind(phone.as_str().to_owned());
    }
    if let Some(prefix) = &search.phone_prefix {
        qb.push(" AND phone >= ")
            .push_bind(prefix.clone())
            .push(" AND phone < ")
            .push_bind(prefix_end(prefix));
    }
    // Assignees come from `callback_assignees` (kept by triggers), read through its key.
    if let Some(agent) = &search.agent {
        qb.push(" AND id IN (SELECT callback_id FROM callback_assignees WHERE account_id = ")
            .push_bind(account.as_str().to_owned())
            .push(" AND assignee = ")
            .push_bind(agent.clone())
            .push(" UNION ALL SELECT id FROM callbacks WHERE account_id = ")
            .push_bind(account.as_str().to_owned())
            .push(" AND agent_id = ")
            .push_bind(agent.clone())
            .push(")");
    }
    if let Some(queue) = &search.queue {
        qb.push(" AND id IN (SELECT callback_id FROM callback_assignees WHERE account_id = ")
            .push_bind(account.as_str().to_owned())
            .push(" AND assignee = ")
            .push_bind(queue.clone())
            .push(")");
    }
    if let Some(from) = search.scheduled_from {
        qb.push(" AND scheduled_at >= ").push_bind(ms(from));
    }
    if let Some(to) = search.scheduled_to {
        qb.push(" AND scheduled_at < ").push_bind(ms(to));
    }
    if let Some(after) = &search.after {
        let id = after.id.as_str().to_owned();
        match (search.order, after.scheduled_ms) {
            (SearchOrder::NewestFirst, _) => {
                qb.push(" AND id < ").push_bind(id);
            }
            (SearchOrder::OldestFirst, _) => {
                qb.push(" AND id > ").push_bind(id);
            }
            (SearchOrder::ScheduledAsc, Some(at)) => {
                qb.push(" AND (scheduled_at, id) > (")
                    .push_bind(at)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            (SearchOrder::ScheduledDesc, Some(at)) => {
                qb.push(" AND (scheduled_at, id) < (")
                    .push_bind(at)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            // A scheduled order always has its time in the cursor (the API checks).
            (_, None) => {}
        }
    }
    qb.push(match search.order {
        SearchOrder::NewestFirst => " ORDER BY id DESC",
        SearchOrder::OldestFirst => " ORDER BY id ASC",
        SearchOrder::ScheduledAsc => " ORDER BY scheduled_at ASC, id ASC",
        SearchOrder::ScheduledDesc => " ORDER BY scheduled_at DESC, id DESC",
    });
    qb.push(" LIMIT ").push_bind(i64::from(search.limit));
    qb
}

#[async_trait::async_trait]
impl ManagerStore for SqlStore {
    async fn search_callbacks(
        &self,
        account: &AccountId,
        search: &CallbackSearch,
    ) -> Result<Vec<Callback>, StoreError> {
        let rows = search_query("", account, search)
            .build()
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(callback_from_row).collect()
    }

    async fn report_data(
        &self,
        account: &AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<ReportCallback>, Vec<ReportAttempt>), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT origin, {SHOWN_STATUS} AS status, outcome, created_at, scheduled_at, \
             assign_type, assignees, disposition, (SELECT MIN(a.started_at) FROM calls a \
             WHERE a.callback_id = callbacks.id) AS first_dialled_at \
             FROM callbacks WHERE account_id = $1 AND scheduled_at >= $2 AND scheduled_at < $3",
        ))
        .bind(account.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.reader)
        .await?;
        let callbacks = rows
            .iter()
            .map(|r| {
                let origin: String = r.try_get("origin")?;
                let status: String = r.try_get("status")?;
                let outcome: Option<String> = r.try_get("outcome")?;
                let assign_type: Option<String> = r.try_get("assign_type")?;
                let assignees: Option<String> = r.try_get("assignees")?;
                let queue_ids = match (assign_type.as_deref(), assignees) {
                    (Some("queue"), Some(ids)) => {
                        serde_json::from_str(&ids).map_err(|_| corrupt("assignees", &ids))?
                    }
                    _ => Vec::new(),
                };
                Ok(ReportCallback {
                    origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
                    status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                    outcome: outcome
                        .map(|o| Outcome::parse(&o).ok_or_else(|| corrupt("outcome", &o)))
                        .transpose()?,
                    created_at: ts(r.try_get("created_at")?)?,
                    scheduled_at: ts(r.try_get("scheduled_at")?)?,
                    first_dialled_at: opt_ts(r.try_get("first_dialled_at")?)?,
                    queue_ids,
                    disposition: r.try_get("disposition")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT a.agent_id, a.outcome, a.duration_seconds, a.disposition FROM calls a \
             JOIN callbacks c ON c.id = a.callback_id \
             WHERE c.account_id = $1 AND c.scheduled_at >= $2 AND c.scheduled_at < $3 \
             AND (a.agent_id IS NOT NULL OR a.disposition IS NOT NULL)",
        )
        .bind(account.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.reader)
        .await?;
        let attempts = rows
            .iter()
            .map(|r| {
                let outcome: Option<String> = r.try_get("outcome")?;
                Ok(ReportAttempt {
                    agent_id: r.try_get("agent_id")?,
                    outcome: outcome
                        .map(|o| Outcome::parse(&o).ok_or_else(|| corrupt("outcome", &o)))
                        .transpose()?,
                    duration_seconds: r
                        .try_get::<Option<i64>, _>("duration_seconds")?
                        .map(|d| d as u32),
                    disposition: r.try_get("disposition")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((callbacks, attempts))
    }

    async fn last_event_seq(&self, account: &AccountId) -> Result<i64, StoreError> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT MAX(account_seq) FROM events WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&self.reader)
                .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn callback_deliveries(
        &self,
        account: &AccountId,
        callback: &CallbackId,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        deliveries_of(
            &self.reader,
            account,
            Of::Resource(callback.as_str()),
            limit,
        )
        .await
    }
}
