//! A callback's row: reading one into a [`Callback`], binding one for an insert, fetching one.

use sqlx::Row;

use super::{CALLBACK_COLUMNS, Cell, DbConn, DbRow, corrupt, ms, opt_ts, ts, window_from_text};
use crate::domain::{
    AccountId, Amd, AssigneeKind, Assignment, Callback, CallbackId, DialingMode, Origin, Outcome,
    PhoneNumber, Status, WebhookUrl, Zone,
    callback::Fallback,
    campaign::RecallPolicy,
    dialing::ZoneSource,
    geo::Region,
    ids::{AgentId, CampaignId, ContactId, QueueId},
    routing::Skills,
};
use crate::store::StoreError;

pub(super) fn callback_from_row(row: &DbRow) -> Result<Callback, StoreError> {
    let origin: String = row.try_get("origin")?;
    let status: String = row.try_get("status")?;
    let timezone: String = row.try_get("timezone")?;
    let dialing_mode: String = row.try_get("dialing_mode")?;
    let assign_type: Option<String> = row.try_get("assign_type")?;
    let assignees: Option<String> = row.try_get("assignees")?;
    let metadata: Option<String> = row.try_get("metadata")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    let caller_id: Option<String> = row.try_get("caller_id")?;
    let timezone_source: String = row.try_get("timezone_source")?;
    let region: Option<String> = row.try_get("region")?;
    let fallback_queue: Option<String> = row.try_get("fallback_queue_id")?;
    let assignment = match (assign_type, assignees) {
        (Some(kind), Some(ids)) => Some(Assignment {
            kind: AssigneeKind::parse(&kind).ok_or_else(|| corrupt("assign_type", &kind))?,
            ids: serde_json::from_str(&ids).map_err(|_| corrupt("assignees", &ids))?,
        }),
        _ => None,
    };
    Ok(Callback {
        id: CallbackId::from_trusted(row.try_get("id")?),
        account_id: AccountId::from_trusted(row.try_get("account_id")?),
        origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        phone: PhoneNumber::from_trusted(row.try_get("phone")?),
        contact_name: row.try_get("contact_name")?,
        scheduled_at: ts(row.try_get("scheduled_at")?)?,
        timezone: Zone::parse(&timezone, "timezone").map_err(|_| corrupt("timezone", &timezone))?,
        due_at: ts(row.try_get("due_at")?)?,
        expires_at: ts(row.try_get("expires_at")?)?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        assignment,
        caller_id: caller_id.map(PhoneNumber::from_trusted),
        caller_id_pool: row.try_get("caller_id_pool")?,
        dialing_mode: DialingMode::parse(&dialing_mode)
            .ok_or_else(|| corrupt("dialing_mode", &dialing_mode))?,
        notes: row.try_get("notes")?,
        metadata: metadata
            .map(|m| serde_json::from_str(&m).map_err(|_| corrupt("metadata", &m)))
            .transpose()?,
        interaction_id: row.try_get("interaction_id")?,
        ring_timeout_seconds: row
            .try_get::<Option<i64>, _>("ring_timeout_seconds")?
            .map(|s| s as u32),
        amd: match row.try_get::<Option<String>, _>("amd")? {
            None => Amd::Off,
            Some(a) => Amd::parse(&a).ok_or_else(|| corrupt("amd", &a))?,
        },
        fallback: row
            .try_get::<Option<i64>, _>("fallback_after_minutes")?
            .map(|minutes| Fallback {
                after_minutes: minutes as u32,
                queue_id: fallback_queue.map(QueueId::from_trusted),
            }),
        trunk_id: row
            .try_get::<Option<String>, _>("trunk_id")?
            .map(crate::domain::ids::TrunkId::from_trusted),
        reminder_minutes_before: row
            .try_get::<Option<i64>, _>("reminder_minutes_before")?
            .map(|v| v as u32),
        expire_after_minutes: row.try_get::<i64, _>("expire_after_minutes")? as u32,
        max_duration_seconds: row.try_get::<i64, _>("max_duration_seconds")? as u32,
        recording_enabled: row.try_get::<i64, _>("recording_enabled")? != 0,
        initial_message: row.try_get("initial_message")?,
        webhook_url: row
            .try_get::<Option<String>, _>("webhook_url")?
            .map(WebhookUrl::from_trusted),
        outcome: outcome
            .map(|o| Outcome::parse(&o).ok_or_else(|| corrupt("outcome", &o)))
            .transpose()?,
        disposition: row.try_get("disposition")?,
        agent_id: row
            .try_get::<Option<String>, _>("agent_id")?
            .map(AgentId::from_trusted),
        offer_expires_at: opt_ts(row.try_get("offer_expires_at")?)?,
        campaign_id: row
            .try_get::<Option<String>, _>("campaign_id")?
            .map(CampaignId::from_trusted),
        contact_id: row
            .try_get::<Option<String>, _>("contact_id")?
            .map(ContactId::from_trusted),
        recall: match row.try_get::<Option<String>, _>("recall")? {
            Some(text) => {
                RecallPolicy::from_stored(&text).ok_or_else(|| corrupt("recall", &text))?
            }
            None => RecallPolicy::default(),
        },
        calling_window: row
            .try_get::<Option<String>, _>("calling_window")?
            .map(|text| window_from_text(&text))
            .transpose()?,
        timezone_source: ZoneSource::parse(&timezone_source)
            .ok_or_else(|| corrupt("timezone_source", &timezone_source))?,
        region: region
            .map(|r| Region::parse(&r, "region").map_err(|_| corrupt("region", &r)))
            .transpose()?,
        attempt_open: row.try_get::<i64, _>("attempt_open")? != 0,
        priority: row.try_get::<i64, _>("priority")?.clamp(0, 100) as u8,
        skills: {
            let text: Option<String> = row.try_get("skills")?;
            Skills::from_stored(text.as_deref())
                .ok_or_else(|| corrupt("skills", text.as_deref().unwrap_or_default()))?
        },
        created_at: ts(row.try_get("created_at")?)?,
        updated_at: ts(row.try_get("updated_at")?)?,
        created_by: row.try_get("created_by")?,
        queued_since: opt_ts(row.try_get("queued_since")?)?,
        version: row.try_get::<i64, _>("version")? as u64,
    })
}

