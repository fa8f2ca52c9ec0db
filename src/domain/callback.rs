//! The callback: a promise to call a customer at a moment, and the rules for how it changes.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    AccountId, CallbackId, PhoneNumber, Zone,
    campaign::RecallPolicy,
    dialing::{Location, ZoneSource},
    geo::Region,
    ids::{AgentId, CampaignId, ContactId},
    window::CallingWindow,
};

/// Where a callback is in its life.
///
/// ```text
/// progressive, ai:
/// scheduled -> dispatching -> in_progress -> completed | failed
///     |  ^          |  \
///     |  '----------'   '-> expired (bridge kept refusing until the deadline)
///     '-> canceled | expired
///
/// preview (an agent takes the call):
/// scheduled -> waiting <-> offered -> in_progress -> completed | failed
///                 |           |
///                 '-> expired '-> (rejected or timed out: back to waiting)
/// scheduled | waiting | offered -> canceled, or back to scheduled when rescheduled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    /// A preview callback that is due, in line for an agent.
    Waiting,
    /// Offered to one agent, who has until `offer_expires_at` to accept or reject it.
    Offered,
    Dispatching,
    InProgress,
    Completed,
    Failed,
    Canceled,
    Expired,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Scheduled,
        Status::Waiting,
        Status::Offered,
        Status::Dispatching,
        Status::InProgress,
        Status::Completed,
        Status::Failed,
        Status::Canceled,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Waiting => "waiting",
            Status::Offered => "offered",
            Status::Dispatching => "dispatching",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Active callbacks still hold a claim on the customer's phone number.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Scheduled
                | Status::Waiting
                | Status::Offered
                | Status::Dispatching
                | Status::InProgress
        )
    }

    pub fn is_final(self) -> bool {
        !self.is_active()
    }

    /// Only a callback nobody has started dialling may be edited or canceled. A waiting or
    /// offered one goes back to `scheduled` when its time changes.
    pub fn is_editable(self) -> bool {
        matches!(self, Status::Scheduled | Status::Waiting | Status::Offered)
    }

    /// An outcome may be reported once the bridge has the call. `dispatching` is included
    /// because a fast bridge may report before its acceptance has been recorded.
    pub fn accepts_outcome(self) -> bool {
        matches!(self, Status::Dispatching | Status::InProgress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DialingMode {
    /// An agent sees the callback before the call is placed.
    #[serde(alias = "PREVIEW")]
    Preview,
    /// The call is placed and connected to an agent when answered.
    #[serde(alias = "PROGRESSIVE")]
    Progressive,
    /// An AI voice agent places and handles the call.
    #[serde(alias = "AI")]
    Ai,
}

impl DialingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DialingMode::Preview => "preview",
            DialingMode::Progressive => "progressive",
            DialingMode::Ai => "ai",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Preview, Self::Progressive, Self::Ai]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Which system created a callback: the native API, the web UI, a campaign, or one of the
/// compatible dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Api,
    Ui,
    Campaign,
    Kore,
    Acefone,
    AiCalls,
    Campaigns,
    Talkdesk,
}

