//! The rules, as the test writes them down: calling hours, regional windows and holidays, and
//! the oracle that judges an instant inside or outside them in every candidate zone.

use std::fmt;

use jiff::civil::Weekday;

use super::cases::{FROM, UNTIL};
use super::*;
use crate::domain::{geo, window::CallingWindow};

/// Calling hours: `[start, end)` in minutes since midnight on the days of `days` (bit 0 is
/// Monday), except on `closed` dates.
#[derive(Clone, PartialEq)]
pub(super) struct Hours {
    pub(super) start: u16,
    pub(super) end: u16,
    pub(super) days: u8,
    pub(super) closed: Vec<Date>,
}

impl Hours {
    pub(super) const fn new(start: u16, end: u16, days: u8) -> Self {
        Self {
            start,
            end,
            days,
            closed: Vec::new(),
        }
    }

    pub(super) fn window(&self) -> CallingWindow {
        let days = std::array::from_fn(|i| self.days & (1 << i) != 0);
        CallingWindow::new(self.start, self.end, days)
            .expect("a valid window")
            .with_blackout_dates(self.closed.iter().copied())
    }

    fn holds(&self, local: &Local) -> bool {
        self.days & (1 << local.day.to_monday_zero_offset()) != 0
            && self.start <= local.minute
            && local.minute < self.end
            && !self.closed.contains(&local.date)
    }
}

impl fmt::Debug for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{} ", hhmm(self.start), hhmm(self.end))?;
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let on: Vec<&str> = (0..7)
            .filter(|i| self.days & (1 << i) != 0)
            .map(|i| days[i])
            .collect();
        write!(f, "{}", on.join(","))?;
        if !self.closed.is_empty() {
            write!(f, " closed {:?}", self.closed)?;
        }
        Ok(())
    }
}

pub(super) const EVERY_DAY: u8 = 0b111_1111;
const WEEKDAYS: u8 = 0b001_1111;
const SATURDAY: u8 = 0b010_0000;
const SUNDAY: u8 = 0b100_0000;

/// Regional windows an account may hold; a case takes some of them.
pub(super) const REGIONAL: &[(&str, &[Hours])] = &[
    ("US-FL", &[Hours::new(8 * 60, 20 * 60, EVERY_DAY)]),
    (
        "US-TX",
        &[
            Hours::new(9 * 60, 21 * 60, WEEKDAYS | SATURDAY),
            Hours::new(12 * 60, 21 * 60, SUNDAY),
        ],
    ),
    (
        "CA-QC",
        &[
            Hours::new(8 * 60, 20 * 60, WEEKDAYS),
            Hours::new(10 * 60, 17 * 60, SATURDAY | SUNDAY),
        ],
    ),
    (
        "AU-NSW",
        &[
            Hours::new(9 * 60, 20 * 60, WEEKDAYS),
            Hours::new(9 * 60, 17 * 60, SATURDAY),
        ],
    ),
    (
        "RU",
        &[
            Hours::new(9 * 60, 20 * 60, WEEKDAYS),
            Hours::new(10 * 60, 18 * 60, SATURDAY | SUNDAY),
        ],
    ),
];

/// The regions a holiday may name (none: everybody).
pub(super) const HOLIDAY_REGIONS: &[&[&str]] = &[
    &[],
    &["US"],
    &["US-TX", "US-FL"],
    &["CA-QC"],
    &["AU-NSW"],
    &["BR", "MX"],
    &["RU"],
    &["GB"],
];

/// Do the rules of `region` reach a number placed at `place`? A country's reach its numbers;
/// a subdivision's those known to be in it and those whose subdivision is unknown.
pub(super) fn reaches(region: &str, place: &geo::NumberPlace) -> bool {
    let country = region.split('-').next().unwrap_or(region);
    let subdivision_ok =
        !region.contains('-') || place.subdivision.is_none() || place.subdivision == Some(region);
    place.country == Some(country) && subdivision_ok
}

/// The local date, weekday and minute of an instant in a zone.
struct Local {
    date: Date,
    day: Weekday,
    minute: u16,
}

impl Local {
    fn of(at: Timestamp, zone: &Zone) -> Self {
        let zoned = at.to_zoned(zone.tz().clone());
        Self {
            date: zoned.date(),
            day: zoned.weekday(),
            minute: zoned.hour() as u16 * 60 + zoned.minute() as u16,
        }
    }
}

/// Is an instant inside every rule in every zone the callee may be in?
pub(super) struct Oracle<'a> {
    pub(super) zones: &'a [Zone],
    pub(super) window: &'a Hours,
    /// The regional windows that apply; each is a list of alternatives.
    pub(super) regional: Vec<&'a [Hours]>,
    /// The dates of the holidays that apply.
    pub(super) holidays: Vec<Date>,
}

impl Oracle<'_> {
    /// The first candidate zone in which `at` breaks a rule; `None`: inside everywhere.
    pub(super) fn breach(&self, at: Timestamp) -> Option<&Zone> {
        self.zones.iter().find(|zone| {
            let local = Local::of(at, zone);
            !(self.window.holds(&local)
                && self
                    .regional
                    .iter()
                    .all(|alternatives| alternatives.iter().any(|h| h.holds(&local)))
                && !self.holidays.contains(&local.date))
        })
    }

    pub(super) fn inside(&self, at: Timestamp) -> bool {
        self.breach(at).is_none()
    }

    /// The first quarter hour strictly after `from` and not after `to` that is inside.
    pub(super) fn first_inside(&self, from: Timestamp, to: Timestamp) -> Option<Timestamp> {
        const QUARTER: i64 = 15 * 60;
        let mut s = from.as_second().div_euclid(QUARTER) * QUARTER + QUARTER;
        while s <= to.as_second() {
            let t = Timestamp::from_second(s).unwrap();
            if self.inside(t) {
                return Some(t);
            }
            s += QUARTER;
        }
        None
    }

    /// `at` in every candidate zone, for failure messages.
    pub(super) fn show(&self, at: Timestamp) -> String {
        let zones: Vec<String> = self
            .zones
            .iter()
            .take(8)
            .map(|z| {
                let zoned = at.to_zoned(z.tz().clone());
                format!("{} {}", zoned.strftime("%a %Y-%m-%d %H:%M"), z.name())
            })
            .collect();
        let more = self.zones.len().saturating_sub(8);
        let more = if more > 0 {
            format!(" and {more} more zones")
        } else {
            String::new()
        };
        format!("{at} ({}{more})", zones.join(", "))
    }
}

#[test]
fn clocks_change_on_quarter_hours_in_every_zone_from_2025_to_2030() {
    // What lets the scans above look at quarter hours only.
    let from = Timestamp::from_second(FROM).unwrap();
    for zone in ZONES.iter() {
        let tz = zone.tz();
        assert_eq!(tz.to_offset(from).seconds() % 900, 0, "{}", zone.name());
        for change in tz
            .following(from)
            .take_while(|c| c.timestamp().as_second() < UNTIL + 30 * 86_400)
        {
            assert_eq!(
                (
                    change.timestamp().as_second() % 900,
                    change.offset().seconds() % 900
                ),
                (0, 0),
                "{} at {}",
                zone.name(),
                change.timestamp()
            );
        }
    }
}
