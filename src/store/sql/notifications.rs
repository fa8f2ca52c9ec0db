//! The SQL of customer notifications: the account's settings, the outbox (written by the
//! create, reschedule and cancel transactions through [`enqueue_created`],
//! [`enqueue_rescheduled`] and [`drop_pending`]; claimed and finished by the notification
//! worker), and the server's secrets.

use std::{collections::HashMap, time::Duration};

use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    Cell, Db, DbConn, ROWS_PER_INSERT, SqlStore,
    audit::insert_audit,
    events::{NewEvent, insert_events},
    insert_rows, ms,
    rows::fetch_callback,
    secrets, ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, Callback, CallbackId, SigningSecret,
    auth::diff,
    notification::{Channel, NotificationKind, NotificationSettings, confirms, reminder_at},
};
use crate::store::{
    StoreError,
    notifications::{
        ClaimedNotification, NotificationOutcome, NotificationReport, NotificationStore,
    },
};

const OUTBOX_COLUMNS: &str =
    "id, account_id, callback_id, kind, channel, due_at, attempts, created_at";

/// What the create and reschedule paths read of an account's settings.
struct Sending {
    channels: Vec<Channel>,
    reminder_minutes_before: Option<u32>,
}

/// The sending settings of `accounts` that have a channel on (others are left out).
async fn sending_accounts(
    conn: &mut DbConn,
    accounts: &[&str],
) -> Result<HashMap<String, Sending>, StoreError> {
    let mut found = HashMap::new();
    for chunk in accounts.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT account_id, sms_enabled, email_enabled, reminder_minutes_before \
             FROM notification_settings WHERE (sms_enabled = 1 OR email_enabled = 1) \
             AND account_id IN (",
        );
        let mut sep = qb.separated(", ");
        for account in chunk {
            sep.push_bind(*account);
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await? {
            let mut channels = Vec::new();
            if row.try_get::<i64, _>("sms_enabled")? != 0 {
                channels.push(Channel::Sms);
            }
            if row.try_get::<i64, _>("email_enabled")? != 0 {
                channels.push(Channel::Email);
            }
            let minutes: Option<i64> = row.try_get("reminder_minutes_before")?;
            found.insert(
                row.try_get("account_id")?,
                Sending {
                    channels,
                    reminder_minutes_before: minutes.and_then(|m| u32::try_from(m).ok()),
                },
            );
        }
    }
    Ok(found)
}

fn outbox_row(
    cb: &Callback,
    kind: NotificationKind,
    channel: Channel,
    due_at: Timestamp,
    now: Timestamp,
) -> Vec<Cell> {
    vec![
        ulid::Ulid::new().to_string().into(),
        cb.account_id.as_str().into(),
        cb.id.as_str().into(),
        kind.as_str().into(),
        channel.as_str().into(),
        ms(due_at).into(),
        0i64.into(),
        ms(now).into(),
    ]
}

/// The messages a new callback brings: a confirmation per channel the account has on, now,
/// and a reminder per channel before its time (if the account sends reminders and there is
/// time for one). Written in the create's transaction; campaign calls bring none.
pub(super) async fn enqueue_created(
    conn: &mut DbConn,
    callbacks: &[&Callback],
) -> Result<(), StoreError> {
    let mut accounts: Vec<&str> = callbacks
        .iter()
        .filter(|cb| confirms(cb))
        .map(|cb| cb.account_id.as_str())
        .collect();
    if accounts.is_empty() {
        return Ok(());
    }
    accounts.sort_unstable();
    accounts.dedup();
    let sending = sending_accounts(conn, &accounts).await?;
    if sending.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::new();
    for cb in callbacks.iter().filter(|cb| confirms(cb)) {
        let Some(s) = sending.get(cb.account_id.as_str()) else {
            continue;
        };
        let now = cb.created_at;
        for channel in &s.channels {
            rows.push(outbox_row(
                cb,
                NotificationKind::Confirmation,
                *channel,
                now,
                now,
            ));
            if let Some(at) = s
                .reminder_minutes_before
                .and_then(|m| reminder_at(cb.due_at, m, now))
            {
                rows.push(outbox_row(
                    cb,
                    NotificationKind::Reminder,
                    *channel,
                    at,
                    now,
                ));
            }
        }
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        insert_rows(conn, "notification_outbox", OUTBOX_COLUMNS, chunk).await?;
    }
    Ok(())
}

