//! The SQL of campaigns and the account's dialling policy (read for the dial decision in `facts`).

use super::{Db, DbConn, DbRow};
use jiff::Timestamp;
use serde_json::json;
use sqlx::{QueryBuilder, Row};

use super::{
    CALLBACK_COLUMNS, SqlStore,
    audit::insert_audit,
    callbacks::{Untouched, cancel_untouched},
    consents::consent_states,
    contacts::contacts_where,
    corrupt,
    events::{NewEvent, insert_events},
    facts::{campaign_facts, cap_since, history, needs_history, on_dnc, settings_of},
    inserts::insert_callback_rows,
    ms,
    rows::callback_from_row,
    ts, window_from_text,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, Callback, CallbackId, PhoneNumber, Status, Zone,
    auth::diff,
    campaign::debt_ref,
    campaign::{AccountSettings, Campaign, CampaignStatus, Pacing, RecallPolicy},
    dialing::{History, Holiday, RegionalWindow},
    ids::CampaignId,
    playbook::PlaybookId,
    routing::Skills,
};
use crate::store::{
    ChangeError, StoreError,
    campaigns::{CallFacts, CampaignStore, CampaignTotals, DialFacts},
};

const CAMPAIGN_COLUMNS: &str = "id, account_id, name, status, playbook_id, launch_at, timezone, \
    calling_window, recall, max_concurrent_calls, calls_per_second, caller_id, contacts_total, \
    created_at, updated_at, trunk_id, caller_id_pool, priority, skills";

fn campaign_from_row(r: &DbRow) -> Result<Campaign, StoreError> {
    let status: String = r.try_get("status")?;
    let playbook: String = r.try_get("playbook_id")?;
    let zone: String = r.try_get("timezone")?;
    let recall: String = r.try_get("recall")?;
    Ok(Campaign {
        id: CampaignId::from_trusted(r.try_get("id")?),
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        name: r.try_get("name")?,
        status: CampaignStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        playbook_id: PlaybookId::parse(&playbook)
            .ok_or_else(|| corrupt("playbook_id", &playbook))?,
        launch_at: ts(r.try_get("launch_at")?)?,
        timezone: Zone::parse(&zone, "timezone").map_err(|_| corrupt("timezone", &zone))?,
        calling_window: window_from_text(&r.try_get::<String, _>("calling_window")?)?,
        recall: RecallPolicy::from_stored(&recall).ok_or_else(|| corrupt("recall", &recall))?,
        pacing: Pacing {
            max_concurrent_calls: r.try_get::<i64, _>("max_concurrent_calls")? as u32,
            calls_per_second: r.try_get("calls_per_second")?,
        },
        caller_id: r
            .try_get::<Option<String>, _>("caller_id")?
            .map(PhoneNumber::from_trusted),
        caller_id_pool: r.try_get("caller_id_pool")?,
        contacts_total: r.try_get::<i64, _>("contacts_total")? as u32,
        trunk_id: r
            .try_get::<Option<String>, _>("trunk_id")?
            .map(crate::domain::ids::TrunkId::from_trusted),
        priority: r.try_get::<i64, _>("priority")?.clamp(0, 100) as u8,
        skills: {
            let text: Option<String> = r.try_get("skills")?;
            Skills::from_stored(text.as_deref())
                .ok_or_else(|| corrupt("skills", text.as_deref().unwrap_or_default()))?
        },
        created_at: ts(r.try_get("created_at")?)?,
        updated_at: ts(r.try_get("updated_at")?)?,
    })
}

fn campaign_json(c: &Campaign) -> serde_json::Value {
    json!({
        "id": c.id.as_str(), "name": c.name, "status": c.status.as_str(),
        "playbook_id": c.playbook_id.to_string(), "launch_at": c.launch_at.to_string(),
        "timezone": c.timezone.name(), "calling_window": c.calling_window.to_json(),
        "recall": c.recall.to_json(), "pacing": c.pacing,
        "caller_id": c.caller_id.as_ref().map(|p| p.as_str().to_owned()),
        "contacts_total": c.contacts_total,
        "trunk_id": c.trunk_id.as_ref().map(|t| t.as_str()),
        "caller_id_pool": c.caller_id_pool,
        "priority": c.priority, "skills": c.skills,
    })
}

