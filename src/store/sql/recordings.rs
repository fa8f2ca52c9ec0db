//! The SQL of the recording retention sweep: the accounts that keep recordings for a limited
//! time, their recorded calls past it (by `calls_recorded`, an index of recorded calls only),
//! and forgetting a recording once its file is deleted.

use jiff::Timestamp;

use super::{DbPool, SqlStore, corrupt, ms};
use crate::domain::{AccountId, CallbackId, Status};
use crate::store::{
    StoreError,
    recordings::{RecordingStore, StoredRecording},
};

/// Every account whose setting `column` (a number of days) is set, with that number.
pub(super) async fn accounts_keeping(
    pool: &DbPool,
    column: &'static str,
) -> Result<Vec<(AccountId, u32)>, StoreError> {
    // The columns are INTEGERs on PostgreSQL (int4): read as the BIGINT sqlx decodes.
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT account_id, CAST({column} AS BIGINT) FROM account_settings \
         WHERE {column} IS NOT NULL ORDER BY account_id"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(account, days)| {
            let days = u32::try_from(days.max(0)).unwrap_or(u32::MAX);
            (AccountId::from_trusted(account), days)
        })
        .collect())
}

#[async_trait::async_trait]
impl RecordingStore for SqlStore {
    async fn recording_retentions(&self) -> Result<Vec<(AccountId, u32)>, StoreError> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            // The columns are INTEGERs on PostgreSQL (int4): read as the BIGINT sqlx decodes.
            "SELECT account_id, CAST(recording_retention_days AS BIGINT), \
             CAST(retention_days AS BIGINT) FROM account_settings \
             WHERE recording_retention_days IS NOT NULL OR retention_days IS NOT NULL \
             ORDER BY account_id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(account, recordings, callbacks)| {
                let days = match (recordings, callbacks) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b)?,
                };
                let days = u32::try_from(days.max(0)).unwrap_or(u32::MAX);
                Some((AccountId::from_trusted(account), days))
            })
            .collect())
    }

    async fn callback_retentions(&self) -> Result<Vec<(AccountId, u32)>, StoreError> {
        accounts_keeping(&self.reader, "retention_days").await
    }

    async fn purge_ended_callbacks(
        &self,
        account: &AccountId,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let ended = Status::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut tx = self.begin_write().await?;
        let ids: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT id FROM callbacks c WHERE c.account_id = $1 AND c.status IN ({ended}) \
             AND c.updated_at < $2 AND NOT EXISTS (SELECT 1 FROM calls k \
             WHERE k.callback_id = c.id AND k.recording_ref IS NOT NULL) \
             ORDER BY c.updated_at LIMIT $3"
        ))
        .bind(account.as_str())
        .bind(ms(ended_before))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        // What refers to the callbacks first, the callbacks last; every statement within the
        // account, but for the declined offers, which are keyed by callback alone.
        let list = |from: usize| {
            (from..ids.len() + from)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (scoped, unscoped) = (list(2), list(1));
        let statements = [
            format!(
                "DELETE FROM webhook_deliveries WHERE account_id = $1 AND resource_id IN ({scoped})"
            ),
            format!("DELETE FROM events WHERE account_id = $1 AND resource_id IN ({scoped})"),
            format!("DELETE FROM calls WHERE account_id = $1 AND callback_id IN ({scoped})"),
            format!("DELETE FROM agent_events WHERE account_id = $1 AND callback_id IN ({scoped})"),
            format!("DELETE FROM offer_declines WHERE callback_id IN ({unscoped})"),
            format!(
                "DELETE FROM routing_targets WHERE account_id = $1 AND callback_id IN ({scoped})"
            ),
            format!(
                "DELETE FROM callback_assignees WHERE account_id = $1 AND callback_id IN ({scoped})"
            ),
            format!(
                "DELETE FROM notification_outbox WHERE account_id = $1 AND callback_id IN ({scoped})"
            ),
            format!("DELETE FROM callbacks WHERE account_id = $1 AND id IN ({scoped})"),
        ];
        let mut purged = 0;
        for sql in &statements {
            let mut query = sqlx::query(sql);
            if !sql.contains("offer_declines") {
                query = query.bind(account.as_str());
            }
            for (id,) in &ids {
                query = query.bind(id.as_str());
            }
            purged = query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(purged)
    }

    async fn expired_recordings(
        &self,
        account: &AccountId,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<StoredRecording>, StoreError> {
        // The expression is the index's (`calls_recorded`), word for word.
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT callback_id, number, recording_ref FROM calls \
             WHERE account_id = $1 AND recording_ref IS NOT NULL \
             AND COALESCE(ended_at, started_at) < $2 \
             ORDER BY COALESCE(ended_at, started_at) LIMIT $3",
        )
        .bind(account.as_str())
        .bind(ms(ended_before))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(callback, number, file)| {
                Ok(StoredRecording {
                    account_id: account.clone(),
                    callback_id: CallbackId::parse(&callback)
                        .ok_or_else(|| corrupt("callback id", &callback))?,
                    attempt: u32::try_from(number)
                        .map_err(|_| corrupt("call number", &number.to_string()))?,
                    file,
                })
            })
            .collect()
    }

    async fn forget_recordings(
        &self,
        account: &AccountId,
        recordings: &[StoredRecording],
    ) -> Result<u64, StoreError> {
        if recordings.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut forgotten = 0;
        for recording in recordings.iter().filter(|r| &r.account_id == account) {
            forgotten += sqlx::query(
                "UPDATE calls SET recording_ref = NULL \
                 WHERE account_id = $1 AND callback_id = $2 AND number = $3 AND recording_ref = $4",
            )
            .bind(account.as_str())
            .bind(recording.callback_id.as_str())
            .bind(i64::from(recording.attempt))
            .bind(&recording.file)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(forgotten)
    }
}
