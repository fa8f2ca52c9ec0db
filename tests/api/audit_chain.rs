//! The tamper-evident audit trail: each attempt's dial decision is kept as an audit entry in
//! the account's hash chain; `GET /v1/compliance/evidence` exports it for one number with the
//! chain links and the chain verified; `audit_retention_days` (never under the server's floor)
//! deletes the oldest entries and the chain still verifies from where they were cut.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The evidence export of `phone`, once its `attempts` are sealed into the chain (each
/// export writes an entry of its own, sealed a moment later).
pub async fn sealed_evidence(app: &TestApp, phone: &str, attempts: usize) -> Value {
    let path = format!(
        "/v1/compliance/evidence?phone={}",
        phone.replace('+', "%2B")
    );
    eventually(WAIT, "the attempts' sealed evidence", || async {
        let evidence = app.get(&path).await.expect(200).clone();
        let sealed = evidence["attempts"]
            .as_array()
            .is_some_and(|a| a.len() == attempts && a.iter().all(|e| !e["link"].is_null()));
        sealed.then_some(evidence)
    })
    .await
}

#[tokio::test]
async fn each_attempt_keeps_the_decision_that_allowed_it_in_the_hash_chain() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let phone = "+14155550142";
    let created = app
        .post_json(
            "/v1/callbacks",
            &json!({ "phone": phone, "scheduled_at": in_ms(300),
                     "timezone": "America/Los_Angeles", "contact_name": "Ada Lovelace" }),
        )
        .await
        .expect(201)
        .clone();
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "in_progress", WAIT).await;

    let evidence = sealed_evidence(&app, phone, 1).await;
    let attempt = &evidence["attempts"][0];
    assert_eq!(attempt["action"], "dial.allowed");
    assert_eq!(attempt["resource_id"], id.as_str());
    let decision = &attempt["content"]["decision"];
    assert_eq!(decision["decision"], "dial", "{decision}");
    assert_eq!(decision["attempt"], 1);
    assert_eq!(decision["timezone_source"], "request");
    assert_eq!(decision["timezones"], json!(["America/Los_Angeles"]));
    assert!(
        decision["local_times"]["America/Los_Angeles"].is_string(),
        "{decision}"
    );
    assert_eq!(decision["calling_window"]["start"], "00:00", "{decision}");
    assert_eq!(decision["on_dnc"], false);
    assert!(decision["caps"].is_object(), "{decision}");
    assert!(decision["consent"]["revoked"].is_array(), "{decision}");
    // The content holds nothing personal: it outlives an erasure of the number.
    let text = attempt["content"].to_string();
    assert!(
        !text.contains("4155550142") && !text.contains("Lovelace"),
        "{text}"
    );

    // Its link, and the chain verified through it.
    let link = &attempt["link"];
    assert!(link["chain_index"].as_i64().unwrap() >= 1);
    assert_eq!(link["entry_hash"].as_str().unwrap().len(), 64);
    assert_eq!(evidence["chain"]["status"], "ok", "{evidence}");
    assert!(
        evidence["chain"]["verified_entries"].as_u64().unwrap()
            >= link["chain_index"].as_u64().unwrap()
    );
    assert_eq!(evidence["chain"]["head_hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        evidence["subject_hash"].as_str().map(str::len),
        Some(64),
        "{evidence}"
    );

    // The salt the hash is made with is sealed with the server's key, like every secret: a
    // database alone cannot test the hash against candidate numbers.
    let tables = crate::data_subjects::tables_as_text(&app._db.url).await;
    let salts = &tables.iter().find(|(t, _)| t == "subject_salts").unwrap().1;
    assert!(!salts.trim().is_empty());
    for row in salts.lines() {
        assert!(row.contains("enc:v1:"), "a salt in clear: {row}");
    }

    // Changes about the number are kept under its hash too.
    app.post_json("/v1/dnc", &json!({ "phone": phone, "source": "ivr" }))
        .await
        .expect(201);
    let path = "/v1/compliance/evidence?phone=%2B14155550142";
    let with_dnc = eventually(WAIT, "the do-not-call entry's evidence", || async {
        let e = app.get(path).await.expect(200).clone();
        e["other_entries"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["action"] == "dnc.add"))
            .then_some(e)
    })
    .await;
    assert_eq!(with_dnc["attempts"].as_array().unwrap().len(), 1);
    // Each export of the evidence is itself audited, under the same hash, naming who read it.
    let exports: Vec<&Value> = with_dnc["other_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "compliance.evidence_exported")
        .collect();
    assert!(!exports.is_empty(), "{with_dnc}");
    assert_eq!(exports[0]["actor_type"], "api_key", "{with_dnc}");
    assert_eq!(with_dnc["subject_hash"], evidence["subject_hash"]);

    // Another number has no attempt; another account sees none of this one's.
    let none = app
        .get("/v1/compliance/evidence?phone=%2B14155550143")
        .await
        .expect(200)
        .clone();
    assert_eq!(none["attempts"], json!([]));
    let other = app.second_account().await;
    let theirs = app
        .request_as(
            Some(&other.api_key),
            Method::GET,
            "/v1/compliance/evidence?phone=%2B14155550142",
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(theirs["attempts"], json!([]), "{theirs}");
}

#[tokio::test]
async fn the_evidence_export_refuses_a_bad_number_and_needs_admin() {
    let app = spawn_app().await;
    for bad in [
        "",
        "?phone=",
        "?phone=12",
        "?phone=%2B1415555014x",
        "?phone=%2B14155550142&x=1",
    ] {
        let answer = app.get(&format!("/v1/compliance/evidence{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        let text = answer.body.to_string();
        assert!(
            text.contains("phone") || text.contains('x'),
            "{bad}: {text}"
        );
    }
    let reader = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "reader", "scopes": ["callbacks:read"] }),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app
        .request_as(
            Some(&reader),
            Method::GET,
            "/v1/compliance/evidence?phone=%2B14155550142",
            None,
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
}

#[tokio::test]
async fn audit_retention_deletes_the_oldest_entries_and_the_chain_verifies_from_the_cut() {
    let clock = std::sync::Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| {
        c.min_lead_seconds = 0;
        c.recording_sweep_seconds = 1;
        c.audit_retention_floor_days = 2;
    })
    .await;
    app.any_hour().await;

    // The setting: never under the server's floor, kept when a PUT leaves it out.
    let settings = app.get("/v1/settings").await.expect(200).clone();
    for bad in [json!(1), json!(0), json!(36501), json!("x"), json!(-1)] {
        let mut body = settings.clone();
        body["audit_retention_days"] = bad.clone();
        let answer = app.request(Method::PUT, "/v1/settings", Some(&body)).await;
        answer.expect_field_error(400, "invalid_field", "audit_retention_days");
        if bad == json!(1) {
            assert!(
                answer.body.to_string().contains("at least 2 days"),
                "{}",
                answer.body
            );
        }
    }
    let mut body = settings.clone();
    body["audit_retention_days"] = json!(3);
    app.request(Method::PUT, "/v1/settings", Some(&body))
        .await
        .expect(200);
    let mut without = app.get("/v1/settings").await.expect(200).clone();
    assert_eq!(without["audit_retention_days"], 3);
    without
        .as_object_mut()
        .unwrap()
        .remove("audit_retention_days");
    let kept = app
        .request(Method::PUT, "/v1/settings", Some(&without))
        .await;
    assert_eq!(kept.expect(200)["audit_retention_days"], 3);

    // Old entries: a callback's creation and its attempt.
    let old_phone = "+14155550144";
    let old = app
        .post_json(
            "/v1/callbacks",
            &json!({ "phone": old_phone, "scheduled_at": in_ms(200) }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&old, "in_progress", WAIT).await;
    let before = sealed_evidence(&app, old_phone, 1).await;
    let old_index = before["attempts"][0]["link"]["chain_index"]
        .as_i64()
        .unwrap();
    let audit_path = format!("/v1/audit?resource_id={old}");
    let audit_of_old = || async { app.get(&audit_path).await.expect(200).clone() };
    assert!(
        !audit_of_old().await["data"].as_array().unwrap().is_empty(),
        "the callback's creation is audited"
    );

    // Two days on: under the account's three days, nothing goes.
    app.move_time(&clock, 2 * DAY);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sealed_evidence(&app, old_phone, 1).await["chain"]["anchor_index"],
        0
    );

    // A new entry, then four days on: the old entries go, the new one stays, and the chain
    // verifies from the cut.
    let new_phone = "+14155550145";
    app.move_time(&clock, 2 * DAY);
    let soon = ringback::clock::Clock::now(clock.as_ref())
        .checked_add(jiff::SignedDuration::from_millis(200))
        .unwrap();
    let new = app
        .post_json(
            "/v1/callbacks",
            &json!({ "phone": new_phone, "scheduled_at": soon.to_string() }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&new, "in_progress", WAIT).await;
    let evidence = eventually(WAIT, "the old entries' deletion", || async {
        let e = sealed_evidence(&app, old_phone, 0).await;
        (e["chain"]["anchor_index"].as_i64() >= Some(old_index)).then_some(e)
    })
    .await;
    assert_eq!(evidence["chain"]["status"], "ok", "{evidence}");
    assert!(audit_of_old().await["data"].as_array().unwrap().is_empty());
    let fresh = sealed_evidence(&app, new_phone, 1).await;
    assert_eq!(fresh["chain"]["status"], "ok", "{fresh}");

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("ringback_audit_entries_purged_total") && !l.ends_with(" 0")),
        "{text}"
    );
}

#[tokio::test]
async fn a_preview_callback_keeps_the_decision_that_let_it_be_offered() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let phone = "+14155550147";
    let id = app
        .post_json(
            "/v1/callbacks",
            &json!({ "phone": phone, "scheduled_at": in_ms(200), "dialing_mode": "preview" }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "waiting", WAIT).await;
    let evidence = sealed_evidence(&app, phone, 1).await;
    let offer = &evidence["attempts"][0];
    assert_eq!(offer["action"], "offer.allowed", "{evidence}");
    assert_eq!(offer["resource_id"], id.as_str());
    assert_eq!(offer["content"]["decision"]["dialing_mode"], "preview");
    assert_eq!(offer["content"]["decision"]["decision"], "dial");
}
