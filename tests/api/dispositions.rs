//! Dispositions (wrap-up codes): the registry, completing calls with one (drivers and agents),
//! recalls by their class and finality, reports by disposition, and bad input.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn disposition(app: &TestApp, code: &str, class: &str, is_final: bool) -> Value {
    app.post_json(
        "/v1/dispositions",
        &json!({ "code": code, "label": format!("{code} label"),
                 "outcome_class": class, "final": is_final }),
    )
    .await
    .expect(201)
    .clone()
}

/// A callback with a recall after a busy signal, dispatched and in progress; its id.
async fn calling(app: &TestApp) -> String {
    let id = app
        .create(&json!({ "phone": unique_phone(), "timezone": "UTC",
                         "scheduled_at": in_ms(200), "recall": { "busy": [5] } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "in_progress", WAIT).await;
    id
}

#[tokio::test]
async fn a_disposition_is_created_read_changed_and_deleted_keeping_its_history() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let created = disposition(&app, "SALE", "answered", true).await;
    assert_eq!(created["code"], "SALE");
    assert_eq!(created["label"], "SALE label");
    assert_eq!(created["outcome_class"], "answered");
    assert_eq!(created["final"], true);
    assert_eq!(app.get("/v1/dispositions/SALE").await.expect(200), &created);
    let other = disposition(&app, "BUSY_RETRY", "busy", false).await;
    assert_eq!(
        app.get("/v1/dispositions").await.expect(200)["data"],
        json!([other, created]),
        "listed by code"
    );

    let changed = app
        .patch(
            "/v1/dispositions/SALE",
            &json!({ "label": "Sale made", "final": false }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(changed["label"], "Sale made");
    assert_eq!(changed["final"], false);
    assert_eq!(changed["outcome_class"], "answered");

    // A call completed with it, then the disposition deleted: the call keeps its code.
    let id = calling(&app).await;
    let done = app
        .report_outcome(&id, &json!({ "disposition": "SALE" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"], "answered");
    assert_eq!(done["disposition"], "SALE");
    assert_eq!(
        app.request(Method::DELETE, "/v1/dispositions/SALE", None)
            .await
            .status,
        204
    );
    app.get("/v1/dispositions/SALE")
        .await
        .expect_error(404, "not_found");
    app.request(Method::DELETE, "/v1/dispositions/SALE", None)
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        app.get("/v1/dispositions").await.expect(200)["data"],
        json!([other])
    );
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["disposition"], "SALE");
    assert_eq!(cb["attempts"][0]["disposition"], "SALE");
    let report = app.get("/v1/reports/callbacks").await.expect(200).clone();
    let sale = report["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "SALE")
        .cloned();
    assert_eq!(
        sale,
        Some(json!({ "code": "SALE", "attempts": 1, "callbacks": 1,
                     "by_outcome": { "answered": 1 } })),
        "{report}"
    );

    // A deleted code may not complete a new call; made again, it comes back.
    let next = calling(&app).await;
    app.report_outcome(&next, &json!({ "disposition": "SALE" }))
        .await
        .expect_field_error(400, "invalid_field", "disposition");
    assert_eq!(app.get_callback(&next).await["status"], "in_progress");
    let again = disposition(&app, "SALE", "voicemail_left", true).await;
    assert_eq!(again["outcome_class"], "voicemail_left");
}

#[tokio::test]
async fn a_busy_call_through_a_recallable_disposition_is_recalled_and_through_a_final_one_not() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    disposition(&app, "LINE_BUSY", "busy", false).await;
    disposition(&app, "BUSY_GIVE_UP", "busy", true).await;

    let recalled = calling(&app).await;
    let after = app
        .report_outcome(&recalled, &json!({ "disposition": "LINE_BUSY" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(after["status"], "scheduled", "{after}");
    assert_eq!(after["disposition"], "LINE_BUSY");
    assert!(after["next_attempt_at"].is_string(), "{after}");
    let cb = app.get_callback(&recalled).await;
    let recall = events_of(&cb, "callback.recall_scheduled");
    assert_eq!(recall.len(), 1, "{cb}");
    assert_eq!(recall[0]["data"]["disposition"], "LINE_BUSY");
    assert_eq!(recall[0]["data"]["outcome"], "busy");
    assert_eq!(cb["attempts"][0]["outcome"], "busy");
    assert_eq!(cb["attempts"][0]["disposition"], "LINE_BUSY");

    // The same class through a final disposition: the callback ends, no recall.
    let ended = calling(&app).await;
    let after = app
        .report_outcome(
            &ended,
            &json!({ "disposition": "BUSY_GIVE_UP", "outcome": "busy", "notes": "asked us to stop" }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(after["status"], "failed", "{after}");
    assert_eq!(after["outcome"], "busy");
    assert_eq!(after["disposition"], "BUSY_GIVE_UP");
    assert_eq!(after["next_attempt_at"], Value::Null);
    let cb = app.get_callback(&ended).await;
    assert!(
        events_of(&cb, "callback.recall_scheduled").is_empty(),
        "{cb}"
    );
    assert_eq!(
        events_of(&cb, "callback.failed")[0]["data"]["disposition"],
        "BUSY_GIVE_UP"
    );

    // Without a disposition the policy alone decides, as before.
    let plain = calling(&app).await;
    let after = app
        .report_outcome(&plain, &json!({ "outcome": "busy" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(after["status"], "scheduled");
    assert_eq!(after["disposition"], Value::Null);

    // Reports break the results down by disposition.
    let report = app.get("/v1/reports/callbacks").await.expect(200).clone();
    let by_code: Vec<(String, u64)> = report["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_owned(),
                d["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_code,
        vec![("BUSY_GIVE_UP".to_owned(), 1), ("LINE_BUSY".to_owned(), 1)]
    );
    let today = report["days"].as_array().unwrap().last().unwrap();
    assert_eq!(
        today["by_disposition"],
        json!({ "BUSY_GIVE_UP": 1, "LINE_BUSY": 1 }),
        "{report}"
    );
}

#[tokio::test]
async fn an_agent_completes_a_call_with_a_disposition() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    disposition(&app, "CALL_ME_LATER", "no_answer", false).await;
    let agent = app.available_agent(json!({ "name": "Ann" })).await;
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                         "dialing_mode": "preview", "recall": [30] }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "offered", WAIT).await;
    app.post_json(
        &format!("/v1/agents/{agent}/callbacks/{id}/accept"),
        &json!({}),
    )
    .await
    .expect(200);
    let path = format!("/v1/agents/{agent}/callbacks/{id}/complete");
    app.post_json(&path, &json!({ "disposition": "NOPE" }))
        .await
        .expect_field_error(400, "invalid_field", "disposition");
    app.post_json(
        &path,
        &json!({ "disposition": "CALL_ME_LATER", "outcome": "answered" }),
    )
    .await
    .expect_field_error(400, "invalid_field", "outcome");
    let done = app
        .post_json(&path, &json!({ "disposition": "CALL_ME_LATER" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(done["status"], "scheduled", "recalled: {done}");
    assert_eq!(done["disposition"], "CALL_ME_LATER");
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["attempts"][0]["agent_id"], agent);
    assert_eq!(cb["attempts"][0]["outcome"], "no_answer");
    assert_eq!(cb["attempts"][0]["disposition"], "CALL_ME_LATER");
}

#[tokio::test]
async fn bad_dispositions_and_outcomes_are_refused_naming_the_field() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    for (body, code, field) in [
        (
            json!({ "code": "has space", "label": "x", "outcome_class": "busy" }),
            "invalid_field",
            "code",
        ),
        (
            json!({ "code": "", "label": "x", "outcome_class": "busy" }),
            "invalid_field",
            "code",
        ),
        (
            json!({ "code": "OK", "label": " ", "outcome_class": "busy" }),
            "invalid_field",
            "label",
        ),
        (
            json!({ "code": "OK", "label": "x", "outcome_class": "sale" }),
            "invalid_field",
            "outcome_class",
        ),
        (
            json!({ "code": "OK", "label": "x", "outcome_class": "skipped_dnc" }),
            "invalid_field",
            "outcome_class",
        ),
        (
            json!({ "code": "OK", "label": "x" }),
            "missing_field",
            "outcome_class",
        ),
        (
            json!({ "code": "OK", "label": "x", "outcome_class": "busy", "final": "yes" }),
            "invalid_field",
            "final",
        ),
    ] {
        app.post_json("/v1/dispositions", &body)
            .await
            .expect_field_error(400, code, field);
    }
    assert_eq!(
        app.get("/v1/dispositions").await.expect(200)["data"],
        json!([]),
        "nothing stored"
    );
    disposition(&app, "OK", "busy", false).await;
    app.post_json(
        "/v1/dispositions",
        &json!({ "code": "OK", "label": "again", "outcome_class": "answered" }),
    )
    .await
    .expect_field_error(400, "invalid_field", "code");
    app.patch("/v1/dispositions/OK", &json!({ "outcome_class": "bad" }))
        .await
        .expect_field_error(400, "invalid_field", "outcome_class");
    assert_eq!(
        app.get("/v1/dispositions/OK").await.expect(200)["outcome_class"],
        "busy"
    );
    app.patch("/v1/dispositions/NONE", &json!({ "label": "x" }))
        .await
        .expect_error(404, "not_found");

    let id = calling(&app).await;
    for (body, code, field) in [
        (
            json!({ "disposition": "UNKNOWN" }),
            "invalid_field",
            "disposition",
        ),
        (
            json!({ "disposition": "OK", "outcome": "answered" }),
            "invalid_field",
            "outcome",
        ),
        (json!({ "notes": "no outcome" }), "missing_field", "outcome"),
    ] {
        app.report_outcome(&id, &body)
            .await
            .expect_field_error(400, code, field);
    }
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["status"], "in_progress", "nothing written: {cb}");
    assert_eq!(cb["disposition"], Value::Null);

    // Another account's codes are not this one's.
    let other = app.second_account().await;
    let resp = app
        .request_as(
            Some(&other.api_key),
            Method::GET,
            "/v1/dispositions/OK",
            None,
        )
        .await;
    resp.expect_error(404, "not_found");
}
