//! The Acefone-style dialer: `POST /v1/dialer/schedule_call/` (with or without the trailing
//! slash) schedules a callback assigned to an agent, answering `{"success": ..., "message": ...}`.
//!
//! `schedule_date_time` (`YYYY-MM-DD HH:MM:SS`) is wall-clock time in the account's
//! `dialect_timezone` setting (UTC when unset); the callee's own zone, which the calling window
//! is judged in, still comes from the contact or the number. `call_end_min` is how long the
//! call rings unanswered before it ends (`ring_timeout_seconds`). Fields the page does not list are ignored with a
//! warning in the log. `assigned_to` names an agent by id
//! (`agt_...`) or by its `external_id` (where the Acefone agent id goes); `inbound_queue` names
//! a queue by id (`que_...`) or by its name (an Acefone queue number): the callback waits under
//! it beside the agent, and its id is kept in the callback's metadata. Callbacks are `preview`
//! ones, offered to the agent or, through the queue, to its members, whoever is free first.

use axum::{
    Router,
    extract::{FromRequestParts, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::Response,
    routing::post,
};
use jiff::civil::DateTime;
use serde::Deserialize;

use super::{error_json, json, method_not_allowed, rename_field, schedule_routed};
use crate::app::AppState;
use crate::{
    api::{
        auth::{Caller, require},
        error::ApiError,
        extract::{RawJson, from_value, parse_json},
    },
    domain::{
        AssigneeKind, Assignment, DialingMode, ErrorCode, FieldError, Origin, Scope, Zone,
        callback::NewCallback,
        ids::{AgentId, QueueId},
        time::parse_scheduled_at,
    },
};

const PATH: &str = "/v1/dialer/schedule_call";
/// Minutes before the call a reminder goes out when `reminder_schedule_callbacks` is true
/// without a `reminder_time`.
pub const DEFAULT_REMINDER_MINUTES: u32 = 5;
/// The longest a call may ring (`ring_timeout_seconds`): a longer `call_end_min` rings this
/// long.
pub const MAX_RING_SECONDS: u32 = 300;
/// The fields of the page; others are ignored (vendors add fields, clients send extra ones).
const FIELDS: [&str; 8] = [
    "customer_name",
    "schedule_date_time",
    "assigned_to",
    "customer_number",
    "reminder_schedule_callbacks",
    "reminder_time",
    "call_end_min",
    "inbound_queue",
];

pub fn routes() -> Router<AppState> {
    let route = || post(schedule_call).fallback(|| async { error_response(method_not_allowed()) });
    Router::new()
        .route(PATH, route())
        .route(&format!("{PATH}/"), route())
}

/// A string, or a number sent where the page says string (agent ids and phone numbers are
/// often numeric in Acefone data).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Text {
    Str(String),
    Num(serde_json::Number),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Text::Str(s) => s,
            Text::Num(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ScheduleCall {
    customer_name: Option<String>,
    schedule_date_time: Option<String>,
    assigned_to: Option<Text>,
    customer_number: Option<Text>,
    reminder_schedule_callbacks: Option<bool>,
    reminder_time: Option<u32>,
    call_end_min: Option<u32>,
    inbound_queue: Option<Text>,
}

/// The caller, from `Authorization: Bearer <token>` or (as Acefone clients send it)
/// `Authorization: <token>`.
async fn caller(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION)
        && let Ok(text) = v.to_str()
        && !text.trim().is_empty()
        && !text.contains(' ')
        && let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", text.trim()))
    {
        parts.headers.insert(header::AUTHORIZATION, bearer);
    }
    Caller::from_request_parts(parts, state).await
}

async fn schedule_call(
    State(state): State<AppState>,
    mut parts: Parts,
    raw: Result<RawJson, ApiError>,
) -> Response {
    match create(&state, &mut parts, raw).await {
        Ok(resp) => resp,
        Err(e) => error_response(e),
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MissingField,
            "is required",
        )
        .field(field)
    })
}

