//! The SQL of the webhook part of the store: the signing secret, endpoints and the event log
//! as the API reads it. Deliveries live in `deliveries`, where the trait's delivery methods
//! delegate.

use std::time::Duration;

use super::{Db, DbRow};
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    SqlStore,
    audit::insert_audit,
    audit_without_changes, corrupt,
    events::{STORED_DATA_COLUMNS, StoredData, render_data},
    ms,
    secrets::{self, open_with},
    ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, SigningSecret, StoredEvent, WebhookEndpoint, auth::diff,
    ids::WebhookEndpointId, webhook::Delivery,
};
use crate::secrets::KeyRing;
use crate::store::{
    StoreError,
    webhooks::{ClaimedDelivery, DeliveryReport, WebhookStore},
};

/// The audit record of an endpoint change: its public fields that differ (never the secret,
/// only whether it changed).
fn endpoint_audit(
    action: &'static str,
    before: Option<&WebhookEndpoint>,
    after: &WebhookEndpoint,
) -> AuditRecord {
    let view = |ep: &WebhookEndpoint| {
        serde_json::json!({
            "url": ep.url,
            "description": ep.description,
            "event_types": ep.event_types,
            "enabled": ep.enabled,
            "disabled_reason": ep.disabled_reason,
        })
    };
    let mut changes = diff(
        &before.map(view).unwrap_or(serde_json::Value::Null),
        &view(after),
    );
    if before.is_some_and(|b| b.secret.expose() != after.secret.expose())
        && let Some(map) = changes.as_object_mut()
    {
        map.insert("secret".to_owned(), serde_json::json!("rotated"));
    }
    AuditRecord {
        action,
        resource_type: "webhook_endpoint",
        resource_id: Some(after.id.as_str().to_owned()),
        changes,
    }
}
pub(super) const ENDPOINT_COLUMNS: &str = "id, account_id, url, description, event_types, secret, enabled, \
    disabled_reason, created_at, updated_at";

/// An endpoint from its row, its secret opened with `keys`.
pub(super) fn endpoint_from_row(
    row: &DbRow,
    keys: &KeyRing,
) -> Result<WebhookEndpoint, StoreError> {
    let types: String = row.try_get("event_types")?;
    let id: String = row.try_get("id")?;
    let account: String = row.try_get("account_id")?;
    let secret: String = row.try_get("secret")?;
    let secret = open_with(keys, &secrets::endpoint_secret(&account, &id), &secret)?;
    Ok(WebhookEndpoint {
        id: WebhookEndpointId::from_trusted(id),
        account_id: AccountId::from_trusted(account),
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        event_types: serde_json::from_str(&types).map_err(|_| corrupt("event_types", &types))?,
        secret: SigningSecret::parse(&secret).ok_or_else(|| corrupt("secret", "***"))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: ts(row.try_get("created_at")?)?,
        updated_at: ts(row.try_get("updated_at")?)?,
    })
}

/// An event as the API shows it, from its row; `number` is its `account_seq`.
pub(super) fn event_from_parts(
    number: i64,
    kind: String,
    at: i64,
    account: String,
    data: serde_json::Value,
) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        id: StoredEvent::id_for(&AccountId::from_trusted(account.clone()), number),
        kind,
        timestamp: ts(at)?,
        account_id: account,
        data,
    })
}

#[async_trait::async_trait]
impl WebhookStore for SqlStore {
    async fn signing_secret(
        &self,
        account: &AccountId,
    ) -> Result<Option<SigningSecret>, StoreError> {
        let secret: Option<Option<String>> =
            sqlx::query_scalar("SELECT signing_secret FROM accounts WHERE id = $1")
                .bind(account.as_str())
                .fetch_optional(&self.reader)
                .await?;
        match secret.flatten() {
            Some(s) => Ok(SigningSecret::parse(
                &self.open(&secrets::signing_secret(account.as_str()), &s)?,
            )),
            None => Ok(None),
        }
    }

