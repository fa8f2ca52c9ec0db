//! The safe window: every window rule (the base window, regional windows, holidays) read in
//! every zone the callee may be in ([`SafeWindow`]).

use jiff::{Timestamp, ToSpan, civil::Date};

use super::{Holiday, Location, RegionalWindow};
use crate::domain::{
    Zone,
    campaign::AccountSettings,
    window::{CallingWindow, moved_to, start_of_day},
};

/// How far ahead an opening of the safe window is looked for, beyond the dates it is closed.
/// Hours that never overlap in every candidate zone within it are taken never to overlap.
const SEARCH_DAYS: i64 = 16;

/// One rule of the safe window.
#[derive(Clone, Copy)]
enum WindowRule<'a> {
    /// The account's or the campaign's window (with its blackout dates).
    Base(&'a CallingWindow),
    Regional(&'a RegionalWindow),
    Holiday(&'a Holiday),
}

impl WindowRule<'_> {
    fn contains(self, at: Timestamp, zone: &Zone) -> bool {
        match self {
            WindowRule::Base(w) => w.contains(at, zone),
            WindowRule::Regional(r) => r.contains(at, zone),
            WindowRule::Holiday(h) => local_date(at, zone) != h.date,
        }
    }

    fn next_inside(self, at: Timestamp, zone: &Zone) -> Option<Timestamp> {
        match self {
            WindowRule::Base(w) => w.next_inside(at, zone),
            WindowRule::Regional(r) => r.next_inside(at, zone),
            WindowRule::Holiday(h) => {
                if local_date(at, zone) == h.date {
                    start_of_day(h.date.tomorrow().ok()?, zone.tz())
                } else {
                    Some(at)
                }
            }
        }
    }

    /// Why `at` is outside this rule in `zone`.
    fn why(self, at: Timestamp, zone: &Zone) -> String {
        match self {
            WindowRule::Base(w) => w.why_outside(at, zone),
            WindowRule::Regional(r) => format!(
                "{} {} is outside {}",
                at.to_zoned(zone.tz().clone()).strftime("%H:%M"),
                zone.name(),
                r.describe()
            ),
            WindowRule::Holiday(h) => {
                format!("{} in {} is {}", h.date, zone.name(), h.describe())
            }
        }
    }
}

/// Every window rule that applies to a call, read in every zone its callee may be in.
pub struct SafeWindow<'a> {
    zones: &'a [Zone],
    rules: Vec<WindowRule<'a>>,
}

impl<'a> SafeWindow<'a> {
    /// The rules for a call to `location`: `window` (the callback's or campaign's own, else the
    /// account's), the regional windows and holidays of the account that apply to it.
    pub fn new(
        window: &'a CallingWindow,
        policy: &'a AccountSettings,
        location: &'a Location,
    ) -> Self {
        let mut rules = vec![WindowRule::Base(window)];
        rules.extend(
            policy
                .regional_windows
                .iter()
                .filter(|r| location.is_in(&r.region))
                .map(WindowRule::Regional),
        );
        rules.extend(
            policy
                .holidays
                .iter()
                .filter(|h| h.applies_to(location))
                .map(WindowRule::Holiday),
        );
        Self {
            zones: location.zones(),
            rules,
        }
    }

    /// Is `at` inside every rule in every zone?
    pub fn contains(&self, at: Timestamp) -> bool {
        self.rules
            .iter()
            .all(|rule| self.zones.iter().all(|zone| rule.contains(at, zone)))
    }

    /// The first rule and zone `at` is outside of, with the reason.
    fn breach(&self, at: Timestamp) -> Option<(String, &'a Zone)> {
        self.rules.iter().find_map(|rule| {
            self.zones
                .iter()
                .find(|zone| !rule.contains(at, zone))
                .map(|zone| (rule.why(at, zone), zone))
        })
    }

    /// The earliest instant at or after `at` inside every rule in every zone; `None` when the
    /// rules do not overlap within [`SEARCH_DAYS`] beyond the dates they close.
    ///
    /// Each rule's own next opening never passes the answer (the answer is inside that rule
    /// and not before `at`), so jumping to the latest of them, again and again, climbs to the
    /// answer and stops on it.
    pub fn next_opening(&self, at: Timestamp) -> Option<Timestamp> {
        let closed_days: i64 = self
            .rules
            .iter()
            .map(|rule| match rule {
                WindowRule::Base(w) => w.blackout_dates().len() as i64,
                WindowRule::Regional(r) => r
                    .windows
                    .iter()
                    .map(|w| w.blackout_dates().len() as i64)
                    .sum(),
                WindowRule::Holiday(_) => 1,
            })
            .sum();
        let limit = at
            .checked_add((24 * (SEARCH_DAYS + closed_days)).hours())
            .ok()?;
        let mut t = at;
        loop {
            let mut moved = false;
            for rule in &self.rules {
                for zone in self.zones {
                    let next = rule.next_inside(t, zone)?;
                    if next > t {
                        t = next;
                        moved = true;
                    }
                }
            }
            if !moved {
                return Some(t);
            }
            if t > limit {
                return None;
            }
        }
    }

    /// Why `at` is outside, and where the call moves: "02:00 America/Los_Angeles is before the
    /// 08:00 window start: moved to 08:00". `None` when `at` is inside.
    pub fn explain(&self, at: Timestamp, opening: Option<Timestamp>) -> Option<String> {
        let (why, zone) = self.breach(at)?;
        let all = if self.zones.len() > 1 {
            format!(
                " (when the window holds in all {} zones the number may be in)",
                self.zones.len()
            )
        } else {
            String::new()
        };
        Some(match opening {
            Some(to) => {
                let start = match self.rules.as_slice() {
                    [WindowRule::Base(w)] if self.zones.len() == 1 => Some(w.start_minutes()),
                    _ => None,
                };
                format!("{why}: {}{all}", moved_to(at, to, zone, start))
            }
            None => format!(
                "{why}, and no instant within {SEARCH_DAYS} days is inside the calling window \
                 in every zone the number may be in{}",
                if self.zones.len() > 1 {
                    "; give the callee's timezone"
                } else {
                    ""
                }
            ),
        })
    }
}

fn local_date(at: Timestamp, zone: &Zone) -> Date {
    zone.tz().to_offset(at).to_datetime(at).date()
}
