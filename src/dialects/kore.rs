//! Kore.ai-style campaign callbacks:
//! `POST /campaign/api/v2/public/{botId}/campaign/{campaignInstanceId}/callContactAt` with a
//! JWT in the `auth` header and the `iid` and `accountId` headers; the body lists
//! `{campaignDialingListId, timeToContact}` items and the answer is
//! `{"status": "success", "data": [...]}` with one item per input, each with its own `status`
//! (`success` or `failed`) and `reason`.
//!
//! The campaign instance is a native campaign (`cmp_...`). A dialing-list id names one contact
//! entry of it: Kore.ai's own id for the contact (`cid-...`), which is the contact's
//! `external_id` (set when the contact or the campaign is created, or by a CSV import), or
//! Ringback's ids, the entry's callback id (`cb_...`) or its contact id (`ctc_...`). The callback
//! scheduled for an entry is that entry's own callback, so it stays linked to the earlier
//! attempts: a call still pending moves to the new time; an ended one (`completed`, `failed`,
//! `expired`, `canceled`, but not skipped for do-not-call) is reopened with its attempts and
//! history kept. `iid`, `botId` and `accountId` are recorded under the callback's `kore`
//! metadata key; `accountId`, when it has Ringback's `acc_` form, must name the caller's account.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::post,
};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{error_json, json, method_not_allowed};
use crate::app::AppState;
use crate::{
    api::{
        auth::{Caller, require},
        callbacks::{judge_changes, policy},
        error::ApiError,
        extract::{RawJson, parse_json},
    },
    domain::{
        AccountId, Callback, CallbackId, ErrorCode, FieldError, Outcome, Scope, Status,
        callback::check_lead_time,
        campaign::CampaignStatus,
        ids::{CampaignId, ContactId},
    },
    store::{CallbackChanges, ChangeError, Reschedule, dialects::Reopen},
};

/// The metadata key holding the Kore.ai identifiers of the last request about a callback.
pub const METADATA_KEY: &str = "kore";
/// Most items one request may carry.
pub const MAX_ITEMS: usize = 1_000;
pub const PREFIX: &str = "/campaign/api/";

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/campaign/api/v2/public/{bot_id}/campaign/{campaign_instance_id}/callContactAt",
        post(call_contact_at).fallback(|| async { error_response(method_not_allowed()) }),
    )
}

async fn call_contact_at(
    State(state): State<AppState>,
    Path((bot_id, instance)): Path<(String, String)>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
    raw: Result<RawJson, ApiError>,
) -> Response {
    match handle(&state, &bot_id, &instance, &headers, caller, raw).await {
        Ok(data) => json(StatusCode::OK, json!({ "status": "success", "data": data })),
        Err(e) => error_response(e),
    }
}

/// A required header's text.
fn header(headers: &HeaderMap, name: &str) -> Result<String, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
        .ok_or_else(|| {
            FieldError::new(
                ErrorCode::MissingField,
                name,
                "this header is required (at most 200 characters)",
            )
            .into()
        })
}

async fn handle(
    state: &AppState,
    bot_id: &str,
    instance: &str,
    headers: &HeaderMap,
    caller: Result<Caller, ApiError>,
    raw: Result<RawJson, ApiError>,
) -> Result<Vec<Value>, ApiError> {
    let caller = caller?;
    require(&caller, Scope::CampaignsWrite)?;
    let iid = header(headers, "iid")?;
    let account_header = header(headers, "accountId")?;
    if let Some(named) = AccountId::parse(&account_header)
        && named != caller.account_id
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "the accountId header names another account than the token",
        ));
    }
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("Campaign instance not found: {instance}"),
        )
    };
    let campaign_id = CampaignId::parse(instance).ok_or_else(not_found)?;
    let (campaign, _) = state
        .store
        .get_campaign(&caller.account_id, &campaign_id)
        .await?
        .ok_or_else(not_found)?;
    let RawJson(bytes) = raw?;
    let items: Vec<Value> = match parse_json::<Value>(&bytes)? {
        Value::Array(items) if items.is_empty() => {
            return Err(
                FieldError::new(ErrorCode::InvalidField, "body", "must not be empty").into(),
            );
        }
        Value::Array(items) if items.len() > MAX_ITEMS => {
            return Err(FieldError::new(
                ErrorCode::TooManyItems,
                "body",
                format!("at most {MAX_ITEMS} items per request"),
            )
            .into());
        }
        Value::Array(items) => items,
        _ => {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                "body",
                "must be an array of {campaignDialingListId, timeToContact}",
            )
            .into());
        }
    };
    let ids = json!({ "bot_id": bot_id, "iid": iid, "account_id": account_header });
    let mut data = Vec::with_capacity(items.len());
    for item in &items {
        let id = item
            .get("campaignDialingListId")
            .cloned()
            .unwrap_or(Value::Null);
        let (status, reason, callback) = match one(state, &caller, &campaign, item, &ids).await {
            Ok((reason, cb)) => ("success", reason, Some(cb.id)),
            Err(Failure::Reason(reason)) => ("failed", reason, None),
            Err(Failure::Api(e)) => return Err(e),
        };
        let mut answer = json!({ "campaignDialingListId": id, "status": status });
        // `reason` is the page's field for a failure; what a success did is `action`.
        match callback {
            Some(cb) => {
                answer["callbackId"] = cb.as_str().into();
                answer["action"] = reason.into();
            }
            None => answer["reason"] = reason.into(),
        }
        data.push(answer);
    }
    Ok(data)
}

