//! Every refused create answers 400 (or 409/413/415/422) with `{"error": {code, message,
//! field}}` and stores nothing; no input makes the server answer 5xx.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// POSTs `body`, expects a 400 with `code` on `field`, and checks that nothing was stored.
async fn refused(app: &TestApp, body: &Value, code: &str, field: &str) {
    let resp = app.post_callback(body).await;
    resp.expect_field_error(400, code, field);
    app.assert_no_callbacks(&format!("after {body}")).await;
}

#[tokio::test]
async fn a_callback_in_the_past_is_refused() {
    let app = spawn_app().await;
    for at in ["2020-01-01T00:00:00Z", &in_ms(-5_000)] {
        refused(
            &app,
            &new_callback(&unique_phone(), at),
            "time_in_past",
            "scheduled_at",
        )
        .await;
    }
}

#[tokio::test]
async fn a_callback_sooner_than_the_minimum_lead_time_is_refused() {
    let app = spawn_app_with(|c| c.min_lead_seconds = 60).await;
    refused(
        &app,
        &new_callback(&unique_phone(), &in_ms(10_000)),
        "lead_time_too_short",
        "scheduled_at",
    )
    .await;
    // Just past the minimum is fine.
    app.create(&new_callback(&unique_phone(), &in_ms(65_000)))
        .await;
}

#[tokio::test]
async fn an_invalid_phone_is_refused() {
    let app = spawn_app().await;
    for phone in [
        "4155550199",
        "+1 415",
        "hello",
        "",
        "+999 12345",
        "+1415555019999999",
    ] {
        refused(
            &app,
            &new_callback(phone, &tomorrow()),
            "invalid_phone",
            "phone",
        )
        .await;
    }
}

#[tokio::test]
async fn an_unknown_timezone_is_refused() {
    let app = spawn_app().await;
    for zone in ["Mars/Olympus_Mons", "", "EST+5 nonsense"] {
        refused(
            &app,
            &json!({ "phone": unique_phone(), "scheduled_at": "2027-01-05T10:00:00", "timezone": zone }),
            "invalid_timezone",
            "timezone",
        )
        .await;
    }
}

#[tokio::test]
async fn a_callback_in_a_dst_gap_is_refused() {
    let app = spawn_app().await;
    for (local, zone) in [
        ("2027-03-14T02:30:00", "America/New_York"),
        ("2027-03-28T01:30:00", "Europe/London"),
    ] {
        refused(
            &app,
            &json!({ "phone": unique_phone(), "scheduled_at": local, "timezone": zone }),
            "nonexistent_local_time",
            "scheduled_at",
        )
        .await;
    }
}

#[tokio::test]
async fn a_callback_in_a_dst_overlap_takes_the_earlier_instant() {
    let app = spawn_app().await;
    for (local, zone, utc) in [
        (
            "2027-11-07T01:30:00",
            "America/New_York",
            "2027-11-07T05:30:00Z",
        ),
        (
            "2027-10-31T01:30:00",
            "Europe/London",
            "2027-10-31T00:30:00Z",
        ),
    ] {
        let cb = app
            .create(&json!({ "phone": unique_phone(), "scheduled_at": local, "timezone": zone }))
            .await;
        assert_eq!(cb["scheduled_at"], utc, "{local} in {zone}");
        assert_eq!(
            app.get_callback(cb["id"].as_str().unwrap()).await["scheduled_at"],
            utc
        );
    }
}

