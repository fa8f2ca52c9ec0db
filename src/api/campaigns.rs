//! `/v1/campaigns`, the account's dialling policy (`/v1/settings`) and why a callback is not
//! being dialled (`/v1/callbacks/{id}/eligibility`).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::{
    AppState,
    auth::{Caller, require},
    authorized::{Authorized, scope},
    callbacks::callback_id,
    error::ApiError,
    extract::{ApiJson, ApiQuery},
};
use crate::{
    domain::{
        Callback, DialingMode, ErrorCode, FieldError, Origin, PhoneNumber, Scope, Status, Zone,
        campaign::{AccountSettings, Campaign, CampaignStatus, Pacing, RecallPolicy},
        contact::{Contact, ContactPatch},
        dialing::{
            Block, BlockCode, CampaignFacts, Facts, History, Holiday, Location, RegionalWindow,
            ZoneSource, decide, earliest_dial,
        },
        geo::{self, Region},
        ids::{CallbackId, CampaignId, ContactId},
        parse_scheduled_at,
        playbook::PlaybookId,
        window::CallingWindow,
    },
    store::CampaignTotals,
};

/// Most contacts one campaign request may carry.
pub const MAX_CONTACTS: usize = 100_000;

// -------------------------------------------------------------------------------------------
// Settings
// -------------------------------------------------------------------------------------------

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
    pub max_attempts: Option<u32>,
    pub attempt_window_days: u32,
    /// After an answered call, automated attempts (campaign calls, recalls) to the number or
    /// the same debt (`metadata.debt_ref`) wait this many hours; `null`: none.
    pub quiet_after_answer_hours: Option<u32>,
    /// Dates nobody is called, judged in the callee's zone: `[{"date": "2026-12-25",
    /// "regions": ["US"], "name": "Christmas Day"}]`. Without `regions`, everybody; with them,
    /// callees in any of those countries or subdivisions (`US`, `US-FL`, `CA-QC`). A call that
    /// falls on one moves to the next opening after it.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub holidays: serde_json::Value,
    /// Stricter hours of regions, applied on top of the calling window (the strictest that
    /// applies wins): `[{"region": "US-FL", "calling_window": {"start": "08:00", "end":
    /// "20:00"}}]`; `calling_window` may be a list, any of which allows a call (Texas:
    /// weekdays and Sundays differ). A callee's region is read from the number's area code
    /// (North America) and the contact's `state`; where it is unknown, every subdivision of
    /// the country applies.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub regional_windows: serde_json::Value,
}

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
        }
    }
}

