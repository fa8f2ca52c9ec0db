//! The SQL of calls placed through a provider's API: the trunk a webhook names, and the end
//! of the call it reports (`calls_provider` finds the call by trunk and provider id).

use jiff::Timestamp;
use sqlx::Row;

use super::{SqlStore, trunks::trunk_by_id};
use crate::domain::{AccountId, Actor, CallbackId, ids::TrunkId, trunk::Trunk};
use crate::store::{
    ChangeError, OutcomeReport, StoreError,
    provider_calls::{ProviderCallStore, ProviderFinish},
};

/// `details` laid over what a call already kept: keys of the later report win.
fn merged(kept: Option<&str>, details: &serde_json::Value) -> serde_json::Value {
    let mut out = kept
        .and_then(|k| serde_json::from_str::<serde_json::Value>(k).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    if let (Some(out), Some(new)) = (out.as_object_mut(), details.as_object()) {
        for (k, v) in new {
            if !v.is_null() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

#[async_trait::async_trait]
impl ProviderCallStore for SqlStore {
    async fn provider_trunk(&self, id: &TrunkId) -> Result<Option<Trunk>, StoreError> {
        trunk_by_id(&self.reader, &self.ring(), id).await
    }

    async fn finish_provider_call(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
        provider_call_id: &str,
        report: &OutcomeReport,
        details: &serde_json::Value,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<ProviderFinish, ChangeError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT k.callback_id, k.number, k.outcome, k.provider_details, c.attempt \
             FROM calls k JOIN callbacks c ON c.id = k.callback_id AND c.account_id = k.account_id \
             WHERE k.account_id = $1 AND k.trunk_id = $2 AND k.provider_call_id = $3",
        )
        .bind(account.as_str())
        .bind(trunk.as_str())
        .bind(provider_call_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(ProviderFinish::NotFound);
        };
        let callback: String = row.try_get("callback_id").map_err(StoreError::from)?;
        let number: i64 = row.try_get("number").map_err(StoreError::from)?;
        let outcome: Option<String> = row.try_get("outcome").map_err(StoreError::from)?;
        let kept: Option<String> = row.try_get("provider_details").map_err(StoreError::from)?;
        let current: i64 = row.try_get("attempt").map_err(StoreError::from)?;
        if outcome.is_some() || number != current {
            sqlx::query(
                "UPDATE calls SET provider_details = $1 \
                 WHERE account_id = $2 AND callback_id = $3 AND number = $4",
            )
            .bind(merged(kept.as_deref(), details).to_string())
            .bind(account.as_str())
            .bind(&callback)
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(ProviderFinish::AlreadyEnded);
        }
        let id = CallbackId::parse(&callback)
            .ok_or_else(|| StoreError::Corrupt(format!("callback id {callback}")))?;
        let details = merged(kept.as_deref(), details);
        let ended = self
            .outcome_in(&mut tx, account, &id, report, Some(&details), now, actor)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(ProviderFinish::Finished(Box::new(
            self.after_outcome(ended),
        )))
    }
}
