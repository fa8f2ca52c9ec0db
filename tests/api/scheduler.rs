//! Dispatch to the dialer bridge: exactly once, never early, retried with the same key.

use std::{collections::HashMap, time::Duration};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_due_callback_reaches_the_bridge_exactly_once_and_never_early() {
    let app = spawn_app().await;
    const N: usize = 50;
    // Due between 1.5 s and 3 s from now, 30 ms apart.
    let plans: Vec<(String, Timestamp)> = (0..N)
        .map(|i| (unique_phone(), at_ms(1_500 + 30 * i as i64)))
        .collect();
    let bodies: Vec<_> = plans
        .iter()
        .map(|(phone, at)| new_callback(phone, &at.to_string()))
        .collect();
    let created = futures::future::join_all(bodies.iter().map(|b| app.create(b))).await;
    let mut expected: HashMap<String, (String, Timestamp)> = HashMap::new();
    for (cb, (phone, at)) in created.iter().zip(&plans) {
        assert_eq!(cb["scheduled_at"], at.to_string());
        expected.insert(cb["id"].as_str().unwrap().to_owned(), (phone.clone(), *at));
    }
    assert!(
        app.bridge.count() == 0,
        "dispatched before anything was due"
    );

    app.bridge.wait_for(N, WAIT).await;
    // Started, none can be claimed again; one claim each (one `callback.due`) is one request.
    for id in expected.keys() {
        let cb = app.wait_for_status(id, "in_progress", WAIT).await;
        assert_eq!(events_of(&cb, "callback.due").len(), 1, "{cb}");
    }
    let requests = app.bridge.requests();
    assert_eq!(requests.len(), N, "some callbacks were dispatched twice");

    let by_key = app.bridge.deliveries_by_key();
    for (id, (phone, at)) in &expected {
        let key = format!("{id}:1");
        assert_eq!(by_key.get(&key), Some(&1), "deliveries of {key}");
        let r = requests
            .iter()
            .find(|r| r.idempotency_key.as_deref() == Some(key.as_str()))
            .unwrap();
        assert!(
            r.received_at >= *at,
            "{id} reached the bridge at {} before its time {at}",
            r.received_at
        );
        let late = r.received_at.duration_since(*at);
        assert!(
            late < SignedDuration::from_millis(1_500),
            "{id} was {late:?} late"
        );
        assert!(
            r.content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json")),
            "{:?}",
            r.content_type
        );
        let body = &r.body;
        assert_eq!(body["callback_id"], id.as_str());
        assert_eq!(body["idempotency_key"], key.as_str());
        assert_eq!(body["attempt"], 1);
        assert_eq!(body["resend"], false);
        assert_eq!(body["phone"], phone.as_str());
        assert_eq!(body["scheduled_at"], at.to_string());
        assert_eq!(body["due_at"], at.to_string());
        assert_eq!(
            body["outcome_url"],
            app.url(&format!("/v1/callbacks/{id}/outcome"))
        );
        assert!(ts(&body["due_at"]) <= r.received_at);
    }

    for id in expected.keys() {
        let cb = app.wait_for_status(id, "in_progress", WAIT).await;
        assert_eq!(cb["attempt_count"], 1, "{cb}");
        assert!(cb["next_attempt_at"].is_null());
        let attempts = cb["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{cb}");
        assert_eq!(attempts[0]["number"], 1);
        assert_eq!(attempts[0]["bridge_requests"], 1);
        assert_eq!(attempts[0]["resends"], 0);
    }
}

#[tokio::test]
async fn a_dispatched_callback_shows_its_attempt_and_history() {
    let app = spawn_quick_app().await;
    let at = in_ms(300);
    let id = app.create_at(&at).await;
    let cb = app.wait_for_status(&id, "in_progress", WAIT).await;
    let attempt = &cb["attempts"][0];
    assert_eq!(attempt["number"], 1);
    assert_eq!(attempt["bridge_requests"], 1);
    assert_eq!(attempt["resends"], 0);
    assert_eq!(attempt["last_bridge_status"], 200);
    assert!(ts(&attempt["started_at"]) >= ts(&json!(at)));
    assert!(ts(&attempt["accepted_at"]) >= ts(&attempt["started_at"]));
    assert!(attempt["outcome"].is_null());
    let kinds: Vec<&str> = cb["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["callback.created", "callback.due", "callback.started"]
    );
    let due = &events_of(&cb, "callback.due")[0];
    assert_eq!(due["data"]["attempt"], 1);
    assert_eq!(due["data"]["resend"], false);
    assert!(due["data"]["lateness_ms"].as_i64().is_some_and(|l| l >= 0));
    let started = &events_of(&cb, "callback.started")[0];
    assert_eq!(started["data"]["bridge_status"], 200);
}

