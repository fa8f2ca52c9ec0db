//! The SQL of the webhook part of the store.

use std::{collections::HashMap, time::Duration};

use super::{Db, DbConn, DbPool, DbRow};
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    SqlStore, audit::insert_audit, corrupt, events::NewEvent, events::insert_events, ms, opt_ts, ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, SigningSecret, StoredEvent, WebhookEndpoint, auth::diff,
    ids::WebhookEndpointId, webhook::Delivery,
};
use crate::store::{
    StoreError,
    webhooks::{ClaimedDelivery, DeliveryOutcome, DeliveryReport, WebhookStore},
};

const FAN_OUT_CURSOR: &str = "webhooks";

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
const ENDPOINT_COLUMNS: &str = "id, account_id, url, description, event_types, secret, enabled, \
    disabled_reason, created_at, updated_at";

fn endpoint_from_row(row: &DbRow) -> Result<WebhookEndpoint, StoreError> {
    let types: String = row.try_get("event_types")?;
    let secret: String = row.try_get("secret")?;
    Ok(WebhookEndpoint {
        id: WebhookEndpointId::from_trusted(row.try_get("id")?),
        account_id: AccountId::from_trusted(row.try_get("account_id")?),
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
fn event_from_parts(
    number: i64,
    kind: String,
    at: i64,
    account: String,
    data: &str,
) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        id: StoredEvent::id_for(&AccountId::from_trusted(account.clone()), number),
        kind,
        timestamp: ts(at)?,
        account_id: account,
        data: serde_json::from_str(data).map_err(|_| corrupt("event data", data))?,
    })
}

/// A delivery row to insert.
struct NewDelivery<'a> {
    account_id: &'a str,
    event_seq: i64,
    endpoint_id: Option<&'a str>,
    url: &'a str,
    resource_id: &'a str,
}

async fn insert_deliveries(
    conn: &mut DbConn,
    rows: &[NewDelivery<'_>],
    now: Timestamp,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(400) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO webhook_deliveries (account_id, event_seq, endpoint_id, url, target, \
             resource_id, status, next_attempt_at, created_at) ",
        );
        qb.push_values(chunk, |mut b, d| {
            let target = match d.endpoint_id {
                Some(id) => id.to_owned(),
                None => format!("url:{}", d.url),
            };
            b.push_bind(d.account_id)
                .push_bind(d.event_seq)
                .push_bind(d.endpoint_id)
                .push_bind(d.url)
                .push_bind(target)
                .push_bind(d.resource_id)
                .push_bind("pending")
                .push_bind(ms(now))
                .push_bind(ms(now));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The events picked up by a fan-out, as much of them as routing needs.
struct LogEntry {
    seq: i64,
    occurred_at: i64,
    account_id: String,
    kind: String,
    resource_id: String,
    webhook_url: Option<String>,
}

/// Endpoints of the given accounts that are enabled, grouped by account.
async fn enabled_endpoints(
    conn: &mut DbConn,
    accounts: &[&str],
) -> Result<HashMap<String, Vec<WebhookEndpoint>>, StoreError> {
    let mut by_account: HashMap<String, Vec<WebhookEndpoint>> = HashMap::new();
    if accounts.is_empty() {
        return Ok(by_account);
    }
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled = 1 AND account_id IN ("
    ));
    let mut sep = qb.separated(", ");
    for a in accounts {
        sep.push_bind(*a);
    }
    qb.push(")");
    for row in qb.build().fetch_all(&mut *conn).await? {
        let ep = endpoint_from_row(&row)?;
        by_account
            .entry(ep.account_id.as_str().to_owned())
            .or_default()
            .push(ep);
    }
    Ok(by_account)
}

/// Routes log entries to deliveries: every enabled endpoint that wants the type (and existed
/// when the event happened, unless `include_older` for an explicit redelivery), and the
/// callback's own URL.
fn route<'a>(
    entries: &'a [LogEntry],
    endpoints: &'a HashMap<String, Vec<WebhookEndpoint>>,
    include_older: bool,
) -> Vec<NewDelivery<'a>> {
    let mut out = Vec::new();
    for e in entries {
        if let Some(eps) = endpoints.get(&e.account_id) {
            let wanted = eps.iter().filter(|ep| {
                ep.wants(&e.kind) && (include_older || ms(ep.created_at) <= e.occurred_at)
            });
            for ep in wanted {
                out.push(NewDelivery {
                    account_id: &e.account_id,
                    event_seq: e.seq,
                    endpoint_id: Some(ep.id.as_str()),
                    url: &ep.url,
                    resource_id: &e.resource_id,
                });
            }
        }
        if let Some(url) = &e.webhook_url {
            out.push(NewDelivery {
                account_id: &e.account_id,
                event_seq: e.seq,
                endpoint_id: None,
                url,
                resource_id: &e.resource_id,
            });
        }
    }
    out
}

