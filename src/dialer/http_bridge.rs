//! The `http_bridge` driver: the operator's HTTP endpoint that places calls through their
//! telephony (an `http_bridge` trunk's `url`, else the server's `--dialer-url`).
//!
//! A dispatch is a JSON POST of the callback with an `Idempotency-Key` header of
//! `<callback id>:<attempt>`. A bridge must treat a repeated key as the same call: Ringback
//! re-sends a dispatch whose answer it never recorded (a crash, a lease taken over), and retries
//! refused ones, always with the key of the attempt.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use tokio::sync::Semaphore;
use url::Url;

use super::{CallOrder, Driver, Placement};
use crate::{
    background::finish_response,
    domain::{Callback, DialingMode, trunk::TrunkSettings},
};

#[derive(Clone)]
pub struct HttpBridge {
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
    /// The trunk the call goes out on, when it is an `http_bridge` trunk (absent for the
    /// server's `--dialer-url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_id: Option<&'a str>,
    /// The agent reserved for a `progressive` call: the bridge connects the answered
    /// customer to them (at `agent_sip_uri`, when the agent has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_sip_uri: Option<&'a str>,
    /// Where the bridge reports what happened on the call.
    pub outcome_url: String,
}

impl HttpBridge {
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

    /// Whether calls without a trunk have somewhere to go (`--dialer-url`).
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
            trunk_id: None,
            agent_id: (cb.dialing_mode == DialingMode::Progressive)
                .then(|| cb.agent_id.as_ref().map(|a| a.as_str()))
                .flatten(),
            agent_sip_uri: None,
            outcome_url: outcome_url.to_string(),
        }
    }

    /// Sends one dispatch and classifies the answer. Never panics, never retries by itself.
    /// With the account's signing secret, the request carries Standard Webhooks headers
    /// (`webhook-id` is the idempotency key, `webhook-timestamp` is `now`, read by the caller
    /// from its clock).
    async fn dispatch(&self, order: &CallOrder<'_>) -> Placement {
        let url = match order.trunk.map(|t| &t.settings) {
            Some(TrunkSettings::HttpBridge { url }) => match Url::parse(url.as_str()) {
                Ok(url) => url,
                Err(_) => {
                    return Placement::Unreachable {
                        reason: "the trunk's bridge URL does not parse".to_owned(),
                    };
                }
            },
            Some(_) => {
                return Placement::Unreachable {
                    reason: "the trunk is not an http_bridge trunk".to_owned(),
                };
            }
            None => match &self.url {
                Some(url) => url.clone(),
                None => {
                    return Placement::Unreachable {
                        reason: "no dialer bridge is configured (--dialer-url) and the call \
                                 names no trunk"
                            .to_owned(),
                    };
                }
            },
        };
        let claimed = order.claimed;
        let cb = &claimed.callback;
        let mut payload = self.payload(cb, claimed.resend);
        payload.trunk_id = order.trunk.map(|t| t.id.as_str());
        payload.agent_sip_uri = order.connect.as_ref().map(|c| c.uri.as_str());
        let body = match serde_json::to_vec(&payload) {
            Ok(body) => body,
            Err(_) => {
                return Placement::Unreachable {
                    reason: "could not encode the dispatch".to_owned(),
                };
            }
        };
        let key = cb.idempotency_key();
        let mut request = self
            .client
            .post(url)
            .header("Idempotency-Key", &key)
            .header("content-type", "application/json");
        if let Some(secret) = order.secret {
            let timestamp = order.now.as_second();
            request = request
                .header("webhook-id", &key)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", secret.sign(&key, timestamp, &body));
        }
        let Ok(_slot) = self.requests.acquire().await else {
            return Placement::Unreachable {
                reason: "the bridge client is shut down".to_owned(),
            };
        };
        let result = request.body(body).send().await;
        match result {
            Ok(resp) => {
                let status = resp.status();
                finish_response(resp).await;
                if status.is_success() {
                    Placement::Accepted {
                        status: Some(status.as_u16()),
                        call_id: None,
                    }
                } else {
                    Placement::Refused {
                        status: Some(status.as_u16()),
                        reason: format!("bridge answered {status}"),
                    }
                }
            }
            Err(e) if e.is_timeout() => Placement::Unreachable {
                reason: "bridge did not answer in time".to_owned(),
            },
            Err(e) if e.is_connect() => Placement::Unreachable {
                reason: "could not connect to the bridge".to_owned(),
            },
            Err(_) => Placement::Unreachable {
                reason: "request to the bridge failed".to_owned(),
            },
        }
    }
}

#[async_trait::async_trait]
impl Driver for HttpBridge {
    async fn place(&self, order: &CallOrder<'_>) -> Placement {
        self.dispatch(order).await
    }
}
