//! Rows of the calling window: the zone a call is judged in, times the customer asked for,
//! a campaign's own window, clock changes and blackout dates; and the window's reasons and
//! openings where the number may be in several zones.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    use BlockCode::*;
    vec![
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
    ]
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
        dialing_mode: DialingMode::Unattended,
        window: None,
        location: &location,
        on_dnc: false,
        consent: Default::default(),
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
        consent: Default::default(),
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
