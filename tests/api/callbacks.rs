//! Create, list, read, patch, cancel, report outcomes, batches and idempotent creates.

use std::collections::HashSet;

use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::helpers::*;

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("/v1/callbacks?{}", s.finish())
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .map(|cb| cb["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// --- create -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_callback_is_scheduled_with_its_defaults() {
    let app = spawn_app().await;
    let at = tomorrow();
    let resp = app
        .post_callback(&json!({ "phone": "+1-415-555-0199", "scheduled_at": at }))
        .await;
    let cb = resp.expect(201);

    let id = cb["id"].as_str().unwrap();
    assert!(id.starts_with("cb_") && id.len() > 3, "id {id}");
    assert_eq!(cb["account_id"], app.account_id);
    assert_eq!(cb["status"], "scheduled");
    assert_eq!(cb["origin"], "api");
    assert_eq!(
        cb["phone"], "+14155550199",
        "the phone is normalised to E.164"
    );
    assert_eq!(cb["scheduled_at"], at.as_str());
    assert!(cb["scheduled_at"].as_str().unwrap().ends_with('Z'));
    // No zone given: the number's area code (415) places it in San Francisco.
    assert_eq!(cb["timezone"], "America/Los_Angeles");
    assert_eq!(cb["timezone_source"], "number");
    assert_eq!(cb["timezones"], json!(["America/Los_Angeles"]));
    assert_eq!(cb["dialing_mode"], "unattended");
    assert_eq!(cb["max_duration_seconds"], 900);
    assert_eq!(cb["recording_enabled"], true);
    assert_eq!(cb["expire_after_minutes"], 60);
    assert_eq!(
        ts(&cb["expires_at"]),
        ts(&cb["scheduled_at"]) + SignedDuration::from_mins(60)
    );
    assert_eq!(cb["attempt_count"], 0);
    assert_eq!(cb["next_attempt_at"], cb["scheduled_at"]);
    assert!(cb["outcome"].is_null());
    for field in ["created_at", "updated_at"] {
        let text = cb[field].as_str().unwrap();
        assert!(text.ends_with('Z'), "{field} {text} is not UTC");
        let t = ts(&cb[field]);
        let age = jiff::Timestamp::now().duration_since(t);
        assert!(
            age >= SignedDuration::ZERO && age < SignedDuration::from_secs(10),
            "{field} {t} is not now"
        );
    }
    assert_eq!(cb["created_at"], cb["updated_at"]);

    let stored = app.get_callback(id).await;
    assert_eq!(stored["status"], "scheduled");
    assert_eq!(stored["phone"], "+14155550199");
    assert_eq!(stored["scheduled_at"], at.as_str());
    assert_eq!(app.list_all().await.len(), 1);
}

#[tokio::test]
async fn a_created_callback_reads_back_exactly_as_it_was_answered() {
    let app = spawn_app().await;
    // Sub-millisecond precision in the request: the answer must show what is stored, so a
    // later read never disagrees with the answer to the create.
    let at = "2027-02-01T10:00:00.123456789Z";
    let created = app
        .create(&json!({
            "phone": unique_phone(),
            "scheduled_at": at,
            "timezone": "Europe/Paris",
            "notes": "bring the invoice",
            "metadata": { "crm_id": 42 },
        }))
        .await;
    let mut read = app.get_callback(created["id"].as_str().unwrap()).await;
    let obj = read.as_object_mut().unwrap();
    obj.remove("attempts");
    obj.remove("history");
    assert_eq!(read, created, "GET disagrees with the 201 answer");
}

#[tokio::test]
async fn a_time_with_an_offset_is_stored_in_utc_and_shown_in_the_customers_zone() {
    let app = spawn_app().await;
    let cb = app
        .create(&json!({
            "phone": unique_phone(),
            "scheduled_at": "2027-01-05T10:00:00-05:00",
            "timezone": "America/New_York",
        }))
        .await;
    assert_eq!(cb["scheduled_at"], "2027-01-05T15:00:00Z");
    assert_eq!(cb["scheduled_at_local"], "2027-01-05T10:00:00-05:00");
    assert_eq!(cb["timezone"], "America/New_York");
}

#[tokio::test]
async fn a_local_time_without_offset_is_read_in_the_given_timezone() {
    let app = spawn_app().await;
    for (local, zone, utc, shown) in [
        (
            "2027-07-05T10:00:00",
            "America/New_York",
            "2027-07-05T14:00:00Z",
            "2027-07-05T10:00:00-04:00",
        ),
        (
            "2027-07-05 10:00:00",
            "Europe/London",
            "2027-07-05T09:00:00Z",
            "2027-07-05T10:00:00+01:00",
        ),
        (
            "2027-01-05T10:00:00",
            "Asia/Kolkata",
            "2027-01-05T04:30:00Z",
            "2027-01-05T10:00:00+05:30",
        ),
    ] {
        let cb = app
            .create(&json!({ "phone": unique_phone(), "scheduled_at": local, "timezone": zone }))
            .await;
        assert_eq!(cb["scheduled_at"], utc, "{local} in {zone}");
        assert_eq!(cb["scheduled_at_local"], shown, "{local} in {zone}");
        assert_eq!(cb["timezone"], zone);
    }
}

#[tokio::test]
async fn every_dialing_mode_is_accepted_and_unattended_is_the_default() {
    let app = spawn_app().await;
    for (given, stored) in [
        ("unattended", "unattended"),
        ("preview", "preview"),
        ("progressive", "progressive"),
        ("ai", "ai"),
        ("PREVIEW", "preview"),
    ] {
        let cb = app
            .create(&json!({
                "phone": unique_phone(),
                "scheduled_at": tomorrow(),
                "dialing_mode": given,
            }))
            .await;
        assert_eq!(cb["dialing_mode"], stored, "dialing_mode {given}");
        let read = app.get_callback(cb["id"].as_str().unwrap()).await;
        assert_eq!(read["dialing_mode"], stored);
    }
    let cb = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    assert_eq!(cb["dialing_mode"], "unattended");
    let resp = app
        .post_callback(&json!({
            "phone": unique_phone(),
            "scheduled_at": tomorrow(),
            "dialing_mode": "telepathy",
        }))
        .await;
    resp.expect_field_error(400, "invalid_field", "dialing_mode");
}

#[tokio::test]
async fn optional_fields_are_stored_and_returned() {
    let app = spawn_app().await;
    let (billing, vip) = (app.queue_id("billing").await, app.queue_id("vip").await);
    let cb = app
        .create(&json!({
            "phone": "+44 20 7946 0958",
            "contact_name": "Ada Lovelace",
            "scheduled_at": "2027-03-01T09:00:00",
            "timezone": "Europe/London",
            "assignment": { "type": "queue", "ids": [billing, vip] },
            "caller_id": "+1 (415) 555-0100",
            "dialing_mode": "preview",
            "notes": "asked about her invoice",
            "metadata": { "ticket": "T-1", "priority": 2 },
            "interaction_id": "int-77",
            "reminder_minutes_before": 15,
            "expire_after_minutes": 30,
            "max_duration_seconds": 600,
            "recording_enabled": false,
            "initial_message": "Hello Ada",
            "webhook_url": "https://hooks.example.com/ringback",
        }))
        .await;
    let read = app.get_callback(cb["id"].as_str().unwrap()).await;
    for v in [&cb, &read] {
        assert_eq!(v["phone"], "+442079460958");
        assert_eq!(v["contact_name"], "Ada Lovelace");
        assert_eq!(v["scheduled_at"], "2027-03-01T09:00:00Z");
        assert_eq!(v["timezone"], "Europe/London");
        assert_eq!(
            v["assignment"],
            json!({ "type": "queue", "ids": [billing, vip] })
        );
        assert_eq!(v["caller_id"], "+14155550100");
        assert_eq!(v["dialing_mode"], "preview");
        assert_eq!(v["notes"], "asked about her invoice");
        assert_eq!(v["metadata"], json!({ "ticket": "T-1", "priority": 2 }));
        assert_eq!(v["interaction_id"], "int-77");
        assert_eq!(v["reminder_minutes_before"], 15);
        assert_eq!(v["expire_after_minutes"], 30);
        assert_eq!(v["expires_at"], "2027-03-01T09:30:00Z");
        assert_eq!(v["max_duration_seconds"], 600);
        assert_eq!(v["recording_enabled"], false);
        assert_eq!(v["initial_message"], "Hello Ada");
        assert_eq!(v["webhook_url"], "https://hooks.example.com/ringback");
    }
}

// --- duplicates -------------------------------------------------------------------------------

#[tokio::test]
async fn a_second_active_callback_for_the_same_phone_is_refused_with_the_existing_id() {
    let app = spawn_app().await;
    let first = app.create(&new_callback("+14155550142", &tomorrow())).await;
    // The same number in a human format is the same phone.
    let resp = app
        .post_callback(&new_callback("+1 (415) 555-0142", &tomorrow()))
        .await;
    let error = resp.expect_field_error(409, "duplicate_active_callback", "phone");
    assert_eq!(error["existing_id"], first["id"]);
    let all = app.list_all().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], first["id"]);
}

