//! Routing preview callbacks to agents: who may take a callback, in what order, for how long
//! an offer stands, and what an agent's desktop is told.

use std::{collections::HashMap, time::Duration};

use serde::Serialize;

use super::{
    AccountId, AssigneeKind, Assignment,
    agent::Agent,
    ids::{AgentId, QueueId},
};

/// The knobs of routing, set by the operator.
#[derive(Debug, Clone)]
pub struct RoutingSettings {
    /// How long an offer stands when no queue names a timeout (callbacks assigned to agents,
    /// or unassigned).
    pub default_offer_timeout: Duration,
    /// An agent who rejected a callback, or let its offer run out, is not offered the same
    /// callback again for this long (others are, meanwhile).
    pub reoffer_after: Duration,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            default_offer_timeout: Duration::from_secs(30),
            reoffer_after: Duration::from_secs(60),
        }
    }
}

/// The waiting-line keys under which a waiting callback is found: its assigned agents, its
/// queues, or the account itself when it is unassigned (any of the account's agents).
pub fn callback_targets(account: &AccountId, assignment: Option<&Assignment>) -> Vec<String> {
    match assignment {
        Some(a) if !a.ids.is_empty() => a.ids.clone(),
        _ => vec![account.as_str().to_owned()],
    }
}

/// The waiting-line keys an agent takes work from: its own id, its queues, and its account.
pub fn agent_targets(agent: &Agent) -> Vec<String> {
    let mut targets = Vec::with_capacity(agent.queue_ids.len() + 2);
    targets.push(agent.id.as_str().to_owned());
    targets.extend(agent.queue_ids.iter().map(|q| q.as_str().to_owned()));
    targets.push(agent.account_id.as_str().to_owned());
    targets
}

/// How long an offer of a callback to `agent` stands: the shortest timeout among the
/// callback's queues the agent belongs to, else the default.
pub fn offer_timeout(
    assignment: Option<&Assignment>,
    agent: &Agent,
    queue_timeouts: &HashMap<QueueId, u32>,
    settings: &RoutingSettings,
) -> Duration {
    let Some(a) = assignment.filter(|a| a.kind == AssigneeKind::Queue) else {
        return settings.default_offer_timeout;
    };
    agent
        .queue_ids
        .iter()
        .filter(|q| a.ids.iter().any(|id| id == q.as_str()))
        .filter_map(|q| queue_timeouts.get(q))
        .min()
        .map(|s| Duration::from_secs(u64::from(*s)))
        .unwrap_or(settings.default_offer_timeout)
}

/// Why an offer was taken back from an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The agent did not answer in time.
    Timeout,
    /// The agent rejected it.
    Rejected,
    Canceled,
    Rescheduled,
    /// The agent stopped being available.
    Presence,
    /// The callback was reassigned away from the agent.
    Reassigned,
}

impl WithdrawReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawReason::Timeout => "timeout",
            WithdrawReason::Rejected => "rejected",
            WithdrawReason::Canceled => "canceled",
            WithdrawReason::Rescheduled => "rescheduled",
            WithdrawReason::Presence => "presence",
            WithdrawReason::Reassigned => "reassigned",
        }
    }
}

/// What an agent's desktop is told, as the `event:` of its Server-Sent Events stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum AgentEventKind {
    /// A callback is offered to the agent: accept or reject it before `offer_expires_at`.
    #[serde(rename = "offer")]
    Offer,
    /// An offer was taken back (timeout, cancellation, reschedule, presence change).
    #[serde(rename = "offer_withdrawn")]
    OfferWithdrawn,
    /// The agent is reserved for a progressive call being dialled now: the customer is
    /// connected to them when they answer.
    #[serde(rename = "reserved")]
    Reserved,
    /// A callback assigned to the agent (or their queue) is coming up.
    #[serde(rename = "callback.reminder")]
    Reminder,
    #[serde(rename = "callback.canceled")]
    Canceled,
    #[serde(rename = "callback.rescheduled")]
    Rescheduled,
    /// A callback assigned to the agent moved to their team: they did not take it in time,
    /// or were offline for the rest of the day.
    #[serde(rename = "callback.reassigned")]
    Reassigned,
    /// Ringback changed the agent's presence (busy at capacity, away after an unanswered
    /// offer, available again after a call).
    #[serde(rename = "presence")]
    Presence,
}

impl AgentEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentEventKind::Offer => "offer",
            AgentEventKind::OfferWithdrawn => "offer_withdrawn",
            AgentEventKind::Reserved => "reserved",
            AgentEventKind::Reminder => "callback.reminder",
            AgentEventKind::Canceled => "callback.canceled",
            AgentEventKind::Rescheduled => "callback.rescheduled",
            AgentEventKind::Reassigned => "callback.reassigned",
            AgentEventKind::Presence => "presence",
        }
    }
}

/// One entry of an agent's feed.
#[derive(Debug, Clone)]
pub struct AgentEvent {
    /// The entry's number, counted per account (its id in the feed): says nothing of other
    /// accounts.
    pub seq: i64,
    pub agent_id: AgentId,
    pub kind: String,
    pub callback_id: Option<String>,
    pub at: jiff::Timestamp,
    /// JSON text.
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Zone, agent::Presence};

    fn agent(queues: &[&QueueId]) -> Agent {
        Agent {
            id: AgentId::generate(),
            account_id: AccountId::generate(),
            name: "Ada".into(),
            external_id: None,
            sip_uri: None,
            queue_ids: queues.iter().map(|q| (*q).clone()).collect(),
            concurrency: 1,
            timezone: Zone::utc(),
            working_hours: None,
            presence: Presence::Available,
            presence_changed_at: jiff::Timestamp::UNIX_EPOCH,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn unassigned_callbacks_are_for_the_whole_account() {
        let account = AccountId::generate();
        assert_eq!(
            callback_targets(&account, None),
            vec![account.as_str().to_owned()]
        );
        let a = Assignment {
            kind: AssigneeKind::Queue,
            ids: vec!["que_1".into(), "que_2".into()],
        };
        assert_eq!(callback_targets(&account, Some(&a)), a.ids);
    }

    #[test]
    fn an_offer_stands_for_the_shortest_timeout_of_the_agents_queues() {
        let (q1, q2, q3) = (
            QueueId::generate(),
            QueueId::generate(),
            QueueId::generate(),
        );
        let agent = agent(&[&q1, &q2]);
        let timeouts = HashMap::from([(q1.clone(), 45), (q2.clone(), 20), (q3.clone(), 5)]);
        let settings = RoutingSettings::default();
        let by_queues = Assignment {
            kind: AssigneeKind::Queue,
            ids: vec![q1.to_string(), q2.to_string(), q3.to_string()],
        };
        // q3 is the shortest, but the agent is not in it.
        assert_eq!(
            offer_timeout(Some(&by_queues), &agent, &timeouts, &settings),
            Duration::from_secs(20)
        );
        let by_agent = Assignment {
            kind: AssigneeKind::Agent,
            ids: vec![agent.id.to_string()],
        };
        assert_eq!(
            offer_timeout(Some(&by_agent), &agent, &timeouts, &settings),
            settings.default_offer_timeout
        );
        assert_eq!(agent_targets(&agent).len(), 4);
    }
}
