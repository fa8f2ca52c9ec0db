//! Outbound campaigns: a contact list called with one playbook, paced, inside calling windows,
//! with a recall policy; and the account's dialling policy that every automated attempt obeys.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{
    AccountId, ErrorCode, FieldError, Outcome, PhoneNumber, Zone,
    dialing::{Holiday, RegionalWindow},
    ids::CampaignId,
    playbook::PlaybookId,
    window::CallingWindow,
};

mod launch;

pub use launch::{FirstCall, Launch};

/// Most recalls a policy may hold.
pub const MAX_RECALLS: usize = 10;
/// Longest recall delay: thirty days, in minutes.
pub const MAX_RECALL_MINUTES: u32 = 30 * 24 * 60;

/// When to call again after an attempt that was not answered: minutes from the end of the
/// call before each further attempt. Either one ladder for every unanswered outcome
/// (`[30, 120]` retries 30 minutes after the first call and 120 after the second), or a ladder
/// per outcome (`{"busy": [5, 15], "no_answer": [30, 120], "voicemail": []}`: the second busy
/// signal is retried after 15 minutes, a voicemail never, an outcome not named never). Every
/// attempt to one number still counts against the account's attempt cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecallPolicy(Ladders);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ladders {
    Same(Vec<u32>),
    ByOutcome(Vec<(Outcome, Vec<u32>)>),
}

impl Default for Ladders {
    fn default() -> Self {
        Ladders::Same(Vec::new())
    }
}

/// The outcomes a recall may follow, as a per-outcome policy names them.
const RECALLABLE: [Outcome; 4] = [
    Outcome::NoAnswer,
    Outcome::Busy,
    Outcome::Voicemail,
    Outcome::Failed,
];

impl RecallPolicy {
    /// Reads `[30, 120]`, the string `"[30,120]"`, or an object of such lists by outcome;
    /// `null` is no recall.
    pub fn parse(value: &serde_json::Value, field: &str) -> Result<Self, FieldError> {
        let invalid =
            |f: String, why: &str| FieldError::new(ErrorCode::InvalidField, f, why.to_owned());
        let shape = "must be a list of minutes, such as [30, 120] or \"[30,120]\", or an object \
                     of such lists by outcome, such as {\"busy\": [5, 15], \"no_answer\": [30]}";
        let value = match value {
            serde_json::Value::Null => return Ok(Self::default()),
            serde_json::Value::String(text) => serde_json::from_str::<serde_json::Value>(text)
                .map_err(|_| invalid(field.to_owned(), shape))?,
            other => other.clone(),
        };
        match &value {
            serde_json::Value::Array(items) => Ok(Self(Ladders::Same(ladder(items, field)?))),
            serde_json::Value::Object(map) => {
                let mut ladders = Vec::with_capacity(map.len());
                for (key, list) in map {
                    let at = format!("{field}.{key}");
                    let outcome = RECALLABLE
                        .into_iter()
                        .find(|o| o.as_str() == key)
                        .ok_or_else(|| {
                            FieldError::new(
                                ErrorCode::UnknownField,
                                at.clone(),
                                format!(
                                    "{key:?} is not an outcome a call is recalled after; use \
                                     no_answer, busy, voicemail or failed"
                                ),
                            )
                        })?;
                    let items = list.as_array().ok_or_else(|| {
                        invalid(at.clone(), "must be a list of minutes, such as [5, 15]")
                    })?;
                    ladders.push((outcome, ladder(items, &at)?));
                }
                ladders.sort_by_key(|(o, _)| RECALLABLE.iter().position(|r| r == o));
                Ok(Self(Ladders::ByOutcome(ladders)))
            }
            _ => Err(invalid(field.to_owned(), shape)),
        }
    }

    /// One ladder for every unanswered outcome.
    pub fn from_trusted(minutes: Vec<u32>) -> Self {
        Self(Ladders::Same(minutes))
    }