#[tokio::test]
async fn allow_duplicate_schedules_a_second_callback_for_the_same_phone() {
    let app = spawn_app().await;
    let phone = unique_phone();
    let first = app.create(&new_callback(&phone, &tomorrow())).await;
    let second = app
        .create(&json!({ "phone": phone, "scheduled_at": tomorrow(), "allow_duplicate": true }))
        .await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["phone"], phone.as_str());
    assert_eq!(app.list_all().await.len(), 2);
}

#[tokio::test]
async fn a_canceled_callback_no_longer_blocks_its_phone() {
    let app = spawn_app().await;
    let phone = unique_phone();
    let first = app.create(&new_callback(&phone, &tomorrow())).await;
    app.cancel(first["id"].as_str().unwrap()).await.expect(200);
    let second = app.create(&new_callback(&phone, &tomorrow())).await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["status"], "scheduled");
}

// --- idempotency ------------------------------------------------------------------------------

#[tokio::test]
async fn repeating_a_create_with_the_same_idempotency_key_returns_the_first_answer() {
    let app = spawn_app().await;
    let body = new_callback(&unique_phone(), &tomorrow());
    let first = app.post_callback_with_key(&body, "order-1234").await;
    let first_body = first.expect(201).clone();
    let again = app.post_callback_with_key(&body, "order-1234").await;
    assert_eq!(again.expect(201), &first_body, "the replay differs");
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let all = app.list_all().await;
    assert_eq!(all.len(), 1, "the retry created a second callback");
    assert_eq!(all[0]["id"], first_body["id"]);
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_create_one_callback() {
    let app = spawn_app().await;
    let body = new_callback(&unique_phone(), &tomorrow());
    let answers =
        futures::future::join_all((0..8).map(|_| app.post_callback_with_key(&body, "burst-1")))
            .await;
    let ids: HashSet<String> = answers
        .iter()
        .map(|r| r.expect(201)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "answers name different callbacks: {ids:?}");
    assert_eq!(app.list_all().await.len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_reused_with_a_different_body_is_refused() {
    let app = spawn_app().await;
    let first = app
        .post_callback_with_key(&new_callback(&unique_phone(), &tomorrow()), "key-7")
        .await
        .expect(201)
        .clone();
    let resp = app
        .post_callback_with_key(&new_callback(&unique_phone(), &tomorrow()), "key-7")
        .await;
    resp.expect_error(422, "idempotency_key_reused");
    let all = app.list_all().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], first["id"]);
    assert_eq!(all[0]["phone"], first["phone"]);
}

#[tokio::test]
async fn an_idempotency_key_that_is_empty_or_too_long_is_refused() {
    let app = spawn_app().await;
    let body = new_callback(&unique_phone(), &tomorrow());
    for key in ["   ".to_owned(), "k".repeat(256)] {
        app.post_callback_with_key(&body, &key)
            .await
            .expect_field_error(400, "invalid_field", "Idempotency-Key");
    }
    app.assert_no_callbacks("after refused idempotency keys")
        .await;
}

// --- list -------------------------------------------------------------------------------------

#[tokio::test]
async fn the_list_filters_by_phone_status_origin_assignee_and_time() {
    let app = spawn_app().await;
    let base = at_ms(24 * 3600 * 1000);
    let hour = SignedDuration::from_hours(1);
    let (p1, p2, p3) = (unique_phone(), unique_phone(), unique_phone());
    let (a1, a2) = (app.agent_id("a1").await, app.agent_id("a2").await);
    let q1 = app.queue_id("q1").await;
    let c1 = app
        .create(&json!({
            "phone": p1, "scheduled_at": base.to_string(),
            "assignment": { "type": "agent", "ids": [a1, a2] },
        }))
        .await;
    let c2 = app
        .create(&json!({
            "phone": p2, "scheduled_at": (base + hour).to_string(),
            "assignment": { "type": "queue", "ids": [q1] },
        }))
        .await;
    let c3 = app
        .create(&json!({ "phone": p3, "scheduled_at": (base + hour * 2).to_string() }))
        .await;
    app.cancel(c3["id"].as_str().unwrap()).await.expect(200);
    let id = |cb: &Value| cb["id"].as_str().unwrap().to_owned();
    let (i1, i2, i3) = (id(&c1), id(&c2), id(&c3));

    let t1 = (base + hour).to_string();
    let t2 = (base + hour * 2).to_string();
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a String>);
    let cases: Vec<Case> = vec![
        (vec![], vec![&i1, &i2, &i3]),
        (vec![("phone", p1.as_str())], vec![&i1]),
        (vec![("phone", "+1-415-555-0000")], vec![]),
        (vec![("status", "canceled")], vec![&i3]),
        (vec![("status", "scheduled")], vec![&i1, &i2]),
        (vec![("status", "completed")], vec![]),
        (vec![("origin", "api")], vec![&i1, &i2, &i3]),
        (vec![("origin", "ui")], vec![]),
        (vec![("assignee", a2.as_str())], vec![&i1]),
        (vec![("assignee", q1.as_str())], vec![&i2]),
        (vec![("assignee", "nobody")], vec![]),
        (vec![("scheduled_from", t1.as_str())], vec![&i2, &i3]),
        (vec![("scheduled_to", t1.as_str())], vec![&i1]),
        (
            vec![
                ("scheduled_from", t1.as_str()),
                ("scheduled_to", t2.as_str()),
            ],
            vec![&i2],
        ),
        (
            vec![("phone", p3.as_str()), ("status", "scheduled")],
            vec![],
        ),
        (
            vec![("phone", p3.as_str()), ("status", "canceled")],
            vec![&i3],
        ),
    ];
    for (params, expected) in cases {
        let page = app.get(&query(&params)).await.expect(200).clone();
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(
            sorted(ids(&page)),
            sorted(expected),
            "filter {params:?} returned {page}"
        );
        assert!(page["next_cursor"].is_null());
    }
    // A phone filter is normalised like the phone of a callback.
    let human = format!("{}-{}-{}", &p1[..2], &p1[2..5], &p1[5..]);
    let page = app
        .get(&query(&[("phone", &human)]))
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), vec![i1.clone()]);
}

