//! Webhook deliveries: fanning the event log out to endpoints (and redelivering an event),
//! claiming deliveries due, recording their results, and listing them.

use std::{collections::HashMap, time::Duration};

use super::{Db, DbConn, DbPool, DbRow};
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    SqlStore,
    events::{NewEvent, StoredData, insert_events, render_data},
    ms, opt_ts,
    secrets::{self, open_with},
    ts,
    webhooks::{ENDPOINT_COLUMNS, endpoint_from_row, event_from_parts},
};
use crate::domain::{
    AccountId, SigningSecret, StoredEvent, WebhookEndpoint, ids::WebhookEndpointId,
    webhook::Delivery,
};
use crate::secrets::KeyRing;
use crate::store::{
    StoreError,
    webhooks::{ClaimedDelivery, DeliveryOutcome, DeliveryReport},
};

const FAN_OUT_CURSOR: &str = "webhooks";

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
    keys: &KeyRing,
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
        let ep = endpoint_from_row(&row, keys)?;
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

impl SqlStore {
    pub(super) async fn redeliver_event(
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
        let endpoints = enabled_endpoints(&mut tx, &self.ring(), &[account.as_str()]).await?;
        let deliveries = route(&entries, &endpoints, true);
        insert_deliveries(&mut tx, &deliveries, now).await?;
        tx.commit().await?;
        self.events.notify();
        Ok(Some(deliveries.len()))
    }

    pub(super) async fn fan_out_events(
        &self,
        limit: u32,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
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
        let endpoints = enabled_endpoints(&mut tx, &self.ring(), &accounts).await?;
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

    pub(super) async fn claim_deliveries(
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
             e.account_id, e.seq, e.resource_id, e.data, e.changes, \
             w.secret AS endpoint_secret, a.signing_secret AS account_secret \
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
        let stored = rows
            .iter()
            .map(StoredData::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.reader.acquire().await?;
        let data = render_data(&mut conn, &stored).await?;
        let keys = self.ring();
        rows.iter()
            .zip(data)
            .map(|(r, data)| {
                // The endpoint's secret, or the account's for a callback's own URL.
                let account: String = r.try_get("account_id")?;
                let endpoint: Option<String> = r.try_get("endpoint_id")?;
                let secret = match (
                    &endpoint,
                    r.try_get::<Option<String>, _>("endpoint_secret")?,
                ) {
                    (Some(id), Some(sealed)) => Some(open_with(
                        &keys,
                        &secrets::endpoint_secret(&account, id),
                        &sealed,
                    )?),
                    _ => match r.try_get::<Option<String>, _>("account_secret")? {
                        Some(sealed) => Some(open_with(
                            &keys,
                            &secrets::signing_secret(&account),
                            &sealed,
                        )?),
                        None => None,
                    },
                };
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
                        data,
                    )?,
                    secret: secret.and_then(|s| SigningSecret::parse(&s)),
                })
            })
            .collect()
    }

    pub(super) async fn record_deliveries(
        &self,
        reports: &[DeliveryReport],
    ) -> Result<(), StoreError> {
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
                let ep = endpoint_from_row(&row, &self.ring())?;
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
                    changes: None,
                    version: None,
                    webhook_url: None,
                });
            }
        }
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        self.events.notify();
        Ok(())
    }

    pub(super) async fn list_deliveries(
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

    pub(super) async fn next_delivery_wakeup(
        &self,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
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
