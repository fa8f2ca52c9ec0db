//! The SQL of the dialects' store verbs.

use super::Db;
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    CALLBACK_COLUMNS, SqlStore,
    callbacks::{audit_callback_change, existing_callback, push_assignee, push_filter},
    events::{NewEvent, insert_events},
    ms,
    rows::callback_from_row,
};
use crate::domain::{
    AccountId, Actor, Callback, CallbackId, Outcome,
    callback::Move,
    ids::{CampaignId, ContactId},
};
use crate::store::{
    ChangeError, ListFilter, StoreError,
    dialects::{CallbackPage, DialectStore, Reopen},
};

/// Appends the `WHERE` clause of `filter` (all but its cursor) for `account`. Unlike the API's
/// list, an assignee is always an agent id (`unassigned` is no keyword here).
fn push_dialect_filter(qb: &mut QueryBuilder<'_, Db>, account: &AccountId, filter: &ListFilter) {
    push_filter(qb, account, filter);
    if let Some(assignee) = &filter.assignee {
        push_assignee(qb, assignee);
    }
}

#[async_trait::async_trait]
impl DialectStore for SqlStore {
    async fn page_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
        offset: u64,
        limit: u32,
    ) -> Result<CallbackPage, StoreError> {
        // One read transaction, so the total and the page agree.
        let mut tx = self.reader.begin().await?;
        let mut count: QueryBuilder<Db> = QueryBuilder::new("SELECT COUNT(*) FROM callbacks");
        push_dialect_filter(&mut count, account, filter);
        let total: i64 = count.build().fetch_one(&mut *tx).await?.try_get(0)?;
        let mut page: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {CALLBACK_COLUMNS} FROM callbacks"));
        push_dialect_filter(&mut page, account, filter);
        page.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows = page.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(CallbackPage {
            callbacks: rows
                .iter()
                .map(callback_from_row)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn campaign_call_for_contact(
        &self,
        account: &AccountId,
        campaign: &CampaignId,
        contact: &ContactId,
    ) -> Result<Option<Callback>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks \
             WHERE account_id = $1 AND campaign_id = $2 AND contact_id = $3 ORDER BY id LIMIT 1"
        ))
        .bind(account.as_str())
        .bind(campaign.as_str())
        .bind(contact.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(callback_from_row).transpose()
    }

    async fn reopen_callback(
        &self,
        account: &AccountId,
        id: &CallbackId,
        reopen: &Reopen,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError> {
        let mut tx = self.begin_write().await?;
        let before = existing_callback(&mut tx, account, id).await?;
        let next = before
            .after(Move::Reopen)
            .ok_or(ChangeError::InvalidState(before.status))?;
        let mut cb = before.clone();
        cb.status = next;
        cb.scheduled_at = reopen.at;
        cb.due_at = reopen.at;
        cb.expires_at = Callback::deadline(reopen.at, cb.expire_after_minutes);
        cb.outcome = None;
        cb.agent_id = None;
        cb.offer_expires_at = None;
        cb.metadata = reopen.metadata.clone();
        cb.updated_at = now;
        cb.version += 1;
        sqlx::query(
            "UPDATE callbacks SET status = $1, scheduled_at = $2, due_at = $3, \
             expires_at = $4, outcome = NULL, attempt_open = 0, agent_id = NULL, \
             offer_expires_at = NULL, reminder_at = $5, metadata = $6, updated_at = $7, \
             version = version + 1 WHERE id = $8 AND account_id = $9 AND status = $10",
        )
        .bind(cb.status.as_str())
        .bind(ms(cb.scheduled_at))
        .bind(ms(cb.due_at))
        .bind(ms(cb.expires_at))
        .bind(cb.reminder_at().map(ms))
        .bind(
            cb.metadata
                .as_ref()
                .map(|m| serde_json::to_string(m).unwrap_or_default()),
        )
        .bind(ms(now))
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(before.status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let cb = existing_callback(&mut tx, account, id).await?;
        insert_events(
            &mut tx,
            &[NewEvent::about(
                &cb,
                "callback.rescheduled",
                now,
                serde_json::json!({
                    "reason": reopen.reason,
                    "from": before.status.as_str(),
                    "previous_outcome": before.outcome.map(Outcome::as_str),
                    "previous_scheduled_at": before.scheduled_at.to_string(),
                }),
            )],
        )
        .await?;
        audit_callback_change(
            &mut tx,
            account,
            actor,
            now,
            "callback.reopen",
            &before,
            &cb,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_for(&cb);
        self.events.notify();
        Ok(cb)
    }
}