    async fn set_signing_secret(
        &self,
        account: &AccountId,
        secret: &SigningSecret,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE accounts SET signing_secret = $1 WHERE id = $2")
            .bind(self.seal(&secrets::signing_secret(account.as_str()), secret.expose()))
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let record =
            audit_without_changes("account.signing_secret.rotate", "account", account.as_str());
        insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_webhook_endpoint(
        &self,
        ep: &WebhookEndpoint,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let record = endpoint_audit("webhook_endpoint.create", None, ep);
        insert_audit(
            &mut tx,
            ep.account_id.as_str(),
            actor,
            ep.created_at,
            &[record],
        )
        .await?;
        sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(ep.id.as_str())
        .bind(ep.account_id.as_str())
        .bind(&ep.url)
        .bind(&ep.description)
        .bind(serde_json::to_string(&ep.event_types).unwrap_or_default())
        .bind(self.seal(
            &secrets::endpoint_secret(ep.account_id.as_str(), ep.id.as_str()),
            ep.secret.expose(),
        ))
        .bind(i64::from(ep.enabled))
        .bind(&ep.disabled_reason)
        .bind(ms(ep.created_at))
        .bind(ms(ep.updated_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 ORDER BY id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        let keys = self.ring();
        rows.iter().map(|r| endpoint_from_row(r, &keys)).collect()
    }

    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND account_id = $2"
        ))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await?;
        let keys = self.ring();
        row.as_ref()
            .map(|r| endpoint_from_row(r, &keys))
            .transpose()
    }

    async fn update_webhook_endpoint(
        &self,
        ep: &WebhookEndpoint,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND account_id = $2"
        ))
        .bind(ep.id.as_str())
        .bind(ep.account_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let keys = self.ring();
        let Some(before) = before
            .as_ref()
            .map(|r| endpoint_from_row(r, &keys))
            .transpose()?
        else {
            return Ok(false);
        };
        let record = endpoint_audit("webhook_endpoint.update", Some(&before), ep);
        insert_audit(
            &mut tx,
            ep.account_id.as_str(),
            actor,
            ep.updated_at,
            &[record],
        )
        .await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, secret = $4, \
             enabled = $5, disabled_reason = $6, updated_at = $7 WHERE id = $8 AND account_id = $9",
        )
        .bind(&ep.url)
        .bind(&ep.description)
        .bind(serde_json::to_string(&ep.event_types).unwrap_or_default())
        .bind(self.seal(
            &secrets::endpoint_secret(ep.account_id.as_str(), ep.id.as_str()),
            ep.secret.expose(),
        ))
        .bind(i64::from(ep.enabled))
        .bind(&ep.disabled_reason)
        .bind(ms(ep.updated_at))
        .bind(ep.id.as_str())
        .bind(ep.account_id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if ep.enabled {
            // Deliveries held back while it was disabled may go now.
            self.events.notify();
        }
        Ok(done.rows_affected() == 1)
    }

    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'canceled', lease_owner = NULL, \
                 lease_expires_at = NULL WHERE endpoint_id = $1 AND status = 'pending'",
            )
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            let record =
                audit_without_changes("webhook_endpoint.delete", "webhook_endpoint", id.as_str());
            insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_events(
        &self,
        account: &AccountId,
        after: i64,
        since: Option<Timestamp>,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT account_seq, type, occurred_at, account_id, {STORED_DATA_COLUMNS} \
             FROM events WHERE account_id = "
        ));
        qb.push_bind(account.as_str())
            .push(" AND account_seq > ")
            .push_bind(after);
        if let Some(since) = since {
            qb.push(" AND occurred_at >= ").push_bind(ms(since));
        }
        if let Some(kind) = event_type {
            qb.push(" AND type = ").push_bind(kind);
        }
        qb.push(" ORDER BY account_seq LIMIT ")
            .push_bind(i64::from(limit));
        let mut conn = self.reader.acquire().await?;
        let rows = qb.build().fetch_all(&mut *conn).await?;
        let stored = rows
            .iter()
            .map(StoredData::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let data = render_data(&mut conn, &stored).await?;
        rows.iter()
            .zip(data)
            .map(|(row, data)| {
                let number: i64 = row.try_get("account_seq")?;
                Ok((
                    number,
                    event_from_parts(
                        number,
                        row.try_get("type")?,
                        row.try_get("occurred_at")?,
                        row.try_get("account_id")?,
                        data,
                    )?,
                ))
            })
            .collect()
    }

    async fn redeliver_event(
        &self,
        account: &AccountId,
        number: i64,
        now: Timestamp,
    ) -> Result<Option<usize>, StoreError> {
        self.redeliver_event(account, number, now).await
    }

    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize, StoreError> {
        self.fan_out_events(limit, now).await
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        self.claim_deliveries(now, limit, owner, lease).await
    }

    async fn record_deliveries(&self, reports: &[DeliveryReport]) -> Result<(), StoreError> {
        self.record_deliveries(reports).await
    }

    async fn list_deliveries(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.list_deliveries(account, endpoint, limit).await
    }

    async fn next_delivery_wakeup(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.next_delivery_wakeup(now).await
    }
}
