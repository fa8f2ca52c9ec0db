//! The JSON endpoints of the Callback Manager (`/ui/api/...`). Each one takes the [`Viewer`]
//! (session cookie, CSRF header on changes), decides what their role may see, and hands over
//! to the native API's handler or `Store` verb with the viewer's principal, so the account
//! scoping, validation and audit trail are the API's own.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::Stream;
use serde::{Deserialize, Serialize};

use super::Viewer;
use crate::app::AppState;
use crate::{
    api::{
        agent_work, agents,
        authorized::Authorized,
        callbacks::{self, OutcomeRequest, PatchRequest, callback_id, new_time},
        campaigns::{self, CampaignView},
        error::ApiError,
        extract::{ApiJson, ApiQuery, RawJson},
        reports::{ReportQuery, build_report},
    },
    domain::{
        AccountId, Callback, CallbackView, ErrorCode, Origin, PhoneNumber, Scope, Status,
        agent::Agent, report::Report,
    },
    store::{CallbackChanges, CallbackSearch, SearchCursor, SearchOrder},
};

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
}

fn bad_query(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message).field(field)
}

/// The agent an agent user works as (403 for users without one).
async fn my_agent(state: &AppState, viewer: &Viewer) -> Result<Agent, ApiError> {
    let id = viewer
        .user
        .agent_id
        .clone()
        .ok_or_else(|| forbidden("this user is not linked to an agent"))?;
    state
        .store
        .get_agent(&viewer.principal.account_id, &id)
        .await?
        .ok_or_else(|| forbidden("the agent this user works as was deleted"))
}

/// May this agent see the callback? When they hold it, or it is assigned to them or to one of
/// their queues (the native API's rule for agents' actions).
fn agent_may_see(agent: &Agent, cb: &Callback) -> bool {
    cb.agent_id.as_ref() == Some(&agent.id)
        || cb.assignment.as_ref().is_some_and(|a| {
            a.ids.iter().any(|id| {
                id == agent.id.as_str() || agent.queue_ids.iter().any(|q| q.as_str() == id)
            })
        })
}

/// The callback, if the viewer may see it (404 otherwise, like another account's).
async fn visible_callback(
    state: &AppState,
    viewer: &Viewer,
    raw: &str,
) -> Result<(Callback, Option<Agent>), ApiError> {
    let id = callback_id(raw)?;
    let cb = state
        .store
        .get_callback(&viewer.principal.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("callback"))?;
    if viewer.is_supervisor() {
        return Ok((cb, None));
    }
    let agent = my_agent(state, viewer).await?;
    if agent_may_see(&agent, &cb) {
        Ok((cb, Some(agent)))
    } else {
        Err(ApiError::not_found("callback"))
    }
}

// ---------------------------------------------------------------------------------------------
// The callback list
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub status: Option<Status>,
    pub origin: Option<Origin>,
    /// An agent id: callbacks they hold or that are assigned to them.
    pub agent: Option<String>,
    /// A queue id: callbacks assigned to it.
    pub queue: Option<String>,
    /// A whole number, or its start (`+1415`, `1415`).
    pub phone: Option<String>,
    /// RFC 3339: scheduled at or after.
    pub from: Option<String>,
    /// RFC 3339: scheduled before.
    pub to: Option<String>,
    /// `created_desc` (default), `created_asc`, `scheduled_asc`, `scheduled_desc`.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

#[derive(Serialize)]
pub struct Page {
    pub data: Vec<CallbackView>,
    pub next_cursor: Option<String>,
}

fn instant(raw: &Option<String>, field: &str) -> Result<Option<jiff::Timestamp>, ApiError> {
    raw.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad_query(field, "must be an RFC 3339 date-time with an offset"))
        })
        .transpose()
}