#[utoipa::path(
    get, path = "/v1/settings", operation_id = "get_settings", tag = "campaigns",
    summary = "The account's dialling policy",
    responses(
        (status = 200, description = "The settings.", body = SettingsView),
        (status = 401, response = super::openapi::Unauthorized),
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
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
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
    let settings = AccountSettings {
        calling_window,
        allow_customer_requested_times: req.allow_customer_requested_times,
        max_attempts: req.max_attempts,
        attempt_window_days: req.attempt_window_days,
        quiet_after_answer_hours: req.quiet_after_answer_hours,
        holidays: Holiday::parse_list(&req.holidays, "holidays")?,
        regional_windows: RegionalWindow::parse_list(&req.regional_windows, "regional_windows")?,
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

// -------------------------------------------------------------------------------------------
// Campaigns
// -------------------------------------------------------------------------------------------

/// A campaign as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub campaign_id: String,
    pub name: Option<String>,
    pub status: CampaignStatus,
    pub playbook_id: String,
    pub launch_at: String,
    pub timezone: String,
    #[schema(value_type = Object)]
    pub calling_window: serde_json::Value,
    /// Minutes after an unanswered call before each recall: one list, or a list per outcome.
    #[schema(value_type = Object)]
    pub recall: serde_json::Value,
    pub max_concurrent_calls: u32,
    pub calls_per_second: f64,
    pub caller_id: Option<String>,
    pub contacts_total: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<CampaignTotals>,
    pub created_at: String,
    pub updated_at: String,
}

impl CampaignView {
    pub fn new(c: &Campaign, totals: Option<CampaignTotals>) -> Self {
        Self {
            campaign_id: c.id.to_string(),
            name: c.name.clone(),
            status: c.status,
            playbook_id: c.playbook_id.to_string(),
            launch_at: c.launch_at.to_string(),
            timezone: c.timezone.name().to_owned(),
            calling_window: c.calling_window.to_json(),
            recall: c.recall.to_json(),
            max_concurrent_calls: c.pacing.max_concurrent_calls,
            calls_per_second: c.pacing.calls_per_second,
            caller_id: c.caller_id.as_ref().map(ToString::to_string),
            contacts_total: c.contacts_total,
            totals,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

/// The body of `POST /v1/campaigns` (documentation; it is read field by field so each error
/// names its field).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct NewCampaign {
    /// UUID of the playbook whose `initial_message` each call says, rendered per contact.
    pub playbook_id: String,
    /// Contact objects (at least `phone`; created or updated by phone) or contact ids
    /// (`ctc_...`), at most 100,000.
    #[schema(value_type = Vec<Object>)]
    pub contacts: Vec<serde_json::Value>,
    pub name: Option<String>,
    /// When to start: RFC 3339, or a local time read in `timezone`; default now.
    pub launch_at: Option<String>,
    /// The zone a `launch_at` without offset is read in (default UTC). Calls are judged in
    /// each contact's zone, else every zone its number may be in, never in this one.
    pub timezone: Option<String>,
    /// Minutes after an unanswered call before each recall: `[30, 120]` or `"[30,120]"`.
    #[schema(value_type = Option<Object>)]
    pub recall: Option<serde_json::Value>,
    /// `{"start", "end", "days"}`; default the account's.
    #[schema(value_type = Option<Object>)]
    pub calling_window: Option<serde_json::Value>,
    /// `{"max_concurrent_calls": 100, "calls_per_second": 10}`.
    #[schema(value_type = Option<Object>)]
    pub pacing: Option<serde_json::Value>,
    pub caller_id: Option<String>,
    /// `ai` (default), `progressive` or `preview`.
    pub dialing_mode: Option<DialingMode>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignCreated {
    pub campaign_id: String,
    pub status: CampaignStatus,
    pub contacts_total: u32,
    /// When the first call will be placed, all rules applied.
    pub first_dial_at: Option<String>,
    /// Contacts whose first call a rule moved, and why (at most 100 listed).
    pub moved: Vec<MovedContact>,
    /// Present (`true`) on the answer to `?dry_run=true`: checked and planned, nothing stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MovedContact {
    pub phone: String,
    pub effective_dial_at: String,
    pub reason: String,
}

fn field_error(field: &str, code: ErrorCode, why: &str) -> ApiError {
    FieldError::new(code, field, why.to_owned()).into()
}

const CAMPAIGN_FIELDS: [&str; 10] = [
    "playbook_id",
    "contacts",
    "name",
    "launch_at",
    "timezone",
    "recall",
    "calling_window",
    "pacing",
    "caller_id",
    "dialing_mode",
];

#[utoipa::path(
    post, path = "/v1/campaigns", operation_id = "create_campaign", tag = "campaigns",
    summary = "Launch a campaign now or at a time",
    description = "Creates or updates the contacts, renders the playbook's message for each, \
        and schedules one call per contact: spread by `pacing.calls_per_second` from \
        `launch_at`, each inside the calling window (and off holidays, inside regional \
        windows) in the contact's zone, else in every zone its number may be in. Numbers on the do-not-call list are \
        recorded as `skipped_dnc` and never dialled. Answers `202` with `campaign_id`.",
    params(super::callbacks::DryRun),
    request_body = NewCampaign,
    responses(
        (status = 202, description = "Accepted.", body = CampaignCreated),
        (status = 200, description = "`?dry_run=true`: checked and planned, nothing stored.", body = CampaignCreated),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, description = "`forbidden`: the playbook is not found in this account, or the key lacks `campaigns:write`.", body = super::error::ErrorBody),
        (status = 413, response = super::openapi::PayloadTooLarge),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    ApiQuery(q): ApiQuery<super::callbacks::DryRun>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    if q.dry_run.unwrap_or(false) {
        let planned = plan(&state, &caller, body, Origin::Campaign, false).await?;
        return Ok((StatusCode::OK, Json(planned.answer(true))).into_response());
    }
    let created = launch(&state, &caller, body, Origin::Campaign).await?;
    Ok((StatusCode::ACCEPTED, Json(created)).into_response())
}

/// A campaign checked and planned, not yet stored.
pub struct Planned {
    campaign: Campaign,
    calls: Vec<Callback>,
    moved: Vec<MovedContact>,
}

impl Planned {
    fn answer(self, dry_run: bool) -> CampaignCreated {
        CampaignCreated {
            campaign_id: self.campaign.id.to_string(),
            status: self.campaign.status,
            contacts_total: self.campaign.contacts_total,
            first_dial_at: self
                .calls
                .iter()
                .map(|c| c.due_at)
                .min()
                .map(|t| t.to_string()),
            moved: self.moved,
            dry_run: dry_run.then_some(true),
        }
    }
}

/// Validates a campaign request and stores the campaign with its calls (shared with the
/// campaign-list dialect).
pub async fn launch(
    state: &AppState,
    caller: &Caller,
    body: serde_json::Value,
    origin: Origin,
) -> Result<CampaignCreated, ApiError> {
    let planned = plan(state, caller, body, origin, true).await?;
    state
        .store
        .insert_campaign(&planned.campaign, &planned.calls, &caller.actor)
        .await?;
    Ok(planned.answer(false))
}

/// Validates a campaign request and plans its calls. With `store_contacts`, contact objects are
/// created or updated; without (a dry run), they are taken as given, not merged with stored
/// contacts of the same number.
async fn plan(
    state: &AppState,
    caller: &Caller,
    body: serde_json::Value,
    origin: Origin,
    store_contacts: bool,
) -> Result<Planned, ApiError> {
    let serde_json::Value::Object(map) = body else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !CAMPAIGN_FIELDS.contains(&k.as_str())) {
        return Err(field_error(
            unknown,
            ErrorCode::UnknownField,
            "not a campaign field",
        ));
    }
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match map.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(field_error(
                name,
                ErrorCode::InvalidField,
                "must be a string",
            )),
        }
    };
    let now = state.clock.now();
    let playbook_raw = text("playbook_id")?
        .ok_or_else(|| field_error("playbook_id", ErrorCode::MissingField, "is required"))?;
    let playbook_id = PlaybookId::parse(&playbook_raw)
        .ok_or_else(|| field_error("playbook_id", ErrorCode::InvalidField, "must be a UUID"))?;
    let playbook = state
        .store
        .get_playbook(&caller.account_id, &playbook_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "playbook not found or not owned by this account",
            )
            .field("playbook_id")
        })?;
    let zone = match text("timezone")? {
        Some(name) => Zone::parse(&name, "timezone")?,
        None => Zone::utc(),
    };
    let launch_at = match text("launch_at")? {
        Some(raw) => {
            let at = parse_scheduled_at(&raw, Some(&zone), "launch_at")?;
            if at < now - SignedDuration::from_secs(60) {
                return Err(field_error(
                    "launch_at",
                    ErrorCode::TimeInPast,
                    "is in the past; leave it out to launch now",
                ));
            }
            at.max(now)
        }
        None => now,
    };
    let recall = match map.get("recall") {
        Some(v) => RecallPolicy::parse(v, "recall")?,
        None => RecallPolicy::default(),
    };
    let settings = state.store.account_settings(&caller.account_id).await?;
    let window = match map.get("calling_window") {
        Some(v) if !v.is_null() => CallingWindow::parse(v, "calling_window")?,
        _ => settings.calling_window.clone(),
    };
    let pacing = match map.get("pacing") {
        Some(v) => Pacing::parse(v, "pacing")?,
        None => Pacing::default(),
    };
    let caller_id = text("caller_id")?
        .map(|c| PhoneNumber::parse(&c, "caller_id"))
        .transpose()?;
    let dialing_mode = match map.get("dialing_mode") {
        None | Some(serde_json::Value::Null) => DialingMode::Ai,
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            field_error(
                "dialing_mode",
                ErrorCode::InvalidField,
                "must be ai, progressive or preview",
            )
        })?,
    };
    let name = text("name")?;

    // The contacts: objects are created or updated by phone, ids must be the account's.
    let items = match map.get("contacts") {
        Some(serde_json::Value::Array(items)) if !items.is_empty() => items,
        Some(serde_json::Value::Array(_)) => {
            return Err(field_error(
                "contacts",
                ErrorCode::InvalidField,
                "must not be empty",
            ));
        }
        None | Some(serde_json::Value::Null) => {
            return Err(field_error(
                "contacts",
                ErrorCode::MissingField,
                "is required",
            ));
        }
        Some(_) => {
            return Err(field_error(
                "contacts",
                ErrorCode::InvalidField,
                "must be a list of contact objects or contact ids",
            ));
        }
    };
    if items.len() > MAX_CONTACTS {
        return Err(field_error(
            "contacts",
            ErrorCode::TooManyItems,
            &format!("at most {MAX_CONTACTS} contacts per campaign"),
        ));
    }
    let mut patches = Vec::new();
    let mut order: Vec<Result<usize, ContactId>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            serde_json::Value::String(raw) => {
                let id = ContactId::parse(raw).ok_or_else(|| {
                    field_error(
                        &format!("contacts[{i}]"),
                        ErrorCode::InvalidField,
                        "must be a contact object or a contact id (ctc_...)",
                    )
                })?;
                order.push(Err(id));
            }
            serde_json::Value::Object(_) => {
                let patch = ContactPatch::from_json(item, &format!("contacts[{i}]."))?;
                if patch.phone.is_none() {
                    return Err(field_error(
                        &format!("contacts[{i}].phone"),
                        ErrorCode::MissingField,
                        "every contact needs a phone",
                    ));
                }
                order.push(Ok(patches.len()));
                patches.push(patch);
            }
            _ => {
                return Err(field_error(
                    &format!("contacts[{i}]"),
                    ErrorCode::InvalidField,
                    "must be a contact object or a contact id (ctc_...)",
                ));
            }
        }
    }
    let named: Vec<ContactId> = order
        .iter()
        .filter_map(|e| e.as_ref().err().cloned())
        .collect();
    let by_id: std::collections::HashMap<ContactId, Contact> = state
        .store
        .get_contacts(&caller.account_id, &named)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    for (i, entry) in order.iter().enumerate() {
        if let Err(id) = entry
            && !by_id.contains_key(id)
        {
            return Err(field_error(
                &format!("contacts[{i}]"),
                ErrorCode::InvalidField,
                &format!("Contact not found: {id}"),
            ));
        }
    }
    let upserted = if patches.is_empty() {
        Vec::new()
    } else if store_contacts {
        state
            .store
            .upsert_contacts(&caller.account_id, &patches, now, &caller.actor)
            .await?
    } else {
        patches
            .iter()
            .map(|p| {
                Contact::create(caller.account_id.clone(), p, now, "")
                    .map(crate::store::contacts::Upserted::Created)
            })
            .collect()
    };
    let mut contacts: Vec<Contact> = Vec::with_capacity(order.len());
    for (i, entry) in order.into_iter().enumerate() {
        match entry {
            Ok(p) => match &upserted[p] {
                Ok(u) => contacts.push(u.contact().clone()),
                Err(e) => {
                    let mut e = e.clone();
                    e.field = format!("contacts[{i}].{}", e.field);
                    return Err(e.into());
                }
            },
            Err(id) => contacts.push(by_id[&id].clone()),
        }
    }

    let campaign = Campaign {
        id: CampaignId::generate(),
        account_id: caller.account_id.clone(),
        name,
        status: CampaignStatus::Running,
        playbook_id: playbook.id,
        launch_at,
        timezone: zone.clone(),
        calling_window: window.clone(),
        recall: recall.clone(),
        pacing,
        caller_id: caller_id.clone(),
        contacts_total: contacts.len() as u32,
        created_at: now,
        updated_at: now,
    };
    let mut calls = Vec::with_capacity(contacts.len());
    let mut moved = Vec::new();
    let messages = playbook.initial_message.render_all(&contacts);
    // Campaign planning asks the dial decision where each first call goes (window, holidays,
    // regional windows, in every zone the contact may be in); caps and the do-not-call list
    // are read when each call falls due.
    let no_history = History::default();
    let running = CampaignFacts {
        status: CampaignStatus::Running,
        room: None,
    };
    for (i, (contact, message)) in contacts.iter().zip(messages).enumerate() {
        let region =
            contact.details.state.as_deref().and_then(|state| {
                Region::from_state(geo::place_of(&contact.phone).country?, state)
            });
        let stated = contact.timezone.as_ref().map(|z| (z, ZoneSource::Contact));
        let location = Location::locate(&contact.phone, stated, region.as_ref());
        let slot = pacing.slot(launch_at, i);
        let facts = Facts {
            status: Status::Scheduled,
            due_at: slot,
            attempt: 0,
            attempt_open: false,
            campaign: Some(running),
            dialing_mode,
            window: Some(&window),
            location: &location,
            on_dnc: false,
            history: &no_history,
            free_agents: None,
        };
        let opening = match earliest_dial(&facts, &settings, slot) {
            Ok(at) => crate::domain::window::Opening {
                at,
                moved: (at != slot).then(|| {
                    decide(&facts, &settings, slot)
                        .blocks
                        .iter()
                        .map(|b| b.reason.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            },
            Err(block) => {
                return Err(field_error(
                    &format!("contacts[{i}]"),
                    ErrorCode::OutsideCallingWindow,
                    &format!(
                        "{} cannot be called: {}; give the contact's timezone",
                        contact.phone, block.reason
                    ),
                ));
            }
        };
        if let Some(reason) = &opening.moved
            && moved.len() < 100
        {
            moved.push(MovedContact {
                phone: contact.phone.to_string(),
                effective_dial_at: opening.at.to_string(),
                reason: reason.clone(),
            });
        }
        let name = [&contact.details.first_name, &contact.details.last_name]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        calls.push(Callback {
            id: CallbackId::generate(),
            account_id: caller.account_id.clone(),
            origin,
            status: Status::Scheduled,
            phone: contact.phone.clone(),
            contact_name: (!name.is_empty()).then_some(name),
            scheduled_at: opening.at,
            timezone: location.display_zone().clone(),
            timezone_source: location.source(),
            region,
            due_at: opening.at,
            expires_at: Callback::deadline(opening.at, 60),
            attempt: 0,
            attempt_open: false,
            assignment: None,
            caller_id: caller_id.clone(),
            dialing_mode,
            notes: None,
            metadata: None,
            interaction_id: None,
            reminder_minutes_before: None,
            expire_after_minutes: 60,
            max_duration_seconds: 900,
            recording_enabled: true,
            initial_message: Some(message),
            webhook_url: None,
            outcome: None,
            agent_id: None,
            offer_expires_at: None,
            campaign_id: Some(campaign.id.clone()),
            contact_id: Some(contact.id.clone()),
            recall: recall.clone(),
            calling_window: Some(window.clone()),
            created_at: now,
            updated_at: now,
        });
    }
    Ok(Planned {
        campaign,
        calls,
        moved,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// 1 to 500 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn limit(raw: Option<u32>) -> Result<u32, ApiError> {
    let limit = raw.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "must be between 1 and 500",
        )
        .field("limit"));
    }
    Ok(limit)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignList {
    pub data: Vec<CampaignView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/campaigns", operation_id = "list_campaigns", tag = "campaigns",
    summary = "Campaigns, newest first", params(Page),
    responses(
        (status = 200, description = "A page of campaigns.", body = CampaignList),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<CampaignList>, ApiError> {
    let limit = limit(q.limit)?;
    let before = match &q.cursor {
        Some(c) => Some(CampaignId::parse(c).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                "not a cursor",
            )
            .field("cursor")
        })?),
        None => None,
    };
    let campaigns = state
        .store
        .list_campaigns(&caller.account_id, before.as_ref(), limit)
        .await?;
    let next_cursor = (campaigns.len() as u32 == limit)
        .then(|| campaigns.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Json(CampaignList {
        data: campaigns
            .iter()
            .map(|c| CampaignView::new(c, None))
            .collect(),
        next_cursor,
    }))
}

fn campaign_id(raw: &str) -> Result<CampaignId, ApiError> {
    CampaignId::parse(raw).ok_or_else(|| ApiError::not_found("campaign"))
}

#[utoipa::path(
    get, path = "/v1/campaigns/{id}", operation_id = "get_campaign", tag = "campaigns",
    summary = "A campaign with its totals",
    params(("id" = String, Path, description = "A campaign id (`cmp_...`).")),
    responses(
        (status = 200, description = "The campaign.", body = CampaignView),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    let id = campaign_id(&id)?;
    let (campaign, totals) = state
        .store
        .get_campaign(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign"))?;
    Ok(Json(CampaignView::new(&campaign, Some(totals))))
}

/// One contact's progress in a campaign.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignContactView {
    pub contact_id: Option<String>,
    pub callback_id: String,
    pub phone: String,
    pub status: Status,
    pub attempts: u32,
    pub outcome: Option<crate::domain::Outcome>,
    /// When it will next be dialled, while any attempt is left.
    pub next_attempt_at: Option<String>,
    pub timezone: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignContactList {
    pub data: Vec<CampaignContactView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/campaigns/{id}/contacts", operation_id = "list_campaign_contacts",
    tag = "campaigns", summary = "Each contact's progress",
    params(("id" = String, Path, description = "A campaign id (`cmp_...`)."), Page),
    responses(
        (status = 200, description = "A page of contacts.", body = CampaignContactList),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn contacts(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<CampaignContactList>, ApiError> {
    let id = campaign_id(&id)?;
    let limit = limit(q.limit)?;
    if state
        .store
        .get_campaign(&caller.account_id, &id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("campaign"));
    }
    let after = match &q.cursor {
        Some(c) => Some(CallbackId::parse(c).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                "not a cursor",
            )
            .field("cursor")
        })?),
        None => None,
    };
    let calls = state
        .store
        .campaign_calls(&caller.account_id, &id, after.as_ref(), limit)
        .await?;
    let next_cursor = (calls.len() as u32 == limit)
        .then(|| calls.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Json(CampaignContactList {
        data: calls
            .iter()
            .map(|c| CampaignContactView {
                contact_id: c.contact_id.as_ref().map(ToString::to_string),
                callback_id: c.id.to_string(),
                phone: c.phone.to_string(),
                status: c.status,
                attempts: c.attempt,
                outcome: c.outcome,
                next_attempt_at: (c.status == Status::Scheduled).then(|| c.due_at.to_string()),
                timezone: c.timezone.name().to_owned(),
            })
            .collect(),
        next_cursor,
    }))
}

async fn set_status(
    state: AppState,
    caller: Caller,
    id: String,
    status: CampaignStatus,
    action: &str,
) -> Result<Json<CampaignView>, ApiError> {
    require(&caller, Scope::CampaignsWrite)?;
    let id = campaign_id(&id)?;
    let campaign = state
        .store
        .set_campaign_status(
            &caller.account_id,
            &id,
            status,
            state.clock.now(),
            &caller.actor,
        )
        .await
        .map_err(|e| match e {
            crate::store::ChangeError::NotFound => ApiError::not_found("campaign"),
            e => ApiError::from_change(e, action),
        })?;
    Ok(Json(CampaignView::new(&campaign, None)))
}

macro_rules! campaign_action {
    ($name:ident, $path:literal, $op:literal, $summary:literal, $status:expr, $action:literal) => {
        #[utoipa::path(
            post, path = $path, operation_id = $op, tag = "campaigns", summary = $summary,
            params(("id" = String, Path, description = "A campaign id (`cmp_...`).")),
            responses(
                (status = 200, description = "The campaign.", body = CampaignView),
                (status = 401, response = super::openapi::Unauthorized),
                (status = 404, response = super::openapi::NotFound),
                (status = 409, description = "`invalid_state`: not possible from the campaign's state (`status` names it).", body = super::error::ErrorBody),
            ),
            security(("bearer" = ["campaigns:write"])),
        )]
        pub async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            Path(id): Path<String>,
        ) -> Result<Json<CampaignView>, ApiError> {
            set_status(state, caller, id, $status, $action).await
        }
    };
}

