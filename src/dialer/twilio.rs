//! The `twilio_compatible` driver: places a call with one `POST .../Accounts/{sid}/Calls.json`
//! to Twilio, SignalWire or Telnyx TeXML (the trunk's `profile`), carrying the TwiML the call
//! runs once answered. The provider's `CallSid` is returned with the acceptance, which the
//! scheduler stores with it; what happens on the call arrives later as status callbacks
//! (`api::telephony`).
//!
//! Never dials twice: a resend (the previous request of the attempt may have reached the
//! provider before a crash) first looks the call up (`GET Calls.json?To=&StartTime>=`) and
//! adopts it. A provider refusing the trunk's credentials (401/403) marks the trunk `failing`
//! (with a `trunk.failing` event); its calls are refused, so they wait and are tried again
//! with the scheduler's backoff, and the first call that goes through clears it.

use std::{collections::HashSet, sync::Arc, sync::Mutex, time::Duration};

use jiff::Timestamp;
use serde_json::Value;

use super::{CallOrder, Driver, Party, Placement};
use serde_json::json;

use crate::{
    clock::SharedClock,
    domain::{
        Actor, Amd, Callback, DialingMode, SigningSecret,
        ids::{AudioId, TrunkId},
        trunk::{Trunk, TrunkSettings},
        twilio::{self, CallProgress, Profile, Script, TwilioSettings},
    },
    store::{ChangeError, OutcomeReport, ProviderCall, Store, StoreError},
};

/// How long a signed voicemail URL stays valid: long enough for the longest ring and greeting.
const AUDIO_URL_TTL_SECONDS: i64 = 3600;
/// The ring timeout a call is given when its callback names none (`Timeout`).
const DEFAULT_RING: Duration = Duration::from_secs(30);
/// The carrier's message kept on a failing trunk, at most.
const MAX_REASON: usize = 500;

pub struct TwilioDriver {
    client: reqwest::Client,
    store: Arc<dyn Store>,
    /// Trunks this node marked failing, cleared by their next call that goes through (the
    /// trunk cache may still show them as they were).
    failing: Mutex<HashSet<TrunkId>>,
}