/// Why one item failed: a per-item reason, or an error of the whole request (the store).
enum Failure {
    Reason(&'static str),
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::Api(e.into())
    }
}

/// Schedules one item; answers the success reason (`rescheduled` or `reopened`) and the callback.
async fn one(
    state: &AppState,
    caller: &Caller,
    campaign: &crate::domain::campaign::Campaign,
    item: &Value,
    ids: &Value,
) -> Result<(&'static str, Callback), Failure> {
    let Some(Value::String(list_id)) = item.get("campaignDialingListId") else {
        return Err(Failure::Reason("invalid_dialing_list_id"));
    };
    let Some(Value::String(time)) = item.get("timeToContact") else {
        return Err(Failure::Reason("invalid_time"));
    };
    let list_id = list_id.trim();
    let cb = if let Some(id) = CallbackId::parse(list_id) {
        state.store.get_callback(&caller.account_id, &id).await?
    } else {
        // A contact: by Ringback's id, else by the external id Kore.ai knows it by (`cid-...`).
        let contact = match ContactId::parse(list_id) {
            Some(id) => Some(id),
            None => state
                .store
                .contact_by_external_id(&caller.account_id, list_id)
                .await?
                .map(|c| c.id),
        };
        match contact {
            Some(contact) => {
                state
                    .store
                    .campaign_call_for_contact(&caller.account_id, &campaign.id, &contact)
                    .await?
            }
            None => None,
        }
    }
    .filter(|cb| cb.campaign_id.as_ref() == Some(&campaign.id))
    .ok_or(Failure::Reason("unknown_dialing_list_id"))?;
    let at: Timestamp = time
        .trim()
        .parse()
        .map_err(|_| Failure::Reason("invalid_time"))?;
    let now = state.clock.now();
    check_lead_time(at, now, policy(state), "timeToContact").map_err(|e| {
        Failure::Reason(match e.code {
            ErrorCode::TimeInPast => "time_in_past",
            ErrorCode::TimeTooFar => "time_too_far",
            ErrorCode::LeadTimeTooShort => "lead_time_too_short",
            _ => "invalid_time",
        })
    })?;
    if campaign.status == CampaignStatus::Canceled {
        return Err(Failure::Reason("campaign_not_running"));
    }
    // A number on the do-not-call list is never dialled: scheduling it would be a success
    // that never calls.
    if (cb.status == Status::Canceled && cb.outcome == Some(Outcome::SkippedDnc))
        || state.store.is_on_dnc(&caller.account_id, &cb.phone).await?
    {
        return Err(Failure::Reason("dnc"));
    }
    // A campaign call is an automated attempt: the dialler would only move a time outside the
    // calling window (in any zone the contact may be in) to the next opening, so such a time
    // is refused instead.
    let changes = CallbackChanges {
        scheduled_at: Some(Reschedule { at, zone: None }),
        ..CallbackChanges::default()
    };
    match judge_changes(state, caller, &cb, &changes).await {
        Err(e) if e.code == ErrorCode::OutsideCallingWindow => {
            return Err(Failure::Reason("outside_calling_window"));
        }
        other => other?,
    };
    let mut metadata: Map<String, Value> = cb.metadata.clone().unwrap_or_default();
    metadata.insert(METADATA_KEY.into(), ids.clone());
    let result = match cb.status {
        Status::Scheduled | Status::Waiting | Status::Offered => {
            let changes = CallbackChanges {
                scheduled_at: Some(Reschedule { at, zone: None }),
                metadata: Some(Some(metadata)),
                ..CallbackChanges::default()
            };
            state
                .store
                .update_callback(&caller.account_id, &cb.id, &changes, now, &caller.actor)
                .await
                .map(|cb| ("rescheduled", cb))
        }
        Status::Dispatching | Status::InProgress => {
            return Err(Failure::Reason("call_in_progress"));
        }
        Status::Completed | Status::Failed | Status::Expired | Status::Canceled => {
            let reopen = Reopen {
                at,
                metadata: Some(metadata),
                reason: "kore",
            };
            state
                .store
                .reopen_callback(&caller.account_id, &cb.id, &reopen, now, &caller.actor)
                .await
                .map(|cb| ("reopened", cb))
        }
    };
    result.map_err(|e| match e {
        // The call started (or ended) while this request ran.
        ChangeError::InvalidState(Status::Dispatching | Status::InProgress) => {
            Failure::Reason("call_in_progress")
        }
        ChangeError::InvalidState(_) | ChangeError::Conflict => {
            Failure::Reason("changed_concurrently")
        }
        ChangeError::NotFound => Failure::Reason("unknown_dialing_list_id"),
        e => Failure::Api(ApiError::from_change(e, "reschedule")),
    })
}

/// `{"status": "failed", "errors": [{"msg": "...", "code": "<code>"}]}` with the native status
/// (Kore.ai's error list shape; the page shows none).
pub fn error_response(error: ApiError) -> Response {
    let retry_after = error.retry_after_seconds();
    let msg = match error.field.as_deref() {
        Some(field) => format!("{field}: {}", error.message),
        None => error.message,
    };
    let mut body = json!({
        "status": "failed",
        "errors": [{ "msg": msg, "code": error.code }],
    });
    if let Some(seconds) = retry_after {
        body["errors"][0]["retryAfterSeconds"] = seconds.into();
    }
    error_json(error.status, body, retry_after)
}
