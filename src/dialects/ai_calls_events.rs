//! The AI-calls dialect's own lifecycle webhooks: a call scheduled with a `webhook_url` hears
//! `started`, `completed`, `failed` and `canceled` with the call object as the page shows it
//! (and, once it ends, the outcome of the conversation), instead of the native `callback.*`
//! events. Only the call's own `webhook_url` speaks this vocabulary; native webhook endpoints
//! keep the native one. The webhook worker asks [`lifecycle`] for every delivery to a
//! callback's own URL; the signing, retries and address checks are the native ones.
//!
//! ```json
//! {"event": "completed", "event_id": "evt_...", "occurred_at": "2026-03-15T15:03:10Z",
//!  "data": {"call_id": "cb_...", "status": "completed", "...": "...",
//!           "outcome": {"result": "answered", "duration_seconds": 42, "attempt": 1,
//!                       "summary": "...", "transcript": "...", "recording_url": "..."}}}
//! ```

use serde_json::{Map, Value, json};

use super::ai_calls::METADATA_KEY;
use crate::domain::webhook::StoredEvent;

/// What a delivery to a callback's own URL sends.
#[derive(Debug, PartialEq)]
pub enum Lifecycle {
    /// Not an AI-calls call: the native event.
    Native,
    /// The dialect's event, this body.
    Send(Value),
    /// An AI-calls call's change the page has no event for (created, updated, retried ...):
    /// nothing is sent.
    Skip,
}

/// The page's event name for a native event type.
fn event_name(kind: &str) -> Option<&'static str> {
    match kind {
        "callback.started" => Some("started"),
        "callback.completed" => Some("completed"),
        "callback.failed" | "callback.expired" => Some("failed"),
        "callback.canceled" => Some("canceled"),
        _ => None,
    }
}

/// The page's call status of a native status name.
fn call_status(status: &str) -> &'static str {
    match status {
        "dispatching" | "in_progress" => "in_progress",
        "completed" => "completed",
        "failed" | "expired" => "failed",
        "canceled" => "canceled",
        _ => "scheduled",
    }
}

/// The call object of the page from a callback as events show it (`data.object`), as
/// `ai_calls::call` renders it from a stored callback.
fn call_of(object: &Value) -> Value {
    let mut metadata: Map<String, Value> =
        object["metadata"].as_object().cloned().unwrap_or_default();
    let ours = metadata.remove(METADATA_KEY).unwrap_or(Value::Null);
    json!({
        "call_id": object["id"],
        "contact_id": ours["contact_id"],
        "campaign_id": ours["campaign_id"],
        "scheduled_at": object["scheduled_at"],
        "timezone": object["timezone"],
        "initial_message": ours.get("initial_message").cloned()
            .unwrap_or_else(|| object["initial_message"].clone()),
        "max_duration_seconds": object["max_duration_seconds"],
        "caller_id": object["caller_id"],
        "recording_enabled": object["recording_enabled"],
        "webhook_url": object["webhook_url"],
        "metadata": (!metadata.is_empty()).then_some(metadata),
        "status": call_status(object["status"].as_str().unwrap_or_default()),
        "created_at": object["created_at"],
        "updated_at": object["updated_at"],
    })
}

/// What a delivery of `event` to its callback's own URL sends.
pub fn lifecycle(event: &StoredEvent) -> Lifecycle {
    let object = &event.data["object"];
    if object["origin"].as_str() != Some("ai_calls") {
        return Lifecycle::Native;
    }
    let Some(name) = event_name(&event.kind) else {
        return Lifecycle::Skip;
    };
    let mut call = call_of(object);
    let data = &event.data;
    if name == "completed" || name == "failed" {
        let provider = &data["provider_details"];
        call["outcome"] = json!({
            "result": data.get("outcome").cloned().unwrap_or(object["outcome"].clone()),
            "duration_seconds": data["duration_seconds"],
            "attempt": data["attempt"],
            "reason": data.get("reason").or(data.get("error")).cloned(),
            "summary": provider["summary"],
            "transcript": provider["transcript"],
            "recording_url": provider["recording_url"],
        });
    }
    Lifecycle::Send(json!({
        "event": name,
        "event_id": event.id,
        "occurred_at": event.timestamp.to_string(),
        "data": call,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, origin: &str) -> StoredEvent {
        StoredEvent {
            id: "evt_1".into(),
            kind: kind.into(),
            timestamp: "2026-03-15T15:00:00Z".parse().unwrap(),
            account_id: "acc_1".into(),
            data: json!({"object": {"id": "cb_1", "origin": origin, "status": "completed",
                        "metadata": {"ai_calls": {"contact_id": "ctc_1"}, "k": "v"}},
                        "outcome": "answered", "duration_seconds": 42, "attempt": 1,
                        "provider_details": {"summary": "ok"}}),
        }
    }

    #[test]
    fn only_ai_calls_calls_speak_the_pages_vocabulary() {
        assert_eq!(
            lifecycle(&event("callback.completed", "api")),
            Lifecycle::Native
        );
        assert_eq!(
            lifecycle(&event("callback.created", "ai_calls")),
            Lifecycle::Skip
        );
        let Lifecycle::Send(body) = lifecycle(&event("callback.completed", "ai_calls")) else {
            panic!("a completed call is sent");
        };
        assert_eq!(body["event"], "completed");
        assert_eq!(body["data"]["call_id"], "cb_1");
        assert_eq!(body["data"]["contact_id"], "ctc_1");
        assert_eq!(body["data"]["metadata"], json!({"k": "v"}));
        assert_eq!(body["data"]["outcome"]["result"], "answered");
        assert_eq!(body["data"]["outcome"]["summary"], "ok");
    }
}
