//! Bookable slots: the times a queue can keep a call to one number ([`slots`]), the slot
//! length ([`SlotLength`]), the self-describing slot id ([`SlotId`]), and how a slot's
//! capacity is counted.
//!
//! A slot is offered when every one of these holds (pure: the facts, the agents and the
//! bookings are arguments, `now` too):
//! - **The dial decision.** A new callback due at the slot's start is dialled at its start
//!   ([`earliest_dial`]: nothing blocks it then, in every zone the callee may be in: the
//!   calling window, regional windows, holidays, attempt caps, quiet periods, consent,
//!   do-not-call), and the safe window ([`SafeWindow`]) holds through every minute of the
//!   slot, so a call that waits for an agent until the slot's last minute may still be placed.
//!   A slot is a time Ringback offers, not one the customer asked for: the account's
//!   `allow_customer_requested_times` opens no slot outside the window.
//! - **Agents.** An agent of the queue counts for a slot when the slot lies wholly inside
//!   their working hours (read in their own zone; an agent without working hours always
//!   counts). Presence is not read: slots are for later, when presence will have changed.
//! - **Capacity.** `agents × slot length ÷ average handle time`, rounded down, minus what is
//!   taken ([`Taken`]): every callback booked into a slot that overlaps this one, and every
//!   other active callback of the queue scheduled inside it. At least one place must be left.
//!
//! **The grid.** Slots start on the customer's local clock at multiples of the slot length
//! from midnight (the length divides a day, see [`SlotLength`]), and last that many minutes
//! of real time. Across a daylight-saving change the local starts stay on the grid and their
//! UTC instants shift: a local start the clocks skip is not offered; one they show twice is
//! offered at each instant, unless it overlaps the slot before it.

use std::fmt;

use jiff::{
    SignedDuration, Timestamp, ToSpan,
    civil::Time,
    tz::{AmbiguousOffset, TimeZone},
};

use super::{
    ErrorCode, FieldError, Zone,
    agent::Agent,
    campaign::AccountSettings,
    dialing::{Facts, SafeWindow, earliest_dial},
    ids::QueueId,
};

/// The slot length when the request names none.
pub const DEFAULT_SLOT_MINUTES: u16 = 30;
/// How far ahead of `from` slots are listed when the request gives no `to`.
pub const DEFAULT_RANGE: SignedDuration = SignedDuration::from_hours(7 * 24);
/// The longest range one request may list.
pub const MAX_RANGE: SignedDuration = SignedDuration::from_hours(31 * 24);
/// The average handle time of a queue with no answered call to learn from (five minutes).
pub const DEFAULT_HANDLE_SECONDS: u32 = 300;
/// How far back a queue's answered calls are averaged.
pub const HANDLE_TIME_HISTORY: SignedDuration = SignedDuration::from_hours(7 * 24);

const DAY_MINUTES: u16 = 24 * 60;

/// A slot length in minutes: 5 to 240, dividing a day (1440 minutes), so the slots tile
/// every local day from midnight: 5, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24, 30, 32, 36, 40,
/// 45, 48, 60, 72, 80, 90, 96, 120, 144, 160, 180 or 240.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLength(u16);

impl SlotLength {
    pub fn parse(minutes: i64, field: &str) -> Result<Self, FieldError> {
        match u16::try_from(minutes) {
            Ok(m) if (5..=240).contains(&m) && DAY_MINUTES % m == 0 => Ok(Self(m)),
            _ => Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                "must be a number of minutes from 5 to 240 that divides a day (1440): \
                 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240 ...",
            )),
        }
    }

    pub fn minutes(self) -> u16 {
        self.0
    }

    pub fn duration(self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.0))
    }
}

impl Default for SlotLength {
    fn default() -> Self {
        Self(DEFAULT_SLOT_MINUTES)
    }
}

/// What names a slot: `slot_<queue id>_<start, Unix seconds>_<minutes>`
/// (`slot_que_01J..._1804694400_30`). Opaque to clients, but it says all a booking needs to
/// recompute the slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotId {
    pub queue: QueueId,
    pub start: Timestamp,
    pub length: SlotLength,
}