/// The request, its fields the page does not list dropped with a warning in the log.
fn request(raw: Result<RawJson, ApiError>) -> Result<ScheduleCall, ApiError> {
    let RawJson(bytes) = raw?;
    // The page's sample request has no body: answered as an empty one, naming what is missing.
    let mut value: serde_json::Value = match bytes.trim_ascii().is_empty() {
        true => serde_json::json!({}),
        false => parse_json(&bytes)?,
    };
    if let Some(fields) = value.as_object_mut() {
        let unknown: Vec<String> = fields
            .keys()
            .filter(|k| !FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            tracing::warn!(
                fields = unknown.join(", "),
                "acefone schedule_call: ignoring fields the page does not list"
            );
            fields.retain(|k, _| FIELDS.contains(&k.as_str()));
        }
    }
    from_value(value, "")
}

/// `YYYY-MM-DD HH:MM:SS`, exactly.
fn date_time(raw: &str) -> Result<DateTime, ApiError> {
    DateTime::strptime("%Y-%m-%d %H:%M:%S", raw.trim()).map_err(|_| {
        FieldError::new(
            ErrorCode::InvalidDatetime,
            "schedule_date_time",
            format!("{raw:?} is not a date and time in the format YYYY-MM-DD HH:MM:SS"),
        )
        .into()
    })
}

async fn create(
    state: &AppState,
    parts: &mut Parts,
    raw: Result<RawJson, ApiError>,
) -> Result<Response, ApiError> {
    let caller = caller(parts, state).await?;
    require(&caller, Scope::CallbacksWrite)?;
    let req = request(raw)?;
    let customer_name = required(req.customer_name, "customer_name")?;
    if customer_name.trim().is_empty() {
        return Err(FieldError::new(
            ErrorCode::MissingField,
            "customer_name",
            "must not be empty",
        )
        .into());
    }
    let when = date_time(&required(req.schedule_date_time, "schedule_date_time")?)?;
    // Read in the account's dialect zone; the instant is what the callback keeps.
    let settings = state.store.account_settings(&caller.account_id).await?;
    let zone = settings.dialect_timezone.unwrap_or_else(Zone::utc);
    let scheduled_at = parse_scheduled_at(&when.to_string(), Some(&zone), "schedule_date_time")?;
    let agent = required(req.assigned_to, "assigned_to")?.into_string();
    let number = required(req.customer_number, "customer_number")?.into_string();
    let agent_id = find_agent(state, &caller, agent.trim()).await?;
    let mut metadata = serde_json::Map::new();
    let queue_id = match req.inbound_queue {
        Some(queue) => Some(find_queue(state, &caller, queue.into_string().trim()).await?),
        None => None,
    };
    if let Some(queue_id) = &queue_id {
        metadata.insert("inbound_queue".into(), queue_id.as_str().into());
    }
    let reminder = match req.reminder_schedule_callbacks {
        Some(true) => Some(req.reminder_time.unwrap_or(DEFAULT_REMINDER_MINUTES)),
        _ => None,
    };
    let new = NewCallback {
        phone: number,
        contact_name: Some(customer_name),
        scheduled_at: scheduled_at.to_string(),
        assignment: Some(Assignment {
            kind: AssigneeKind::Agent,
            ids: vec![agent_id.as_str().to_owned()],
        }),
        dialing_mode: Some(DialingMode::Preview),
        metadata: (!metadata.is_empty()).then_some(serde_json::Value::Object(metadata)),
        reminder_minutes_before: reminder,
        ring_timeout_seconds: req.call_end_min.map(ring_seconds).transpose()?,
        ..NewCallback::default()
    };
    // The queue routes the callback beside the agent: either may take it.
    let queue: Vec<&str> = queue_id.iter().map(QueueId::as_str).collect();
    let cb = schedule_routed(state, &caller, new, Origin::Acefone, None, &queue).await?;
    let mut resp = json(
        StatusCode::OK,
        serde_json::json!({
            "success": true,
            "message": "Callback scheduled successfully.",
        }),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/callbacks/{}", cb.id)) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    Ok(resp)
}

/// How long a call rings for `call_end_min`: that many minutes, at most [`MAX_RING_SECONDS`].
fn ring_seconds(minutes: u32) -> Result<u32, ApiError> {
    if minutes == 0 {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "call_end_min",
            "must be at least 1 minute",
        )
        .into());
    }
    Ok(minutes.saturating_mul(60).min(MAX_RING_SECONDS))
}

