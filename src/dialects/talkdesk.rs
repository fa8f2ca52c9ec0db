//! Talkdesk-style scheduled callbacks: `POST /schedule-callbacks`, `GET /schedule-callbacks`
//! (filter `phone_number`, `page` and `per_page` with a total), `GET`, `PATCH` (JSON Patch
//! `replace`) and `DELETE` (`204`) on `/schedule-callbacks/{id}`.
//!
//! Scopes are `schedule-callbacks:read` and `schedule-callbacks:write` (other names for
//! `callbacks:read` and `callbacks:write`). The time to call is an instant (UTC when it has no
//! offset), at least a minute ahead; the time zone is kept to show local times. Callbacks are
//! `preview` ones assigned to agents (`SPECIFIC_AGENT`), to queues (`SPECIFIC_RING_GROUP`), or
//! to nobody in particular (`ANY_ELIGIBLE_AGENT`).

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body, error_json, json, method_not_allowed, rename_field, schedule};
use crate::app::AppState;
use crate::{
    api::{
        auth::{Caller, require},
        callbacks::{check_assignees, judge_changes, policy},
        error::ApiError,
        extract::RawJson,
    },
    domain::{
        AssigneeKind, Assignment, Callback, CallbackId, DialingMode, ErrorCode, FieldError, Origin,
        Outcome, PhoneNumber, Scope, Status, Zone,
        callback::{NewCallback, check_assignment, check_lead_time},
        parse_scheduled_at,
    },
    store::{CallbackChanges, ListFilter, Reschedule},
};

/// Talkdesk refuses callbacks less than a minute ahead.
pub const MIN_LEAD: SignedDuration = SignedDuration::from_secs(60);
const DEFAULT_PER_PAGE: u32 = 50;
const MAX_PER_PAGE: u32 = 200;

pub fn routes() -> Router<AppState> {
    let fallback = || async { error_response(method_not_allowed()) };
    Router::new()
        .route(
            "/schedule-callbacks",
            get(list).post(create).fallback(fallback),
        )
        .route(
            "/schedule-callbacks/{id}",
            get(read).patch(update).delete(remove).fallback(fallback),
        )
}

/// An assignee as `"id"` or as `{"agent_id": "id"}` / `{"ring_group": "id"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Assignee {
    Id(String),
    Agent { agent_id: String },
    RingGroup { ring_group: String },
}

impl Assignee {
    fn id(self) -> String {
        match self {
            Assignee::Id(id)
            | Assignee::Agent { agent_id: id }
            | Assignee::RingGroup { ring_group: id } => id,
        }
    }
}

/// The body of a new scheduled callback. Fields of Talkdesk's callback object that Ringback
/// does not model (`teams`, `from_call_type`, `record_*` ...) are ignored.
#[derive(Debug, Deserialize)]
struct NewScheduledCallback {
    #[serde(alias = "phoneNumber", alias = "contact_phone_number")]
    phone_number: Option<String>,
    #[serde(
        alias = "scheduledTimeToCall",
        alias = "time_to_call",
        alias = "timeToCall"
    )]
    scheduled_time_to_call: Option<String>,
    timezone: Option<String>,
    #[serde(alias = "assignType", alias = "assignment_type")]
    assign_type: Option<String>,
    #[serde(default)]
    agents: Option<Vec<Assignee>>,
    #[serde(alias = "ringGroups", default)]
    ring_groups: Option<Vec<Assignee>>,
    /// Assignees of either kind, as `assign_type` says.
    #[serde(default)]
    assignees: Option<Vec<Assignee>>,
    #[serde(alias = "callerId")]
    caller_id: Option<String>,
    #[serde(alias = "dialingModel", alias = "dialing_mode", alias = "dialingMode")]
    dialing_model: Option<String>,
    #[serde(alias = "interactionId")]
    interaction_id: Option<String>,
    notes: Option<String>,
}

/// What `assign_type` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AssignType {
    Agents,
    RingGroups,
    Anyone,
}

