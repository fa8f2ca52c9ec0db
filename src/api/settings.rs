//! `/v1/settings`: the account's dialling policy (calling window, attempt caps, quiet period,
//! holidays, regional windows), and how long call recordings are kept.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};

use super::{
    authorized::{Authorized, scope},
    error::ApiError,
    extract::ApiJson,
};
use crate::api::callbacks::check_fallback_queue;
use crate::app::AppState;
use crate::domain::{
    ErrorCode, FieldError, Zone,
    callback::Fallback,
    campaign::{AccountSettings, MAX_AUDIT_RETENTION_DAYS, MAX_RECORDING_RETENTION_DAYS},
    consent::parse_required,
    dialing::{Holiday, RegionalWindow},
    trunk::SipUri,
    window::CallingWindow,
};

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsView {
    /// `{"start": "08:00", "end": "21:00", "days": ["mon", ...]}`: where automated attempts
    /// (campaign calls, recalls) are placed, in the contact's zone. Default 08:00-21:00 daily.
    #[schema(value_type = Object)]
    pub calling_window: serde_json::Value,
    /// `true`: a one-off callback may be scheduled outside the window (the customer asked for
    /// that time). `false` (the default): it is refused with `outside_calling_window`.
    pub allow_customer_requested_times: bool,
    /// At most this many attempts per number in `attempt_window_days`, across callbacks,
    /// recalls and campaigns; `null`: no cap.
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: Option<u32>,
    #[schema(minimum = 1, maximum = 90)]
    pub attempt_window_days: u32,
    /// After an answered call, automated attempts (campaign calls, recalls) to the number or
    /// the same debt (`metadata.debt_ref`) wait this many hours; `null`: none.
    #[schema(minimum = 1, maximum = 2160)]
    pub quiet_after_answer_hours: Option<u32>,
    /// Dates nobody is called, judged in the callee's zone: `[{"date": "2026-12-25",
    /// "regions": ["US"], "name": "Christmas Day"}]`. Without `regions`, everybody; with them,
    /// callees in any of those countries or subdivisions (`US`, `US-FL`, `CA-QC`). A call that
    /// falls on one moves to the next opening after it.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub holidays: serde_json::Value,
    /// Stricter hours of regions, applied on top of the calling window (the strictest that
    /// applies wins): `[{"region": "US-FL", "calling_window": {"start": "08:00", "end":
    /// "20:00"}}]`; `calling_window` may be a list, any of which allows a call (Texas:
    /// weekdays and Sundays differ). A callee's region is read from the number's area code
    /// (North America) and the contact's `state`; where it is unknown, every subdivision of
    /// the country applies.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub regional_windows: serde_json::Value,
    /// The trunk (`trk_...`) of calls whose callback or campaign names none; `null`: the
    /// server's `--dialer-url` bridge. Left out of a `PUT`, it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub default_trunk_id: Option<Option<String>>,
    /// Where the voice-AI agent of `ai` calls on `sip` trunks is reached
    /// (`sip:bot@voice.example.com`): answered customers are connected to it, with the call's
    /// context in `X-Ringback-*` headers. `null`: none, and such calls wait for one. Left out
    /// of a `PUT`, it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub ai_sip_uri: Option<Option<String>>,
    /// Recordings of calls that ended more than this many days ago (1 to 3650) are deleted,
    /// and their attempts no longer show a `recording_url`; `null`: kept. Left out of a `PUT`,
    /// it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 3650)]
    pub recording_retention_days: Option<Option<u32>>,
    /// Ended callbacks (completed, failed, canceled, expired) are deleted with their calls,
    /// events, agents' feed entries and messages this many days (1 to 3650) after they ended,
    /// their recordings first; `null`: kept. Left out of a `PUT`, it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 3650)]
    pub retention_days: Option<Option<u32>>,
    /// Audit entries (the account's tamper-evident trail, with the evidence of every call) are
    /// deleted this many days after they were written, oldest first, the chain verifying from
    /// where they were cut; `null`: kept. Never fewer than the server's floor
    /// (`--audit-retention-floor-days`, four years by default), at most 36500. Left out of a
    /// `PUT`, it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, maximum = 36500)]
    pub audit_retention_days: Option<Option<u32>>,
    /// The zone compatible dialects read local times without an offset in (the Acefone-style
    /// dialer's `schedule_date_time`), an IANA name such as `Asia/Kolkata`; `null`: UTC. Left
    /// out of a `PUT`, it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub dialect_timezone: Option<Option<String>>,
    /// Callbacks assigned to an agent that say nothing of it fall back to the team this many
    /// minutes (0 to 10080) after they fell due, if the agent has not taken them (and at once
    /// when the agent is offline with no working hours left that day); `null`: they stay with
    /// the agent. Left out of a `PUT`, it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub fallback_after_minutes: Option<Option<u32>>,
    /// The queue (`que_...`) they fall back to; `null`: each agent's first queue. Left out of
    /// a `PUT`, it keeps its value.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub fallback_queue_id: Option<Option<String>>,
    /// Calls that need these consent scopes (`calls`: any call; `ai_calls`: `dialing_mode`
    /// `ai`; `prerecorded`: `unattended`) are placed only to numbers with that consent
    /// recorded (`POST /v1/consents`); others are skipped (`no_consent`). A scope the customer
    /// revoked stops the calls needing it whatever this says. Left out of a `PUT`, it keeps
    /// its value.
    #[serde(default)]
    pub require_consent_for: Option<Vec<String>>,
}

