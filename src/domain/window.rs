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
    Timestamp, ToSpan,
    civil::{Date, DateTime, Time, Weekday},
    tz::{AmbiguousOffset, TimeZone},
};

use super::{ErrorCode, FieldError, Zone};

/// Days of the week, Monday first, as the API spells them.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// How far ahead the hours of a window are looked at for an opening. A window with at least
/// one day opens within a week; the slack covers calendar days a zone skipped (Pacific/Apia,
/// 2011-12-30).
const HORIZON_DAYS: i64 = 15;

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

/// Where an attempt is placed, and why it moved if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub at: Timestamp,
    /// Why the instant asked for was not used, e.g. "21:15 America/Denver is after the 21:00
    /// window end: moved to 08:00 next day". `None` when it was inside the window.
    pub moved: Option<String>,
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

    /// Parses `{"start": "08:00", "end": "21:00", "days": ["mon", ...], "blackout_dates":
    /// ["2026-12-24"]}`; each member is optional (defaults: 08:00, 21:00, every day, none).
    /// `null` is the default window. Errors name the member under `field`
    /// (`calling_window.start`).
    pub fn parse(value: &serde_json::Value, field: &str) -> Result<Self, FieldError> {
        let at = |member: &str| format!("{field}.{member}");
        let invalid = |f: String, why: &str| FieldError::new(ErrorCode::InvalidField, f, why);
        let map = match value {
            serde_json::Value::Null => return Ok(Self::default()),
            serde_json::Value::Object(map) => map,
            _ => {
                return Err(invalid(
                    field.to_owned(),
                    "must be an object such as {\"start\": \"08:00\", \"end\": \"21:00\", \
                     \"days\": [\"mon\", \"tue\"]}",
                ));
            }
        };
        if let Some(unknown) = map
            .keys()
            .find(|k| !["start", "end", "days", "blackout_dates"].contains(&k.as_str()))
        {
            return Err(FieldError::new(
                ErrorCode::UnknownField,
                at(unknown),
                format!(
                    "unknown field {unknown:?}; a window has start, end, days and blackout_dates"
                ),
            ));
        }
        let mut window = Self::default();
        let time = |member: &str, allow_24: bool| -> Result<Option<u16>, FieldError> {
            match map.get(member) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_str()
                    .and_then(|s| clock_minutes(s, allow_24))
                    .map(Some)
                    .ok_or_else(|| invalid(at(member), "must be a local time \"HH:MM\"")),
            }
        };
        if let Some(start) = time("start", false)? {
            window.start = start;
        }
        if let Some(end) = time("end", true)? {
            window.end = end;
        }
        if window.start >= window.end {
            return Err(invalid(
                at("end"),
                "the window must end after it starts, on the same day",
            ));
        }
        match map.get("days") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) => {
                let mut days = [false; 7];
                for (i, item) in items.iter().enumerate() {
                    let index = item
                        .as_str()
                        .and_then(|d| DAY_NAMES.iter().position(|n| n.eq_ignore_ascii_case(d)))
                        .ok_or_else(|| {
                            invalid(
                                format!("{field}.days[{i}]"),
                                "days are mon, tue, wed, thu, fri, sat, sun",
                            )
                        })?;
                    days[index] = true;
                }
                if !days.contains(&true) {
                    return Err(invalid(at("days"), "name at least one day"));
                }
                window.days = days;
            }
            Some(_) => {
                return Err(invalid(
                    at("days"),
                    "must be a list of days such as [\"mon\", \"tue\"]",
                ));
            }
        }
        match map.get("blackout_dates") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) => {
                if items.len() > MAX_BLACKOUT_DATES {
                    return Err(invalid(
                        at("blackout_dates"),
                        &format!("at most {MAX_BLACKOUT_DATES} dates"),
                    ));
                }
                let dates = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        parse_date(item).ok_or_else(|| {
                            invalid(
                                format!("{field}.blackout_dates[{i}]"),
                                "must be a date \"YYYY-MM-DD\"",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                window = window.with_blackout_dates(dates);
            }
            Some(_) => {
                return Err(invalid(
                    at("blackout_dates"),
                    "must be a list of dates such as [\"2026-12-24\"]",
                ));
            }
        }
        Ok(window)
    }

    /// The window as the API shows it (the shape [`parse`](Self::parse) reads).
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "start": hhmm(self.start),
            "end": hhmm(self.end),
            "days": DAY_NAMES
                .iter()
                .zip(self.days)
                .filter(|(_, on)| *on)
                .map(|(name, _)| *name)
                .collect::<Vec<_>>(),
        });
        if !self.blackout_dates.is_empty() {
            json["blackout_dates"] = self
                .blackout_dates
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .into();
        }
        json
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

    /// The earliest instant at or after `at` that is inside the window in `zone`, with the
    /// reason when it is not `at` itself. `None` if the window does not open within
    /// [`HORIZON_DAYS`] after its last blackout date: no zone in the tz database does that to
    /// a window with a day set.
    pub fn next_opening(&self, at: Timestamp, zone: &Zone) -> Option<Opening> {
        let found = self.next_inside(at, zone)?;
        Some(Opening {
            at: found,
            moved: (found != at).then(|| self.explain(at, found, zone)),
        })
    }

    /// [`next_opening`](Self::next_opening) without the explanation: the earliest instant at
    /// or after `at` inside the window in `zone`.
    pub fn next_inside(&self, at: Timestamp, zone: &Zone) -> Option<Timestamp> {
        let tz = zone.tz();
        let mut from = at;
        // Each round either finds an opening on an open date or restarts after a blackout date.
        for _ in 0..=self.blackout_dates.len() {
            let found = self.next_hours_opening(from, tz)?;
            let date = local_time(found, tz).date();
            if !self.is_blacked_out(date) {
                return Some(found);
            }
            from = start_of_day(date.tomorrow().ok()?, tz)?;
        }
        None
    }

    /// The earliest instant at or after `at` inside the window's hours and days (blackout
    /// dates aside).
    ///
    /// Inside-ness only begins where the wall clock reaches `start` (continuously, or by
    /// jumping over it in a gap) or at a clock change (an overlap turning the clock back into
    /// the window). Those candidates are visited in time order, day by day merged with the
    /// zone's transitions, and the first one inside is the answer.
    fn next_hours_opening(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = local_time(at, tz);
        if self.hours_contain(local) {
            return Some(at);
        }
        let horizon = at.checked_add((HORIZON_DAYS * 24).hours()).ok()?;
        let start = Time::new((self.start / 60) as i8, (self.start % 60) as i8, 0, 0).ok()?;
        let inside = |t: Timestamp| self.hours_contain(local_time(t, tz));
        let mut transitions = tz
            .following(at)
            .map(|t| t.timestamp())
            .take_while(|t| *t <= horizon)
            .peekable();
        let mut date = local.date();
        for _ in 0..=HORIZON_DAYS {
            let local_start = date.to_datetime(start);
            let starts: [Option<Timestamp>; 2] =
                match tz.to_ambiguous_timestamp(local_start).offset() {
                    AmbiguousOffset::Unambiguous { offset } => {
                        [offset.to_timestamp(local_start).ok(), None]
                    }
                    AmbiguousOffset::Fold { before, after } => [
                        before.to_timestamp(local_start).ok(),
                        after.to_timestamp(local_start).ok(),
                    ],
                    // The start never shows on the clock that day: the first instant after the gap
                    // is the clock change itself, one of the transitions.
                    AmbiguousOffset::Gap { .. } => [None, None],
                };
            for candidate in starts.into_iter().flatten() {
                while let Some(change) = transitions.next_if(|t| *t <= candidate) {
                    if change >= at && inside(change) {
                        return Some(change);
                    }
                }
                if candidate >= at && inside(candidate) {
                    return Some(candidate);
                }
            }
            date = date.tomorrow().ok()?;
        }
        transitions.find(|t| *t >= at && inside(*t))
    }

    /// "21:15 America/Denver is after the 21:00 window end: moved to 08:00 next day".
    fn explain(&self, from: Timestamp, to: Timestamp, zone: &Zone) -> String {
        let why = self.why_outside(from, zone);
        format!("{why}: {}", moved_to(from, to, zone, Some(self.start)))
    }

    /// Why `at` is outside the window in `zone`: "21:15 America/Denver is after the 21:00
    /// window end" (or on a day off, or on a blackout date). Meant for instants outside it.
    pub fn why_outside(&self, at: Timestamp, zone: &Zone) -> String {
        let a = at.to_zoned(zone.tz().clone());
        let minute = a.hour() as u16 * 60 + a.minute() as u16;
        let why = if self.is_blacked_out(a.date()) {
            format!("is on {}, a blackout date", a.date())
        } else if !self.days[day_index(a.weekday())] {
            format!("is on {}, not a calling day", weekday_name(a.weekday()))
        } else if minute < self.start {
            format!("is before the {} window start", hhmm(self.start))
        } else {
            format!("is after the {} window end", hhmm(self.end))
        };
        format!("{} {} {why}", a.strftime("%H:%M"), zone.name())
    }

    /// The local time the window opens, minutes since midnight.
    pub fn start_minutes(&self) -> u16 {
        self.start
    }
}

