//! The SQL of provider-placed calls (`twilio_compatible` trunks): calls found by the
//! provider's id, what its callbacks report, and failing trunks with their `trunk.failing`
//! event.

use jiff::Timestamp;
use sqlx::Row;

use super::{SqlStore, events::NewEvent, events::insert_events, ms};
use crate::domain::{AccountId, CallbackId, ids::TrunkId};
use crate::store::{ProviderCall, StoreError, TelephonyStore, UnfinishedCall};

#[async_trait::async_trait]
impl TelephonyStore for SqlStore {
    async fn provider_call(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
        provider_call_id: &str,
    ) -> Result<Option<ProviderCall>, StoreError> {
        let row = sqlx::query(
            "SELECT callback_id, CAST(number AS BIGINT) AS number, accepted_at, outcome, \
             answered_by FROM calls \
             WHERE trunk_id = $1 AND provider_call_id = $2 AND account_id = $3",
        )
        .bind(trunk.as_str())
        .bind(provider_call_id)
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(ProviderCall {
            account_id: account.clone(),
            callback_id: CallbackId::from_trusted(r.try_get("callback_id")?),
            attempt: r.try_get::<i64, _>("number")? as u32,
            accepted: r.try_get::<Option<i64>, _>("accepted_at")?.is_some(),
            ended: r.try_get::<Option<String>, _>("outcome")?.is_some(),
            answered_by: r.try_get("answered_by")?,
        }))
    }

    async fn update_provider_call(
        &self,
        account: &AccountId,
        callback: &CallbackId,
        attempt: u32,
        leg_state: Option<&str>,
        answered_by: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let before: Option<Option<String>> = sqlx::query_scalar(
            "SELECT provider_details FROM calls \
             WHERE callback_id = $1 AND number = $2 AND account_id = $3",
        )
        .bind(callback.as_str())
        .bind(i64::from(attempt))
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Ok(false);
        };
        let mut merged = before
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        if let (Some(into), Some(from)) = (merged.as_object_mut(), details.as_object()) {
            for (k, v) in from {
                into.insert(k.clone(), v.clone());
            }
        }
        sqlx::query(
            "UPDATE calls SET leg_state = COALESCE($1, leg_state), \
             answered_by = COALESCE($2, answered_by), provider_details = $3 \
             WHERE callback_id = $4 AND number = $5 AND account_id = $6",
        )
        .bind(leg_state)
        .bind(answered_by)
        .bind(merged.to_string())
        .bind(callback.as_str())
        .bind(i64::from(attempt))
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unfinished_provider_calls(
        &self,
        default_ring: std::time::Duration,
        grace: std::time::Duration,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<UnfinishedCall>, StoreError> {
        let grace_ms = grace.as_millis() as i64;
        // No call is shorter than this: the index's range (calls_provider_open).
        let accepted_before = ms(now) - grace_ms;
        let rows = sqlx::query(
            "SELECT c.account_id, c.trunk_id, c.callback_id, CAST(c.number AS BIGINT) AS number, \
             c.provider_call_id, c.answered_by FROM calls c JOIN callbacks cb ON cb.id = c.callback_id \
             WHERE c.provider_call_id IS NOT NULL AND c.outcome IS NULL AND c.accepted_at < $1 \
             AND c.trunk_id IS NOT NULL \
             AND c.accepted_at + (COALESCE(cb.ring_timeout_seconds, CAST($2 AS BIGINT)) + 5 \
                 + cb.max_duration_seconds) * 1000 + $3 < $4 \
             ORDER BY c.accepted_at LIMIT $5",
        )
        .bind(accepted_before)
        .bind(default_ring.as_secs() as i64)
        .bind(grace_ms)
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let trunk: String = r.try_get("trunk_id")?;
                Ok(UnfinishedCall {
                    trunk_id: TrunkId::parse(&trunk)
                        .ok_or_else(|| super::corrupt("trunk id", &trunk))?,
                    provider_call_id: r.try_get("provider_call_id")?,
                    call: ProviderCall {
                        account_id: AccountId::from_trusted(r.try_get("account_id")?),
                        callback_id: CallbackId::from_trusted(r.try_get("callback_id")?),
                        attempt: r.try_get::<i64, _>("number")? as u32,
                        accepted: true,
                        ended: false,
                        answered_by: r.try_get("answered_by")?,
                    },
                })
            })
            .collect()
    }

    async fn mark_trunk_failing(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let marked = sqlx::query(
            "UPDATE trunks SET failing_since = $1, failing_reason = $2 \
             WHERE id = $3 AND account_id = $4 AND deleted_at IS NULL \
             AND failing_since IS NULL",
        )
        .bind(ms(now))
        .bind(reason)
        .bind(trunk.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if marked {
            let event = NewEvent {
                account_id: account.as_str().to_owned(),
                resource_type: "trunk",
                resource_id: trunk.as_str().to_owned(),
                kind: "trunk.failing",
                at: now,
                data: serde_json::json!({
                    "object": { "id": trunk.as_str(), "status": "failing",
                                "failing_reason": reason, "failing_since": now.to_string() }
                })
                .to_string(),
                changes: None,
                version: None,
                webhook_url: None,
            };
            insert_events(&mut tx, &[event]).await?;
        }
        tx.commit().await?;
        Ok(marked)
    }

    async fn clear_trunk_failing(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let cleared = sqlx::query(
            "UPDATE trunks SET failing_since = NULL, failing_reason = NULL \
             WHERE id = $1 AND account_id = $2 AND failing_since IS NOT NULL",
        )
        .bind(trunk.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        tx.commit().await?;
        Ok(cleared)
    }
}
