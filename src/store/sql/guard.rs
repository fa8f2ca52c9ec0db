//! The checks every due callback passes before it is dialled, in the claim's transaction: the
//! do-not-call list, the attempt cap, the calling window of automated attempts, and the
//! pacing of its campaign.

use std::collections::{HashMap, HashSet};

use super::{DEBT_REF, Db, DbConn, lock_writes};
use jiff::Timestamp;
use serde_json::json;
use sqlx::QueryBuilder;

use super::{
    CALLBACK_COLUMNS, NewEvent, callback_from_row, insert_events, ms, opt_ts, ts, window_from_text,
};
use crate::domain::{
    Zone,
    campaign::{attempt_cap_until, debt_ref, quiet_until},
};
use crate::store::StoreError;

/// An account's frequency rules.
struct LedgerRules {
    max_attempts: Option<u32>,
    days: u32,
    quiet_hours: Option<u32>,
}

/// What the frequency ledger holds for a callback's number (and its debt, if it names one):
/// attempts since a time, the oldest of them, and the last answered call.
pub(super) struct Ledger {
    pub(super) count: u32,
    pub(super) oldest: Option<Timestamp>,
    pub(super) last_answered: Option<Timestamp>,
}

/// Reads the ledger: every attempt of the account to the callback's number or about its debt,
/// whatever created it (callback, recall, campaign), except skipped ones.
pub(super) async fn ledger(
    conn: &mut DbConn,
    account: &str,
    phone: &str,
    debt: Option<&str>,
    since: Timestamp,
) -> Result<Ledger, StoreError> {
    let (count, oldest, answered): (i64, Option<i64>, Option<i64>) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FILTER (WHERE a.started_at > $1), \
         MIN(a.started_at) FILTER (WHERE a.started_at > $2), \
         MAX(a.ended_at) FILTER (WHERE a.outcome = 'answered') \
         FROM callback_attempts a JOIN callbacks o ON o.id = a.callback_id \
         WHERE o.account_id = $3 AND (o.phone = $4 OR ($5 IS NOT NULL AND o.metadata IS NOT NULL \
         AND {DEBT_REF} = $6)) \
         AND (a.outcome IS NULL OR a.outcome <> 'skipped_dnc')"
    ))
    .bind(ms(since))
    .bind(ms(since))
    .bind(account)
    .bind(phone)
    .bind(debt)
    .bind(debt)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Ledger {
        count: count as u32,
        oldest: opt_ts(oldest)?,
        last_answered: opt_ts(answered)?,
    })
}

/// What the claim reads of each due callback: enough to dispatch it and to check it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DueRow {
    pub(super) id: String,
    pub(super) due_at: i64,
    pub(super) expires_at: i64,
    pub(super) send_pending: i64,
    account_id: String,
    phone: String,
    campaign_id: Option<String>,
    attempt: i64,
    attempt_open: i64,
    calling_window: Option<String>,
    timezone: String,
    metadata: Option<String>,
}

pub(super) const DUE_COLUMNS: &str = "id, due_at, expires_at, send_pending, account_id, phone, \
    campaign_id, attempt, attempt_open, calling_window, timezone, metadata";

impl DueRow {
    /// A new automated attempt (a campaign call, or a recall) rather than a first call or a
    /// retry of the same attempt after the bridge refused it.
    fn automated(&self) -> bool {
        self.campaign_id.is_some() || (self.attempt > 0 && self.attempt_open == 0)
    }
}