    /// Reads a policy back from its stored JSON ([`to_json`](Self::to_json)).
    pub fn from_stored(text: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        Self::parse(&value, "recall").ok()
    }

    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Ladders::Same(minutes) => minutes.is_empty(),
            Ladders::ByOutcome(ladders) => ladders.iter().all(|(_, m)| m.is_empty()),
        }
    }

    /// The policy as the API shows it and the store keeps it: the list, or the object.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.0 {
            Ladders::Same(minutes) => serde_json::json!(minutes),
            Ladders::ByOutcome(ladders) => ladders
                .iter()
                .map(|(o, m)| (o.as_str().to_owned(), serde_json::json!(m)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// After attempt `attempt` (1-based), called at `called_at` (the instant it was sent or
    /// started: delays count "from the time of the call", not from when its outcome came),
    /// ended with `outcome`, `earlier_same` of the callback's earlier attempts having ended
    /// with the same outcome: when to call again, before any calling window is applied.
    /// `None`: answered, or no recall left.
    pub fn next_attempt(
        &self,
        attempt: u32,
        outcome: Outcome,
        earlier_same: u32,
        called_at: Timestamp,
    ) -> Option<Timestamp> {
        if !outcome.is_recallable() {
            return None;
        }
        let delay = match &self.0 {
            Ladders::Same(minutes) => *minutes.get(attempt.checked_sub(1)? as usize)?,
            Ladders::ByOutcome(ladders) => *ladders
                .iter()
                .find(|(o, _)| *o == outcome)?
                .1
                .get(earlier_same as usize)?,
        };
        called_at
            .checked_add(SignedDuration::from_mins(i64::from(delay)))
            .ok()
    }
}

/// A list of recall delays in minutes, each checked.
fn ladder(items: &[serde_json::Value], field: &str) -> Result<Vec<u32>, FieldError> {
    if items.len() > MAX_RECALLS {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("at most {MAX_RECALLS} recalls"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.as_u64()
                .filter(|m| (1..=u64::from(MAX_RECALL_MINUTES)).contains(m))
                .map(|m| m as u32)
                .ok_or_else(|| {
                    FieldError::new(
                        ErrorCode::InvalidField,
                        format!("{field}[{i}]"),
                        format!(
                            "each delay must be a whole number of minutes from 1 to \
                             {MAX_RECALL_MINUTES}"
                        ),
                    )
                })
        })
        .collect()
}

/// How fast a campaign dials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pacing {
    /// Most of its calls being placed or in progress at once.
    pub max_concurrent_calls: u32,
    /// Calls started per second at most (their times are spread at launch).
    pub calls_per_second: f64,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 100,
            calls_per_second: 10.0,
        }
    }
}

