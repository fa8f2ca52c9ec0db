//! The `vapi` driver: Vapi places the call (`POST {base_url}/call`) with the trunk's
//! assistant and phone number, the customer's number, and the call's context as the
//! assistant's `variableValues`. Vapi's `schedulePlan` is not used: Ringback decides when a
//! call goes out. Vapi's answer names the call (`id`), stored on the attempt with the
//! acceptance; its `end-of-call-report` ends the attempt (`api::voice_ai_events`).

use std::time::Duration;

use serde_json::{Value, json};

use super::{CallOrder, Driver, Placement, voice_ai};
use crate::domain::trunk::TrunkSettings;

/// Vapi's bounds on `maxDurationSeconds`.
const MIN_DURATION: u32 = 10;
const MAX_DURATION: u32 = 43_200;

pub struct VapiDriver {
    client: reqwest::Client,
}

impl VapiDriver {
    pub fn new(timeout: Duration) -> Self {
        Self {
            client: voice_ai::client(timeout),
        }
    }

    /// The body of `POST /call` for a claimed call.
    pub fn body(order: &CallOrder<'_>, assistant_id: &str, phone_number_id: &str) -> Value {
        let cb = &order.claimed.callback;
        let mut overrides = json!({
            "variableValues": voice_ai::variables(cb),
            "maxDurationSeconds": cb.max_duration_seconds.clamp(MIN_DURATION, MAX_DURATION),
            "artifactPlan": { "recordingEnabled": cb.recording_enabled },
            "metadata": {
                "ringback_callback_id": cb.id.as_str(),
                "ringback_attempt": cb.attempt,
            },
        });
        if let Some(message) = &cb.initial_message {
            overrides["firstMessage"] = json!(message);
        }
        json!({
            "assistantId": assistant_id,
            "phoneNumberId": phone_number_id,
            "customer": { "number": cb.phone.as_str() },
            "assistantOverrides": overrides,
            "name": format!("{}.{}", cb.id, cb.attempt),
        })
    }
}

#[async_trait::async_trait]
impl Driver for VapiDriver {
    async fn place(&self, order: &CallOrder<'_>) -> Placement {
        let Some(TrunkSettings::Vapi(settings)) = order.trunk.map(|t| &t.settings) else {
            return Placement::Unreachable {
                reason: "the call's trunk is not a vapi trunk".to_owned(),
            };
        };
        let Some(key) = &settings.api_key else {
            return Placement::Refused {
                status: None,
                reason: "the vapi trunk has no api_key".to_owned(),
            };
        };
        let body = Self::body(order, &settings.assistant_id, &settings.phone_number_id);
        let request = self
            .client
            .post(format!("{}/call", settings.base_url()))
            .bearer_auth(key.expose());
        voice_ai::create_call("vapi", request, &body, "id").await
    }
}