/// "moved to 08:00 next day", "moved to 08:00 on Monday 2026-06-15"; given the window's usual
/// opening time (`start`, minutes since midnight), with a note when the clocks skip or repeat
/// it that day.
pub fn moved_to(from: Timestamp, to: Timestamp, zone: &Zone, start: Option<u16>) -> String {
    let tz = zone.tz().clone();
    let (a, b) = (from.to_zoned(tz.clone()), to.to_zoned(tz));
    let when = match (b.date() - a.date()).get_days() {
        0 => String::new(),
        1 => " next day".to_owned(),
        _ => format!(" on {} {}", weekday_name(b.weekday()), b.date()),
    };
    let shown = b.strftime("%H:%M").to_string();
    let minute = b.hour() as u16 * 60 + b.minute() as u16;
    let gap = match start {
        Some(start) if minute != start => format!(
            " (the clocks skip or repeat the {} window start that day)",
            hhmm(start)
        ),
        _ => String::new(),
    };
    format!("moved to {shown}{when}{gap}")
}

/// The wall-clock time of `at` in `tz`.
fn local_time(at: Timestamp, tz: &TimeZone) -> DateTime {
    tz.to_offset(at).to_datetime(at)
}

/// The first instant of `date` in `tz` (after the gap, where midnight is skipped).
pub fn start_of_day(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_ambiguous_zoned(date.to_datetime(Time::midnight()))
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

/// `"2026-12-25"` as a date.
pub fn parse_date(value: &serde_json::Value) -> Option<Date> {
    let text = value.as_str()?.trim();
    if text.len() != 10 {
        return None;
    }
    text.parse().ok()
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

/// Minutes since midnight of `HH:MM`; `24:00` only where `allow_24` (a window's end).
fn clock_minutes(text: &str, allow_24: bool) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (allow_24 && h == 24 && m == 0))).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn zone(name: &str) -> Zone {
        Zone::parse(name, "timezone").unwrap()
    }

    fn local(zone: &Zone, text: &str) -> Timestamp {
        let dt: DateTime = text.parse().unwrap();
        dt.to_zoned(zone.tz().clone()).unwrap().timestamp()
    }

    fn shown(at: Timestamp, zone: &Zone) -> String {
        zone.format_local(at)
    }

    #[test]
    fn windows_are_parsed_with_defaults_and_named_errors() {
        let w = CallingWindow::parse(&json!(null), "calling_window").unwrap();
        assert_eq!(w, CallingWindow::default());
        let w = CallingWindow::parse(
            &json!({"start": "09:30", "end": "24:00", "days": ["mon", "FRI"]}),
            "calling_window",
        )
        .unwrap();
        assert_eq!(
            w.to_json(),
            json!({"start": "09:30", "end": "24:00", "days": ["mon", "fri"]})
        );
        for (input, field) in [
            (json!({"start": "8:00"}), "calling_window.start"),
            (json!({"start": "24:00"}), "calling_window.start"),
            (json!({"end": "21:60"}), "calling_window.end"),
            (
                json!({"start": "21:00", "end": "08:00"}),
                "calling_window.end",
            ),
            (json!({"days": []}), "calling_window.days"),
            (json!({"days": ["mon", "funday"]}), "calling_window.days[1]"),
            (json!({"days": "mon"}), "calling_window.days"),
            (json!({"begin": "08:00"}), "calling_window.begin"),
            (json!("08:00-21:00"), "calling_window"),
        ] {
            let err = CallingWindow::parse(&input, "calling_window").unwrap_err();
            assert_eq!(err.field, field, "{input}");
        }
    }

    #[test]
    fn inside_the_window_nothing_moves() {
        let la = zone("America/Los_Angeles");
        let at = local(&la, "2026-06-10T12:00");
        let opening = CallingWindow::default().next_opening(at, &la).unwrap();
        assert_eq!(opening, Opening { at, moved: None });
    }

    #[test]
    fn los_angeles_at_0730_waits_for_0800_the_same_day() {
        let la = zone("America/Los_Angeles");
        let at = local(&la, "2026-06-10T07:30");
        let opening = CallingWindow::default().next_opening(at, &la).unwrap();
        assert_eq!(shown(opening.at, &la), "2026-06-10T08:00:00-07:00");
        assert_eq!(
            opening.moved.as_deref(),
            Some("07:30 America/Los_Angeles is before the 08:00 window start: moved to 08:00")
        );
    }

    #[test]
    fn after_the_end_moves_to_the_next_morning() {
        let denver = zone("America/Denver");
        let at = local(&denver, "2026-06-10T21:15");
        let opening = CallingWindow::default().next_opening(at, &denver).unwrap();
        assert_eq!(shown(opening.at, &denver), "2026-06-11T08:00:00-06:00");
        assert_eq!(
            opening.moved.as_deref(),
            Some("21:15 America/Denver is after the 21:00 window end: moved to 08:00 next day")
        );
    }

    #[test]
    fn days_off_are_skipped() {
        let ny = zone("America/New_York");
        let weekdays =
            CallingWindow::parse(&json!({"days": ["mon", "tue", "wed", "thu", "fri"]}), "w")
                .unwrap();
        // Saturday 2026-06-13, 10:00.
        let at = local(&ny, "2026-06-13T10:00");
        let opening = weekdays.next_opening(at, &ny).unwrap();
        assert_eq!(shown(opening.at, &ny), "2026-06-15T08:00:00-04:00");
        assert_eq!(
            opening.moved.as_deref(),
            Some(
                "10:00 America/New_York is on Saturday, not a calling day: moved to 08:00 on \
                 Monday 2026-06-15"
            )
        );
    }

    #[test]
    fn spring_forward_2026_03_08_in_los_angeles() {
        let la = zone("America/Los_Angeles");
        // 21:30 PST on Saturday: the next 08:00 is already PDT (-07:00), 9.5 h later, not 10.5.
        let at = local(&la, "2026-03-07T21:30");
        let opening = CallingWindow::default().next_opening(at, &la).unwrap();
        assert_eq!(shown(opening.at, &la), "2026-03-08T08:00:00-07:00");
        assert_eq!(opening.at.to_string(), "2026-03-08T15:00:00Z");
        // A window opening at 02:30, which does not exist that day, opens when the clocks jump.
        let night = CallingWindow::parse(&json!({"start": "02:30", "end": "05:00"}), "w").unwrap();
        let at = local(&la, "2026-03-08T01:00");
        let opening = night.next_opening(at, &la).unwrap();
        assert_eq!(shown(opening.at, &la), "2026-03-08T03:00:00-07:00");
        assert_eq!(opening.at.to_string(), "2026-03-08T10:00:00Z");
        assert!(opening.moved.unwrap().contains("moved to 03:00"));
    }

    #[test]
    fn fall_back_2026_11_01_in_new_york() {
        let ny = zone("America/New_York");
        // 22:00 EDT on Saturday: 08:00 on Sunday is EST (-05:00), 11 h later.
        let at = local(&ny, "2026-10-31T22:00");
        let opening = CallingWindow::default().next_opening(at, &ny).unwrap();
        assert_eq!(shown(opening.at, &ny), "2026-11-01T08:00:00-05:00");
        assert_eq!(opening.at.to_string(), "2026-11-01T13:00:00Z");
        // A window starting at 01:30, shown twice that night: the first time counts.
        let night = CallingWindow::parse(&json!({"start": "01:30", "end": "06:00"}), "w").unwrap();
        let at = local(&ny, "2026-11-01T00:10");
        let opening = night.next_opening(at, &ny).unwrap();
        assert_eq!(opening.at.to_string(), "2026-11-01T05:30:00Z");
        // A window ending at 01:30: after it closes at 01:30 EDT, the clock falls back to 01:00
        // EST, inside again.
        let early = CallingWindow::parse(&json!({"start": "00:00", "end": "01:30"}), "w").unwrap();
        let at: Timestamp = "2026-11-01T05:45:00Z".parse().unwrap(); // 01:45 EDT
        let opening = early.next_opening(at, &ny).unwrap();
        assert_eq!(opening.at.to_string(), "2026-11-01T06:00:00Z"); // 01:00 EST
    }

    #[test]
    fn a_skipped_calendar_day_is_skipped() {
        // Samoa jumped from 2011-12-29 23:59:59 to 2011-12-31 00:00.
        let apia = zone("Pacific/Apia");
        let at: Timestamp = "2011-12-30T09:00:00Z".parse().unwrap(); // 23:00 on the 29th
        let opening = CallingWindow::default().next_opening(at, &apia).unwrap();
        assert_eq!(shown(opening.at, &apia), "2011-12-31T08:00:00+14:00");
    }

    /// Every zone of the bundled tz database, the awkward ones (Lord Howe's half-hour shift,
    /// Apia's skipped day, Kathmandu's +05:45, Casablanca's Ramadan changes) included.
    static ZONES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_owned())
            .collect();
        names.sort();
        names
    });

    fn window_strategy() -> impl Strategy<Value = CallingWindow> {
        // Minutes in steps of 15, including starts in the small hours where gaps and overlaps
        // fall.
        (0u16..96, 1u16..=96, prop::array::uniform7(any::<bool>())).prop_filter_map(
            "a valid window",
            |(s, len, days)| {
                let start = s * 15;
                let end = (start + len * 15).min(24 * 60);
                CallingWindow::new(start, end, days)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// In any zone, at any minute from 2000 to 2037, for any window: never outside the
        /// window, never before the input, and the earliest such instant:
        /// every whole minute between the input and the answer is outside the window.
        #[test]
        fn the_opening_is_the_earliest_instant_inside_the_window(
            zone_index in 0..ZONES.len(),
            // 2000-01-01 to 2037-12-31, to the minute, plus seconds.
            minutes in 15_778_080i64..35_766_720,
            seconds in 0i64..60,
            window in window_strategy(),
        ) {
            let zone = zone(&ZONES[zone_index]);
            let at = Timestamp::from_second(minutes * 60 + seconds).unwrap();
            let opening = window.next_opening(at, &zone).expect("an opening within 15 days");
            prop_assert!(opening.at >= at);
            prop_assert!(window.contains(opening.at, &zone), "{} is outside {window}",
                zone.format_local(opening.at));
            prop_assert_eq!(opening.moved.is_none(), opening.at == at);
            // Step minute by minute (on the minute, where the wall clock changes) from the input.
            let mut probe = Timestamp::from_second(minutes * 60 + 60).unwrap();
            while probe < opening.at {
                prop_assert!(!window.contains(probe, &zone),
                    "{} is inside {window} and earlier than {}",
                    zone.format_local(probe), zone.format_local(opening.at));
                probe = probe.checked_add(60.seconds()).unwrap();
            }
        }
    }
}