/// A zone source as stored: whether a number is ambiguous is read from the number each time.
pub(super) fn stored_source(source: ZoneSource) -> &'static str {
    match source {
        ZoneSource::NumberAmbiguous => ZoneSource::Number.as_str(),
        source => source.as_str(),
    }
}

/// A new callback's row, in the order of [`INSERTED_COLUMNS`](super::INSERTED_COLUMNS).
pub(super) fn callback_cells(cb: &Callback) -> Vec<Cell> {
    vec![
        cb.id.as_str().into(),
        cb.account_id.as_str().into(),
        cb.origin.as_str().into(),
        cb.status.as_str().into(),
        cb.phone.as_str().into(),
        cb.contact_name.clone().into(),
        ms(cb.scheduled_at).into(),
        cb.timezone.name().into(),
        ms(cb.due_at).into(),
        ms(cb.expires_at).into(),
        i64::from(cb.attempt).into(),
        cb.assignment.as_ref().map(|a| a.kind.as_str()).into(),
        cb.assignment
            .as_ref()
            .map(|a| serde_json::to_string(&a.ids).unwrap_or_default())
            .into(),
        cb.caller_id.as_ref().map(|p| p.as_str()).into(),
        cb.caller_id_pool.clone().into(),
        cb.dialing_mode.as_str().into(),
        cb.notes.clone().into(),
        cb.metadata
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_default())
            .into(),
        cb.interaction_id.clone().into(),
        cb.reminder_minutes_before.map(i64::from).into(),
        i64::from(cb.expire_after_minutes).into(),
        i64::from(cb.max_duration_seconds).into(),
        i64::from(cb.recording_enabled).into(),
        cb.initial_message.clone().into(),
        cb.webhook_url.as_ref().map(|u| u.as_str()).into(),
        cb.outcome.map(Outcome::as_str).into(),
        cb.disposition.clone().into(),
        cb.agent_id.as_ref().map(|a| a.as_str()).into(),
        cb.offer_expires_at.map(ms).into(),
        cb.reminder_at().map(ms).into(),
        cb.campaign_id.as_ref().map(|c| c.as_str()).into(),
        cb.contact_id.as_ref().map(|c| c.as_str()).into(),
        (!cb.recall.is_empty())
            .then(|| cb.recall.to_json().to_string())
            .into(),
        cb.calling_window
            .as_ref()
            .map(|w| w.to_json().to_string())
            .into(),
        stored_source(cb.timezone_source).into(),
        cb.region.as_ref().map(|r| r.as_str()).into(),
        cb.trunk_id.as_ref().map(|t| t.as_str()).into(),
        cb.ring_timeout_seconds.map(i64::from).into(),
        (!cb.amd.is_off()).then_some(cb.amd.as_str()).into(),
        cb.fallback
            .as_ref()
            .map(|f| i64::from(f.after_minutes))
            .into(),
        cb.fallback
            .as_ref()
            .and_then(|f| f.queue_id.as_ref())
            .map(|q| q.as_str())
            .into(),
        i64::from(cb.priority).into(),
        cb.skills.stored().into(),
        i64::from(cb.attempt_open).into(),
        ms(cb.created_at).into(),
        ms(cb.updated_at).into(),
        cb.created_by.clone().into(),
        cb.queued_since.map(ms).into(),
    ]
}

pub(super) async fn fetch_callback(
    conn: &mut DbConn,
    account: &AccountId,
    id: &CallbackId,
) -> Result<Option<Callback>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = $1 AND account_id = $2"
    ))
    .bind(id.as_str())
    .bind(account.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(callback_from_row).transpose()
}