/// Turns the query into a store search (without the page's cursor and limit).
fn search_of(q: &SearchQuery) -> Result<CallbackSearch, ApiError> {
    let order = match q.sort.as_deref().unwrap_or("created_desc") {
        "created_desc" => SearchOrder::NewestFirst,
        "created_asc" => SearchOrder::OldestFirst,
        "scheduled_asc" => SearchOrder::ScheduledAsc,
        "scheduled_desc" => SearchOrder::ScheduledDesc,
        _ => {
            return Err(bad_query(
                "sort",
                "must be created_desc, created_asc, scheduled_asc or scheduled_desc",
            ));
        }
    };
    let mut search = CallbackSearch {
        status: q.status,
        origin: q.origin,
        scheduled_from: instant(&q.from, "from")?,
        scheduled_to: instant(&q.to, "to")?,
        order,
        ..CallbackSearch::default()
    };
    if let Some(agent) = q.agent.as_deref().filter(|s| !s.is_empty()) {
        if !agent.starts_with("agt_") || agent.len() > 64 {
            return Err(bad_query("agent", "must be an agent id (agt_...)"));
        }
        search.agent = Some(agent.to_owned());
    }
    if let Some(queue) = q.queue.as_deref().filter(|s| !s.is_empty()) {
        if !queue.starts_with("que_") || queue.len() > 64 {
            return Err(bad_query("queue", "must be a queue id (que_...)"));
        }
        search.queue = Some(queue.to_owned());
    }
    if let Some(raw) = q.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        match PhoneNumber::parse(raw, "phone") {
            Ok(phone) => search.phone = Some(phone),
            Err(_) => {
                let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
                let only_number_chars = raw
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c));
                if digits.is_empty() || digits.len() > 15 || !only_number_chars {
                    return Err(bad_query(
                        "phone",
                        "must be a phone number or its first digits, country code first",
                    ));
                }
                search.phone_prefix = Some(format!("+{digits}"));
            }
        }
    }
    Ok(search)
}

fn parse_cursor(raw: &str, order: SearchOrder) -> Result<SearchCursor, ApiError> {
    let bad = || bad_query("cursor", "not a cursor from a previous page");
    match order {
        SearchOrder::NewestFirst | SearchOrder::OldestFirst => Ok(SearchCursor {
            scheduled_ms: None,
            id: callbacks_id(raw).ok_or_else(bad)?,
        }),
        SearchOrder::ScheduledAsc | SearchOrder::ScheduledDesc => {
            let (ms, id) = raw.split_once('.').ok_or_else(bad)?;
            Ok(SearchCursor {
                scheduled_ms: Some(ms.parse().map_err(|_| bad())?),
                id: callbacks_id(id).ok_or_else(bad)?,
            })
        }
    }
}

fn callbacks_id(raw: &str) -> Option<crate::domain::CallbackId> {
    crate::domain::CallbackId::parse(raw)
}

fn cursor_of(cb: &Callback, order: SearchOrder) -> String {
    match order {
        SearchOrder::NewestFirst | SearchOrder::OldestFirst => cb.id.to_string(),
        _ => format!("{}.{}", cb.scheduled_at.as_millisecond(), cb.id),
    }
}

/// One page of a search: the rows and the cursor of the next page.
async fn page(
    state: &AppState,
    account: &AccountId,
    mut search: CallbackSearch,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<Callback>, Option<String>), ApiError> {
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        search.after = Some(parse_cursor(c, search.order)?);
    }
    search.limit = limit + 1;
    let mut rows = state.store.search_callbacks(account, &search).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|cb| cursor_of(cb, search.order))
    } else {
        None
    };
    Ok((rows, next))
}

/// The account's callbacks, filtered, sorted and paged (supervisors).
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Page>, ApiError> {
    viewer.require_supervisor()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_query("limit", "must be between 1 and 200"));
    }
    let search = search_of(&q)?;
    let (rows, next_cursor) = page(
        &state,
        &viewer.principal.account_id,
        search,
        q.cursor.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(Page {
        data: rows.iter().map(CallbackView::from).collect(),
        next_cursor,
    }))
}