#[tokio::test]
async fn the_dispatch_carries_the_callback_details() {
    let app = spawn_quick_app().await;
    let a1 = app.agent_id("a1").await;
    let at = in_ms(300);
    let cb = app
        .create(&json!({
            "phone": "+1 415 555 0177",
            "contact_name": "Ada",
            "scheduled_at": at,
            "timezone": "Europe/Paris",
            "assignment": { "type": "agent", "ids": [a1] },
            "caller_id": "+14155550100",
            "dialing_mode": "ai",
            "notes": "about the invoice",
            "metadata": { "crm": "c-1" },
            "interaction_id": "int-1",
            "max_duration_seconds": 120,
            "recording_enabled": false,
            "initial_message": "Hi Ada",
        }))
        .await;
    let id = cb["id"].as_str().unwrap();
    let r = app.bridge.wait_for_callback(id, 1, WAIT).await.remove(0);
    let expected = json!({
        "callback_id": id,
        "account_id": app.account_id,
        "attempt": 1,
        "idempotency_key": format!("{id}:1"),
        "resend": false,
        "phone": "+14155550177",
        "contact_name": "Ada",
        "caller_id": "+14155550100",
        "dialing_mode": "ai",
        "scheduled_at": at,
        "timezone": "Europe/Paris",
        "due_at": at,
        "max_duration_seconds": 120,
        "recording_enabled": false,
        "initial_message": "Hi Ada",
        "notes": "about the invoice",
        "interaction_id": "int-1",
        "metadata": { "crm": "c-1" },
        "assignment": { "type": "agent", "ids": [a1] },
        "outcome_url": app.url(&format!("/v1/callbacks/{id}/outcome")),
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&r.body[k], v, "dispatch field {k} in {}", r.body);
    }
    assert_eq!(
        r.idempotency_key.as_deref(),
        Some(format!("{id}:1").as_str())
    );
}

#[tokio::test]
async fn a_refused_dispatch_is_retried_with_the_same_idempotency_key() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    app.bridge.fail_next(2);
    let id = app.create_at(&in_ms(300)).await;
    // Each refusal is recorded with its retry time; the test moves the clock to it rather than
    // waiting for it.
    for refused in 1..=2 {
        app.bridge.wait_for_callback(&id, refused, WAIT).await;
        let cb = eventually(WAIT, "the refusal recorded", || async {
            let cb = app.get_callback(&id).await;
            (events_of(&cb, "callback.dispatch_failed").len() == refused
                && cb["status"] == "scheduled")
                .then_some(cb)
        })
        .await;
        let retry_at = ts(&cb["next_attempt_at"]);
        let now = ringback::clock::Clock::now(clock.as_ref());
        let wait = Duration::try_from(retry_at.duration_since(now)).unwrap_or_default();
        app.move_time(&clock, wait + Duration::from_millis(10));
    }
    let requests = app.bridge.wait_for_callback(&id, 3, WAIT).await;
    let key = format!("{id}:1");
    let answered: Vec<u16> = requests.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [503, 503, 200]);
    for r in &requests {
        assert_eq!(r.idempotency_key.as_deref(), Some(key.as_str()));
        assert_eq!(r.body["idempotency_key"], key.as_str());
        assert_eq!(r.body["attempt"], 1);
    }

    let cb = app.wait_for_status(&id, "in_progress", WAIT).await;
    assert_eq!(cb["attempt_count"], 1);
    let attempts = cb["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{cb}");
    assert_eq!(attempts[0]["bridge_requests"], 3);
    assert_eq!(attempts[0]["resends"], 0);
    assert_eq!(attempts[0]["last_bridge_status"], 200);
    let failures = events_of(&cb, "callback.dispatch_failed");
    assert_eq!(failures.len(), 2, "{cb}");
    // Backoff: 1 s, then 2 s, each with up to a fifth more of jitter.
    for (f, base) in failures.iter().zip([1_000, 2_000]) {
        assert_eq!(f["data"]["bridge_status"], 503);
        assert_eq!(f["data"]["attempt"], 1);
        let backoff = ts(&f["data"]["retry_at"]).duration_since(ts(&f["at"]));
        assert!(
            backoff >= SignedDuration::from_millis(base)
                && backoff <= SignedDuration::from_millis(base * 6 / 5 + 1),
            "retry {backoff:?} after a refusal, expected {base} ms plus jitter"
        );
    }
    // An hour later, nothing more was sent.
    app.move_time(&clock, Duration::from_secs(3600));
    app.scheduler_passed(&clock).await;
    assert_eq!(
        app.bridge.requests_for(&id).len(),
        3,
        "dispatched again after 200"
    );
}

