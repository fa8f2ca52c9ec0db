//! The part of the store interface that routes preview callbacks to agents.

use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::watch;

use super::{ChangeError, DueSignal, StoreError};
use crate::domain::{
    AccountId, Actor, Callback, CallbackId,
    ids::AgentId,
    routing::{AgentEvent, RoutingSettings},
};

/// What one routing pass did.
#[derive(Debug, Default)]
pub struct RoutePass {
    /// Offers made, in the order they were made.
    pub offers: Vec<MadeOffer>,
    /// Preview callbacks that fell due and joined the waiting line.
    pub queued: usize,
    /// Waiting callbacks whose deadline passed with no agent: now `expired`.
    pub expired: usize,
    /// Offers that ran out unanswered: the callbacks are back in line.
    pub timed_out: usize,
    /// Personal callbacks their agent did not take, moved to the team.
    pub reassigned: usize,
    pub reminders: usize,
    /// Progressive callbacks an agent was reserved for: due now, for the scheduler.
    pub reserved: usize,
    /// The pass stopped at its limit: more may be ready now.
    pub saturated: bool,
}

#[derive(Debug, Clone)]
pub struct MadeOffer {
    pub callback_id: CallbackId,
    pub agent_id: AgentId,
    /// How long the agent had been free for this offer.
    pub agent_waited: std::time::Duration,
}

/// An agent's answer to an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferAnswer {
    Accept,
    /// The agent is passed over for this callback for `reoffer_after` while others may take it.
    Reject {
        reoffer_after: std::time::Duration,
    },
}

#[async_trait::async_trait]
pub trait RoutingStore: Send + Sync + 'static {
    /// Raised when routing may have work earlier than planned (a preview callback or reminder
    /// due, an agent available, an offer answered).
    fn routing_signal(&self) -> Arc<DueSignal>;

    /// Changes after every commit that appended to `agent`'s feed.
    fn agent_feed(&self, agent: &AgentId) -> watch::Receiver<u64>;

    /// One routing pass, in one transaction: due preview callbacks join the waiting line,
    /// unanswered offers go back to it, callbacks past their deadline expire, due reminders go
    /// out, then free agents are offered the earliest waiting callbacks they may take, longest
    /// idle first and one offer per agent per round, never above their concurrency.
    async fn route(
        &self,
        now: Timestamp,
        settings: &RoutingSettings,
        limit: u32,
    ) -> Result<RoutePass, StoreError>;

    /// The earliest instant at which [`route`](Self::route) would find timed work.
    async fn next_routing_wakeup(&self) -> Result<Option<Timestamp>, StoreError>;

    /// An agent accepts (the callback goes `in_progress`, held by the agent) or rejects (it
    /// goes back in line, to other agents first) the offer they hold.
    async fn answer_offer(
        &self,
        account: &AccountId,
        agent: &AgentId,
        callback: &CallbackId,
        answer: OfferAnswer,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Callback, ChangeError>;

    /// The agent's feed after `after` (an entry's number, counted per account), oldest first.
    async fn agent_events(
        &self,
        account: &AccountId,
        agent: &AgentId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AgentEvent>, StoreError>;

    /// The number of the agent's latest feed entry (0 if none).
    async fn last_agent_event(
        &self,
        account: &AccountId,
        agent: &AgentId,
    ) -> Result<i64, StoreError>;

    /// The agent's work: what they hold (offers, calls) and the active callbacks assigned to
    /// them or to their queues, by time.
    async fn agent_callbacks(
        &self,
        account: &AccountId,
        agent: &AgentId,
        limit: u32,
    ) -> Result<Vec<Callback>, StoreError>;

    /// Forgets feed entries older than `before`; returns how many.
    async fn purge_agent_events(&self, before: Timestamp) -> Result<u64, StoreError>;
}