impl AssignType {
    fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "SPECIFIC_AGENT" | "SPECIFIC_AGENTS" | "AGENT" | "AGENTS" => Ok(Self::Agents),
            "SPECIFIC_RING_GROUP"
            | "SPECIFIC_RING_GROUPS"
            | "RING_GROUP"
            | "RING_GROUPS"
            | "QUEUE"
            | "QUEUES" => Ok(Self::RingGroups),
            "ANY_ELIGIBLE_AGENT" => Ok(Self::Anyone),
            _ => Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!(
                    "{raw:?} is not supported; use SPECIFIC_AGENT, SPECIFIC_RING_GROUP or \
                     ANY_ELIGIBLE_AGENT"
                ),
            )
            .into()),
        }
    }

    fn of(assignment: Option<&Assignment>) -> Self {
        match assignment.map(|a| a.kind) {
            Some(AssigneeKind::Agent) => Self::Agents,
            Some(AssigneeKind::Queue) => Self::RingGroups,
            None => Self::Anyone,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Agents => "SPECIFIC_AGENT",
            Self::RingGroups => "SPECIFIC_RING_GROUP",
            Self::Anyone => "ANY_ELIGIBLE_AGENT",
        }
    }

    /// The assignment for these assignees; agents and ring groups need at least one.
    fn assignment(
        self,
        ids: Option<Vec<Assignee>>,
        field: &str,
    ) -> Result<Option<Assignment>, ApiError> {
        let kind = match self {
            Self::Anyone => return Ok(None),
            Self::Agents => AssigneeKind::Agent,
            Self::RingGroups => AssigneeKind::Queue,
        };
        let assignment = Assignment {
            kind,
            ids: ids
                .unwrap_or_default()
                .into_iter()
                .map(Assignee::id)
                .collect(),
        };
        check_assignment(&assignment, field).map_err(|mut e| {
            e.field = field.to_owned();
            e
        })?;
        Ok(Some(assignment))
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| FieldError::new(ErrorCode::MissingField, field, "is required").into())
}

/// An instant: RFC 3339, or a date-time without offset read as UTC.
fn instant(raw: &str, field: &str) -> Result<Timestamp, ApiError> {
    Ok(parse_scheduled_at(raw, Some(&Zone::utc()), field)?)
}

fn dialing_model(raw: Option<&str>) -> Result<(), ApiError> {
    match raw.map(|m| m.trim().to_ascii_uppercase()) {
        None => Ok(()),
        Some(m) if m == "PREVIEW" => Ok(()),
        Some(m) => Err(FieldError::new(
            ErrorCode::InvalidField,
            "dialing_model",
            format!("{m:?} is not supported; use PREVIEW"),
        )
        .into()),
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    raw: Result<RawJson, ApiError>,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksWrite)?;
        let req: NewScheduledCallback = body(raw)?;
        let phone = required(req.phone_number, "phone_number")?;
        let at = instant(
            &required(req.scheduled_time_to_call, "scheduled_time_to_call")?,
            "scheduled_time_to_call",
        )?;
        let timezone = required(req.timezone, "timezone")?;
        let assign_type =
            AssignType::parse(&required(req.assign_type, "assign_type")?, "assign_type")?;
        dialing_model(req.dialing_model.as_deref())?;
        let (ids, field) = match assign_type {
            AssignType::Agents => (req.agents.or(req.assignees), "agents"),
            AssignType::RingGroups => (req.ring_groups.or(req.assignees), "ring_groups"),
            AssignType::Anyone => (None, "assignees"),
        };
        let new = NewCallback {
            phone,
            scheduled_at: at.to_string(),
            timezone: Some(timezone),
            assignment: assign_type.assignment(ids, field)?,
            caller_id: req.caller_id,
            dialing_mode: Some(DialingMode::Preview),
            notes: req.notes,
            interaction_id: req.interaction_id,
            ..NewCallback::default()
        };
        let cb = schedule(&state, &caller, new, Origin::Talkdesk, Some(MIN_LEAD))
            .await
            .map_err(|e| assignee_field(e, field))?;
        Ok(json(StatusCode::CREATED, callback(&cb)))
    };
    result.await.unwrap_or_else(error_response)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(alias = "phoneNumber")]
    phone_number: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
    status: Option<String>,
}

fn number(raw: Option<&str>, field: &str, default: u32, max: u32) -> Result<u32, ApiError> {
    let Some(raw) = raw else { return Ok(default) };
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                format!("must be a whole number between 0 and {max}"),
            )
            .field(field)
        })
}