#[tokio::test]
async fn a_missing_required_field_is_named() {
    let app = spawn_app().await;
    refused(
        &app,
        &json!({ "scheduled_at": tomorrow() }),
        "missing_field",
        "phone",
    )
    .await;
    refused(
        &app,
        &json!({ "phone": unique_phone() }),
        "missing_field",
        "scheduled_at",
    )
    .await;
    // A local time needs a zone to be read in.
    refused(
        &app,
        &json!({ "phone": unique_phone(), "scheduled_at": "2027-01-05T10:00:00" }),
        "missing_field",
        "timezone",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_field_is_named() {
    let app = spawn_app().await;
    refused(
        &app,
        &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(), "colour": "blue" }),
        "unknown_field",
        "colour",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_field_inside_assignment_is_named() {
    let app = spawn_app().await;
    refused(
        &app,
        &json!({
            "phone": unique_phone(), "scheduled_at": tomorrow(),
            "assignment": { "type": "agent", "ids": ["a"], "extra": true },
        }),
        "unknown_field",
        "assignment.extra",
    )
    .await;
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_named() {
    let app = spawn_app().await;
    let at = tomorrow();
    for (body, field) in [
        (
            json!({ "phone": 14155550199_u64, "scheduled_at": at }),
            "phone",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": 1_900_000_000 }),
            "scheduled_at",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "recording_enabled": "yes" }),
            "recording_enabled",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "max_duration_seconds": -1 }),
            "max_duration_seconds",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "max_duration_seconds": 5 }),
            "max_duration_seconds",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "expire_after_minutes": 0 }),
            "expire_after_minutes",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "reminder_minutes_before": 0 }),
            "reminder_minutes_before",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "assignment": { "type": "robot", "ids": ["a"] } }),
            "assignment.type",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "assignment": { "type": "agent", "ids": [] } }),
            "assignment.ids",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "notes": "x".repeat(5001) }),
            "notes",
        ),
        (
            json!({ "phone": unique_phone(), "scheduled_at": at, "contact_name": "x".repeat(201) }),
            "contact_name",
        ),
    ] {
        refused(&app, &body, "invalid_field", field).await;
    }
}

#[tokio::test]
async fn an_unreadable_date_time_is_refused() {
    let app = spawn_app().await;
    for at in [
        "tomorrow at noon",
        "2027-13-01T10:00:00Z",
        "2027-01-05T10:00:00+0500x",
    ] {
        refused(
            &app,
            &new_callback(&unique_phone(), at),
            "invalid_datetime",
            "scheduled_at",
        )
        .await;
    }
}

#[tokio::test]
async fn an_offset_beyond_what_rfc_3339_allows_is_refused() {
    let app = spawn_app().await;
    // RFC 3339 offsets stop at 23:59; +25:00 is not a time anywhere.
    refused(
        &app,
        &new_callback(&unique_phone(), "2027-01-05T10:00:00+25:00"),
        "invalid_datetime",
        "scheduled_at",
    )
    .await;
}

