//! Consent: an account that requires it for AI calls places none without it (`no_consent`);
//! a revocation cancels, in one transaction, what is pending in the modes that needed it;
//! bad consent requests name their field.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn query_phone(phone: &str) -> String {
    phone.replace('+', "%2B")
}

async fn require(app: &TestApp, scopes: Value) {
    let mut body = app.get("/v1/settings").await.expect(200).clone();
    body["require_consent_for"] = scopes;
    app.request(Method::PUT, "/v1/settings", Some(&body))
        .await
        .expect(200);
}

async fn grant(app: &TestApp, phone: &str, scope: &str) -> Value {
    app.post_json(
        "/v1/consents",
        &json!({ "phone": phone, "scope": scope, "source": "web_form",
                 "evidence": "I agree to be called by an automated assistant." }),
    )
    .await
    .expect(201)
    .clone()
}

#[tokio::test]
async fn an_ai_call_without_the_required_consent_is_never_placed() {
    let app = spawn_quick_app().await;
    require(&app, json!(["ai_calls"])).await;
    let settings = app.get("/v1/settings").await.expect(200).clone();
    assert_eq!(settings["require_consent_for"], json!(["ai_calls"]));

    // No consent: accepted, explained, blocked, then skipped at its time without a call.
    let without = unique_phone();
    let cb = app
        .create(&json!({ "phone": without, "scheduled_at": in_ms(400), "dialing_mode": "ai" }))
        .await;
    let id = cb["id"].as_str().unwrap().to_owned();
    let explained = cb["explanation"].to_string();
    assert!(explained.contains("consent"), "{explained}");
    let eligibility = app
        .get(&format!("/v1/callbacks/{id}/eligibility"))
        .await
        .expect(200)
        .clone();
    assert!(
        eligibility.to_string().contains("no_consent"),
        "{eligibility}"
    );
    let cb = app.wait_for_status(&id, "canceled", WAIT).await;
    assert_eq!(cb["outcome"], "skipped_no_consent");
    assert_eq!(
        events_of(&cb, "callback.skipped")[0]["data"]["reason"],
        "no_consent"
    );
    // A live agent's or a message call to the same number needs no AI consent.
    let unattended = app
        .create(&json!({ "phone": without, "scheduled_at": in_ms(300) }))
        .await;
    let unattended = unattended["id"].as_str().unwrap();
    app.wait_for_status(unattended, "in_progress", WAIT).await;
    assert!(
        app.bridge.requests_for(&id).is_empty(),
        "the AI call was never placed"
    );

    // With consent recorded, the AI call goes out.
    let with = unique_phone();
    let recorded = grant(&app, &with, "ai_calls").await;
    assert_eq!(recorded["status"], "granted");
    assert_eq!(recorded["scope"], "ai_calls");
    let cb = app
        .create(&json!({ "phone": with, "scheduled_at": in_ms(300), "dialing_mode": "ai" }))
        .await;
    let id = cb["id"].as_str().unwrap();
    app.wait_for_status(id, "in_progress", WAIT).await;
    assert_eq!(app.bridge.requests_for(id).len(), 1);
}