async fn list(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    uri: Uri,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksRead)?;
        let Query(q) = query.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                e.body_text(),
            )
        })?;
        // Page 0 and page 1 are both the first page.
        let page = number(q.page.as_deref(), "page", 1, 1_000_000)?.max(1);
        let per_page = number(
            q.per_page.as_deref(),
            "per_page",
            DEFAULT_PER_PAGE,
            MAX_PER_PAGE,
        )?;
        if per_page == 0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                format!("must be between 1 and {MAX_PER_PAGE}"),
            )
            .field("per_page"));
        }
        let filter = ListFilter {
            phone: q
                .phone_number
                .as_deref()
                .map(|p| PhoneNumber::parse(p, "phone_number"))
                .transpose()?,
            status: q.status.as_deref().map(status_filter).transpose()?,
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
        let total_pages = found.total.div_ceil(u64::from(per_page));
        let link = |p: u64| {
            let mut query = format!("page={p}&per_page={per_page}");
            if let Some(phone) = &filter.phone {
                query.push_str(&format!("&phone_number=%2B{}", &phone.as_str()[1..]));
            }
            json!({ "href": format!("{}?{query}", uri.path()) })
        };
        let mut links = serde_json::Map::new();
        links.insert("self".into(), link(u64::from(page)));
        links.insert("first".into(), link(1));
        links.insert("last".into(), link(total_pages.max(1)));
        if page > 1 {
            links.insert("prev".into(), link(u64::from(page) - 1));
        }
        if u64::from(page) < total_pages {
            links.insert("next".into(), link(u64::from(page) + 1));
        }
        let items: Vec<Value> = found.callbacks.iter().map(callback).collect();
        Ok(json(
            StatusCode::OK,
            json!({
                "count": items.len(),
                "total": found.total,
                "total_page": total_pages,
                "page": page,
                "per_page": per_page,
                "_embedded": { "callbacks": items },
                "_links": links,
            }),
        ))
    };
    result.await.unwrap_or_else(error_response)
}

/// The `status` filter takes the Talkdesk names of the states that have one native state.
fn status_filter(raw: &str) -> Result<Status, ApiError> {
    match raw.trim().to_ascii_uppercase().as_str() {
        "SUCCESS" => Ok(Status::Completed),
        "CANCELED" | "CANCELLED" => Ok(Status::Canceled),
        "IN_PROGRESS" => Ok(Status::InProgress),
        "UNATTEMPTED" => Ok(Status::Scheduled),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "filter by UNATTEMPTED, IN_PROGRESS, SUCCESS or CANCELED",
        )
        .field("status")),
    }
}

async fn find(state: &AppState, caller: &Caller, raw: &str) -> Result<Callback, ApiError> {
    let id = CallbackId::parse(raw).ok_or_else(|| ApiError::not_found("callback"))?;
    state
        .store
        .get_callback(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("callback"))
}

async fn read(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksRead)?;
        let cb = find(&state, &caller, &id).await?;
        Ok(json(StatusCode::OK, callback(&cb)))
    };
    result.await.unwrap_or_else(error_response)
}

/// One JSON Patch operation (`from`, used only by `move` and `copy`, is ignored: those
/// operations are refused).
#[derive(Debug, Deserialize)]
struct PatchOp {
    op: String,
    path: String,
    value: Option<Value>,
}

fn string_value(value: Option<Value>, field: &str) -> Result<String, ApiError> {
    match value {
        Some(Value::String(s)) => Ok(s),
        _ => Err(FieldError::new(ErrorCode::InvalidField, field, "must be a string").into()),
    }
}

