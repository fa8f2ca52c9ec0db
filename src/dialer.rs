//! The dialer bridge: the HTTP endpoint that places calls through a customer's telephony.
//!
//! A dispatch is a JSON POST of the callback with an `Idempotency-Key` header of
//! `<callback id>:<attempt>`. A bridge must treat a repeated key as the same call: Ringback
//! re-sends a dispatch whose answer it never recorded (a crash, a lease taken over), and retries
//! refused ones, always with the key of the attempt.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::Semaphore;
use url::Url;

use crate::{
    background::finish_response,
    domain::{Callback, SigningSecret},
    store::Claimed,
};

/// What the bridge answered.
#[derive(Debug, Clone)]
pub enum BridgeAnswer {
    Accepted { status: u16 },
    Refused { status: u16, reason: String },
    Unreachable { reason: String },
}

#[derive(Clone)]
pub struct DialerBridge {
    client: reqwest::Client,
    url: Option<Url>,
    public_url: Url,
    /// Requests that may be open at once.
    requests: Arc<Semaphore>,
}

/// The body of a dispatch.
#[derive(Debug, Serialize)]
pub struct DispatchPayload<'a> {
    pub callback_id: &'a str,
    pub account_id: &'a str,
    pub attempt: u32,
    pub idempotency_key: String,
    pub resend: bool,
    pub phone: &'a str,
    pub contact_name: Option<&'a str>,
    pub caller_id: Option<&'a str>,
    pub dialing_mode: &'static str,
    pub scheduled_at: String,
    pub timezone: &'a str,
    pub due_at: String,
    pub max_duration_seconds: u32,
    pub recording_enabled: bool,
    pub initial_message: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub interaction_id: Option<&'a str>,
    pub metadata: Option<&'a serde_json::Map<String, serde_json::Value>>,
    pub assignment: Option<&'a crate::domain::Assignment>,
    /// Where the bridge reports what happened on the call.
    pub outcome_url: String,
}

impl DialerBridge {
    /// A bridge client holding at most `max_requests` requests (and so connections) open at
    /// once: dispatches falling due together queue for a connection instead of opening
    /// thousands at the same instant.
    pub fn new(url: Option<Url>, public_url: Url, timeout: Duration, max_requests: usize) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1024)
            .user_agent(concat!("ringback/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            client,
            url,
            public_url,
            requests: Arc::new(Semaphore::new(max_requests.max(1))),
        }
    }

    pub fn is_configured(&self) -> bool {
        self.url.is_some()
    }

    pub fn payload<'a>(&self, cb: &'a Callback, resend: bool) -> DispatchPayload<'a> {
        let mut outcome_url = self.public_url.clone();
        outcome_url.set_path(&format!("/v1/callbacks/{}/outcome", cb.id));
        DispatchPayload {
            callback_id: cb.id.as_str(),
            account_id: cb.account_id.as_str(),
            attempt: cb.attempt,
            idempotency_key: cb.idempotency_key(),
            resend,
            phone: cb.phone.as_str(),
            contact_name: cb.contact_name.as_deref(),
            caller_id: cb.caller_id.as_ref().map(|p| p.as_str()),
            dialing_mode: cb.dialing_mode.as_str(),
            scheduled_at: cb.scheduled_at.to_string(),
            timezone: cb.timezone.name(),
            due_at: cb.due_at.to_string(),
            max_duration_seconds: cb.max_duration_seconds,
            recording_enabled: cb.recording_enabled,
            initial_message: cb.initial_message.as_deref(),
            notes: cb.notes.as_deref(),
            interaction_id: cb.interaction_id.as_deref(),
            metadata: cb.metadata.as_ref(),
            assignment: cb.assignment.as_ref(),
            outcome_url: outcome_url.to_string(),
        }
    }

    /// Sends one dispatch and classifies the answer. Never panics, never retries by itself.
    /// With the account's signing secret, the request carries Standard Webhooks headers
    /// (`webhook-id` is the idempotency key, `webhook-timestamp` is `now`, read by the caller
    /// from its clock).
    pub async fn dispatch(
        &self,
        claimed: &Claimed,
        secret: Option<&SigningSecret>,
        now: Timestamp,
    ) -> BridgeAnswer {
        let Some(url) = &self.url else {
            return BridgeAnswer::Unreachable {
                reason: "no dialer bridge is configured (--dialer-url)".to_owned(),
            };
        };
        let cb = &claimed.callback;
        let payload = self.payload(cb, claimed.resend);
        let body = match serde_json::to_vec(&payload) {
            Ok(body) => body,
            Err(_) => {
                return BridgeAnswer::Unreachable {
                    reason: "could not encode the dispatch".to_owned(),
                };
            }
        };
        let key = cb.idempotency_key();
        let mut request = self
            .client
            .post(url.clone())
            .header("Idempotency-Key", &key)
            .header("content-type", "application/json");
        if let Some(secret) = secret {
            let timestamp = now.as_second();
            request = request
                .header("webhook-id", &key)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", secret.sign(&key, timestamp, &body));
        }
        let Ok(_slot) = self.requests.acquire().await else {
            return BridgeAnswer::Unreachable {
                reason: "the bridge client is shut down".to_owned(),
            };
        };
        let result = request.body(body).send().await;
        match result {
            Ok(resp) => {
                let status = resp.status();
                finish_response(resp).await;
                if status.is_success() {
                    BridgeAnswer::Accepted {
                        status: status.as_u16(),
                    }
                } else {
                    BridgeAnswer::Refused {
                        status: status.as_u16(),
                        reason: format!("bridge answered {status}"),
                    }
                }
            }
            Err(e) if e.is_timeout() => BridgeAnswer::Unreachable {
                reason: "bridge did not answer in time".to_owned(),
            },
            Err(e) if e.is_connect() => BridgeAnswer::Unreachable {
                reason: "could not connect to the bridge".to_owned(),
            },
            Err(_) => BridgeAnswer::Unreachable {
                reason: "request to the bridge failed".to_owned(),
            },
        }
    }
}
