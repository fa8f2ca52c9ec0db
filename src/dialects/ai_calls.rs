//! AI outbound calls: `POST /v1/calls/scheduled` schedules an AI call to a contact with an
//! opening message, answering the `{status, message, data}` envelope with the call object;
//! `GET /v1/calls/scheduled/{call_id}` reads one, `DELETE` (or `POST .../cancel`) cancels it,
//! and `GET /v1/calls/scheduled` lists them, newest first.
//!
//! A call is a native callback with `dialing_mode: ai` and origin `ai_calls`; its `call_id` is
//! the callback id. The contact's phone and name come from the contact store; the message is
//! rendered for the contact as a playbook template would be. What the native model has no field
//! for (`contact_id`, `campaign_id`, the message and the caller id as sent) is kept under the
//! `ai_calls` key of the callback's metadata, which the call object does not show.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, Uri},
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body, error_json, json, method_not_allowed, schedule};
use crate::app::AppState;
use crate::{
    api::{
        auth::{Caller, require},
        error::ApiError,
        extract::RawJson,
    },
    domain::{
        Callback, CallbackId, DialingMode, ErrorCode, FieldError, Origin, Scope, Status,
        callback::NewCallback, ids::ContactId, playbook::MessageTemplate,
    },
    store::{ListFilter, StateFilter},
};

/// The metadata key holding what the call object shows and the native model has no field for.
pub const METADATA_KEY: &str = "ai_calls";

pub fn routes() -> Router<AppState> {
    let fallback = || async { error_response(method_not_allowed()) };
    Router::new()
        .route(
            "/v1/calls/scheduled",
            post(create).get(list).fallback(fallback),
        )
        .route(
            "/v1/calls/scheduled/{call_id}",
            get(read).delete(cancel).fallback(fallback),
        )
        .route(
            "/v1/calls/scheduled/{call_id}/cancel",
            post(cancel).fallback(fallback),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleCall {
    contact_id: String,
    campaign_id: Option<String>,
    scheduled_at: String,
    timezone: Option<String>,
    initial_message: String,
    max_duration_seconds: Option<u32>,
    caller_id: Option<String>,
    metadata: Option<Value>,
    recording_enabled: Option<bool>,
    webhook_url: Option<String>,
}

/// The envelope of a successful answer, or the error in the envelope.
fn respond(result: Result<(StatusCode, &str, Value), ApiError>) -> Response {
    match result {
        Ok((status, message, data)) => json(
            status,
            json!({ "status": "success", "message": message, "data": data }),
        ),
        Err(e) => error_response(e),
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    raw: Result<RawJson, ApiError>,
) -> Response {
    respond(schedule_call(&state, caller, raw).await.map(|data| {
        (
            StatusCode::CREATED,
            "AI outbound call scheduled successfully.",
            data,
        )
    }))
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("{what} not found: {id}."),
    )
}

async fn schedule_call(
    state: &AppState,
    caller: Result<Caller, ApiError>,
    raw: Result<RawJson, ApiError>,
) -> Result<Value, ApiError> {
    let caller = caller?;
    require(&caller, Scope::CallbacksWrite)?;
    // The call reads the contact's number and name.
    require(&caller, Scope::ContactsRead)?;
    let req: ScheduleCall = body(raw)?;
    let contact_ref = req.contact_id.trim();
    if contact_ref.is_empty() {
        return Err(FieldError::new(ErrorCode::MissingField, "contact_id", "is empty").into());
    }
    let contact = match ContactId::parse(contact_ref) {
        Some(id) => state.store.get_contact(&caller.account_id, &id).await?,
        None => None,
    }
    .ok_or_else(|| not_found("Contact", contact_ref))?;
    if req.initial_message.trim().is_empty() {
        return Err(FieldError::new(ErrorCode::MissingField, "initial_message", "is empty").into());
    }
    let template = MessageTemplate::parse(&req.initial_message, "initial_message")?;
    let mut metadata = match req.metadata {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(
                FieldError::new(ErrorCode::InvalidField, "metadata", "must be an object").into(),
            );
        }
    };
    if metadata.contains_key(METADATA_KEY) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "metadata",
            format!("must not use the reserved key {METADATA_KEY:?}"),
        )
        .into());
    }
    let campaign_id = req.campaign_id.filter(|c| !c.trim().is_empty());
    if campaign_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 200)
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "campaign_id",
            "must be at most 200 characters",
        )
        .into());
    }
    metadata.insert(
        METADATA_KEY.into(),
        json!({
            "contact_id": contact.id.as_str(),
            "campaign_id": campaign_id,
            "initial_message": req.initial_message,
            // Echoed as sent (`+1-415-555-0199`); the callback holds it in E.164.
            "caller_id": req.caller_id.as_deref().filter(|c| !c.trim().is_empty()),
        }),
    );
    // Without a timezone, the contact's is used (found by the native create), else the
    // number's zones.
    let timezone = req.timezone;
    let name = [&contact.details.first_name, &contact.details.last_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let new = NewCallback {
        phone: contact.phone.as_str().to_owned(),
        contact_name: Some(name),
        scheduled_at: req.scheduled_at,
        timezone,
        caller_id: req.caller_id,
        dialing_mode: Some(DialingMode::Ai),
        metadata: Some(Value::Object(metadata)),
        max_duration_seconds: req.max_duration_seconds,
        recording_enabled: req.recording_enabled,
        initial_message: Some(template.render(&contact)),
        webhook_url: req.webhook_url,
        ..NewCallback::default()
    };
    let cb = schedule(state, &caller, new, Origin::AiCalls, None).await?;
    Ok(call(&cb))
}

