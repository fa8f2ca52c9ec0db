//! The inbound callback-instead-of-hold flow of a `twilio_compatible` trunk, outside `/v1` and
//! without a bearer token: set `{status_callback_base}/telephony/twilio/{trunk_id}/inbound` as
//! the number's "A call comes in" webhook and callers hear the wait of the trunk's
//! `inbound_queue_id` and may press 1 to be called back, keeping their place.
//!
//! - `POST /telephony/twilio/{trunk_id}/inbound`: verified with the trunk's credentials before
//!   anything else is read (as status callbacks, `api::telephony`); answers the TwiML of
//!   `domain::queue_ivr::offer`, whose `<Gather>` posts the digit to the choice route with the
//!   instant the call came in, signed with the account's signing secret.
//! - `POST /telephony/twilio/{trunk_id}/inbound/choice`: verified the same way, then the
//!   `since` signature; on `1` the caller's `From` number gets a queue callback with
//!   `queued_since` = `since` (`api::queue_callbacks`, the one create path), and the answer
//!   says so and hangs up. Any other digit, or none: the trunk's `inbound_redirect_url`, else a
//!   polite goodbye.

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Uri, header},
    response::{IntoResponse, Response},
    routing::post,
};
use jiff::Timestamp;

use super::{
    error::ApiError,
    queue_callbacks::{QueueCallbackInput, QueueState, named_queue, prepare_queue_callback},
    telephony::{forbidden, parameters, provider_trunk, signed},
};
use crate::{
    app::AppState,
    domain::{
        Actor, Principal, Scope,
        queue_ivr::{self, Otherwise},
        queue_wait::check_queued_since,
        trunk::{Trunk, TrunkSettings},
        twilio::TwilioSettings,
    },
    store::InsertOutcome,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/telephony/twilio/{trunk_id}/inbound", post(inbound_call))
        .route(
            "/telephony/twilio/{trunk_id}/inbound/choice",
            post(inbound_choice),
        )
}

fn twiml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// The path of the choice route of `trunk_id`.
fn choice_path(trunk_id: &str) -> String {
    format!("/telephony/twilio/{trunk_id}/inbound/choice")
}

fn otherwise(settings: &TwilioSettings) -> Otherwise<'_> {
    match &settings.inbound_redirect_url {
        Some(url) => Otherwise::Redirect(url),
        None => Otherwise::Goodbye,
    }
}

/// The trunk's `twilio_compatible` settings (a trunk of another kind is not found).
fn settings_of(trunk: &Trunk) -> Result<&TwilioSettings, ApiError> {
    match &trunk.settings {
        TrunkSettings::TwilioCompatible(s) => Ok(s),
        _ => Err(ApiError::not_found("trunk")),
    }
}

/// A call to the trunk's number: the wait, and the choice of a callback.
async fn inbound_call(
    State(state): State<AppState>,
    Path(trunk_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (trunk, trunk_id) = provider_trunk(&state, &trunk_id).await?;
    let settings = settings_of(&trunk)?;
    // Verified before anything in the request is read.
    let url = settings.inbound_webhook(trunk_id.as_str());
    if !signed(&state, settings, &url, &headers, &body) {
        tracing::warn!(trunk_id = %trunk_id, "an inbound call without a valid signature was refused");
        return Err(forbidden());
    }
    let Some(queue_id) = &settings.inbound_queue_id else {
        return Ok(twiml(queue_ivr::unavailable(otherwise(settings))));
    };
    let Ok(queue) = named_queue(&state, &trunk.account_id, queue_id.as_str()).await else {
        return Ok(twiml(queue_ivr::unavailable(otherwise(settings))));
    };
    let now = state.clock.now();
    let line = QueueState::read(&state, queue, now).await?;
    let wait = line.wait_at(line.place(&line.next(now)));
    // The instant the call came in travels with the choice, signed.
    let path = choice_path(trunk_id.as_str());
    let since = now.as_millisecond();
    let mut choice_url = format!("{}{path}", settings.status_callback_base);
    if let Some(secret) = state.store.signing_secret(&trunk.account_id).await? {
        let sig = queue_ivr::since_signature(&secret, &path, since);
        choice_url.push_str(&format!("?since={since}&sig={sig}"));
    }
    Ok(twiml(queue_ivr::offer(
        wait,
        &choice_url,
        otherwise(settings),
    )))
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<i64>,
    sig: Option<String>,
}

/// The caller's digit: 1 makes a queue callback to their number.
async fn inbound_choice(
    State(state): State<AppState>,
    Path(trunk_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (trunk, trunk_id) = provider_trunk(&state, &trunk_id).await?;
    let settings = settings_of(&trunk)?;
    // The provider signs the URL it posted to, query included.
    let path = choice_path(trunk_id.as_str());
    let mut url = format!("{}{path}", settings.status_callback_base);
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    if !signed(&state, settings, &url, &headers, &body) {
        tracing::warn!(trunk_id = %trunk_id, "an inbound choice without a valid signature was refused");
        return Err(forbidden());
    }
    let now = state.clock.now();
    let given: Since =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).map_err(|_| forbidden())?;
    let since = match (given.since, given.sig) {
        (None, None) => now,
        (Some(since), Some(sig)) => {
            let secret = state
                .store
                .signing_secret(&trunk.account_id)
                .await?
                .ok_or_else(forbidden)?;
            if !queue_ivr::since_signature_valid(&secret, &path, since, &sig) {
                return Err(forbidden());
            }
            Timestamp::from_millisecond(since).map_err(|_| forbidden())?
        }
        _ => return Err(forbidden()),
    };
    let params = parameters(&headers, &body).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    if param("Digits").as_deref() != Some("1") {
        return Ok(twiml(queue_ivr::otherwise(otherwise(settings))));
    }
    let unavailable = || Ok(twiml(queue_ivr::unavailable(otherwise(settings))));
    let (Some(queue_id), Some(from)) = (&settings.inbound_queue_id, param("From")) else {
        return unavailable();
    };
    let Ok(queue) = named_queue(&state, &trunk.account_id, queue_id.as_str()).await else {
        return unavailable();
    };
    // A call older than the queue keeps places for starts its place now.
    let queued_since = check_queued_since(since, now, "since").unwrap_or(now);
    let caller = Principal {
        account_id: trunk.account_id.clone(),
        actor: Actor::System,
        scopes: vec![Scope::CallbacksWrite],
    };
    let input = QueueCallbackInput {
        phone: from,
        contact_name: None,
        queued_since,
        notes: param("CallSid").map(|sid| format!("Asked to be called back on call {sid}")),
        allow_duplicate: false,
    };
    let made = match prepare_queue_callback(&state, &caller, queue, input, now).await {
        Ok(made) => made,
        // The number cannot be called back (withheld, not a number, ...).
        Err(e) if e.status.is_client_error() => {
            tracing::info!(trunk_id = %trunk_id, code = e.code.as_str(), "an inbound caller could not be offered a callback");
            return unavailable();
        }
        Err(e) => return Err(e),
    };
    match state
        .store
        .insert_callback(&made.callback, false, None, &caller.actor)
        .await?
    {
        InsertOutcome::Inserted => {
            tracing::info!(trunk_id = %trunk_id, callback_id = %made.callback.id, "an inbound caller asked to be called back");
            Ok(twiml(queue_ivr::confirmed(
                made.view.estimated_wait_seconds,
            )))
        }
        // They already have one waiting: it keeps its place.
        InsertOutcome::Duplicate { .. } | InsertOutcome::Replayed(_) => {
            Ok(twiml(queue_ivr::confirmed(None)))
        }
    }
}
