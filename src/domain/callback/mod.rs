//! The callback: a promise to call a customer at a moment, and the rules for how it changes.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    AccountId, CallbackId, PhoneNumber, Zone,
    campaign::RecallPolicy,
    dialing::{Location, ZoneSource},
    geo::Region,
    ids::{AgentId, CampaignId, ContactId},
    webhook::WebhookUrl,
    window::CallingWindow,
};

mod attempt;
mod fallback;
mod new;
mod plans;
mod status;

pub use attempt::{Attempt, CallbackEvent};
pub use fallback::{Fallback, FallbackReason, MAX_FALLBACK_MINUTES, falls_back};
pub use new::{
    CreatePolicy, MAX_HORIZON, MAX_NAME, MAX_TEXT, NewCallback, check_assignment, check_lead_time,
    check_metadata,
};
pub use plans::{BridgeFailurePlan, ClaimPlan, bridge_backoff, plan_bridge_failure, plan_claim};
pub use status::{Amd, DialingMode, Move, Origin, Outcome, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeKind {
    #[serde(alias = "AGENT", alias = "agents")]
    Agent,
    #[serde(alias = "QUEUE", alias = "queues", alias = "ring_group")]
    Queue,
}

impl AssigneeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssigneeKind::Agent => "agent",
            AssigneeKind::Queue => "queue",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "queue" => Some(Self::Queue),
            _ => None,
        }
    }
}

/// Who should take the callback: specific agents, or queues / ring groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    #[serde(rename = "type")]
    pub kind: AssigneeKind,
    pub ids: Vec<String>,
}

/// A scheduled callback as stored.
#[derive(Debug, Clone)]
pub struct Callback {
    pub id: CallbackId,
    pub account_id: AccountId,
    pub origin: Origin,
    pub status: Status,
    pub phone: PhoneNumber,
    pub contact_name: Option<String>,
    /// The instant the customer asked to be called.
    pub scheduled_at: Timestamp,
    /// The customer's zone, kept to show and compute local times: the zone calls are judged in
    /// when the request or contact named it, else the first zone the number may be in.
    pub timezone: Zone,
    /// Where `timezone` came from. Stored as `request`, `contact` or `number`; for `number`,
    /// the zones calls are judged in are read from the number each time ([`Location`]).
    pub timezone_source: ZoneSource,
    /// The subdivision a contact record put the callee in (`US-FL`), beside what the number
    /// says.
    pub region: Option<Region>,
    /// When the scheduler should next act: `scheduled_at`, or a retry time after the bridge
    /// refused a dispatch.
    pub due_at: Timestamp,
    /// After this instant an undispatched callback expires instead of being dialled.
    pub expires_at: Timestamp,
    /// Number of the current (or last) call attempt; 0 before the first dispatch.
    pub attempt: u32,
    /// The current attempt has no outcome yet: a new dispatch continues it (a retry after the
    /// dialer refused it) rather than starting another.
    pub attempt_open: bool,
    pub assignment: Option<Assignment>,
    /// Where a callback assigned to an agent goes when the agent does not take it in time;
    /// `None`: it stays with the agent.
    pub fallback: Option<Fallback>,
    pub caller_id: Option<PhoneNumber>,
    /// The caller ID pool its calls show a number of, instead of one `caller_id`: picked
    /// when each call is claimed and kept on the attempt.
    pub caller_id_pool: Option<String>,
    pub dialing_mode: DialingMode,
    pub notes: Option<String>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub interaction_id: Option<String>,
    pub reminder_minutes_before: Option<u32>,
    pub expire_after_minutes: u32,
    pub max_duration_seconds: u32,
    pub recording_enabled: bool,
    pub initial_message: Option<String>,
    pub webhook_url: Option<WebhookUrl>,
    pub outcome: Option<Outcome>,
    /// The disposition (wrap-up code) its latest call was completed with.
    pub disposition: Option<String>,
    /// The agent holding the offer or the call (preview mode).
    pub agent_id: Option<AgentId>,
    /// When the current offer runs out (while `offered`).
    pub offer_expires_at: Option<Timestamp>,
    /// The campaign this call belongs to, and its contact.
    pub campaign_id: Option<CampaignId>,
    pub contact_id: Option<ContactId>,
    /// Further attempts after calls that were not answered.
    pub recall: RecallPolicy,
    /// Where automated attempts (recalls, campaign calls) are placed, in `timezone`.
    pub calling_window: Option<CallingWindow>,
    /// The trunk its calls go out on, named by the request or its campaign; `None`: the
    /// account's default trunk (read when the call is placed).
    pub trunk_id: Option<crate::domain::ids::TrunkId>,
    /// How long its calls on a `sip` trunk ring before they are CANCELed; `None`: the
    /// server's default.
    pub ring_timeout_seconds: Option<u32>,
    /// Answering-machine detection on its calls on `sip` trunks.
    pub amd: Amd,
    /// 0 to 100: offered (and claimed) before lower ones; a queue may age it while it waits.
    pub priority: u8,
    /// Skills the agent who takes it must hold, each at least at its level.
    pub skills: crate::domain::routing::Skills,
    /// For a callback made for a caller waiting in an inbound queue (`POST
    /// /v1/queues/{id}/callbacks`): the instant they joined that queue, which its place in the
    /// queue's line is counted from ([`Callback::line_instant`]). `None` for every other.
    pub queued_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Who created it ([`Actor::id`](crate::domain::Actor::id): an API key's id, a user's id, a
    /// JWT subject, `cli`, `ringback`); `None` for callbacks stored before it was recorded.
    pub created_by: Option<String>,
    /// Counts the stored changes: 1 when created, one more with each change (events name the
    /// version they describe).
    pub version: u64,
}

impl Callback {
    /// The status `step` leaves this callback in, or `None` if it may not take it: the
    /// status table ([`Status::after`]), and one rule of the callback's own: one canceled
    /// because its number is on the do-not-call list is never reopened.
    pub fn after(&self, step: Move) -> Option<Status> {
        if step == Move::Reopen && self.outcome == Some(Outcome::SkippedDnc) {
            return None;
        }
        self.status.after(step)
    }