impl Origin {
    pub const ALL: [Origin; 8] = [
        Origin::Api,
        Origin::Ui,
        Origin::Campaign,
        Origin::Kore,
        Origin::Acefone,
        Origin::AiCalls,
        Origin::Campaigns,
        Origin::Talkdesk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Ui => "ui",
            Origin::Campaign => "campaign",
            Origin::Kore => "kore",
            Origin::Acefone => "acefone",
            Origin::AiCalls => "ai_calls",
            Origin::Campaigns => "campaigns",
            Origin::Talkdesk => "talkdesk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// What happened on the call, as reported by the dialer bridge or an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    NoAnswer,
    Busy,
    Voicemail,
    Failed,
    /// Never dialled: the number is on the do-not-call list.
    SkippedDnc,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Voicemail => "voicemail",
            Outcome::Failed => "failed",
            Outcome::SkippedDnc => "skipped_dnc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Answered,
            Self::NoAnswer,
            Self::Busy,
            Self::Voicemail,
            Self::Failed,
            Self::SkippedDnc,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// The final state a callback reaches with this outcome.
    pub fn final_status(self) -> Status {
        match self {
            Outcome::Answered => Status::Completed,
            Outcome::SkippedDnc => Status::Canceled,
            _ => Status::Failed,
        }
    }

    /// Does a recall policy call again after this outcome?
    pub fn is_recallable(self) -> bool {
        matches!(
            self,
            Outcome::NoAnswer | Outcome::Busy | Outcome::Voicemail | Outcome::Failed
        )
    }
}

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
    pub caller_id: Option<PhoneNumber>,
    pub dialing_mode: DialingMode,
    pub notes: Option<String>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub interaction_id: Option<String>,
    pub reminder_minutes_before: Option<u32>,
    pub expire_after_minutes: u32,
    pub max_duration_seconds: u32,
    pub recording_enabled: bool,
    pub initial_message: Option<String>,
    pub webhook_url: Option<String>,
    pub outcome: Option<Outcome>,
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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Callback {
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

/// One call attempt: committed before the bridge is called.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub number: u32,
    #[schema(value_type = String)]
    pub started_at: Timestamp,
    /// Requests sent to the bridge for this attempt (retries after refusals included).
    pub bridge_requests: u32,
    /// Requests sent again because the outcome of an earlier one was unknown (a crash or a
    /// lease taken over); the bridge dedupes them by idempotency key.
    pub resends: u32,
    pub last_bridge_status: Option<u16>,
    #[schema(value_type = Option<String>)]
    pub accepted_at: Option<Timestamp>,
    pub outcome: Option<Outcome>,
    pub duration_seconds: Option<u32>,
    pub notes: Option<String>,
    #[schema(value_type = Option<String>)]
    pub ended_at: Option<Timestamp>,
    /// The agent who took the call (preview mode).
    pub agent_id: Option<String>,
}

/// One entry of a callback's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallbackEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = String)]
    pub at: Timestamp,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// What the scheduler does with a claimed callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimPlan {
    Dispatch,
    Expire,
}

/// Decides, at claim time, whether a due callback is still worth dialling.
pub fn plan_claim(now: Timestamp, expires_at: Timestamp) -> ClaimPlan {
    if now >= expires_at {
        ClaimPlan::Expire
    } else {
        ClaimPlan::Dispatch
    }
}

/// What happens after the bridge refused (non-2xx) or did not answer a dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeFailurePlan {
    RetryAt(Timestamp),
    Expire,
}

/// Backoff between bridge retries: 1 s, 2 s, 4 s ... capped at 60 s, with up to 20 % jitter
/// taken from `jitter` (0.0..1.0) so the caller controls randomness.
pub fn bridge_backoff(requests_so_far: u32, jitter: f64) -> Duration {
    let base = 1u64 << requests_so_far.saturating_sub(1).min(6);
    let base = Duration::from_secs(base.min(60));
    base.mul_f64(1.0 + 0.2 * jitter.clamp(0.0, 1.0))
}