impl Pacing {
    pub fn parse(value: &serde_json::Value, field: &str) -> Result<Self, FieldError> {
        let mut pacing = Self::default();
        if value.is_null() {
            return Ok(pacing);
        }
        let map = value
            .as_object()
            .ok_or_else(|| FieldError::new(ErrorCode::InvalidField, field, "must be an object"))?;
        for (key, v) in map {
            let at = format!("{field}.{key}");
            match key.as_str() {
                "max_concurrent_calls" => {
                    pacing.max_concurrent_calls = v
                        .as_u64()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| {
                            FieldError::new(ErrorCode::InvalidField, at, "must be 1 to 10000")
                        })? as u32;
                }
                "calls_per_second" => {
                    pacing.calls_per_second = v
                        .as_f64()
                        .filter(|n| (0.01..=10_000.0).contains(n))
                        .ok_or_else(|| {
                            FieldError::new(ErrorCode::InvalidField, at, "must be 0.01 to 10000")
                        })?;
                }
                _ => {
                    return Err(FieldError::new(
                        ErrorCode::UnknownField,
                        at,
                        "pacing has max_concurrent_calls and calls_per_second",
                    ));
                }
            }
        }
        Ok(pacing)
    }

    /// When the `index`-th call (0-based) of a campaign launched at `launch_at` may start.
    pub fn slot(&self, launch_at: Timestamp, index: usize) -> Timestamp {
        let offset = Duration::from_secs_f64(index as f64 / self.calls_per_second);
        launch_at.checked_add(offset).unwrap_or(launch_at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Calls are placed as they fall due.
    Running,
    /// Nothing is dialled until it is resumed.
    Paused,
    /// Its pending calls were canceled.
    Canceled,
    /// Every contact has reached a final state.
    Completed,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Canceled => "canceled",
            CampaignStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Paused, Self::Canceled, Self::Completed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: CampaignId,
    pub account_id: AccountId,
    pub name: Option<String>,
    pub status: CampaignStatus,
    pub playbook_id: PlaybookId,
    pub launch_at: Timestamp,
    /// The zone a `launch_at` without offset was read in; shown only, never used to judge a
    /// call's window.
    pub timezone: Zone,
    pub calling_window: CallingWindow,
    pub recall: RecallPolicy,
    pub pacing: Pacing,
    pub caller_id: Option<PhoneNumber>,
    /// The caller ID pool its calls show a number of, instead of one `caller_id`.
    pub caller_id_pool: Option<String>,
    /// The trunk its calls go out on; `None`: the account's default.
    pub trunk_id: Option<crate::domain::ids::TrunkId>,
    /// Its calls' priority (0 to 100) and the skills their agents must hold.
    pub priority: u8,
    pub skills: crate::domain::routing::Skills,
    pub contacts_total: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The account's dialling policy: what [`decide`](super::dialing::decide) applies to every
/// call of the account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSettings {
    /// Where calls are placed, in the callee's zone (a campaign may bring its own).
    pub calling_window: CallingWindow,
    /// The first call of a one-off callback may be placed outside the window when the customer
    /// asked for that time. Off: such a request is refused with `outside_calling_window`.
    pub allow_customer_requested_times: bool,
    /// At most this many attempts per phone number in `attempt_window_days`, across every
    /// source (callbacks, recalls, campaigns); `None`: no cap.
    pub max_attempts: Option<u32>,
    pub attempt_window_days: u32,
    /// After an answered call, automated attempts to the number (or the same debt) wait this
    /// many hours; `None`: no quiet period.
    pub quiet_after_answer_hours: Option<u32>,
    /// Dates nobody (in the holiday's regions) is called, in the callee's zone.
    pub holidays: Vec<Holiday>,
    /// Stricter windows of regions, applied on top of the calling window.
    pub regional_windows: Vec<RegionalWindow>,
    /// The trunk of calls whose callback or campaign names none; `None`: the server's
    /// `--dialer-url` bridge.
    pub default_trunk_id: Option<crate::domain::ids::TrunkId>,
    /// Where the voice-AI agent of `ai` calls on `sip` trunks is reached; `None`: such calls
    /// wait until one is set.
    pub ai_sip_uri: Option<crate::domain::trunk::SipUri>,
    /// Recordings of calls that ended more than this many days ago are deleted (1 to
    /// [`MAX_RECORDING_RETENTION_DAYS`]); `None`: kept.
    pub recording_retention_days: Option<u32>,
    /// Ended callbacks (with their calls, events and messages) are deleted this many days
    /// after they ended (1 to [`MAX_RECORDING_RETENTION_DAYS`]); `None`: kept.
    pub retention_days: Option<u32>,
    /// Audit entries are deleted this many days after they were written (never fewer than the
    /// server's floor, `--audit-retention-floor-days`); `None`: kept.
    pub audit_retention_days: Option<u32>,
    /// The zone compatible dialects read a local time without offset in (the Acefone-style
    /// dialer's `schedule_date_time`); `None`: UTC.
    pub dialect_timezone: Option<Zone>,
    /// What callbacks assigned to an agent do when the agent does not take them: the default
    /// of those that say nothing of it; `None`: they stay with the agent.
    pub fallback: Option<crate::domain::callback::Fallback>,
    /// Calls needing these scopes are placed only to numbers with consent recorded for them
    /// (`domain::consent`).
    pub require_consent_for: Vec<crate::domain::consent::ConsentScope>,
}

/// The longest `audit_retention_days` (a hundred years).
pub const MAX_AUDIT_RETENTION_DAYS: u32 = 36_500;

/// The longest `recording_retention_days` (ten years).
pub const MAX_RECORDING_RETENTION_DAYS: u32 = 3650;

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            calling_window: CallingWindow::default(),
            allow_customer_requested_times: false,
            max_attempts: None,
            attempt_window_days: 7,
            quiet_after_answer_hours: None,
            holidays: Vec::new(),
            regional_windows: Vec::new(),
            default_trunk_id: None,
            ai_sip_uri: None,
            recording_retention_days: None,
            retention_days: None,
            audit_retention_days: None,
            dialect_timezone: None,
            fallback: None,
            require_consent_for: Vec::new(),
        }
    }
}