/// Free text that a spreadsheet would read as a formula (`=`, `+`, `-`, `@` first) gets a
/// leading apostrophe, so opening an export never runs what a caller typed.
fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The most rows one export writes.
const EXPORT_MAX: usize = 100_000;

/// The filtered list as CSV (supervisors), at most 100,000 rows.
pub async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    viewer.require_supervisor()?;
    let search = search_of(&q)?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "origin",
        "status",
        "phone",
        "contact_name",
        "scheduled_at",
        "scheduled_at_local",
        "timezone",
        "assignment_type",
        "assignees",
        "agent_id",
        "dialing_mode",
        "outcome",
        "attempt_count",
        "notes",
        "created_at",
    ];
    let csv_err = |e: csv::Error| ApiError::internal(&e);
    out.write_record(header).map_err(csv_err)?;
    let mut cursor: Option<String> = None;
    let mut written = 0;
    loop {
        let (rows, next) = page(
            &state,
            &viewer.principal.account_id,
            search.clone(),
            cursor.as_deref(),
            1000,
        )
        .await?;
        for cb in &rows {
            let v = CallbackView::from(cb);
            let (kind, ids) = match &v.assignment {
                Some(a) => (a.kind.as_str().to_owned(), a.ids.join(" ")),
                None => (String::new(), String::new()),
            };
            out.write_record([
                v.id.as_str(),
                v.origin.as_str(),
                v.status,
                v.phone.as_str(),
                &spreadsheet_safe(v.contact_name.as_deref().unwrap_or("")),
                v.scheduled_at.as_str(),
                v.scheduled_at_local.as_str(),
                v.timezone.as_str(),
                kind.as_str(),
                ids.as_str(),
                v.agent_id.as_deref().unwrap_or(""),
                v.dialing_mode.as_str(),
                v.outcome.map_or("", |o| o.as_str()),
                &v.attempt_count.to_string(),
                &spreadsheet_safe(v.notes.as_deref().unwrap_or("")),
                v.created_at.as_str(),
            ])
            .map_err(csv_err)?;
        }
        written += rows.len();
        match next {
            Some(n) if written < EXPORT_MAX => cursor = Some(n),
            _ => break,
        }
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::internal(e.error()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"callbacks.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// One callback
// ---------------------------------------------------------------------------------------------

/// A new callback made on the page: origin `ui` (supervisors).
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    viewer.require_supervisor()?;
    callbacks::create_as(
        &state,
        &viewer.principal,
        &headers,
        &body,
        Origin::Ui,
        false,
    )
    .await
}

/// A callback with its attempts, history and webhook deliveries.
pub async fn detail(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (cb, _) = visible_callback(&state, &viewer, &id).await?;
    let Json(view) = callbacks::get(
        State(state.clone()),
        Authorized::check(viewer.principal.clone())?,
        Path(cb.id.to_string()),
    )
    .await?;
    let deliveries = state
        .store
        .callback_deliveries(&viewer.principal.account_id, &cb.id, 100)
        .await?;
    Ok(Json(serde_json::json!({
        "callback": view,
        "deliveries": deliveries,
    })))
}

/// Reschedule, reassign or edit (supervisors); agents may only reschedule what they see.
pub async fn change(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let (cb, agent) = visible_callback(&state, &viewer, &id).await?;
    match agent {
        None => {
            callbacks::patch(
                State(state),
                Authorized::check(viewer.principal)?,
                Path(cb.id.to_string()),
                ApiJson(req),
            )
            .await
        }
        Some(agent) => {
            if req.assignment.is_some()
                || req.notes.is_some()
                || req.contact_name.is_some()
                || req.metadata.is_some()
            {
                return Err(forbidden("agents may only reschedule"));
            }
            let scheduled_at = req.scheduled_at.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MissingField,
                    "send the new time",
                )
                .field("scheduled_at")
            })?;
            agent_work::reschedule(
                State(state),
                Authorized::check(viewer.principal)?,
                Path((agent.id.to_string(), cb.id.to_string())),
                ApiJson(agent_work::RescheduleRequest {
                    scheduled_at,
                    timezone: req.timezone,
                }),
            )
            .await
        }
    }
}