campaign_action!(
    pause,
    "/v1/campaigns/{id}/pause",
    "pause_campaign",
    "Pause: nothing more is dialled until it is resumed",
    CampaignStatus::Paused,
    "be paused"
);
campaign_action!(
    resume,
    "/v1/campaigns/{id}/resume",
    "resume_campaign",
    "Resume a paused campaign",
    CampaignStatus::Running,
    "be resumed"
);
campaign_action!(
    cancel,
    "/v1/campaigns/{id}/cancel",
    "cancel_campaign",
    "Cancel: calls not yet placed are canceled",
    CampaignStatus::Canceled,
    "be canceled"
);

// -------------------------------------------------------------------------------------------
// Eligibility
// -------------------------------------------------------------------------------------------

#[derive(Serialize, utoipa::ToSchema)]
pub struct Eligibility {
    pub callback_id: String,
    pub status: Status,
    /// Nothing blocks it but its time: it is dialled (or offered) at `effective_dial_at`.
    pub eligible: bool,
    /// When it will be dialled (or offered) if nothing changes but time, every rule applied;
    /// `null` when no time will do, or it is not `scheduled`.
    pub effective_dial_at: Option<String>,
    pub blocked_by: Vec<BlockView>,
    /// Where its zone came from (`request`, `contact`, `number`, `number_ambiguous`).
    pub timezone_source: ZoneSource,
    /// Every zone the calling window is judged in.
    pub timezones: Vec<String>,
}

