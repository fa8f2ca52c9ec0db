//! Property: no dial decision falls outside the calling window in any zone the callee may be in.
//!
//! A case is a real number (from a table of prefixes of 43 countries, every US and Canadian zone
//! among them), an instant anywhere in 2025-2030 (a quarter of them within a day of a clock
//! change of one of the candidate zones), a zone in the request or none, a window with or
//! without blackout dates, holidays and regional windows, and the kind of attempt. Then:
//!
//! - when [`decide`] lets the call through and the window binds it (an automated attempt, or
//!   an account that keeps first calls to the window too), the instant is inside the window, off
//!   every holiday and inside every regional window that applies, read in *every* candidate
//!   zone; when it blocks the call, the instant is outside;
//! - the instant it names for the window to open is later, inside, and the earliest such
//!   (no quarter hour in between is inside); [`earliest_dial`] answers the same;
//! - when it finds no opening, no quarter hour of the next 16 days is inside.
//!
//! "Inside" is judged by an oracle written here from the rules as documented: the instant's
//! local date, weekday and minute in each zone (by jiff), the candidate zones from
//! `geo::place_of` or the request, the regions from the number's country and subdivision.
//! Asking `SafeWindow::contains` instead would check the code against itself. Every offset and
//! clock change of 2025-2031 falls on a quarter hour, and so does every window bound, so a scan
//! of quarter hours finds every stretch of time that is inside.
//!
//! CI runs 100,000 cases; the million (`#[ignore]`d) is for
//! `cargo test --release --lib dialing::property -- --ignored` (see BENCHMARKS.md).

use std::cell::Cell;

use jiff::{Timestamp, ToSpan, civil::Date};
use proptest::{
    prelude::*,
    test_runner::{TestCaseResult, TestRunner},
};

use super::*;
use crate::domain::{DialingMode, Zone, geo::Region};

mod cases;
mod numbers;
mod oracle;

use cases::{Case, Request, case};
use numbers::{TABLE, ZONES};
use oracle::{HOLIDAY_REGIONS, Hours, Oracle, REGIONAL, reaches};

/// What a case came to, to show that every branch of the property was reached.
#[derive(Default)]
struct Tally {
    dialed: Cell<u32>,
    moved: Cell<u32>,
    never: Cell<u32>,
    kept_for_customer: Cell<u32>,
}