/// Cancel a callback (supervisors; agents: one they see).
pub async fn cancel(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    let (cb, agent) = visible_callback(&state, &viewer, &id).await?;
    match agent {
        None => {
            callbacks::cancel(
                State(state),
                Authorized::check(viewer.principal)?,
                Path(cb.id.to_string()),
            )
            .await
        }
        Some(agent) => {
            agent_work::cancel(
                State(state),
                Authorized::check(viewer.principal)?,
                Path((agent.id.to_string(), cb.id.to_string())),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub text: String,
}

const NOTES_MAX: usize = 5_000;

/// Adds a line to a callback's notes, signed with the user and the time.
pub async fn add_note(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > 1000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "must be 1 to 1000 characters",
        )
        .field("text"));
    }
    let (cb, _) = visible_callback(&state, &viewer, &id).await?;
    if !cb.status.is_editable() {
        return Err(ApiError::invalid_state(cb.status, "add a note to"));
    }
    let now = state.clock.now();
    let line = format!(
        "[{} {}] {text}",
        now.strftime("%Y-%m-%d %H:%MZ"),
        viewer.user.email.as_str()
    );
    let notes = match &cb.notes {
        Some(old) if !old.is_empty() => format!("{old}\n{line}"),
        _ => line,
    };
    if notes.chars().count() > NOTES_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!("the notes would exceed {NOTES_MAX} characters"),
        )
        .field("text"));
    }
    let changes = CallbackChanges {
        notes: Some(Some(notes)),
        ..CallbackChanges::default()
    };
    let cb = state
        .store
        .update_callback(
            &viewer.principal.account_id,
            &cb.id,
            &changes,
            now,
            &viewer.principal.actor,
        )
        .await
        .map_err(|e| ApiError::from_change(e, "add a note to"))?;
    Ok(Json(CallbackView::from(&cb)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// `cancel` or `reschedule`.
    pub action: String,
    pub ids: Vec<String>,
    pub scheduled_at: Option<String>,
    pub timezone: Option<String>,
}

#[derive(Serialize)]
pub struct BulkResult {
    pub id: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub struct BulkResponse {
    pub done: usize,
    pub failed: usize,
    pub results: Vec<BulkResult>,
}

const BULK_MAX: usize = 500;

/// Cancel or reschedule a selection (supervisors); a result per callback.
pub async fn bulk(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiJson(req): ApiJson<BulkRequest>,
) -> Result<Json<BulkResponse>, ApiError> {
    viewer.require_supervisor()?;
    if req.ids.is_empty() || req.ids.len() > BULK_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::TooManyItems,
            format!("select between 1 and {BULK_MAX} callbacks"),
        )
        .field("ids"));
    }
    let reschedule = match req.action.as_str() {
        "cancel" => false,
        "reschedule" => {
            if req.scheduled_at.is_none() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MissingField,
                    "send the new time",
                )
                .field("scheduled_at"));
            }
            true
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidField,
                "must be cancel or reschedule",
            )
            .field("action"));
        }
    };
    let account = &viewer.principal.account_id;
    let actor = &viewer.principal.actor;
    let mut results = Vec::with_capacity(req.ids.len());
    for raw in &req.ids {
        let outcome: Result<(), ApiError> = async {
            let id = callback_id(raw)?;
            if reschedule {
                let cb = state
                    .store
                    .get_callback(account, &id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("callback"))?;
                if !cb.status.is_editable() {
                    return Err(ApiError::invalid_state(cb.status, "reschedule"));
                }
                let changes = CallbackChanges {
                    scheduled_at: new_time(
                        &state,
                        &cb,
                        req.scheduled_at.clone(),
                        req.timezone.clone(),
                    )?,
                    ..CallbackChanges::default()
                };
                callbacks::judge_changes(&state, &viewer.principal, &cb, &changes).await?;
                state
                    .store
                    .update_callback(account, &id, &changes, state.clock.now(), actor)
                    .await
                    .map_err(|e| ApiError::from_change(e, "reschedule"))?;
            } else {
                state
                    .store
                    .cancel_callback(account, &id, state.clock.now(), actor)
                    .await
                    .map_err(|e| ApiError::from_change(e, "cancel"))?;
            }
            Ok(())
        }
        .await;
        results.push(match outcome {
            Ok(()) => BulkResult {
                id: raw.clone(),
                ok: true,
                error: None,
            },
            Err(e) => BulkResult {
                id: raw.clone(),
                ok: false,
                error: Some(serde_json::json!({
                    "code": e.code.as_str(), "message": e.message, "field": e.field,
                })),
            },
        });
    }
    let done = results.iter().filter(|r| r.ok).count();
    Ok(Json(BulkResponse {
        done,
        failed: results.len() - done,
        results,
    }))
}