fn log_entry(row: &DbRow) -> Result<LogEntry, StoreError> {
    Ok(LogEntry {
        seq: row.try_get("seq")?,
        occurred_at: row.try_get("occurred_at")?,
        account_id: row.try_get("account_id")?,
        kind: row.try_get("type")?,
        resource_id: row.try_get("resource_id")?,
        webhook_url: row.try_get("webhook_url")?,
    })
}

const LOG_ENTRY_COLUMNS: &str = "seq, occurred_at, account_id, type, resource_id, webhook_url";

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
        Ok(secret.flatten().and_then(|s| SigningSecret::parse(&s)))
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
            .bind(secret.expose())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let record = AuditRecord {
            action: "account.signing_secret.rotate",
            resource_type: "account",
            resource_id: Some(account.as_str().to_owned()),
            changes: serde_json::json!({}),
        };
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
        .bind(ep.secret.expose())
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
        rows.iter().map(endpoint_from_row).collect()
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
        row.as_ref().map(endpoint_from_row).transpose()
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
        let Some(before) = before.as_ref().map(endpoint_from_row).transpose()? else {
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
        .bind(ep.secret.expose())
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
            let record = AuditRecord {
                action: "webhook_endpoint.delete",
                resource_type: "webhook_endpoint",
                resource_id: Some(id.as_str().to_owned()),
                changes: serde_json::json!({}),
            };
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
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT account_seq, type, occurred_at, account_id, data FROM events \
             WHERE account_id = ",
        );
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
        let rows: Vec<(i64, String, i64, String, String)> =
            qb.build_query_as().fetch_all(&self.reader).await?;
        rows.into_iter()
            .map(|(number, kind, at, account, data)| {
                Ok((number, event_from_parts(number, kind, at, account, &data)?))
            })
            .collect()
    }

    async fn redeliver_event(
        &self,
        account: &AccountId,
        number: i64,
        now: Timestamp,
    ) -> Result<Option<usize>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {LOG_ENTRY_COLUMNS} FROM events WHERE account_seq = $1 AND account_id = $2"
        ))
        .bind(number)
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let entries = [log_entry(&row)?];
        let endpoints = enabled_endpoints(&mut tx, &[account.as_str()]).await?;
        let deliveries = route(&entries, &endpoints, true);
        insert_deliveries(&mut tx, &deliveries, now).await?;
        tx.commit().await?;
        self.events.notify();
        Ok(Some(deliveries.len()))
    }

    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let cursor: i64 = sqlx::query_scalar("SELECT seq FROM outbox_cursors WHERE name = $1")
            .bind(FAN_OUT_CURSOR)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
        let any_endpoint: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled = 1)")
                .fetch_one(&mut *tx)
                .await?;
        // With no endpoint anywhere, only events bound for a callback's own URL matter: read
        // those through their index and move the cursor past the rest.
        let filter = if any_endpoint {
            ""
        } else {
            "AND webhook_url IS NOT NULL"
        };
        let rows = sqlx::query(&format!(
            "SELECT {LOG_ENTRY_COLUMNS} FROM events WHERE seq > $1 {filter} ORDER BY seq LIMIT $2"
        ))
        .bind(cursor)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let last: i64 = match rows.last() {
            Some(row) if any_endpoint || rows.len() == limit as usize => row.try_get("seq")?,
            _ => {
                let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
                    .fetch_one(&mut *tx)
                    .await?;
                match newest {
                    Some(n) if n > cursor => n,
                    _ => return Ok(0),
                }
            }
        };
        let entries = rows.iter().map(log_entry).collect::<Result<Vec<_>, _>>()?;
        let mut accounts: Vec<&str> = entries.iter().map(|e| e.account_id.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let endpoints = enabled_endpoints(&mut tx, &accounts).await?;
        let deliveries = route(&entries, &endpoints, false);
        insert_deliveries(&mut tx, &deliveries, now).await?;
        sqlx::query(
            "INSERT INTO outbox_cursors (name, seq) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
        )
        .bind(FAN_OUT_CURSOR)
        .bind(last)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(entries.len())
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now_ms = ms(now);
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT d.id FROM webhook_deliveries d \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
               AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $1) \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                   WHERE e.status = 'pending' AND e.target = d.target \
                     AND e.resource_id = d.resource_id AND e.id < d.id) \
               AND (d.endpoint_id IS NULL OR EXISTS (SELECT 1 FROM webhook_endpoints w \
                   WHERE w.id = d.endpoint_id AND w.enabled = 1)) \
             ORDER BY d.next_attempt_at, d.id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new("UPDATE webhook_deliveries SET lease_owner = ");
        qb.push_bind(owner)
            .push(", lease_expires_at = ")
            .push_bind(now_ms + lease.as_millis() as i64)
            .push(" WHERE id IN (");
        let mut sep = qb.separated(", ");
        for id in &ids {
            sep.push_bind(*id);
        }
        qb.push(")");
        qb.build().execute(&mut *tx).await?;

        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT d.id, d.endpoint_id, d.url, d.attempts, e.account_seq, e.type, e.occurred_at, \
             e.account_id, e.data, COALESCE(w.secret, a.signing_secret) AS secret \
             FROM webhook_deliveries d \
             JOIN events e ON e.seq = d.event_seq \
             LEFT JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             LEFT JOIN accounts a ON a.id = d.account_id \
             WHERE d.id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in &ids {
            sep.push_bind(*id);
        }
        qb.push(") ORDER BY d.id");
        let rows = qb.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                let secret: Option<String> = r.try_get("secret")?;
                Ok(ClaimedDelivery {
                    id: r.try_get("id")?,
                    endpoint_id: r.try_get("endpoint_id")?,
                    url: r.try_get("url")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    event: event_from_parts(
                        r.try_get("account_seq")?,
                        r.try_get("type")?,
                        r.try_get("occurred_at")?,
                        r.try_get("account_id")?,
                        &data,
                    )?,
                    secret: secret.and_then(|s| SigningSecret::parse(&s)),
                })
            })
            .collect()
    }

    async fn record_deliveries(&self, reports: &[DeliveryReport]) -> Result<(), StoreError> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut disable: Vec<(&str, &'static str, Timestamp)> = Vec::new();
        for r in reports {
            let (status, next, delivered) = match r.outcome {
                DeliveryOutcome::Delivered => ("delivered", None, Some(ms(r.at))),
                DeliveryOutcome::RetryAt(at) => ("pending", Some(ms(at)), None),
                DeliveryOutcome::GaveUp | DeliveryOutcome::Gone => ("failed", None, None),
            };
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
                 next_attempt_at = COALESCE($2, next_attempt_at), last_status_code = $3, \
                 last_error = $4, last_attempt_at = $5, delivered_at = $6, lease_owner = NULL, \
                 lease_expires_at = NULL WHERE id = $7 AND status = 'pending'",
            )
            .bind(status)
            .bind(next)
            .bind(r.status_code.map(i64::from))
            .bind(&r.error)
            .bind(ms(r.at))
            .bind(delivered)
            .bind(r.id)
            .execute(&mut *tx)
            .await?;
            if let Some(endpoint) = &r.endpoint_id {
                match r.outcome {
                    DeliveryOutcome::Gone => {
                        disable.push((endpoint, "the endpoint answered 410 Gone", r.at));
                    }
                    DeliveryOutcome::GaveUp => {
                        disable.push((endpoint, "deliveries kept failing for about a day", r.at))
                    }
                    _ => {}
                }
            }
        }
        let mut events = Vec::new();
        for (endpoint, reason, at) in disable {
            let row = sqlx::query(&format!(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $1, updated_at = $2 \
                 WHERE id = $3 AND enabled = 1 RETURNING {ENDPOINT_COLUMNS}"
            ))
            .bind(reason)
            .bind(ms(at))
            .bind(endpoint)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                let ep = endpoint_from_row(&row)?;
                tracing::warn!(endpoint_id = %ep.id, reason, "webhook endpoint disabled");
                events.push(NewEvent {
                    account_id: ep.account_id.as_str().to_owned(),
                    resource_type: "webhook_endpoint",
                    resource_id: ep.id.as_str().to_owned(),
                    kind: "webhook_endpoint.disabled",
                    at,
                    data: serde_json::json!({
                        "object": {
                            "id": ep.id.as_str(),
                            "url": ep.url,
                            "enabled": false,
                            "disabled_reason": reason,
                        },
                    })
                    .to_string(),
                    webhook_url: None,
                });
            }
        }
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        self.events.notify();
        Ok(())
    }

    async fn list_deliveries(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        deliveries_of(
            &self.reader,
            account,
            Of::Endpoint(endpoint.as_str()),
            limit,
        )
        .await
    }

    async fn next_delivery_wakeup(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let (cursor, newest, due, lease): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) =
            sqlx::query_as(
                "SELECT (SELECT seq FROM outbox_cursors WHERE name = $1), \
                    (SELECT MAX(seq) FROM events), \
                    (SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d \
                     WHERE d.status = 'pending' AND d.lease_expires_at IS NULL \
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                           WHERE e.status = 'pending' AND e.target = d.target \
                             AND e.resource_id = d.resource_id AND e.id < d.id) \
                       AND (d.endpoint_id IS NULL OR EXISTS (SELECT 1 FROM webhook_endpoints w \
                           WHERE w.id = d.endpoint_id AND w.enabled = 1))), \
                    (SELECT MIN(lease_expires_at) FROM webhook_deliveries \
                     WHERE status = 'pending' AND lease_expires_at IS NOT NULL)",
            )
            .bind(FAN_OUT_CURSOR)
            .fetch_one(&self.reader)
            .await?;
        if newest.unwrap_or(0) > cursor.unwrap_or(0) {
            return Ok(Some(now));
        }
        let due = match (due, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        opt_ts(due)
    }
}