use crate::domain::present;

impl From<&AccountSettings> for SettingsView {
    fn from(s: &AccountSettings) -> Self {
        Self {
            calling_window: s.calling_window.to_json(),
            allow_customer_requested_times: s.allow_customer_requested_times,
            max_attempts: s.max_attempts,
            attempt_window_days: s.attempt_window_days,
            quiet_after_answer_hours: s.quiet_after_answer_hours,
            holidays: s.holidays.iter().map(Holiday::to_json).collect(),
            regional_windows: s
                .regional_windows
                .iter()
                .map(RegionalWindow::to_json)
                .collect(),
            default_trunk_id: Some(s.default_trunk_id.as_ref().map(|t| t.to_string())),
            ai_sip_uri: Some(s.ai_sip_uri.as_ref().map(|u| u.to_string())),
            recording_retention_days: Some(s.recording_retention_days),
            retention_days: Some(s.retention_days),
            audit_retention_days: Some(s.audit_retention_days),
            dialect_timezone: Some(s.dialect_timezone.as_ref().map(|z| z.name().to_owned())),
            fallback_after_minutes: Some(s.fallback.as_ref().map(|f| f.after_minutes)),
            fallback_queue_id: Some(
                s.fallback
                    .as_ref()
                    .and_then(|f| f.queue_id.as_ref())
                    .map(|q| q.as_str().to_owned()),
            ),
            require_consent_for: Some(
                s.require_consent_for
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
            ),
        }
    }
}

#[utoipa::path(
    get, path = "/v1/settings", operation_id = "get_settings", tag = "campaigns",
    summary = "The account's dialling policy",
    responses(
        (status = 200, description = "The settings.", body = SettingsView),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
) -> Result<Json<SettingsView>, ApiError> {
    let settings = state.store.account_settings(&caller.account_id).await?;
    Ok(Json(SettingsView::from(&settings)))
}

