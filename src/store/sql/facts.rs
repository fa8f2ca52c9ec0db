//! The facts the dial decision needs, read in the caller's transaction: the attempts to a
//! number, the do-not-call list, campaigns and their pacing, the account's dialling policy,
//! and all of them for one stored callback.

use std::collections::{HashMap, HashSet};

use super::{DEBT_REF, Db, DbConn};
use jiff::{SignedDuration, Timestamp};
use sqlx::{QueryBuilder, Row};

use super::{consents::consent_states, corrupt, ms, opt_ts, ts, window_from_text};
use crate::domain::{
    Callback,
    callback::Fallback,
    campaign::{AccountSettings, CampaignStatus, debt_ref},
    consent::{ConsentScope, ConsentState},
    dialing::{CampaignFacts, Facts, History, Holiday, Location, RegionalWindow},
    ids::QueueId,
};
use crate::secrets::KeyRing;
use crate::store::StoreError;

/// Most attempts read back for one number: more than any cap (at most 100) needs.
const HISTORY_LIMIT: i64 = 1_000;

/// The attempts to a number (or about its debt) the dial decision counts: those started after
/// `since` (oldest first), and the end of the last answered call. Whatever created them
/// (callback, recall, campaign) counts, except skipped ones and `open`, the attempt of the
/// callback being judged that is still under way (a retry of it is not a new attempt).
pub(super) async fn history(
    conn: &mut DbConn,
    account: &str,
    phone: &str,
    debt: Option<&str>,
    since: Timestamp,
    open: Option<(&str, u32)>,
) -> Result<History, StoreError> {
    let (open_id, open_number) = open.map_or(("", -1), |(id, n)| (id, i64::from(n)));
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT a.started_at FROM calls a JOIN callbacks o ON o.id = a.callback_id \
         WHERE o.account_id = $1 AND (o.phone = $2 OR ($3 IS NOT NULL AND o.metadata IS NOT NULL \
         AND {DEBT_REF} = $4)) AND a.started_at > $5 \
         AND (a.outcome IS NULL OR a.outcome NOT IN ('skipped_dnc', 'skipped_no_consent')) \
         AND NOT (a.callback_id = $6 AND a.number = $7) \
         ORDER BY a.started_at DESC LIMIT $8"
    ))
    .bind(account)
    .bind(phone)
    .bind(debt)
    .bind(debt)
    .bind(ms(since))
    .bind(open_id)
    .bind(open_number)
    .bind(HISTORY_LIMIT)
    .fetch_all(&mut *conn)
    .await?;
    let answered: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT MAX(a.ended_at) FROM calls a JOIN callbacks o ON o.id = a.callback_id \
         WHERE o.account_id = $1 AND (o.phone = $2 OR ($3 IS NOT NULL AND o.metadata IS NOT NULL \
         AND {DEBT_REF} = $4)) AND a.outcome = 'answered'"
    ))
    .bind(account)
    .bind(phone)
    .bind(debt)
    .bind(debt)
    .fetch_one(&mut *conn)
    .await?;
    let mut started = rows
        .into_iter()
        .map(|(t,)| ts(t))
        .collect::<Result<Vec<_>, _>>()?;
    started.reverse();
    Ok(History {
        started,
        last_answered: opt_ts(answered)?,
        debt: debt.map(str::to_owned),
    })
}

/// The instant from which attempts count against the cap of `settings`, judged at `now` or
/// later.
pub(super) fn cap_since(settings: &AccountSettings, now: Timestamp) -> Timestamp {
    now.checked_sub(SignedDuration::from_hours(
        i64::from(settings.attempt_window_days) * 24,
    ))
    .unwrap_or(now)
}

/// Do the account's rules need the attempts to the number?
pub(super) fn needs_history(settings: &AccountSettings) -> bool {
    settings.max_attempts.is_some() || settings.quiet_after_answer_hours.is_some()
}

/// Which of `phones` are on the account's do-not-call list (`dnc::listed`).
pub(super) async fn on_dnc(
    conn: &mut DbConn,
    ring: &KeyRing,
    account: &str,
    phones: &[&str],
) -> Result<HashSet<String>, StoreError> {
    let numbers: Vec<(&str, &str)> = phones.iter().map(|p| (account, *p)).collect();
    Ok(super::dnc::listed(conn, ring, &numbers)
        .await?
        .into_iter()
        .map(|(_, phone)| phone)
        .collect())
}

/// A campaign's state, and how many more calls its pacing lets it start now.
pub(super) async fn campaign_facts(
    conn: &mut DbConn,
    ids: &[&str],
) -> Result<HashMap<String, CampaignFacts>, StoreError> {
    let mut found = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(found);
    }
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(
        "SELECT id, status, max_concurrent_calls - (SELECT COUNT(*) FROM callbacks x \
         WHERE x.campaign_id = campaigns.id AND x.status IN ('dispatching', 'in_progress')) \
         FROM campaigns WHERE id IN (",
    );
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    qb.push(")");
    for (id, status, room) in qb
        .build_query_as::<(String, String, i64)>()
        .fetch_all(&mut *conn)
        .await?
    {
        let status = CampaignStatus::parse(&status)
            .ok_or_else(|| super::corrupt("campaign status", &status))?;
        found.insert(
            id,
            CampaignFacts {
                status,
                room: Some(room),
            },
        );
    }
    Ok(found)
}

/// The facts about one stored callback, read in `conn`.
pub(super) struct OneFacts {
    pub(super) location: Location,
    pub(super) history: History,
    pub(super) on_dnc: bool,
    pub(super) consent: ConsentState,
    pub(super) campaign: Option<CampaignFacts>,
    pub(super) settings: AccountSettings,
}