fn assignees_value(value: Option<Value>, field: &str) -> Result<Vec<Assignee>, ApiError> {
    serde_json::from_value(value.unwrap_or(Value::Null)).map_err(|_| {
        FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must be an array of ids (or of {\"agent_id\"} / {\"ring_group\"} objects)",
        )
        .into()
    })
}

async fn update(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
    raw: Result<RawJson, ApiError>,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksWrite)?;
        let ops: Vec<PatchOp> = body(raw)?;
        let current = find(&state, &caller, &id).await?;
        if !current.status.is_editable() {
            return Err(ApiError::invalid_state(current.status, "change"));
        }
        if ops.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MissingField,
                "send at least one operation",
            ));
        }
        let mut changes = CallbackChanges::default();
        let mut time: Option<Timestamp> = None;
        let mut zone: Option<Zone> = None;
        let mut assign_type: Option<AssignType> = None;
        let mut agents: Option<Vec<Assignee>> = None;
        let mut ring_groups: Option<Vec<Assignee>> = None;
        for (i, op) in ops.into_iter().enumerate() {
            if op.op != "replace" {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    format!("[{i}].op"),
                    format!("{:?} is not supported; use replace", op.op),
                )
                .into());
            }
            let name = op.path.trim_start_matches('/');
            match name {
                "timeToCall"
                | "time_to_call"
                | "scheduledTimeToCall"
                | "scheduled_time_to_call" => {
                    let raw = string_value(op.value, "scheduled_time_to_call")?;
                    time = Some(instant(&raw, "scheduled_time_to_call")?);
                }
                "phoneNumber" | "phone_number" => {
                    let raw = string_value(op.value, "phone_number")?;
                    changes.phone = Some(PhoneNumber::parse(&raw, "phone_number")?);
                }
                "timezone" => {
                    let raw = string_value(op.value, "timezone")?;
                    zone = Some(Zone::parse(&raw, "timezone")?);
                }
                "assignType" | "assign_type" => {
                    let raw = string_value(op.value, "assign_type")?;
                    assign_type = Some(AssignType::parse(&raw, "assign_type")?);
                }
                "agents" => agents = Some(assignees_value(op.value, "agents")?),
                "ringGroups" | "ring_groups" => {
                    ring_groups = Some(assignees_value(op.value, "ring_groups")?);
                }
                "notes" => {
                    let notes = match op.value {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) if s.chars().count() <= 5_000 => Some(s),
                        Some(_) => {
                            return Err(FieldError::new(
                                ErrorCode::InvalidField,
                                "notes",
                                "must be a string of at most 5000 characters",
                            )
                            .into());
                        }
                    };
                    changes.notes = Some(notes);
                }
                _ => {
                    return Err(FieldError::new(
                        ErrorCode::InvalidField,
                        format!("[{i}].path"),
                        format!(
                            "{:?} cannot be replaced; use /timeToCall, /phoneNumber, \
                             /timezone, /assignType, /agents, /ringGroups or /notes",
                            op.path
                        ),
                    )
                    .into());
                }
            }
        }
        if time.is_some() || zone.is_some() {
            let at = time.unwrap_or(current.scheduled_at);
            if time.is_some() {
                let mut policy = policy(&state);
                policy.min_lead = policy.min_lead.max(MIN_LEAD);
                check_lead_time(at, state.clock.now(), policy, "scheduled_time_to_call")?;
            }
            changes.scheduled_at = Some(Reschedule { at, zone });
        }
        if assign_type.is_some() || agents.is_some() || ring_groups.is_some() {
            // Without `/assignType`, the list replaced says which kind is meant.
            let kind = assign_type.unwrap_or(match (&agents, &ring_groups) {
                (Some(_), None) => AssignType::Agents,
                (None, Some(_)) => AssignType::RingGroups,
                _ => AssignType::of(current.assignment.as_ref()),
            });
            let list_field = match kind {
                AssignType::RingGroups => "ring_groups",
                _ => "agents",
            };
            let keep = |want: AssigneeKind| {
                current
                    .assignment
                    .as_ref()
                    .filter(|a| a.kind == want)
                    .map(|a| a.ids.iter().cloned().map(Assignee::Id).collect())
            };
            let assignment = match kind {
                AssignType::Agents => {
                    kind.assignment(agents.or_else(|| keep(AssigneeKind::Agent)), "agents")?
                }
                AssignType::RingGroups => kind.assignment(
                    ring_groups.or_else(|| keep(AssigneeKind::Queue)),
                    "ring_groups",
                )?,
                AssignType::Anyone => None,
            };
            check_assignees(&state, &caller, assignment.as_ref(), "")
                .await
                .map_err(|e| assignee_field(e, list_field))?;
            changes.assignment = Some(assignment);
        }
        // A new time, zone or number is judged as a new callback is.
        judge_changes(&state, &caller, &current, &changes)
            .await
            .map_err(|mut e| {
                if e.field.as_deref() == Some("scheduled_at") {
                    e.field = Some("scheduled_time_to_call".to_owned());
                }
                e
            })?;
        let cb = state
            .store
            .update_callback(
                &caller.account_id,
                &current.id,
                &changes,
                state.clock.now(),
                &caller.actor,
            )
            .await
            .map_err(|e| ApiError::from_change(e, "change"))?;
        Ok(json(StatusCode::OK, callback(&cb)))
    };
    result.await.unwrap_or_else(error_response)
}

