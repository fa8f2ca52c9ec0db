//! Callback instead of hold: a caller waiting in an inbound queue asks to be called back and
//! keeps their place. What this module decides, without I/O:
//!
//! - **When a queue callback joined the line** ([`parse_queued_since`], [`line_instant`]): the
//!   instant the caller joined the inbound queue (`queued_since`, RFC 3339 with an offset, at
//!   most [`QUEUED_SINCE_SKEW`] ahead of now and at most [`MAX_QUEUED_AGE`] old), which orders
//!   it among the queue's waiting callbacks instead of its due time. Priority still comes
//!   first ([`LineRules::rank`]).
//! - **Its place** ([`place_in_line`]): 1 + the callbacks waiting in the queue's line that
//!   come before it, in the line's order (priority aged by the queue, then the line instant).
//! - **Who can take it** ([`staffing`]): the queue's members who are *free* (available, under
//!   their concurrency, inside their working hours) and those *working* (available or busy,
//!   inside their working hours).
//! - **How long it waits** ([`estimate_wait`]), the estimator:
//!
//!   ```text
//!   H = mean of the queue's recent handle times (answered calls that ended in the last
//!       HANDLE_HISTORY, latest MAX_HANDLE_SAMPLES; DEFAULT_HANDLE_SECONDS when there are none)
//!   A = offer timeout / 2        (an offered agent answers somewhere within the timeout)
//!   a = callbacks ahead of it, f = free agents, n = working agents
//!
//!   n = 0          -> unknown (nobody to take it now)
//!   a < f          -> A                              (a free agent is offered it at once)
//!   otherwise      -> A + ceil((a - f + 1) x (H + A) / n)
//!   ```
//!
//!   Each working agent takes one callback per cycle of `H + A` (answering the offer, then
//!   handling the call), so the line moves at `n / (H + A)` callbacks a second; the callbacks
//!   that the free agents do not take at once wait for `a - f + 1` such departures. The wait
//!   is until an agent takes the callback (accepts its offer), not until the customer
//!   answers. It ignores callbacks that arrive later with a higher priority, and agents'
//!   other lines. Its error over a synthetic day is measured by `benches/wait_estimate.rs`
//!   (BENCHMARKS.md).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{
    ErrorCode, FieldError, agent::Agent, agent::Presence, parse_scheduled_at, routing::LineRules,
};

/// The handle time assumed when the queue has no recent history: five minutes.
pub const DEFAULT_HANDLE_SECONDS: u32 = 300;
/// How far back the queue's handle times are read.
pub const HANDLE_HISTORY: SignedDuration = SignedDuration::from_hours(4);
/// Most handle times the estimate reads (the latest).
pub const MAX_HANDLE_SAMPLES: usize = 200;
/// How far ahead of the server's clock `queued_since` may be (the IVR's clock may run ahead).
pub const QUEUED_SINCE_SKEW: SignedDuration = SignedDuration::from_secs(60);
/// How old `queued_since` may be: nobody holds a day.
pub const MAX_QUEUED_AGE: SignedDuration = SignedDuration::from_hours(24);
/// A queue callback not taken within this many minutes of falling due expires: it waits
/// through a day of the queue's opening hours rather than the hour of an ordinary callback.
pub const QUEUE_CALLBACK_EXPIRE_MINUTES: u32 = 24 * 60;

/// The instant a callback's place in a line is counted from: when the caller joined the
/// inbound queue, if that was before it fell due, else its due time.
pub fn line_instant(due_at: Timestamp, queued_since: Option<Timestamp>) -> Timestamp {
    queued_since.map_or(due_at, |since| since.min(due_at))
}