/// The event written with a change to a campaign.
fn campaign_event(c: &Campaign, kind: &'static str, at: Timestamp) -> NewEvent {
    NewEvent {
        account_id: c.account_id.as_str().to_owned(),
        resource_type: "campaign",
        resource_id: c.id.as_str().to_owned(),
        kind,
        at,
        data: json!({ "object": campaign_json(c) }).to_string(),
        changes: None,
        version: None,
        webhook_url: None,
    }
}

fn campaign_audit(
    action: &'static str,
    before: Option<&Campaign>,
    after: &Campaign,
) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "campaign",
        resource_id: Some(after.id.as_str().to_owned()),
        changes: diff(
            &before.map(campaign_json).unwrap_or(serde_json::Value::Null),
            &campaign_json(after),
        ),
    }
}

async fn fetch_campaign(
    conn: &mut DbConn,
    account: &AccountId,
    id: &CampaignId,
) -> Result<Option<Campaign>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 AND account_id = $2"
    ))
    .bind(id.as_str())
    .bind(account.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(campaign_from_row).transpose()
}

async fn totals(
    conn: &mut DbConn,
    account: &AccountId,
    id: &CampaignId,
) -> Result<CampaignTotals, StoreError> {
    let rows: Vec<(String, Option<String>, i64, i64, i64)> = sqlx::query_as(
        "SELECT status, outcome, CAST(CASE WHEN attempt > 0 THEN 1 ELSE 0 END AS BIGINT) AS tried, COUNT(*), \
         CAST(SUM(attempt) AS BIGINT) FROM callbacks \
         WHERE account_id = $1 AND campaign_id = $2 GROUP BY status, outcome, tried",
    )
    .bind(account.as_str())
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut t = CampaignTotals::default();
    for (status, outcome, called, count, attempts) in rows {
        let count = count as u64;
        t.contacts += count;
        match (status.as_str(), outcome.as_deref()) {
            ("scheduled" | "waiting" | "offered", _) => {
                t.pending += count;
                if called == 1 {
                    t.pending_recalls += count;
                }
            }
            ("dispatching" | "in_progress", _) => t.in_progress += count,
            ("completed", _) => t.answered += count,
            ("failed", _) => t.not_answered += count,
            ("canceled", Some("skipped_dnc")) => t.skipped_dnc += count,
            ("canceled", _) => t.canceled += count,
            ("expired", _) => t.expired += count,
            _ => {}
        }
        if status != "canceled" || outcome.as_deref() != Some("skipped_dnc") {
            t.attempts += attempts.max(0) as u64;
        }
    }
    Ok(t)
}

#[async_trait::async_trait]
impl CampaignStore for SqlStore {
    async fn account_settings(&self, account: &AccountId) -> Result<AccountSettings, StoreError> {
        let mut conn = self.reader.acquire().await?;
        Ok(settings_of(&mut conn, &[account.as_str()])
            .await?
            .remove(account.as_str())
            .unwrap_or_default())
    }