/// A call of the caller's account made through this dialect; anything else is not found.
async fn find_call(state: &AppState, caller: &Caller, raw: &str) -> Result<Callback, ApiError> {
    let missing = || not_found("Call", raw);
    let id = CallbackId::parse(raw).ok_or_else(missing)?;
    state
        .store
        .get_callback(&caller.account_id, &id)
        .await?
        .filter(|cb| cb.origin == Origin::AiCalls)
        .ok_or_else(missing)
}

async fn read(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(call_id): Path<String>,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksRead)?;
        let cb = find_call(&state, &caller, &call_id).await?;
        Ok((
            StatusCode::OK,
            "AI outbound call retrieved successfully.",
            call(&cb),
        ))
    };
    respond(result.await)
}

async fn cancel(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(call_id): Path<String>,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksWrite)?;
        let cb = find_call(&state, &caller, &call_id).await?;
        let cb = state
            .store
            .cancel_callback(&caller.account_id, &cb.id, state.clock.now(), &caller.actor)
            .await
            .map_err(|e| ApiError::from_change(e, "cancel"))?;
        Ok((
            StatusCode::OK,
            "AI outbound call canceled successfully.",
            call(&cb),
        ))
    };
    respond(result.await)
}

/// The query parameters of the list; any other is refused (a filter silently dropped would
/// return everything).
const LIST_PARAMETERS: [&str; 3] = ["status", "page", "per_page"];
const DEFAULT_PER_PAGE: u32 = 50;
const MAX_PER_PAGE: u32 = 100;