impl SlotId {
    const PREFIX: &'static str = "slot_";

    /// Reads a slot id; anything else (garbled, a start off the minute, a bad length) is an
    /// `invalid_field` on `field`.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                ErrorCode::InvalidField,
                field,
                "is not a slot id; take one from GET /v1/availability",
            )
        };
        let rest = raw.trim().strip_prefix(Self::PREFIX).ok_or_else(invalid)?;
        let mut parts = rest.rsplitn(3, '_');
        let (Some(minutes), Some(unix), Some(queue)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(minutes) || !digits(unix) {
            return Err(invalid());
        }
        let queue = QueueId::parse(queue).ok_or_else(invalid)?;
        let seconds: i64 = unix.parse().map_err(|_| invalid())?;
        let start = Timestamp::from_second(seconds).map_err(|_| invalid())?;
        if seconds % 60 != 0 {
            return Err(invalid());
        }
        let length = SlotLength::parse(minutes.parse().map_err(|_| invalid())?, field)
            .map_err(|_| invalid())?;
        Ok(Self {
            queue,
            start,
            length,
        })
    }

    pub fn end(&self) -> Timestamp {
        self.start
            .checked_add(self.length.duration())
            .unwrap_or(Timestamp::MAX)
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}_{}_{}",
            Self::PREFIX,
            self.queue,
            self.start.as_second(),
            self.length.minutes()
        )
    }
}

/// A place already taken in a queue's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A callback booked into the slot `[start, end)`: it takes a place in every slot that
    /// overlaps it (slots of another length may cut across it).
    Booked { start: Timestamp, end: Timestamp },
    /// A callback of the queue not booked into a slot: it takes a place in the slot its
    /// scheduled time falls in.
    Scheduled(Timestamp),
}

impl Taken {
    pub fn counts_in(&self, start: Timestamp, end: Timestamp) -> bool {
        match *self {
            Taken::Booked { start: s, end: e } => s < end && start < e,
            Taken::Scheduled(at) => start <= at && at < end,
        }
    }
}

/// The average of a queue's handle times (seconds), rounded up; [`DEFAULT_HANDLE_SECONDS`]
/// without any.
pub fn average_handle_seconds(times: &[u32]) -> u32 {
    if times.is_empty() {
        return DEFAULT_HANDLE_SECONDS;
    }
    let total: u64 = times.iter().map(|&t| u64::from(t.max(1))).sum();
    let n = times.len() as u64;
    u32::try_from(total.div_ceil(n)).unwrap_or(u32::MAX)
}

/// Everything [`slots`] needs to know.
pub struct SlotQuestion<'a> {
    /// The new callback's facts, as the dial decision reads them (its `due_at` is set to
    /// each slot's start).
    pub facts: Facts<'a>,
    pub policy: &'a AccountSettings,
    /// The customer's zone: the grid is on its clock.
    pub zone: &'a Zone,
    /// The queue's agents.
    pub agents: &'a [Agent],
    pub handle_seconds: u32,
    pub taken: &'a [Taken],
    pub length: SlotLength,
    /// Slots that start at or after `from` and end by `to`.
    pub from: Timestamp,
    pub to: Timestamp,
    /// The earliest start a booking would accept (now plus the minimum lead time).
    pub not_before: Timestamp,
    pub now: Timestamp,
}

/// One slot the dial decision and the agents allow, with its places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Agents of the queue working through the whole slot.
    pub agents: u32,
    /// `agents × length ÷ handle time`, rounded down.
    pub capacity: u32,
    /// Places already taken.
    pub taken: u32,
}

impl Slot {
    pub fn capacity_left(&self) -> u32 {
        self.capacity.saturating_sub(self.taken)
    }
}

