//! The dial decision, one row a case: the facts, the policy, the instant, and the blocks
//! expected (each with the instant it lifts). The rows marked "was" are where the guard,
//! `/eligibility` and the create-time policy used to disagree.

use jiff::{Timestamp, ToSpan};
use serde_json::json;

use super::*;
use crate::domain::window::CallingWindow;

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
            mode: DialingMode::Progressive,
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
    vec![
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
        Case {
            name: "the cap lifts when the oldest attempt leaves the period",
            policy: json!({"max_attempts": 2, "days": 7}),
            started: &["2026-01-12T20:00:00Z", "2026-01-13T20:00:00Z"],
            expect: &[(AttemptCap, Some("2026-01-19T20:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "was: over the cap, it lifts when enough have left, not the oldest alone",
            policy: json!({"max_attempts": 2, "days": 7}),
            started: &[
                "2026-01-10T20:00:00Z",
                "2026-01-12T20:00:00Z",
                "2026-01-13T20:00:00Z",
            ],
            expect: &[(AttemptCap, Some("2026-01-19T20:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "was: the cap's period is counted back from the due time, not from now",
            policy: json!({"max_attempts": 1, "days": 7}),
            due: "2026-01-15T20:00:00Z",
            started: &["2026-01-08T10:00:00Z"],
            expect: &[(NotDue, Some("2026-01-15T20:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a recall waits out the quiet period",
            policy: json!({"quiet": 24}),
            attempt: 1,
            answered: Some("2026-01-14T10:00:00Z"),
            expect: &[(QuietPeriod, Some("2026-01-15T10:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a first call is what the customer asked for: no quiet period",
            policy: json!({"quiet": 24}),
            answered: Some("2026-01-14T10:00:00Z"),
            ..Case::default()
        },
        Case {
            name: "was: a retry of the first call after a refusal is still the first call",
            policy: json!({"quiet": 24}),
            attempt: 1,
            open: true,
            answered: Some("2026-01-14T10:00:00Z"),
            ..Case::default()
        },
        Case {
            name: "was: a retry of a recall is automated",
            policy: json!({"quiet": 24}),
            attempt: 2,
            open: true,
            answered: Some("2026-01-14T10:00:00Z"),
            expect: &[(QuietPeriod, Some("2026-01-15T10:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a campaign call's first attempt is automated",
            policy: json!({"quiet": 24}),
            campaign: RUNNING,
            answered: Some("2026-01-14T10:00:00Z"),
            expect: &[(QuietPeriod, Some("2026-01-15T10:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "+1 415 with no zone at 10:00 UTC is 02:00 in San Francisco",
            due: "2026-01-14T10:00:00Z",
            now: "2026-01-14T10:00:00Z",
            expect: &[(CallingWindow, Some("2026-01-14T16:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "+1 415 at 21:26 UTC is 13:26 in San Francisco",
            due: "2026-01-14T21:26:00Z",
            now: "2026-01-14T21:26:00Z",
            ..Case::default()
        },
        Case {
            name: "a zone of the request's is used instead of the number's",
            zone: Some("Europe/London"),
            due: "2026-01-14T10:00:00Z",
            now: "2026-01-14T10:00:00Z",
            ..Case::default()
        },
        Case {
            name: "a time the customer asked for lifts the window of the first call, if allowed",
            policy: json!({"allow": true}),
            due: "2026-01-14T10:00:00Z",
            now: "2026-01-14T10:00:00Z",
            ..Case::default()
        },
        Case {
            name: "but not of a recall",
            policy: json!({"allow": true}),
            attempt: 1,
            due: "2026-01-14T10:00:00Z",
            now: "2026-01-14T10:00:00Z",
            expect: &[(CallingWindow, Some("2026-01-14T16:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "nor of a campaign call",
            policy: json!({"allow": true}),
            campaign: RUNNING,
            due: "2026-01-14T10:00:00Z",
            now: "2026-01-14T10:00:00Z",
            expect: &[(CallingWindow, Some("2026-01-14T16:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "preview calls obey the window too",
            mode: DialingMode::Preview,
            due: "2026-01-14T10:00:00Z",
            now: "2026-01-14T10:00:00Z",
            free_agents: Some(2),
            expect: &[(CallingWindow, Some("2026-01-14T16:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a campaign's own window is used instead of the account's",
            campaign: RUNNING,
            own_window: Some(json!({"start": "13:00", "end": "17:00"})),
            expect: &[(CallingWindow, Some("2026-01-14T21:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "spring forward: a window opening at 02:30 opens when the clocks jump to 03:00",
            zone: Some("America/Los_Angeles"),
            own_window: Some(json!({"start": "02:30", "end": "05:00"})),
            campaign: RUNNING,
            due: "2026-03-08T09:00:00Z",
            now: "2026-03-08T09:00:00Z",
            expect: &[(CallingWindow, Some("2026-03-08T10:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "fall back: 01:30 shows twice; the first counts",
            zone: Some("America/New_York"),
            own_window: Some(json!({"start": "01:30", "end": "06:00"})),
            campaign: RUNNING,
            due: "2026-11-01T04:10:00Z",
            now: "2026-11-01T04:10:00Z",
            expect: &[(CallingWindow, Some("2026-11-01T05:30:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a blackout date moves the call to the next day's opening, in the callee's zone",
            zone: Some("America/New_York"),
            policy: json!({"calling_window": {"blackout_dates": ["2026-12-25"]}}),
            due: "2026-12-25T15:00:00Z",
            now: "2026-12-25T15:00:00Z",
            expect: &[(CallingWindow, Some("2026-12-26T13:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a holiday of the callee's country",
            policy: json!({"holidays": [{"date": "2026-12-25", "regions": ["US"]}]}),
            due: "2026-12-25T20:00:00Z",
            now: "2026-12-25T20:00:00Z",
            expect: &[(CallingWindow, Some("2026-12-26T16:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "is no holiday for a callee elsewhere",
            phone: "+442079460958",
            policy: json!({"holidays": [{"date": "2026-12-25", "regions": ["US"]}]}),
            due: "2026-12-25T12:00:00Z",
            now: "2026-12-25T12:00:00Z",
            ..Case::default()
        },
        Case {
            name: "a holiday without regions is everybody's",
            phone: "+442079460958",
            policy: json!({"holidays": [{"date": "2026-12-25"}]}),
            due: "2026-12-25T12:00:00Z",
            now: "2026-12-25T12:00:00Z",
            expect: &[(CallingWindow, Some("2026-12-26T08:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a Florida number under the US-FL window (08:00-20:00) at 20:30",
            phone: "+13055550123",
            policy: json!({"regional_windows": [
                {"region": "US-FL", "calling_window": {"start": "08:00", "end": "20:00"}}]}),
            due: "2026-01-15T01:30:00Z",
            now: "2026-01-15T01:30:00Z",
            expect: &[(CallingWindow, Some("2026-01-15T13:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a California number is not under the US-FL window",
            policy: json!({"regional_windows": [
                {"region": "US-FL", "calling_window": {"start": "08:00", "end": "20:00"}}]}),
            due: "2026-01-15T04:30:00Z",
            now: "2026-01-15T04:30:00Z",
            ..Case::default()
        },
        Case {
            name: "a regional window of alternatives: Texas on a Sunday opens at noon",
            phone: "+12145550123",
            policy: json!({"regional_windows": [{"region": "US-TX", "calling_window": [
                {"start": "09:00", "end": "21:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat"]},
                {"start": "12:00", "end": "21:00", "days": ["sun"]}]}]}),
            // Sunday 2026-01-18, 10:00 in Dallas.
            due: "2026-01-18T16:00:00Z",
            now: "2026-01-18T16:00:00Z",
            expect: &[(CallingWindow, Some("2026-01-18T18:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a paused campaign",
            campaign: Some(CampaignFacts {
                status: CampaignStatus::Paused,
                room: Some(5),
            }),
            expect: &[(CampaignPaused, None)],
            ..Case::default()
        },
        Case {
            name: "a campaign at its pacing limit",
            campaign: Some(CampaignFacts {
                status: CampaignStatus::Running,
                room: Some(0),
            }),
            expect: &[(Pacing, None)],
            ..Case::default()
        },
        Case {
            name: "a preview call with no free agent",
            mode: DialingMode::Preview,
            free_agents: Some(0),
            expect: &[(NoAgent, None)],
            ..Case::default()
        },
        Case {
            name: "free agents do not matter to a progressive call",
            free_agents: Some(0),
            ..Case::default()
        },
        Case {
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
        },
    ]
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

#[test]
fn the_reasons_name_the_zone_and_where_the_call_moves() {
    let case = Case {
        due: "2026-01-14T10:00:00Z",
        now: "2026-01-14T10:00:00Z",
        ..Case::default()
    };
    let (decision, location, _) = run(&case);
    assert_eq!(location.source(), ZoneSource::Number);
    assert_eq!(
        decision.blocks[0].reason,
        "02:00 America/Los_Angeles is before the 08:00 window start: moved to 08:00"
    );
    let lifted = run(&Case {
        policy: json!({"allow": true}),
        ..case
    })
    .0;
    assert!(lifted.may_dial());
    assert!(
        lifted.notes[0].contains("customers ask for"),
        "{:?}",
        lifted.notes
    );
}

#[test]
fn a_toll_free_number_is_called_only_when_every_us_zone_is_inside() {
    let toll_free = phone("+18005550199");
    let location = Location::locate(&toll_free, None, None);
    assert_eq!(location.source(), ZoneSource::NumberAmbiguous);
    let names: Vec<&str> = location.zones().iter().map(Zone::name).collect();
    for us in [
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ] {
        assert!(names.contains(&us), "{us} among {names:?}");
    }
    let policy = AccountSettings::default();
    let history = History::default();
    // 13:00 UTC in January: 08:00 in New York, 03:00 in Honolulu.
    let now = t("2026-01-14T13:00:00Z");
    let facts = Facts {
        status: Status::Scheduled,
        due_at: now,
        attempt: 1,
        attempt_open: false,
        campaign: None,
        dialing_mode: DialingMode::Progressive,
        window: None,
        location: &location,
        on_dnc: false,
        history: &history,
        free_agents: None,
    };
    let decision = decide(&facts, &policy, now);
    let block = decision
        .blocked_by(BlockCode::CallingWindow)
        .expect("blocked");
    assert!(
        block.reason.contains("zones the number may be in"),
        "{}",
        block.reason
    );
    let at = block.until.expect("an opening");
    for zone in location.zones() {
        assert!(
            policy.calling_window.contains(at, zone),
            "{at} in {}",
            zone.name()
        );
    }
    // The earliest such instant: every minute before it is outside in some zone.
    let mut probe = now;
    while probe < at {
        assert!(
            location
                .zones()
                .iter()
                .any(|z| !policy.calling_window.contains(probe, z)),
            "{probe} is inside everywhere, before {at}"
        );
        probe = probe.checked_add(1.minute()).unwrap();
    }
    assert_eq!(earliest_dial(&facts, &policy, now), Ok(at));
}

#[test]
fn a_window_that_never_holds_in_every_zone_has_no_opening() {
    // A Russian mobile may be anywhere from Kaliningrad (UTC+2) to Kamchatka (UTC+12): no
    // instant is 09:00-17:00 in both.
    let location = Location::locate(&phone("+79161234567"), None, None);
    assert!(location.zones().len() > 1, "{:?}", location.zones());
    let policy = AccountSettings {
        calling_window: window(json!({"start": "09:00", "end": "17:00"})),
        ..AccountSettings::default()
    };
    let history = History::default();
    let now = t("2026-01-14T10:00:00Z");
    let facts = Facts {
        status: Status::Scheduled,
        due_at: now,
        attempt: 2,
        attempt_open: false,
        campaign: None,
        dialing_mode: DialingMode::Ai,
        window: None,
        location: &location,
        on_dnc: false,
        history: &history,
        free_agents: None,
    };
    let decision = decide(&facts, &policy, now);
    let block = decision.blocked_by(BlockCode::CallingWindow).unwrap();
    assert_eq!(block.until, None);
    assert!(
        block.reason.contains("give the callee's timezone"),
        "{}",
        block.reason
    );
    assert_eq!(
        earliest_dial(&facts, &policy, now).unwrap_err().code,
        BlockCode::CallingWindow
    );
}

#[test]
fn the_earliest_dial_waits_for_every_rule_at_once() {
    // Capped until 02:00 in San Francisco, when the window is shut: 08:00 that morning.
    let case = Case {
        policy: json!({"max_attempts": 1, "days": 1}),
        attempt: 1,
        due: "2026-01-14T10:00:00Z",
        now: "2026-01-14T10:00:00Z",
        started: &["2026-01-14T09:00:00Z"],
        ..Case::default()
    };
    let location = Location::locate(&phone(case.phone), None, None);
    let history = History {
        started: vec![t("2026-01-14T09:00:00Z")],
        last_answered: None,
        debt: None,
    };
    let facts = Facts {
        status: Status::Scheduled,
        due_at: t(case.due),
        attempt: 1,
        attempt_open: false,
        campaign: None,
        dialing_mode: DialingMode::Progressive,
        window: None,
        location: &location,
        on_dnc: false,
        history: &history,
        free_agents: None,
    };
    let policy = policy(case.policy.clone());
    // The cap lifts 2026-01-15T09:00Z (01:00 PST), the window opens at 16:00Z.
    assert_eq!(
        earliest_dial(&facts, &policy, t(case.now)),
        Ok(t("2026-01-15T16:00:00Z"))
    );
}

#[test]
fn holidays_and_regional_windows_are_read_with_named_errors() {
    let ok = Holiday::parse_list(
        &json!([{"date": "2026-12-25", "regions": ["us", "CA-QC"], "name": "Christmas Day"}]),
        "holidays",
    )
    .unwrap();
    assert_eq!(
        ok[0].to_json(),
        json!({"date": "2026-12-25", "regions": ["US", "CA-QC"], "name": "Christmas Day"})
    );
    for (bad, field) in [
        (json!({}), "holidays"),
        (json!([{"date": "25/12/2026"}]), "holidays[0].date"),
        (json!([{"date": "2026-02-30"}]), "holidays[0].date"),
        (json!([{"regions": ["US"]}]), "holidays[0].date"),
        (
            json!([{"date": "2026-12-25", "regions": ["XX"]}]),
            "holidays[0].regions[0]",
        ),
        (
            json!([{"date": "2026-12-25", "regions": ["US-ZZ"]}]),
            "holidays[0].regions[0]",
        ),
        (
            json!([{"date": "2026-12-25", "regions": "US"}]),
            "holidays[0].regions",
        ),
        (
            json!([{"date": "2026-12-25", "when": "always"}]),
            "holidays[0].when",
        ),
    ] {
        assert_eq!(
            Holiday::parse_list(&bad, "holidays").unwrap_err().field,
            field,
            "{bad}"
        );
    }
    for (bad, field) in [
        (
            json!([{"region": "US-QQ", "calling_window": {}}]),
            "regional_windows[0].region",
        ),
        (
            json!([{"calling_window": {}}]),
            "regional_windows[0].region",
        ),
        (
            json!([{"region": "US-FL"}]),
            "regional_windows[0].calling_window",
        ),
        (
            json!([{"region": "US-FL", "calling_window": {"start": "25:00"}}]),
            "regional_windows[0].calling_window.start",
        ),
        (
            json!([{"region": "US-FL", "calling_window": [{"days": []}]}]),
            "regional_windows[0].calling_window[0].days",
        ),
        (
            json!([{"region": "US-FL", "calling_window": {}}, {"region": "us-fl", "calling_window": {}}]),
            "regional_windows[1].region",
        ),
    ] {
        assert_eq!(
            RegionalWindow::parse_list(&bad, "regional_windows")
                .unwrap_err()
                .field,
            field,
            "{bad}"
        );
    }
}
