//! What the `vapi` and `retell` drivers share: the call's context as the vendor's template
//! variables, one HTTP client, and reading a vendor's answer to a create request.

use std::time::Duration;

use serde_json::{Map, Value};

use super::Placement;
use crate::domain::Callback;

/// The longest vendor error message kept in a refusal.
const MAX_MESSAGE: usize = 300;

/// The client of vendor APIs: no redirects (a create is never replayed elsewhere).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ringback/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// The call's context as template variables (`{{contact_name}}` in the assistant's prompt):
/// the contact, the callback, the playbook's rendered message and the callback's metadata
/// values that are text, numbers or booleans. All are strings (Retell takes nothing else).
pub fn variables(cb: &Callback) -> Map<String, Value> {
    let mut vars = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            vars.insert(k.to_owned(), Value::String(v));
        }
    };
    if let Some(meta) = &cb.metadata {
        for (k, v) in meta {
            let text = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            put(k, text);
        }
    }
    put("callback_id", Some(cb.id.to_string()));
    put("attempt", Some(cb.attempt.to_string()));
    put("phone", Some(cb.phone.to_string()));
    put("contact_name", cb.contact_name.clone());
    put(
        "first_name",
        cb.contact_name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
            .map(str::to_owned),
    );
    put(
        "contact_id",
        cb.contact_id.as_ref().map(ToString::to_string),
    );
    put(
        "campaign_id",
        cb.campaign_id.as_ref().map(ToString::to_string),
    );
    put("timezone", Some(cb.timezone.name().to_owned()));
    put("scheduled_at", Some(cb.scheduled_at.to_string()));
    put("initial_message", cb.initial_message.clone());
    put("notes", cb.notes.clone());
    put("interaction_id", cb.interaction_id.clone());
    vars
}

/// Sends a create request and reads the call's id (`id_field`) from a 2xx answer; anything
/// else is a refusal with the vendor's own message.
pub async fn create_call(
    vendor: &str,
    request: reqwest::RequestBuilder,
    body: &Value,
    id_field: &str,
) -> Placement {
    let resp = match request.json(body).send().await {
        Ok(resp) => resp,
        Err(e) if e.is_timeout() => {
            return Placement::Unreachable {
                reason: format!("{vendor} did not answer in time"),
            };
        }
        Err(e) if e.is_connect() => {
            return Placement::Unreachable {
                reason: format!("could not connect to {vendor}"),
            };
        }
        Err(_) => {
            return Placement::Unreachable {
                reason: format!("the request to {vendor} failed"),
            };
        }
    };
    let status = resp.status();
    let answer: Value = match resp.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    if !status.is_success() {
        return Placement::Refused {
            status: Some(status.as_u16()),
            reason: format!("{vendor} answered {status}: {}", message(&answer)),
        };
    }
    match answer.get(id_field).and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 200 => Placement::Accepted {
            status: Some(status.as_u16()),
            provider_call_id: Some(id.to_owned()),
        },
        _ => Placement::Refused {
            status: Some(status.as_u16()),
            reason: format!("{vendor} answered {status} without the call's {id_field}"),
        },
    }
}

/// A vendor's error message: `message` (Vapi; a string or a list), `error_message` (Retell) or
/// `error`, cut short.
fn message(answer: &Value) -> String {
    let text = ["message", "error_message", "error"]
        .iter()
        .find_map(|k| match answer.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        })
        .unwrap_or_else(|| "no message".to_owned());
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE)
        .collect()
}
