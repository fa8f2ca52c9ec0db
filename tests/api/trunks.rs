//! Trunks: created, read, changed and deleted over the API, secrets never shown, bad input
//! refused naming the field, and calls going out on the trunk their callback, campaign or
//! account names, within the trunk's limits.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn sip_trunk() -> Value {
    json!({
        "name": "Carrier",
        "kind": "sip",
        "settings": {
            "proxy": "127.0.0.1:5070",
            "transport": "udp",
            "username": "acme",
            "password": "s3cret-pw",
            "caller_id": "+14155550100"
        },
        "max_concurrent_calls": 30,
        "calls_per_second": 5
    })
}

async fn bridge_trunk(app: &TestApp, bridge: &FakeBridge, extra: Value) -> Value {
    let mut body = json!({ "name": "Bridge", "kind": "http_bridge",
                           "settings": { "url": bridge.url } });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    app.post_json("/v1/trunks", &body).await.expect(201).clone()
}

#[tokio::test]
async fn a_trunk_is_created_read_changed_and_deleted_and_its_password_is_never_shown() {
    let app = spawn_app().await;
    let created = app.post_json("/v1/trunks", &sip_trunk()).await;
    assert!(
        !created.text.contains("s3cret-pw"),
        "the password is not in the answer: {}",
        created.text
    );
    let created = created.expect(201).clone();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("trk_"), "{id}");
    assert_eq!(created["kind"], "sip");
    assert_eq!(
        created["settings"],
        json!({ "proxy": "127.0.0.1:5070", "transport": "udp", "username": "acme",
                "password_set": true, "from_domain": null, "caller_id": "+14155550100" })
    );
    assert_eq!(created["max_concurrent_calls"], 30);
    assert_eq!(created["calls_per_second"], 5);
    assert_eq!(
        app.get(&format!("/v1/trunks/{id}")).await.expect(200),
        &created
    );
    assert_eq!(
        app.get("/v1/trunks").await.expect(200)["data"],
        json!([created])
    );

    // Settings left out keep their value (the password too); a limit set to null is lifted.
    let changed = app
        .patch(
            &format!("/v1/trunks/{id}"),
            &json!({ "settings": { "transport": "tcp" }, "calls_per_second": null }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(changed["settings"]["transport"], "tcp");
    assert_eq!(changed["settings"]["proxy"], "127.0.0.1:5070");
    assert_eq!(changed["settings"]["password_set"], true);
    assert_eq!(changed["calls_per_second"], Value::Null);
    assert_eq!(changed["max_concurrent_calls"], 30);
    let cleared = app
        .patch(
            &format!("/v1/trunks/{id}"),
            &json!({ "settings": { "password": null } }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(cleared["settings"]["password_set"], false);

    // The audit trail records the changes without the secret.
    let audit = app.get("/v1/audit?limit=50").await;
    assert!(
        !audit.text.contains("s3cret-pw"),
        "the audit trail never holds the password"
    );

    assert_eq!(
        app.request(Method::DELETE, &format!("/v1/trunks/{id}"), None)
            .await
            .status,
        204
    );
    app.get(&format!("/v1/trunks/{id}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(app.get("/v1/trunks").await.expect(200)["data"], json!([]));
}

#[tokio::test]
async fn bad_trunks_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({ "kind": "sip", "settings": { "proxy": "h" } }),
            "missing_field",
            "name",
        ),
        (
            json!({ "name": "", "kind": "sip", "settings": { "proxy": "h" } }),
            "invalid_field",
            "name",
        ),
        (
            json!({ "name": "T", "settings": { "proxy": "h" } }),
            "missing_field",
            "kind",
        ),
        (
            json!({ "name": "T", "kind": "pots", "settings": {} }),
            "invalid_field",
            "kind",
        ),
        (
            json!({ "name": "T", "kind": "sip" }),
            "missing_field",
            "settings",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": [] }),
            "invalid_field",
            "settings",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": {} }),
            "missing_field",
            "settings.proxy",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "not a host" } }),
            "invalid_field",
            "settings.proxy",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "pbx.invalid" } }),
            "invalid_field",
            "settings.proxy",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1:99999" } }),
            "invalid_field",
            "settings.proxy",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1", "transport": "sctp" } }),
            "invalid_field",
            "settings.transport",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1", "password": "pw" } }),
            "invalid_field",
            "settings.username",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1", "caller_id": "555" } }),
            "invalid_phone",
            "settings.caller_id",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1", "url": "http://x" } }),
            "unknown_field",
            "settings.url",
        ),
        (
            json!({ "name": "T", "kind": "http_bridge", "settings": { "url": "ftp://bridge" } }),
            "invalid_url",
            "settings.url",
        ),
        // A bridge on the operator's own network is refused unless private targets are allowed.
        (
            json!({ "name": "T", "kind": "http_bridge", "settings": { "url": "http://127.0.0.1:9/dial" } }),
            "webhook_url_not_allowed",
            "settings.url",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1" },
                 "max_concurrent_calls": 0 }),
            "invalid_field",
            "max_concurrent_calls",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1" },
                 "calls_per_second": 1.5 }),
            "invalid_field",
            "calls_per_second",
        ),
        (
            json!({ "name": "T", "kind": "sip", "settings": { "proxy": "127.0.0.1" }, "colour": 1 }),
            "unknown_field",
            "colour",
        ),
    ];
    for (body, code, field) in cases {
        app.post_json("/v1/trunks", &body)
            .await
            .expect_field_error(400, code, field);
    }
    app.post_json("/v1/trunks", &json!([1]))
        .await
        .expect_error(400, "invalid_json");
    assert_eq!(
        app.get("/v1/trunks").await.expect(200)["data"],
        json!([]),
        "nothing was written"
    );

    let trunk = app
        .post_json("/v1/trunks", &sip_trunk())
        .await
        .expect(201)
        .clone();
    let path = format!("/v1/trunks/{}", trunk["id"].as_str().unwrap());
    app.patch(&path, &json!({ "kind": "http_bridge" }))
        .await
        .expect_field_error(400, "invalid_field", "kind");
    app.patch(&path, &json!({ "settings": { "proxy": "" } }))
        .await
        .expect_field_error(400, "invalid_field", "settings.proxy");
    assert_eq!(app.get(&path).await.expect(200), &trunk, "unchanged");
    app.get("/v1/trunks/trk_nope")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn another_accounts_trunk_is_not_found_nor_usable() {
    let app = spawn_app().await;
    let theirs = app.second_account().await;
    let trunk = app
        .post_json("/v1/trunks", &sip_trunk())
        .await
        .expect(201)
        .clone();
    let id = trunk["id"].as_str().unwrap();
    let path = format!("/v1/trunks/{id}");
    for method in [Method::GET, Method::DELETE] {
        app.request_as(Some(&theirs.api_key), method, &path, None)
            .await
            .expect_error(404, "not_found");
    }
    app.request_as(Some(&theirs.api_key), Method::GET, "/v1/trunks", None)
        .await
        .expect(200);
    let mut body = new_callback(&unique_phone(), &tomorrow());
    body["trunk_id"] = json!(id);
    app.request_as(
        Some(&theirs.api_key),
        Method::POST,
        "/v1/callbacks",
        Some(&body),
    )
    .await
    .expect_field_error(400, "invalid_field", "trunk_id");
    app.request_as(
        Some(&theirs.api_key),
        Method::PUT,
        "/v1/settings",
        Some(
            &json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                      "allow_customer_requested_times": false, "max_attempts": null,
                      "attempt_window_days": 7, "default_trunk_id": id }),
        ),
    )
    .await
    .expect_field_error(400, "invalid_field", "default_trunk_id");
}

