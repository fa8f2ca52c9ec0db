//! The part of the store interface that serves webhooks: endpoints, the event log as read by
//! receivers, and deliveries.

use std::time::Duration;

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Actor, SigningSecret, StoredEvent, WebhookEndpoint, ids::WebhookEndpointId,
    webhook::Delivery,
};

/// A delivery claimed by one worker, with all it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub endpoint_id: Option<String>,
    pub url: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub event: StoredEvent,
    /// The endpoint's secret, or the account's signing secret for a callback's own URL.
    pub secret: Option<SigningSecret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt(Timestamp),
    /// Out of retries: the delivery is failed and its endpoint disabled.
    GaveUp,
    /// The receiver answered 410 Gone: failed, and its endpoint disabled at once.
    Gone,
}

#[derive(Debug, Clone)]
pub struct DeliveryReport {
    pub id: i64,
    pub endpoint_id: Option<String>,
    pub at: Timestamp,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub outcome: DeliveryOutcome,
}

#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn signing_secret(
        &self,
        account: &AccountId,
    ) -> Result<Option<SigningSecret>, StoreError>;
    async fn set_signing_secret(
        &self,
        account: &AccountId,
        secret: &SigningSecret,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    async fn insert_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        actor: &Actor,
    ) -> Result<(), StoreError>;
    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;
    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// Saves url, description, event types, secret and enabled flag; false if not found.
    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// Deletes an endpoint and drops its pending deliveries; false if not found.
    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// Events of an account after its event number `after` (its own numbering, which the
    /// events' ids carry: [`StoredEvent::parse_id`]), oldest first, each with its number.
    async fn list_events(
        &self,
        account: &AccountId,
        after: i64,
        since: Option<Timestamp>,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(i64, StoredEvent)>, StoreError>;

    /// Queues a new delivery of the account's event `number` to every enabled endpoint that
    /// wants it (and the callback's own URL). `None` if the account has no such event.
    async fn redeliver_event(
        &self,
        account: &AccountId,
        number: i64,
        now: Timestamp,
    ) -> Result<Option<usize>, StoreError>;

    /// Turns new events of the log into deliveries, at most `limit` events, moving the
    /// fan-out cursor in the same transaction. Returns the number of events read.
    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize, StoreError>;

    /// Claims deliveries that are due, the oldest pending per target and resource only (so a
    /// receiver sees one resource's events in order).
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    async fn record_deliveries(&self, reports: &[DeliveryReport]) -> Result<(), StoreError>;

    async fn list_deliveries(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// When the earliest pending delivery is due, or events wait to be fanned out (now).
    async fn next_delivery_wakeup(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError>;
}