#[tokio::test]
async fn the_list_pages_through_every_callback_once_with_a_cursor() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(app.create_at(&tomorrow()).await);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = app.get(&query(&params)).await.expect(200).clone();
        let page_ids = ids(&page);
        assert!(page_ids.len() <= 2, "page larger than the limit: {page}");
        pages += 1;
        seen.extend(page_ids);
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(pages < 10, "pagination does not end");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(pages, 4, "7 callbacks in pages of 2");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a callback was listed twice: {seen:?}"
    );
    assert_eq!(
        sorted(seen.clone()),
        sorted(created),
        "a callback was skipped"
    );
    let mut descending = seen.clone();
    descending.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, descending, "pages are not in one stable order");
}

#[tokio::test]
async fn a_page_exactly_as_large_as_what_is_left_has_no_next_cursor() {
    let app = spawn_app().await;
    for _ in 0..2 {
        app.create_at(&tomorrow()).await;
    }
    let page = app.get("/v1/callbacks?limit=2").await.expect(200).clone();
    assert_eq!(ids(&page).len(), 2);
    assert!(page["next_cursor"].is_null(), "{page}");
}

#[tokio::test]
async fn bad_list_parameters_are_refused_with_invalid_query() {
    let app = spawn_app().await;
    app.create_at(&tomorrow()).await;
    for (params, field) in [
        (vec![("limit", "0")], Some("limit")),
        (vec![("limit", "201")], Some("limit")),
        (vec![("limit", "abc")], Some("limit")),
        (vec![("limit", "-1")], Some("limit")),
        (vec![("limit", "")], Some("limit")),
        (vec![("cursor", "not-a-cursor")], Some("cursor")),
        (vec![("cursor", "cb_")], Some("cursor")),
        (vec![("cursor", "")], Some("cursor")),
        (
            vec![("scheduled_from", "yesterday")],
            Some("scheduled_from"),
        ),
        (
            vec![("scheduled_to", "2027-01-01T10:00:00")],
            Some("scheduled_to"),
        ),
        (vec![("status", "sleeping")], Some("status")),
        (vec![("origin", "fax")], Some("origin")),
        (vec![("colour", "blue")], None),
    ] {
        let resp = app.get(&query(&params)).await;
        let error = resp.expect_error(400, "invalid_query");
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{params:?}: {}", resp.text);
        }
    }
    // A phone filter that is not a phone number is a 400 as well.
    let resp = app.get(&query(&[("phone", "not a phone")])).await;
    assert_eq!(resp.status, 400, "{}", resp.text);
}

