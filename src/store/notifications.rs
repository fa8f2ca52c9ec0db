//! The part of the store interface that serves confirmations and reminders to customers: the
//! account's notification settings, the outbox the notification worker sends from, and the
//! server's own keys.
//!
//! Outbox rows are written by the store itself, in the transaction of the change they tell of:
//! a create (`insert_callback`, `insert_callbacks`) writes a `confirmation` per channel the
//! account has on and a `reminder` at `due_at - customer_reminder_minutes_before`; a new time
//! (`update_callback`) supersedes the pending reminder and `rescheduled` message with new
//! ones; a cancel drops what is pending. Campaign calls are not confirmed.

use std::time::Duration;

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Actor, Callback, CallbackId, SigningSecret,
    notification::{Channel, NotificationKind, NotificationSettings},
};

/// A message due to be sent, claimed by one worker for the length of its lease.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    pub id: String,
    pub kind: NotificationKind,
    pub channel: Channel,
    /// Tries made before this one.
    pub attempts: u32,
    /// The callback as it stands now.
    pub callback: Callback,
    /// The account's name (`{{ company }}` when `company_name` is unset).
    pub account_name: String,
    /// The name of the contact with the callback's number, if the account has one.
    pub contact_name: Option<String>,
    /// The contact's email address, else the callback's `metadata.email`.
    pub email: Option<String>,
}

/// What became of one claimed message.
#[derive(Debug, Clone)]
pub struct NotificationReport {
    pub id: String,
    pub account_id: AccountId,
    pub callback_id: CallbackId,
    pub kind: NotificationKind,
    pub channel: Channel,
    pub at: Timestamp,
    pub outcome: NotificationOutcome,
}

#[derive(Debug, Clone)]
pub enum NotificationOutcome {
    /// Sent: `callback.notification_sent`.
    Sent {
        to: String,
        attempts: u32,
        /// The provider's id of the message (a text's `sid`), or the SMTP server's answer.
        provider_answer: Option<String>,
    },
    /// Not sent this time; tried again at `at`.
    RetryAt { at: Timestamp, error: String },
    /// Given up on: `callback.notification_failed`.
    Failed {
        to: Option<String>,
        attempts: u32,
        error: String,
    },
    /// Not sent by rule (no address, no consent): `callback.notification_skipped`.
    Skipped { to: Option<String>, reason: String },
    /// No longer wanted (the callback ended, the channel was turned off): forgotten, with no
    /// event.
    Dropped,
}

#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// The server's secret `name`: the one stored, else `generate`, stored for every node.
    async fn server_secret(
        &self,
        name: &str,
        generate: SigningSecret,
        now: Timestamp,
    ) -> Result<SigningSecret, StoreError>;

    /// The account's notification settings (the defaults, every channel off, if never set).
    async fn notification_settings(
        &self,
        account: &AccountId,
    ) -> Result<NotificationSettings, StoreError>;

    /// Saves the account's notification settings, audited (the password only as changed or
    /// not). Messages already in the outbox stay; they are sent with the settings of when they
    /// go, and dropped if their channel is off by then.
    async fn put_notification_settings(
        &self,
        account: &AccountId,
        settings: &NotificationSettings,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Claims up to `limit` messages due by `now` (or whose lease ran out) for `owner`.
    async fn claim_notifications(
        &self,
        now: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedNotification>, StoreError>;

    /// Records what became of claimed messages, each with its event, in one transaction.
    async fn finish_notifications(&self, reports: &[NotificationReport]) -> Result<(), StoreError>;

    /// The earliest instant a message falls due or a claim's lease runs out.
    async fn next_notification_at(&self) -> Result<Option<Timestamp>, StoreError>;
}