#[utoipa::path(
    put, path = "/v1/settings", operation_id = "put_settings", tag = "campaigns",
    summary = "Set the account's dialling policy",
    request_body = SettingsView,
    responses(
        (status = 200, description = "The settings.", body = SettingsView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiJson(req): ApiJson<SettingsView>,
) -> Result<Json<SettingsView>, ApiError> {
    let calling_window = CallingWindow::parse(&req.calling_window, "calling_window")?;
    if req.max_attempts.is_some_and(|m| !(1..=100).contains(&m)) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "max_attempts",
            "must be 1 to 100, or null for no cap",
        )
        .into());
    }
    if !(1..=90).contains(&req.attempt_window_days) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "attempt_window_days",
            "must be 1 to 90",
        )
        .into());
    }
    if req
        .quiet_after_answer_hours
        .is_some_and(|h| !(1..=24 * 90).contains(&h))
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "quiet_after_answer_hours",
            "must be 1 to 2160, or null for none",
        )
        .into());
    }
    if let Some(Some(days)) = req.recording_retention_days
        && !(1..=MAX_RECORDING_RETENTION_DAYS).contains(&days)
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "recording_retention_days",
            format!("must be 1 to {MAX_RECORDING_RETENTION_DAYS}, or null to keep recordings"),
        )
        .into());
    }
    if let Some(Some(days)) = req.retention_days
        && !(1..=MAX_RECORDING_RETENTION_DAYS).contains(&days)
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "retention_days",
            format!("must be 1 to {MAX_RECORDING_RETENTION_DAYS}, or null to keep callbacks"),
        )
        .into());
    }
    let floor = state.settings.audit_retention_floor_days;
    if let Some(Some(days)) = req.audit_retention_days
        && !(floor..=MAX_AUDIT_RETENTION_DAYS).contains(&days)
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "audit_retention_days",
            format!(
                "must be {floor} to {MAX_AUDIT_RETENTION_DAYS} (this server keeps audit entries at \
                 least {floor} days), or null to keep them"
            ),
        )
        .into());
    }
    // Fields left out of the request keep their stored values.
    let given = req.default_trunk_id.is_some()
        && req.audit_retention_days.is_some()
        && req.ai_sip_uri.is_some()
        && req.recording_retention_days.is_some()
        && req.retention_days.is_some()
        && req.dialect_timezone.is_some()
        && req.fallback_after_minutes.is_some()
        && req.fallback_queue_id.is_some()
        && req.require_consent_for.is_some();
    let before = match given {
        true => None,
        false => Some(state.store.account_settings(&caller.account_id).await?),
    };
    let default_trunk_id = match &req.default_trunk_id {
        None => before.as_ref().and_then(|s| s.default_trunk_id.clone()),
        Some(None) => None,
        Some(Some(raw)) => {
            Some(super::trunks::named_trunk(&state, &caller, raw, "default_trunk_id").await?)
        }
    };
    let ai_sip_uri = match &req.ai_sip_uri {
        None => before.as_ref().and_then(|s| s.ai_sip_uri.clone()),
        Some(None) => None,
        Some(Some(raw)) => Some(SipUri::parse(raw, "ai_sip_uri")?),
    };
    let recording_retention_days = match req.recording_retention_days {
        None => before.as_ref().and_then(|s| s.recording_retention_days),
        Some(days) => days,
    };
    let retention_days = match req.retention_days {
        None => before.as_ref().and_then(|s| s.retention_days),
        Some(days) => days,
    };
    let audit_retention_days = match req.audit_retention_days {
        None => before.as_ref().and_then(|s| s.audit_retention_days),
        Some(days) => days,
    };
    let dialect_timezone = match &req.dialect_timezone {
        None => before.as_ref().and_then(|s| s.dialect_timezone.clone()),
        Some(None) => None,
        Some(Some(raw)) => Some(Zone::parse(raw, "dialect_timezone")?),
    };
    let kept = before.as_ref().and_then(|s| s.fallback.as_ref());
    let fallback = Fallback::parse(
        match req.fallback_after_minutes {
            None => kept.map(|f| f.after_minutes),
            Some(minutes) => minutes,
        },
        match &req.fallback_queue_id {
            None => kept.and_then(|f| f.queue_id.as_ref()).map(|q| q.as_str()),
            Some(queue) => queue.as_deref(),
        },
        "",
    )?;
    if let Some(queue) = fallback.as_ref().and_then(|f| f.queue_id.as_ref()) {
        check_fallback_queue(&state, &caller, queue, "fallback_queue_id").await?;
    }
    let require_consent_for = match &req.require_consent_for {
        None => before
            .as_ref()
            .map(|s| s.require_consent_for.clone())
            .unwrap_or_default(),
        Some(names) => parse_required(names, "require_consent_for")?,
    };
    let settings = AccountSettings {
        calling_window,
        allow_customer_requested_times: req.allow_customer_requested_times,
        max_attempts: req.max_attempts,
        attempt_window_days: req.attempt_window_days,
        quiet_after_answer_hours: req.quiet_after_answer_hours,
        holidays: Holiday::parse_list(&req.holidays, "holidays")?,
        regional_windows: RegionalWindow::parse_list(&req.regional_windows, "regional_windows")?,
        default_trunk_id,
        ai_sip_uri,
        recording_retention_days,
        retention_days,
        audit_retention_days,
        dialect_timezone,
        fallback,
        require_consent_for,
    };
    state
        .store
        .put_account_settings(
            &caller.account_id,
            &settings,
            state.clock.now(),
            &caller.actor,
        )
        .await?;
    Ok(Json(SettingsView::from(&settings)))
}