#[tokio::test]
async fn a_bridge_that_keeps_failing_is_retried_and_each_failure_is_recorded() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    app.bridge.always_fail(true);
    let id = app.create_at(&in_ms(300)).await;
    let cb = eventually(WAIT, "two recorded dispatch failures", || async {
        let cb = app.get_callback(&id).await;
        (events_of(&cb, "callback.dispatch_failed").len() >= 2).then_some(cb)
    })
    .await;
    let requests = app.bridge.requests_for(&id);
    assert!(requests.len() >= 2);
    for r in &requests {
        assert_eq!(
            r.idempotency_key.as_deref(),
            Some(format!("{id}:1").as_str())
        );
    }
    assert_eq!(cb["attempt_count"], 1, "retries are not new attempts");
    assert_ne!(cb["status"], "in_progress");
    assert!(cb["outcome"].is_null());
    let attempts = cb["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0]["bridge_requests"].as_u64().unwrap() >= 2);
    assert_eq!(attempts[0]["last_bridge_status"], 503);
    assert!(attempts[0]["accepted_at"].is_null());
    for f in events_of(&cb, "callback.dispatch_failed") {
        assert_eq!(f["data"]["bridge_status"], 503);
        assert!(f["data"]["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(f["data"]["retry_at"].is_string());
    }
    // Between retries it waits, scheduled for the next try.
    let cb = eventually(WAIT, "the callback waiting for its next try", || async {
        let cb = app.get_callback(&id).await;
        (cb["status"] == "scheduled").then_some(cb)
    })
    .await;
    assert!(ts(&cb["next_attempt_at"]) > ts(&cb["scheduled_at"]));
    // It can still be canceled, and then it is left alone, however long after.
    app.cancel(&id).await.expect(200);
    let sent = app.bridge.requests_for(&id).len();
    app.move_time(&clock, Duration::from_secs(3600));
    app.bridge.always_fail(false);
    app.scheduler_passed(&clock).await;
    assert_eq!(
        app.bridge.requests_for(&id).len(),
        sent,
        "dispatched after cancel"
    );
}

#[tokio::test]
async fn a_bridge_that_does_not_answer_in_time_is_retried_with_the_same_key() {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.bridge_timeout_ms = 300;
    })
    .await;
    app.bridge.delay(Duration::from_secs(2));
    let id = app.create_at(&in_ms(300)).await;
    app.bridge.wait_for_callback(&id, 1, WAIT).await;
    app.bridge.delay(Duration::ZERO);
    let requests = app.bridge.wait_for_callback(&id, 2, WAIT).await;
    assert_eq!(requests[0].idempotency_key, requests[1].idempotency_key);
    assert_eq!(
        requests[1].idempotency_key.as_deref(),
        Some(format!("{id}:1").as_str())
    );
    let cb = app.wait_for_status(&id, "in_progress", WAIT).await;
    assert_eq!(cb["attempt_count"], 1);
    assert_eq!(cb["attempts"][0]["bridge_requests"], 2);
    let failures = events_of(&cb, "callback.dispatch_failed");
    assert_eq!(failures.len(), 1, "{cb}");
    assert!(failures[0]["data"]["bridge_status"].is_null());
}

#[tokio::test]
async fn an_unreachable_bridge_leaves_the_api_answering() {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.dialer_url = Some(unreachable_url().parse().unwrap());
    })
    .await;
    let id = app.create_at(&in_ms(300)).await;
    let cb = eventually(WAIT, "a recorded dispatch failure", || async {
        let resp = app.get(&format!("/v1/callbacks/{id}")).await;
        let cb = resp.expect(200).clone();
        (!events_of(&cb, "callback.dispatch_failed").is_empty()).then_some(cb)
    })
    .await;
    let failure = events_of(&cb, "callback.dispatch_failed")[0];
    assert!(failure["data"]["bridge_status"].is_null());
    assert!(
        failure["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("connect")),
        "{failure}"
    );
    assert!(cb["attempts"][0]["last_bridge_status"].is_null());
    app.get("/v1/callbacks").await.expect(200);
    app.get("/healthz").await.expect(200);
    app.get("/readyz").await.expect(200);
    app.create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    app.patch(&format!("/v1/callbacks/{id}"), &json!({ "notes": "x" }))
        .await;
    let canceled = app.cancel(&id).await;
    assert!(
        canceled.status == 200 || canceled.status == 409,
        "{}",
        canceled.text
    );
    assert!(canceled.is_json());
}

#[tokio::test]
async fn a_canceled_callback_is_never_dispatched() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    let at = in_ms(3_600_000);
    let canceled = app.create_at(&at).await;
    let control = app.create_at(&at).await;
    app.cancel(&canceled).await.expect(200);
    app.move_time(&clock, Duration::from_secs(3600));
    app.bridge.wait_for_callback(&control, 1, WAIT).await;
    // Both fell due together: had the canceled one been claimed, it would have been in the
    // control's claim, whose `callback.due` events were committed before its request went out.
    assert!(
        app.bridge.requests_for(&canceled).is_empty(),
        "a canceled callback reached the bridge"
    );
    let cb = app.get_callback(&canceled).await;
    assert_eq!(cb["status"], "canceled");
    assert_eq!(cb["attempt_count"], 0);
    assert!(events_of(&cb, "callback.due").is_empty());
}