async fn remove(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CallbacksWrite)?;
        let id = CallbackId::parse(&id).ok_or_else(|| ApiError::not_found("callback"))?;
        state
            .store
            .cancel_callback(&caller.account_id, &id, state.clock.now(), &caller.actor)
            .await
            .map_err(|e| ApiError::from_change(e, "cancel"))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    result.await.unwrap_or_else(error_response)
}

/// The Talkdesk status of a callback.
pub fn talkdesk_status(cb: &Callback) -> &'static str {
    match cb.status {
        Status::Scheduled | Status::Waiting | Status::Offered if cb.attempt == 0 => "UNATTEMPTED",
        Status::Scheduled | Status::Waiting | Status::Offered => "TO_BE_RETRIED",
        Status::Dispatching | Status::InProgress => "IN_PROGRESS",
        Status::Completed => "SUCCESS",
        Status::Canceled => "CANCELED",
        Status::Failed if cb.outcome == Some(Outcome::Failed) => "INVALID_NUMBER",
        Status::Failed | Status::Expired => "EXHAUSTED",
    }
}

/// The callback object, from a stored callback.
pub fn callback(cb: &Callback) -> Value {
    let ids = |kind: AssigneeKind, key: &str| -> Vec<Value> {
        cb.assignment
            .as_ref()
            .filter(|a| a.kind == kind)
            .map(|a| a.ids.iter().map(|id| json!({ key: id })).collect())
            .unwrap_or_default()
    };
    let next = cb.status.is_editable().then(|| cb.due_at.to_string());
    json!({
        "id": cb.id.as_str(),
        "callback_id": cb.id.as_str(),
        "account_id": cb.account_id.as_str(),
        "interaction_id": cb.interaction_id,
        "caller_id": cb.caller_id.as_ref().map(|c| c.as_str()),
        "phone_number": cb.phone.as_str(),
        "scheduled_time_to_call": cb.scheduled_at.to_string(),
        "time_to_call": cb.scheduled_at.to_string(),
        "next_time_to_call": next,
        "timezone": cb.timezone.name(),
        "assign_type": AssignType::of(cb.assignment.as_ref()).as_str(),
        "agents": ids(AssigneeKind::Agent, "agent_id"),
        "ring_groups": ids(AssigneeKind::Queue, "ring_group"),
        "dialing_model": match cb.dialing_mode {
            DialingMode::Preview => "PREVIEW",
            DialingMode::Progressive => "PROGRESSIVE",
            DialingMode::Ai => "AI",
        },
        "notes": cb.notes,
        "origin": if cb.origin == Origin::Talkdesk { "API" } else { cb.origin.as_str() },
        "status": talkdesk_status(cb),
        "created_at": cb.created_at.to_string(),
        "updated_at": cb.updated_at.to_string(),
        "_links": { "self": { "href": format!("/schedule-callbacks/{}", cb.id) } },
    })
}

/// Names an unknown assignee by its place in the list the request sent.
fn assignee_field(mut error: ApiError, list: &str) -> ApiError {
    rename_field(&mut error, &[("assignment.ids", list)]);
    error
}

const RENAME: &[(&str, &str)] = &[
    ("phone", "phone_number"),
    ("scheduled_at", "scheduled_time_to_call"),
    ("assignment.ids", "assignees"),
];

/// `{"code": ..., "message": ..., "description": ..., "fields": [...]}` with the native
/// status code.
pub fn error_response(mut error: ApiError) -> Response {
    rename_field(&mut error, RENAME);
    let message = match error.status {
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "Payload too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        s if s.is_server_error() => "Internal server error",
        _ => "Request failed",
    };
    let mut body = json!({
        "code": error.code.as_str(),
        "message": message,
        "description": error.message,
    });
    if let Some(field) = &error.field {
        body["fields"] = json!([{ "name": field, "description": error.message }]);
    }
    error_json(error.status, body, error.retry_after_seconds())
}