#[tokio::test]
async fn a_trunk_in_use_is_not_deleted() {
    let app = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    let trunk = bridge_trunk(&app, &app.bridge, json!({})).await;
    let id = trunk["id"].as_str().unwrap();
    let path = format!("/v1/trunks/{id}");

    let mut body = new_callback(&unique_phone(), &tomorrow());
    body["trunk_id"] = json!(id);
    let cb = app.create(&body).await;
    assert_eq!(cb["trunk_id"], id, "the callback shows its trunk");
    app.request(Method::DELETE, &path, None)
        .await
        .expect_error(409, "trunk_in_use");
    app.cancel(cb["id"].as_str().unwrap()).await.expect(200);

    let mut settings = json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                               "allow_customer_requested_times": false, "max_attempts": null,
                               "attempt_window_days": 7, "default_trunk_id": id });
    app.settings(settings.clone()).await;
    assert_eq!(
        app.get("/v1/settings").await.expect(200)["default_trunk_id"],
        id
    );
    // A PUT that leaves the default out keeps it.
    settings.as_object_mut().unwrap().remove("default_trunk_id");
    app.settings(settings.clone()).await;
    assert_eq!(
        app.get("/v1/settings").await.expect(200)["default_trunk_id"],
        id
    );
    app.request(Method::DELETE, &path, None)
        .await
        .expect_error(409, "trunk_in_use");

    settings["default_trunk_id"] = Value::Null;
    app.settings(settings).await;
    assert_eq!(
        app.request(Method::DELETE, &path, None).await.status,
        204,
        "deleted once nothing uses it"
    );
}