impl TwilioDriver {
    pub fn new(store: Arc<dyn Store>, timeout: Duration) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("an HTTP client can be built"),
            store,
            failing: Mutex::default(),
        }
    }

    fn request(
        &self,
        s: &TwilioSettings,
        method: reqwest::Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match s.profile {
            Profile::TelnyxTexml => request.bearer_auth(s.token()),
            Profile::Twilio | Profile::SignalWire => {
                request.basic_auth(&s.account_sid, Some(s.token()))
            }
        }
    }

    /// A call placed to `cb`'s number by an earlier request of this attempt, if the provider
    /// has one: its `CallSid`.
    async fn find_placed(
        &self,
        s: &TwilioSettings,
        cb: &Callback,
    ) -> Result<Option<String>, String> {
        let since = cb
            .due_at
            .checked_sub(jiff::SignedDuration::from_hours(24))
            .unwrap_or(cb.due_at);
        let date = since.strftime("%Y-%m-%d").to_string();
        let resp = self
            .request(s, reqwest::Method::GET, &s.calls_url())
            .query(&[("To", cb.phone.as_str()), ("StartTime>", date.as_str())])
            .send()
            .await
            .map_err(|e| format!("looking up an earlier call failed: {}", e.without_url()))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!(
                "looking up an earlier call: the provider answered {status}"
            ));
        }
        let from = cb.caller_id.as_ref().unwrap_or(&s.caller_id).as_str();
        let found = body["calls"].as_array().into_iter().flatten().find(|call| {
            call["to"].as_str() == Some(cb.phone.as_str())
                && call["from"].as_str().is_none_or(|f| f == from)
                && call["date_created"]
                    .as_str()
                    .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
                    .is_none_or(|created| created.timestamp() >= since)
        });
        Ok(found.and_then(call_sid))
    }

    /// The voicemail audio of `cb`'s campaign playbook, if it has one.
    async fn voicemail_audio(&self, cb: &Callback) -> Option<AudioId> {
        let campaign = cb.campaign_id.as_ref()?;
        let (campaign, _) = self
            .store
            .get_campaign(&cb.account_id, campaign)
            .await
            .ok()??;
        self.store
            .get_playbook(&cb.account_id, &campaign.playbook_id)
            .await
            .ok()??
            .voicemail_audio_id
    }

    /// What the answered call runs, or why it cannot be placed.
    async fn script(&self, order: &CallOrder<'_>, s: &TwilioSettings) -> Result<String, Placement> {
        let cb = &order.claimed.callback;
        let refuse = |reason: String| Placement::Refused {
            status: None,
            reason,
        };
        if cb.amd == Amd::Drop {
            let Some(audio) = self.voicemail_audio(cb).await else {
                return Ok(Script::Hangup.twiml());
            };
            let Some(secret) = order.secret else {
                return Err(refuse(
                    "the account has no signing secret to sign the voicemail URL".into(),
                ));
            };
            let url = voicemail_url(s, secret, cb, &audio, order.now);
            return Ok(Script::Play { url: &url }.twiml());
        }
        let message = cb.initial_message.as_deref();
        Ok(match (cb.dialing_mode, &order.connect) {
            (DialingMode::Ai, _) if s.ai_stream_url.is_some() => Script::Stream {
                url: s.ai_stream_url.as_deref().unwrap_or_default(),
                initial_message: message,
            }
            .twiml(),
            (DialingMode::Ai, Some(c)) if c.party == Party::Ai => Script::Sip {
                uri: c.uri.as_str(),
                initial_message: message,
            }
            .twiml(),
            (DialingMode::Ai, _) => {
                return Err(refuse(
                    "an ai call on a twilio_compatible trunk needs the trunk's ai_stream_url or \
                     the account's ai_sip_uri"
                        .into(),
                ));
            }
            (DialingMode::Progressive | DialingMode::Preview, Some(c)) => Script::Sip {
                uri: c.uri.as_str(),
                initial_message: None,
            }
            .twiml(),
            (DialingMode::Progressive | DialingMode::Preview, None) => {
                return Err(refuse(format!(
                    "a {} call on a twilio_compatible trunk connects the customer to the \
                     reserved agent's sip_uri, and there is none",
                    cb.dialing_mode.as_str()
                )));
            }
            _ => match message {
                Some(text) => Script::Say { text }.twiml(),
                None => Script::Hangup.twiml(),
            },
        })
    }

    async fn accepted(&self, trunk: &Trunk, status: u16, sid: String) -> Placement {
        let was_marked = self.failing.lock().expect("not poisoned").remove(&trunk.id);
        if (was_marked || trunk.failing.is_some())
            && let Err(e) = self
                .store
                .clear_trunk_failing(&trunk.account_id, &trunk.id)
                .await
        {
            tracing::warn!(error = %e, trunk_id = %trunk.id, "clearing a failing trunk failed");
        }
        Placement::Accepted {
            status: Some(status),
            provider_call_id: Some(sid),
        }
    }

    async fn refused_credentials(
        &self,
        trunk: &Trunk,
        status: u16,
        message: String,
        now: Timestamp,
    ) -> Placement {
        let reason = format!("the provider refused the trunk's credentials ({status}): {message}");
        match self
            .store
            .mark_trunk_failing(&trunk.account_id, &trunk.id, &reason, now)
            .await
        {
            Ok(true) => {
                tracing::warn!(trunk_id = %trunk.id, status, "the provider refused the trunk's credentials: it is failing");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, trunk_id = %trunk.id, "marking a failing trunk failed")
            }
        }
        self.failing
            .lock()
            .expect("not poisoned")
            .insert(trunk.id.clone());
        Placement::Refused {
            status: Some(status),
            reason,
        }
    }
}