pub fn plan_bridge_failure(
    now: Timestamp,
    expires_at: Timestamp,
    requests_so_far: u32,
    jitter: f64,
) -> BridgeFailurePlan {
    let delay = bridge_backoff(requests_so_far, jitter);
    match now.checked_add(delay) {
        Ok(at) if at < expires_at => BridgeFailurePlan::RetryAt(at),
        _ => BridgeFailurePlan::Expire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(bridge_backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(bridge_backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(bridge_backoff(4, 0.0), Duration::from_secs(8));
        assert_eq!(bridge_backoff(40, 0.0), Duration::from_secs(60));
        assert!(bridge_backoff(1, 1.0) <= Duration::from_millis(1200));
    }

    #[test]
    fn a_failure_near_the_deadline_expires() {
        let now: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let soon: Timestamp = "2027-01-01T00:00:00.500Z".parse().unwrap();
        let later: Timestamp = "2027-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(
            plan_bridge_failure(now, soon, 1, 0.0),
            BridgeFailurePlan::Expire
        );
        assert!(matches!(
            plan_bridge_failure(now, later, 1, 0.0),
            BridgeFailurePlan::RetryAt(_)
        ));
        assert_eq!(plan_claim(later, now), ClaimPlan::Expire);
        assert_eq!(plan_claim(now, later), ClaimPlan::Dispatch);
    }

    #[test]
    fn only_callbacks_nobody_is_calling_are_editable() {
        for st in Status::ALL {
            let untouched = matches!(st, Status::Scheduled | Status::Waiting | Status::Offered);
            assert_eq!(st.is_editable(), untouched);
            assert_eq!(Status::parse(st.as_str()), Some(st));
        }
    }
}

pub use new::{CreatePolicy, NewCallback};

/// Turning a request to schedule a callback into a [`Callback`].
mod new {
    use jiff::{SignedDuration, Timestamp};
    use serde::Deserialize;

    use super::{Assignment, Callback, DialingMode, Origin, Status};
    use crate::domain::{
        AccountId, CallbackId, ErrorCode, FieldError, PhoneNumber, Zone,
        dialing::{Location, ZoneSource},
        parse_scheduled_at,
    };

    pub const MAX_TEXT: usize = 5_000;
    pub const MAX_NAME: usize = 200;
    pub const MAX_METADATA_BYTES: usize = 16 * 1024;
    pub const MAX_ASSIGNEES: usize = 50;
    pub const DEFAULT_EXPIRE_AFTER_MINUTES: u32 = 60;
    pub const DEFAULT_MAX_DURATION_SECONDS: u32 = 900;
    /// How far ahead a callback may be scheduled.
    pub const MAX_HORIZON: SignedDuration = SignedDuration::from_hours(2 * 366 * 24);

    /// The account-level rules a new callback must satisfy.
    #[derive(Debug, Clone, Copy)]
    pub struct CreatePolicy {
        /// How far ahead of `now` a callback must be scheduled.
        pub min_lead: SignedDuration,
    }

    /// A request to schedule a callback, as received (native API, batch item or dialect).
    #[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewCallback {
        /// E.164, or a human format with a country code (`+1-415-555-0199`).
        pub phone: String,
        pub contact_name: Option<String>,
        /// RFC 3339 with an offset, or a local date-time without offset read in `timezone`.
        pub scheduled_at: String,
        /// IANA zone of the customer. Required when `scheduled_at` has no offset. Without it,
        /// calls are judged in the zone of the stored contact for the number, else in every
        /// zone the number may be in (`timezone_source` says which).
        pub timezone: Option<String>,
        pub assignment: Option<Assignment>,
        pub caller_id: Option<String>,
        pub dialing_mode: Option<DialingMode>,
        pub notes: Option<String>,
        #[schema(value_type = Option<Object>)]
        pub metadata: Option<serde_json::Value>,
        pub interaction_id: Option<String>,
        pub reminder_minutes_before: Option<u32>,
        pub expire_after_minutes: Option<u32>,
        pub max_duration_seconds: Option<u32>,
        pub recording_enabled: Option<bool>,
        pub initial_message: Option<String>,
        pub webhook_url: Option<String>,
        /// Schedule even if an active callback for this phone exists.
        pub allow_duplicate: Option<bool>,
        /// Recall policy: minutes after an unanswered call before each further attempt, as a
        /// list (`[30, 120]`), the same list in a string (`"[30,120]"`), or a list per outcome
        /// (`{"busy": [5, 15], "no_answer": [30, 120], "voicemail": []}`). Recalls are placed
        /// inside the account's calling window; every attempt counts against its attempt cap.
        #[schema(value_type = Option<Object>)]
        pub recall: Option<serde_json::Value>,
    }

    fn text(value: Option<String>, field: &str, max: usize) -> Result<Option<String>, FieldError> {
        match value {
            Some(v) if v.chars().count() > max => Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!("must be at most {max} characters"),
            )),
            Some(v) if v.trim().is_empty() => Ok(None),
            other => Ok(other),
        }
    }

    fn in_range(
        value: Option<u32>,
        field: &str,
        min: u32,
        max: u32,
        default: Option<u32>,
    ) -> Result<Option<u32>, FieldError> {
        match value.or(default) {
            Some(v) if !(min..=max).contains(&v) => Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!("must be between {min} and {max}"),
            )),
            other => Ok(other),
        }
    }

    /// Checks a requested call time against `now` and the minimum lead time.
    pub fn check_lead_time(
        at: Timestamp,
        now: Timestamp,
        policy: CreatePolicy,
        field: &str,
    ) -> Result<(), FieldError> {
        if at <= now {
            return Err(FieldError::new(
                ErrorCode::TimeInPast,
                field,
                format!("{at} is in the past (now is {now})"),
            ));
        }
        let lead = at.duration_since(now);
        if lead > MAX_HORIZON {
            return Err(FieldError::new(
                ErrorCode::TimeTooFar,
                field,
                "must be at most two years from now",
            ));
        }
        if lead < policy.min_lead {
            return Err(FieldError::new(
                ErrorCode::LeadTimeTooShort,
                field,
                format!(
                    "must be at least {} seconds from now",
                    policy.min_lead.as_secs()
                ),
            ));
        }
        Ok(())
    }

    /// Validates assignee lists: a kind and 1 to 50 non-empty ids.
    pub fn check_assignment(a: &Assignment, field: &str) -> Result<(), FieldError> {
        if a.ids.is_empty() || a.ids.len() > MAX_ASSIGNEES {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                format!("{field}.ids"),
                format!("must list between 1 and {MAX_ASSIGNEES} assignees"),
            ));
        }
        if a.ids
            .iter()
            .any(|id| id.trim().is_empty() || id.len() > 100)
        {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                format!("{field}.ids"),
                "assignee ids must be 1 to 100 characters",
            ));
        }
        Ok(())
    }

    /// Checks that metadata is a JSON object of bounded size.
    pub fn check_metadata(
        value: Option<serde_json::Value>,
        field: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, FieldError> {
        match value {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Object(map)) => {
                let size = serde_json::to_string(&map).map(|s| s.len()).unwrap_or(0);
                if size > MAX_METADATA_BYTES {
                    return Err(FieldError::new(
                        ErrorCode::InvalidField,
                        field,
                        format!("must be at most {MAX_METADATA_BYTES} bytes as JSON"),
                    ));
                }
                Ok(Some(map))
            }
            Some(_) => Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                "must be a JSON object",
            )),
        }
    }

    fn check_url(value: Option<String>, field: &str) -> Result<Option<String>, FieldError> {
        let Some(raw) = value else { return Ok(None) };
        let invalid = |why: &str| FieldError::new(ErrorCode::InvalidUrl, field, why.to_owned());
        if raw.len() > 2048 {
            return Err(invalid("must be at most 2048 characters"));
        }
        let url = url::Url::parse(&raw).map_err(|e| invalid(&format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid("must be an http or https URL with a host"));
        }
        Ok(Some(url.to_string()))
    }

    impl NewCallback {
        /// Validates every field and builds the callback to store. Returns it with the
        /// `allow_duplicate` flag. `prefix` names the field path for batch items (`callbacks[3].`).
        pub fn validate(
            self,
            account_id: &AccountId,
            origin: Origin,
            now: Timestamp,
            policy: CreatePolicy,
            prefix: &str,
        ) -> Result<(Callback, bool), FieldError> {
            let f = |name: &str| format!("{prefix}{name}");
            let phone = PhoneNumber::parse(&self.phone, &f("phone"))?;
            let timezone = match &self.timezone {
                Some(name) => Some(Zone::parse(name, &f("timezone"))?),
                None => None,
            };
            let scheduled_at =
                parse_scheduled_at(&self.scheduled_at, timezone.as_ref(), &f("scheduled_at"))
                    .map_err(|mut e| {
                        if e.code == ErrorCode::MissingField {
                            e.field = f("timezone");
                        }
                        e
                    })?;
            check_lead_time(scheduled_at, now, policy, &f("scheduled_at"))?;
            let caller_id = self
                .caller_id
                .filter(|c| !c.trim().is_empty())
                .map(|c| PhoneNumber::parse(&c, &f("caller_id")))
                .transpose()?;
            if let Some(a) = &self.assignment {
                check_assignment(a, &f("assignment"))?;
            }
            let expire_after_minutes = in_range(
                self.expire_after_minutes,
                &f("expire_after_minutes"),
                1,
                7 * 24 * 60,
                Some(DEFAULT_EXPIRE_AFTER_MINUTES),
            )?
            .unwrap_or(DEFAULT_EXPIRE_AFTER_MINUTES);
            let max_duration_seconds = in_range(
                self.max_duration_seconds,
                &f("max_duration_seconds"),
                10,
                4 * 60 * 60,
                Some(DEFAULT_MAX_DURATION_SECONDS),
            )?
            .unwrap_or(DEFAULT_MAX_DURATION_SECONDS);
            let reminder_minutes_before = in_range(
                self.reminder_minutes_before,
                &f("reminder_minutes_before"),
                1,
                7 * 24 * 60,
                None,
            )?;
            // Without a zone of the request's, the number's (the API may find the contact's).
            let (timezone, timezone_source) = match timezone {
                Some(zone) => (zone, ZoneSource::Request),
                None => (
                    Location::locate(&phone, None, None).display_zone().clone(),
                    ZoneSource::Number,
                ),
            };
            let callback = Callback {
                id: CallbackId::generate(),
                account_id: account_id.clone(),
                origin,
                status: Status::Scheduled,
                phone,
                contact_name: text(self.contact_name, &f("contact_name"), MAX_NAME)?,
                scheduled_at,
                timezone,
                timezone_source,
                region: None,
                due_at: scheduled_at,
                expires_at: Callback::deadline(scheduled_at, expire_after_minutes),
                attempt: 0,
                attempt_open: false,
                assignment: self.assignment,
                caller_id,
                dialing_mode: self.dialing_mode.unwrap_or(DialingMode::Progressive),
                notes: text(self.notes, &f("notes"), MAX_TEXT)?,
                metadata: check_metadata(self.metadata, &f("metadata"))?,
                interaction_id: text(self.interaction_id, &f("interaction_id"), MAX_NAME)?,
                reminder_minutes_before,
                expire_after_minutes,
                max_duration_seconds,
                recording_enabled: self.recording_enabled.unwrap_or(true),
                initial_message: text(self.initial_message, &f("initial_message"), MAX_TEXT)?,
                webhook_url: check_url(self.webhook_url, &f("webhook_url"))?,
                outcome: None,
                agent_id: None,
                offer_expires_at: None,
                campaign_id: None,
                contact_id: None,
                recall: match &self.recall {
                    Some(v) => crate::domain::campaign::RecallPolicy::parse(v, &f("recall"))?,
                    None => crate::domain::campaign::RecallPolicy::default(),
                },
                calling_window: None,
                created_at: now,
                updated_at: now,
            };
            Ok((callback, self.allow_duplicate.unwrap_or(false)))
        }
    }
}

pub use new::{check_assignment, check_lead_time, check_metadata};