/// `GET /v1/calls/scheduled`: the account's calls made through this dialect, newest first,
/// `data` being an array of call objects; `status` (a call status), `page` (from 1) and
/// `per_page` (1-100, default 50). The number of matching calls is in `X-Total-Count`.
async fn list(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    uri: Uri,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksRead)?;
        let (mut status, mut page, mut per_page) = (None, 1, DEFAULT_PER_PAGE);
        for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "status" => status = Some(states_of(&value)?),
                "page" => page = query_number(&value, "page", 1, 1_000_000)?,
                "per_page" => per_page = query_number(&value, "per_page", 1, MAX_PER_PAGE)?,
                other => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidQuery,
                        format!(
                            "is not a known parameter; the list takes {}",
                            LIST_PARAMETERS.join(", ")
                        ),
                    )
                    .field(other.to_owned()));
                }
            }
        }
        let filter = ListFilter {
            origin: Some(Origin::AiCalls),
            states: status.unwrap_or_default(),
            ..ListFilter::default()
        };
        let found = state
            .store
            .page_callbacks(
                &caller.account_id,
                &filter,
                u64::from(page - 1) * u64::from(per_page),
                per_page,
            )
            .await?;
        let calls: Vec<Value> = found.callbacks.iter().map(call).collect();
        Ok((found.total, Value::Array(calls)))
    };
    match result.await {
        Ok((total, data)) => {
            let mut resp = respond(Ok((
                StatusCode::OK,
                "AI outbound calls retrieved successfully.",
                data,
            )));
            if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
                resp.headers_mut().insert("x-total-count", v);
            }
            resp
        }
        Err(e) => error_response(e),
    }
}

/// A whole number query parameter in `min..=max`.
fn query_number(raw: &str, field: &str, min: u32, max: u32) -> Result<u32, ApiError> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                format!("must be a whole number from {min} to {max}"),
            )
            .field(field)
        })
}

/// The native states a call status stands for.
fn states_of(raw: &str) -> Result<Vec<StateFilter>, ApiError> {
    let statuses = Status::ALL
        .into_iter()
        .filter(|s| call_status(*s) == raw.trim())
        .collect::<Vec<_>>();
    if statuses.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "must be one of scheduled, in_progress, completed, failed, canceled",
        )
        .field("status"));
    }
    Ok(vec![StateFilter {
        statuses,
        ..StateFilter::default()
    }])
}

/// The page's call status for a callback's state.
pub fn call_status(status: Status) -> &'static str {
    match status {
        Status::Scheduled | Status::Waiting | Status::Offered => "scheduled",
        Status::Dispatching | Status::InProgress => "in_progress",
        Status::Completed => "completed",
        Status::Failed | Status::Expired => "failed",
        Status::Canceled => "canceled",
    }
}

/// The call object of the page, from a stored callback.
pub fn call(cb: &Callback) -> Value {
    let mut metadata = cb.metadata.clone().unwrap_or_default();
    let ours = metadata.remove(METADATA_KEY).unwrap_or(Value::Null);
    json!({
        "call_id": cb.id.as_str(),
        "contact_id": ours["contact_id"],
        "campaign_id": ours["campaign_id"],
        "scheduled_at": cb.scheduled_at.to_string(),
        "timezone": cb.timezone.name(),
        "initial_message": ours.get("initial_message").cloned()
            .unwrap_or_else(|| cb.initial_message.clone().into()),
        "max_duration_seconds": cb.max_duration_seconds,
        "caller_id": ours.get("caller_id").filter(|c| c.is_string()).cloned()
            .unwrap_or_else(|| cb.caller_id.as_ref().map(|c| c.as_str()).into()),
        "recording_enabled": cb.recording_enabled,
        "webhook_url": cb.webhook_url,
        // An object always, `{}` when none was given, as the page shows it.
        "metadata": metadata,
        "status": call_status(cb.status),
        "created_at": to_second(cb.created_at),
        "updated_at": to_second(cb.updated_at),
    })
}

/// An instant as the page writes it: UTC, to the second (Ringback stores milliseconds).
fn to_second(at: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(at.as_second())
        .unwrap_or(at)
        .to_string()
}

const TIME_MESSAGE: &str = "Field 'scheduled_at' must be a valid ISO-8601 timestamp in the future.";

/// Native field names that are not the page's: the number and the name come from the
/// contact.
const RENAME: &[(&str, &str)] = &[("phone", "contact_id"), ("contact_name", "contact_id")];

