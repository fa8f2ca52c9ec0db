//! Slots on the customer's clock: the grid across daylight-saving changes, the calling window,
//! holidays, agents' working hours, capacity and what is taken.

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::domain::{
    AccountId, DialingMode, PhoneNumber, Status,
    agent::{Presence, parse_working_hours},
    dialing::{History, Holiday, Location},
    ids::AgentId,
    window::CallingWindow,
};

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn zone(name: &str) -> Zone {
    Zone::parse(name, "timezone").unwrap()
}

fn agent(zone_name: &str, hours: serde_json::Value) -> Agent {
    Agent {
        id: AgentId::generate(),
        account_id: AccountId::generate(),
        name: "Ada".into(),
        external_id: None,
        sip_uri: None,
        queue_ids: vec![],
        concurrency: 1,
        timezone: zone(zone_name),
        working_hours: parse_working_hours(hours, "wh").unwrap(),
        skills: Default::default(),
        presence: Presence::Available,
        presence_changed_at: Timestamp::UNIX_EPOCH,
        created_at: Timestamp::UNIX_EPOCH,
        updated_at: Timestamp::UNIX_EPOCH,
    }
}

/// A Los Angeles number (one zone).
fn los_angeles() -> Location {
    Location::locate(
        &PhoneNumber::parse("+14155550100", "phone").unwrap(),
        None,
        None,
    )
}

struct Ask {
    policy: AccountSettings,
    agents: Vec<Agent>,
    taken: Vec<Taken>,
    handle: u32,
    minutes: i64,
    from: &'static str,
    to: &'static str,
    now: &'static str,
}

impl Default for Ask {
    fn default() -> Self {
        Self {
            policy: AccountSettings::default(),
            agents: vec![agent("America/Los_Angeles", json!(null))],
            taken: vec![],
            handle: DEFAULT_HANDLE_SECONDS,
            minutes: 30,
            from: "2027-03-10T00:00:00Z",
            to: "2027-03-11T00:00:00Z",
            now: "2027-03-09T00:00:00Z",
        }
    }
}

