//! Routing preview callbacks to agents: who may take a callback (skills, relaxed after a
//! queue's wait), in what order (priority, aged by the queue, then due time), for how long an
//! offer stands, and what an agent's desktop is told.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use jiff::SignedDuration;
use serde::Serialize;

use super::{
    AccountId, AssigneeKind, Assignment, ErrorCode, FieldError,
    agent::Agent,
    ids::{AgentId, QueueId},
};

/// A callback's or campaign's priority when the request names none (0 to 100).
pub const DEFAULT_PRIORITY: u8 = 50;
/// Most skills an agent holds or a callback requires.
pub const MAX_SKILLS: usize = 50;

/// A priority from a request: 0 to 100, `DEFAULT_PRIORITY` when absent.
pub fn parse_priority(value: Option<i64>, field: &str) -> Result<u8, FieldError> {
    match value {
        None => Ok(DEFAULT_PRIORITY),
        Some(v @ 0..=100) => Ok(v as u8),
        Some(_) => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must be between 0 and 100",
        )),
    }
}

/// Skills with levels 1 to 5: those an agent holds (`{"spanish": 3, "billing": 5}`), or those
/// a callback requires of the agent who takes it, each at least at its level. Names are
/// lower-cased letters, digits, `_`, `-` and `.`, 1 to 50 of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Skills(BTreeMap<String, u8>);

impl Skills {
    /// Skills from a request's JSON object; `null` is none. Errors name the field
    /// (`skills.spanish`).
    pub fn parse(value: &serde_json::Value, field: &str) -> Result<Self, FieldError> {
        let map = match value {
            serde_json::Value::Null => return Ok(Self::default()),
            serde_json::Value::Object(map) => map,
            _ => {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    field,
                    "must be an object of skill names and levels 1 to 5 ({\"spanish\": 3})",
                ));
            }
        };
        if map.len() > MAX_SKILLS {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!("must name at most {MAX_SKILLS} skills"),
            ));
        }
        let mut skills = BTreeMap::new();
        for (name, level) in map {
            let at = format!("{field}.{name}");
            let key = name.trim().to_lowercase();
            if key.is_empty()
                || key.len() > 50
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    at,
                    "a skill name is 1 to 50 letters, digits, '_', '-' or '.'",
                ));
            }
            match level.as_u64() {
                Some(l @ 1..=5) => {
                    skills.insert(key, l as u8);
                }
                _ => {
                    return Err(FieldError::new(
                        ErrorCode::InvalidField,
                        at,
                        "must be a level from 1 to 5",
                    ));
                }
            }
        }
        Ok(Self(skills))
    }

    /// Skills as stored: JSON text, `None` when there are none.
    pub fn stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| serde_json::to_string(&self.0).unwrap_or_default())
    }

    /// Skills read back from [`Skills::stored`] text; `None` if it is not theirs.
    pub fn from_stored(text: Option<&str>) -> Option<Self> {
        match text {
            None => Some(Self::default()),
            Some(t) => serde_json::from_str(t).ok().map(Self),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Does a holder of these skills meet every one of `required` at its level?
    pub fn meet(&self, required: &Skills) -> bool {
        required
            .0
            .iter()
            .all(|(name, level)| self.0.get(name).is_some_and(|held| held >= level))
    }
}

/// What a queue does to the callbacks waiting in it as they wait.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LineRules {
    /// Points of priority gained per minute waited after the due time (0: none).
    pub aging_per_minute: f64,
    /// After this wait past the due time the skills a callback requires are no longer required.
    pub relax_after: Option<Duration>,
}

impl LineRules {
    /// Most points of priority a queue may add per minute.
    pub const MAX_AGING_PER_MINUTE: f64 = 100.0;

    /// How long a callback waits to gain one point of priority; `None` when it gains none.
    pub fn aging_step(&self) -> Option<SignedDuration> {
        (self.aging_per_minute > 0.0).then(|| {
            SignedDuration::from_millis((60_000.0 / self.aging_per_minute).round().max(1.0) as i64)
        })
    }

    /// The priority a callback of `priority` has after waiting `waited` past its due time.
    pub fn effective_priority(&self, priority: u8, waited: SignedDuration) -> f64 {
        let minutes = waited.as_secs_f64().max(0.0) / 60.0;
        f64::from(priority) + self.aging_per_minute * minutes
    }

    /// The key that orders a line of callbacks as their effective priority does at every
    /// instant (ascending: first offered first), then by due time: `(-priority, due)` where
    /// nothing ages; `(0, due - priority x aging step)` where priority grows with waiting, so
    /// the key is fixed while the order it gives follows the clock.
    pub fn rank(&self, priority: u8, due: jiff::Timestamp) -> (i64, jiff::Timestamp) {
        match self.aging_step() {
            None => (-i64::from(priority), due),
            Some(step) => (
                0,
                due.checked_sub(step * i32::from(priority))
                    .unwrap_or(jiff::Timestamp::MIN),
            ),
        }
    }
}

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
            skills: Skills::default(),
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

    #[test]
    fn aging_ranks_a_line_as_its_effective_priority_orders_it_at_any_instant() {
        let at = |m: i64| jiff::Timestamp::UNIX_EPOCH + SignedDuration::from_mins(m);
        let still = LineRules::default();
        // Nothing ages: priority first, then due time.
        assert!(still.rank(90, at(10)) < still.rank(10, at(0)));
        assert!(still.rank(50, at(0)) < still.rank(50, at(1)));
        let aging = LineRules {
            aging_per_minute: 10.0,
            relax_after: None,
        };
        // 10 due at 0 and 90 due at 10: at minute 10 the first has 110, the second 90.
        let (old, new) = ((10u8, at(0)), (90u8, at(10)));
        assert!(aging.rank(old.0, old.1) < aging.rank(new.0, new.1));
        let now = at(10);
        assert_eq!(
            aging.effective_priority(10, now.duration_since(at(0))),
            110.0
        );
        // 10 due at 0 and 90 due at 8 stay level (each has 10 + 10 a minute): then due time.
        assert_eq!(aging.rank(10, at(0)).1, aging.rank(90, at(8)).1);
    }

    #[test]
    fn skills_are_checked_by_name_and_level_and_met_at_or_above_it() {
        let skills =
            Skills::parse(&serde_json::json!({"Spanish": 3, "billing": 5}), "skills").unwrap();
        assert_eq!(skills.names().collect::<Vec<_>>(), ["billing", "spanish"]);
        let need = |v| Skills::parse(&v, "skills").unwrap();
        assert!(skills.meet(&need(serde_json::json!({"spanish": 3}))));
        assert!(!skills.meet(&need(serde_json::json!({"spanish": 4}))));
        assert!(!skills.meet(&need(serde_json::json!({"french": 1}))));
        assert!(skills.meet(&Skills::default()));
        for (bad, field) in [
            (serde_json::json!({"spanish": 6}), "skills.spanish"),
            (serde_json::json!({"spanish": 0}), "skills.spanish"),
            (serde_json::json!({"spanish": "3"}), "skills.spanish"),
            (serde_json::json!({"no way": 1}), "skills.no way"),
            (serde_json::json!(["spanish"]), "skills"),
        ] {
            assert_eq!(
                Skills::parse(&bad, "skills").unwrap_err().field,
                field,
                "{bad}"
            );
        }
        assert_eq!(
            Skills::from_stored(skills.stored().as_deref()),
            Some(skills)
        );
    }
}