/// Applies what a provider reported about one of its calls (a verified status callback's
/// parameters, or the call read back by [`sweep_unfinished_calls`]) to its attempt: an
/// intermediate status changes the leg state, a final one records the outcome.
pub async fn apply_status(
    store: &Arc<dyn Store>,
    call: &ProviderCall,
    params: &[(String, String)],
    now: Timestamp,
) -> Result<(), StoreError> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
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
    let drop = store
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
            store
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
                disposition: None,
            };
            match store
                .record_outcome(
                    &call.account_id,
                    &call.callback_id,
                    &report,
                    now,
                    &Actor::System,
                )
                .await
            {
                Ok(_) | Err(ChangeError::InvalidState(_)) => {}
                Err(ChangeError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, callback_id = %call.callback_id, "a provider's outcome was not recorded");
                }
            }
        }
        Some(CallProgress::Leg(leg)) => {
            store
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
            store
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
    Ok(())
}

/// Ends the calls whose end the provider never reported (a status callback lost, Ringback
/// unreachable): every period, the calls past their latest possible end plus `grace`
/// (`Store::unfinished_provider_calls`) are read back from their provider
/// (`GET .../Calls/{sid}.json`) and what it says is applied as if it had called back. Runs
/// until the driver is dropped.
pub async fn sweep_unfinished_calls(
    driver: std::sync::Weak<TwilioDriver>,
    clock: SharedClock,
    grace: Duration,
) {
    let period = grace.clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(driver) = driver.upgrade() else {
            return;
        };
        let now = clock.now();
        let unfinished = match driver
            .store
            .unfinished_provider_calls(DEFAULT_RING, grace, now, 100)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "looking for unfinished provider calls failed");
                continue;
            }
        };
        for found in unfinished {
            let call = &found.call;
            let trunk = match driver
                .store
                .get_trunk(&call.account_id, &found.trunk_id)
                .await
            {
                Ok(Some(trunk)) => trunk,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "reading a trunk failed");
                    continue;
                }
            };
            let TrunkSettings::TwilioCompatible(s) = &trunk.settings else {
                continue;
            };
            let url = format!(
                "{}/Accounts/{}/Calls/{}.json",
                s.api_root(),
                s.account_sid,
                found.provider_call_id
            );
            let resp = match driver.request(s, reqwest::Method::GET, &url).send().await {
                Ok(resp) if resp.status().is_success() => resp,
                Ok(resp) => {
                    tracing::warn!(callback_id = %call.callback_id, status = %resp.status(), "the provider did not show an unfinished call");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(callback_id = %call.callback_id, error = %e.without_url(), "reading an unfinished call failed");
                    continue;
                }
            };
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let body = if body["data"].is_object() {
                &body["data"]
            } else {
                &body
            };
            let mut params = Vec::new();
            for (field, name) in [
                ("status", "CallStatus"),
                ("answered_by", "AnsweredBy"),
                ("duration", "CallDuration"),
            ] {
                let value = match &body[field] {
                    Value::String(v) => v.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                params.push((name.to_owned(), value));
            }
            if let Err(e) = apply_status(&driver.store, call, &params, now).await {
                tracing::warn!(callback_id = %call.callback_id, error = %e, "applying an unfinished call's status failed");
            }
        }
    }
}

/// The signed, expiring URL the provider fetches a voicemail message from.
pub fn voicemail_url(
    s: &TwilioSettings,
    secret: &SigningSecret,
    cb: &Callback,
    audio: &AudioId,
    now: Timestamp,
) -> String {
    let path = format!("/telephony/voicemail/{}/{}", cb.account_id, audio);
    let expires = now.as_second() + AUDIO_URL_TTL_SECONDS;
    let signature = twilio::audio_signature(secret, &path, expires);
    format!(
        "{}{path}?expires={expires}&signature={signature}",
        s.status_callback_base
    )
}

fn call_sid(body: &Value) -> Option<String> {
    ["sid", "call_sid"]
        .iter()
        .find_map(|k| body[*k].as_str())
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .map(str::to_owned)
}

/// The provider's own words about a refusal, kept short.
fn provider_message(body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = parsed["message"]
        .as_str()
        .or_else(|| parsed["errors"][0]["detail"].as_str())
        .or_else(|| parsed["detail"].as_str())
        .map_or_else(|| body.trim().to_owned(), str::to_owned);
    text.chars().take(MAX_REASON).collect()
}

