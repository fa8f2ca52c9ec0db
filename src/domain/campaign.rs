//! Outbound campaigns: a contact list called with one playbook, paced, inside calling windows,
//! with a recall policy; and the account's dialling policy that every automated attempt obeys.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{
    AccountId, ErrorCode, FieldError, Outcome, PhoneNumber, Zone,
    ids::CampaignId,
    playbook::PlaybookId,
    window::{CallingWindow, Opening},
};

/// Most recalls a policy may hold.
pub const MAX_RECALLS: usize = 10;
/// Longest recall delay: thirty days, in minutes.
pub const MAX_RECALL_MINUTES: u32 = 30 * 24 * 60;

/// Delays, in minutes from the end of a call that was not answered, before each further
/// attempt: `[30, 120]` retries 30 minutes after the first call and 120 after the second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecallPolicy(Vec<u32>);

impl RecallPolicy {
    /// Reads `[30, 120]` or the string `"[30,120]"`; `null` is no recall.
    pub fn parse(value: &serde_json::Value, field: &str) -> Result<Self, FieldError> {
        let invalid = |why: &str| FieldError::new(ErrorCode::InvalidField, field, why.to_owned());
        let list = match value {
            serde_json::Value::Null => return Ok(Self::default()),
            serde_json::Value::String(text) => serde_json::from_str::<serde_json::Value>(text)
                .map_err(|_| {
                    invalid("must be a list of minutes, such as [30, 120] or \"[30,120]\"")
                })?,
            other => other.clone(),
        };
        let items = list.as_array().ok_or_else(|| {
            invalid("must be a list of minutes, such as [30, 120] or \"[30,120]\"")
        })?;
        if items.len() > MAX_RECALLS {
            return Err(invalid(&format!("at most {MAX_RECALLS} recalls")));
        }
        let minutes = items
            .iter()
            .map(|m| {
                m.as_u64()
                    .filter(|m| (1..=u64::from(MAX_RECALL_MINUTES)).contains(m))
                    .map(|m| m as u32)
                    .ok_or_else(|| {
                        invalid(&format!(
                            "each delay must be a whole number of minutes from 1 to {MAX_RECALL_MINUTES}"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(minutes))
    }

    pub fn from_trusted(minutes: Vec<u32>) -> Self {
        Self(minutes)
    }

    pub fn minutes(&self) -> &[u32] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// After attempt `attempt` (1-based) ended at `ended_at` with `outcome`: when to call
    /// again, inside `window` read in `zone` when there is one. `None`: the policy is used up
    /// or the call was answered.
    pub fn next_attempt(
        &self,
        attempt: u32,
        outcome: Outcome,
        ended_at: Timestamp,
        window: Option<&CallingWindow>,
        zone: &Zone,
    ) -> Option<Opening> {
        if !outcome.is_recallable() {
            return None;
        }
        let delay = *self.0.get(attempt.checked_sub(1)? as usize)?;
        let at = ended_at
            .checked_add(SignedDuration::from_mins(i64::from(delay)))
            .ok()?;
        match window {
            Some(w) => w.next_opening(at, zone),
            None => Some(Opening { at, moved: None }),
        }
    }
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
    /// The zone of contacts with none of their own and none derivable from their number.
    pub timezone: Zone,
    pub calling_window: CallingWindow,
    pub recall: RecallPolicy,
    pub pacing: Pacing,
    pub caller_id: Option<PhoneNumber>,
    pub contacts_total: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The account's dialling policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSettings {
    /// Where automated attempts (campaign calls, recalls) are placed, in the contact's zone.
    pub calling_window: CallingWindow,
    /// A one-off callback may be scheduled outside the window when the customer asked for
    /// that time. Off: such a request is refused with `outside_calling_window`.
    pub allow_customer_requested_times: bool,
    /// At most this many attempts per phone number in `attempt_window_days`, across every
    /// source (callbacks, recalls, campaigns); `None`: no cap.
    pub max_attempts: Option<u32>,
    pub attempt_window_days: u32,
    /// After an answered call, automated attempts to the number (or the same debt) wait this
    /// many hours; `None`: no quiet period.
    pub quiet_after_answer_hours: Option<u32>,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            calling_window: CallingWindow::default(),
            allow_customer_requested_times: false,
            max_attempts: None,
            attempt_window_days: 7,
            quiet_after_answer_hours: None,
        }
    }
}

/// What stops a callback from being dialled now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Block {
    /// `calling_window`, `dnc`, `attempt_cap`, `quiet_period`, `no_agent`, `campaign_paused`, `not_due`,
    /// `final_state`.
    pub rule: &'static str,
    pub reason: String,
    /// When the block lifts by itself, if it does.
    pub until: Option<String>,
}

/// The debt a callback is about (`metadata.debt_ref`), counted by the frequency ledger beside
/// its number.
pub fn debt_ref(metadata: Option<&serde_json::Map<String, serde_json::Value>>) -> Option<&str> {
    metadata?
        .get("debt_ref")?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The end of the quiet period after the last answered call, if it is still running at `at`.
pub fn quiet_until(
    last_answered: Option<Timestamp>,
    hours: u32,
    at: Timestamp,
) -> Option<Timestamp> {
    let until = last_answered?
        .checked_add(SignedDuration::from_hours(i64::from(hours)))
        .ok()?;
    (until > at).then_some(until)
}

/// When an attempt capped at `max` per `days` may be placed: `None` if `count` (attempts
/// since `now - days`) is below the cap, else when the oldest of them leaves the window.
pub fn attempt_cap_until(
    count: u32,
    oldest: Option<Timestamp>,
    max: u32,
    days: u32,
) -> Option<Timestamp> {
    if count < max {
        return None;
    }
    oldest?
        .checked_add(SignedDuration::from_hours(i64::from(days) * 24))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recall_policies_read_arrays_and_strings() {
        assert_eq!(
            RecallPolicy::parse(&json!([30, 120]), "recall")
                .unwrap()
                .minutes(),
            &[30, 120]
        );
        assert_eq!(
            RecallPolicy::parse(&json!("[30,120]"), "recall")
                .unwrap()
                .minutes(),
            &[30, 120]
        );
        assert!(
            RecallPolicy::parse(&json!(null), "recall")
                .unwrap()
                .is_empty()
        );
        for bad in [
            json!("30,120"),
            json!([0]),
            json!([1.5]),
            json!({}),
            json!([-1]),
        ] {
            let e = RecallPolicy::parse(&bad, "recall").unwrap_err();
            assert_eq!(e.field, "recall", "{bad}");
        }
    }

    #[test]
    fn a_recall_follows_the_policy_and_stops_when_answered_or_used_up() {
        let policy = RecallPolicy::from_trusted(vec![1, 2]);
        let zone = Zone::utc();
        let end: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let next = policy
            .next_attempt(1, Outcome::NoAnswer, end, None, &zone)
            .unwrap();
        assert_eq!(
            next.at,
            "2026-11-24T10:01:00Z".parse::<Timestamp>().unwrap()
        );
        let next = policy
            .next_attempt(2, Outcome::Busy, end, None, &zone)
            .unwrap();
        assert_eq!(
            next.at,
            "2026-11-24T10:02:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(
            policy
                .next_attempt(3, Outcome::NoAnswer, end, None, &zone)
                .is_none()
        );
        assert!(
            policy
                .next_attempt(1, Outcome::Answered, end, None, &zone)
                .is_none()
        );
    }

    #[test]
    fn a_recall_outside_the_window_moves_to_the_next_opening() {
        let policy = RecallPolicy::from_trusted(vec![60]);
        let zone = Zone::parse("America/Los_Angeles", "tz").unwrap();
        // 20:30 local + 60 min = 21:30, after the 21:00 end: next day 08:00 local.
        let end: Timestamp = "2026-11-25T04:30:00Z".parse().unwrap();
        let next = policy
            .next_attempt(
                1,
                Outcome::NoAnswer,
                end,
                Some(&CallingWindow::default()),
                &zone,
            )
            .unwrap();
        assert_eq!(
            next.at,
            "2026-11-25T16:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(next.moved.is_some());
    }

    #[test]
    fn pacing_spreads_calls_and_caps_count_attempts() {
        let pacing = Pacing {
            max_concurrent_calls: 5,
            calls_per_second: 2.0,
        };
        let t: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        assert_eq!(
            pacing.slot(t, 3),
            "2026-11-24T10:00:01.5Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(attempt_cap_until(6, Some(t), 7, 7), None);
        assert_eq!(
            attempt_cap_until(7, Some(t), 7, 7),
            Some("2026-12-01T10:00:00Z".parse().unwrap())
        );
    }
}
