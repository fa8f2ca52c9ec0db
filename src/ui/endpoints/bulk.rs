//! Bulk actions on the Callbacks page (`POST /ui/api/callbacks/bulk`): cancel or reschedule a
//! selection, with a result per callback.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};

use super::{AppState, Viewer};
use crate::{
    api::{
        callbacks::{self, callback_id},
        error::ApiError,
        extract::ApiJson,
    },
    domain::ErrorCode,
};

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
    // `Some(new time)` to reschedule, `None` to cancel.
    let reschedule_to = match req.action.as_str() {
        "cancel" => None,
        "reschedule" => match &req.scheduled_at {
            Some(at) => Some(at),
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MissingField,
                    "send the new time",
                )
                .field("scheduled_at"));
            }
        },
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
            if let Some(scheduled_at) = reschedule_to {
                let cb = crate::api::callbacks::stored_callback(state.store.as_ref(), account, &id)
                    .await?;
                // As the native PATCH of a new time: the same checks and dial decision.
                callbacks::reschedule(
                    &state,
                    &viewer.principal,
                    &cb,
                    scheduled_at.clone(),
                    req.timezone.clone(),
                )
                .await?;
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
