//! The dial decision, one row a case: the facts, the policy, the instant, and the blocks
//! expected (each with the instant it lifts). The rows marked "was" are where the guard,
//! `/eligibility` and the create-time policy used to disagree.
//!
//! The rows are grouped by the rules they cover: the basics (due, ended, do-not-call) and a
//! row with every rule here, the others in a file per family.

use jiff::{Timestamp, ToSpan};
use serde_json::json;

use super::*;
use crate::domain::{DialingMode, PhoneNumber, Zone, window::CallingWindow};

mod attempts;
mod calendar;
mod campaign;
mod earliest;
mod window;

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn phone(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text, "phone").unwrap()
}

fn zone(name: &str) -> Zone {
    Zone::parse(name, "timezone").unwrap()
}

fn window(value: serde_json::Value) -> CallingWindow {
    CallingWindow::parse(&value, "calling_window").unwrap()
}

fn policy(value: serde_json::Value) -> AccountSettings {
    let mut p = AccountSettings::default();
    if let Some(w) = value.get("calling_window") {
        p.calling_window = window(w.clone());
    }
    if let Some(allow) = value.get("allow") {
        p.allow_customer_requested_times = allow.as_bool().unwrap();
    }
    if let Some(max) = value.get("max_attempts") {
        p.max_attempts = Some(max.as_u64().unwrap() as u32);
    }
    if let Some(days) = value.get("days") {
        p.attempt_window_days = days.as_u64().unwrap() as u32;
    }
    if let Some(quiet) = value.get("quiet") {
        p.quiet_after_answer_hours = Some(quiet.as_u64().unwrap() as u32);
    }
    if let Some(h) = value.get("holidays") {
        p.holidays = Holiday::parse_list(h, "holidays").unwrap();
    }
    if let Some(r) = value.get("regional_windows") {
        p.regional_windows = RegionalWindow::parse_list(r, "regional_windows").unwrap();
    }
    p
}

/// One case of the table.
struct Case {
    name: &'static str,
    phone: &'static str,
    /// The request's zone; `None`: the number's.
    zone: Option<&'static str>,
    status: Status,
    due: &'static str,
    now: &'static str,
    attempt: u32,
    open: bool,
    campaign: Option<CampaignFacts>,
    mode: DialingMode,
    own_window: Option<serde_json::Value>,
    dnc: bool,
    started: &'static [&'static str],
    answered: Option<&'static str>,
    free_agents: Option<u32>,
    policy: serde_json::Value,
    /// The blocks, in order, with when each lifts.
    expect: &'static [(BlockCode, Option<&'static str>)],
}

impl Default for Case {
    fn default() -> Self {
        Self {
            name: "",
            phone: "+14155550199",
            zone: None,
            status: Status::Scheduled,
            // A Wednesday noon in San Francisco (PST).
            due: "2026-01-14T20:00:00Z",
            now: "2026-01-14T20:00:00Z",
            attempt: 0,
            open: false,
            campaign: None,
            mode: DialingMode::Unattended,
            own_window: None,
            dnc: false,
            started: &[],
            answered: None,
            free_agents: None,
            policy: json!({}),
            expect: &[],
        }
    }
}

const RUNNING: Option<CampaignFacts> = Some(CampaignFacts {
    status: CampaignStatus::Running,
    room: Some(5),
});

fn cases() -> Vec<Case> {
    use BlockCode::*;
    let mut cases = vec![
        Case {
            name: "inside the window, due: dial",
            ..Case::default()
        },
        Case {
            name: "not due yet",
            due: "2026-01-14T21:00:00Z",
            expect: &[(NotDue, Some("2026-01-14T21:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "an ended callback is blocked by that alone",
            status: Status::Completed,
            dnc: true,
            expect: &[(FinalState, None)],
            ..Case::default()
        },
        Case {
            name: "do-not-call never lifts",
            dnc: true,
            expect: &[(Dnc, None)],
            ..Case::default()
        },
    ];
    cases.extend(attempts::cases());
    cases.extend(window::cases());
    cases.extend(calendar::cases());
    cases.extend(campaign::cases());
    cases.push(Case {
        name: "every rule that blocks is listed, in order",
        policy: json!({"max_attempts": 1, "quiet": 24}),
        attempt: 1,
        dnc: true,
        due: "2026-01-14T10:00:00Z",
        now: "2026-01-14T10:00:00Z",
        started: &["2026-01-14T09:00:00Z"],
        answered: Some("2026-01-14T09:05:00Z"),
        expect: &[
            (Dnc, None),
            (AttemptCap, Some("2026-01-21T09:00:00Z")),
            (QuietPeriod, Some("2026-01-15T09:05:00Z")),
            (CallingWindow, Some("2026-01-14T16:00:00Z")),
        ],
        ..Case::default()
    });
    cases
}

fn run(case: &Case) -> (Decision, Location, AccountSettings) {
    let stated = case.zone.map(zone);
    let location = Location::locate(
        &phone(case.phone),
        stated.as_ref().map(|z| (z, ZoneSource::Request)),
        None,
    );
    let history = History {
        started: case.started.iter().map(|s| t(s)).collect(),
        last_answered: case.answered.map(t),
        debt: None,
    };
    let own = case.own_window.clone().map(window);
    let facts = Facts {
        status: case.status,
        due_at: t(case.due),
        attempt: case.attempt,
        attempt_open: case.open,
        campaign: case.campaign,
        dialing_mode: case.mode,
        window: own.as_ref(),
        location: &location,
        on_dnc: case.dnc,
        consent: Default::default(),
        history: &history,
        free_agents: case.free_agents,
    };
    let policy = policy(case.policy.clone());
    (decide(&facts, &policy, t(case.now)), location, policy)
}

#[test]
fn every_rule_decides_as_its_row_says() {
    for case in cases() {
        let (decision, ..) = run(&case);
        let got: Vec<(BlockCode, Option<Timestamp>)> =
            decision.blocks.iter().map(|b| (b.code, b.until)).collect();
        let want: Vec<(BlockCode, Option<Timestamp>)> = case
            .expect
            .iter()
            .map(|(code, until)| (*code, until.map(t)))
            .collect();
        assert_eq!(got, want, "{}: {:#?}", case.name, decision.blocks);
        assert!(
            decision.blocks.iter().all(|b| !b.reason.is_empty()),
            "{}: every block says why",
            case.name
        );
    }
}