/// An agent of the account by id or by `external_id`.
async fn find_agent(state: &AppState, caller: &Caller, raw: &str) -> Result<AgentId, ApiError> {
    if let Some(id) = AgentId::parse(raw)
        && state
            .store
            .get_agent(&caller.account_id, &id)
            .await?
            .is_some()
    {
        return Ok(id);
    }
    if !raw.is_empty() {
        let agents = state.store.list_agents(&caller.account_id).await?;
        if let Some(a) = agents
            .into_iter()
            .find(|a| a.external_id.as_deref() == Some(raw))
        {
            return Ok(a.id);
        }
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidAssignee,
        format!("no agent {raw:?} in this account"),
    )
    .field("assigned_to"))
}

/// A queue of the account by id or by name.
async fn find_queue(state: &AppState, caller: &Caller, raw: &str) -> Result<QueueId, ApiError> {
    if let Some(id) = QueueId::parse(raw)
        && state
            .store
            .get_queue(&caller.account_id, &id)
            .await?
            .is_some()
    {
        return Ok(id);
    }
    if !raw.is_empty() {
        let queues = state.store.list_queues(&caller.account_id).await?;
        if let Some(q) = queues.into_iter().find(|q| q.name == raw) {
            return Ok(q.id);
        }
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidAssignee,
        format!("no queue {raw:?} in this account"),
    )
    .field("inbound_queue"))
}

const RENAME: &[(&str, &str)] = &[
    ("phone", "customer_number"),
    ("contact_name", "customer_name"),
    ("scheduled_at", "schedule_date_time"),
    ("timezone", "schedule_date_time"),
    ("reminder_minutes_before", "reminder_time"),
    ("ring_timeout_seconds", "call_end_min"),
    ("assignment.ids[0]", "assigned_to"),
    ("assignment", "assigned_to"),
];

/// `{"success": false, "message": "<field>: <reason>"}` with the native status code.
pub fn error_response(mut error: ApiError) -> Response {
    rename_field(&mut error, RENAME);
    let message = match (error.code, error.field.as_deref()) {
        (ErrorCode::MissingField, Some(field)) => format!("{field} is required."),
        (ErrorCode::UnknownField, Some(field)) => format!("{field} is not a known field."),
        (ErrorCode::InvalidField, Some(field)) => {
            let reason = error
                .message
                .replace("expected u32", "expected a whole number");
            format!("{field} has the wrong type or value: {reason}.")
        }
        (ErrorCode::TimeInPast, _) => "schedule_date_time must be in the future.".to_owned(),
        (ErrorCode::LeadTimeTooShort, _) => {
            format!("schedule_date_time {}.", error.message)
        }
        (ErrorCode::Unauthorized, _) => format!("Unauthorized: {}.", error.message),
        (ErrorCode::Forbidden, _) => format!("Forbidden: {}.", error.message),
        (ErrorCode::Internal | ErrorCode::Unavailable, _) => {
            "Unable to schedule the call at this time. Please retry.".to_owned()
        }
        (_, Some(field)) => format!("{field}: {}.", error.message),
        (_, None) => format!("{}.", capitalise(&error.message)),
    };
    error_json(
        error.status,
        serde_json::json!({ "success": false, "message": message }),
        error.retry_after_seconds(),
    )
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
