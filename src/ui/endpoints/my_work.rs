//! The agent's My work page (`/ui/api/me/...`): their callbacks, accepting, rejecting and
//! completing one, their presence, and their own event feed.

use axum::{
    Json,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{AppState, Viewer, my_agent};
use crate::{
    api::{
        agent_work, agents,
        authorized::Authorized,
        callbacks::OutcomeRequest,
        error::ApiError,
        extract::{ApiJson, ApiQuery},
    },
    domain::CallbackView,
};

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
