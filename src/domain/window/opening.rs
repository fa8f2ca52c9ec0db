//! Where an attempt outside a window is moved: the window's next opening in a zone, across
//! blackout dates and clock changes ([`Opening`]), and the sentences that say why it moved.

use jiff::{
    Timestamp, ToSpan,
    civil::{Date, Time},
    tz::{AmbiguousOffset, TimeZone},
};

use super::{CallingWindow, day_index, hhmm, local_time, weekday_name};
use crate::domain::Zone;

/// How far ahead the hours of a window are looked at for an opening. A window with at least
/// one day opens within a week; the slack covers calendar days a zone skipped (Pacific/Apia,
/// 2011-12-30).
const HORIZON_DAYS: i64 = 15;

/// Where an attempt is placed, and why it moved if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub at: Timestamp,
    /// Why the instant asked for was not used, e.g. "21:15 America/Denver is after the 21:00
    /// window end: moved to 08:00 next day". `None` when it was inside the window.
    pub moved: Option<String>,
}

impl CallingWindow {
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

/// The first instant of `date` in `tz` (after the gap, where midnight is skipped).
pub fn start_of_day(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_ambiguous_zoned(date.to_datetime(Time::midnight()))
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::DateTime;
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