#[tokio::test]
async fn a_callback_near_the_end_of_time_does_not_break_the_account() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    // Its default expiry (one hour later) is past the last instant the server can represent.
    let late = "9999-12-30T21:30:00Z";
    let resp = app
        .post_callback(&new_callback(&unique_phone(), late))
        .await;
    assert!(
        resp.status == 201 || resp.status == 400,
        "{} {}",
        resp.status,
        resp.text
    );
    assert!(resp.is_json(), "{}", resp.text);
    let patched = app
        .patch(
            &format!("/v1/callbacks/{id}"),
            &json!({ "scheduled_at": late }),
        )
        .await;
    assert!(
        patched.status == 200 || patched.status == 400,
        "{} {}",
        patched.status,
        patched.text
    );
    // Whatever was answered, everything stored can still be read.
    let list = app.get("/v1/callbacks").await;
    assert_eq!(list.status, 200, "the account's list broke: {}", list.text);
    app.get(&format!("/v1/callbacks/{id}")).await.expect(200);
    if resp.status == 201 {
        let created = resp.body["id"].as_str().unwrap();
        app.get(&format!("/v1/callbacks/{created}"))
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn malformed_json_is_refused() {
    let app = spawn_app().await;
    for raw in [
        r#"{"phone": "+14155550199", "scheduled_at": "#,
        "{,}",
        "",
        "nul",
    ] {
        let resp = app
            .post_raw("/v1/callbacks", "application/json", raw.to_owned())
            .await;
        resp.expect_error(400, "invalid_json");
    }
    app.assert_no_callbacks("after malformed JSON").await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_as_too_large() {
    let app = spawn_app().await;
    let body = json!({
        "phone": unique_phone(),
        "scheduled_at": tomorrow(),
        "notes": "x".repeat(1024 * 1024 + 10),
    });
    let resp = app
        .post_raw("/v1/callbacks", "application/json", body.to_string())
        .await;
    resp.expect_error(413, "payload_too_large");
    // The same without Content-Length (chunked): the limit still holds.
    use http_body_util::BodyExt;
    let mut frames = Vec::new();
    for chunk in body.to_string().into_bytes().chunks(64 * 1024) {
        let frame = http_body_util::Full::new(bytes::Bytes::copy_from_slice(chunk))
            .frame()
            .await
            .expect("one frame")
            .expect("infallible");
        frames.push(Ok::<_, std::io::Error>(frame));
    }
    // A stream has no known length, so the body goes out chunked.
    let chunked = http_body_util::StreamBody::new(futures::stream::iter(frames));
    let resp = app
        .post_raw(
            "/v1/callbacks",
            "application/json",
            reqwest::Body::wrap(chunked),
        )
        .await;
    resp.expect_error(413, "payload_too_large");
    app.assert_no_callbacks("after oversized bodies").await;
}

#[tokio::test]
async fn a_body_that_is_not_declared_as_json_is_refused() {
    let app = spawn_app().await;
    let body = new_callback(&unique_phone(), &tomorrow()).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        app.post_raw("/v1/callbacks", content_type, body.clone())
            .await
            .expect_error(415, "unsupported_media_type");
    }
    // No Content-Type at all.
    let resp = app
        .client
        .post(app.url("/v1/callbacks"))
        .bearer_auth(&app.api_key)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    Resp::read(resp)
        .await
        .expect_error(415, "unsupported_media_type");
    app.assert_no_callbacks("after non-JSON bodies").await;
    // Parameters and +json types are JSON.
    app.post_raw("/v1/callbacks", "application/json; charset=utf-8", body)
        .await
        .expect(201);
}

#[tokio::test]
async fn metadata_that_is_not_an_object_or_too_large_is_refused() {
    let app = spawn_app().await;
    for metadata in [json!([1, 2]), json!("text"), json!(42), json!(true)] {
        refused(
            &app,
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(), "metadata": metadata }),
            "invalid_field",
            "metadata",
        )
        .await;
    }
    let big = json!({ "blob": "x".repeat(17 * 1024) });
    refused(
        &app,
        &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(), "metadata": big }),
        "invalid_field",
        "metadata",
    )
    .await;
    // Just under 16 KiB is fine.
    let fits = json!({ "blob": "x".repeat(16 * 1024 - 20) });
    app.create(&json!({ "phone": unique_phone(), "scheduled_at": tomorrow(), "metadata": fits }))
        .await;
}

#[tokio::test]
async fn an_invalid_webhook_url_is_refused() {
    let app = spawn_app().await;
    for url in [
        "not a url",
        "ftp://example.com/hook",
        "mailto:ops@example.com",
        "http://",
        "/relative/path",
    ] {
        refused(
            &app,
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(), "webhook_url": url }),
            "invalid_url",
            "webhook_url",
        )
        .await;
    }
}

#[tokio::test]
async fn an_invalid_caller_id_is_refused() {
    let app = spawn_app().await;
    for caller_id in ["12345", "+1 415", "caller"] {
        refused(
            &app,
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(), "caller_id": caller_id }),
            "invalid_phone",
            "caller_id",
        )
        .await;
    }
}

