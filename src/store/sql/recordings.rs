//! The SQL of the recording retention sweep: the accounts that keep recordings for a limited
//! time, their recorded calls past it (by `calls_recorded`, an index of recorded calls only),
//! and forgetting a recording once its file is deleted.

use jiff::Timestamp;

use super::{SqlStore, corrupt, ms};
use crate::domain::{AccountId, CallbackId};
use crate::store::{
    StoreError,
    recordings::{RecordingStore, StoredRecording},
};

#[async_trait::async_trait]
impl RecordingStore for SqlStore {
    async fn recording_retentions(&self) -> Result<Vec<(AccountId, u32)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            // The column is an INTEGER on PostgreSQL (int4): read as the BIGINT sqlx decodes.
            "SELECT account_id, CAST(recording_retention_days AS BIGINT) FROM account_settings \
             WHERE recording_retention_days IS NOT NULL ORDER BY account_id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(account, days)| {
                let days = u32::try_from(days.max(0)).unwrap_or(u32::MAX);
                (AccountId::from_trusted(account), days)
            })
            .collect())
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