fn ask(a: &Ask) -> Vec<Slot> {
    let location = los_angeles();
    let history = History::default();
    let facts = Facts {
        status: Status::Scheduled,
        due_at: t(a.from),
        attempt: 0,
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
    let z = location.display_zone().clone();
    slots(&SlotQuestion {
        facts,
        policy: &a.policy,
        zone: &z,
        agents: &a.agents,
        handle_seconds: a.handle,
        taken: &a.taken,
        length: SlotLength::parse(a.minutes, "slot_minutes").unwrap(),
        from: t(a.from),
        to: t(a.to),
        not_before: t(a.now),
        now: t(a.now),
    })
}

fn local_starts(slots: &[Slot]) -> Vec<String> {
    let la = zone("America/Los_Angeles");
    slots.iter().map(|s| la.format_local(s.start)).collect()
}

#[test]
fn slot_lengths_divide_a_day_between_5_and_240_minutes() {
    for ok in [5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240] {
        assert_eq!(
            SlotLength::parse(ok, "slot_minutes").unwrap().minutes() as i64,
            ok
        );
    }
    for bad in [-30, 0, 4, 7, 25, 50, 100, 241, 480, 1440] {
        let err = SlotLength::parse(bad, "slot_minutes").unwrap_err();
        assert_eq!(err.field, "slot_minutes", "{bad}");
    }
}

#[test]
fn a_slot_id_names_its_queue_start_and_length_and_reads_back() {
    let id = SlotId {
        queue: QueueId::generate(),
        start: t("2027-03-10T16:00:00Z"),
        length: SlotLength::parse(45, "x").unwrap(),
    };
    let text = id.to_string();
    assert!(text.starts_with("slot_que_"), "{text}");
    assert!(text.ends_with(&format!("_{}_45", t("2027-03-10T16:00:00Z").as_second())));
    assert_eq!(SlotId::parse(&text, "slot_id").unwrap(), id);
    assert_eq!(id.end(), t("2027-03-10T16:45:00Z"));
    let garbled = [
        "",
        "slot_",
        "slot_que_x_1_30",
        "cb_01J00000000000000000000000",
        &text.replace("slot_", "slat_"),
        &text.replace("_45", "_7"),
        &text.replace("_45", "_-45"),
        &format!("{text}_30"),
        &text.replace(
            &t("2027-03-10T16:00:00Z").as_second().to_string(),
            "1805000401",
        ),
        &text.replace(
            &t("2027-03-10T16:00:00Z").as_second().to_string(),
            "99999999999999",
        ),
    ];
    for raw in garbled {
        let err = SlotId::parse(raw, "slot_id").unwrap_err();
        assert_eq!(err.field, "slot_id", "{raw:?}");
    }
}

#[test]
fn slots_are_inside_the_calling_window_on_the_customers_clock() {
    // 2027-03-10 is a Wednesday; Los Angeles is UTC-8 (PST). The window is 08:00-21:00.
    let found = ask(&Ask {
        from: "2027-03-10T08:00:00Z",
        to: "2027-03-11T08:00:00Z",
        ..Ask::default()
    });
    let starts = local_starts(&found);
    assert_eq!(starts.first().unwrap(), "2027-03-10T08:00:00-08:00");
    assert_eq!(
        starts.last().unwrap(),
        "2027-03-10T20:30:00-08:00",
        "the last slot ends at the window's end"
    );
    assert_eq!(found.len(), 26);
    // One agent without hours, five-minute handle time: six places in half an hour.
    assert!(found.iter().all(|s| s.capacity == 6 && s.taken == 0));
}

#[test]
fn a_slot_the_window_closes_inside_is_not_offered() {
    // A 20:45 window end: 20:30 would be cut short, so 20:00 is the last 30-minute slot; on
    // the 45-minute grid 20:15 would run past it, so 19:30 is the last.
    let policy = AccountSettings {
        calling_window: CallingWindow::new(8 * 60, 20 * 60 + 45, [true; 7]).unwrap(),
        ..AccountSettings::default()
    };
    let found = ask(&Ask {
        policy: policy.clone(),
        from: "2027-03-10T08:00:00Z",
        to: "2027-03-11T08:00:00Z",
        ..Ask::default()
    });
    assert_eq!(
        local_starts(&found).last().unwrap(),
        "2027-03-10T20:00:00-08:00"
    );
    let found = ask(&Ask {
        policy,
        minutes: 45,
        from: "2027-03-10T08:00:00Z",
        to: "2027-03-11T08:00:00Z",
        ..Ask::default()
    });
    assert_eq!(
        local_starts(&found).last().unwrap(),
        "2027-03-10T19:30:00-08:00"
    );
}

#[test]
fn the_grid_stays_on_local_time_across_the_spring_change() {
    // Sunday 2027-03-14, 02:00 PST becomes 03:00 PDT. Any hour of the day is callable.
    let policy = AccountSettings {
        calling_window: CallingWindow::new(0, 24 * 60, [true; 7]).unwrap(),
        ..AccountSettings::default()
    };
    let found = ask(&Ask {
        policy,
        minutes: 60,
        from: "2027-03-14T08:00:00Z",
        to: "2027-03-14T13:00:00Z",
        ..Ask::default()
    });
    assert_eq!(
        local_starts(&found),
        [
            "2027-03-14T00:00:00-08:00",
            "2027-03-14T01:00:00-08:00",
            // 02:00 does not exist that day.
            "2027-03-14T03:00:00-07:00",
            "2027-03-14T04:00:00-07:00",
            "2027-03-14T05:00:00-07:00",
        ]
    );
    let utc: Vec<String> = found.iter().map(|s| s.start.to_string()).collect();
    assert_eq!(
        utc,
        [
            "2027-03-14T08:00:00Z",
            "2027-03-14T09:00:00Z",
            "2027-03-14T10:00:00Z",
            "2027-03-14T11:00:00Z",
            "2027-03-14T12:00:00Z",
        ]
    );
    // Every slot is an hour of real time, the one before the change too.
    assert!(
        found
            .iter()
            .all(|s| s.end.duration_since(s.start) == SignedDuration::from_hours(1))
    );
}

#[test]
fn the_grid_offers_a_repeated_hour_twice_unless_the_slots_would_overlap() {
    // Sunday 2027-11-07, 02:00 PDT becomes 01:00 PST: 01:00-02:00 is shown twice.
    let policy = AccountSettings {
        calling_window: CallingWindow::new(0, 24 * 60, [true; 7]).unwrap(),
        ..AccountSettings::default()
    };
    let found = ask(&Ask {
        policy: policy.clone(),
        minutes: 60,
        from: "2027-11-07T07:00:00Z",
        to: "2027-11-07T12:00:00Z",
        now: "2027-11-01T00:00:00Z",
        ..Ask::default()
    });
    assert_eq!(
        local_starts(&found),
        [
            "2027-11-07T00:00:00-07:00",
            "2027-11-07T01:00:00-07:00",
            "2027-11-07T01:00:00-08:00",
            "2027-11-07T02:00:00-08:00",
            "2027-11-07T03:00:00-08:00",
        ]
    );
    // 90 minutes: 01:30 shown twice, but the second would overlap the first.
    let found = ask(&Ask {
        policy,
        minutes: 90,
        from: "2027-11-07T07:00:00Z",
        to: "2027-11-07T13:00:00Z",
        now: "2027-11-01T00:00:00Z",
        ..Ask::default()
    });
    assert_eq!(
        local_starts(&found),
        [
            "2027-11-07T00:00:00-07:00",
            "2027-11-07T01:30:00-07:00",
            "2027-11-07T03:00:00-08:00",
        ]
    );
}

#[test]
fn the_window_follows_the_local_clock_across_the_change() {
    // 08:00 is 16:00 UTC on Saturday (PST) and 15:00 UTC on Monday (PDT).
    let found = ask(&Ask {
        minutes: 60,
        from: "2027-03-13T08:00:00Z",
        to: "2027-03-16T08:00:00Z",
        ..Ask::default()
    });
    let firsts: Vec<(String, String)> = found
        .iter()
        .filter(|s| {
            zone("America/Los_Angeles")
                .format_local(s.start)
                .contains("T08:00")
        })
        .map(|s| {
            (
                zone("America/Los_Angeles").format_local(s.start),
                s.start.to_string(),
            )
        })
        .collect();
    assert_eq!(
        firsts,
        [
            (
                "2027-03-13T08:00:00-08:00".into(),
                "2027-03-13T16:00:00Z".into()
            ),
            (
                "2027-03-14T08:00:00-07:00".into(),
                "2027-03-14T15:00:00Z".into()
            ),
            (
                "2027-03-15T08:00:00-07:00".into(),
                "2027-03-15T15:00:00Z".into()
            ),
        ]
    );
    assert_eq!(found.len(), 3 * 13);
}

#[test]
fn a_holiday_has_no_slots() {
    let policy = AccountSettings {
        holidays: Holiday::parse_list(&json!([{ "date": "2027-03-15", "regions": ["US"] }]), "h")
            .unwrap(),
        ..AccountSettings::default()
    };
    let found = ask(&Ask {
        policy,
        minutes: 60,
        from: "2027-03-14T08:00:00Z",
        to: "2027-03-17T08:00:00Z",
        ..Ask::default()
    });
    let days: std::collections::BTreeSet<String> = local_starts(&found)
        .iter()
        .map(|s| s[..10].to_owned())
        .collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["2027-03-14", "2027-03-16"]
    );
}

