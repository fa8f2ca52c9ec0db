//! The customer's page of a callback (`/c/{token}`, the callback's `customer_link`): it shows
//! the time in the customer's zone, confirms, moves the call to a free slot of its queue,
//! cancels, and stops all calls to the number; a changed token opens nothing (404), one whose
//! callback ended says so (410), and neither changes anything.

use std::sync::Arc;

use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::*;

/// A server at Monday 2027-01-04 12:00 UTC (04:00 in Los Angeles), calling any hour, with a
/// queue of one agent; the queue's id.
async fn app() -> (TestApp, String) {
    let clock = Arc::new(ShiftedClock::at("2027-01-04T12:00:00Z".parse().unwrap()));
    let app = spawn_app_with_clock(clock, |_| {}).await;
    app.any_hour().await;
    let agent = app
        .post_json("/v1/agents", &json!({ "name": "Ann" }))
        .await
        .expect(201)["id"]
        .clone();
    let queue = app
        .post_json(
            "/v1/queues",
            &json!({ "name": "Billing", "member_ids": [agent] }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, queue)
}

/// A preview callback to `phone` for the queue at 2027-01-05 18:00 UTC (10:00 in Los
/// Angeles).
async fn callback(app: &TestApp, queue: &str, phone: &str) -> Value {
    app.post_json(
        "/v1/callbacks",
        &json!({
            "phone": phone, "scheduled_at": "2027-01-05T18:00:00Z", "dialing_mode": "preview",
            "assignment": { "type": "queue", "ids": [queue] }, "allow_duplicate": true,
        }),
    )
    .await
    .expect(201)
    .clone()
}

/// The path of a callback's page, from its `customer_link`.
fn page_path(cb: &Value) -> String {
    let link = cb["customer_link"].as_str().expect("a customer_link");
    let path = &link[link.find("/c/").expect("a /c/ link")..];
    assert_eq!(path.len(), 3 + 64, "a 64-character token: {link}");
    path.to_owned()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// GET the page: its status and HTML.
async fn open(app: &TestApp, path: &str) -> (u16, String) {
    let resp = browser().get(app.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 200 {
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    }
    (status, resp.text().await.unwrap())
}

/// POST one of the page's forms: its status and HTML.
async fn press(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let resp = browser()
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_page_shows_the_time_in_the_customers_zone_and_reveals_nothing_else() {
    let (app, queue) = app().await;
    let phone = unique_phone();
    let cb = callback(&app, &queue, &phone).await;
    let (status, html) = open(&app, &page_path(&cb)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Tuesday 5 January 2027, 10:00"), "{html}");
    assert!(html.contains("Los Angeles time"), "{html}");
    assert!(
        !html.contains(&phone[2..]),
        "the page shows no phone number"
    );
    assert!(html.contains("Confirm this time"));
    // Free slots of its queue to move to, on the customer's clock.
    assert!(html.contains("name=\"slot_id\""), "{html}");
    assert!(html.contains(&format!("value=\"slot_{queue}_")), "{html}");
}

#[tokio::test]
async fn a_changed_or_made_up_token_opens_nothing_and_changes_nothing() {
    let (app, queue) = app().await;
    let cb = callback(&app, &queue, &unique_phone()).await;
    let path = page_path(&cb);
    let mut chars: Vec<char> = path.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    for bad in [tampered.as_str(), "/c/nothing", "/c/"] {
        let (status, html) = open(&app, bad).await;
        assert_eq!(status, 404, "{bad}");
        if bad != "/c/" {
            assert!(html.contains("This link is not valid"), "{html}");
        }
    }
    let (status, _) = press(&app, &format!("{tampered}/cancel"), &[]).await;
    assert_eq!(status, 404);
    let after = app
        .get(&format!("/v1/callbacks/{}", cb["id"].as_str().unwrap()))
        .await;
    assert_eq!(after.expect(200)["status"], "scheduled");
}

#[tokio::test]
async fn confirming_records_it_in_the_callbacks_history_as_the_customer() {
    let (app, queue) = app().await;
    let cb = callback(&app, &queue, &unique_phone()).await;
    let (status, html) = press(&app, &format!("{}/confirm", page_path(&cb)), &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("your call is confirmed"), "{html}");
    let id = cb["id"].as_str().unwrap();
    let detail = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    let notes = detail["notes"].as_str().unwrap_or_default();
    assert!(notes.contains("customer] confirmed the time"), "{detail}");
    let audit = app.get("/v1/audit?limit=5").await.expect(200).to_string();
    assert!(
        audit.contains("customer_link"),
        "the change is audited as the customer: {audit}"
    );
}

#[tokio::test]
async fn moving_to_a_free_slot_reschedules_to_its_start_and_a_slot_of_another_queue_is_refused() {
    let (app, queue) = app().await;
    let cb = callback(&app, &queue, &unique_phone()).await;
    let id = cb["id"].as_str().unwrap();
    let path = page_path(&cb);
    let (_, html) = open(&app, &path).await;
    let slot = html
        .split("value=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .find(|v| v.starts_with("slot_"))
        .expect("a free slot on the page")
        .to_owned();
    let start: i64 = slot.rsplit('_').nth(1).unwrap().parse().unwrap();
    let (status, html) = press(&app, &format!("{path}/reschedule"), &[("slot_id", &slot)]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("moved to the new time"), "{html}");
    let moved = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(ts(&moved["scheduled_at"]).as_second(), start, "{moved}");

    // No slot chosen: the page asks for one, the time unchanged.
    for form in [&[][..], &[("slot_id", "  ")][..]] {
        let (status, html) = press(&app, &format!("{path}/reschedule"), form).await;
        assert_eq!(status, 200);
        assert!(
            html.contains("Choose one of the free times first"),
            "{html}"
        );
    }
    let unmoved = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(unmoved["scheduled_at"], moved["scheduled_at"]);

    // A slot of another queue, and a garbled one: refused, the time unchanged.
    let other = format!("slot_que_01JAAAAAAAAAAAAAAAAAAAAAAA_{}_30", start + 3600);
    for bad in [other.as_str(), "slot_nonsense"] {
        let (status, html) = press(&app, &format!("{path}/reschedule"), &[("slot_id", bad)]).await;
        assert_eq!(status, 200);
        assert!(html.contains("could not be done"), "{bad}: {html}");
    }
    let still = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(still["scheduled_at"], moved["scheduled_at"]);
}

#[tokio::test]
async fn a_slot_with_no_place_left_is_refused_on_the_page() {
    let (app, queue) = app().await;
    // One agent, 30-minute slots, 300 s handle time: six places. Fill one slot.
    let first = callback(&app, &queue, &unique_phone()).await;
    let (_, html) = open(&app, &page_path(&first)).await;
    let slot = html
        .split("value=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .find(|v| v.starts_with("slot_"))
        .unwrap()
        .to_owned();
    for _ in 0..6 {
        app.post_json(
            "/v1/callbacks",
            &json!({ "phone": unique_phone(), "slot_id": slot, "dialing_mode": "preview" }),
        )
        .await
        .expect(201);
    }
    let (status, html) = press(
        &app,
        &format!("{}/reschedule", page_path(&first)),
        &[("slot_id", &slot)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("could not be done"), "{html}");
    let id = first["id"].as_str().unwrap();
    let after = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(after["scheduled_at"], first["scheduled_at"]);
}

#[tokio::test]
async fn canceling_ends_the_callback_and_its_link_then_answers_410() {
    let (app, queue) = app().await;
    let cb = callback(&app, &queue, &unique_phone()).await;
    let path = page_path(&cb);
    let (status, html) = press(&app, &format!("{path}/cancel"), &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Your call is canceled"), "{html}");
    let id = cb["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/callbacks/{id}")).await.expect(200)["status"],
        "canceled"
    );
    let (status, html) = open(&app, &path).await;
    assert_eq!(status, 410);
    assert!(html.contains("no longer valid"), "{html}");
    let (status, _) = press(&app, &format!("{path}/confirm"), &[]).await;
    assert_eq!(status, 410);
}

#[tokio::test]
async fn stop_calling_me_puts_the_number_on_do_not_call_revokes_consent_and_cancels_all() {
    let (app, queue) = app().await;
    let phone = unique_phone();
    let cb = callback(&app, &queue, &phone).await;
    let other = callback(&app, &queue, &phone).await;
    let (status, html) = press(&app, &format!("{}/stop", page_path(&cb)), &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("We will not call you again"), "{html}");
    for c in [&cb, &other] {
        let id = c["id"].as_str().unwrap();
        assert_eq!(
            app.get(&format!("/v1/callbacks/{id}")).await.expect(200)["status"],
            "canceled"
        );
    }
    let encoded = phone.replace('+', "%2B");
    let dnc = app
        .get(&format!("/v1/dnc/{encoded}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(dnc["phone"], phone.as_str(), "{dnc}");
    let consents = app
        .get(&format!("/v1/consents?phone={encoded}"))
        .await
        .expect(200)
        .clone();
    let text = consents.to_string();
    assert!(text.contains("customer_link"), "{text}");
    assert!(!text.contains("\"granted\":true"), "{text}");
}