// ---------------------------------------------------------------------------------------------
// Live updates, the directory, reports
// ---------------------------------------------------------------------------------------------

/// How often the live view looks for new events.
const LIVE_POLL: Duration = Duration::from_millis(700);

/// Server-Sent Events of the account's event log (supervisors): one `change` event per
/// callback event, with `type`, `callback_id` and the callback's `status`, so the list can
/// refresh. Each carries the event's id; resumes after `Last-Event-ID` (an id of the account's
/// events, or a bare number as this stream sent before events were numbered per account),
/// starting with what happens next when there is none or it is not the account's.
pub async fn live(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    viewer.require_supervisor()?;
    let account = viewer.principal.account_id.clone();
    let after = match headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .and_then(|s| {
            crate::domain::StoredEvent::parse_id(&account, s)
                .or_else(|| s.parse::<i64>().ok().filter(|n| *n > 0))
        }) {
        Some(number) => number,
        None => state.store.last_event_seq(&account).await?,
    };
    let store = state.store.clone();
    let stream = futures::stream::unfold(
        (store, account, after, std::collections::VecDeque::new()),
        |(store, account, mut after, mut buffer)| async move {
            loop {
                if let Some((number, event)) = buffer.pop_front() {
                    let event: crate::domain::StoredEvent = event;
                    after = number;
                    let data = serde_json::json!({
                        "type": event.kind,
                        "callback_id": event.data.pointer("/object/id"),
                        "status": event.data.pointer("/object/status"),
                        "at": event.timestamp.to_string(),
                    });
                    let sse = Event::default()
                        .id(event.id.clone())
                        .event("change")
                        .data(data.to_string());
                    return Some((Ok(sse), (store, account, after, buffer)));
                }
                match store.list_events(&account, after, None, None, 200).await {
                    Ok(page) if !page.is_empty() => buffer.extend(page),
                    Ok(_) => tokio::time::sleep(LIVE_POLL).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the event log for a live view failed");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Agents and queues to filter and assign by: the whole account for supervisors, the user's
/// own agent and queues for agents.
pub async fn directory(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let account = &viewer.principal.account_id;
    let (agents, queues) = if viewer.is_supervisor() {
        (
            state.store.list_agents(account).await?,
            state.store.list_queues(account).await?,
        )
    } else {
        let agent = my_agent(&state, &viewer).await?;
        let queues = state
            .store
            .list_queues(account)
            .await?
            .into_iter()
            .filter(|q| agent.queue_ids.contains(&q.id))
            .collect();
        (vec![agent], queues)
    };
    Ok(Json(serde_json::json!({
        "agents": agents.iter().map(|a| serde_json::json!({
            "id": a.id.as_str(), "name": a.name, "presence": a.presence.as_str(),
        })).collect::<Vec<_>>(),
        "queues": queues.iter().map(|q| serde_json::json!({
            "id": q.id.as_str(), "name": q.name,
        })).collect::<Vec<_>>(),
    })))
}

/// The reports' figures (supervisors): the same as `GET /v1/reports/callbacks`.
pub async fn reports(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Report>, ApiError> {
    viewer.require_supervisor()?;
    Ok(Json(
        build_report(&state, &viewer.principal.account_id, q).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------

/// The most campaigns the page lists.
const CAMPAIGNS_SHOWN: u32 = 100;

/// The account's campaigns, newest first, each with its totals (supervisors).
pub async fn campaigns(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Vec<CampaignView>>, ApiError> {
    viewer.require_supervisor()?;
    let account = &viewer.principal.account_id;
    let list = state
        .store
        .list_campaigns(account, None, CAMPAIGNS_SHOWN)
        .await?;
    let mut out = Vec::with_capacity(list.len());
    for campaign in &list {
        // A campaign gone between the two reads is left out.
        if let Some((c, totals)) = state.store.get_campaign(account, &campaign.id).await? {
            out.push(CampaignView::new(&c, Some(totals)));
        }
    }
    Ok(Json(out))
}

/// The viewer's principal allowed to change campaigns (supervisors only).
fn campaign_principal(viewer: Viewer) -> Result<crate::domain::Principal, ApiError> {
    viewer.require_supervisor()?;
    let mut principal = viewer.principal;
    principal.scopes.push(Scope::CampaignsWrite);
    Ok(principal)
}

/// Pause a campaign (supervisors): the native `POST /v1/campaigns/{id}/pause`.
pub async fn pause_campaign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    campaigns::pause(State(state), campaign_principal(viewer)?, Path(id)).await
}

/// Resume a paused campaign (supervisors).
pub async fn resume_campaign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    campaigns::resume(State(state), campaign_principal(viewer)?, Path(id)).await
}

/// Cancel a campaign (supervisors): its calls not yet placed are canceled.
pub async fn cancel_campaign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    campaigns::cancel(State(state), campaign_principal(viewer)?, Path(id)).await
}

// ---------------------------------------------------------------------------------------------
// The agent's own work
// ---------------------------------------------------------------------------------------------

/// The agent's work: offers and calls they hold, then callbacks assigned to them or their
/// queues, by time.
pub async fn my_callbacks(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Vec<CallbackView>>, ApiError> {
    let agent = my_agent(&state, &viewer).await?;
    agent_work::list(
        State(state),
        Authorized::check(viewer.principal)?,
        Path(agent.id.to_string()),
        ApiQuery(agent_work::WorkQuery { limit: Some(200) }),
    )
    .await
}

pub async fn accept(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    let agent = my_agent(&state, &viewer).await?;
    agent_work::accept(
        State(state),
        viewer.principal,
        Path((agent.id.to_string(), id)),
    )
    .await
}

pub async fn reject(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    let agent = my_agent(&state, &viewer).await?;
    agent_work::reject(
        State(state),
        viewer.principal,
        Path((agent.id.to_string(), id)),
    )
    .await
}

pub async fn complete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OutcomeRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let agent = my_agent(&state, &viewer).await?;
    agent_work::complete(
        State(state),
        Authorized::check(viewer.principal)?,
        Path((agent.id.to_string(), id)),
        ApiJson(req),
    )
    .await
}

/// The agent sets their own presence.
pub async fn presence(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiJson(req): ApiJson<agents::PresenceRequest>,
) -> Result<Response, ApiError> {
    let agent = my_agent(&state, &viewer).await?;
    let view = agents::set_presence(
        State(state),
        Authorized::check(viewer.principal)?,
        Path(agent.id.to_string()),
        ApiJson(req),
    )
    .await?;
    Ok(view.into_response())
}

/// The agent's own feed (offers, withdrawals, reminders) as Server-Sent Events.
pub async fn my_events(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let agent = my_agent(&state, &viewer).await?;
    let sse = agent_work::events(
        State(state),
        Authorized::check(viewer.principal)?,
        Path(agent.id.to_string()),
        headers,
        ApiQuery(agent_work::EventsQuery {
            last_event_id: None,
        }),
    )
    .await?;
    Ok(sse.into_response())
}