#[test]
fn an_agent_counts_only_for_slots_inside_their_hours_in_their_zone() {
    // Ann works 12:00-16:00 New York time (09:00-13:00 in Los Angeles) on Wednesdays; Bob
    // 10:30-11:45 Los Angeles time.
    let ann = agent("America/New_York", json!({ "wed": ["12:00-16:00"] }));
    let bob = agent("America/Los_Angeles", json!({ "wed": ["10:30-11:45"] }));
    let found = ask(&Ask {
        agents: vec![ann, bob],
        from: "2027-03-10T08:00:00Z",
        to: "2027-03-11T08:00:00Z",
        ..Ask::default()
    });
    let shown: Vec<(String, u32)> = found
        .iter()
        .map(|s| {
            (
                local_starts(std::slice::from_ref(s))[0][11..16].to_owned(),
                s.agents,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("09:00".into(), 1),
            ("09:30".into(), 1),
            ("10:00".into(), 1),
            ("10:30".into(), 2),
            ("11:00".into(), 2),
            // Bob stops at 11:45: not the whole slot.
            ("11:30".into(), 1),
            ("12:00".into(), 1),
            ("12:30".into(), 1),
        ]
    );
    assert_eq!(found[3].capacity, 12);
}

#[test]
fn working_hours_through_midnight_make_one_stretch() {
    let owl = agent(
        "America/Los_Angeles",
        json!({ "wed": ["22:00-24:00"], "thu": ["00:00-02:00"] }),
    );
    let spans = owl
        .working_spans(t("2027-03-10T08:00:00Z"), t("2027-03-12T08:00:00Z"))
        .unwrap();
    assert_eq!(
        spans,
        [(t("2027-03-11T06:00:00Z"), t("2027-03-11T10:00:00Z"))]
    );
}

#[test]
fn capacity_is_agents_times_length_over_handle_time_minus_what_is_taken() {
    let found = ask(&Ask {
        agents: vec![
            agent("America/Los_Angeles", json!(null)),
            agent("America/Los_Angeles", json!(null)),
        ],
        handle: 400,
        taken: vec![
            // Booked into 09:00-10:00: takes a place in both half hours.
            Taken::Booked {
                start: t("2027-03-10T17:00:00Z"),
                end: t("2027-03-10T18:00:00Z"),
            },
            Taken::Scheduled(t("2027-03-10T17:10:00Z")),
            // The end of a slot is the next one's.
            Taken::Scheduled(t("2027-03-10T17:30:00Z")),
        ],
        from: "2027-03-10T17:00:00Z",
        to: "2027-03-10T18:30:00Z",
        ..Ask::default()
    });
    // 2 × 1800 ÷ 400 = 9 places.
    let left: Vec<(u32, u32)> = found.iter().map(|s| (s.capacity, s.taken)).collect();
    assert_eq!(left, [(9, 2), (9, 2), (9, 0)]);
    assert_eq!(found[0].capacity_left(), 7);
    // A handle time longer than the slot leaves no place for one agent.
    let none = ask(&Ask {
        handle: 1801,
        from: "2027-03-10T17:00:00Z",
        to: "2027-03-10T18:30:00Z",
        ..Ask::default()
    });
    assert!(none.is_empty());
}

#[test]
fn slots_before_the_earliest_booking_time_or_blocked_numbers_are_not_offered() {
    let found = ask(&Ask {
        from: "2027-03-10T16:00:00Z",
        to: "2027-03-10T18:00:00Z",
        now: "2027-03-10T16:40:00Z",
        ..Ask::default()
    });
    assert_eq!(found.first().unwrap().start, t("2027-03-10T17:00:00Z"));
    // A number on the do-not-call list is never dialled: no slot.
    let location = los_angeles();
    let history = History::default();
    let facts = Facts {
        status: Status::Scheduled,
        due_at: t("2027-03-10T16:00:00Z"),
        attempt: 0,
        attempt_open: false,
        campaign: None,
        dialing_mode: DialingMode::Unattended,
        window: None,
        location: &location,
        on_dnc: true,
        consent: Default::default(),
        history: &history,
        free_agents: None,
    };
    let policy = AccountSettings::default();
    let agents = [agent("America/Los_Angeles", json!(null))];
    let found = slots(&SlotQuestion {
        facts,
        policy: &policy,
        zone: location.display_zone(),
        agents: &agents,
        handle_seconds: 300,
        taken: &[],
        length: SlotLength::default(),
        from: t("2027-03-10T16:00:00Z"),
        to: t("2027-03-11T16:00:00Z"),
        not_before: t("2027-03-10T00:00:00Z"),
        now: t("2027-03-10T00:00:00Z"),
    });
    assert!(found.is_empty());
}

#[test]
fn customer_requested_times_open_no_slot_outside_the_window() {
    let policy = AccountSettings {
        allow_customer_requested_times: true,
        ..AccountSettings::default()
    };
    let found = ask(&Ask {
        policy,
        from: "2027-03-10T08:00:00Z",
        to: "2027-03-11T08:00:00Z",
        ..Ask::default()
    });
    assert_eq!(found.len(), 26);
}

#[test]
fn the_average_handle_time_rounds_up_and_has_a_default() {
    assert_eq!(average_handle_seconds(&[]), DEFAULT_HANDLE_SECONDS);
    assert_eq!(average_handle_seconds(&[100, 201]), 151);
    assert_eq!(average_handle_seconds(&[0]), 1);
}