impl OneFacts {
    pub(super) async fn read(
        conn: &mut DbConn,
        ring: &KeyRing,
        cb: &Callback,
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        let account = cb.account_id.as_str();
        let settings = settings_of(conn, &[account])
            .await?
            .remove(account)
            .unwrap_or_default();
        let history = if needs_history(&settings) {
            history(
                conn,
                account,
                cb.phone.as_str(),
                debt_ref(cb.metadata.as_ref()),
                cap_since(&settings, now),
                cb.attempt_open.then_some((cb.id.as_str(), cb.attempt)),
            )
            .await?
        } else {
            History::default()
        };
        let campaign = match &cb.campaign_id {
            Some(id) => campaign_facts(conn, &[id.as_str()])
                .await?
                .remove(id.as_str()),
            None => None,
        };
        Ok(Self {
            location: cb.location(),
            history,
            on_dnc: !on_dnc(conn, ring, account, &[cb.phone.as_str()])
                .await?
                .is_empty(),
            consent: consent_states(conn, ring, &[(account, cb.phone.as_str())])
                .await?
                .into_values()
                .next()
                .unwrap_or_default(),
            campaign,
            settings,
        })
    }

    pub(super) fn facts<'a>(&'a self, cb: &'a Callback) -> Facts<'a> {
        Facts {
            on_dnc: self.on_dnc,
            consent: self.consent,
            campaign: self.campaign,
            ..Facts::of(cb, &self.location, &self.history)
        }
    }
}

/// The dialling policy of each of `accounts` that has set one (the others have the default).
pub(super) async fn settings_of(
    conn: &mut DbConn,
    accounts: &[&str],
) -> Result<HashMap<String, AccountSettings>, StoreError> {
    let mut found = HashMap::with_capacity(accounts.len());
    if accounts.is_empty() {
        return Ok(found);
    }
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(
        "SELECT account_id, calling_window, allow_customer_requested_times, max_attempts, \
         attempt_window_days, quiet_after_answer_hours, holidays, regional_windows, \
         default_trunk_id, ai_sip_uri, CAST(recording_retention_days AS BIGINT), \
         dialect_timezone, CAST(fallback_after_minutes AS BIGINT), fallback_queue_id, \
         require_consent_for, CAST(retention_days AS BIGINT), \
         CAST(audit_retention_days AS BIGINT) \
         FROM account_settings WHERE account_id IN (",
    );
    let mut sep = qb.separated(", ");
    for account in accounts {
        sep.push_bind(*account);
    }
    qb.push(")");
    for row in qb.build().fetch_all(&mut *conn).await? {
        let account: String = row.try_get(0)?;
        let window: String = row.try_get(1)?;
        let allow: i64 = row.try_get(2)?;
        let max: Option<i64> = row.try_get(3)?;
        let days: i64 = row.try_get(4)?;
        let quiet: Option<i64> = row.try_get(5)?;
        let holidays: String = row.try_get(6)?;
        let regional: String = row.try_get(7)?;
        let trunk: Option<String> = row.try_get(8)?;
        let ai: Option<String> = row.try_get(9)?;
        let retention: Option<i64> = row.try_get(10)?;
        let dialect_zone: Option<String> = row.try_get(11)?;
        let fallback_minutes: Option<i64> = row.try_get(12)?;
        let fallback_queue: Option<String> = row.try_get(13)?;
        let consent_scopes: Option<String> = row.try_get(14)?;
        let kept_days: Option<i64> = row.try_get(15)?;
        let audit_days: Option<i64> = row.try_get(16)?;
        let json = |text: &str, what: &str| {
            serde_json::from_str::<serde_json::Value>(text).map_err(|_| corrupt(what, text))
        };
        let settings = AccountSettings {
            calling_window: window_from_text(&window)?,
            allow_customer_requested_times: allow != 0,
            max_attempts: max.map(|m| m as u32),
            attempt_window_days: days as u32,
            quiet_after_answer_hours: quiet.map(|q| q as u32),
            holidays: Holiday::parse_list(&json(&holidays, "holidays")?, "holidays")
                .map_err(|_| corrupt("holidays", &holidays))?,
            regional_windows: RegionalWindow::parse_list(
                &json(&regional, "regional_windows")?,
                "regional_windows",
            )
            .map_err(|_| corrupt("regional_windows", &regional))?,
            default_trunk_id: trunk.map(crate::domain::ids::TrunkId::from_trusted),
            ai_sip_uri: ai
                .map(|raw| {
                    crate::domain::trunk::SipUri::parse(&raw, "ai_sip_uri")
                        .map_err(|_| corrupt("ai_sip_uri", &raw))
                })
                .transpose()?,
            recording_retention_days: retention.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
            retention_days: kept_days.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
            audit_retention_days: audit_days.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
            dialect_timezone: dialect_zone
                .map(|name| {
                    crate::domain::Zone::parse(&name, "dialect_timezone")
                        .map_err(|_| corrupt("dialect_timezone", &name))
                })
                .transpose()?,
            fallback: fallback_minutes.map(|minutes| Fallback {
                after_minutes: minutes.clamp(0, i64::from(u32::MAX)) as u32,
                queue_id: fallback_queue.map(QueueId::from_trusted),
            }),
            require_consent_for: match consent_scopes {
                None => Vec::new(),
                Some(text) => serde_json::from_str::<Vec<String>>(&text)
                    .ok()
                    .and_then(|names| names.iter().map(|n| ConsentScope::parse(n)).collect())
                    .ok_or_else(|| corrupt("require_consent_for", &text))?,
            },
        };
        found.insert(account, settings);
    }
    Ok(found)
}