    /// The instant its place in a waiting line is counted from: when the caller joined the
    /// inbound queue, if that was before it fell due, else its due time.
    pub fn line_instant(&self) -> Timestamp {
        crate::domain::queue_wait::line_instant(self.due_at, self.queued_since)
    }

    /// Where calls to this callback's number are judged: its stated zone, or every zone the
    /// number may be in.
    pub fn location(&self) -> Location {
        let stated = self
            .timezone_source
            .is_stated()
            .then_some((&self.timezone, self.timezone_source));
        Location::locate(&self.phone, stated, self.region.as_ref())
    }

    /// Moves the callback to `at`; a zone the request named becomes the one calls are judged
    /// in.
    pub fn reschedule(&mut self, at: Timestamp, zone: Option<Zone>) {
        self.scheduled_at = at;
        self.due_at = at;
        self.expires_at = Self::deadline(at, self.expire_after_minutes);
        if let Some(zone) = zone {
            self.timezone = zone;
            self.timezone_source = ZoneSource::Request;
        }
    }

    /// A new number to call. A zone that came from the old number follows the new one.
    pub fn change_phone(&mut self, phone: PhoneNumber) {
        self.phone = phone;
        if !self.timezone_source.is_stated() {
            self.timezone = Location::locate(&self.phone, None, None)
                .display_zone()
                .clone();
            self.timezone_source = ZoneSource::Number;
        }
    }

    /// When `callback.reminder` is due, if the callback asks for one.
    pub fn reminder_at(&self) -> Option<Timestamp> {
        let minutes = self.reminder_minutes_before?;
        self.scheduled_at
            .checked_sub(jiff::SignedDuration::from_mins(i64::from(minutes)))
            .ok()
    }

    /// The instant at which an undispatched callback gives up.
    pub fn deadline(scheduled_at: Timestamp, expire_after_minutes: u32) -> Timestamp {
        scheduled_at
            .checked_add(jiff::SignedDuration::from_mins(i64::from(
                expire_after_minutes,
            )))
            .unwrap_or(Timestamp::MAX)
    }

    /// The key a dialer bridge uses to recognise repeats of the same call attempt.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.id, self.attempt)
    }
}
