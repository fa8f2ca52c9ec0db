//! An agent's work: their callbacks, answering offers, completing, rescheduling and canceling
//! calls, and the Server-Sent Events stream that pushes offers and news to their desktop.

use std::{collections::VecDeque, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;
use serde::Deserialize;

use super::{
    auth::{Caller, require},
    authorized::{Authorized, scope},
    callbacks::{OutcomeRequest, callback_id, outcome_report},
    error::ApiError,
    extract::{ApiJson, ApiQuery},
};
use crate::{
    app::AppState,
    domain::{
        AccountId, Callback, CallbackView, ErrorCode, Scope, Status, agent::Agent, ids::AgentId,
        routing::AgentEvent,
    },
    store::{OfferAnswer, Store},
};

async fn load_agent(state: &AppState, caller: &Caller, raw: &str) -> Result<Agent, ApiError> {
    let id = AgentId::parse(raw).ok_or_else(|| ApiError::not_found("agent"))?;
    state
        .store
        .get_agent(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))
}

/// The agent and a callback they act on: one they hold, or one assigned to them or to one of
/// their queues.
async fn agent_and_callback(
    state: &AppState,
    caller: &Caller,
    agent: &str,
    callback: &str,
) -> Result<(Agent, Callback), ApiError> {
    let agent = load_agent(state, caller, agent).await?;
    let id = callback_id(callback)?;
    let cb = crate::api::callbacks::stored_callback(state.store.as_ref(), &caller.account_id, &id)
        .await?;
    let holds = cb.agent_id.as_ref() == Some(&agent.id);
    let assigned = cb.assignment.as_ref().is_some_and(|a| {
        a.ids
            .iter()
            .any(|id| id == agent.id.as_str() || agent.queue_ids.iter().any(|q| q.as_str() == id))
    });
    if !holds && !assigned {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "the callback is neither held by this agent nor assigned to them or their queues",
        ));
    }
    Ok((agent, cb))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WorkQuery {
    /// At most this many (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[utoipa::path(
    get, path = "/v1/agents/{id}/callbacks", operation_id = "list_agent_callbacks", tag = "agents",
    summary = "An agent's work",
    description = "What the agent holds (offers and calls in progress) and the active callbacks \
        assigned to them or to their queues, by due time.",
    params(("id" = String, Path, description = "An agent id (`agt_...`)."), WorkQuery),
    responses(
        (status = 200, description = "The callbacks.", body = Vec<CallbackView>),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WorkQuery>,
) -> Result<Json<Vec<CallbackView>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "must be between 1 and 500",
        )
        .field("limit"));
    }
    let agent = load_agent(&state, &caller, &id).await?;
    let callbacks = state
        .store
        .agent_callbacks(&caller.account_id, &agent.id, limit)
        .await?;
    Ok(Json(
        callbacks
            .iter()
            .map(|cb| CallbackView::with_link(cb, &state.links))
            .collect(),
    ))
}

async fn answer(
    state: AppState,
    caller: Caller,
    agent: String,
    callback: String,
    answer: OfferAnswer,
) -> Result<Json<CallbackView>, ApiError> {
    require(&caller, Scope::CallbacksWrite)?;
    let agent = load_agent(&state, &caller, &agent).await?;
    let id = callback_id(&callback)?;
    let cb = state
        .store
        .answer_offer(
            &caller.account_id,
            &agent.id,
            &id,
            answer,
            state.clock.now(),
            &caller.actor,
        )
        .await
        .map_err(|e| ApiError::from_change(e, "answer an offer of"))?;
    Ok(Json(CallbackView::with_link(&cb, &state.links)))
}

const OFFER_ERRORS: &str = "`offer_not_held`: the agent holds no offer of this callback (it ran \
    out, was withdrawn or went to another agent).";

