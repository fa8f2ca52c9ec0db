//! What providers call back (outside `/v1`, without a bearer token):
//!
//! - `POST /telephony/twilio/{trunk_id}/status`: a `twilio_compatible` trunk's status
//!   callbacks. Each is verified with the trunk's credentials before anything in it is read
//!   (`X-Twilio-Signature` for Twilio and SignalWire, `telnyx-signature-ed25519` for Telnyx);
//!   unsigned or mis-signed requests get 403 and change nothing, an unknown trunk or call 404.
//!   Intermediate statuses change the call's leg state; a final one records the outcome.
//! - `POST /telephony/twilio/{trunk_id}/sms`: texts to the trunk's number, verified the same
//!   way; a `STOP` revokes the sender's consent and cancels what is pending to it.
//! - `POST /telephony/twilio/{trunk_id}/inbound` (and `.../inbound/choice`): the inbound
//!   callback-instead-of-hold flow, verified the same way ([`super::queue_ivr`]).
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
use serde_json::Value;

use super::error::ApiError;
use crate::{
    app::AppState,
    domain::{
        AccountId, Actor, ErrorCode, PhoneNumber,
        consent::{Consent, ConsentScope, is_stop_word},
        ids::{AudioId, TrunkId},
        trunk::{Trunk, TrunkSettings},
        twilio::{self, Profile, TwilioSettings},
    },
    store::ProviderCall,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/telephony/twilio/{trunk_id}/status", post(status_callback))
        .route("/telephony/twilio/{trunk_id}/sms", post(inbound_sms))
        .route(
            "/telephony/voicemail/{account_id}/{audio_id}",
            get(voicemail_audio),
        )
        .merge(super::queue_ivr::routes())
}

pub(super) fn forbidden() -> ApiError {
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
pub(super) fn parameters(headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
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

/// The `twilio_compatible` trunk a callback names, and its settings.
pub(super) async fn provider_trunk(
    state: &AppState,
    trunk_id: &str,
) -> Result<(Trunk, TrunkId), ApiError> {
    let trunk_id = TrunkId::parse(trunk_id).ok_or_else(|| ApiError::not_found("trunk"))?;
    let trunk = state
        .store
        .provider_trunk(&trunk_id)
        .await?
        .ok_or_else(|| ApiError::not_found("trunk"))?;
    match &trunk.settings {
        TrunkSettings::TwilioCompatible(_) => Ok((trunk, trunk_id)),
        _ => Err(ApiError::not_found("trunk")),
    }
}

/// Is this request signed by the trunk's provider, for `url` (where the provider sent it)?
pub(super) fn signed(
    state: &AppState,
    settings: &TwilioSettings,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> bool {
    match settings.profile {
        Profile::Twilio | Profile::SignalWire => {
            let signature = header_text(headers, "x-twilio-signature")
                .or_else(|| header_text(headers, "x-signalwire-signature"));
            let params: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).unwrap_or_default();
            signature.is_some_and(|sig| {
                twilio::twilio_signature_valid(settings.token(), url, &params, sig)
            })
        }
        Profile::TelnyxTexml => {
            match (
                header_text(headers, "telnyx-signature-ed25519"),
                header_text(headers, "telnyx-timestamp"),
                &settings.public_key,
            ) {
                (Some(sig), Some(at), Some(key)) => twilio::telnyx_signature_valid(
                    key,
                    sig,
                    at,
                    body,
                    state.clock.now().as_second(),
                ),
                _ => false,
            }
        }
    }
}

async fn status_callback(
    State(state): State<AppState>,
    Path(trunk_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (trunk, trunk_id) = provider_trunk(&state, &trunk_id).await?;
    let TrunkSettings::TwilioCompatible(settings) = &trunk.settings else {
        return Err(ApiError::not_found("trunk"));
    };
    // Verified before anything in the body is read.
    let url = settings.status_callback(trunk_id.as_str());
    if !signed(&state, settings, &url, &headers, &body) {
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
    crate::dialer::twilio::apply_status(&state.store, &call, &params, state.clock.now()).await?;
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

/// An inbound text on the trunk's number, verified like a status callback. A stop word
/// (`STOP`, `UNSUBSCRIBE`, ...) revokes every consent of the sender's number and cancels what is
/// pending to it, in one transaction; other texts are ignored. Answers empty TwiML (the
/// carrier sends its own opt-out confirmation).
async fn inbound_sms(
    State(state): State<AppState>,
    Path(trunk_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (trunk, trunk_id) = provider_trunk(&state, &trunk_id).await?;
    let TrunkSettings::TwilioCompatible(settings) = &trunk.settings else {
        return Err(ApiError::not_found("trunk"));
    };
    let url = settings.messaging_webhook(trunk_id.as_str());
    if !signed(&state, settings, &url, &headers, &body) {
        tracing::warn!(trunk_id = %trunk_id, "an inbound text without a valid signature was refused");
        return Err(forbidden());
    }
    let params = parameters(&headers, &body).unwrap_or_default();
    let param = |names: &[&str]| {
        params
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
    };
    // Telnyx nests the sender: `data.payload.from.phone_number`.
    let from = param(&["From"]).or_else(|| {
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            v["data"]["payload"]["from"]["phone_number"]
                .as_str()
                .map(str::to_owned)
        })
    });
    let text = param(&["Body", "text"]).unwrap_or_default();
    if is_stop_word(&text)
        && let Some(phone) = from.and_then(|f| PhoneNumber::parse(&f, "From").ok())
    {
        let now = state.clock.now();
        let consents: Vec<Consent> = ConsentScope::ALL
            .into_iter()
            .map(|scope| Consent {
                account_id: trunk.account_id.clone(),
                phone: phone.clone(),
                scope,
                granted: false,
                source: "sms_stop".to_owned(),
                captured_at: now,
                evidence: Some(text.trim().to_owned()),
                updated_at: now,
            })
            .collect();
        let canceled = state
            .store
            .record_consents(&consents, &Actor::System)
            .await?;
        tracing::info!(trunk_id = %trunk_id, canceled = canceled.len(), "a STOP text revoked consent");
    }
    Ok((
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response())
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