#[tokio::test]
async fn a_revocation_cancels_the_pending_calls_that_needed_it_and_stops_later_ones() {
    let app = spawn_quick_app().await;
    let phone = unique_phone();
    let ai = app
        .create(&json!({ "phone": phone, "scheduled_at": tomorrow(), "dialing_mode": "ai" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = app
        .create(
            &json!({ "phone": phone, "scheduled_at": tomorrow(), "dialing_mode": "preview",
                         "allow_duplicate": true }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    grant(&app, &phone, "ai_calls").await;

    // Withdrawing AI consent cancels the AI call only.
    let revoked = app
        .post_json(
            "/v1/consents",
            &json!({ "phone": phone, "scope": "ai_calls", "status": "revoked",
                     "source": "agent" }),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(revoked["canceled_callback_ids"], json!([ai]));
    let cb = app.get_callback(&ai).await;
    assert_eq!(cb["status"], "canceled");
    assert_eq!(
        events_of(&cb, "callback.canceled")[0]["data"]["reason"],
        "consent_revoked"
    );
    assert_eq!(app.get_callback(&preview).await["status"], "scheduled");

    // "Stop calling me": every scope, and the live call too.
    let stop = app
        .post_json(
            "/v1/consents/revoke",
            &json!({ "phone": phone, "source": "ivr" }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(stop["canceled_callback_ids"], json!([preview]));
    assert_eq!(stop["revoked"].as_array().unwrap().len(), 4);
    let list = app
        .get(&format!("/v1/consents?phone={}", query_phone(&phone)))
        .await
        .expect(200)
        .clone();
    let scopes: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "revoked")
        .map(|c| c["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes.len(), 4, "{list}");

    // Even with no requirement on the account, a later call is not placed.
    let later = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(300) }))
        .await;
    let id = later["id"].as_str().unwrap();
    let cb = app.wait_for_status(id, "canceled", WAIT).await;
    assert_eq!(cb["outcome"], "skipped_no_consent");
    assert!(app.bridge.requests_for(id).is_empty());

    // The changes are in the audit log.
    let audit = app.get("/v1/audit?action=consent.revoke").await;
    let entries = audit.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(
        entries.len(),
        5,
        "one AI revocation, then four: {entries:?}"
    );
}

#[tokio::test]
async fn bad_consent_requests_name_the_field_and_store_nothing() {
    let app = spawn_app().await;
    let phone = unique_phone();
    let cases = [
        (
            json!({ "phone": phone, "scope": "robocalls", "source": "x" }),
            "scope",
        ),
        (
            json!({ "phone": phone, "scope": "calls", "source": "x", "status": "maybe" }),
            "status",
        ),
        (
            json!({ "phone": phone, "scope": "calls", "source": "  " }),
            "source",
        ),
        (
            json!({ "phone": phone, "scope": "calls", "source": "x",
                    "captured_at": "yesterday" }),
            "captured_at",
        ),
        (
            json!({ "phone": phone, "scope": "calls", "source": "x",
                    "captured_at": "2099-01-01T00:00:00Z" }),
            "captured_at",
        ),
        (
            json!({ "phone": phone, "scope": "calls", "source": "x",
                    "evidence": "e".repeat(5_001) }),
            "evidence",
        ),
    ];
    app.post_json(
        "/v1/consents",
        &json!({ "phone": "12", "scope": "calls", "source": "x" }),
    )
    .await
    .expect_field_error(400, "invalid_phone", "phone");
    for (body, field) in cases {
        app.post_json("/v1/consents", &body)
            .await
            .expect_field_error(400, "invalid_field", field);
    }
    app.post_json(
        "/v1/consents/revoke",
        &json!({ "phone": phone, "scopes": ["calls", "nope"], "source": "x" }),
    )
    .await
    .expect_field_error(400, "invalid_field", "scopes[1]");
    app.post_json(
        "/v1/consents/revoke",
        &json!({ "phone": phone, "scopes": [], "source": "x" }),
    )
    .await
    .expect_field_error(400, "invalid_field", "scopes");
    let list = app
        .get(&format!("/v1/consents?phone={}", query_phone(&phone)))
        .await
        .expect(200)
        .clone();
    assert_eq!(list["data"], json!([]), "nothing stored");

    for (scopes, field) in [
        (json!(["sms"]), "require_consent_for[0]"),
        (json!(["calls", "calls"]), "require_consent_for[1]"),
        (json!(["everything"]), "require_consent_for[0]"),
    ] {
        let mut body = app.get("/v1/settings").await.expect(200).clone();
        body["require_consent_for"] = scopes;
        app.request(Method::PUT, "/v1/settings", Some(&body))
            .await
            .expect_field_error(400, "invalid_field", field);
    }
    let settings = app.get("/v1/settings").await.expect(200).clone();
    assert_eq!(settings["require_consent_for"], json!([]));
}
