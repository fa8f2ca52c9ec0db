//! Agents, their presence and working hours, and the queues (ring groups) they belong to.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    AccountId, ErrorCode, FieldError, Zone,
    ids::{AgentId, QueueId},
};

/// Whether an agent can take work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    Busy,
    Away,
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::Busy => "busy",
            Presence::Away => "away",
            Presence::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Available, Self::Busy, Self::Away, Self::Offline]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: AgentId,
    pub account_id: AccountId,
    pub name: String,
    pub external_id: Option<String>,
    /// Where the agent takes the calls Ringback connects to them (`sip:agent@pbx.example.com`).
    pub sip_uri: Option<super::trunk::SipUri>,
    pub queue_ids: Vec<QueueId>,
    /// Most offers and calls the agent holds at once.
    pub concurrency: u32,
    pub timezone: Zone,
    /// Validated working hours (see [`parse_working_hours`]); `None`: no limit.
    pub working_hours: Option<serde_json::Map<String, serde_json::Value>>,
    /// The skills the agent holds with their levels: they are offered only callbacks whose
    /// required skills they meet (until a queue relaxes them).
    pub skills: super::routing::Skills,
    pub presence: Presence,
    pub presence_changed_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Agent {
    /// Is `at` inside the agent's working hours, in the agent's zone? Always true without
    /// working hours; a day missing from them is a day off.
    pub fn works_at(&self, at: Timestamp) -> bool {
        match self.hours_on_day_of(at) {
            None => true,
            Some((minute, ranges)) => ranges
                .iter()
                .any(|&(start, end)| start <= minute && minute < end),
        }
    }

    /// Offline, with no working hours left on the local day of `at`: a personal callback due
    /// then will not be taken that day. An agent without working hours may log in at any time.
    pub fn off_for_the_day(&self, at: Timestamp) -> bool {
        self.presence == Presence::Offline
            && self
                .hours_on_day_of(at)
                .is_some_and(|(minute, ranges)| ranges.iter().all(|&(_, end)| end <= minute))
    }

    /// The stretches of `[from, to)` inside the agent's working hours, as [`works_at`]
    /// reads them (an instant works when its local minute is inside a range of its local
    /// day), in order and merged where they touch (a shift through midnight is one stretch).
    /// `None` for an agent without working hours: always working.
    ///
    /// Whether an instant works changes only where the local clock reaches a range's start
    /// or end, at midnight, or at a clock change; the walk jumps from one such instant to the
    /// next, a few steps a day.
    ///
    /// [`works_at`]: Self::works_at
    pub fn working_spans(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Vec<(Timestamp, Timestamp)>> {
        self.working_hours.as_ref()?;
        let tz = self.timezone.tz();
        let mut spans: Vec<(Timestamp, Timestamp)> = Vec::new();
        let mut t = from;
        while t < to {
            let (minute, ranges) = self.hours_on_day_of(t)?;
            let working = ranges
                .iter()
                .any(|&(start, end)| start <= minute && minute < end);
            let next_minute = ranges
                .iter()
                .flat_map(|&(start, end)| [start, end])
                .filter(|&m| m > minute)
                .min()
                .unwrap_or(24 * 60)
                .min(24 * 60);
            let local = t.to_zoned(tz.clone());
            let into_minute = jiff::SignedDuration::from_secs(i64::from(local.second()))
                + jiff::SignedDuration::from_nanos(i64::from(local.subsec_nanosecond()));
            let ahead = jiff::SignedDuration::from_mins(i64::from(next_minute - minute));
            let mut next = t.checked_add(ahead - into_minute).ok()?;
            if let Some(change) = tz.following(t).next()
                && change.timestamp() < next
            {
                next = change.timestamp();
            }
            let next = next.min(to);
            if working {
                match spans.last_mut() {
                    Some(last) if last.1 == t => last.1 = next,
                    _ => spans.push((t, next)),
                }
            }
            t = next;
        }
        Some(spans)
    }

    /// The minute of the local day of `at` and that day's working ranges (in minutes), or
    /// `None` for an agent without working hours.
    fn hours_on_day_of(&self, at: Timestamp) -> Option<(u32, Vec<(u32, u32)>)> {
        let hours = self.working_hours.as_ref()?;
        let local = at.to_zoned(self.timezone.tz().clone());
        let day = DAYS[local.weekday().to_monday_zero_offset() as usize];
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        let ranges = hours
            .get(day)
            .and_then(|ranges| ranges.as_array())
            .map(|ranges| {
                ranges
                    .iter()
                    .filter_map(|r| r.as_str()?.split_once('-'))
                    .filter_map(|(a, b)| Some((minutes(a)?, minutes(b)?)))
                    .collect()
            })
            .unwrap_or_default();
        Some((minute, ranges))
    }
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub id: QueueId,
    pub account_id: AccountId,
    pub name: String,
    /// How long an offer waits for an agent's answer before it goes to the next agent.
    pub offer_timeout_seconds: u32,
    /// Priority aging and skill relaxation of the callbacks waiting in it.
    pub rules: super::routing::LineRules,
    pub member_ids: Vec<AgentId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Validates working hours: `{"mon": ["09:00-12:30", "13:30-17:00"], ...}`, days `mon`..`sun`,
/// each range `HH:MM-HH:MM` with its start before its end, in the agent's zone.
pub fn parse_working_hours(
    value: serde_json::Value,
    field: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, FieldError> {
    let invalid =
        |f: String, why: &str| FieldError::new(ErrorCode::InvalidField, f, why.to_owned());
    let map = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(map) => map,
        _ => return Err(invalid(field.to_owned(), "must be an object of days")),
    };
    for (day, ranges) in &map {
        let at = format!("{field}.{day}");
        if !DAYS.contains(&day.as_str()) {
            return Err(invalid(at, "days are mon, tue, wed, thu, fri, sat, sun"));
        }
        let ranges = ranges
            .as_array()
            .ok_or_else(|| invalid(at.clone(), "must be a list of \"HH:MM-HH:MM\" ranges"))?;
        for (i, range) in ranges.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let text = range
                .as_str()
                .ok_or_else(|| invalid(at.clone(), "must be \"HH:MM-HH:MM\""))?;
            let (start, end) = text
                .split_once('-')
                .and_then(|(a, b)| Some((minutes(a)?, minutes(b)?)))
                .ok_or_else(|| invalid(at.clone(), "must be \"HH:MM-HH:MM\""))?;
            if start >= end {
                return Err(invalid(at, "the range must start before it ends"));
            }
        }
    }
    Ok(Some(map))
}

/// Minutes since midnight of `HH:MM` (24:00 allowed as an end).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn working_hours_are_checked_by_day_and_range() {
        assert!(
            parse_working_hours(json!({"mon": ["09:00-12:30", "13:30-24:00"]}), "wh")
                .unwrap()
                .is_some()
        );
        assert_eq!(parse_working_hours(json!(null), "wh").unwrap(), None);
        let err = parse_working_hours(json!({"monday": []}), "wh").unwrap_err();
        assert_eq!(err.field, "wh.monday");
        let err = parse_working_hours(json!({"mon": ["17:00-09:00"]}), "wh").unwrap_err();
        assert_eq!(err.field, "wh.mon[0]");
        let err = parse_working_hours(json!({"tue": ["9-5"]}), "wh").unwrap_err();
        assert_eq!(err.field, "wh.tue[0]");
    }

    #[test]
    fn working_hours_are_read_in_the_agents_zone() {
        let hours = parse_working_hours(json!({"mon": ["09:00-17:00"]}), "wh").unwrap();
        let agent = Agent {
            id: AgentId::generate(),
            account_id: AccountId::generate(),
            name: "Ada".into(),
            external_id: None,
            sip_uri: None,
            queue_ids: vec![],
            concurrency: 1,
            timezone: Zone::parse("America/New_York", "tz").unwrap(),
            working_hours: hours,
            skills: Default::default(),
            presence: Presence::Available,
            presence_changed_at: Timestamp::UNIX_EPOCH,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        // Monday 2026-11-23: 09:00 in New York is 14:00 UTC.
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(!agent.works_at(at("2026-11-23T13:59:00Z")));
        assert!(agent.works_at(at("2026-11-23T14:00:00Z")));
        assert!(agent.works_at(at("2026-11-23T21:59:00Z")));
        assert!(!agent.works_at(at("2026-11-23T22:00:00Z")));
        // Tuesday is not in the hours: a day off.
        assert!(!agent.works_at(at("2026-11-24T15:00:00Z")));

        // Offline: gone for the day once Monday's hours are over, and all Tuesday.
        let offline = Agent {
            presence: Presence::Offline,
            ..agent.clone()
        };
        assert!(!offline.off_for_the_day(at("2026-11-23T21:59:00Z")));
        assert!(offline.off_for_the_day(at("2026-11-23T22:00:00Z")));
        assert!(offline.off_for_the_day(at("2026-11-24T15:00:00Z")));
        // Away, or without working hours, an agent may still come back.
        assert!(!agent.off_for_the_day(at("2026-11-24T15:00:00Z")));
        let anytime = Agent {
            working_hours: None,
            ..offline
        };
        assert!(!anytime.off_for_the_day(at("2026-11-24T15:00:00Z")));
    }
}