// --- read -------------------------------------------------------------------------------------

#[tokio::test]
async fn reading_a_callback_includes_its_attempts_and_history() {
    let app = spawn_app().await;
    let at = tomorrow();
    let id = app.create_at(&at).await;
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["attempts"], json!([]));
    let history = cb["history"].as_array().expect("a history array");
    assert_eq!(history.len(), 1, "{history:?}");
    let created = &history[0];
    assert_eq!(created["type"], "callback.created");
    assert!(created["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(created["at"], cb["created_at"]);
    assert!(created["data"].is_object(), "{created}");

    app.patch(&format!("/v1/callbacks/{id}"), &json!({ "notes": "n" }))
        .await
        .expect(200);
    app.cancel(&id).await.expect(200);
    let cb = app.get_callback(&id).await;
    let kinds: Vec<&str> = cb["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["callback.created", "callback.updated", "callback.canceled"]
    );
}

#[tokio::test]
async fn an_unknown_or_malformed_callback_id_is_not_found() {
    let app = spawn_app().await;
    for path in [
        "/v1/callbacks/cb_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/v1/callbacks/nope",
        "/v1/callbacks/cb_",
        "/v1/callbacks/%00",
    ] {
        app.get(path).await.expect_error(404, "not_found");
    }
    let missing = "cb_01ARZ3NDEKTSV4RRFFQ69G5FAV";
    app.patch(
        &format!("/v1/callbacks/{missing}"),
        &json!({ "notes": "x" }),
    )
    .await
    .expect_error(404, "not_found");
    app.cancel(missing).await.expect_error(404, "not_found");
    app.report_outcome(missing, &json!({ "outcome": "answered" }))
        .await
        .expect_error(404, "not_found");
}

// --- patch ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_patch_reschedules_the_callback() {
    let app = spawn_app().await;
    let cb = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let id = cb["id"].as_str().unwrap();
    let new_at = in_ms(2 * 24 * 3600 * 1000);
    let patched = app
        .patch(
            &format!("/v1/callbacks/{id}"),
            &json!({ "scheduled_at": new_at }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["scheduled_at"], new_at.as_str());
    assert_eq!(patched["next_attempt_at"], new_at.as_str());
    assert_eq!(
        ts(&patched["expires_at"]),
        ts(&patched["scheduled_at"]) + SignedDuration::from_mins(60)
    );
    assert_eq!(patched["status"], "scheduled");
    assert!(ts(&patched["updated_at"]) >= ts(&cb["updated_at"]));
    assert_eq!(patched["created_at"], cb["created_at"]);

    let read = app.get_callback(id).await;
    assert_eq!(read["scheduled_at"], new_at.as_str());
    assert_eq!(read["next_attempt_at"], new_at.as_str());
    let updated = events_of(&read, "callback.updated");
    assert_eq!(updated.len(), 1);
    assert!(
        updated[0]["data"]["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("scheduled_at"))
    );
}

#[tokio::test]
async fn a_patch_with_a_local_time_and_a_new_timezone_reschedules_in_that_zone() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    let patched = app
        .patch(
            &format!("/v1/callbacks/{id}"),
            &json!({ "scheduled_at": "2027-07-05T10:00:00", "timezone": "America/New_York" }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["scheduled_at"], "2027-07-05T14:00:00Z");
    assert_eq!(patched["timezone"], "America/New_York");
    assert_eq!(patched["scheduled_at_local"], "2027-07-05T10:00:00-04:00");
}

#[tokio::test]
async fn a_patch_reassigns_and_annotates_the_callback() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    let a1 = app.agent_id("a1").await;
    let path = format!("/v1/callbacks/{id}");
    let patched = app
        .patch(
            &path,
            &json!({
                "assignment": { "type": "agent", "ids": [a1] },
                "notes": "call after lunch",
                "contact_name": "Grace",
                "metadata": { "k": "v" },
            }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        patched["assignment"],
        json!({ "type": "agent", "ids": [a1] })
    );
    assert_eq!(patched["notes"], "call after lunch");
    assert_eq!(patched["contact_name"], "Grace");
    assert_eq!(patched["metadata"], json!({ "k": "v" }));
    let read = app.get_callback(&id).await;
    assert_eq!(read["assignment"], json!({ "type": "agent", "ids": [a1] }));
    assert_eq!(read["notes"], "call after lunch");
    let page = app
        .get(&query(&[("assignee", a1.as_str())]))
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), vec![id.clone()]);

    // null removes the assignment and the notes.
    let cleared = app
        .patch(&path, &json!({ "assignment": null, "notes": null }))
        .await
        .expect(200)
        .clone();
    assert!(cleared["assignment"].is_null(), "{cleared}");
    assert!(cleared["notes"].is_null(), "{cleared}");
    assert_eq!(cleared["contact_name"], "Grace", "untouched fields stay");
    let page = app
        .get(&query(&[("assignee", a1.as_str())]))
        .await
        .expect(200)
        .clone();
    assert!(ids(&page).is_empty());
}

