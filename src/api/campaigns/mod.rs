//! `/v1/campaigns`: a contact list called with one playbook. Launching one (checking the
//! request and planning its calls) is in [`create`]; reading, listing, pausing, resuming and
//! canceling them is here.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::{Deserialize, Serialize};

use super::{
    auth::{Caller, require},
    authorized::{Authorized, scope},
    error::ApiError,
    extract::{ApiQuery, page_cursor, page_limit},
};
use crate::{
    app::AppState,
    domain::{
        Scope, Status,
        campaign::{Campaign, CampaignStatus},
        ids::{CallbackId, CampaignId},
    },
    store::CampaignTotals,
};

pub mod create;
mod request;

pub use create::{CampaignCreated, MovedContact, NewCampaign, Planned, create, launch};

/// Most contacts one campaign request may carry.
pub const MAX_CONTACTS: usize = 100_000;

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
    /// The caller ID pool its calls show a number of, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_pool: Option<String>,
    /// The trunk its calls go out on; `null`: the account's default.
    pub trunk_id: Option<String>,
    pub priority: u8,
    /// Skills the agent who takes a call must hold, at least at these levels.
    #[schema(value_type = Object)]
    pub skills: crate::domain::routing::Skills,
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
            caller_id_pool: c.caller_id_pool.clone(),
            trunk_id: c.trunk_id.as_ref().map(ToString::to_string),
            priority: c.priority,
            skills: c.skills.clone(),
            contacts_total: c.contacts_total,
            totals,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn limit(raw: Option<u32>) -> Result<u32, ApiError> {
    page_limit(raw, 100, 500)
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
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<CampaignList>, ApiError> {
    let limit = limit(q.limit)?;
    let before = page_cursor(q.cursor.as_deref(), CampaignId::parse, "not a cursor")?;
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
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 404, response = crate::api::error::NotFound),
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
    /// The contact's `external_id` (its id in your own system), null when it has none.
    pub external_id: Option<String>,
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
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 404, response = crate::api::error::NotFound),
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
    let after = page_cursor(q.cursor.as_deref(), CallbackId::parse, "not a cursor")?;
    let calls = state
        .store
        .campaign_calls(&caller.account_id, &id, after.as_ref(), limit)
        .await?;
    let next_cursor = (calls.len() as u32 == limit)
        .then(|| calls.last().map(|c| c.id.to_string()))
        .flatten();
    let contact_ids: Vec<_> = calls.iter().filter_map(|c| c.contact_id.clone()).collect();
    let external_ids: std::collections::HashMap<_, _> = state
        .store
        .get_contacts(&caller.account_id, &contact_ids)
        .await?
        .into_iter()
        .filter_map(|c| Some((c.id, c.external_id?)))
        .collect();
    Ok(Json(CampaignContactList {
        data: calls
            .iter()
            .map(|c| CampaignContactView {
                contact_id: c.contact_id.as_ref().map(ToString::to_string),
                external_id: c
                    .contact_id
                    .as_ref()
                    .and_then(|id| external_ids.get(id).cloned()),
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
                (status = 401, response = crate::api::error::Unauthorized),
                (status = 404, response = crate::api::error::NotFound),
                (status = 409, description = "`invalid_state`: not possible from the campaign's state (`status` names it).", body = crate::api::error::ErrorBody),
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