#[tokio::test]
async fn a_rescheduled_callback_is_dispatched_at_its_new_time() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    let id = app.create_at(&in_ms(3_600_000)).await;
    let new_at = at_ms(7_200_000);
    app.patch(
        &format!("/v1/callbacks/{id}"),
        &json!({ "scheduled_at": new_at.to_string() }),
    )
    .await
    .expect(200);
    // The old time passes: nothing goes out.
    app.move_time(&clock, Duration::from_secs(3600));
    app.scheduler_passed(&clock).await;
    assert!(
        app.bridge.requests_for(&id).is_empty(),
        "sent at its old time"
    );
    app.move_time(&clock, Duration::from_secs(3600));
    let r = app.bridge.wait_for_callback(&id, 1, WAIT).await.remove(0);
    assert_eq!(r.body["scheduled_at"], new_at.to_string());
    assert_eq!(r.body["due_at"], new_at.to_string());
    let cb = app.wait_for_status(&id, "in_progress", WAIT).await;
    let due = events_of(&cb, "callback.due");
    assert_eq!(due.len(), 1, "{cb}");
    let sent_at: jiff::Timestamp = due[0]["at"].as_str().unwrap().parse().unwrap();
    assert!(
        sent_at >= new_at,
        "dispatched at {sent_at}, before {new_at}"
    );
    assert_eq!(app.bridge.requests_for(&id).len(), 1);
}

#[tokio::test]
async fn a_callback_moved_earlier_is_dispatched_on_time() {
    let app = spawn_quick_app().await;
    let id = app.create_at(&tomorrow()).await;
    // Let the scheduler settle into its idle sleep.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new_at = at_ms(600);
    app.patch(
        &format!("/v1/callbacks/{id}"),
        &json!({ "scheduled_at": new_at.to_string() }),
    )
    .await
    .expect(200);
    let r = app.bridge.wait_for_callback(&id, 1, WAIT).await.remove(0);
    assert!(r.received_at >= new_at);
    let late = r.received_at.duration_since(new_at);
    assert!(
        late < SignedDuration::from_millis(500),
        "dispatched {late:?} late: the scheduler was not woken by the change"
    );
}

#[tokio::test]
async fn an_outcome_reported_before_the_bridge_answers_is_kept() {
    let app = spawn_quick_app().await;
    app.bridge.delay(Duration::from_millis(1_200));
    let id = app.create_at(&in_ms(300)).await;
    app.bridge.wait_for_callback(&id, 1, WAIT).await;
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["status"], "dispatching", "{cb}");
    let done = app
        .report_outcome(
            &id,
            &json!({ "outcome": "answered", "duration_seconds": 3 }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(done["status"], "completed");
    // The bridge's late 200 is recorded without undoing the outcome.
    let cb = eventually(WAIT, "the bridge's answer to be recorded", || async {
        let cb = app.get_callback(&id).await;
        cb["attempts"][0]["accepted_at"].is_string().then_some(cb)
    })
    .await;
    assert_eq!(cb["status"], "completed");
    assert_eq!(cb["outcome"], "answered");
    assert_eq!(cb["attempts"][0]["outcome"], "answered");
    // Completed, it can never be claimed again; it was claimed once.
    assert_eq!(events_of(&cb, "callback.due").len(), 1, "{cb}");
    assert_eq!(app.bridge.requests_for(&id).len(), 1);
    let cb: Value = app.get_callback(&id).await;
    assert_eq!(cb["status"], "completed");
}

#[tokio::test]
async fn a_callback_inside_the_claim_ahead_margin_is_locked_and_still_fires_on_time() {
    let app = spawn_app_with(|c| c.claim_ahead_ms = 1_000).await;
    let at = at_ms(1_600);
    let id = app.create_at(&at.to_string()).await;
    // Well before its time, but within the one-second margin: it is claimed already.
    let cb = app.wait_for_status(&id, "dispatching", WAIT).await;
    assert!(Timestamp::now() < at, "claimed only after its time: {cb}");
    let refused = app.cancel(&id).await;
    let error = refused.expect_error(409, "invalid_state");
    assert_eq!(error["status"], "dispatching");
    let r = app.bridge.wait_for_callback(&id, 1, WAIT).await.remove(0);
    assert!(r.received_at >= at, "fired early: {} < {at}", r.received_at);
    let attempt = &app.get_callback(&id).await["attempts"][0];
    assert_eq!(
        ts(&attempt["started_at"]),
        at,
        "the attempt starts at the due time"
    );
}