#[tokio::test]
async fn a_patch_that_changes_nothing_is_refused() {
    let app = spawn_app().await;
    let cb = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let id = cb["id"].as_str().unwrap();
    let resp = app.patch(&format!("/v1/callbacks/{id}"), &json!({})).await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    resp.expect_error(400, "missing_field");
    let read = app.get_callback(id).await;
    assert_eq!(read["updated_at"], cb["updated_at"]);
    assert!(events_of(&read, "callback.updated").is_empty());
}

#[tokio::test]
async fn an_invalid_patch_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let cb = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let id = cb["id"].as_str().unwrap();
    let path = format!("/v1/callbacks/{id}");
    let cases = [
        (
            json!({ "scheduled_at": "2020-01-01T00:00:00Z" }),
            "time_in_past",
            "scheduled_at",
        ),
        (
            json!({ "scheduled_at": "2027-03-14T02:30:00", "timezone": "America/New_York" }),
            "nonexistent_local_time",
            "scheduled_at",
        ),
        (
            json!({ "timezone": "Mars/Olympus_Mons" }),
            "invalid_timezone",
            "timezone",
        ),
        (
            json!({ "assignment": { "type": "agent", "ids": [] } }),
            "invalid_field",
            "assignment.ids",
        ),
        (json!({ "metadata": [1, 2] }), "invalid_field", "metadata"),
        (
            json!({ "notes": "x".repeat(5001) }),
            "invalid_field",
            "notes",
        ),
        (json!({ "phone": "+14155550199" }), "unknown_field", "phone"),
    ];
    for (body, code, field) in cases {
        app.patch(&path, &body)
            .await
            .expect_field_error(400, code, field);
    }
    let read = app.get_callback(id).await;
    assert_eq!(read["updated_at"], cb["updated_at"]);
    assert_eq!(read["scheduled_at"], cb["scheduled_at"]);
    assert!(events_of(&read, "callback.updated").is_empty());
}