/// Odd inputs of every kind: each must get a 2xx or 4xx with a JSON body, never a 5xx.
#[tokio::test]
async fn no_input_makes_the_server_answer_a_5xx() {
    let app = spawn_app().await;
    let at = tomorrow();
    let deep = (0..200).fold(json!(1), |v, _| json!([v]));
    let mut bodies = vec![
        json!(null),
        json!([]),
        json!("string"),
        json!(12),
        json!({}),
        json!({ "phone": null, "scheduled_at": at }),
        json!({ "phone": unique_phone(), "scheduled_at": null }),
        json!({ "phone": "+", "scheduled_at": at }),
        json!({ "phone": "+0", "scheduled_at": at }),
        json!({ "phone": "++1415", "scheduled_at": at }),
        json!({ "phone": "00", "scheduled_at": at }),
        json!({ "phone": "+1 (", "scheduled_at": at }),
        json!({ "phone": "+１４１５５５５０１００", "scheduled_at": at }),
        json!({ "phone": "+٤١٥٥٥٥٠١٠١", "scheduled_at": at }),
        json!({ "phone": "+1-800-FLOWERS", "scheduled_at": at }),
        json!({ "phone": "+1 415 555 0102 ext. 123", "scheduled_at": at }),
        json!({ "phone": "+1415555\u{0}0103", "scheduled_at": at }),
        json!({ "phone": "+".repeat(5000), "scheduled_at": at }),
        json!({ "phone": unique_phone(), "scheduled_at": "9999-12-31T23:59:59Z" }),
        json!({ "phone": unique_phone(), "scheduled_at": "9999-12-31T23:00:00", "timezone": "Pacific/Kiritimati" }),
        json!({ "phone": unique_phone(), "scheduled_at": "-009999-01-02T01:59:59Z" }),
        json!({ "phone": unique_phone(), "scheduled_at": "2027-01-05T10:00:00[America/New_York]" }),
        json!({ "phone": unique_phone(), "scheduled_at": "2027-01-05T10:00:00-05:00[Europe/Paris]" }),
        json!({ "phone": unique_phone(), "scheduled_at": "", "timezone": "UTC" }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "timezone": "../../../etc/passwd" }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "timezone": "x".repeat(10_000) }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "timezone": "EST5EDT,M3.2.0,M11.1.0" }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "metadata": { "deep": deep } }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "max_duration_seconds": 1e30 }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "max_duration_seconds": 4_294_967_296_u64 }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "expire_after_minutes": u32::MAX }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "reminder_minutes_before": u32::MAX }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "notes": "nul \u{0} inside" }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "contact_name": "   " }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "webhook_url": format!("https://{}.com", "a".repeat(3000)) }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "webhook_url": "http://[::1" }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "assignment": { "type": "agent", "ids": vec!["a"; 51] } }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "assignment": { "type": "agent", "ids": ["x".repeat(101)] } }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "assignment": null }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "caller_id": "" }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "dialing_mode": null }),
        json!({ "phone": unique_phone(), "scheduled_at": at, "allow_duplicate": "yes" }),
    ];
    // Duplicate keys in one object.
    let mut raw_bodies = vec![
        format!(
            r#"{{"phone": "{}", "phone": "{}", "scheduled_at": "{at}"}}"#,
            unique_phone(),
            unique_phone()
        ),
        "\u{feff}{}".to_owned(),
        r#"{"phone": "\ud800", "scheduled_at": "x"}"#.to_owned(),
        "[".repeat(10_000),
    ];
    raw_bodies.extend(bodies.drain(..).map(|b| b.to_string()));
    let mut failures = Vec::new();
    for raw in &raw_bodies {
        for path in ["/v1/callbacks", "/v1/callbacks/batch"] {
            let body = if path.ends_with("batch") {
                format!(r#"{{"callbacks": [{raw}]}}"#)
            } else {
                raw.clone()
            };
            let resp = app.post_raw(path, "application/json", body).await;
            if resp.status >= 500 || !resp.is_json() {
                failures.push(format!(
                    "POST {path} {}: {} {}",
                    raw.chars().take(120).collect::<String>(),
                    resp.status,
                    resp.text
                ));
            }
        }
    }
    // Odd changes to an existing callback (its number may be one the bodies above stored in a
    // human form, so it allows a duplicate).
    let mut target = new_callback(&unique_phone(), &tomorrow());
    target["allow_duplicate"] = json!(true);
    let id = app.create(&target).await["id"].as_str().unwrap().to_owned();
    for patch in [
        json!(null),
        json!({ "scheduled_at": null }),
        json!({ "timezone": null }),
        json!({ "scheduled_at": "9999-12-31T23:00:00", "timezone": "Pacific/Kiritimati" }),
        json!({ "metadata": { "deep": (0..120).fold(json!(1), |v, _| json!([v])) } }),
        json!({ "assignment": { "type": "queue", "ids": [""] } }),
    ] {
        let resp = app
            .request(Method::PATCH, &format!("/v1/callbacks/{id}"), Some(&patch))
            .await;
        if resp.status >= 500 || !resp.is_json() {
            failures.push(format!("PATCH {patch}: {} {}", resp.status, resp.text));
        }
    }
    // Odd query strings and paths.
    for path in [
        "/v1/callbacks?limit=99999999999999999999",
        "/v1/callbacks?limit=1&limit=2",
        "/v1/callbacks?scheduled_from=9999-12-30T22:00:00Z",
        "/v1/callbacks?scheduled_from=-009999-01-02T01:59:59Z&scheduled_to=9999-12-30T22:00:00Z",
        "/v1/callbacks?phone=%2B&status=scheduled",
        "/v1/callbacks?phone=%00",
        "/v1/callbacks?cursor=cb_7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        "/v1/callbacks?cursor=cb_8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        "/v1/callbacks?assignee=%27%3B%20DROP%20TABLE%20callbacks%3B--",
        "/v1/callbacks?%ff=%fe",
        "/v1/callbacks/cb_7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
    ] {
        let resp = app.get(path).await;
        if resp.status >= 500 || !resp.is_json() {
            failures.push(format!("GET {path}: {} {}", resp.status, resp.text));
        }
    }
    assert!(
        failures.is_empty(),
        "{} inputs got a 5xx or a non-JSON answer:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn an_assignment_to_an_unknown_or_deleted_agent_or_queue_is_refused() {
    let app = spawn_app().await;
    let agent = app.agent_id("Ann").await;
    let other = app.second_account().await;
    let foreign = app
        .request_as(
            Some(&other.api_key),
            reqwest::Method::POST,
            "/v1/queues",
            Some(&json!({ "name": "theirs" })),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = tomorrow();
    for (assignment, field) in [
        (
            json!({ "type": "agent", "ids": [agent, "agt_01JZZZZZZZZZZZZZZZZZZZZZZZ"] }),
            "assignment.ids[1]",
        ),
        (
            json!({ "type": "queue", "ids": [foreign] }),
            "assignment.ids[0]",
        ),
        (
            json!({ "type": "queue", "ids": [agent] }),
            "assignment.ids[0]",
        ),
    ] {
        let body = json!({ "phone": unique_phone(), "scheduled_at": at, "assignment": assignment });
        app.post_callback(&body)
            .await
            .expect_field_error(400, "invalid_assignee", field);
        let batch = app
            .post_json("/v1/callbacks/batch", &json!({ "callbacks": [body] }))
            .await
            .expect(200)
            .clone();
        assert_eq!(batch["results"][0]["error"]["code"], "invalid_assignee");
        assert_eq!(
            batch["results"][0]["error"]["field"],
            format!("callbacks[0].{field}")
        );
    }
    app.assert_no_callbacks("after refused assignments").await;
    // A deleted agent cannot be assigned any more.
    let id = app.create_at(&at).await;
    app.request(
        reqwest::Method::DELETE,
        &format!("/v1/agents/{agent}"),
        None,
    )
    .await;
    app.patch(
        &format!("/v1/callbacks/{id}"),
        &json!({ "assignment": { "type": "agent", "ids": [agent] } }),
    )
    .await
    .expect_field_error(400, "invalid_assignee", "assignment.ids[0]");
}

/// Text holding the NUL character is refused by field, wherever it is (PostgreSQL cannot
/// store it), and nothing is written.
#[tokio::test]
async fn text_with_a_nul_character_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let at = tomorrow();
    let mut with_notes = new_callback(&unique_phone(), &at);
    with_notes["notes"] = json!("call \u{0} back");
    refused(&app, &with_notes, "invalid_field", "notes").await;
    let mut with_metadata = new_callback(&unique_phone(), &at);
    with_metadata["metadata"] = json!({ "crm": { "ids": ["a", "b\u{0}"] } });
    refused(&app, &with_metadata, "invalid_field", "metadata.crm.ids[1]").await;

    let batch = json!({ "callbacks": [new_callback(&unique_phone(), &at), with_notes] });
    app.post_json("/v1/callbacks/batch", &batch)
        .await
        .expect_field_error(400, "invalid_field", "callbacks[1].notes");
    app.assert_no_callbacks("after a batch with a NUL character")
        .await;
}

/// A time string with multi-byte characters panicked in the offset check (a 500): every route
/// that parses a time answers 4xx naming the field, and a batch fails only that item.
#[tokio::test]
async fn a_time_with_multi_byte_characters_is_a_4xx_on_every_route() {
    let app = spawn_app().await;
    let bad = "éééa";
    let pb = app.playbook("Hi").await;
    let contact = app
        .post_json("/v1/contacts", &json!({ "phone": unique_phone() }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let existing = app.create_at(&tomorrow()).await;
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/callbacks".to_owned(),
            json!({ "phone": unique_phone(), "scheduled_at": bad }),
        ),
        (
            Method::POST,
            "/v1/callbacks?dry_run=true".to_owned(),
            json!({ "phone": unique_phone(), "scheduled_at": bad }),
        ),
        (
            Method::PATCH,
            format!("/v1/callbacks/{existing}"),
            json!({ "scheduled_at": bad }),
        ),
        (
            Method::POST,
            "/v1/campaigns".to_owned(),
            json!({ "playbook_id": pb, "launch_at": bad, "contacts": [{ "phone": unique_phone() }] }),
        ),
        (
            Method::POST,
            "/v1/calls/scheduled".to_owned(),
            json!({ "contact_id": contact, "scheduled_at": bad, "initial_message": "Hi" }),
        ),
        (
            Method::POST,
            "/schedule-callbacks".to_owned(),
            json!({ "phone_number": unique_phone(), "scheduled_time_to_call": bad,
                    "timezone": "Europe/Lisbon", "assign_type": "ANY_ELIGIBLE_AGENT" }),
        ),
        (
            Method::POST,
            "/campaign".to_owned(),
            json!({ "playbook_id": pb, "launch_at": bad, "contacts": [{ "phone": unique_phone() }] }),
        ),
        (
            Method::POST,
            "/v1/dialer/schedule_call/".to_owned(),
            json!({ "customer_name": "Ravi", "schedule_date_time": bad,
                    "customer_number": unique_phone() }),
        ),
    ] {
        let resp = app.request(method.clone(), &path, Some(&body)).await;
        assert!(
            (400..500).contains(&resp.status),
            "{method} {path}: {} {}",
            resp.status,
            resp.text
        );
        assert!(
            resp.text.contains("scheduled_at")
                || resp.text.contains("launch_at")
                || resp.text.contains("schedule_date_time")
                || resp.text.contains("scheduled_time_to_call")
                || resp.text.contains("time"),
            "{method} {path}: the answer names the field: {}",
            resp.text
        );
    }
    // In a batch, the bad item fails alone.
    let batch = app
        .post_json(
            "/v1/callbacks/batch",
            &json!({ "callbacks": [
                { "phone": unique_phone(), "scheduled_at": bad },
                { "phone": unique_phone(), "scheduled_at": tomorrow() },
            ] }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(batch["created"], 1, "{batch}");
    assert_eq!(
        batch["results"][0]["error"]["field"],
        "callbacks[0].scheduled_at"
    );
}
