//! The part of the store interface that serves calls placed through a provider's API (`vapi`
//! and `retell` trunks): finding the trunk a provider's webhook or status callback names (every
//! provider kind, `twilio_compatible` too), and ending the call the provider reports on.

use jiff::Timestamp;

use super::{ChangeError, OutcomeReport, StoreError};
use crate::domain::{AccountId, Actor, Callback, ids::TrunkId, trunk::Trunk};

/// What became of a provider's end-of-call report.
#[derive(Debug)]
pub enum ProviderFinish {
    /// The attempt ended with the report's outcome: the callback as it now stands.
    Finished(Box<Callback>),
    /// The attempt had already ended (a repeated or later report): its details were merged.
    AlreadyEnded,
    /// No call of the trunk has that provider id.
    NotFound,
}

#[async_trait::async_trait]
pub trait ProviderCallStore: Send + Sync + 'static {
    /// A trunk by its id alone, for the webhook route that names it. The one trunk read not
    /// scoped by account: the route names none, and the caller reads nothing else and changes
    /// nothing until the request's signature holds for this trunk's secret; everything after
    /// that is scoped by the trunk's account.
    async fn provider_trunk(&self, id: &TrunkId) -> Result<Option<Trunk>, StoreError>;

    /// Ends the attempt that trunk `trunk` of `account` placed as the provider's call
    /// `provider_call_id`, with `report` and the provider's `details` (kept on the call as
    /// `provider_details` and shown in the outcome's event), in one transaction. An attempt
    /// that already ended only has `details` merged into what it kept.
    #[allow(clippy::too_many_arguments)]
    async fn finish_provider_call(
        &self,
        account: &AccountId,
        trunk: &TrunkId,
        provider_call_id: &str,
        report: &OutcomeReport,
        details: &serde_json::Value,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<ProviderFinish, ChangeError>;
}
