//! One callback (`/ui/api/callbacks/{id}`): a new one made on the page, its detail, changing
//! and canceling it, and the notes added to it.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;

use super::{AppState, Viewer, forbidden, visible_callback};
use crate::{
    api::{
        agent_work,
        authorized::Authorized,
        callbacks::{self, PatchRequest},
        error::ApiError,
        extract::{ApiJson, RawJson},
    },
    domain::{CallbackView, ErrorCode, Origin, callback::MAX_TEXT},
    store::CallbackChanges,
};

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
                || req.priority.is_some()
                || req.skills.is_some()
                || req.slot_id.is_some()
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

/// The longest line one note adds; the notes as a whole are held to the native `notes` limit
/// ([`MAX_TEXT`]).
const NOTE_LINE_MAX: usize = 1000;

/// Adds a line to a callback's notes, signed with the user and the time.
pub async fn add_note(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > NOTE_LINE_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!("must be 1 to {NOTE_LINE_MAX} characters"),
        )
        .field("text"));
    }
    let (cb, _) = visible_callback(&state, &viewer, &id).await?;
    // Editable as for the native PATCH of `notes`.
    callbacks::check_editable(&cb, "add a note to")?;
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
    if notes.chars().count() > MAX_TEXT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!("the notes would exceed {MAX_TEXT} characters"),
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
    Ok(Json(CallbackView::with_link(&cb, &state.links)))
}