#[tokio::test]
async fn calls_go_out_on_the_trunk_their_callback_or_account_names() {
    let app = spawn_app_with(|c| {
        c.allow_private_webhooks = true;
        c.min_lead_seconds = 0;
    })
    .await;
    app.any_hour().await;
    let trunk_bridge = FakeBridge::start().await;
    let named = FakeBridge::start().await;
    let trunk = bridge_trunk(&app, &trunk_bridge, json!({})).await;
    let other = bridge_trunk(&app, &named, json!({ "name": "Named" })).await;

    // Without a default trunk, a callback naming none goes to the server's --dialer-url.
    let plain = app.create_at(&in_ms(300)).await;
    app.bridge.wait_for_callback(&plain, 1, WAIT).await;

    let mut settings = json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                               "allow_customer_requested_times": true, "max_attempts": null,
                               "attempt_window_days": 7, "default_trunk_id": trunk["id"] });
    app.settings(settings.clone()).await;
    let by_default = app.create_at(&in_ms(300)).await;
    let mut body = new_callback(&unique_phone(), &in_ms(300));
    body["trunk_id"] = other["id"].clone();
    let by_name = app.create(&body).await["id"].as_str().unwrap().to_owned();

    let sent = trunk_bridge
        .wait_for_callback(&by_default, 1, WAIT)
        .await
        .remove(0);
    assert_eq!(
        sent.body["trunk_id"], trunk["id"],
        "the payload names the trunk"
    );
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(format!("{by_default}:1").as_str())
    );
    named.wait_for_callback(&by_name, 1, WAIT).await;
    app.wait_for_status(&by_name, "in_progress", WAIT).await;
    assert!(app.bridge.requests_for(&by_default).is_empty());
    assert!(app.bridge.requests_for(&by_name).is_empty());
    assert!(trunk_bridge.requests_for(&by_name).is_empty());

    // A trunk's URL changed takes effect for later calls.
    let moved = FakeBridge::start().await;
    app.patch(
        &format!("/v1/trunks/{}", trunk["id"].as_str().unwrap()),
        &json!({ "settings": { "url": moved.url } }),
    )
    .await
    .expect(200);
    tokio::time::sleep(Duration::from_secs(6)).await; // past the dispatcher's trunk cache
    let later = app.create_at(&in_ms(300)).await;
    moved.wait_for_callback(&later, 1, WAIT).await;

    // A campaign's trunk carries to its calls.
    settings["default_trunk_id"] = Value::Null;
    app.settings(settings).await;
    let playbook = app.playbook("Hello {{ first_name }}").await;
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": playbook, "dialing_mode": "unattended",
                     "trunk_id": other["id"], "launch_at": in_ms(300),
                     "contacts": [{ "phone": unique_phone(), "timezone": "UTC" }] }),
        )
        .await
        .expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let campaign = app
        .get(&format!("/v1/campaigns/{campaign}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(campaign["trunk_id"], other["id"]);
    named
        .wait_for(2, WAIT)
        .await
        .iter()
        .find(|r| r.body["trunk_id"] == other["id"] && r.callback_id() != by_name)
        .expect("the campaign's call went out on its trunk");
    app.post_json(
        "/v1/campaigns",
        &json!({ "playbook_id": playbook, "trunk_id": "trk_01J00000000000000000000000",
                 "contacts": [{ "phone": unique_phone() }] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "trunk_id");
}

#[tokio::test]
async fn a_full_trunk_makes_calls_wait_and_never_fail() {
    let app = spawn_app_with(|c| {
        c.allow_private_webhooks = true;
        c.min_lead_seconds = 0;
    })
    .await;
    app.any_hour().await;
    let bridge = FakeBridge::start().await;
    let trunk = bridge_trunk(&app, &bridge, json!({ "max_concurrent_calls": 2 })).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let mut body = new_callback(&unique_phone(), &in_ms(300));
        body["trunk_id"] = trunk["id"].clone();
        ids.push(app.create(&body).await["id"].as_str().unwrap().to_owned());
    }
    // A callback on no trunk is not held back behind the full one.
    let free = app.create_at(&in_ms(600)).await;
    app.bridge.wait_for_callback(&free, 1, WAIT).await;

    let first = bridge.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(bridge.count(), 2, "two calls under way fill the trunk");
    let waiting: Vec<&String> = ids
        .iter()
        .filter(|id| !first.iter().any(|r| r.callback_id() == id.as_str()))
        .collect();
    for id in &waiting {
        assert_eq!(
            app.get_callback(id).await["status"],
            "scheduled",
            "{id} waits"
        );
    }

    // Each call that ends frees its place for the next.
    for (round, done) in first.iter().enumerate() {
        app.report_outcome(done.callback_id(), &json!({ "outcome": "answered" }))
            .await
            .expect(200);
        bridge.wait_for(3 + round, WAIT).await;
    }
    let next = bridge.requests();
    app.report_outcome(next[2].callback_id(), &json!({ "outcome": "answered" }))
        .await
        .expect(200);
    let all = bridge.wait_for(5, WAIT).await;
    let mut reached: Vec<&str> = all.iter().map(BridgeRequest::callback_id).collect();
    reached.sort();
    reached.dedup();
    assert_eq!(reached.len(), 5, "every call went out once: {reached:?}");
    for id in &ids {
        let cb = app.get_callback(id).await;
        assert_ne!(cb["status"], "failed", "{id} never failed for a full trunk");
        assert_ne!(cb["status"], "expired", "{id}");
        assert_eq!(cb["attempt_count"], 1, "{id}");
    }
}
