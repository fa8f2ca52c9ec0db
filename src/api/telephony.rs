//! What providers call back (outside `/v1`, without a bearer token):
//!
//! - `POST /telephony/twilio/{trunk_id}/status`: a `twilio_compatible` trunk's status
//!   callbacks. Each is verified with the trunk's credentials before anything in it is read
//!   (`X-Twilio-Signature` for Twilio and SignalWire, `telnyx-signature-ed25519` for Telnyx);
//!   unsigned or mis-signed requests get 403 and change nothing, an unknown trunk or call 404.
//!   Intermediate statuses change the call's leg state; a final one records the outcome.
//! - `GET /telephony/voicemail/{account_id}/{audio_id}?expires=&signature=`: the voicemail
//!   message a provider plays, at the signed, expiring URL the driver gave it.

use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::{
    app::AppState,
    domain::{
        AccountId, Actor, ErrorCode,
        ids::{AudioId, TrunkId},
        trunk::TrunkSettings,
        twilio::{self, CallProgress, Profile},
    },
    store::{ChangeError, OutcomeReport, ProviderCall},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/telephony/twilio/{trunk_id}/status", post(status_callback))
        .route(
            "/telephony/voicemail/{account_id}/{audio_id}",
            get(voicemail_audio),
        )
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "the request's signature is missing or wrong",
    )
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A verified callback's parameters, as name and value pairs.
fn parameters(headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
    let json =
        header_text(headers, "content-type").is_some_and(|ct| ct.starts_with("application/json"));
    if !json {
        return serde_urlencoded::from_bytes(body).ok();
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    // Telnyx wraps its payload in `data.payload`; a flat object is read as it is.
    let object = value["data"]["payload"]
        .as_object()
        .or_else(|| value.as_object())?;
    Some(
        object
            .iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.clone(), text))
            })
            .collect(),
    )
}