#[tokio::test]
async fn a_callback_that_is_no_longer_scheduled_cannot_be_patched() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    app.cancel(&id).await.expect(200);
    let resp = app
        .patch(
            &format!("/v1/callbacks/{id}"),
            &json!({ "notes": "too late" }),
        )
        .await;
    let error = resp.expect_error(409, "invalid_state");
    assert_eq!(error["status"], "canceled");
    let read = app.get_callback(&id).await;
    assert!(read["notes"].is_null());
    assert_eq!(read["status"], "canceled");
}

#[tokio::test]
async fn a_dispatched_callback_cannot_be_patched() {
    let app = spawn_quick_app().await;
    let id = app.dispatched_callback(300).await;
    let resp = app
        .patch(
            &format!("/v1/callbacks/{id}"),
            &json!({ "scheduled_at": tomorrow() }),
        )
        .await;
    let error = resp.expect_error(409, "invalid_state");
    assert_eq!(error["status"], "in_progress");
    assert_eq!(app.get_callback(&id).await["status"], "in_progress");
}

// --- cancel -----------------------------------------------------------------------------------

#[tokio::test]
async fn canceling_a_scheduled_callback_answers_canceled() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    let canceled = app.cancel(&id).await.expect(200).clone();
    assert_eq!(canceled["id"], id.as_str());
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["next_attempt_at"].is_null());
    let read = app.get_callback(&id).await;
    assert_eq!(read["status"], "canceled");
    assert_eq!(events_of(&read, "callback.canceled").len(), 1);
    // Canceling again is harmless and records nothing new.
    let again = app.cancel(&id).await.expect(200).clone();
    assert_eq!(again["status"], "canceled");
    let read = app.get_callback(&id).await;
    assert_eq!(events_of(&read, "callback.canceled").len(), 1);
}

#[tokio::test]
async fn canceling_a_dispatched_callback_is_refused_with_its_actual_state() {
    let app = spawn_quick_app().await;
    let id = app.dispatched_callback(300).await;
    let resp = app.cancel(&id).await;
    let error = resp.expect_error(409, "invalid_state");
    assert_eq!(error["status"], "in_progress", "{}", resp.text);
    let read = app.get_callback(&id).await;
    assert_eq!(read["status"], "in_progress");
    assert!(events_of(&read, "callback.canceled").is_empty());
}

// --- outcome ----------------------------------------------------------------------------------