fn check(case: &Case, tally: &Tally) -> TestCaseResult {
    let entry = &TABLE[case.number];
    let request = match &case.request {
        Request::None => None,
        Request::Own(i) => Some(i.get(entry.place.zones)),
        Request::Any(i) => Some(i.get(&ZONES)),
    };
    let located;
    let location = match request {
        None => &entry.location,
        Some(zone) => {
            located = Location::locate(&entry.phone, Some((zone, ZoneSource::Request)), None);
            &located
        }
    };
    let zones = request.map_or(entry.place.zones, std::slice::from_ref);

    let mut now = Timestamp::from_second(case.second).unwrap();
    if let Some((which, minutes)) = &case.near_change
        && let Some(change) = which.get(zones).tz().following(now).next()
    {
        now = change.timestamp().checked_add(minutes.minutes()).unwrap();
    }
    let day = |offset: i64| now.to_zoned(jiff::tz::TimeZone::UTC).date() + offset.days();

    let mut hours = case.window.clone();
    hours.closed = case.blackouts.iter().map(|&d| day(d)).collect();
    let window = hours.window();
    // The account's window when the callback brings its own, which must not be the one read.
    let elsewhere = Hours::new(10 * 60, 11 * 60, 1).window();
    let regional: Vec<(&str, &[Hours])> = case.regional.iter().map(|&i| REGIONAL[i]).collect();
    let holidays: Vec<(Date, &[&str])> = case
        .holidays
        .iter()
        .map(|&(d, r)| (day(d), HOLIDAY_REGIONS[r]))
        .collect();
    let policy = AccountSettings {
        calling_window: if case.own_window {
            elsewhere
        } else {
            window.clone()
        },
        allow_customer_requested_times: case.allow_customer_requested_times,
        regional_windows: regional
            .iter()
            .map(|(region, alternatives)| RegionalWindow {
                region: Region::parse(region, "region").unwrap(),
                windows: alternatives.iter().map(Hours::window).collect(),
            })
            .collect(),
        holidays: holidays
            .iter()
            .map(|(date, regions)| Holiday {
                date: *date,
                name: None,
                regions: regions
                    .iter()
                    .map(|r| Region::parse(r, "region").unwrap())
                    .collect(),
            })
            .collect(),
        ..AccountSettings::default()
    };
    let (attempt, attempt_open, campaign, automated) = case.kind.facts();
    let history = History::default();
    let facts = Facts {
        status: Status::Scheduled,
        due_at: now,
        attempt,
        attempt_open,
        campaign,
        dialing_mode: DialingMode::Unattended,
        window: case.own_window.then_some(&window),
        location,
        on_dnc: false,
        consent: Default::default(),
        history: &history,
        free_agents: None,
    };
    let oracle = Oracle {
        zones,
        window: &hours,
        regional: regional
            .iter()
            .filter(|(region, _)| reaches(region, &entry.place))
            .map(|(_, alternatives)| *alternatives)
            .collect(),
        holidays: holidays
            .iter()
            .filter(|(_, regions)| {
                regions.is_empty() || regions.iter().any(|r| reaches(r, &entry.place))
            })
            .map(|(date, _)| *date)
            .collect(),
    };

    let decision = decide(&facts, &policy, now);
    let earliest = earliest_dial(&facts, &policy, now);
    let block = decision.blocked_by(BlockCode::CallingWindow);
    prop_assert!(
        decision
            .blocks
            .iter()
            .all(|b| b.code == BlockCode::CallingWindow),
        "{:?}",
        decision.blocks
    );
    let breach = oracle.breach(now);

    if !automated && case.allow_customer_requested_times {
        // The customer's time stands; the decision only notes that it is outside.
        prop_assert!(block.is_none(), "{:?}", decision.blocks);
        prop_assert_eq!(decision.notes.is_empty(), breach.is_none());
        prop_assert_eq!(earliest.clone(), Ok(now));
        tally
            .kept_for_customer
            .set(tally.kept_for_customer.get() + 1);
        return Ok(());
    }
    match block {
        None => {
            prop_assert!(
                breach.is_none(),
                "dialed at {}, outside in {}",
                oracle.show(now),
                breach.unwrap().name()
            );
            prop_assert_eq!(earliest.clone(), Ok(now));
            tally.dialed.set(tally.dialed.get() + 1);
        }
        Some(block) => {
            prop_assert!(
                breach.is_some(),
                "blocked at {}, which is inside everywhere: {}",
                oracle.show(now),
                block.reason
            );
            match block.until {
                Some(opening) => {
                    prop_assert!(opening > now, "opening {opening} is not after {now}");
                    prop_assert!(
                        oracle.inside(opening),
                        "opening {} is outside in {}: {}",
                        oracle.show(opening),
                        oracle.breach(opening).unwrap().name(),
                        block.reason
                    );
                    let sooner = oracle.first_inside(now, opening);
                    prop_assert!(
                        sooner.is_none_or(|t| t == opening),
                        "opening {} but {} is inside already",
                        oracle.show(opening),
                        oracle.show(sooner.unwrap())
                    );
                    prop_assert_eq!(earliest.clone(), Ok(opening));
                    tally.moved.set(tally.moved.get() + 1);
                }
                None => {
                    let horizon = now.checked_add((16 * 24).hours()).unwrap();
                    let found = oracle.first_inside(now, horizon);
                    prop_assert!(
                        found.is_none(),
                        "no opening found from {}, but {} is inside: {}",
                        oracle.show(now),
                        oracle.show(found.unwrap()),
                        block.reason
                    );
                    prop_assert!(
                        earliest
                            .as_ref()
                            .is_err_and(|b| b.code == BlockCode::CallingWindow),
                        "{earliest:?}"
                    );
                    tally.never.set(tally.never.get() + 1);
                }
            }
        }
    }
    Ok(())
}

/// Runs `cases` cases; panics with the smallest failing case if one fails.
fn run(cases: u32) {
    let config = ProptestConfig {
        source_file: Some(file!()),
        ..ProptestConfig::with_cases(cases)
    };
    let tally = Tally::default();
    if let Err(failure) = TestRunner::new(config).run(&case(), |case| check(&case, &tally)) {
        panic!("{failure}");
    }
    // Not vacuous: calls were let through, moved, found no opening, kept for the customer.
    let reached = [
        tally.dialed.get(),
        tally.moved.get(),
        tally.never.get(),
        tally.kept_for_customer.get(),
    ];
    assert!(reached.iter().all(|n| *n > 0), "{reached:?}");
}

#[test]
fn no_dial_decision_falls_outside_the_window_in_any_candidate_zone() {
    run(100_000);
}

#[test]
#[ignore = "a million cases, about 10 s in release: cargo test --release --lib dialing::property -- --ignored"]
fn no_dial_decision_falls_outside_the_window_in_a_million_cases() {
    run(1_000_000);
}
