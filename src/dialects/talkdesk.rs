//! Talkdesk-style scheduled callbacks: `POST /schedule-callbacks`, `GET /schedule-callbacks`
//! (filter `phone_number`, `page` and `per_page` with a total), `GET`, `PATCH` (JSON Patch
//! `replace`) and `DELETE` (`204`) on `/schedule-callbacks/{id}`; `GET /callbacks/{id}`, the
//! callback object's `_links.self` as Talkdesk forms it, reads it too.
//!
//! Scopes are `schedule-callbacks:read` and `schedule-callbacks:write` (other names for
//! `callbacks:read` and `callbacks:write`). The time to call is an instant (UTC when it has no
//! offset), at least a minute ahead; the time zone is kept to show local times. Callbacks are
//! `preview` ones assigned to agents (`SPECIFIC_AGENT`), to queues (`SPECIFIC_RING_GROUP`), or
//! to nobody in particular (`ANY_ELIGIBLE_AGENT`).
//!
//! This file holds the routes, the handlers and the error shape; `shapes` holds the request
//! bodies read from Talkdesk clients and the callback object rendered back.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{body, error_json, json, method_not_allowed, rename_field, schedule};
use crate::app::AppState;
use crate::{
    api::{
        auth::{Caller, require},
        callbacks::{apply_changes, check_assignees, policy},
        error::ApiError,
        extract::RawJson,
    },
    domain::{
        AssigneeKind, Callback, CallbackId, DialingMode, ErrorCode, FieldError, Origin, Outcome,
        PhoneNumber, Scope, Status, Zone,
        callback::{NewCallback, check_lead_time},
        ids::{AgentId, CampaignId},
        parse_scheduled_at,
    },
    store::{CallbackChanges, ListFilter, Reschedule, StateFilter},
};

mod shapes;

use shapes::{AssignType, Assignee, ListQuery, NewScheduledCallback, PatchOp};
pub use shapes::{callback, talkdesk_status};

/// Talkdesk refuses callbacks less than a minute ahead.
pub const MIN_LEAD: SignedDuration = SignedDuration::from_secs(60);
const DEFAULT_PER_PAGE: u32 = 50;
const MAX_PER_PAGE: u32 = 500;

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
        // The callback object's `_links.self`, in Talkdesk's form.
        .route("/callbacks/{id}", get(read).fallback(fallback))
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
        if let Some(unknown) = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(name, _)| name)
            .find(|name| !ListQuery::PARAMETERS.contains(&name.as_ref()))
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                format!(
                    "unknown filter; the list takes {}",
                    ListQuery::PARAMETERS.join(", ")
                ),
            )
            .field(unknown.into_owned()));
        }
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
            states: q
                .status
                .as_deref()
                .map(status_filter)
                .transpose()?
                .unwrap_or_default(),
            assignee: q
                .agent_id
                .as_deref()
                .map(|id| {
                    AgentId::parse(id.trim())
                        .map(|id| id.to_string())
                        .ok_or_else(|| {
                            ApiError::new(
                                StatusCode::BAD_REQUEST,
                                ErrorCode::InvalidQuery,
                                "not an agent id (agt_...)",
                            )
                            .field("agent_id")
                        })
                })
                .transpose()?,
            campaign: q
                .campaign_id
                .as_deref()
                .map(|id| {
                    CampaignId::parse(id.trim()).ok_or_else(|| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            ErrorCode::InvalidQuery,
                            "not a campaign id (cmp_...)",
                        )
                        .field("campaign_id")
                    })
                })
                .transpose()?,
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
            for (name, value) in [
                ("status", &q.status),
                ("agent_id", &q.agent_id),
                ("campaign_id", &q.campaign_id),
            ] {
                if let Some(value) = value {
                    query.push_str(&format!(
                        "&{name}={}",
                        url::form_urlencoded::byte_serialize(value.trim().as_bytes())
                            .collect::<String>()
                    ));
                }
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
                "total_pages": total_pages,
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

/// The `status` filter: each Talkdesk status names exactly the callbacks shown with it
/// ([`talkdesk_status`]).
fn status_filter(raw: &str) -> Result<Vec<StateFilter>, ApiError> {
    let state = |statuses: &[Status]| StateFilter {
        statuses: statuses.to_vec(),
        ..StateFilter::default()
    };
    let unreachable = (true, vec![Outcome::Failed, Outcome::InvalidNumber]);
    Ok(match raw.trim().to_ascii_uppercase().as_str() {
        "UNATTEMPTED" => vec![StateFilter {
            attempted: Some(false),
            ..state(&[Status::Scheduled])
        }],
        "TO_BE_RETRIED" => vec![StateFilter {
            attempted: Some(true),
            ..state(&[Status::Scheduled])
        }],
        "IN_PROGRESS" => vec![state(&[
            Status::Waiting,
            Status::Offered,
            Status::Dispatching,
            Status::InProgress,
        ])],
        "SUCCESS" => vec![state(&[Status::Completed])],
        "CANCELED" | "CANCELLED" => vec![state(&[Status::Canceled])],
        "INVALID_NUMBER" => vec![StateFilter {
            outcomes: Some(unreachable),
            ..state(&[Status::Failed])
        }],
        "EXHAUSTED" => vec![
            state(&[Status::Expired]),
            StateFilter {
                outcomes: Some((false, unreachable.1)),
                ..state(&[Status::Failed])
            },
        ],
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                "filter by UNATTEMPTED, TO_BE_RETRIED, IN_PROGRESS, SUCCESS, CANCELED, \
                 INVALID_NUMBER or EXHAUSTED",
            )
            .field("status"));
        }
    })
}

async fn find(state: &AppState, caller: &Caller, raw: &str) -> Result<Callback, ApiError> {
    let id = CallbackId::parse(raw).ok_or_else(|| ApiError::not_found("callback"))?;
    crate::api::callbacks::stored_callback(state.store.as_ref(), &caller.account_id, &id).await
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
        crate::api::callbacks::check_editable(&current, "change")?;
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
        let (cb, _) = apply_changes(&state, &caller, &current, &changes, "change")
            .await
            .map_err(|mut e| {
                if e.field.as_deref() == Some("scheduled_at") {
                    e.field = Some("scheduled_time_to_call".to_owned());
                }
                e
            })?;
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
