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
    "callback.agent_reserved",
    "callback.unassigned",
    "callback.reassigned",
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
    "callback.notification_sent",
    "callback.notification_failed",
    "callback.notification_skipped",
    "webhook_endpoint.disabled",
    "trunk.failing",
];

/// The longest webhook URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// A URL events may be delivered to: an `http` or `https` URL with a host, at most
/// [`MAX_URL_LEN`] bytes as received, held in its normalised form. Having one means it is
/// well-formed; whether its host is an internal address is a separate check made where it is
/// saved (it may need DNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

/// Why text is not a [`WebhookUrl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    /// Longer than [`MAX_URL_LEN`].
    TooLong,
    /// Not a URL at all; the parser's reason.
    NotAUrl(String),
    /// A URL, but not `http`/`https` or without a host.
    NotHttp,
}

impl WebhookUrl {
    /// Parses a URL as received.
    pub fn parse(raw: &str) -> Result<Self, UrlProblem> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlProblem::TooLong);
        }
        let url = url::Url::parse(raw).map_err(|e| UrlProblem::NotAUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(UrlProblem::NotHttp);
        }
        Ok(Self(url.to_string()))
    }

    /// [`WebhookUrl::parse`] with its problem told as an `invalid_url` error on `field`.
    pub fn parse_field(raw: &str, field: &str) -> Result<Self, FieldError> {
        Self::parse(raw).map_err(|problem| {
            let why = match problem {
                UrlProblem::TooLong => format!("must be at most {MAX_URL_LEN} characters"),
                UrlProblem::NotAUrl(e) => format!("not a URL: {e}"),
                UrlProblem::NotHttp => "must be an http or https URL with a host".to_owned(),
            };
            FieldError::new(ErrorCode::InvalidUrl, field, why)
        })
    }

    /// Wraps a value read back from our own store, which only ever holds parsed URLs.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

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
    /// `evt_...`, opaque: unique, the same in every delivery and retry of this event, and
    /// within one account sorting (as text) in the order the account's events happened.
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

/// Crockford's base32 digits, in ASCII order (so fixed-width numbers sort as text).
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Digits of an event number in its id: 13 base32 digits hold any `i64`.
const NUMBER_DIGITS: usize = 13;

impl StoredEvent {
    /// The public id of the `number`-th event of `account` (numbers are per account: they
    /// reveal nothing of other accounts' activity): `evt_`, the account id's ULID, then the
    /// number in 13 base32 digits. The account part keeps ids unique across accounts (receivers
    /// drop repeated `webhook-id`s); the fixed width makes one account's ids sort as text in
    /// the order of its events.
    pub fn id_for(account: &AccountId, number: i64) -> String {
        let mut id = String::with_capacity(4 + 26 + NUMBER_DIGITS);
        id.push_str("evt_");
        id.push_str(account_part(account));
        let n = number.max(0) as u64;
        for i in (0..NUMBER_DIGITS).rev() {
            id.push(BASE32[((n >> (5 * i)) & 31) as usize] as char);
        }
        id
    }

    /// The number of one of `account`'s events from its id; `None` if the id is malformed or
    /// another account's. Ids given out before events were numbered per account
    /// (`evt_<decimal>`) are still read: those events kept their numbers.
    pub fn parse_id(account: &AccountId, id: &str) -> Option<i64> {
        let rest = id.strip_prefix("evt_")?;
        if (1..=18).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit()) {
            return rest
                .parse()
                .ok()
                .filter(|n| *n > 0 && !rest.starts_with('0'));
        }
        let digits = rest.len().checked_sub(NUMBER_DIGITS)?;
        let (owner, number) = rest.split_at_checked(digits)?;
        if !owner.eq_ignore_ascii_case(account_part(account)) {
            return None;
        }
        number.bytes().try_fold(0i64, |n, b| {
            let digit = BASE32.iter().position(|c| *c == b.to_ascii_uppercase())?;
            n.checked_mul(32)?.checked_add(digit as i64)
        })
    }
}

/// The part of an account id that goes into its events' ids: the ULID after `acc_`.
fn account_part(account: &AccountId) -> &str {
    let id = account.as_str();
    id.strip_prefix(AccountId::PREFIX).unwrap_or(id)
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
    fn event_ids_are_per_account_unique_and_sort_as_text() {
        let a: AccountId = AccountId::generate();
        let b: AccountId = AccountId::generate();
        let ids: Vec<String> = [1, 2, 9, 10, 31, 32, 1 << 40, i64::MAX]
            .iter()
            .map(|n| StoredEvent::id_for(&a, *n))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        for (id, n) in ids.iter().zip([1, 2, 9, 10, 31, 32, 1 << 40, i64::MAX]) {
            assert_eq!(id.len(), 4 + 26 + 13, "{id}");
            assert_eq!(StoredEvent::parse_id(&a, id), Some(n));
            assert_eq!(StoredEvent::parse_id(&a, &id.to_lowercase()), Some(n));
            assert_eq!(StoredEvent::parse_id(&b, id), None, "another account's");
        }
        assert_ne!(StoredEvent::id_for(&a, 1), StoredEvent::id_for(&b, 1));
        // Ids of the old form are the same numbers.
        assert_eq!(StoredEvent::parse_id(&a, "evt_42"), Some(42));
        for bad in [
            "evt_",
            "evt_0",
            "evt_042",
            "evt_-1",
            "42",
            "evt_1.5",
            "cb_1",
            "evt_ZZZZ",
            "evt_99999999999999999999",
        ] {
            assert_eq!(StoredEvent::parse_id(&a, bad), None, "{bad}");
        }
        let overflow = format!("evt_{}ZZZZZZZZZZZZZ", account_part(&a));
        assert_eq!(StoredEvent::parse_id(&a, &overflow), None);
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

    #[test]
    fn webhook_urls_are_http_with_a_host_and_kept_normalised() {
        let url = WebhookUrl::parse("HTTPS://Hooks.Example.com/a b").unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/a%20b");
        assert_eq!(WebhookUrl::parse(url.as_str()), Ok(url));
        for bad in [
            "ftp://example.com/x",
            "mailto:ops@example.com",
            "file:///etc/hosts",
        ] {
            assert_eq!(WebhookUrl::parse(bad), Err(UrlProblem::NotHttp), "{bad}");
        }
        for bad in ["not a url", "/relative/path", "http://[::1", "http://"] {
            assert!(
                matches!(WebhookUrl::parse(bad), Err(UrlProblem::NotAUrl(_))),
                "{bad}"
            );
        }
        let long = format!("https://{}.com", "a".repeat(MAX_URL_LEN));
        assert_eq!(WebhookUrl::parse(&long), Err(UrlProblem::TooLong));
        let err = WebhookUrl::parse_field("not a url", "callbacks[1].webhook_url").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidUrl);
        assert_eq!(err.field, "callbacks[1].webhook_url");
        assert!(err.message.starts_with("not a URL: "), "{}", err.message);
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
