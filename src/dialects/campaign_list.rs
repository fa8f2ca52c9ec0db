//! Campaign from a contact list: `POST /campaign` with `playbook_id`, `contacts`, `launch_at`
//! and `recall` (`"[30,120]"` or `[30, 120]`) launches a native campaign, answering `202` with
//! `campaign_id`.
//!
//! The body is the native `POST /v1/campaigns` body (the page's fields are a subset of it), so
//! it is handed to [`campaigns::launch`] as it is, with origin `campaigns`. The page shows no
//! error body; errors answer `{"error": "<code>", "message": "...", "field": ...}` with the
//! page's status codes: `400` for invalid data, `401` without valid credentials, `403` when the
//! playbook is not the account's (or the key lacks `campaigns:write`).

use axum::{Router, extract::State, http::StatusCode, response::Response, routing::post};
use serde_json::{Value, json};

use super::{body, error_json, json, method_not_allowed};
use crate::app::AppState;
use crate::{
    api::{
        auth::{Caller, require},
        campaigns,
        error::ApiError,
        extract::RawJson,
    },
    domain::{ErrorCode, Origin, Scope},
};

pub const PATH: &str = "/campaign";

pub fn routes() -> Router<AppState> {
    let route = || post(create).fallback(|| async { error_response(method_not_allowed()) });
    Router::new()
        .route(PATH, route())
        .route(&format!("{PATH}/"), route())
}

async fn create(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    raw: Result<RawJson, ApiError>,
) -> Response {
    let result = async {
        let caller = caller?;
        require(&caller, Scope::CampaignsWrite)?;
        let request: Value = body(raw)?;
        campaigns::launch(&state, &caller, request, Origin::Campaigns).await
    };
    match result.await {
        Ok(created) => json(
            StatusCode::ACCEPTED,
            serde_json::to_value(created).unwrap_or_else(|_| json!({})),
        ),
        Err(e) => error_response(e),
    }
}

/// `{"error": "<code>", "message": "...", "field": "<field or null>"}` with the native status
/// (the page's 400, 401 and 403, and 413, 415, 429, 500 as the native API answers them).
pub fn error_response(error: ApiError) -> Response {
    let retry_after = error.retry_after_seconds();
    let mut body = json!({
        "error": error.code,
        "message": error.message,
        "field": error.field,
    });
    if error.code == ErrorCode::Forbidden && error.field.as_deref() == Some("playbook_id") {
        body["message"] = "Playbook not found or not owned by your account.".into();
    }
    if let (Some(obj), extra) = (body.as_object_mut(), error.extra) {
        for (k, v) in extra {
            obj.entry(k).or_insert(v);
        }
    }
    error_json(error.status, body, retry_after)
}
