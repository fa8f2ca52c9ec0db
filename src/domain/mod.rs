//! Domain types: parsed once at the edge, holding their own invariants.
//!
//! Architecture invariant: this module imports neither `sqlx` nor `axum`; it does no I/O.
//! Every function that depends on the current time takes `now` as an argument.

pub mod account;
pub mod agent;
pub mod audio;
pub mod audit_chain;
pub mod auth;
pub mod availability;
pub mod callback;
pub mod caller_id;
pub mod campaign;
pub mod consent;
pub mod contact;
pub mod customer_link;
pub mod dialing;
pub mod disposition;
pub mod erasure;
pub mod geo;
pub mod ids;
pub mod notification;
pub mod phone;
pub mod playbook;
pub mod queue_ivr;
pub mod queue_wait;
pub mod report;
pub mod routing;
pub mod signing;
pub mod time;
pub mod trunk;
pub mod twilio;
pub mod user;
pub mod view;
pub mod voice_ai;
pub mod webhook;
pub mod window;

pub use account::{Account, ApiKey, ApiKeySecret, JwtAlgorithm, JwtKey};
pub use auth::{Actor, AuditRecord, Principal, Scope};
pub use callback::{
    Amd, AssigneeKind, Assignment, Attempt, Callback, CallbackEvent, DialingMode, Origin, Outcome,
    Status,
};
pub use ids::{AccountId, CallbackId};
pub use phone::PhoneNumber;
pub use signing::SigningSecret;
pub use time::{Zone, parse_scheduled_at};
pub use view::CallbackView;
pub use webhook::{StoredEvent, WebhookEndpoint, WebhookUrl};

pub use error::{ErrorCode, FieldError};

mod error;

/// Deserializes a field that may be left out (`None`, with `#[serde(default)]`) or given,
/// possibly as `null` (`Some(None)`): a change that clears a value is not one that keeps it.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
#[cfg(test)]
mod unicode;