/// The slots of `q`'s range the dial decision and the agents allow, in order, each with its
/// capacity and what is taken of it (full ones included: callers keep those with
/// [`Slot::capacity_left`]).
pub fn slots(q: &SlotQuestion<'_>) -> Vec<Slot> {
    let strict = AccountSettings {
        allow_customer_requested_times: false,
        ..q.policy.clone()
    };
    let window = q.facts.window.unwrap_or(&strict.calling_window);
    let safe = SafeWindow::new(window, &strict, q.facts.location);
    let first = q.from.max(q.not_before);
    let day = SignedDuration::from_hours(24);
    let spans_from = first.checked_sub(day).unwrap_or(first);
    let spans_to = q.to.checked_add(day).unwrap_or(q.to);
    let spans: Vec<Option<Vec<(Timestamp, Timestamp)>>> = q
        .agents
        .iter()
        .map(|a| a.working_spans(spans_from, spans_to))
        .collect();
    let length_seconds = u64::from(q.length.minutes()) * 60;
    let mut found = Vec::new();
    for start in grid(q.zone.tz(), q.length, first, q.to) {
        let Ok(end) = start.checked_add(q.length.duration()) else {
            break;
        };
        if end > q.to {
            break;
        }
        let agents = spans
            .iter()
            .filter(|spans| match spans {
                None => true,
                Some(spans) => spans.iter().any(|&(a, b)| a <= start && end <= b),
            })
            .count() as u32;
        let capacity = u64::from(agents) * length_seconds / u64::from(q.handle_seconds.max(1));
        let capacity = u32::try_from(capacity).unwrap_or(u32::MAX);
        if capacity == 0 {
            continue;
        }
        // Outside the safe window the dial decision cannot let it through at its start
        // (customers' times are not allowed here): skip asking it.
        if !safe.contains(start) {
            continue;
        }
        let facts = Facts {
            due_at: start,
            ..q.facts.clone()
        };
        if earliest_dial(&facts, &strict, q.now) != Ok(start) {
            continue;
        }
        let mut minute = start + SignedDuration::from_mins(1);
        let mut holds = true;
        while minute < end {
            if !safe.contains(minute) {
                holds = false;
                break;
            }
            minute += SignedDuration::from_mins(1);
        }
        if !holds {
            continue;
        }
        let taken = q.taken.iter().filter(|t| t.counts_in(start, end)).count() as u32;
        found.push(Slot {
            start,
            end,
            agents,
            capacity,
            taken,
        });
    }
    found
}

/// The starts of the grid in `[from, to)`: each local day's multiples of `length` from
/// midnight, as instants; a start the clocks skip gives none, one they show twice gives both
/// unless the second would overlap the slot of the first's run before it.
fn grid(tz: &TimeZone, length: SlotLength, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let per_day = DAY_MINUTES / length.minutes();
    let first_day = from.to_zoned(tz.clone()).date().yesterday().ok();
    let last_day = to.to_zoned(tz.clone()).date();
    let mut starts: Vec<Timestamp> = Vec::new();
    let mut day = first_day;
    while let Some(date) = day.filter(|d| *d <= last_day) {
        let midnight = date.to_datetime(Time::midnight());
        for k in 0..per_day {
            let Ok(local) =
                midnight.checked_add((i64::from(k) * i64::from(length.minutes())).minutes())
            else {
                continue;
            };
            match tz.to_ambiguous_timestamp(local).offset() {
                AmbiguousOffset::Unambiguous { offset } => {
                    starts.extend(offset.to_timestamp(local).ok())
                }
                AmbiguousOffset::Fold { before, after } => {
                    starts.extend(before.to_timestamp(local).ok());
                    starts.extend(after.to_timestamp(local).ok());
                }
                AmbiguousOffset::Gap { .. } => {}
            }
        }
        day = date.tomorrow().ok();
    }
    starts.sort_unstable();
    let mut kept: Vec<Timestamp> = Vec::with_capacity(starts.len());
    for start in starts {
        let clear = kept
            .last()
            .is_none_or(|last| *last + length.duration() <= start);
        if clear && start >= from && start < to {
            kept.push(start);
        }
    }
    kept
}

#[cfg(test)]
mod tests;