/// A rule that stops a call now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BlockView {
    /// `final_state`, `not_due`, `dnc`, `attempt_cap`, `quiet_period`, `calling_window`,
    /// `campaign_paused`, `pacing`, `no_agent`.
    pub rule: BlockCode,
    pub reason: String,
    /// When the block lifts by itself, if it does.
    pub until: Option<String>,
}

impl From<&Block> for BlockView {
    fn from(b: &Block) -> Self {
        Self {
            rule: b.code,
            reason: b.reason.clone(),
            until: b.until.map(|t| t.to_string()),
        }
    }
}

#[utoipa::path(
    get, path = "/v1/callbacks/{id}/eligibility", operation_id = "callback_eligibility",
    tag = "callbacks", summary = "What currently stops a callback from being dialled",
    description = "The dial decision, now: every rule that blocks the callback (`not_due`, \
        `dnc`, `attempt_cap`, `quiet_period`, `calling_window`, `campaign_paused`, `pacing`, \
        `no_agent` for preview callbacks, `final_state`), with when each lifts. The dispatch \
        guard and the preview offers apply the same decision.",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    responses(
        (status = 200, description = "The rules.", body = Eligibility),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn eligibility(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(id): Path<String>,
) -> Result<Json<Eligibility>, ApiError> {
    let id = callback_id(&id)?;
    let cb = state
        .store
        .get_callback(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("callback"))?;
    let now = state.clock.now();
    let mut known = state
        .store
        .dial_facts(&caller.account_id, &[&cb], now)
        .await?;
    let call = known.calls.pop().unwrap_or_default();
    let location = cb.location();
    // Free agents matter to a preview callback that is not with one yet.
    let free_agents = call
        .free_agents
        .filter(|_| matches!(cb.status, Status::Scheduled | Status::Waiting));
    let facts = Facts {
        on_dnc: call.on_dnc,
        campaign: call.campaign,
        free_agents,
        ..Facts::of(&cb, &location, &call.history)
    };
    let decision = decide(&facts, &known.settings, now);
    Ok(Json(Eligibility {
        callback_id: cb.id.to_string(),
        status: cb.status,
        eligible: decision.blocks.iter().all(|b| b.code == BlockCode::NotDue),
        effective_dial_at: (cb.status == Status::Scheduled)
            .then(|| earliest_dial(&facts, &known.settings, now).ok())
            .flatten()
            .map(|t| t.to_string()),
        blocked_by: decision.blocks.iter().map(BlockView::from).collect(),
        timezone_source: location.source(),
        timezones: location.zone_names(),
    }))
}