/// A callback's new time: its pending reminder and `rescheduled` message are superseded by
/// new ones (a `rescheduled` message per channel, unless its confirmation is still pending and
/// will tell the new time itself, and a reminder before the new time).
pub(super) async fn enqueue_rescheduled(
    conn: &mut DbConn,
    cb: &Callback,
    now: Timestamp,
) -> Result<(), StoreError> {
    if !confirms(cb) {
        return Ok(());
    }
    let sending = sending_accounts(conn, &[cb.account_id.as_str()]).await?;
    sqlx::query(
        "DELETE FROM notification_outbox WHERE callback_id = $1 AND account_id = $2 \
         AND kind IN ('reminder', 'rescheduled')",
    )
    .bind(cb.id.as_str())
    .bind(cb.account_id.as_str())
    .execute(&mut *conn)
    .await?;
    let Some(s) = sending.get(cb.account_id.as_str()) else {
        return Ok(());
    };
    let pending: Vec<String> = sqlx::query_scalar(
        "SELECT channel FROM notification_outbox WHERE callback_id = $1 AND account_id = $2 \
         AND kind = 'confirmation'",
    )
    .bind(cb.id.as_str())
    .bind(cb.account_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = Vec::new();
    for channel in &s.channels {
        if !pending.iter().any(|c| c == channel.as_str()) {
            rows.push(outbox_row(
                cb,
                NotificationKind::Rescheduled,
                *channel,
                now,
                now,
            ));
        }
        if let Some(at) = s
            .reminder_minutes_before
            .and_then(|m| reminder_at(cb.due_at, m, now))
        {
            rows.push(outbox_row(
                cb,
                NotificationKind::Reminder,
                *channel,
                at,
                now,
            ));
        }
    }
    if !rows.is_empty() {
        insert_rows(conn, "notification_outbox", OUTBOX_COLUMNS, &rows).await?;
    }
    Ok(())
}

/// Drops every message still to be sent about these callbacks (they were canceled). Other
/// ends are caught by the worker, which sends nothing about an ended callback.
pub(super) async fn drop_pending(
    conn: &mut DbConn,
    account: &AccountId,
    callbacks: &[&str],
) -> Result<(), StoreError> {
    for chunk in callbacks.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new("DELETE FROM notification_outbox WHERE account_id = ");
        qb.push_bind(account.as_str()).push(" AND callback_id IN (");
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        qb.push(")");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The event a finished message leaves in its callback's history, if any.
fn report_event(
    report: &NotificationReport,
    version: i64,
    webhook_url: Option<String>,
) -> Option<NewEvent> {
    let common = |mut details: serde_json::Map<String, serde_json::Value>| {
        details.insert("channel".into(), report.channel.as_str().into());
        details.insert("template".into(), report.kind.as_str().into());
        serde_json::Value::Object(details).to_string()
    };
    let (kind, data) = match &report.outcome {
        NotificationOutcome::Sent {
            to,
            attempts,
            provider_answer,
        } => (
            "callback.notification_sent",
            common(
                serde_json::json!({ "to": to, "attempts": attempts,
                                    "provider_answer": provider_answer })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ),
        ),
        NotificationOutcome::Failed {
            to,
            attempts,
            error,
        } => (
            "callback.notification_failed",
            common(
                serde_json::json!({ "to": to, "attempts": attempts, "error": error })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        ),
        NotificationOutcome::Skipped { to, reason } => (
            "callback.notification_skipped",
            common(
                serde_json::json!({ "to": to, "reason": reason })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        ),
        NotificationOutcome::RetryAt { .. } | NotificationOutcome::Dropped => return None,
    };
    Some(NewEvent {
        account_id: report.account_id.as_str().to_owned(),
        resource_type: "callback",
        resource_id: report.callback_id.as_str().to_owned(),
        kind,
        at: report.at,
        data,
        // The callback itself did not change: its object is the one before.
        changes: Some("{}".to_owned()),
        version: Some(version),
        webhook_url,
    })
}

#[async_trait::async_trait]
impl NotificationStore for SqlStore {
    async fn server_secret(
        &self,
        name: &str,
        generate: SigningSecret,
        now: Timestamp,
    ) -> Result<SigningSecret, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(self.seal(&secrets::server_secret(name), generate.expose()))
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        let secret: String =
            sqlx::query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        let secret = self.open(&secrets::server_secret(name), &secret)?;
        SigningSecret::parse(&secret).ok_or_else(|| StoreError::Corrupt(format!("{name} secret")))
    }

    async fn notification_settings(
        &self,
        account: &AccountId,
    ) -> Result<NotificationSettings, StoreError> {
        let row = sqlx::query(
            "SELECT sms_enabled, email_enabled, reminder_minutes_before, settings, smtp_password \
             FROM notification_settings WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(NotificationSettings::default());
        };
        let settings: String = row.try_get("settings")?;
        let stored: serde_json::Value = serde_json::from_str(&settings)
            .map_err(|_| StoreError::Corrupt("notification settings".to_owned()))?;
        let minutes: Option<i64> = row.try_get("reminder_minutes_before")?;
        Ok(NotificationSettings::from_stored(
            row.try_get::<i64, _>("sms_enabled")? != 0,
            row.try_get::<i64, _>("email_enabled")? != 0,
            minutes.and_then(|m| u32::try_from(m).ok()),
            &stored,
            match row.try_get::<Option<String>, _>("smtp_password")? {
                Some(sealed) => {
                    Some(self.open(&secrets::smtp_password(account.as_str()), &sealed)?)
                }
                None => None,
            },
        ))
    }

    async fn put_notification_settings(
        &self,
        account: &AccountId,
        settings: &NotificationSettings,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let before = self.notification_settings(account).await?;
        let view = |s: &NotificationSettings| {
            let mut v = s.to_stored();
            v["sms_enabled"] = s.sms_enabled.into();
            v["email_enabled"] = s.email_enabled.into();
            v["customer_reminder_minutes_before"] = s.reminder_minutes_before.into();
            v["smtp_password_set"] = s.smtp_password.is_some().into();
            v
        };
        let mut changes = diff(&view(&before), &view(settings));
        if before.smtp_password != settings.smtp_password
            && let serde_json::Value::Object(map) = &mut changes
        {
            // Which, never what.
            map.insert("smtp_password".to_owned(), "changed".into());
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO notification_settings (account_id, sms_enabled, email_enabled, \
             reminder_minutes_before, settings, smtp_password, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account_id) DO UPDATE SET sms_enabled = excluded.sms_enabled, \
             email_enabled = excluded.email_enabled, \
             reminder_minutes_before = excluded.reminder_minutes_before, \
             settings = excluded.settings, smtp_password = excluded.smtp_password, \
             updated_at = excluded.updated_at",
        )
        .bind(account.as_str())
        .bind(i64::from(settings.sms_enabled))
        .bind(i64::from(settings.email_enabled))
        .bind(settings.reminder_minutes_before.map(i64::from))
        .bind(settings.to_stored().to_string())
        .bind(
            settings
                .smtp_password
                .as_ref()
                .map(|p| self.seal(&secrets::smtp_password(account.as_str()), p.expose())),
        )
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        let record = AuditRecord {
            action: "settings.notifications.update",
            resource_type: "settings",
            resource_id: None,
            changes,
        };
        insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_notifications(
        &self,
        now: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedNotification>, StoreError> {
        let now_ms = ms(now);
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id, account_id, callback_id, kind, channel, attempts FROM notification_outbox \
             WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
             ORDER BY due_at, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new("UPDATE notification_outbox SET lease_owner = ");
        qb.push_bind(owner)
            .push(", lease_until = ")
            .push_bind(now_ms + lease.as_millis() as i64)
            .push(" WHERE id IN (");
        let mut sep = qb.separated(", ");
        for row in &rows {
            sep.push_bind(row.try_get::<String, _>("id")?);
        }
        qb.push(")");
        qb.build().execute(&mut *tx).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut gone = Vec::new();
        for row in &rows {
            let id: String = row.try_get("id")?;
            let account = AccountId::from_trusted(row.try_get("account_id")?);
            let callback_id = CallbackId::from_trusted(row.try_get("callback_id")?);
            let kind: String = row.try_get("kind")?;
            let channel: String = row.try_get("channel")?;
            let (Some(kind), Some(channel)) =
                (NotificationKind::parse(&kind), Channel::parse(&channel))
            else {
                return Err(StoreError::Corrupt(format!("notification {id}")));
            };
            let Some(callback) = fetch_callback(&mut tx, &account, &callback_id).await? else {
                gone.push(id);
                continue;
            };
            let account_name: String =
                sqlx::query_scalar("SELECT name FROM accounts WHERE id = $1")
                    .bind(account.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .unwrap_or_default();
            let contact = sqlx::query(
                "SELECT first_name, last_name, email FROM contacts \
                 WHERE account_id = $1 AND phone = $2",
            )
            .bind(account.as_str())
            .bind(callback.phone.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let (contact_name, contact_email) = match contact {
                Some(c) => {
                    let first: Option<String> = c.try_get("first_name")?;
                    let last: Option<String> = c.try_get("last_name")?;
                    let names: Vec<String> = [first, last].into_iter().flatten().collect();
                    let email: Option<String> = c.try_get("email")?;
                    ((!names.is_empty()).then(|| names.join(" ")), email)
                }
                None => (None, None),
            };
            let email = contact_email.or_else(|| {
                callback
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("email"))
                    .and_then(|e| e.as_str())
                    .map(str::to_owned)
            });
            claimed.push(ClaimedNotification {
                id,
                kind,
                channel,
                attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(0),
                callback,
                account_name,
                contact_name,
                email,
            });
        }
        for id in gone {
            sqlx::query("DELETE FROM notification_outbox WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn finish_notifications(&self, reports: &[NotificationReport]) -> Result<(), StoreError> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut events = Vec::new();
        for report in reports {
            match &report.outcome {
                NotificationOutcome::RetryAt { at, error } => {
                    sqlx::query(
                        "UPDATE notification_outbox SET attempts = attempts + 1, due_at = $1, \
                         last_error = $2, lease_owner = NULL, lease_until = NULL \
                         WHERE id = $3 AND account_id = $4",
                    )
                    .bind(ms(*at))
                    .bind(error)
                    .bind(&report.id)
                    .bind(report.account_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                _ => {
                    let done = sqlx::query(
                        "DELETE FROM notification_outbox WHERE id = $1 AND account_id = $2",
                    )
                    .bind(&report.id)
                    .bind(report.account_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                    // Dropped meanwhile (a cancel): nothing to record.
                    if done.rows_affected() == 0 {
                        continue;
                    }
                    let row = sqlx::query(
                        "SELECT version, webhook_url FROM callbacks WHERE id = $1 AND account_id = $2",
                    )
                    .bind(report.callback_id.as_str())
                    .bind(report.account_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = row
                        && let Some(event) = report_event(
                            report,
                            row.try_get("version")?,
                            row.try_get("webhook_url")?,
                        )
                    {
                        events.push(event);
                    }
                }
            }
        }
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.events.notify();
        }
        Ok(())
    }

    async fn next_notification_at(&self) -> Result<Option<Timestamp>, StoreError> {
        // Each by its index: the earliest unclaimed message, the earliest lease to run out.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT due_at FROM notification_outbox WHERE lease_until IS NULL \
             ORDER BY due_at LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        let lease: Option<i64> =
            sqlx::query_scalar("SELECT MIN(lease_until) FROM notification_outbox")
                .fetch_one(&self.reader)
                .await?;
        due.into_iter().chain(lease).min().map(ts).transpose()
    }
}
