//! The closed vocabulary of error codes clients can match on.

use serde::Serialize;

/// Every machine-readable error code Ringback answers with. Clients match on these strings;
/// they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or not well-formed.
    InvalidJson,
    /// A field has the wrong type or an out-of-range value.
    InvalidField,
    UnknownField,
    MissingField,
    InvalidPhone,
    InvalidTimezone,
    InvalidDatetime,
    TimeInPast,
    LeadTimeTooShort,
    /// Further ahead than a callback may be scheduled (two years).
    TimeTooFar,
    NonexistentLocalTime,
    InvalidUrl,
    /// A webhook URL that points into the operator's own network.
    WebhookUrlNotAllowed,
    InvalidQuery,
    TooManyItems,
    DuplicateActiveCallback,
    /// An `external_id` another contact of the account already has (409).
    DuplicateExternalId,
    /// An assignment names an agent or queue the account does not have (or deleted).
    InvalidAssignee,
    InvalidState,
    OfferNotHeld,
    OutsideCallingWindow,
    /// The dial decision stops the call now: `rule` names the rule, `until` when it lifts.
    DialBlocked,
    IdempotencyKeyReused,
    /// A trunk that is still used (the default, or named by live callbacks or campaigns).
    TrunkInUse,
    /// Audio a playbook plays (its `voicemail_audio_id`).
    AudioInUse,
    /// A `caller_id` that is not one of the account's registered numbers (`/v1/caller-ids`),
    /// once it has registered any.
    CallerIdNotOwned,
    /// The slot (`slot_id`) has no place left (409); `next_slots` lists the next free ones.
    SlotFull,
    /// The slot (`slot_id`) is not offered for this number (409): outside its calling window
    /// or holidays, or no agent of the queue works through it; `next_slots` lists free ones.
    SlotUnavailable,
    Unauthorized,
    /// Authenticated, but the key or token lacks the scope named in `required_scope`.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RequestTimeout,
    /// Too many requests for this key; see `Retry-After`.
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidPhone => "invalid_phone",
            ErrorCode::InvalidTimezone => "invalid_timezone",
            ErrorCode::InvalidDatetime => "invalid_datetime",
            ErrorCode::TimeInPast => "time_in_past",
            ErrorCode::LeadTimeTooShort => "lead_time_too_short",
            ErrorCode::TimeTooFar => "time_too_far",
            ErrorCode::NonexistentLocalTime => "nonexistent_local_time",
            ErrorCode::InvalidUrl => "invalid_url",
            ErrorCode::WebhookUrlNotAllowed => "webhook_url_not_allowed",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::TooManyItems => "too_many_items",
            ErrorCode::DuplicateActiveCallback => "duplicate_active_callback",
            ErrorCode::DuplicateExternalId => "duplicate_external_id",
            ErrorCode::InvalidAssignee => "invalid_assignee",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::OfferNotHeld => "offer_not_held",
            ErrorCode::OutsideCallingWindow => "outside_calling_window",
            ErrorCode::DialBlocked => "dial_blocked",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::TrunkInUse => "trunk_in_use",
            ErrorCode::AudioInUse => "audio_in_use",
            ErrorCode::CallerIdNotOwned => "caller_id_not_owned",
            ErrorCode::SlotFull => "slot_full",
            ErrorCode::SlotUnavailable => "slot_unavailable",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// A validation failure of one input field: a stable code, the field (a dotted path such as
/// `callbacks[3].phone`) and a human-readable reason. The HTTP edge turns it into a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub code: ErrorCode,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}
