//! The `retell` driver: Retell places the call (`POST {base_url}/v2/create-phone-call`) from
//! the trunk's number with its agent (`override_agent_id`), the call's context as
//! `retell_llm_dynamic_variables` and the callback in `metadata`. Retell's answer names the
//! call (`call_id`), stored on the attempt with the acceptance; its `call_ended` (or
//! `call_analyzed`) webhook ends the attempt (`api::voice_ai_events`).

use std::time::Duration;

use serde_json::{Value, json};

use super::{CallOrder, Driver, Placement, voice_ai};
use crate::domain::trunk::{RetellSettings, TrunkSettings};

pub struct RetellDriver {
    client: reqwest::Client,
}

impl RetellDriver {
    pub fn new(timeout: Duration) -> Self {
        Self {
            client: voice_ai::client(timeout),
        }
    }

    /// The body of `POST /v2/create-phone-call` for a claimed call.
    pub fn body(order: &CallOrder<'_>, settings: &RetellSettings) -> Value {
        let cb = &order.claimed.callback;
        let mut body = json!({
            "from_number": settings.from_number.as_str(),
            "to_number": cb.phone.as_str(),
            "retell_llm_dynamic_variables": voice_ai::variables(cb),
            "metadata": {
                "ringback_callback_id": cb.id.as_str(),
                "ringback_attempt": cb.attempt,
            },
        });
        if let Some(agent) = &settings.agent_id {
            body["override_agent_id"] = json!(agent);
        }
        body
    }
}

#[async_trait::async_trait]
impl Driver for RetellDriver {
    async fn place(&self, order: &CallOrder<'_>) -> Placement {
        let Some(TrunkSettings::Retell(settings)) = order.trunk.map(|t| &t.settings) else {
            return Placement::Unreachable {
                reason: "the call's trunk is not a retell trunk".to_owned(),
            };
        };
        let Some(key) = &settings.api_key else {
            return Placement::Refused {
                status: None,
                reason: "the retell trunk has no api_key".to_owned(),
            };
        };
        let body = Self::body(order, settings);
        let request = self
            .client
            .post(format!("{}/v2/create-phone-call", settings.base_url()))
            .bearer_auth(key.expose());
        voice_ai::create_call("retell", request, &body, "call_id").await
    }
}
