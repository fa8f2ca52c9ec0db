//! Webhook endpoints, stored events and the delivery retry schedule.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{AccountId, ErrorCode, FieldError, SigningSecret, ids::WebhookEndpointId};

/// Every event type an endpoint may subscribe to. `*` subscribes to all.
pub const EVENT_TYPES: &[&str] = &[
    "callback.created",
    "callback.updated",
    "callback.reminder",
    "callback.due",
    "callback.waiting",
    "callback.offered",
    "callback.offer_rejected",
    "callback.offer_timeout",
    "callback.accepted",
    "callback.unassigned",
    "callback.recall_scheduled",
    "callback.skipped",
    "callback.deferred",
    "campaign.created",
    "campaign.paused",
    "campaign.resumed",
    "campaign.canceled",
    "callback.started",
    "callback.dispatch_failed",
    "callback.completed",
    "callback.failed",
    "callback.canceled",
    "callback.expired",
    "webhook_endpoint.disabled",
];

/// An account-level receiver of events.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub account_id: AccountId,
    pub url: String,
    pub description: Option<String>,
    /// Subscribed event types; `["*"]` for all.
    pub event_types: Vec<String>,
    pub secret: SigningSecret,
    pub enabled: bool,
    /// Why Ringback disabled it (a 410, or a day of failures); `None` if enabled or disabled by
    /// its owner.
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        wants(&self.event_types, event_type)
    }
}

pub fn wants(subscribed: &[String], event_type: &str) -> bool {
    subscribed.iter().any(|t| t == "*" || t == event_type)
}

/// Validates a subscription list: known types or `*`, at least one.
pub fn parse_event_types(types: Option<Vec<String>>) -> Result<Vec<String>, FieldError> {
    let types = types.unwrap_or_else(|| vec!["*".to_owned()]);
    if types.is_empty() || types.len() > EVENT_TYPES.len() + 1 {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "event_types",
            "list at least one event type, or \"*\" for all",
        ));
    }
    for (i, t) in types.iter().enumerate() {
        if t != "*" && !EVENT_TYPES.contains(&t.as_str()) {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                format!("event_types[{i}]"),
                format!(
                    "unknown event type {t:?}; known: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    Ok(types)
}

/// An event as kept in the event log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredEvent {
    /// `evt_<sequence>`; the same in every delivery and retry of this event.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = String)]
    pub timestamp: Timestamp,
    pub account_id: String,
    /// The resource as it stood after the change (`object`) and the change's details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl StoredEvent {
    pub fn id_for(seq: i64) -> String {
        format!("evt_{seq}")
    }

    pub fn parse_id(id: &str) -> Option<i64> {
        id.strip_prefix("evt_")?.parse().ok().filter(|n| *n > 0)
    }
}

/// Delays before each retry of a failed delivery: about a day in all, then it is failed.
pub const DEFAULT_RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(6 * 60 * 60),
    Duration::from_secs(12 * 60 * 60),
];

/// What to do after a delivery attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryPlan {
    RetryAt(Timestamp),
    GiveUp,
}

/// Plans the next try after the `attempts`-th failed one, following `delays` (one per retry).
/// `retry_after` is the receiver's `Retry-After`, honoured up to the longest delay; `jitter`
/// (0..1) spreads retries by +-10 %.
pub fn plan_delivery_retry(
    delays: &[Duration],
    now: Timestamp,
    attempts: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> DeliveryPlan {
    let Some(base) = delays.get(attempts.saturating_sub(1) as usize) else {
        return DeliveryPlan::GiveUp;
    };
    let longest = delays.iter().max().copied().unwrap_or(*base);
    let delay = match retry_after {
        Some(asked) => asked.clamp(Duration::from_secs(1).min(longest), longest),
        None => base.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0)),
    };
    match now.checked_add(delay) {
        Ok(at) => DeliveryPlan::RetryAt(at),
        Err(_) => DeliveryPlan::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_give_up() {
        let now: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let DeliveryPlan::RetryAt(at) =
            plan_delivery_retry(&DEFAULT_RETRY_DELAYS, now, 1, None, 0.5)
        else {
            panic!("first failure is retried");
        };
        assert_eq!(at.duration_since(now).as_secs(), 5);
        let DeliveryPlan::RetryAt(at) =
            plan_delivery_retry(&DEFAULT_RETRY_DELAYS, now, 7, None, 0.5)
        else {
            panic!("seventh failure is retried");
        };
        assert_eq!(at.duration_since(now).as_secs(), 12 * 3600);
        assert_eq!(
            plan_delivery_retry(&DEFAULT_RETRY_DELAYS, now, 8, None, 0.5),
            DeliveryPlan::GiveUp
        );
        let DeliveryPlan::RetryAt(at) = plan_delivery_retry(
            &DEFAULT_RETRY_DELAYS,
            now,
            1,
            Some(Duration::from_secs(120)),
            0.5,
        ) else {
            panic!("retried");
        };
        assert_eq!(at.duration_since(now).as_secs(), 120);
    }

    #[test]
    fn subscriptions_are_checked() {
        assert_eq!(parse_event_types(None).unwrap(), vec!["*"]);
        assert!(parse_event_types(Some(vec!["callback.created".into()])).is_ok());
        let err =
            parse_event_types(Some(vec!["callback.created".into(), "nope".into()])).unwrap_err();
        assert_eq!(err.field, "event_types[1]");
        assert!(wants(&["*".into()], "callback.due"));
        assert!(!wants(&["callback.created".into()], "callback.due"));
    }
}

/// One delivery of one event to one target, as the delivery log shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>)]
    pub last_attempt_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub next_attempt_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub delivered_at: Option<Timestamp>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl Delivery {
    pub fn id_for(seq: i64) -> String {
        format!("dlv_{seq}")
    }
}
