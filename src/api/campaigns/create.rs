//! `POST /v1/campaigns`: checks a campaign request, plans one call per contact (paced, each
//! moved into the calling window by the dial decision) and stores them; with `?dry_run=true`
//! answers the plan without storing anything.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{
    super::{
        auth::Caller,
        authorized::{Authorized, scope},
        callbacks::DryRun,
        error::ApiError,
        extract::{ApiJson, ApiQuery},
    },
    request::{CampaignRequest, ContactEntry, field_error},
};
use crate::app::AppState;
use crate::domain::{
    Callback, DialingMode, ErrorCode, Origin, Status,
    campaign::{Campaign, CampaignStatus, Launch},
    contact::Contact,
    ids::{CallbackId, CampaignId, ContactId},
};

/// The body of `POST /v1/campaigns` (documentation; it is read field by field so each error
/// names its field).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct NewCampaign {
    /// UUID of the playbook whose `initial_message` each call says, rendered per contact.
    pub playbook_id: String,
    /// Contact objects (at least `phone`; created or updated by phone) or contact ids
    /// (`ctc_...`), 1 to 100,000.
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 100000)]
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
    /// Once the account registered numbers (`/v1/caller-ids`), one of them.
    pub caller_id: Option<String>,
    /// A caller ID pool instead of one `caller_id`: each call shows the pool number local to
    /// its contact (area code, else region or country), under each number's daily cap.
    pub caller_id_pool: Option<String>,
    /// `ai` (default), `progressive` or `preview`.
    pub dialing_mode: Option<DialingMode>,
    /// 0 to 100 (default 50): the claim takes due calls of higher priority first (pacing
    /// still holds), and agents are offered them first.
    pub priority: Option<u8>,
    /// Skills the agent who takes a call must hold, levels 1 to 5 (`{"spanish": 3}`).
    #[schema(value_type = Option<Object>)]
    pub skills: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignCreated {
    pub campaign_id: String,
    pub status: CampaignStatus,
    pub contacts_total: u32,
    /// When the first call will be placed, all rules applied.
    pub first_dial_at: Option<String>,
    /// The zone a `launch_at` without an offset was read in (the campaign's `timezone`, else
    /// the account's `dialect_timezone`, else UTC); absent when it carried its offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_at_timezone: Option<String>,
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

#[utoipa::path(
    post, path = "/v1/campaigns", operation_id = "create_campaign", tag = "campaigns",
    summary = "Launch a campaign now or at a time",
    description = "Creates or updates the contacts, renders the playbook's message for each, \
        and schedules one call per contact: spread by `pacing.calls_per_second` from \
        `launch_at`, each inside the calling window (and off holidays, inside regional \
        windows) in the contact's zone, else in every zone its number may be in. Numbers on the do-not-call list are \
        recorded as `skipped_dnc` and never dialled. Answers `202` with `campaign_id`.",
    params(DryRun),
    request_body = NewCampaign,
    responses(
        (status = 202, description = "Accepted.", body = CampaignCreated),
        (status = 200, description = "`?dry_run=true`: checked and planned, nothing stored.", body = CampaignCreated),
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 403, description = "`forbidden`: the playbook is not found in this account, or the key lacks `campaigns:write`.", body = crate::api::error::ErrorBody),
        (status = 413, response = crate::api::error::PayloadTooLarge),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    ApiQuery(q): ApiQuery<DryRun>,
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
    launch_at_zone: Option<crate::domain::Zone>,
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
            launch_at_timezone: self.launch_at_zone.map(|z| z.name().to_owned()),
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
    let mut request = CampaignRequest::from_json(body)?;
    let now = state.clock.now();
    let playbook_id = request.playbook_id()?;
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
    let settings = state.store.account_settings(&caller.account_id).await?;
    let options = request.options(now, settings.dialect_timezone.as_ref())?;
    let trunk_id = match &options.trunk_id {
        Some(raw) => Some(crate::api::trunks::named_trunk(state, caller, raw, "trunk_id").await?),
        None => None,
    };
    crate::api::caller_ids::check_caller_id(
        state,
        caller,
        options.caller_id.as_ref(),
        options.caller_id_pool.as_deref(),
        "",
    )
    .await?;
    let window = options
        .calling_window
        .unwrap_or_else(|| settings.calling_window.clone());

    // The contacts: objects are created or updated by phone, ids must be the account's.
    let entries = request.contacts()?;
    let mut patches = Vec::new();
    let mut order: Vec<Result<usize, ContactId>> = Vec::with_capacity(entries.len());
    for entry in entries {
        match entry {
            ContactEntry::Stored(id) => order.push(Err(id)),
            ContactEntry::New(patch) => {
                order.push(Ok(patches.len()));
                patches.push(patch);
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
        name: options.name,
        status: CampaignStatus::Running,
        playbook_id: playbook.id,
        launch_at: options.launch_at,
        timezone: options.timezone,
        calling_window: window.clone(),
        recall: options.recall.clone(),
        pacing: options.pacing,
        caller_id: options.caller_id.clone(),
        caller_id_pool: options.caller_id_pool.clone(),
        trunk_id: trunk_id.clone(),
        priority: options.priority,
        skills: options.skills.clone(),
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
    let launch = Launch {
        launch_at: options.launch_at,
        pacing: options.pacing,
        window: &window,
        dialing_mode: options.dialing_mode,
        settings: &settings,
    };
    // Where each first call goes is worked out on every core; the calls are then built in order.
    let firsts = crate::parallel::map(&contacts, |i, contact| launch.first_call(contact, i));
    for (i, ((contact, message), first)) in contacts.iter().zip(messages).zip(firsts).enumerate() {
        let first = first.map_err(|block| {
            field_error(
                &format!("contacts[{i}]"),
                ErrorCode::OutsideCallingWindow,
                &format!(
                    "{} cannot be called: {}; give the contact's timezone",
                    contact.phone, block.reason
                ),
            )
        })?;
        let opening = first.opening;
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
            timezone: first.location.display_zone().clone(),
            timezone_source: first.location.source(),
            region: first.region,
            due_at: opening.at,
            expires_at: Callback::deadline(opening.at, 60),
            attempt: 0,
            attempt_open: false,
            assignment: None,
            fallback: None,
            caller_id: options.caller_id.clone(),
            dialing_mode: options.dialing_mode,
            trunk_id: trunk_id.clone(),
            ring_timeout_seconds: None,
            amd: options.amd,
            priority: options.priority,
            skills: options.skills.clone(),
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
            disposition: None,
            caller_id_pool: options.caller_id_pool.clone(),
            agent_id: None,
            offer_expires_at: None,
            campaign_id: Some(campaign.id.clone()),
            contact_id: Some(contact.id.clone()),
            recall: options.recall.clone(),
            calling_window: Some(window.clone()),
            queued_since: None,
            created_at: now,
            updated_at: now,
            created_by: Some(caller.actor.id().to_owned()),
            version: 1,
        });
    }
    Ok(Planned {
        campaign,
        calls,
        moved,
        launch_at_zone: options.launch_at_zone.clone(),
    })
}