/// The debt a callback is about (`metadata.debt_ref`), counted by the frequency ledger beside
/// its number.
pub fn debt_ref(metadata: Option<&serde_json::Map<String, serde_json::Value>>) -> Option<&str> {
    metadata?
        .get("debt_ref")?
        .as_str()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn recall_policies_read_arrays_strings_and_objects_by_outcome() {
        for same in [json!([30, 120]), json!("[30,120]")] {
            let policy = RecallPolicy::parse(&same, "recall").unwrap();
            assert_eq!(policy.to_json(), json!([30, 120]));
        }
        let by_outcome = RecallPolicy::parse(
            &json!({"voicemail": [], "busy": [5, 15], "no_answer": [30, 120]}),
            "recall",
        )
        .unwrap();
        assert_eq!(
            by_outcome.to_json(),
            json!({"no_answer": [30, 120], "busy": [5, 15], "voicemail": []})
        );
        assert_eq!(
            RecallPolicy::from_stored(&by_outcome.to_json().to_string()),
            Some(by_outcome)
        );
        assert!(
            RecallPolicy::parse(&json!(null), "recall")
                .unwrap()
                .is_empty()
        );
        for (bad, field) in [
            (json!("30,120"), "recall"),
            (json!(7), "recall"),
            (json!([0]), "recall[0]"),
            (json!([30, 1.5]), "recall[1]"),
            (json!([-1]), "recall[0]"),
            (json!({"busy": [-5]}), "recall.busy[0]"),
            (json!({"busy": 5}), "recall.busy"),
            (json!({"ringing": [5]}), "recall.ringing"),
            (json!({"answered": [5]}), "recall.answered"),
        ] {
            let e = RecallPolicy::parse(&bad, "recall").unwrap_err();
            assert_eq!(e.field, field, "{bad}");
        }
    }

    #[test]
    fn a_recall_follows_the_policy_and_stops_when_answered_or_used_up() {
        let policy = RecallPolicy::from_trusted(vec![1, 2]);
        let end = at("2026-11-24T10:00:00Z");
        let next = |attempt, outcome| policy.next_attempt(attempt, outcome, 0, end);
        assert_eq!(next(1, Outcome::NoAnswer), Some(at("2026-11-24T10:01:00Z")));
        assert_eq!(next(2, Outcome::Busy), Some(at("2026-11-24T10:02:00Z")));
        assert_eq!(next(3, Outcome::NoAnswer), None);
        assert_eq!(next(1, Outcome::Answered), None);
    }

    #[test]
    fn a_policy_by_outcome_climbs_each_outcome_s_own_ladder() {
        let policy =
            RecallPolicy::parse(&json!({"busy": [5, 15], "voicemail": []}), "recall").unwrap();
        let end = at("2026-11-24T10:00:00Z");
        // The first busy signal: 5 minutes; the second (one busy before it): 15; the third:
        // none left.
        assert_eq!(
            policy.next_attempt(1, Outcome::Busy, 0, end),
            Some(at("2026-11-24T10:05:00Z"))
        );
        assert_eq!(
            policy.next_attempt(4, Outcome::Busy, 1, end),
            Some(at("2026-11-24T10:15:00Z"))
        );
        assert_eq!(policy.next_attempt(5, Outcome::Busy, 2, end), None);
        // A voicemail, or an outcome the policy does not name, is not recalled.
        assert_eq!(policy.next_attempt(1, Outcome::Voicemail, 0, end), None);
        assert_eq!(policy.next_attempt(1, Outcome::NoAnswer, 0, end), None);
    }

    #[test]
    fn pacing_spreads_calls() {
        let pacing = Pacing {
            max_concurrent_calls: 5,
            calls_per_second: 2.0,
        };
        let t = at("2026-11-24T10:00:00Z");
        assert_eq!(pacing.slot(t, 3), at("2026-11-24T10:00:01.5Z"));
    }
}