    async fn put_account_settings(
        &self,
        account: &AccountId,
        settings: &AccountSettings,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let before = self.account_settings(account).await?;
        let holidays = |s: &AccountSettings| {
            serde_json::Value::Array(s.holidays.iter().map(Holiday::to_json).collect())
        };
        let regional = |s: &AccountSettings| {
            serde_json::Value::Array(
                s.regional_windows
                    .iter()
                    .map(RegionalWindow::to_json)
                    .collect(),
            )
        };
        let required = |s: &AccountSettings| {
            s.require_consent_for
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
        };
        let view = |s: &AccountSettings| {
            json!({
                "calling_window": s.calling_window.to_json(),
                "allow_customer_requested_times": s.allow_customer_requested_times,
                "max_attempts": s.max_attempts,
                "attempt_window_days": s.attempt_window_days,
                "quiet_after_answer_hours": s.quiet_after_answer_hours,
                "holidays": holidays(s),
                "regional_windows": regional(s),
                "default_trunk_id": s.default_trunk_id.as_ref().map(|t| t.as_str()),
                "ai_sip_uri": s.ai_sip_uri.as_ref().map(|u| u.as_str()),
                "recording_retention_days": s.recording_retention_days,
                "retention_days": s.retention_days,
                "audit_retention_days": s.audit_retention_days,
                "dialect_timezone": s.dialect_timezone.as_ref().map(|z| z.name()),
                "fallback_after_minutes": s.fallback.as_ref().map(|f| f.after_minutes),
                "fallback_queue_id": s.fallback.as_ref().and_then(|f| f.queue_id.as_ref()).map(|q| q.as_str()),
                "require_consent_for": required(s),
            })
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO account_settings (account_id, calling_window, \
             allow_customer_requested_times, max_attempts, attempt_window_days, \
             quiet_after_answer_hours, updated_at, holidays, regional_windows, default_trunk_id, \
             ai_sip_uri, recording_retention_days, dialect_timezone, fallback_after_minutes, \
             fallback_queue_id, require_consent_for, retention_days, audit_retention_days) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18) \
             ON CONFLICT (account_id) DO UPDATE SET \
             calling_window = excluded.calling_window, \
             allow_customer_requested_times = excluded.allow_customer_requested_times, \
             max_attempts = excluded.max_attempts, \
             attempt_window_days = excluded.attempt_window_days, \
             quiet_after_answer_hours = excluded.quiet_after_answer_hours, \
             holidays = excluded.holidays, regional_windows = excluded.regional_windows, \
             default_trunk_id = excluded.default_trunk_id, ai_sip_uri = excluded.ai_sip_uri, \
             recording_retention_days = excluded.recording_retention_days, \
             dialect_timezone = excluded.dialect_timezone, \
             fallback_after_minutes = excluded.fallback_after_minutes, \
             fallback_queue_id = excluded.fallback_queue_id, \
             require_consent_for = excluded.require_consent_for, \
             retention_days = excluded.retention_days, \
             audit_retention_days = excluded.audit_retention_days, \
             updated_at = excluded.updated_at",
        )
        .bind(account.as_str())
        .bind(settings.calling_window.to_json().to_string())
        .bind(i64::from(settings.allow_customer_requested_times))
        .bind(settings.max_attempts.map(i64::from))
        .bind(i64::from(settings.attempt_window_days))
        .bind(settings.quiet_after_answer_hours.map(i64::from))
        .bind(ms(now))
        .bind(holidays(settings).to_string())
        .bind(regional(settings).to_string())
        .bind(settings.default_trunk_id.as_ref().map(|t| t.as_str()))
        .bind(settings.ai_sip_uri.as_ref().map(|u| u.as_str()))
        .bind(
            settings
                .recording_retention_days
                .map(i32::try_from)
                .and_then(Result::ok),
        )
        .bind(settings.dialect_timezone.as_ref().map(|z| z.name()))
        .bind(
            settings
                .fallback
                .as_ref()
                .map(|f| i32::try_from(f.after_minutes).unwrap_or(i32::MAX)),
        )
        .bind(
            settings
                .fallback
                .as_ref()
                .and_then(|f| f.queue_id.as_ref())
                .map(|q| q.as_str()),
        )
        .bind(
            (!settings.require_consent_for.is_empty())
                .then(|| json!(required(settings)).to_string()),
        )
        .bind(
            settings
                .retention_days
                .map(i32::try_from)
                .and_then(Result::ok),
        )
        .bind(
            settings
                .audit_retention_days
                .map(i32::try_from)
                .and_then(Result::ok),
        )
        .execute(&mut *tx)
        .await?;
        let record = AuditRecord {
            action: "settings.update",
            resource_type: "settings",
            resource_id: None,
            changes: diff(&view(&before), &view(settings)),
        };
        insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_campaign(
        &self,
        campaign: &Campaign,
        calls: &[Callback],
        actor: &Actor,
    ) -> Result<(), StoreError> {
        // One `campaign.created` announces every call; a call's own history starts with its
        // first dial (100,000 snapshots would triple the write).
        let rows: Vec<&Callback> = calls.iter().collect();
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO campaigns ({CAMPAIGN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19)"
        ))
        .bind(campaign.id.as_str())
        .bind(campaign.account_id.as_str())
        .bind(&campaign.name)
        .bind(campaign.status.as_str())
        .bind(campaign.playbook_id.to_string())
        .bind(ms(campaign.launch_at))
        .bind(campaign.timezone.name())
        .bind(campaign.calling_window.to_json().to_string())
        .bind(campaign.recall.to_json().to_string())
        .bind(i64::from(campaign.pacing.max_concurrent_calls))
        .bind(campaign.pacing.calls_per_second)
        .bind(campaign.caller_id.as_ref().map(|p| p.as_str().to_owned()))
        .bind(i64::from(campaign.contacts_total))
        .bind(ms(campaign.created_at))
        .bind(ms(campaign.updated_at))
        .bind(campaign.trunk_id.as_ref().map(|t| t.as_str()))
        .bind(&campaign.caller_id_pool)
        .bind(i64::from(campaign.priority))
        .bind(campaign.skills.stored())
        .execute(&mut *tx)
        .await?;
        insert_callback_rows(&mut tx, &rows, &[]).await?;
        insert_events(
            &mut tx,
            &[campaign_event(
                campaign,
                "campaign.created",
                campaign.created_at,
            )],
        )
        .await?;
        insert_audit(
            &mut tx,
            campaign.account_id.as_str(),
            actor,
            campaign.created_at,
            &[campaign_audit("campaign.create", None, campaign)],
        )
        .await?;
        tx.commit().await?;
        if let Some(first) = calls
            .iter()
            .filter(|c| c.status == Status::Scheduled)
            .map(|c| c.due_at)
            .min()
        {
            self.due.announce(first);
        }
        self.events.notify();
        Ok(())
    }

    async fn get_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
    ) -> Result<Option<(Campaign, CampaignTotals)>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let Some(mut campaign) = fetch_campaign(&mut conn, account, id).await? else {
            return Ok(None);
        };
        let totals = totals(&mut conn, account, id).await?;
        if campaign.status == CampaignStatus::Running
            && totals.pending == 0
            && totals.in_progress == 0
        {
            campaign.status = CampaignStatus::Completed;
        }
        Ok(Some((campaign, totals)))
    }

    async fn list_campaigns(
        &self,
        account: &AccountId,
        before: Option<&CampaignId>,
        limit: u32,
    ) -> Result<Vec<Campaign>, StoreError> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE account_id = "
        ));
        qb.push_bind(account.as_str());
        if let Some(before) = before {
            qb.push(" AND id < ").push_bind(before.as_str());
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(campaign_from_row).collect()
    }

    async fn set_campaign_status(
        &self,
        account: &AccountId,
        id: &CampaignId,
        status: CampaignStatus,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Campaign, ChangeError> {
        let mut tx = self.begin_write().await?;
        let before = fetch_campaign(&mut tx, account, id)
            .await?
            .ok_or(ChangeError::NotFound)?;
        let allowed = matches!(
            (before.status, status),
            (CampaignStatus::Running, CampaignStatus::Paused)
                | (CampaignStatus::Paused, CampaignStatus::Running)
                | (
                    CampaignStatus::Running | CampaignStatus::Paused,
                    CampaignStatus::Canceled
                )
        );
        if before.status == status {
            return Ok(before);
        }
        if !allowed {
            return Err(ChangeError::CampaignState(before.status));
        }
        sqlx::query(
            "UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3 AND account_id = $4",
        )
        .bind(status.as_str())
        .bind(ms(now))
        .bind(id.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let mut after = before.clone();
        after.status = status;
        after.updated_at = now;
        let mut told = Vec::new();
        if status == CampaignStatus::Canceled {
            // Its calls nobody has started are canceled; calls under way finish.
            (_, told) = cancel_untouched(
                &mut tx,
                account,
                Untouched::Of(id),
                "campaign_canceled",
                now,
                actor,
            )
            .await?;
        }
        let kind = match status {
            CampaignStatus::Paused => "campaign.paused",
            CampaignStatus::Running => "campaign.resumed",
            _ => "campaign.canceled",
        };
        insert_events(&mut tx, &[campaign_event(&after, kind, now)]).await?;
        let action = match status {
            CampaignStatus::Paused => "campaign.pause",
            CampaignStatus::Running => "campaign.resume",
            _ => "campaign.cancel",
        };
        insert_audit(
            &mut tx,
            account.as_str(),
            actor,
            now,
            &[campaign_audit(action, Some(&before), &after)],
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.events.notify();
        self.due.notify();
        self.routing.notify();
        self.agent_feed.raise(told.iter().map(String::as_str));
        Ok(after)
    }

    async fn campaign_calls(
        &self,
        account: &AccountId,
        id: &CampaignId,
        after: Option<&CallbackId>,
        limit: u32,
    ) -> Result<Vec<Callback>, StoreError> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE account_id = "
        ));
        qb.push_bind(account.as_str())
            .push(" AND campaign_id = ")
            .push_bind(id.as_str());
        if let Some(after) = after {
            qb.push(" AND id > ").push_bind(after.as_str());
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(callback_from_row).collect()
    }

    async fn dial_facts(
        &self,
        account: &AccountId,
        callbacks: &[&Callback],
        now: Timestamp,
    ) -> Result<DialFacts, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let settings = settings_of(&mut conn, &[account.as_str()])
            .await?
            .remove(account.as_str())
            .unwrap_or_default();
        let phones: Vec<&str> = callbacks.iter().map(|cb| cb.phone.as_str()).collect();
        let ring = self.ring();
        let listed = on_dnc(&mut conn, &ring, account.as_str(), &phones).await?;
        let numbers: Vec<(&str, &str)> = phones.iter().map(|p| (account.as_str(), *p)).collect();
        let consents = consent_states(&mut conn, &ring, &numbers).await?;
        let campaign_ids: Vec<&str> = callbacks
            .iter()
            .filter_map(|cb| cb.campaign_id.as_ref().map(|c| c.as_str()))
            .collect();
        let campaigns = campaign_facts(&mut conn, &campaign_ids).await?;
        let free_agents = if callbacks.iter().any(|cb| cb.dialing_mode.waits_for_agent()) {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM agents WHERE account_id = $1 \
                 AND presence = 'available' AND deleted_at IS NULL",
            )
            .bind(account.as_str())
            .fetch_one(&mut *conn)
            .await?;
            Some(n as u32)
        } else {
            None
        };
        let contacts = contacts_where(&mut conn, account, "phone", &phones).await?;
        let mut calls = Vec::with_capacity(callbacks.len());
        for cb in callbacks {
            let history = if needs_history(&settings) {
                history(
                    &mut conn,
                    account.as_str(),
                    cb.phone.as_str(),
                    debt_ref(cb.metadata.as_ref()),
                    cap_since(&settings, now),
                    cb.attempt_open.then_some((cb.id.as_str(), cb.attempt)),
                )
                .await?
            } else {
                History::default()
            };
            calls.push(CallFacts {
                on_dnc: listed.contains(cb.phone.as_str()),
                consent: consents
                    .get(&(account.as_str().to_owned(), cb.phone.as_str().to_owned()))
                    .copied()
                    .unwrap_or_default(),
                history,
                campaign: cb
                    .campaign_id
                    .as_ref()
                    .and_then(|c| campaigns.get(c.as_str()).copied()),
                free_agents: free_agents.filter(|_| cb.dialing_mode.waits_for_agent()),
            });
        }
        Ok(DialFacts {
            settings,
            calls,
            contacts,
        })
    }
}