/// Filters the due rows down to those that may be dialled now; skips and defers the others
/// (writing their events) and leaves the ones held back by pacing for a later claim. Each rule
/// costs a query only when some account or row could be subject to it.
pub(super) async fn guard_due(
    conn: &mut DbConn,
    due: Vec<DueRow>,
    now: Timestamp,
) -> Result<Vec<DueRow>, StoreError> {
    if due.is_empty() {
        return Ok(due);
    }

    // Numbers on the do-not-call list are never dialled.
    let mut on_dnc: HashSet<String> = HashSet::new();
    let any_dnc: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM dnc_entries)")
        .fetch_one(&mut *conn)
        .await?;
    if any_dnc {
        for chunk in due.chunks(400) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT account_id || ' ' || phone FROM dnc_entries WHERE (account_id, phone) IN (VALUES ",
            );
            let mut sep = qb.separated(", ");
            for row in chunk {
                sep.push("(")
                    .push_bind_unseparated(row.account_id.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(row.phone.as_str())
                    .push_unseparated(")");
            }
            qb.push(")");
            on_dnc.extend(
                qb.build_query_scalar::<String>()
                    .fetch_all(&mut *conn)
                    .await?,
            );
        }
    }

    // Accounts that cap attempts per number (or debt), or keep quiet after an answer.
    let mut rules: HashMap<String, LedgerRules> = HashMap::new();
    let any_rules: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM account_settings \
         WHERE max_attempts IS NOT NULL OR quiet_after_answer_hours IS NOT NULL)",
    )
    .fetch_one(&mut *conn)
    .await?;
    // Caps, quiet periods and campaign pacing count across rows other claims and writes
    // change: read them, and act on them, holding the write lock.
    if any_rules || due.iter().any(|r| r.campaign_id.is_some()) {
        lock_writes(conn).await?;
    }
    if any_rules {
        let accounts: HashSet<&str> = due.iter().map(|r| r.account_id.as_str()).collect();
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT account_id, max_attempts, attempt_window_days, quiet_after_answer_hours \
             FROM account_settings WHERE (max_attempts IS NOT NULL \
             OR quiet_after_answer_hours IS NOT NULL) AND account_id IN (",
        );
        let mut sep = qb.separated(", ");
        for a in &accounts {
            sep.push_bind(*a);
        }
        qb.push(")");
        for (account, max, days, quiet) in qb
            .build_query_as::<(String, Option<i64>, i64, Option<i64>)>()
            .fetch_all(&mut *conn)
            .await?
        {
            rules.insert(
                account,
                LedgerRules {
                    max_attempts: max.map(|m| m as u32),
                    days: days as u32,
                    quiet_hours: quiet.map(|q| q as u32),
                },
            );
        }
    }

    // What each campaign may still start.
    let campaigns: HashSet<&str> = due
        .iter()
        .filter_map(|r| r.campaign_id.as_deref())
        .collect();
    let mut allowance: HashMap<String, i64> = HashMap::new();
    if !campaigns.is_empty() {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT id, max_concurrent_calls - (SELECT COUNT(*) FROM callbacks x \
             WHERE x.campaign_id = campaigns.id AND x.status IN ('dispatching', 'in_progress')) \
             FROM campaigns WHERE id IN (",
        );
        let mut sep = qb.separated(", ");
        for c in &campaigns {
            sep.push_bind(*c);
        }
        qb.push(")");
        for (id, left) in qb
            .build_query_as::<(String, i64)>()
            .fetch_all(&mut *conn)
            .await?
        {
            allowance.insert(id, left);
        }
    }

    let mut dial = Vec::with_capacity(due.len());
    let mut skipped = Vec::new();
    let mut deferred: Vec<(String, Timestamp, &'static str, String)> = Vec::new();
    for row in due {
        if on_dnc.contains(&format!("{} {}", row.account_id, row.phone)) {
            skipped.push(row.id);
            continue;
        }
        let at = now.max(ts(row.due_at)?);
        let automated = row.automated();
        if let Some(rules) = rules.get(&row.account_id) {
            let since = at
                .checked_sub(jiff::SignedDuration::from_hours(i64::from(rules.days) * 24))
                .unwrap_or(at);
            let metadata: Option<serde_json::Map<String, serde_json::Value>> = row
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok());
            let debt = debt_ref(metadata.as_ref());
            let book = ledger(conn, &row.account_id, &row.phone, debt, since).await?;
            if let Some(max) = rules.max_attempts
                && let Some(until) = attempt_cap_until(book.count, book.oldest, max, rules.days)
            {
                let reason = format!(
                    "{} attempts to {}{} in the last {} days (cap {max})",
                    book.count,
                    row.phone,
                    debt.map(|d| format!(" or debt {d}")).unwrap_or_default(),
                    rules.days
                );
                deferred.push((row.id, until, "attempt_cap", reason));
                continue;
            }
            if automated
                && let Some(hours) = rules.quiet_hours
                && let Some(until) = quiet_until(book.last_answered, hours, at)
            {
                let reason = format!("{} answered a call less than {hours} hours ago", row.phone);
                deferred.push((row.id, until, "quiet_period", reason));
                continue;
            }
        }
        if automated && let Some(text) = row.calling_window.as_deref() {
            let window = window_from_text(text)?;
            let zone = Zone::parse(&row.timezone, "timezone")
                .map_err(|_| StoreError::Corrupt(format!("timezone {}", row.timezone)))?;
            if !window.contains(at, &zone)
                && let Some(opening) = window.next_opening(at, &zone)
            {
                let reason = opening
                    .moved
                    .unwrap_or_else(|| "outside the calling window".to_owned());
                deferred.push((row.id, opening.at, "calling_window", reason));
                continue;
            }
        }
        if let Some(campaign) = &row.campaign_id {
            let left = allowance.entry(campaign.clone()).or_insert(0);
            if *left <= 0 {
                // Held back by pacing: stays due for a later claim.
                continue;
            }
            *left -= 1;
        }
        dial.push(row);
    }

    let mut events = Vec::new();
    for id in &skipped {
        let row = sqlx::query(&format!(
            "UPDATE callbacks SET status = 'canceled', outcome = 'skipped_dnc', attempt_open = 0, \
             attempt = attempt + 1, reminder_at = NULL, version = version + 1, updated_at = $1 \
             WHERE id = $2 AND status = 'scheduled' RETURNING {CALLBACK_COLUMNS}"
        ))
        .bind(ms(now))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let cb = callback_from_row(&row)?;
        sqlx::query(
            "INSERT INTO callback_attempts (callback_id, number, account_id, started_at, \
             bridge_requests, resends, outcome, ended_at) VALUES ($1, $2, $3, $4, 0, 0, 'skipped_dnc', $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(i64::from(cb.attempt))
        .bind(cb.account_id.as_str())
        .bind(ms(now))
        .bind(ms(now))
        .execute(&mut *conn)
        .await?;
        events.push(NewEvent::about(
            &cb,
            "callback.skipped",
            now,
            json!({ "reason": "dnc", "attempt": cb.attempt }),
        ));
    }
    for (id, until, rule, reason) in &deferred {
        let row = sqlx::query(&format!(
            "UPDATE callbacks SET due_at = $1, expires_at = CASE WHEN expires_at > $2 + (expires_at - due_at) THEN expires_at \
             ELSE $2 + (expires_at - due_at) END, \
             version = version + 1, updated_at = $3 WHERE id = $4 AND status = 'scheduled' \
             RETURNING {CALLBACK_COLUMNS}"
        ))
        .bind(ms(*until))
        .bind(ms(*until))
        .bind(ms(now))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let cb = callback_from_row(&row)?;
        events.push(NewEvent::about(
            &cb,
            "callback.deferred",
            now,
            json!({ "rule": rule, "reason": reason, "until": until.to_string() }),
        ));
    }
    insert_events(conn, &events).await?;
    Ok(dial)
}
