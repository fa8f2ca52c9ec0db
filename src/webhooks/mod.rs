//! Outbound lifecycle webhooks.
//!
//! Every state change writes an event row in the transaction that makes the change (the
//! outbox). [`worker::WebhookWorker`] fans new events out into deliveries (one per endpoint
//! that wants the event, plus the callback's own `webhook_url`) and sends them, signed with
//! the Standard Webhooks scheme, retrying with backoff for about a day. Deliveries to one target
//! keep the order of one resource's events.
//!
//! Architecture invariant: this module reaches data only through the store and speaks HTTP only
//! through [`target::client`], which refuses internal addresses unless the operator allows them.

pub mod ssrf;
pub mod target;
pub mod worker;
