//! Calling windows: the local hours and days at which a contact may be called, and where an
//! attempt that falls outside them is moved.
//!
//! A window is a wall-clock range `[start, end)` on some days of the week, read in the
//! contact's zone, minus whole local dates it is closed (`blackout_dates`). An instant is
//! *inside* when its local time in that zone is at or after `start`, before `end`, on one of
//! the days, on a date that is not blacked out. Daylight-saving changes are handled with the tz
//! database: a window whose start falls in a gap (the clocks skip it) opens at the first instant
//! after the gap; in an overlap (the clocks show an hour twice) the wall clock alone decides, so
//! the earliest instant that shows a time inside the window is taken.

use std::fmt;

use jiff::{
    Timestamp,
    civil::{Date, DateTime, Weekday},
    tz::TimeZone,
};

use super::Zone;

mod opening;
mod parse;

pub use opening::{Opening, moved_to, start_of_day};
pub use parse::parse_date;

/// Days of the week, Monday first, as the API spells them.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Most blackout dates one window may hold.
pub const MAX_BLACKOUT_DATES: usize = 366;

/// Local calling hours: `[start, end)` in minutes since midnight, on the days set in `days`
/// (index 0 is Monday), except on `blackout_dates`. Parsed once: `start < end`, at least one
/// day, dates sorted and distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingWindow {
    start: u16,
    end: u16,
    days: [bool; 7],
    blackout_dates: Vec<Date>,
}

impl Default for CallingWindow {
    /// 08:00 to 21:00, every day.
    fn default() -> Self {
        Self {
            start: 8 * 60,
            end: 21 * 60,
            days: [true; 7],
            blackout_dates: Vec::new(),
        }
    }
}

impl CallingWindow {
    /// A window from its parts; `None` unless `start < end <= 24:00` and some day is set.
    pub fn new(start_minutes: u16, end_minutes: u16, days: [bool; 7]) -> Option<Self> {
        (start_minutes < end_minutes && end_minutes <= 24 * 60 && days.contains(&true)).then_some(
            Self {
                start: start_minutes,
                end: end_minutes,
                days,
                blackout_dates: Vec::new(),
            },
        )
    }

    /// The same window, closed on `dates` too.
    pub fn with_blackout_dates(mut self, dates: impl IntoIterator<Item = Date>) -> Self {
        self.blackout_dates.extend(dates);
        self.blackout_dates.sort_unstable();
        self.blackout_dates.dedup();
        self
    }

    /// Dates (local to the callee) on which the window stays closed.
    pub fn blackout_dates(&self) -> &[Date] {
        &self.blackout_dates
    }

    /// Is `at` inside the window, read in `zone`?
    pub fn contains(&self, at: Timestamp, zone: &Zone) -> bool {
        self.contains_local(local_time(at, zone.tz()))
    }

    fn contains_local(&self, local: DateTime) -> bool {
        self.hours_contain(local) && !self.is_blacked_out(local.date())
    }

    fn hours_contain(&self, local: DateTime) -> bool {
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.days[day_index(local.weekday())] && self.start <= minute && minute < self.end
    }

    fn is_blacked_out(&self, date: Date) -> bool {
        self.blackout_dates.binary_search(&date).is_ok()
    }

    /// The local time the window opens, minutes since midnight.
    pub fn start_minutes(&self) -> u16 {
        self.start
    }
}

/// The wall-clock time of `at` in `tz`.
fn local_time(at: Timestamp, tz: &TimeZone) -> DateTime {
    tz.to_offset(at).to_datetime(at)
}

impl fmt::Display for CallingWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hhmm(self.start), hhmm(self.end))
    }
}

fn day_index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

fn weekday_name(day: Weekday) -> &'static str {
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ][day_index(day)]
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}