#[async_trait::async_trait]
impl Driver for TwilioDriver {
    async fn place(&self, order: &CallOrder<'_>) -> Placement {
        let Some(trunk) = order.trunk else {
            return Placement::Unreachable {
                reason: "a twilio_compatible call needs its trunk".into(),
            };
        };
        let TrunkSettings::TwilioCompatible(s) = &trunk.settings else {
            return Placement::Unreachable {
                reason: "not a twilio_compatible trunk".into(),
            };
        };
        let cb = &order.claimed.callback;
        if order.claimed.resend {
            match self.find_placed(s, cb).await {
                Ok(Some(sid)) => {
                    tracing::info!(callback_id = %cb.id, "a resend found the call already placed: adopted");
                    return self.accepted(trunk, 200, sid).await;
                }
                Ok(None) => {}
                Err(reason) => return Placement::Unreachable { reason },
            }
        }
        let twiml = match self.script(order, s).await {
            Ok(twiml) => twiml,
            Err(refusal) => return refusal,
        };
        let status_url = s.status_callback(trunk.id.as_str());
        let from = cb
            .caller_id
            .as_ref()
            .unwrap_or(&s.caller_id)
            .as_str()
            .to_owned();
        let mut params: Vec<(&str, String)> = vec![
            ("To", cb.phone.as_str().to_owned()),
            ("From", from),
            (
                "Timeout",
                cb.ring_timeout_seconds
                    .unwrap_or(30)
                    .clamp(5, 600)
                    .to_string(),
            ),
            ("TimeLimit", cb.max_duration_seconds.max(1).to_string()),
            ("Record", cb.recording_enabled.to_string()),
            ("StatusCallback", status_url.clone()),
            ("StatusCallbackMethod", "POST".into()),
            ("Twiml", twiml),
        ];
        match cb.amd {
            Amd::Off => {}
            Amd::Detect => {
                params.push(("MachineDetection", "Enable".into()));
                params.push(("AsyncAmd", "true".into()));
                params.push(("AsyncAmdStatusCallback", status_url.clone()));
            }
            // The message is played once the greeting has ended.
            Amd::Drop => params.push(("MachineDetection", "DetectMessageEnd".into())),
        }
        const EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];
        let request = self.request(s, reqwest::Method::POST, &s.calls_url());
        let request = match s.profile {
            Profile::TelnyxTexml => {
                let mut body: serde_json::Map<String, Value> = params
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), Value::String(v)))
                    .collect();
                body.insert(
                    "StatusCallbackEvent".into(),
                    Value::String(EVENTS.join(" ")),
                );
                body.insert(
                    "ApplicationSid".into(),
                    Value::String(s.application_sid.clone().unwrap_or_default()),
                );
                request.json(&body)
            }
            Profile::Twilio | Profile::SignalWire => {
                for event in EVENTS {
                    params.push(("StatusCallbackEvent", event.into()));
                }
                let body = serde_urlencoded::to_string(&params).unwrap_or_default();
                request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
        };
        let resp = match request.send().await {
            Ok(resp) => resp,
            Err(e) => {
                return Placement::Unreachable {
                    reason: format!("the provider could not be reached: {}", e.without_url()),
                };
            }
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let body = if body["data"].is_object() {
                &body["data"]
            } else {
                &body
            };
            return match call_sid(body) {
                Some(sid) => self.accepted(trunk, status.as_u16(), sid).await,
                None => Placement::Refused {
                    status: Some(status.as_u16()),
                    reason: "the provider's answer carries no call sid".into(),
                },
            };
        }
        let message = provider_message(&text);
        if matches!(status.as_u16(), 401 | 403) {
            return self
                .refused_credentials(trunk, status.as_u16(), message, order.now)
                .await;
        }
        Placement::Refused {
            status: Some(status.as_u16()),
            reason: format!("the provider answered {status}: {message}"),
        }
    }
}