#[tokio::test]
async fn an_answered_outcome_completes_a_dispatched_callback() {
    let app = spawn_quick_app().await;
    let id = app.dispatched_callback(300).await;
    let phone = app.get_callback(&id).await["phone"].clone();
    let done = app
        .report_outcome(
            &id,
            &json!({ "outcome": "answered", "duration_seconds": 30, "notes": "happy" }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"], "answered");
    assert!(done["next_attempt_at"].is_null());

    let read = app.get_callback(&id).await;
    assert_eq!(read["status"], "completed");
    let attempt = &read["attempts"][0];
    assert_eq!(attempt["outcome"], "answered");
    assert_eq!(attempt["duration_seconds"], 30);
    assert_eq!(attempt["notes"], "happy");
    assert!(attempt["ended_at"].is_string(), "{attempt}");
    let completed = events_of(&read, "callback.completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["data"]["outcome"], "answered");

    // A final callback takes no second outcome, and no longer holds its phone.
    let resp = app
        .report_outcome(&id, &json!({ "outcome": "no_answer" }))
        .await;
    assert_eq!(
        resp.expect_error(409, "invalid_state")["status"],
        "completed"
    );
    assert_eq!(app.get_callback(&id).await["outcome"], "answered");
    app.create(&json!({ "phone": phone, "scheduled_at": tomorrow() }))
        .await;
}

#[tokio::test]
async fn a_no_answer_outcome_fails_the_callback_and_bad_outcomes_are_refused() {
    let app = spawn_quick_app().await;
    let id = app.dispatched_callback(300).await;
    for (body, code, field) in [
        (json!({ "outcome": "exploded" }), "invalid_field", "outcome"),
        (
            json!({ "outcome": "answered", "duration_seconds": -5 }),
            "invalid_field",
            "duration_seconds",
        ),
        (
            json!({ "outcome": "answered", "duration_seconds": 100_000 }),
            "invalid_field",
            "duration_seconds",
        ),
        (
            json!({ "outcome": "answered", "mood": "good" }),
            "unknown_field",
            "mood",
        ),
    ] {
        app.report_outcome(&id, &body)
            .await
            .expect_field_error(400, code, field);
    }
    app.report_outcome(&id, &json!({}))
        .await
        .expect_field_error(400, "missing_field", "outcome");
    assert_eq!(app.get_callback(&id).await["status"], "in_progress");

    let failed = app
        .report_outcome(&id, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["outcome"], "no_answer");
    let read = app.get_callback(&id).await;
    assert_eq!(read["attempts"][0]["outcome"], "no_answer");
    assert_eq!(events_of(&read, "callback.failed").len(), 1);
}

#[tokio::test]
async fn an_outcome_for_a_callback_not_yet_dispatched_is_refused() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    let resp = app
        .report_outcome(
            &id,
            &json!({ "outcome": "answered", "duration_seconds": 30 }),
        )
        .await;
    assert_eq!(
        resp.expect_error(409, "invalid_state")["status"],
        "scheduled"
    );
    let read = app.get_callback(&id).await;
    assert_eq!(read["status"], "scheduled");
    assert!(read["outcome"].is_null());
}

// --- batch ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_batch_stores_the_valid_items_and_reports_each_one() {
    let app = spawn_app().await;
    let (p0, p2) = (unique_phone(), unique_phone());
    let resp = app
        .post_json(
            "/v1/callbacks/batch",
            &json!({ "callbacks": [
                { "phone": p0, "scheduled_at": tomorrow() },
                { "phone": "12345", "scheduled_at": tomorrow() },
                { "phone": p2, "scheduled_at": "2027-07-05T10:00:00", "timezone": "America/New_York" },
                { "phone": unique_phone(), "scheduled_at": tomorrow(), "timezone": "Nowhere/Land" },
                { "phone": unique_phone(), "scheduled_at": "2020-01-01T00:00:00Z" },
            ]}),
        )
        .await;
    let body = resp.expect(200).clone();
    assert_eq!(body["created"], 2, "{body}");
    assert_eq!(body["failed"], 3, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
    }
    for i in [0, 2] {
        assert_eq!(results[i]["status"], "created", "{body}");
        assert!(results[i]["id"].as_str().unwrap().starts_with("cb_"));
        assert!(results[i].get("error").is_none_or(Value::is_null));
    }
    for (i, code, field) in [
        (1, "invalid_phone", "callbacks[1].phone"),
        (3, "invalid_timezone", "callbacks[3].timezone"),
        (4, "time_in_past", "callbacks[4].scheduled_at"),
    ] {
        assert_eq!(results[i]["status"], "failed", "{body}");
        assert!(results[i].get("id").is_none_or(Value::is_null));
        assert_eq!(results[i]["error"]["code"], code, "{body}");
        assert_eq!(results[i]["error"]["field"], field, "{body}");
        assert!(results[i]["error"]["message"].is_string());
    }
    let created: Vec<String> = [0, 2]
        .iter()
        .map(|&i| results[i]["id"].as_str().unwrap().to_owned())
        .collect();
    let stored: Vec<String> = app
        .list_all()
        .await
        .iter()
        .map(|cb| cb["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sorted(stored), sorted(created.clone()));
    let first = app.get_callback(&created[0]).await;
    assert_eq!(first["phone"], p0.as_str());
    assert_eq!(first["status"], "scheduled");
    assert_eq!(first["origin"], "api");
    assert_eq!(events_of(&first, "callback.created").len(), 1);
    let second = app.get_callback(&created[1]).await;
    assert_eq!(second["scheduled_at"], "2027-07-05T14:00:00Z");
}

#[tokio::test]
async fn a_batch_item_reports_the_same_error_codes_as_a_single_create() {
    let app = spawn_app().await;
    let resp = app
        .post_json(
            "/v1/callbacks/batch",
            &json!({ "callbacks": [
                { "scheduled_at": tomorrow() },
                { "phone": unique_phone(), "scheduled_at": tomorrow(), "bogus": 1 },
                { "phone": 14155550199_u64, "scheduled_at": tomorrow() },
                { "phone": unique_phone(), "scheduled_at": "2027-01-05T10:00:00" },
                { "phone": unique_phone(), "scheduled_at": tomorrow() },
            ]}),
        )
        .await;
    let body = resp.expect(200).clone();
    let results = body["results"].as_array().unwrap();
    let expected = [
        (0, "missing_field", "callbacks[0].phone"),
        (1, "unknown_field", "callbacks[1].bogus"),
        (2, "invalid_field", "callbacks[2].phone"),
        (3, "missing_field", "callbacks[3].timezone"),
    ];
    let mut wrong = Vec::new();
    for (i, code, field) in expected {
        let error = &results[i]["error"];
        if results[i]["status"] != "failed" || error["code"] != code || error["field"] != field {
            wrong.push(format!(
                "item {i}: expected {code} on {field}, got {}",
                results[i]
            ));
        }
    }
    assert_eq!(results[4]["status"], "created", "{body}");
    assert_eq!(app.list_all().await.len(), 1);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_batch_of_more_than_1000_items_or_of_none_is_refused() {
    let app = spawn_app().await;
    let items: Vec<Value> = (0..1001)
        .map(|_| json!({ "phone": "+14155550199", "scheduled_at": tomorrow(), "allow_duplicate": true }))
        .collect();
    app.post_json("/v1/callbacks/batch", &json!({ "callbacks": items }))
        .await
        .expect_field_error(400, "too_many_items", "callbacks");
    app.post_json("/v1/callbacks/batch", &json!({ "callbacks": [] }))
        .await
        .expect_field_error(400, "too_many_items", "callbacks");
    app.post_json("/v1/callbacks/batch", &json!({}))
        .await
        .expect_field_error(400, "missing_field", "callbacks");
    app.assert_no_callbacks("after refused batches").await;
}

#[tokio::test]
async fn a_batch_of_exactly_1000_items_is_stored() {
    let app = spawn_app().await;
    let at = tomorrow();
    let items: Vec<Value> = (0..1000)
        .map(|_| json!({ "phone": "+14155550199", "scheduled_at": at, "allow_duplicate": true }))
        .collect();
    let body = app
        .post_json("/v1/callbacks/batch", &json!({ "callbacks": items }))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["created"], 1000);
    assert_eq!(body["failed"], 0);
    let ids: HashSet<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1000);
    // Count what is stored by walking the pages.
    let mut stored = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/callbacks?limit=200&cursor={c}"),
            None => "/v1/callbacks?limit=200".to_owned(),
        };
        let page = app.get(&path).await.expect(200).clone();
        stored += page["data"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(stored, 1000);
}

#[tokio::test]
async fn batch_items_for_a_phone_that_is_already_held_are_duplicates() {
    let app = spawn_app().await;
    let held = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let fresh = unique_phone();
    let human = format!("{}-{}-{}", &fresh[..2], &fresh[2..5], &fresh[5..]);
    let body = app
        .post_json(
            "/v1/callbacks/batch",
            &json!({ "callbacks": [
                { "phone": fresh, "scheduled_at": tomorrow() },
                { "phone": human, "scheduled_at": tomorrow() },
                { "phone": held["phone"], "scheduled_at": tomorrow() },
                { "phone": fresh, "scheduled_at": tomorrow(), "allow_duplicate": true },
            ]}),
        )
        .await
        .expect(200)
        .clone();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "created", "{body}");
    assert_eq!(results[1]["status"], "failed", "{body}");
    assert_eq!(results[1]["error"]["code"], "duplicate_active_callback");
    assert_eq!(results[1]["error"]["existing_id"], results[0]["id"]);
    assert_eq!(results[2]["status"], "failed", "{body}");
    assert_eq!(results[2]["error"]["code"], "duplicate_active_callback");
    assert_eq!(results[2]["error"]["existing_id"], held["id"]);
    assert_eq!(results[3]["status"], "created", "{body}");
    assert_eq!(body["created"], 2);
    assert_eq!(body["failed"], 2);
    assert_eq!(app.list_all().await.len(), 3);
}

#[tokio::test]
async fn idempotency_keys_are_forgotten_after_a_day() {
    let app = spawn_app().await;
    let first = new_callback(&unique_phone(), &tomorrow());
    app.post_callback_with_key(&first, "order-42")
        .await
        .expect(201);
    let other = new_callback(&unique_phone(), &tomorrow());
    app.post_callback_with_key(&other, "order-42")
        .await
        .expect_error(422, "idempotency_key_reused");
    // What the hourly housekeeping does once the key is a day old.
    let day_later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let purged = app
        .store
        .purge_idempotency_keys(day_later)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    app.post_callback_with_key(&other, "order-42")
        .await
        .expect(201);
}
