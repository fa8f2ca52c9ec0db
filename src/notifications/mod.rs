//! Confirmations and reminders to customers: the notification worker (`worker.rs`, a
//! [`crate::background::Loop`]) sends the outbox's due messages, texts through a
//! `twilio_compatible` trunk's Messages API (`sms.rs`) and emails through the account's SMTP
//! server (`email.rs`, `lettre`), retries failures with the webhooks' backoff and records each
//! message in its callback's history (`callback.notification_sent`, `_failed`, `_skipped`).
//!
//! What is sent when, and the templates, are `domain::notification`'s; the outbox rows are
//! written by the store in the transactions of the changes they tell of. A failed message
//! never touches its callback.
//!
//! **May not touch** SQL or HTTP handlers (the API's SMTP test calls [`email::test_connection`]).

pub mod email;
pub mod sms;
pub mod worker;

pub use worker::{NotificationConfig, NotificationWorker};

/// Why a message did not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// What the provider or server said, or what went wrong reaching it; never a secret.
    pub message: String,
    /// Trying again cannot help (the provider refused the message itself): no retry.
    pub permanent: bool,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}