/// Whose deliveries [`deliveries_of`] lists.
pub(super) enum Of<'a> {
    /// One endpoint's.
    Endpoint(&'a str),
    /// Those of one resource's events (a callback's).
    Resource(&'a str),
}

/// An account's newest deliveries to an endpoint or of a resource's events, newest first.
pub(super) async fn deliveries_of(
    reader: &DbPool,
    account: &AccountId,
    of: Of<'_>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let (column, id) = match of {
        Of::Endpoint(id) => ("endpoint_id", id),
        Of::Resource(id) => ("resource_id", id),
    };
    let rows = sqlx::query(&format!(
        "SELECT d.id, d.account_id, e.account_seq, e.type, d.url, d.status, d.attempts, \
         d.last_status_code, d.last_error, d.last_attempt_at, d.next_attempt_at, \
         d.delivered_at, d.created_at \
         FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq \
         WHERE d.account_id = $1 AND d.{column} = $2 ORDER BY d.id DESC LIMIT $3"
    ))
    .bind(account.as_str())
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(reader)
    .await?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(Delivery {
                id: Delivery::id_for(r.try_get("id")?),
                event_id: StoredEvent::id_for(
                    &AccountId::from_trusted(r.try_get("account_id")?),
                    r.try_get("account_seq")?,
                ),
                event_type: r.try_get("type")?,
                url: r.try_get("url")?,
                next_attempt_at: if status == "pending" {
                    opt_ts(r.try_get("next_attempt_at")?)?
                } else {
                    None
                },
                status,
                attempts: r.try_get::<i64, _>("attempts")? as u32,
                last_status_code: r
                    .try_get::<Option<i64>, _>("last_status_code")?
                    .map(|c| c as u16),
                last_error: r.try_get("last_error")?,
                last_attempt_at: opt_ts(r.try_get("last_attempt_at")?)?,
                delivered_at: opt_ts(r.try_get("delivered_at")?)?,
                created_at: ts(r.try_get("created_at")?)?,
            })
        })
        .collect()
}