async fn status_callback(
    State(state): State<AppState>,
    Path(trunk_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let trunk_id = TrunkId::parse(&trunk_id).ok_or_else(|| ApiError::not_found("trunk"))?;
    let trunk = state
        .store
        .trunk_by_id(&trunk_id)
        .await?
        .ok_or_else(|| ApiError::not_found("trunk"))?;
    let TrunkSettings::TwilioCompatible(settings) = &trunk.settings else {
        return Err(ApiError::not_found("trunk"));
    };
    // Verified before anything in the body is read.
    let verified = match settings.profile {
        Profile::Twilio | Profile::SignalWire => {
            let signature = header_text(&headers, "x-twilio-signature")
                .or_else(|| header_text(&headers, "x-signalwire-signature"));
            let params: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&body).unwrap_or_default();
            signature.is_some_and(|sig| {
                twilio::twilio_signature_valid(
                    settings.token(),
                    &settings.status_callback(trunk_id.as_str()),
                    &params,
                    sig,
                )
            })
        }
        Profile::TelnyxTexml => {
            match (
                header_text(&headers, "telnyx-signature-ed25519"),
                header_text(&headers, "telnyx-timestamp"),
                &settings.public_key,
            ) {
                (Some(sig), Some(at), Some(key)) => twilio::telnyx_signature_valid(
                    key,
                    sig,
                    at,
                    &body,
                    state.clock.now().as_second(),
                ),
                _ => false,
            }
        }
    };
    if !verified {
        tracing::warn!(trunk_id = %trunk_id, "a status callback without a valid signature was refused");
        return Err(forbidden());
    }
    let params = parameters(&headers, &body).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "the callback's body could not be read",
        )
    })?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(sid) = param("CallSid") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MissingField,
            "CallSid is required",
        )
        .field("CallSid"));
    };
    let call = find_call(&state, &trunk.account_id, &trunk_id, sid)
        .await?
        .ok_or_else(|| ApiError::not_found("call"))?;
    if call.ended {
        return Ok(StatusCode::NO_CONTENT);
    }
    let answered_by = param("AnsweredBy");
    let mut details = serde_json::Map::new();
    for (name, key) in [
        ("CallStatus", "call_status"),
        ("AnsweredBy", "answered_by"),
        ("CallDuration", "call_duration"),
        ("SipResponseCode", "sip_response_code"),
        ("RecordingUrl", "recording_url"),
        ("RecordingSid", "recording_sid"),
        ("ErrorCode", "error_code"),
    ] {
        if let Some(v) = param(name) {
            details.insert(key.to_owned(), json!(v));
        }
    }
    let details = Value::Object(details);
    let stored_by = answered_by.map(twilio::answered_by);
    let drop = state
        .store
        .get_callback(&call.account_id, &call.callback_id)
        .await?
        .is_some_and(|cb| cb.amd == crate::domain::Amd::Drop);
    let earlier_by = answered_by.or(call.answered_by.as_deref());
    let progress = match param("CallStatus") {
        Some(status) => twilio::progress(status, earlier_by, drop),
        // An asynchronous AMD result carries no status.
        None => None,
    };
    match progress {
        Some(CallProgress::Ended(outcome)) => {
            state
                .store
                .update_provider_call(
                    &call.account_id,
                    &call.callback_id,
                    call.attempt,
                    Some("ended"),
                    stored_by,
                    &details,
                )
                .await?;
            let report = OutcomeReport {
                outcome,
                duration_seconds: param("CallDuration").and_then(|d| d.parse().ok()),
                notes: None,
                sip_code: param("SipResponseCode").and_then(|c| c.parse().ok()),
                // The provider's words are kept in `provider_details`.
                sip_reason: None,
                recording: None,
                answered_by: earlier_by.map(twilio::answered_by),
            };
            match state
                .store
                .record_outcome(
                    &call.account_id,
                    &call.callback_id,
                    &report,
                    state.clock.now(),
                    &Actor::System,
                )
                .await
            {
                Ok(_) | Err(ChangeError::InvalidState(_)) => {}
                Err(ChangeError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, callback_id = %call.callback_id, "a provider's outcome was not recorded");
                }
            }
        }
        Some(CallProgress::Leg(leg)) => {
            state
                .store
                .update_provider_call(
                    &call.account_id,
                    &call.callback_id,
                    call.attempt,
                    Some(leg),
                    stored_by,
                    &details,
                )
                .await?;
        }
        None => {
            state
                .store
                .update_provider_call(
                    &call.account_id,
                    &call.callback_id,
                    call.attempt,
                    None,
                    stored_by,
                    &details,
                )
                .await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The call the provider names, once its acceptance is stored: the first callbacks may arrive
/// while the scheduler's batch of acceptances is still being written.
async fn find_call(
    state: &AppState,
    account: &AccountId,
    trunk: &TrunkId,
    sid: &str,
) -> Result<Option<ProviderCall>, ApiError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let found = state.store.provider_call(account, trunk, sid).await?;
        match found {
            Some(call) if call.accepted => return Ok(Some(call)),
            _ if tokio::time::Instant::now() >= deadline => return Ok(None),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[derive(serde::Deserialize)]
struct Signed {
    expires: Option<i64>,
    signature: Option<String>,
}

async fn voicemail_audio(
    State(state): State<AppState>,
    Path((account, audio)): Path<(String, String)>,
    Query(signed): Query<Signed>,
) -> Result<Response, ApiError> {
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature) else {
        return Err(forbidden());
    };
    let account = AccountId::parse(&account).ok_or_else(forbidden)?;
    let path = format!("/telephony/voicemail/{account}/{audio}");
    let secret = state
        .store
        .signing_secret(&account)
        .await?
        .ok_or_else(forbidden)?;
    if !twilio::audio_signature_valid(
        &secret,
        &path,
        expires,
        &signature,
        state.clock.now().as_second(),
    ) {
        return Err(forbidden());
    }
    let audio = AudioId::parse(&audio).ok_or_else(|| ApiError::not_found("audio"))?;
    let wav = state
        .store
        .audio_content(&account, &audio)
        .await?
        .ok_or_else(|| ApiError::not_found("audio"))?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}