/// `queued_since` of a request: an RFC 3339 instant with an offset, not ahead of `now` by more
/// than [`QUEUED_SINCE_SKEW`] nor older than [`MAX_QUEUED_AGE`]; absent: `now`. Kept to the
/// millisecond, as every stored instant.
pub fn parse_queued_since(
    raw: Option<&str>,
    now: Timestamp,
    field: &str,
) -> Result<Timestamp, FieldError> {
    let now = Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
    let Some(raw) = raw else { return Ok(now) };
    let at = parse_scheduled_at(raw, None, field).map_err(|_| {
        FieldError::new(
            ErrorCode::InvalidDatetime,
            field,
            format!(
                "{raw:?} is not an instant; use RFC 3339 with an offset (2027-01-05T15:00:00Z)"
            ),
        )
    })?;
    check_queued_since(at, now, field)
}

/// An instant a caller joined the inbound queue, held to [`parse_queued_since`]'s bounds.
pub fn check_queued_since(
    at: Timestamp,
    now: Timestamp,
    field: &str,
) -> Result<Timestamp, FieldError> {
    if at > now + QUEUED_SINCE_SKEW {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("{at} is in the future (now is {now})"),
        ));
    }
    if at < now - MAX_QUEUED_AGE {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("{at} is more than 24 hours ago (now is {now})"),
        ));
    }
    Ok(at)
}

/// A callback waiting in a queue's line (or due and about to join it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub callback_id: String,
    pub priority: u8,
    /// Its [`line_instant`].
    pub line_at: Timestamp,
}

impl Waiting {
    /// The key the queue's line is ordered by (ascending: offered first), as
    /// `store::sql::line` places it: the rank, then the line instant, then the id.
    fn key<'a>(&'a self, rules: &LineRules) -> (i64, Timestamp, Timestamp, &'a str) {
        let (rank, at) = rules.rank(self.priority, self.line_at);
        (rank, at, self.line_at, self.callback_id.as_str())
    }
}

/// The 1-based place `candidate` takes in the line `waiting` (which may hold it: it is not
/// counted before itself), ordered by `rules`.
pub fn place_in_line(waiting: &[Waiting], rules: &LineRules, candidate: &Waiting) -> u32 {
    let key = candidate.key(rules);
    let ahead = waiting
        .iter()
        .filter(|w| w.callback_id != candidate.callback_id && w.key(rules) < key)
        .count();
    u32::try_from(ahead).unwrap_or(u32::MAX).saturating_add(1)
}

/// Who of a queue's members can take its callbacks now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Staffing {
    /// Available, under their concurrency and inside their working hours: offered a callback
    /// as soon as one waits.
    pub free: u32,
    /// Available or busy, inside their working hours: those who take the line's callbacks as
    /// their calls end.
    pub working: u32,
}

/// The staffing of a queue from its members and what each holds now (offers, reservations and
/// calls), at `now`.
pub fn staffing<'a>(
    members: impl IntoIterator<Item = (&'a Agent, u32)>,
    now: Timestamp,
) -> Staffing {
    let mut s = Staffing::default();
    for (agent, load) in members {
        if !agent.works_at(now) {
            continue;
        }
        match agent.presence {
            Presence::Available => {
                s.working += 1;
                if load < agent.concurrency {
                    s.free += 1;
                }
            }
            Presence::Busy => s.working += 1,
            Presence::Away | Presence::Offline => {}
        }
    }
    s
}

/// The mean of `handle_seconds`, rounded; [`DEFAULT_HANDLE_SECONDS`] when there are none.
pub fn average_handle(handle_seconds: &[u32]) -> u32 {
    if handle_seconds.is_empty() {
        return DEFAULT_HANDLE_SECONDS;
    }
    let sum: u64 = handle_seconds.iter().map(|&s| u64::from(s)).sum();
    let n = handle_seconds.len() as u64;
    u32::try_from((sum + n / 2) / n).unwrap_or(u32::MAX)
}

/// What the estimate of one callback's wait reads.
#[derive(Debug, Clone, Copy)]
pub struct WaitInputs {
    /// Callbacks ahead of it in the queue's line.
    pub ahead: u32,
    pub staffing: Staffing,
    /// The queue's mean handle time ([`average_handle`]), seconds.
    pub average_handle_seconds: u32,
    /// How long an offer of the queue stands.
    pub offer_timeout: Duration,
}

