//! Bookable slots (`GET /v1/availability`) and booking one (`POST /v1/callbacks` with
//! `slot_id`): the local grid across daylight-saving changes, holidays, the calling window,
//! agents' working hours, capacity from the queue's handle times, the last place taken by one
//! of two concurrent bookings, and bad input naming its field.
//!
//! The numbers are Los Angeles ones (`unique_phone`), one zone; "now" is fixed by the test
//! clock.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A server whose clock reads `now`.
async fn app_at(now: &str) -> (TestApp, Arc<ShiftedClock>) {
    let clock = Arc::new(ShiftedClock::at(now.parse().unwrap()));
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    (app, clock)
}

/// Applies `changes` to the account's settings.
async fn set(app: &TestApp, changes: Value) {
    let mut body = app.get("/v1/settings").await.expect(200).clone();
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.settings(body).await;
}

/// A queue with one new agent in it (`agent` gives the agent's fields); the queue's id.
async fn queue_with(app: &TestApp, agents: &[Value]) -> String {
    let mut ids = Vec::new();
    for (i, fields) in agents.iter().enumerate() {
        let mut body = json!({ "name": format!("Agent {i}") });
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        ids.push(app.post_json("/v1/agents", &body).await.expect(201)["id"].clone());
    }
    app.post_json("/v1/queues", &json!({ "name": "Sales", "member_ids": ids }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn query(queue: &str, phone: &str, rest: &str) -> String {
    format!(
        "/v1/availability?queue_id={queue}&phone={}{rest}",
        phone.replace('+', "%2B")
    )
}

async fn slots(app: &TestApp, queue: &str, phone: &str, rest: &str) -> Vec<Value> {
    app.get(&query(queue, phone, rest)).await.expect(200)["slots"]
        .as_array()
        .expect("a slots array")
        .clone()
}

/// The local start times, by local date.
fn by_day(slots: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut days: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in slots {
        let local = s["start_local"].as_str().unwrap();
        days.entry(local[..10].to_owned())
            .or_default()
            .push(local[11..].to_owned());
    }
    days
}

#[tokio::test]
async fn slots_stay_on_the_local_grid_across_the_spring_change_and_skip_a_holiday() {
    let (app, _clock) = app_at("2027-03-12T12:00:00Z").await;
    set(
        &app,
        json!({ "holidays": [{ "date": "2027-03-15", "regions": ["US"], "name": "Test day" }] }),
    )
    .await;
    let queue = queue_with(&app, &[json!({})]).await;
    let phone = unique_phone();
    // Saturday 13th (PST, UTC-8) to Tuesday 16th (PDT, UTC-7); Monday 15th is a holiday.
    let found = slots(
        &app,
        &queue,
        &phone,
        "&from=2027-03-13T08:00:00Z&to=2027-03-17T08:00:00Z&slot_minutes=60",
    )
    .await;
    let days = by_day(&found);
    assert_eq!(
        days.keys().collect::<Vec<_>>(),
        ["2027-03-13", "2027-03-14", "2027-03-16"],
        "no slot on the holiday"
    );
    let hours: Vec<String> = (8..21).map(|h| format!("{h:02}:00:00")).collect();
    assert_eq!(
        days["2027-03-13"],
        hours
            .iter()
            .map(|h| format!("{h}-08:00"))
            .collect::<Vec<_>>()
    );
    for day in ["2027-03-14", "2027-03-16"] {
        assert_eq!(
            days[day],
            hours
                .iter()
                .map(|h| format!("{h}-07:00"))
                .collect::<Vec<_>>(),
            "{day}: the same local hours, now on daylight time"
        );
    }
    // The same local hour is an hour earlier in UTC after the change.
    let first = |date: &str| {
        found
            .iter()
            .find(|s| s["start_local"].as_str().unwrap().starts_with(date))
            .unwrap()
            .clone()
    };
    assert_eq!(first("2027-03-13")["start"], "2027-03-13T16:00:00Z");
    assert_eq!(first("2027-03-14")["start"], "2027-03-14T15:00:00Z");
    let slot = first("2027-03-14");
    assert_eq!(slot["end"], "2027-03-14T16:00:00Z");
    assert_eq!(slot["end_local"], "2027-03-14T09:00:00-07:00");
    assert_eq!(slot["zone"], "America/Los_Angeles");
    // One agent, an hour, five minutes a call (no history): twelve places.
    assert!(found.iter().all(|s| s["capacity_left"] == 12), "{found:?}");
    let id = slot["id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("slot_{queue}_")) && id.ends_with("_60"),
        "{id}"
    );
}

#[tokio::test]
async fn the_grid_skips_a_local_hour_the_clocks_skip_and_offers_a_repeated_one_twice() {
    let (app, clock) = app_at("2027-03-12T12:00:00Z").await;
    set(
        &app,
        json!({ "calling_window": { "start": "00:00", "end": "24:00" } }),
    )
    .await;
    let queue = queue_with(&app, &[json!({})]).await;
    let phone = unique_phone();
    // 2027-03-14: 02:00 PST becomes 03:00 PDT.
    let spring = slots(
        &app,
        &queue,
        &phone,
        "&from=2027-03-14T08:00:00Z&to=2027-03-14T12:00:00Z&slot_minutes=60",
    )
    .await;
    let shown: Vec<(&str, &str)> = spring
        .iter()
        .map(|s| {
            (
                s["start_local"].as_str().unwrap(),
                s["start"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("2027-03-14T00:00:00-08:00", "2027-03-14T08:00:00Z"),
            ("2027-03-14T01:00:00-08:00", "2027-03-14T09:00:00Z"),
            ("2027-03-14T03:00:00-07:00", "2027-03-14T10:00:00Z"),
            ("2027-03-14T04:00:00-07:00", "2027-03-14T11:00:00Z"),
        ]
    );
    // 2027-11-07: 02:00 PDT becomes 01:00 PST; 01:00 is on the clock twice, an hour apart.
    clock.advance(Duration::from_secs(238 * 24 * 3600));
    let autumn = slots(
        &app,
        &queue,
        &phone,
        "&from=2027-11-07T07:00:00Z&to=2027-11-07T11:00:00Z&slot_minutes=60",
    )
    .await;
    let shown: Vec<&str> = autumn
        .iter()
        .map(|s| s["start_local"].as_str().unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            "2027-11-07T00:00:00-07:00",
            "2027-11-07T01:00:00-07:00",
            "2027-11-07T01:00:00-08:00",
            "2027-11-07T02:00:00-08:00",
        ]
    );
}

#[tokio::test]
async fn slots_keep_to_the_calling_window_and_the_agents_working_hours() {
    // Wednesday 2027-03-10; the window is the default 08:00-21:00.
    let (app, _clock) = app_at("2027-03-08T12:00:00Z").await;
    let queue = queue_with(
        &app,
        &[
            // 07:00-10:00 in Los Angeles: from the window's 08:00 on.
            json!({ "timezone": "America/Los_Angeles", "working_hours": { "wed": ["07:00-10:00"] } }),
            // 12:00-16:00 in New York is 09:00-13:00 in Los Angeles.
            json!({ "timezone": "America/New_York", "working_hours": { "wed": ["12:00-16:00"] } }),
            // Until nearly midnight, but the window closes at 21:00.
            json!({ "timezone": "America/Los_Angeles", "working_hours": { "wed": ["18:00-23:59"] } }),
        ],
    )
    .await;
    let found = slots(
        &app,
        &queue,
        &unique_phone(),
        "&from=2027-03-10T08:00:00Z&to=2027-03-11T08:00:00Z",
    )
    .await;
    let shown: Vec<(String, u64)> = found
        .iter()
        .map(|s| {
            (
                s["start_local"].as_str().unwrap()[11..16].to_owned(),
                s["capacity_left"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = [
        ("08:00", 6),
        ("08:30", 6),
        ("09:00", 12),
        ("09:30", 12),
        ("10:00", 6),
        ("10:30", 6),
        ("11:00", 6),
        ("11:30", 6),
        ("12:00", 6),
        ("12:30", 6),
        ("18:00", 6),
        ("18:30", 6),
        ("19:00", 6),
        ("19:30", 6),
        ("20:00", 6),
        ("20:30", 6),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_owned(), n))
    .collect();
    assert_eq!(shown, expected);
    assert_eq!(
        found.last().unwrap()["end_local"],
        "2027-03-10T21:00:00-08:00"
    );
}

#[tokio::test]
async fn capacity_counts_the_queues_handle_times_and_what_is_scheduled_in_the_slot() {
    let clock = Arc::new(ShiftedClock::at("2027-03-08T12:00:00Z".parse().unwrap()));
    let app = spawn_app_with_clock(clock.clone(), |c| c.min_lead_seconds = 0).await;
    set(
        &app,
        json!({ "calling_window": { "start": "00:00", "end": "24:00" } }),
    )
    .await;
    let queue = queue_with(&app, &[json!({})]).await;
    // An answered call of the queue that took 15 minutes.
    let due = (ringback::clock::Clock::now(clock.as_ref())
        + jiff::SignedDuration::from_millis(300))
    .to_string();
    let id = app
        .create(&json!({ "phone": unique_phone(), "scheduled_at": due,
                         "assignment": { "type": "queue", "ids": [queue] } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "in_progress", WAIT).await;
    app.report_outcome(
        &id,
        &json!({ "outcome": "answered", "duration_seconds": 900 }),
    )
    .await
    .expect(200);
    // A callback of the queue scheduled (not booked) inside the 10:00 slot takes a place.
    app.create(
        &json!({ "phone": unique_phone(), "scheduled_at": "2027-03-10T18:10:00Z",
                        "assignment": { "type": "queue", "ids": [queue] } }),
    )
    .await;
    let found = slots(
        &app,
        &queue,
        &unique_phone(),
        "&from=2027-03-10T17:00:00Z&to=2027-03-10T19:00:00Z",
    )
    .await;
    let left: Vec<u64> = found
        .iter()
        .map(|s| s["capacity_left"].as_u64().unwrap())
        .collect();
    // 1 agent × 1800 s ÷ 900 s = 2 places.
    assert_eq!(left, [2, 2, 1, 2]);
}

#[tokio::test]
async fn two_customers_booking_the_last_place_at_once_get_one_201_and_one_slot_full() {
    let (app, _clock) = app_at("2027-03-08T12:00:00Z").await;
    let queue = queue_with(&app, &[json!({})]).await;
    // Five-minute slots, one agent, five minutes a call: one place each.
    let offered = slots(
        &app,
        &queue,
        &unique_phone(),
        "&from=2027-03-10T16:00:00Z&to=2027-03-10T17:00:00Z&slot_minutes=5",
    )
    .await;
    assert_eq!(offered[0]["start"], "2027-03-10T16:00:00Z");
    assert!(offered.iter().all(|s| s["capacity_left"] == 1));
    // Two customers race for each of four slots, all eight requests at once (several races,
    // so that both of a pair passing the check before the insert is likely to happen).
    let raced: Vec<String> = offered[..4]
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let requests = raced.iter().flat_map(|slot_id| {
        [unique_phone(), unique_phone()].map(|phone| {
            let app = &app;
            async move {
                let resp = app
                    .post_callback(&json!({ "phone": phone, "slot_id": slot_id }))
                    .await;
                (slot_id.clone(), resp)
            }
        })
    });
    let answers = futures::future::join_all(requests).await;
    for slot_id in &raced {
        let pair: Vec<&Resp> = answers
            .iter()
            .filter(|(id, _)| id == slot_id)
            .map(|(_, resp)| resp)
            .collect();
        let statuses: Vec<u16> = pair.iter().map(|r| r.status).collect();
        let won = pair.iter().find(|r| r.status == 201);
        let lost = pair.iter().find(|r| r.status == 409);
        let (Some(won), Some(lost)) = (won, lost) else {
            panic!(
                "{slot_id}: expected one 201 and one 409, got {statuses:?}: {}",
                pair.iter()
                    .map(|r| r.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" / ")
            );
        };
        let cb = won.expect(201);
        assert_eq!(cb["assignment"], json!({ "type": "queue", "ids": [queue] }));
        let error = lost.expect_field_error(409, "slot_full", "slot_id");
        let next = error["next_slots"].as_array().expect("next_slots");
        assert!(!next.is_empty(), "{error}");
        // Free when the loser looked (a slot raced for later may still be among them).
        assert!(
            next.iter()
                .all(|s| s["capacity_left"] == 1 && s["id"] != slot_id.as_str()),
            "{error}"
        );
    }
    let first = answers
        .iter()
        .find(|(id, r)| *id == raced[0] && r.status == 201)
        .unwrap();
    assert_eq!(first.1.body["scheduled_at"], "2027-03-10T16:00:00Z");

    // The slots are no longer offered; the next one still is.
    let now = slots(
        &app,
        &queue,
        &unique_phone(),
        "&from=2027-03-10T16:00:00Z&to=2027-03-10T17:00:00Z&slot_minutes=5",
    )
    .await;
    assert_eq!(now[0]["start"], "2027-03-10T16:20:00Z");
    // Booking one again later is refused the same way.
    app.post_callback(&json!({ "phone": unique_phone(), "slot_id": raced[0] }))
        .await
        .expect_field_error(409, "slot_full", "slot_id");
    assert_eq!(app.list_all().await.len(), 4);
}

#[tokio::test]
async fn a_slot_outside_the_numbers_window_is_not_booked() {
    let (app, _clock) = app_at("2027-03-08T12:00:00Z").await;
    let queue = queue_with(&app, &[json!({})]).await;
    // 03:00 in Los Angeles; the account lets customers ask for any time, but a slot is only
    // offered inside the window.
    let start = "2027-03-10T11:00:00Z".parse::<Timestamp>().unwrap();
    let slot_id = format!("slot_{queue}_{}_30", start.as_second());
    let error = app
        .post_callback(&json!({ "phone": unique_phone(), "slot_id": slot_id }))
        .await
        .expect_field_error(409, "slot_unavailable", "slot_id")
        .clone();
    assert_eq!(
        error["next_slots"][0]["start_local"],
        "2027-03-10T08:00:00-08:00"
    );
    app.assert_no_callbacks("an unavailable slot").await;
}

#[tokio::test]
async fn every_bad_availability_parameter_is_refused_naming_it() {
    let (app, _clock) = app_at("2027-03-08T12:00:00Z").await;
    let queue = queue_with(&app, &[json!({})]).await;
    let phone = unique_phone().replace('+', "%2B");
    let theirs = app.another_accounts_queue().await;
    let q = format!("queue_id={queue}&phone={phone}");
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (format!("phone={phone}"), 400, "missing_field", "queue_id"),
        (
            format!("queue_id=&phone={phone}"),
            400,
            "missing_field",
            "queue_id",
        ),
        (
            format!("queue_id=sales&phone={phone}"),
            400,
            "invalid_field",
            "queue_id",
        ),
        (
            format!("queue_id=que_01J00000000000000000000000&phone={phone}"),
            404,
            "not_found",
            "queue_id",
        ),
        (
            format!("queue_id={theirs}&phone={phone}"),
            404,
            "not_found",
            "queue_id",
        ),
        (format!("queue_id={queue}"), 400, "missing_field", "phone"),
        (
            format!("queue_id={queue}&phone=12"),
            400,
            "invalid_phone",
            "phone",
        ),
        (
            format!("{q}&from=tomorrow"),
            400,
            "invalid_datetime",
            "from",
        ),
        (
            format!("{q}&from=2027-03-08T10:00:00Z"),
            400,
            "time_in_past",
            "from",
        ),
        (format!("{q}&to=2027-03-10"), 400, "invalid_datetime", "to"),
        (
            format!("{q}&from=2027-03-10T00:00:00Z&to=2027-03-09T00:00:00Z"),
            400,
            "invalid_field",
            "to",
        ),
        (
            format!("{q}&from=2027-03-10T00:00:00Z&to=2027-03-10T00:00:00Z"),
            400,
            "invalid_field",
            "to",
        ),
        (
            format!("{q}&from=2027-03-10T00:00:00Z&to=2027-04-10T00:00:01Z"),
            400,
            "invalid_field",
            "to",
        ),
        (
            format!("{q}&to=2030-01-01T00:00:00Z"),
            400,
            "invalid_field",
            "to",
        ),
        (
            format!("{q}&slot_minutes=4"),
            400,
            "invalid_field",
            "slot_minutes",
        ),
        (
            format!("{q}&slot_minutes=241"),
            400,
            "invalid_field",
            "slot_minutes",
        ),
        (
            format!("{q}&slot_minutes=7"),
            400,
            "invalid_field",
            "slot_minutes",
        ),
        (
            format!("{q}&slot_minutes=thirty"),
            400,
            "invalid_field",
            "slot_minutes",
        ),
        (
            format!("{q}&slot_minutes=-30"),
            400,
            "invalid_field",
            "slot_minutes",
        ),
        (
            format!("{q}&dialing_mode=robocall"),
            400,
            "invalid_field",
            "dialing_mode",
        ),
    ];
    for (params, status, code, field) in &cases {
        app.get(&format!("/v1/availability?{params}"))
            .await
            .expect_field_error(*status, code, field);
    }
    // An unknown parameter is refused too.
    let resp = app.get(&format!("/v1/availability?{q}&colour=blue")).await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    // A range of exactly 31 days is fine.
    app.get(&format!(
        "/v1/availability?{q}&from=2027-03-10T00:00:00Z&to=2027-04-10T00:00:00Z&slot_minutes=240"
    ))
    .await
    .expect(200);
}

#[tokio::test]
async fn every_bad_booking_is_refused_naming_its_field() {
    let (app, _clock) = app_at("2027-03-08T12:00:00Z").await;
    let queue = queue_with(&app, &[json!({})]).await;
    let agent = app.agent_id("Solo").await;
    let slot = |at: &str, minutes: u32| {
        format!(
            "slot_{queue}_{}_{minutes}",
            at.parse::<Timestamp>().unwrap().as_second()
        )
    };
    let good = slot("2027-03-10T17:00:00Z", 30);
    let unknown_queue = format!(
        "slot_que_01J00000000000000000000000_{}_30",
        "2027-03-10T17:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second()
    );
    let phone = unique_phone;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "phone": phone(), "slot_id": "slot_nonsense" }),
            "invalid_field",
            "slot_id",
        ),
        (
            json!({ "phone": phone(), "slot_id": 42 }),
            "invalid_field",
            "slot_id",
        ),
        (
            json!({ "phone": phone(), "slot_id": good.replace("_30", "_7") }),
            "invalid_field",
            "slot_id",
        ),
        (
            json!({ "phone": phone(), "slot_id": unknown_queue }),
            "invalid_field",
            "slot_id",
        ),
        (
            json!({ "phone": phone(), "slot_id": slot("2027-03-08T11:00:00Z", 30) }),
            "time_in_past",
            "slot_id",
        ),
        (
            json!({ "phone": phone(), "slot_id": good, "scheduled_at": "2027-03-10T17:30:00Z" }),
            "invalid_field",
            "scheduled_at",
        ),
        (
            json!({ "phone": phone(), "slot_id": good,
                    "assignment": { "type": "agent", "ids": [agent] } }),
            "invalid_field",
            "assignment",
        ),
        (
            json!({ "phone": "12", "slot_id": good }),
            "invalid_phone",
            "phone",
        ),
        (json!({ "phone": phone() }), "missing_field", "scheduled_at"),
    ];
    for (body, code, field) in &cases {
        app.post_callback(body)
            .await
            .expect_field_error(400, code, field);
    }
    // A batch item cannot book a slot.
    let batch = app
        .post_json(
            "/v1/callbacks/batch",
            &json!({ "callbacks": [{ "phone": phone(), "slot_id": good }] }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(batch["results"][0]["status"], "failed");
    assert_eq!(
        batch["results"][0]["error"]["field"],
        "callbacks[0].slot_id"
    );
    app.assert_no_callbacks("bad bookings").await;
    // The same slot, with its start echoed and its queue named, is booked.
    let cb = app
        .create(&json!({ "phone": phone(), "slot_id": good,
                         "scheduled_at": "2027-03-10T17:00:00Z",
                         "assignment": { "type": "queue", "ids": [queue] } }))
        .await;
    assert_eq!(cb["scheduled_at"], "2027-03-10T17:00:00Z");
}

#[tokio::test]
async fn the_document_describes_availability_slot_ids_and_slot_errors() {
    let app = spawn_app().await;
    let doc = app
        .request_as(None, Method::GET, "/openapi.json", None)
        .await
        .expect(200)
        .clone();
    let op = &doc["paths"]["/v1/availability"]["get"];
    let params: Vec<(&str, bool)> = op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["required"] == true))
        .collect();
    for expected in [
        ("queue_id", true),
        ("phone", true),
        ("from", false),
        ("to", false),
        ("slot_minutes", false),
        ("dialing_mode", false),
    ] {
        assert!(params.contains(&expected), "{expected:?} in {params:?}");
    }
    assert!(op["responses"]["200"].is_object());
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["NewCallback"]["properties"]["slot_id"].is_object());
    let required = schemas["NewCallback"]["required"].as_array().unwrap();
    assert!(!required.contains(&json!("scheduled_at")), "{required:?}");
    let codes = schemas["ErrorCode"]["enum"].as_array().unwrap();
    for code in ["slot_full", "slot_unavailable"] {
        assert!(codes.contains(&json!(code)), "{code}");
    }
    assert!(schemas["SlotView"]["properties"]["capacity_left"].is_object());
}

#[tokio::test]
async fn a_patch_with_slot_id_moves_a_booking_and_frees_its_old_place() {
    let (app, _clock) = app_at("2027-03-08T12:00:00Z").await;
    let queue = queue_with(&app, &[json!({})]).await;
    // Five-minute slots, one agent, five minutes a call: one place each.
    let range = "&from=2027-03-10T16:00:00Z&to=2027-03-10T17:00:00Z&slot_minutes=5";
    let offered = slots(&app, &queue, &unique_phone(), range).await;
    let (a, b) = (
        offered[0]["id"].as_str().unwrap().to_owned(),
        offered[1]["id"].as_str().unwrap().to_owned(),
    );
    let first = app
        .post_callback(&json!({ "phone": unique_phone(), "slot_id": a }))
        .await
        .expect(201)
        .clone();
    let other = app
        .post_callback(&json!({ "phone": unique_phone(), "slot_id": b }))
        .await
        .expect(201)
        .clone();
    let path = format!("/v1/callbacks/{}", first["id"].as_str().unwrap());
    // The slot it would move to is full: refused, nothing changed.
    app.patch(&path, &json!({ "slot_id": b }))
        .await
        .expect_field_error(409, "slot_full", "slot_id");
    // Alone only; a garbled id names the field.
    app.patch(&path, &json!({ "slot_id": offered[2]["id"], "notes": "x" }))
        .await
        .expect_field_error(400, "invalid_field", "slot_id");
    app.patch(&path, &json!({ "slot_id": "slot_nonsense" }))
        .await
        .expect_field_error(400, "invalid_field", "slot_id");
    // Moved to a free slot: its start is the time, and the old slot is free again.
    let moved = app
        .patch(&path, &json!({ "slot_id": offered[2]["id"] }))
        .await
        .expect(200)
        .clone();
    assert_eq!(moved["scheduled_at"], offered[2]["start"], "{moved}");
    let now = slots(&app, &queue, &unique_phone(), range).await;
    let starts: Vec<&str> = now.iter().map(|s| s["start"].as_str().unwrap()).collect();
    assert_eq!(
        starts[0], "2027-03-10T16:00:00Z",
        "the old place is free: {starts:?}"
    );
    assert!(!starts.contains(&"2027-03-10T16:05:00Z"), "{starts:?}");
    assert!(!starts.contains(&"2027-03-10T16:10:00Z"), "{starts:?}");
    assert_eq!(other["scheduled_at"], "2027-03-10T16:05:00Z");
}
