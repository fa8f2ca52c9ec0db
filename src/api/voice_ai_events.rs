//! `/telephony/{vapi,retell}/{trunk_id}/events`: where a voice-AI vendor reports on the calls
//! a `vapi` or `retell` trunk placed. Each request's signature is checked with the trunk's
//! secret before its body is read (`domain::voice_ai`); an end-of-call report ends the attempt
//! with its outcome and keeps the transcript, summary and recording URL on it
//! (`Store::finish_provider_call`). Other messages are acknowledged and change nothing.
//!
//! Answers: 204 once handled; 403 (nothing read, nothing changed) for a missing or wrong
//! signature; 404 for a trunk that is not of that kind or a call the trunk did not place.

use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::Value;

use super::error::ApiError;
use crate::app::AppState;
use crate::domain::{
    Actor, ErrorCode,
    ids::TrunkId,
    trunk::{Trunk, TrunkKind, TrunkSettings},
    voice_ai::{self, CallReport},
};
use crate::store::{ChangeError, OutcomeReport, ProviderFinish};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/telephony/vapi/{trunk_id}/events", post(vapi_events))
        .route("/telephony/retell/{trunk_id}/events", post(retell_events))
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "the request's signature does not hold for this trunk",
    )
}

/// The trunk a route names, if it is of `kind`.
async fn trunk(state: &AppState, raw: &str, kind: TrunkKind) -> Result<Trunk, ApiError> {
    let id = TrunkId::parse(raw).ok_or_else(|| ApiError::not_found("trunk"))?;
    match state.store.provider_trunk(&id).await? {
        Some(t) if t.settings.kind() == kind => Ok(t),
        _ => Err(ApiError::not_found("trunk")),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn vapi_events(
    State(state): State<AppState>,
    Path(trunk_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let trunk = trunk(&state, &trunk_id, TrunkKind::Vapi).await?;
    let TrunkSettings::Vapi(settings) = &trunk.settings else {
        return Err(ApiError::not_found("trunk"));
    };
    let now_ms = state.clock.now().as_millisecond();
    let holds = match (
        &settings.webhook_secret,
        header(&headers, "x-signature"),
        header(&headers, "x-timestamp"),
    ) {
        (Some(secret), Some(sig), Some(ts)) => {
            voice_ai::vapi_signature_holds(&body, secret.expose(), sig, ts, now_ms)
        }
        _ => false,
    };
    if !holds {
        return Err(forbidden());
    }
    let report = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| voice_ai::vapi_report(&v));
    finish(&state, &trunk, report).await
}

async fn retell_events(
    State(state): State<AppState>,
    Path(trunk_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let trunk = trunk(&state, &trunk_id, TrunkKind::Retell).await?;
    let TrunkSettings::Retell(settings) = &trunk.settings else {
        return Err(ApiError::not_found("trunk"));
    };
    let now_ms = state.clock.now().as_millisecond();
    let holds = match (&settings.api_key, header(&headers, "x-retell-signature")) {
        (Some(key), Some(sig)) => {
            voice_ai::retell_signature_holds(&body, key.expose(), sig, now_ms)
        }
        _ => false,
    };
    if !holds {
        return Err(forbidden());
    }
    let report = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| voice_ai::retell_report(&v));
    finish(&state, &trunk, report).await
}

/// Ends the call a verified report is about. The vendor's id is stored with the acceptance,
/// which is written in batches: a report that comes at once (a busy line) waits briefly for it.
async fn finish(
    state: &AppState,
    trunk: &Trunk,
    report: Option<CallReport>,
) -> Result<StatusCode, ApiError> {
    let Some(report) = report else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let outcome = OutcomeReport {
        outcome: report.outcome,
        duration_seconds: report.duration_seconds,
        notes: None,
        sip_code: None,
        sip_reason: None,
        recording: None,
        answered_by: None,
        disposition: None,
    };
    for wait in [0, 100, 200, 400, 800, 1500] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let finished = state
            .store
            .finish_provider_call(
                &trunk.account_id,
                &trunk.id,
                &report.provider_call_id,
                &outcome,
                &report.details,
                state.clock.now(),
                &Actor::System,
            )
            .await;
        match finished {
            Ok(ProviderFinish::Finished(cb)) => {
                tracing::info!(callback_id = %cb.id, trunk_id = %trunk.id, outcome = report.outcome.as_str(), "a provider's call ended");
                return Ok(StatusCode::NO_CONTENT);
            }
            Ok(ProviderFinish::AlreadyEnded) => return Ok(StatusCode::NO_CONTENT),
            Ok(ProviderFinish::NotFound) => continue,
            // Dispatched but not yet recorded as accepted: the acceptance is on its way.
            Err(ChangeError::InvalidState(_) | ChangeError::Conflict) => continue,
            Err(ChangeError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(ApiError::internal(&e)),
        }
    }
    Err(ApiError::not_found("call"))
}