#[utoipa::path(
    post, path = "/v1/agents/{id}/callbacks/{callback_id}/accept", operation_id = "accept_offer",
    tag = "agents", summary = "Accept an offer (make the call)",
    description = "The callback moves to `in_progress`, held by the agent, with a new attempt. \
        An agent whose calls fill their concurrency becomes `busy` until a call ends.",
    params(
        ("id" = String, Path, description = "An agent id (`agt_...`)."),
        ("callback_id" = String, Path, description = "A callback id (`cb_...`)."),
    ),
    responses(
        (status = 200, description = "The callback, in progress.", body = CallbackView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
        (status = 409, description = OFFER_ERRORS, body = super::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent, callback)): Path<(String, String)>,
) -> Result<Json<CallbackView>, ApiError> {
    answer(state, caller, agent, callback, OfferAnswer::Accept).await
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/callbacks/{callback_id}/reject", operation_id = "reject_offer",
    tag = "agents", summary = "Reject an offer",
    description = "The callback goes back in line and is offered to other agents first.",
    params(
        ("id" = String, Path, description = "An agent id (`agt_...`)."),
        ("callback_id" = String, Path, description = "A callback id (`cb_...`)."),
    ),
    responses(
        (status = 200, description = "The callback, waiting again.", body = CallbackView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
        (status = 409, description = OFFER_ERRORS, body = super::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent, callback)): Path<(String, String)>,
) -> Result<Json<CallbackView>, ApiError> {
    let reoffer_after = state.settings.routing.reoffer_after;
    answer(
        state,
        caller,
        agent,
        callback,
        OfferAnswer::Reject { reoffer_after },
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/callbacks/{callback_id}/complete", operation_id = "complete_call",
    tag = "agents", summary = "Complete a call with an outcome and notes",
    params(
        ("id" = String, Path, description = "An agent id (`agt_...`)."),
        ("callback_id" = String, Path, description = "A callback id (`cb_...`)."),
    ),
    request_body = OutcomeRequest,
    responses(
        (status = 200, description = "The callback in its final state.", body = CallbackView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
        (status = 404, response = super::error::NotFound),
        (status = 409, description = "`invalid_state`: the agent has no call in progress for this callback.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn complete(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    Path((agent, callback)): Path<(String, String)>,
    ApiJson(req): ApiJson<OutcomeRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let report = outcome_report(&state, &caller, req).await?;
    let (agent, cb) = agent_and_callback(&state, &caller, &agent, &callback).await?;
    if cb.status != Status::InProgress || cb.agent_id.as_ref() != Some(&agent.id) {
        return Err(ApiError::invalid_state(cb.status, "complete"));
    }
    let cb = state
        .store
        .record_outcome(
            &caller.account_id,
            &cb.id,
            &report,
            state.clock.now(),
            &caller.actor,
        )
        .await
        .map_err(|e| ApiError::from_change(e, "complete"))?;
    Ok(Json(CallbackView::with_link(&cb, &state.links)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    /// The new time: RFC 3339, or a local time read in `timezone` (else the callback's zone).
    pub scheduled_at: String,
    pub timezone: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/callbacks/{callback_id}/reschedule",
    operation_id = "agent_reschedule_callback", tag = "agents",
    summary = "Reschedule a callback (new time, same history)",
    description = "Allowed while nobody has started calling: an offer held by the agent is \
        withdrawn and the callback is `scheduled` again; its reminder is planned anew.",
    params(
        ("id" = String, Path, description = "An agent id (`agt_...`)."),
        ("callback_id" = String, Path, description = "A callback id (`cb_...`)."),
    ),
    request_body = RescheduleRequest,
    responses(
        (status = 200, description = "The rescheduled callback.", body = CallbackView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
        (status = 404, response = super::error::NotFound),
        (status = 409, description = "`invalid_state`: calling has started or the callback has ended.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn reschedule(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    Path((agent, callback)): Path<(String, String)>,
    ApiJson(req): ApiJson<RescheduleRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let (_, cb) = agent_and_callback(&state, &caller, &agent, &callback).await?;
    let (cb, _) =
        crate::api::callbacks::reschedule(&state, &caller, &cb, req.scheduled_at, req.timezone)
            .await?;
    Ok(Json(CallbackView::with_link(&cb, &state.links)))
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/callbacks/{callback_id}/cancel",
    operation_id = "agent_cancel_callback", tag = "agents", summary = "Cancel a callback",
    params(
        ("id" = String, Path, description = "An agent id (`agt_...`)."),
        ("callback_id" = String, Path, description = "A callback id (`cb_...`)."),
    ),
    responses(
        (status = 200, description = "The canceled callback.", body = CallbackView),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
        (status = 404, response = super::error::NotFound),
        (status = 409, description = "`invalid_state`: calling has started or the callback has ended.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    Path((agent, callback)): Path<(String, String)>,
) -> Result<Json<CallbackView>, ApiError> {
    let (_, cb) = agent_and_callback(&state, &caller, &agent, &callback).await?;
    let cb = state
        .store
        .cancel_callback(&caller.account_id, &cb.id, state.clock.now(), &caller.actor)
        .await
        .map_err(|e| ApiError::from_change(e, "cancel"))?;
    Ok(Json(CallbackView::with_link(&cb, &state.links)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Resume after this event id (what the `Last-Event-ID` header carries; the header wins).
    pub last_event_id: Option<i64>,
}

#[utoipa::path(
    get, path = "/v1/agents/{id}/events", operation_id = "agent_events", tag = "agents",
    summary = "The agent's event stream (Server-Sent Events)",
    description = "Pushes `offer`, `offer_withdrawn`, `callback.reminder`, `callback.canceled`, \
        `callback.rescheduled` and `presence` events. Each has an `id`; reconnecting with \
        `Last-Event-ID` replays everything after it, so nothing is missed. Without it the \
        stream starts with what happens next. The data is JSON: `type`, `at`, and `callback` \
        (the callback as it stood) with the details of the event.",
    params(("id" = String, Path, description = "An agent id (`agt_...`)."), EventsQuery),
    responses(
        (status = 200, description = "A `text/event-stream`.", content_type = "text/event-stream", body = String),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:read"])),
)]
pub async fn events(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsRead>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let agent = load_agent(&state, &caller, &id).await?;
    let header = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidField,
                        "must be an event id from this stream",
                    )
                    .field("Last-Event-ID")
                })?,
        ),
        None => None,
    };
    let mut feed = state.store.agent_feed(&agent.id);
    feed.borrow_and_update();
    let after = match header.or(q.last_event_id) {
        Some(seq) => seq,
        None => {
            state
                .store
                .last_agent_event(&caller.account_id, &agent.id)
                .await?
        }
    };
    let reader = FeedReader {
        store: state.store.clone(),
        account: caller.account_id.clone(),
        agent: agent.id,
        after,
        feed,
        buffer: VecDeque::new(),
    };
    let stream = futures::stream::unfold(reader, |mut r| async move {
        let event = r.next().await?;
        Some((Ok(event), r))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Reads one agent's feed from the store: a page at a time, then waits for the next commit
/// that wrote to it.
struct FeedReader {
    store: Arc<dyn Store>,
    account: AccountId,
    agent: AgentId,
    after: i64,
    feed: tokio::sync::watch::Receiver<u64>,
    buffer: VecDeque<AgentEvent>,
}

impl FeedReader {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.after = e.seq;
                return Some(sse_event(e));
            }
            // Seen before reading, so a commit during the read wakes the wait below.
            self.feed.borrow_and_update();
            match self
                .store
                .agent_events(&self.account, &self.agent, self.after, 100)
                .await
            {
                Ok(page) if !page.is_empty() => {
                    self.buffer.extend(page);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading an agent's feed failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            self.feed.changed().await.ok()?;
        }
    }
}

fn sse_event(e: AgentEvent) -> Event {
    let mut data = match serde_json::from_str::<serde_json::Value>(&e.data) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    data.insert("id".to_owned(), e.seq.into());
    data.insert("type".to_owned(), e.kind.clone().into());
    data.insert("agent_id".to_owned(), e.agent_id.as_str().into());
    data.insert("at".to_owned(), e.at.to_string().into());
    Event::default()
        .id(e.seq.to_string())
        .event(e.kind)
        .data(serde_json::Value::Object(data).to_string())
}