/// The estimated wait, in seconds, until an agent takes a callback (see the module's
/// formula); `None` when no agent of the queue is working now.
pub fn estimate_wait(inputs: &WaitInputs) -> Option<u32> {
    let n = u64::from(inputs.staffing.working);
    if n == 0 {
        return None;
    }
    let answer_ms = inputs.offer_timeout.as_millis() as u64 / 2;
    let free = u64::from(inputs.staffing.free.min(inputs.staffing.working));
    let ahead = u64::from(inputs.ahead);
    let wait_ms = if ahead < free {
        answer_ms
    } else {
        let cycle_ms = u64::from(inputs.average_handle_seconds) * 1000 + answer_ms;
        answer_ms + ((ahead - free + 1) * cycle_ms).div_ceil(n)
    };
    Some(u32::try_from(wait_ms.div_ceil(1000)).unwrap_or(u32::MAX))
}

/// What a caller is told of a wait: "less than a minute", "about 1 minute", "about 7 minutes"
/// (rounded to the nearest minute).
pub fn spoken_wait(seconds: u32) -> String {
    if seconds < 60 {
        return "less than a minute".to_owned();
    }
    match (seconds + 30) / 60 {
        1 => "about 1 minute".to_owned(),
        m => format!("about {m} minutes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AccountId, Zone,
        ids::{AgentId, QueueId},
        routing::Skills,
    };

    fn at(minute: i64) -> Timestamp {
        "2030-06-04T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minute)
    }

    fn agent(presence: Presence, concurrency: u32, hours: Option<serde_json::Value>) -> Agent {
        Agent {
            id: AgentId::generate(),
            account_id: AccountId::generate(),
            name: "Ada".into(),
            external_id: None,
            sip_uri: None,
            queue_ids: vec![QueueId::generate()],
            concurrency,
            timezone: Zone::utc(),
            working_hours: hours.map(|h| h.as_object().unwrap().clone()),
            skills: Skills::default(),
            presence,
            presence_changed_at: Timestamp::UNIX_EPOCH,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn inputs(ahead: u32, free: u32, working: u32, handle: u32) -> WaitInputs {
        WaitInputs {
            ahead,
            staffing: Staffing { free, working },
            average_handle_seconds: handle,
            offer_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_callback_a_free_agent_takes_at_once_waits_only_for_the_answer_to_its_offer() {
        assert_eq!(estimate_wait(&inputs(0, 1, 3, 240)), Some(15));
        assert_eq!(estimate_wait(&inputs(1, 2, 3, 240)), Some(15));
    }

    #[test]
    fn the_line_moves_at_one_callback_per_agent_cycle() {
        // 4 ahead, 1 free, 3 working, 240 s handle, 30 s offers: 15 + ceil(4 x 255 / 3).
        assert_eq!(estimate_wait(&inputs(4, 1, 3, 240)), Some(15 + 340));
        // Nobody free: the first in line waits for one departure.
        assert_eq!(estimate_wait(&inputs(0, 0, 2, 240)), Some(15 + 128));
        // Twice the agents, half the wait (rounded up to the second).
        assert_eq!(estimate_wait(&inputs(9, 0, 10, 300)), Some(15 + 315));
        assert_eq!(estimate_wait(&inputs(9, 0, 20, 300)), Some(15 + 158));
    }

    #[test]
    fn without_a_working_agent_the_wait_is_unknown() {
        assert_eq!(estimate_wait(&inputs(0, 0, 0, 240)), None);
        // More free than working cannot happen, and is not believed.
        assert_eq!(estimate_wait(&inputs(3, 9, 1, 60)), Some(15 + 3 * 75));
    }

    #[test]
    fn the_average_handle_time_falls_back_to_five_minutes_without_history() {
        assert_eq!(average_handle(&[]), DEFAULT_HANDLE_SECONDS);
        assert_eq!(average_handle(&[100, 200, 301]), 200);
        assert_eq!(average_handle(&[1, 2]), 2);
    }

    #[test]
    fn staffing_counts_working_hours_presence_and_concurrency() {
        let now = at(0); // a Tuesday at 10:00 UTC
        let (available, busy, away, full, off_shift) = (
            agent(Presence::Available, 1, None),
            agent(Presence::Busy, 1, None),
            agent(Presence::Away, 1, None),
            agent(Presence::Available, 2, None),
            agent(
                Presence::Available,
                1,
                Some(serde_json::json!({ "tue": ["13:00-17:00"] })),
            ),
        );
        let members = [
            (&available, 0),
            (&busy, 1),
            (&away, 0),
            (&full, 2),
            (&off_shift, 0),
        ];
        assert_eq!(
            staffing(members, now),
            Staffing {
                free: 1,
                working: 3
            }
        );
    }

    #[test]
    fn the_line_orders_by_priority_then_by_when_the_caller_joined() {
        let w = |id: &str, priority: u8, minute: i64| Waiting {
            callback_id: id.into(),
            priority,
            line_at: at(minute),
        };
        let line = vec![w("a", 50, 0), w("b", 50, -10), w("c", 50, 5)];
        let still = LineRules::default();
        let place = |c: &Waiting| place_in_line(&line, &still, c);
        assert_eq!(
            [place(&line[0]), place(&line[1]), place(&line[2])],
            [2, 1, 3]
        );
        // A higher priority joining last goes first; one joining now at the default, last.
        assert_eq!(place(&w("d", 90, 30)), 1);
        assert_eq!(place(&w("~", 50, 30)), 4);
        // Aging: an old low-priority callback has caught up with a newer high one.
        let aging = LineRules {
            aging_per_minute: 10.0,
            relax_after: None,
        };
        let old = w("old", 10, -60);
        let line = vec![old.clone(), w("new", 90, 0)];
        assert_eq!(place_in_line(&line, &aging, &old), 1);
    }

    #[test]
    fn a_queue_callback_is_placed_from_when_the_caller_joined_never_after_its_due_time() {
        assert_eq!(line_instant(at(10), Some(at(0))), at(0));
        assert_eq!(line_instant(at(10), Some(at(11))), at(10));
        assert_eq!(line_instant(at(10), None), at(10));
    }

    #[test]
    fn queued_since_is_a_recent_instant_with_an_offset() {
        let now = at(0);
        let f = "queued_since";
        assert_eq!(parse_queued_since(None, now, f), Ok(now));
        assert_eq!(
            parse_queued_since(Some("2030-06-04T05:50:00-04:00"), now, f),
            Ok(at(-10))
        );
        // A clock a little ahead is forgiven.
        assert_eq!(
            parse_queued_since(Some("2030-06-04T10:00:30Z"), now, f),
            Ok(at(0) + SignedDuration::from_secs(30))
        );
        for (raw, code) in [
            ("2030-06-04T10:05:00Z", ErrorCode::InvalidField),
            ("2030-06-03T09:59:00Z", ErrorCode::InvalidField),
            ("2030-06-04T10:00:00", ErrorCode::InvalidDatetime),
            ("ten past", ErrorCode::InvalidDatetime),
        ] {
            let e = parse_queued_since(Some(raw), now, f).unwrap_err();
            assert_eq!((e.code, e.field.as_str()), (code, f), "{raw}");
        }
    }

    #[test]
    fn a_wait_is_spoken_in_minutes() {
        assert_eq!(spoken_wait(15), "less than a minute");
        assert_eq!(spoken_wait(60), "about 1 minute");
        assert_eq!(spoken_wait(89), "about 1 minute");
        assert_eq!(spoken_wait(90), "about 2 minutes");
        assert_eq!(spoken_wait(355), "about 6 minutes");
    }
}