/// `{"status": "error", "message": ..., "data": null}`. Refusals of one input say which, in
/// the page's style (`Field 'scheduled_at' must be a valid ISO-8601 timestamp in the
/// future.`), and why: the page's own message only where it is the reason.
pub fn error_response(mut error: ApiError) -> Response {
    super::rename_field(&mut error, RENAME);
    let field = error.field.clone().unwrap_or_default();
    let mut status = error.status;
    let mut retry_after = error.retry_after_seconds();
    let message = match error.code {
        ErrorCode::Unauthorized => "Unauthorized.".to_owned(),
        ErrorCode::Forbidden => format!("Forbidden: {}.", error.message),
        ErrorCode::NotFound if error.message.ends_with('.') => error.message,
        ErrorCode::NotFound => "Not found.".to_owned(),
        ErrorCode::InvalidJson => "Request body must be valid JSON.".to_owned(),
        ErrorCode::InvalidDatetime | ErrorCode::TimeInPast => TIME_MESSAGE.to_owned(),
        ErrorCode::TimeTooFar => {
            "Field 'scheduled_at' must be at most two years in the future.".to_owned()
        }
        ErrorCode::OutsideCallingWindow => {
            let next = error
                .extra
                .get("next_opening")
                .and_then(Value::as_str)
                .map(|at| format!(" The next opening is {at}."))
                .unwrap_or_default();
            format!(
                "Field '{}' is {}.{next}",
                or_scheduled_at(&field),
                error.message
            )
        }
        ErrorCode::MissingField if !field.is_empty() => format!("Field '{field}' is required."),
        ErrorCode::UnknownField => format!("Unknown field '{field}'."),
        ErrorCode::InvalidState => format!(
            "Call cannot be changed: it is {}.",
            error
                .extra
                .get("status")
                .and_then(Value::as_str)
                .map_or("no longer scheduled", |s| match Status::parse(s) {
                    Some(st) => call_status(st),
                    None => s,
                })
        ),
        ErrorCode::PayloadTooLarge => "Request body is too large.".to_owned(),
        ErrorCode::UnsupportedMediaType => "Content-Type must be application/json.".to_owned(),
        ErrorCode::MethodNotAllowed => "Method not allowed.".to_owned(),
        ErrorCode::RateLimited => "Too many requests. Please retry.".to_owned(),
        ErrorCode::RequestTimeout => "Request timed out. Please retry.".to_owned(),
        ErrorCode::Internal | ErrorCode::Unavailable => {
            // The page's retryable answer is a 500.
            status = StatusCode::INTERNAL_SERVER_ERROR;
            retry_after = retry_after.or(Some(1));
            "Unable to schedule call at this time. Please retry.".to_owned()
        }
        _ if !field.is_empty() => field_message(&field, &error.message),
        _ => format!("{}.", error.message),
    };
    error_json(
        status,
        json!({ "status": "error", "message": message, "data": null }),
        retry_after,
    )
}

fn or_scheduled_at(field: &str) -> &str {
    if field.is_empty() {
        "scheduled_at"
    } else {
        field
    }
}

/// `Field '<name>' <reason>.`, the reason as the native error gives it.
fn field_message(field: &str, reason: &str) -> String {
    let reason = reason.trim_end_matches('.');
    let reads_on = ["is ", "must ", "has ", "names ", "cannot ", "may ", "uses "]
        .iter()
        .any(|verb| reason.starts_with(verb));
    if reads_on {
        format!("Field '{field}' {reason}.")
    } else {
        format!("Field '{field}' is invalid: {reason}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn store_failures_are_the_pages_retryable_500() {
        let e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the store is busy",
        );
        let resp = error_response(e);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(resp.headers().contains_key(header::RETRY_AFTER));
        let e = ApiError::internal(&std::io::Error::other("disk on fire"));
        assert_eq!(
            error_response(e).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn every_state_has_a_call_status() {
        for st in Status::ALL {
            assert!(
                [
                    "scheduled",
                    "in_progress",
                    "completed",
                    "failed",
                    "canceled"
                ]
                .contains(&call_status(st))
            );
        }
    }
}
