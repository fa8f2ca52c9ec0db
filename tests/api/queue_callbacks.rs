//! Callback instead of hold: `POST /v1/queues/{id}/callbacks` keeps a waiting caller's place
//! (ordered by `queued_since`), `GET /v1/queues/{id}/wait` estimates the wait from the queue's
//! agents and recent handle times, and a `twilio_compatible` trunk serves the inbound TwiML
//! flow ("press 1 to be called back"), signed like Twilio's helper library signs.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use quick_xml::events::Event;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::routing::{AgentStream, act, offered_id};
use crate::twilio::official_signature;

const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "twilio-test-auth-token";

async fn queue(app: &TestApp, body: Value) -> String {
    let mut all = json!({ "name": "Support" });
    if let (Value::Object(all), Value::Object(body)) = (&mut all, body) {
        all.extend(body);
    }
    app.post_json("/v1/queues", &all).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An agent of `queue` with `presence`; its id.
async fn member(app: &TestApp, queue: &str, presence: &str) -> String {
    let agent = app
        .post_json(
            "/v1/agents",
            &json!({ "name": "Ann", "queue_ids": [queue] }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.set_presence(&agent, presence).await;
    agent
}

async fn queue_callback(app: &TestApp, queue: &str, body: Value) -> Resp {
    app.post_json(&format!("/v1/queues/{queue}/callbacks"), &body)
        .await
}

async fn wait(app: &TestApp, queue: &str) -> Value {
    app.get(&format!("/v1/queues/{queue}/wait"))
        .await
        .expect(200)
        .clone()
}

/// Now, to the millisecond (the precision Ringback keeps).
fn now_ms() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap()
}

fn minutes_ago(now: Timestamp, minutes: i64) -> String {
    (now - SignedDuration::from_mins(minutes)).to_string()
}

#[tokio::test]
async fn queue_callbacks_keep_the_callers_place_by_when_they_joined_the_queue() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let q = queue(&app, json!({})).await;
    let ann = member(&app, &q, "away").await;
    // Three callers joined at 10:00, 09:50 and 10:05 (here: 15, 25 and 10 minutes ago), and ask
    // for a callback in another order.
    let now = now_ms();
    let mut ids = Vec::new();
    let mut positions = Vec::new();
    for minutes in [15, 25, 10] {
        let made = queue_callback(
            &app,
            &q,
            json!({ "phone": unique_phone(), "contact_name": "Caller",
                    "queued_since": minutes_ago(now, minutes), "notes": "from the IVR" }),
        )
        .await;
        let made = made.expect(201);
        ids.push(made["id"].as_str().unwrap().to_owned());
        positions.push(made["position"].as_u64().unwrap());
        // The usual representation, assigned to the queue, offered to its agents.
        assert_eq!(made["assignment"], json!({ "type": "queue", "ids": [q] }));
        assert_eq!(made["dialing_mode"], "preview");
        assert_eq!(made["contact_name"], "Caller");
        assert_eq!(made["queued_since"], minutes_ago(now, minutes));
        // Nobody is working: no estimate.
        assert!(made["estimated_wait_seconds"].is_null(), "{made}");
    }
    // The 10:00 caller was first; the 09:50 one went before them; the 10:05 one is third.
    assert_eq!(positions, [1, 1, 3]);
    for id in &ids {
        app.wait_for_status(id, "waiting", WAIT).await;
    }
    let w = wait(&app, &q).await;
    assert_eq!(w["waiting"], 3, "{w}");
    assert_eq!(w["position_next"], 4);
    assert_eq!(
        (w["free_agents"].clone(), w["agents_working"].clone()),
        (json!(0), json!(0))
    );
    assert!(w["estimated_wait_seconds"].is_null());
    // The stored callback shows when its caller joined.
    assert_eq!(
        app.get_callback(&ids[1]).await["queued_since"],
        minutes_ago(now, 25)
    );

    // Ann comes in: she is offered them in the order the callers joined the queue.
    let mut feed = AgentStream::open(&app, &ann, None).await;
    app.set_presence(&ann, "available").await;
    for expected in [&ids[1], &ids[0], &ids[2]] {
        let offer = feed.next_of("offer").await;
        assert_eq!(&offered_id(&offer), expected);
        act(&app, &ann, expected, "accept", json!({}))
            .await
            .expect(200);
        act(
            &app,
            &ann,
            expected,
            "complete",
            json!({ "outcome": "answered" }),
        )
        .await
        .expect(200);
    }
}

#[tokio::test]
async fn a_higher_priority_still_goes_before_an_earlier_caller() {
    // Priority comes first in a queue's line; `queued_since` orders callbacks of one priority.
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let q = queue(&app, json!({})).await;
    let now = now_ms();
    let early = queue_callback(
        &app,
        &q,
        json!({ "phone": unique_phone(), "queued_since": minutes_ago(now, 30) }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An ordinary callback of priority 90 for the queue, due now.
    let urgent = app
        .create(&json!({ "phone": unique_phone(), "scheduled_at": in_ms(50),
                         "dialing_mode": "preview", "priority": 90,
                         "assignment": { "type": "queue", "ids": [q] } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&early, &urgent] {
        app.wait_for_status(id, "waiting", WAIT).await;
    }
    let late = queue_callback(
        &app,
        &q,
        json!({ "phone": unique_phone(), "queued_since": minutes_ago(now, 40) }),
    )
    .await;
    // The 40-minute caller goes before the 30-minute one, after the priority 90 callback.
    assert_eq!(late.expect(201)["position"], 2, "{}", late.text);
    let ann = member(&app, &q, "away").await;
    let mut feed = AgentStream::open(&app, &ann, None).await;
    app.set_presence(&ann, "available").await;
    assert_eq!(offered_id(&feed.next_of("offer").await), urgent);
}

#[tokio::test]
async fn the_wait_estimate_follows_the_documented_formula_over_a_scripted_history() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    app.any_hour().await;
    let q = queue(&app, json!({ "offer_timeout_seconds": 30 })).await;
    let ann = member(&app, &q, "available").await;
    let bob = member(&app, &q, "away").await;

    // No history: the default handle time, 300 s; Ann free, nobody waiting.
    let w = wait(&app, &q).await;
    assert_eq!(
        w,
        json!({ "waiting": 0, "free_agents": 1, "agents_working": 1,
                "average_handle_seconds": 300, "handle_samples": 0,
                "offer_timeout_seconds": 30, "position_next": 1,
                // A free agent takes it at once: half the offer timeout to answer.
                "estimated_wait_seconds": 15 })
    );

    // Ann handles two queue callbacks: 240 s and 120 s from accepting to the outcome.
    let mut feed = AgentStream::open(&app, &ann, None).await;
    for seconds in [240, 120] {
        let id = queue_callback(&app, &q, json!({ "phone": unique_phone() }))
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(offered_id(&feed.next_of("offer").await), id);
        act(&app, &ann, &id, "accept", json!({})).await.expect(200);
        app.move_time(&clock, Duration::from_secs(seconds));
        act(
            &app,
            &ann,
            &id,
            "complete",
            json!({ "outcome": "answered" }),
        )
        .await
        .expect(200);
    }
    // A call that was not answered does not count.
    let missed = queue_callback(&app, &q, json!({ "phone": unique_phone() }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(offered_id(&feed.next_of("offer").await), missed);
    act(&app, &ann, &missed, "accept", json!({}))
        .await
        .expect(200);
    app.move_time(&clock, Duration::from_secs(30));
    act(
        &app,
        &ann,
        &missed,
        "complete",
        json!({ "outcome": "no_answer" }),
    )
    .await
    .expect(200);

    // Now both are on calls of their own (busy), and three callers wait.
    app.set_presence(&ann, "busy").await;
    app.set_presence(&bob, "busy").await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let made = queue_callback(&app, &q, json!({ "phone": unique_phone() })).await;
        waiting.push(made.expect(201)["id"].as_str().unwrap().to_owned());
    }
    for id in &waiting {
        app.wait_for_status(id, "waiting", WAIT).await;
    }
    // H = (240 + 120) / 2 = 180, A = 30 / 2 = 15, nobody free, 2 working: the fourth waits
    // 15 + ceil(4 x (180 + 15) / 2) = 15 + 390 s.
    let w = wait(&app, &q).await;
    assert_eq!(
        w,
        json!({ "waiting": 3, "free_agents": 0, "agents_working": 2,
                "average_handle_seconds": 180, "handle_samples": 2,
                "offer_timeout_seconds": 30, "position_next": 4,
                "estimated_wait_seconds": 405 })
    );
    // And a fourth caller is told the same.
    let fourth = queue_callback(&app, &q, json!({ "phone": unique_phone() })).await;
    let fourth = fourth.expect(201);
    assert_eq!(
        (
            fourth["position"].clone(),
            fourth["estimated_wait_seconds"].clone()
        ),
        (json!(4), json!(405))
    );
    // Four hours on, the history has aged out: the default again (15 + ceil(5 x 315 / 2)).
    app.move_time(&clock, Duration::from_secs(4 * 3600 + 60));
    let w = wait(&app, &q).await;
    assert_eq!(w["average_handle_seconds"], 300);
    assert_eq!(w["handle_samples"], 0);
    assert_eq!(w["waiting"], 4, "{w}");
    assert_eq!(w["estimated_wait_seconds"], 15 + 788, "{w}");
}

#[tokio::test]
async fn a_queue_callback_when_the_window_is_closed_falls_due_when_it_opens_and_says_so() {
    let app = spawn_quick_app().await;
    // A window in London that opens three to four hours from now, and customers' times not kept
    // outside it.
    let now = now_ms();
    let local = now
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .hour();
    let start = (local + 3) % 24;
    let end = (start + 1).min(24);
    app.settings(
        json!({ "calling_window": { "start": format!("{start:02}:00"),
                                             "end": format!("{end:02}:00") },
                         "allow_customer_requested_times": false, "max_attempts": null,
                         "attempt_window_days": 7 }),
    )
    .await;
    let q = queue(&app, json!({})).await;
    member(&app, &q, "available").await;
    let made = queue_callback(
        &app,
        &q,
        json!({ "phone": "+442071838750", "queued_since": minutes_ago(now, 5) }),
    )
    .await;
    let made = made.expect(201);
    let due: Timestamp = made["scheduled_at"].as_str().unwrap().parse().unwrap();
    assert!(due > now + SignedDuration::from_mins(100), "{made}");
    let explanation = made["explanation"].to_string();
    assert!(
        explanation.contains("calling window is closed now"),
        "{made}"
    );
    // At least until it opens.
    let wait = made["estimated_wait_seconds"].as_u64().unwrap();
    assert!(
        wait as i64 >= due.duration_since(now).as_secs() - 5,
        "{made}"
    );
    // It still keeps its caller's place, from 5 minutes ago.
    assert_eq!(made["queued_since"], minutes_ago(now, 5));
}

#[tokio::test]
async fn bad_queue_callbacks_name_their_field_and_unknown_queues_are_not_found() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let q = queue(&app, json!({})).await;
    let now = now_ms();
    let ok = || json!({ "phone": unique_phone() });

    // Unknown queues, and another account's, are not found.
    let theirs = app.another_accounts_queue().await;
    for id in [
        "que_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "nonsense",
        theirs.as_str(),
    ] {
        queue_callback(&app, id, ok())
            .await
            .expect_error(404, "not_found");
        app.get(&format!("/v1/queues/{id}/wait"))
            .await
            .expect_error(404, "not_found");
    }

    for (body, status, code, field) in [
        (json!({ "phone": "12" }), 400, "invalid_phone", "phone"),
        (json!({}), 400, "missing_field", "phone"),
        (
            json!({ "phone": unique_phone(), "queued_since": (now + SignedDuration::from_mins(10)).to_string() }),
            400,
            "invalid_field",
            "queued_since",
        ),
        (
            json!({ "phone": unique_phone(), "queued_since": minutes_ago(now, 25 * 60) }),
            400,
            "invalid_field",
            "queued_since",
        ),
        (
            json!({ "phone": unique_phone(), "queued_since": "ten past nine" }),
            400,
            "invalid_datetime",
            "queued_since",
        ),
        (
            json!({ "phone": unique_phone(), "queued_since": 1700000000 }),
            400,
            "invalid_field",
            "queued_since",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": "2030-01-01T00:00:00Z" }),
            400,
            "unknown_field",
            "scheduled_at",
        ),
        (
            json!({ "phone": unique_phone(), "contact_name": "x".repeat(201) }),
            400,
            "invalid_field",
            "contact_name",
        ),
    ] {
        let resp = queue_callback(&app, &q, body.clone()).await;
        resp.expect_field_error(status, code, field);
    }
    app.assert_no_callbacks("after refused queue callbacks")
        .await;

    // Duplicates and idempotency keys as on `POST /v1/callbacks`.
    let phone = unique_phone();
    let body = json!({ "phone": phone });
    let first = queue_callback(&app, &q, body.clone()).await;
    let first_id = first.expect(201)["id"].as_str().unwrap().to_owned();
    let again = queue_callback(&app, &q, body.clone()).await;
    assert_eq!(
        again.expect_field_error(409, "duplicate_active_callback", "phone")["existing_id"],
        first_id
    );
    let with_key = |body: Value| {
        app.client
            .post(app.url(&format!("/v1/queues/{q}/callbacks")))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "ivr-call-CA123")
            .json(&body)
            .send()
    };
    let body = json!({ "phone": unique_phone() });
    let one = Resp::read(with_key(body.clone()).await.unwrap()).await;
    let replayed = with_key(body.clone()).await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let replayed = Resp::read(replayed).await;
    assert_eq!(replayed.expect(201), one.expect(201));
    Resp::read(with_key(json!({ "phone": unique_phone() })).await.unwrap())
        .await
        .expect_error(422, "idempotency_key_reused");
}

// ---------------------------------------------------------------------------------------------
// The inbound TwiML flow
// ---------------------------------------------------------------------------------------------

/// One element of a TwiML document.
#[derive(Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

/// The elements of a TwiML document in order; panics unless it is well-formed XML.
fn twiml(text: &str) -> Vec<El> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out: Vec<El> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not XML ({e}): {text}"))
        {
            Event::Start(e) => {
                out.push(element_of(&e));
                open.push(out.len() - 1);
            }
            Event::Empty(e) => out.push(element_of(&e)),
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&t.decode().unwrap());
                }
            }
            // `&amp;` and the like arrive on their own.
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap().into_owned();
                let c = match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("an entity TwiML does not use: {other}"),
                };
                if let Some(&i) = open.last() {
                    out[i].text.push_str(c);
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements in {text}");
    out
}

fn element_of(e: &quick_xml::events::BytesStart<'_>) -> El {
    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.unwrap();
            (
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned(),
            )
        })
        .collect();
    El {
        name,
        attrs,
        text: String::new(),
    }
}

fn element<'a>(doc: &'a [El], name: &str) -> Option<&'a El> {
    doc.iter().find(|el| el.name == name)
}

fn attr<'a>(el: &'a El, name: &str) -> &'a str {
    el.attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} on {el:?}"))
}

async fn twilio_trunk(app: &TestApp, extra: Value) -> String {
    let mut settings = json!({
        "profile": "twilio", "account_sid": ACCOUNT_SID, "auth_token": TOKEN,
        "caller_id": "+14155550100", "status_callback_base": app.url(""),
    });
    if let (Value::Object(all), Value::Object(extra)) = (&mut settings, extra) {
        all.extend(extra);
    }
    app.post_json(
        "/v1/trunks",
        &json!({ "name": "Inbound", "kind": "twilio_compatible", "settings": settings }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Posts a form to `url` as the provider does, signed by Twilio's helper library with `token`
/// (`None`: unsigned); the status and body.
async fn provider_post(
    app: &TestApp,
    url: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> (u16, String) {
    let mut request = app
        .client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(params).unwrap());
    if let Some(token) = token {
        request = request.header(
            "X-Twilio-Signature",
            official_signature(token, url, params).await,
        );
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test]
async fn the_inbound_flow_reads_the_wait_and_a_1_makes_a_callback_that_keeps_the_callers_place() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let q = queue(&app, json!({ "offer_timeout_seconds": 30 })).await;
    let ann = member(&app, &q, "busy").await;
    let trunk = twilio_trunk(&app, json!({ "inbound_queue_id": q })).await;
    let shown = app.get(&format!("/v1/trunks/{trunk}")).await;
    assert_eq!(shown.expect(200)["settings"]["inbound_queue_id"], q);
    let caller = unique_phone();
    let call = [
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("AccountSid", ACCOUNT_SID),
        ("From", caller.as_str()),
        ("To", "+14155550100"),
        ("CallStatus", "ringing"),
    ];
    let inbound = app.url(&format!("/telephony/twilio/{trunk}/inbound"));

    // Unsigned, or signed with another token: refused, nothing made.
    for token in [None, Some("another-token")] {
        let (status, _) = provider_post(&app, &inbound, &call, token).await;
        assert_eq!(status, 403);
    }

    let (status, body) = provider_post(&app, &inbound, &call, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let doc = twiml(&body);
    assert_eq!(doc[0].name, "Response");
    let gather = element(&doc, "Gather").expect("a Gather");
    assert_eq!(attr(gather, "numDigits"), "1");
    let action = attr(gather, "action").to_owned();
    assert!(
        action.starts_with(&app.url(&format!("/telephony/twilio/{trunk}/inbound/choice?since="))),
        "{action}"
    );
    // Nobody waiting, Ann busy, no history: 15 + ceil(1 x 315 / 1) = 330 s, "about 6 minutes".
    let said = &element(&doc, "Say").unwrap().text;
    assert!(said.contains("about 6 minutes"), "{said}");
    assert!(said.contains("Press 1 to be called back"), "{said}");
    // No digit: a polite goodbye.
    assert!(element(&doc, "Hangup").is_some(), "{body}");

    // The choice, forged or tampered: refused, nothing made.
    let press = |digit: &'static str| {
        [
            ("CallSid", "CA0123456789abcdef0123456789abcdef"),
            ("AccountSid", ACCOUNT_SID),
            ("From", caller.as_str()),
            ("Digits", digit),
        ]
    };
    let (status, _) = provider_post(&app, &action, &press("1"), Some("another-token")).await;
    assert_eq!(status, 403);
    let since_now = Timestamp::now().as_millisecond().to_string();
    let tampered = action.replacen("since=", &format!("since={since_now}&was="), 1);
    let (status, _) = provider_post(&app, &tampered, &press("1"), Some(TOKEN)).await;
    assert_eq!(status, 403, "a since the server did not sign");
    // Another digit: no callback, a goodbye.
    let (status, body) = provider_post(&app, &action, &press("2"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(element(&twiml(&body), "Hangup").is_some(), "{body}");
    app.assert_no_callbacks("before the caller pressed 1").await;

    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, body) = provider_post(&app, &action, &press("1"), Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let doc = twiml(&body);
    assert!(
        element(&doc, "Say")
            .unwrap()
            .text
            .contains("We will call you back"),
        "{body}"
    );
    assert!(element(&doc, "Hangup").is_some());
    let all = app.list_all().await;
    assert_eq!(all.len(), 1, "{all:?}");
    let cb = &all[0];
    assert_eq!(cb["phone"], caller);
    assert_eq!(cb["assignment"], json!({ "type": "queue", "ids": [q] }));
    // Its place counts from the call coming in (the `since` of the action URL), not the digit.
    let since: i64 = action
        .split("since=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        cb["queued_since"],
        Timestamp::from_millisecond(since).unwrap().to_string()
    );
    // Pressing 1 again keeps the one callback.
    let (status, body) = provider_post(&app, &action, &press("1"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("We will call you back"));
    assert_eq!(app.list_all().await.len(), 1);
    let _ = ann;
}

#[tokio::test]
async fn an_inbound_trunk_sends_callers_on_to_the_operators_flow_and_names_a_bad_queue() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    // A queue of another account, or no queue id, is refused naming the setting.
    let theirs = app.another_accounts_queue().await;
    for bad in [json!(theirs), json!("sales"), json!(7)] {
        let resp = app
            .post_json(
                "/v1/trunks",
                &json!({ "name": "Inbound", "kind": "twilio_compatible", "settings": {
                    "profile": "twilio", "account_sid": ACCOUNT_SID, "auth_token": TOKEN,
                    "caller_id": "+14155550100", "status_callback_base": app.url(""),
                    "inbound_queue_id": bad } }),
            )
            .await;
        resp.expect_field_error(400, "invalid_field", "settings.inbound_queue_id");
    }
    // Without a queue the flow offers no callback; with a redirect, callers go on there.
    let trunk = twilio_trunk(
        &app,
        json!({ "inbound_redirect_url": "https://ops.example.com/hold" }),
    )
    .await;
    let inbound = app.url(&format!("/telephony/twilio/{trunk}/inbound"));
    let call = [("CallSid", "CA1"), ("From", "+14155550199")];
    let (status, body) = provider_post(&app, &inbound, &call, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let doc = twiml(&body);
    assert!(element(&doc, "Gather").is_none(), "{body}");
    let redirect = element(&doc, "Redirect").expect("a Redirect");
    assert_eq!(redirect.text, "https://ops.example.com/hold");
    // With the queue set, a caller who presses nothing is redirected after the offer.
    let q = queue(&app, json!({})).await;
    app.patch(
        &format!("/v1/trunks/{trunk}"),
        &json!({ "settings": { "inbound_queue_id": q } }),
    )
    .await
    .expect(200);
    let (_, body) = provider_post(&app, &inbound, &call, Some(TOKEN)).await;
    let doc = twiml(&body);
    // Nobody works in the queue: no wait is read out.
    assert!(
        element(&doc, "Say")
            .unwrap()
            .text
            .contains("agents are away"),
        "{body}"
    );
    assert_eq!(doc.last().unwrap().name, "Redirect");
}
