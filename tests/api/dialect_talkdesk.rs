//! The Talkdesk-style scheduled callbacks dialect: create, list with a total, JSON-Patch
//! updates, cancel with 204, scopes, errors, and what the native API sees.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, in_ms, spawn_app, spawn_app_with, tomorrow, unique_phone};

/// A key of the app's account with these scopes.
async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    app.post_json("/v1/api-keys", &json!({"name": "td", "scopes": scopes}))
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What the page says to send: phone (E.164), UTC time, time zone, assignment type and
/// assignees, caller ID, dialing mode PREVIEW, interaction id and notes.
fn new_callback(phone: &str, agent: &str) -> Value {
    json!({
        "phone_number": phone,
        "scheduled_time_to_call": tomorrow(),
        "timezone": "Europe/Lisbon",
        "assign_type": "SPECIFIC_AGENT",
        "agents": [{"agent_id": agent}],
        "caller_id": "+351910000000",
        "dialing_model": "PREVIEW",
        "interaction_id": "03e5c6f0-53c5-4b76-86ef-8d89ac67cdc6",
        "notes": "Asked about her invoice",
    })
}

/// Asserts Talkdesk's error shape with this status; returns the body.
#[track_caller]
fn td_error(resp: &Resp, status: u16) -> Value {
    let body = resp.expect(status).clone();
    for f in ["code", "message", "description"] {
        assert!(
            body[f].as_str().is_some_and(|s| !s.is_empty()),
            "no {f} in {}",
            resp.text
        );
    }
    body
}

/// Asserts a 400 naming `field`.
#[track_caller]
fn td_field_error(resp: &Resp, field: &str) {
    let body = td_error(resp, 400);
    assert_eq!(body["fields"][0]["name"], field, "{}", resp.text);
}

#[tokio::test]
async fn a_scheduled_callback_is_created_read_and_visible_natively() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let key = key_with(&app, &["schedule-callbacks:write"]).await;
    let phone = unique_phone();
    let body = new_callback(&phone, &agent);
    let resp = app
        .request_as(Some(&key), Method::POST, "/schedule-callbacks", Some(&body))
        .await;
    let cb = resp.expect(201).clone();
    let id = cb["callback_id"].as_str().unwrap();
    assert_eq!(cb["id"], id);
    assert_eq!(cb["phone_number"], phone.as_str());
    assert_eq!(cb["scheduled_time_to_call"], body["scheduled_time_to_call"]);
    assert_eq!(cb["timezone"], "Europe/Lisbon");
    assert_eq!(cb["assign_type"], "SPECIFIC_AGENT");
    assert_eq!(cb["agents"], json!([{"agent_id": agent}]));
    assert_eq!(cb["ring_groups"], json!([]));
    assert_eq!(cb["caller_id"], "+351910000000");
    assert_eq!(cb["dialing_model"], "PREVIEW");
    assert_eq!(cb["interaction_id"], body["interaction_id"]);
    assert_eq!(cb["notes"], "Asked about her invoice");
    assert_eq!(cb["status"], "UNATTEMPTED");
    assert_eq!(cb["origin"], "API");
    assert_eq!(cb["campaign_id"], Value::Null);
    assert_eq!(cb["record_first_name"], Value::Null);
    assert_eq!(cb["record_last_name"], Value::Null);
    assert_eq!(cb["_links"]["self"]["href"], format!("/callbacks/{id}"));

    let read = app
        .request_as(
            Some(&key),
            Method::GET,
            &format!("/schedule-callbacks/{id}"),
            None,
        )
        .await;
    assert_eq!(read.expect(200), &cb);

    let native = app.get_callback(id).await;
    assert_eq!(native["origin"], "talkdesk");
    assert_eq!(native["dialing_mode"], "preview");
    assert_eq!(
        native["assignment"],
        json!({"type": "agent", "ids": [agent]})
    );
    assert_eq!(native["interaction_id"], body["interaction_id"]);
    assert_eq!(native["scheduled_at"], body["scheduled_time_to_call"]);
}

#[tokio::test]
async fn ring_groups_plain_id_lists_and_any_agent_are_accepted() {
    let app = spawn_app().await;
    let queue = app.queue_id("Billing").await;
    let mut body = new_callback(&unique_phone(), "unused");
    body.as_object_mut().unwrap().remove("agents");
    body["assign_type"] = json!("SPECIFIC_RING_GROUP");
    body["ring_groups"] = json!([{"ring_group": queue}]);
    let cb = app
        .post_json("/schedule-callbacks", &body)
        .await
        .expect(201)
        .clone();
    assert_eq!(cb["ring_groups"], json!([{"ring_group": queue}]));
    assert_eq!(
        app.get_callback(cb["id"].as_str().unwrap()).await["assignment"],
        json!({"type": "queue", "ids": [queue]})
    );
    body["ring_groups"] = json!([queue]);
    app.post_json("/schedule-callbacks", &body)
        .await
        .expect(201);
    body["assign_type"] = json!("ANY_ELIGIBLE_AGENT");
    let cb = app
        .post_json("/schedule-callbacks", &body)
        .await
        .expect(201)
        .clone();
    assert_eq!(cb["assign_type"], "ANY_ELIGIBLE_AGENT");
    assert!(app.get_callback(cb["id"].as_str().unwrap()).await["assignment"].is_null());
}

#[tokio::test]
async fn invalid_requests_are_refused_with_the_field() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let good = new_callback(&unique_phone(), &agent);
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("phone_number"), "phone_number"),
        (without("scheduled_time_to_call"), "scheduled_time_to_call"),
        (without("timezone"), "timezone"),
        (without("assign_type"), "assign_type"),
        (without("agents"), "agents"),
        (with("phone_number", json!("910000000")), "phone_number"),
        (with("phone_number", json!(351910000000u64)), "phone_number"),
        (
            with("scheduled_time_to_call", json!("next tuesday")),
            "scheduled_time_to_call",
        ),
        (
            with("scheduled_time_to_call", json!("2020-01-01T10:00:00Z")),
            "scheduled_time_to_call",
        ),
        // Less than the minimum lead time of one minute.
        (
            with("scheduled_time_to_call", json!(in_ms(30_000))),
            "scheduled_time_to_call",
        ),
        (with("timezone", json!("Lisbon")), "timezone"),
        (with("assign_type", json!("MYSELF_ONLY")), "assign_type"),
        (
            with(
                "agents",
                json!([{"agent_id": "agt_01JD0000000000000000000000"}]),
            ),
            "agents[0]",
        ),
        (with("agents", json!([])), "agents"),
        (with("agents", json!("everyone")), "agents"),
        (with("caller_id", json!("12345")), "caller_id"),
        (with("dialing_model", json!("PREDICTIVE")), "dialing_model"),
        (with("notes", json!("x".repeat(5001))), "notes"),
    ];
    for (body, field) in cases {
        let resp = app.post_json("/schedule-callbacks", &body).await;
        td_field_error(&resp, field);
    }
    let resp = app
        .post_raw("/schedule-callbacks", "application/json", "{oops")
        .await;
    td_error(&resp, 400);
    app.assert_no_callbacks("after refused requests").await;
}

#[tokio::test]
async fn scopes_are_schedule_callbacks_read_and_write() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let reader = key_with(&app, &["schedule-callbacks:read"]).await;
    let unrelated = key_with(&app, &["contacts:read"]).await;
    let body = new_callback(&unique_phone(), &agent);
    let resp = app
        .request_as(
            Some(&reader),
            Method::POST,
            "/schedule-callbacks",
            Some(&body),
        )
        .await;
    assert_eq!(td_error(&resp, 403)["code"], "forbidden");
    let id = app
        .post_json("/schedule-callbacks", &body)
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/schedule-callbacks/{id}");
    app.request_as(Some(&reader), Method::GET, "/schedule-callbacks", None)
        .await
        .expect(200);
    app.request_as(Some(&reader), Method::GET, &path, None)
        .await
        .expect(200);
    let patch = json!([{"op": "replace", "path": "/timezone", "value": "Asia/Shanghai"}]);
    for (method, p, b) in [
        (Method::PATCH, path.as_str(), Some(&patch)),
        (Method::DELETE, path.as_str(), None),
    ] {
        let resp = app.request_as(Some(&reader), method, p, b).await;
        td_error(&resp, 403);
    }
    let resp = app
        .request_as(Some(&unrelated), Method::GET, "/schedule-callbacks", None)
        .await;
    td_error(&resp, 403);
    let resp = app
        .request_as(None, Method::GET, "/schedule-callbacks", None)
        .await;
    assert_eq!(td_error(&resp, 401)["code"], "unauthorized");
}

#[tokio::test]
async fn the_list_filters_by_phone_and_pages_with_a_total() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let phone = unique_phone();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let cb = app
            .post_json("/schedule-callbacks", &new_callback(&phone, &agent))
            .await
            .expect(201)
            .clone();
        ids.push(cb["id"].as_str().unwrap().to_owned());
    }
    // Another number, and a native callback: all of the account's callbacks are listed.
    app.post_json(
        "/schedule-callbacks",
        &new_callback(&unique_phone(), &agent),
    )
    .await
    .expect(201);
    app.create_at(&tomorrow()).await;

    let all = app.get("/schedule-callbacks").await.expect(200).clone();
    assert_eq!(all["total"], 7);
    assert_eq!(all["count"], 7);
    assert_eq!(all["page"], 1);
    assert_eq!(all["per_page"], 50);
    assert_eq!(all["total_page"], 1);

    let encoded = phone.replace('+', "%2B");
    let first = app
        .get(&format!(
            "/schedule-callbacks?phone_number={encoded}&page=1&per_page=2"
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(first["total"], 5);
    assert_eq!(first["total_page"], 3);
    assert_eq!(first["count"], 2);
    let page_ids = |page: &Value| -> Vec<String> {
        page["_embedded"]["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Newest first.
    assert_eq!(page_ids(&first), vec![ids[4].clone(), ids[3].clone()]);
    assert!(
        first["_links"]["next"]["href"]
            .as_str()
            .unwrap()
            .contains("page=2")
    );
    assert!(first["_links"].get("prev").is_none());
    let last = app
        .get(&format!(
            "/schedule-callbacks?phone_number={encoded}&page=3&per_page=2"
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(page_ids(&last), vec![ids[0].clone()]);
    assert!(last["_links"].get("next").is_none());
    let past = app
        .get(&format!(
            "/schedule-callbacks?phone_number={encoded}&page=9&per_page=2"
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(past["count"], 0);
    assert_eq!(past["total"], 5);

    for bad in [
        "per_page=0",
        "per_page=501",
        "page=-1",
        "page=two",
        "phone_number=123",
    ] {
        let resp = app.get(&format!("/schedule-callbacks?{bad}")).await;
        td_error(&resp, 400);
    }

    // Another account lists nothing of this one.
    let other = app.second_account().await;
    let theirs = app
        .request_as(
            Some(&other.api_key),
            Method::GET,
            "/schedule-callbacks",
            None,
        )
        .await;
    assert_eq!(theirs.expect(200)["total"], 0);
}

#[tokio::test]
async fn json_patch_replaces_time_phone_zone_and_assignment() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let agent2 = app.agent_id("Monica").await;
    let queue = app.queue_id("Billing").await;
    let cb = app
        .post_json(
            "/schedule-callbacks",
            &new_callback(&unique_phone(), &agent),
        )
        .await
        .expect(201)
        .clone();
    let path = format!("/schedule-callbacks/{}", cb["id"].as_str().unwrap());
    let new_time = "2027-02-10T09:39:19Z";
    let ops = json!([
        {"op": "replace", "path": "/timeToCall", "value": new_time},
        {"op": "replace", "path": "/phoneNumber", "value": "+8613036130259"},
        {"op": "replace", "path": "/timezone", "value": "Asia/Shanghai"},
        {"op": "replace", "path": "/assignType", "value": "SPECIFIC_AGENT"},
        {"op": "replace", "path": "/agents", "value": [agent, agent2]}
    ]);
    let resp = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.api_key)
        .header("Content-Type", "application/json-patch+json")
        .body(ops.to_string())
        .send()
        .await
        .unwrap();
    let updated = Resp::read(resp).await.expect(200).clone();
    assert_eq!(updated["scheduled_time_to_call"], new_time);
    assert_eq!(updated["phone_number"], "+8613036130259");
    assert_eq!(updated["timezone"], "Asia/Shanghai");
    assert_eq!(
        updated["agents"],
        json!([{"agent_id": agent}, {"agent_id": agent2}])
    );
    let native = app.get_callback(cb["id"].as_str().unwrap()).await;
    assert_eq!(native["phone"], "+8613036130259");
    assert_eq!(native["scheduled_at"], new_time);
    assert_eq!(native["scheduled_at_local"], "2027-02-10T17:39:19+08:00");

    // To a ring group.
    let ops = json!([
        {"op": "replace", "path": "/assignType", "value": "SPECIFIC_RING_GROUP"},
        {"op": "replace", "path": "/ringGroups", "value": [{"ring_group": queue}]}
    ]);
    let updated = app.patch(&path, &ops).await.expect(200).clone();
    assert_eq!(updated["assign_type"], "SPECIFIC_RING_GROUP");
    assert_eq!(updated["agents"], json!([]));

    // Refusals leave the callback as it was.
    let bad: Vec<(Value, &str)> = vec![
        (
            json!([{"op": "add", "path": "/timezone", "value": "UTC"}]),
            "[0].op",
        ),
        (
            json!([{"op": "replace", "path": "/status", "value": "SUCCESS"}]),
            "[0].path",
        ),
        (
            json!([{"op": "replace", "path": "/timeToCall", "value": "2020-01-01T00:00:00Z"}]),
            "scheduled_time_to_call",
        ),
        (
            json!([{"op": "replace", "path": "/timeToCall", "value": in_ms(20_000)}]),
            "scheduled_time_to_call",
        ),
        (
            json!([{"op": "replace", "path": "/phoneNumber", "value": "12"}]),
            "phone_number",
        ),
        (
            json!([{"op": "replace", "path": "/timezone", "value": "Nowhere/Land"}]),
            "timezone",
        ),
        (
            json!([{"op": "replace", "path": "/timezone", "value": 5}]),
            "timezone",
        ),
        (
            json!([{"op": "replace", "path": "/assignType", "value": "SPECIFIC_AGENT"}]),
            "agents",
        ),
        (
            json!([{"op": "replace", "path": "/agents", "value": ["agt_01JD0000000000000000000000"]}]),
            "agents",
        ),
    ];
    for (ops, field) in bad {
        let resp = app.patch(&path, &ops).await;
        let body = td_error(&resp, 400);
        assert!(
            body["fields"][0]["name"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{ops}: {}",
            resp.text
        );
    }
    td_error(&app.patch(&path, &json!([])).await, 400);
    td_error(&app.patch(&path, &json!({"op": "replace"})).await, 400);
    let after = app.get(&path).await.expect(200).clone();
    assert_eq!(after["assign_type"], "SPECIFIC_RING_GROUP");
    assert_eq!(after["timezone"], "Asia/Shanghai");
}

#[tokio::test]
async fn delete_cancels_with_204_and_ids_stay_in_their_account() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let cb = app
        .post_json(
            "/schedule-callbacks",
            &new_callback(&unique_phone(), &agent),
        )
        .await
        .expect(201)
        .clone();
    let id = cb["id"].as_str().unwrap();
    let path = format!("/schedule-callbacks/{id}");

    let other = app.second_account().await;
    let ops = json!([{"op": "replace", "path": "/timezone", "value": "UTC"}]);
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(&ops)),
        (Method::DELETE, None),
    ] {
        let resp = app
            .request_as(Some(&other.api_key), method, &path, body)
            .await;
        assert_eq!(td_error(&resp, 404)["code"], "not_found");
    }
    td_error(&app.get("/schedule-callbacks/not-an-id").await, 404);

    let resp = app.request(Method::DELETE, &path, None).await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    assert!(resp.text.is_empty());
    assert_eq!(app.get_callback(id).await["status"], "canceled");
    assert_eq!(app.get(&path).await.expect(200)["status"], "CANCELED");
    // Once canceled, it cannot be changed.
    assert_eq!(
        td_error(&app.patch(&path, &ops).await, 409)["code"],
        "invalid_state"
    );
}

#[tokio::test]
async fn oversized_bodies_and_wrong_methods_keep_the_shape() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4 * 1024).await;
    let agent = app.agent_id("Chandler").await;
    let mut body = new_callback(&unique_phone(), &agent);
    body["notes"] = json!("x".repeat(8 * 1024));
    let resp = app.post_json("/schedule-callbacks", &body).await;
    assert_eq!(td_error(&resp, 413)["code"], "payload_too_large");
    let resp = app
        .request(Method::PUT, "/schedule-callbacks", Some(&json!({})))
        .await;
    td_error(&resp, 405);
}

#[tokio::test]
async fn statuses_follow_the_callbacks_life() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let cb = app
        .post_json(
            "/schedule-callbacks",
            &new_callback(&unique_phone(), &agent),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(cb["status"], "UNATTEMPTED");
    // A native progressive callback that the bridge takes, then reports answered.
    let id = app.dispatched_callback(1_500).await;
    let path = format!("/schedule-callbacks/{id}");
    assert_eq!(app.get(&path).await.expect(200)["status"], "IN_PROGRESS");
    app.report_outcome(&id, &json!({"outcome": "answered"}))
        .await
        .expect(200);
    let done = app.get(&path).await.expect(200).clone();
    assert_eq!(done["status"], "SUCCESS");
    // Made through the native API: Talkdesk's API origin.
    assert_eq!(done["origin"], "API");
    let id = app.dispatched_callback(1_500).await;
    app.report_outcome(&id, &json!({"outcome": "failed"}))
        .await
        .expect(200);
    let path = format!("/schedule-callbacks/{id}");
    assert_eq!(app.get(&path).await.expect(200)["status"], "INVALID_NUMBER");
    let id = app.dispatched_callback(1_500).await;
    app.report_outcome(&id, &json!({"outcome": "no_answer"}))
        .await
        .expect(200);
    let path = format!("/schedule-callbacks/{id}");
    assert_eq!(app.get(&path).await.expect(200)["status"], "EXHAUSTED");
    let canceled = app.create_at(&tomorrow()).await;
    app.cancel(&canceled).await.expect(200);
    each_status_filter_matches_what_is_shown(&app).await;
}

/// Every Talkdesk status filters exactly the callbacks shown with it.
async fn each_status_filter_matches_what_is_shown(app: &TestApp) {
    let all = app
        .get("/schedule-callbacks?per_page=500")
        .await
        .expect(200)
        .clone();
    let shown: Vec<(String, String)> = all["_embedded"]["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cb| {
            (
                cb["id"].as_str().unwrap().to_owned(),
                cb["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for status in [
        "UNATTEMPTED",
        "IN_PROGRESS",
        "TO_BE_RETRIED",
        "SUCCESS",
        "CANCELED",
        "EXHAUSTED",
        "INVALID_NUMBER",
    ] {
        let listed = app
            .get(&format!("/schedule-callbacks?status={status}&per_page=500"))
            .await
            .expect(200)
            .clone();
        let mut ids: Vec<String> = listed["_embedded"]["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|cb| {
                assert_eq!(cb["status"], status, "{listed}");
                cb["id"].as_str().unwrap().to_owned()
            })
            .collect();
        let mut expected: Vec<String> = shown
            .iter()
            .filter(|(_, s)| s == status)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        expected.sort();
        assert_eq!(ids, expected, "status={status}");
        assert_eq!(listed["total"], expected.len(), "status={status}");
        seen.extend(ids);
    }
    assert_eq!(seen.len(), shown.len(), "every callback shows one of them");
}

#[tokio::test]
async fn the_list_filters_by_agent_and_campaign_and_refuses_unknown_filters() {
    let app = spawn_app().await;
    let (ada, bob) = (app.agent_id("Ada").await, app.agent_id("Bob").await);
    let mut for_ada = Vec::new();
    for _ in 0..3 {
        let cb = app
            .post_json("/schedule-callbacks", &new_callback(&unique_phone(), &ada))
            .await
            .expect(201)
            .clone();
        for_ada.push(cb["id"].as_str().unwrap().to_owned());
    }
    app.post_json("/schedule-callbacks", &new_callback(&unique_phone(), &bob))
        .await
        .expect(201);
    let listed = app
        .get(&format!("/schedule-callbacks?agent_id={ada}&per_page=2"))
        .await
        .expect(200)
        .clone();
    assert_eq!(listed["total"], 3, "{listed}");
    assert_eq!(listed["total_pages"], 2, "{listed}");
    assert_eq!(listed["total_page"], 2, "{listed}");
    let next = listed["_links"]["next"]["href"].as_str().unwrap();
    assert!(next.contains(&format!("agent_id={ada}")), "{next}");
    let page2 = app.get(next).await.expect(200).clone();
    let mut ids: Vec<String> = [&listed, &page2]
        .iter()
        .flat_map(|p| p["_embedded"]["callbacks"].as_array().unwrap().clone())
        .map(|cb| {
            assert_eq!(cb["agents"][0]["agent_id"], ada.as_str());
            cb["id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    for_ada.sort();
    assert_eq!(ids, for_ada);

    // A campaign's calls, and only them.
    app.any_hour().await;
    let playbook = app.playbook("Hello from Acme.").await;
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": playbook, "launch_at": tomorrow(),
                     "contacts": [ { "phone": unique_phone() }, { "phone": unique_phone() } ] }),
        )
        .await
        .expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_campaign = app
        .get(&format!("/schedule-callbacks?campaign_id={campaign}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(by_campaign["total"], 2, "{by_campaign}");
    for cb in by_campaign["_embedded"]["callbacks"].as_array().unwrap() {
        assert_eq!(cb["campaign_id"], campaign.as_str());
        let native = app.get_callback(cb["id"].as_str().unwrap()).await;
        assert_eq!(native["campaign_id"], campaign.as_str());
    }
    assert_eq!(app.get("/schedule-callbacks").await.expect(200)["total"], 6);

    // The contact's name, as first and last names.
    let mut named = crate::helpers::new_callback(&unique_phone(), &tomorrow());
    named["contact_name"] = json!("Ann Marie Smith");
    let id = app.create(&named).await["id"].as_str().unwrap().to_owned();
    let shown = app
        .get(&format!("/schedule-callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(shown["record_first_name"], "Ann", "{shown}");
    assert_eq!(shown["record_last_name"], "Marie Smith", "{shown}");
    assert_eq!(shown["origin"], "API");

    // A filter the list does not know is refused, never dropped; so are malformed ids.
    for (query, field) in [
        ("agentId=agt_x", "agentId"),
        ("team_id=1", "team_id"),
        ("agent_id=bob", "agent_id"),
        ("campaign_id=42", "campaign_id"),
        ("status=DONE", "status"),
    ] {
        let resp = app.get(&format!("/schedule-callbacks?{query}")).await;
        let body = td_error(&resp, 400);
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
    let most = app.get("/schedule-callbacks?per_page=500").await;
    assert_eq!(most.expect(200)["per_page"], 500);
}

#[tokio::test]
async fn a_callback_the_bridge_refused_is_to_be_retried() {
    let app = spawn_app().await;
    app.bridge.always_fail(true);
    let id = app.create_at(&in_ms(1_500)).await;
    let path = format!("/schedule-callbacks/{id}");
    crate::helpers::eventually(crate::helpers::WAIT, "TO_BE_RETRIED", || async {
        let cb = app.get(&path).await.expect(200).clone();
        (cb["status"] == "TO_BE_RETRIED").then_some(())
    })
    .await;
    each_status_filter_matches_what_is_shown(&app).await;
}

#[tokio::test]
async fn a_jwt_with_the_talkdesk_scopes_is_accepted() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let app = spawn_app().await;
    let secret = "a-shared-secret-of-at-least-32-characters!";
    app.request(
        Method::PUT,
        "/v1/jwt-key",
        Some(&json!({"algorithm": "HS256", "secret": secret})),
    )
    .await
    .expect(200);
    let token = |scope: &str| {
        let claims = json!({
            "account_id": app.account_id, "sub": "website-form", "scope": scope,
            "exp": jiff::Timestamp::now().as_second() + 300,
        });
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let agent = app.agent_id("Chandler").await;
    let body = new_callback(&unique_phone(), &agent);
    let writer = token("schedule-callbacks:write");
    let resp = app
        .request_as(
            Some(&writer),
            Method::POST,
            "/schedule-callbacks",
            Some(&body),
        )
        .await;
    let id = resp.expect(201)["id"].as_str().unwrap().to_owned();
    let reader = token("schedule-callbacks:read");
    app.request_as(Some(&reader), Method::GET, "/schedule-callbacks", None)
        .await
        .expect(200);
    let resp = app
        .request_as(
            Some(&reader),
            Method::DELETE,
            &format!("/schedule-callbacks/{id}"),
            None,
        )
        .await;
    td_error(&resp, 403);
}

/// `created_by` names who created the callback (the API key that sent the request, by id),
/// and `_links.self` is Talkdesk's `/callbacks/{id}`, which a client can follow.
#[tokio::test]
async fn the_callback_names_its_creator_and_its_self_link_answers() {
    let app = spawn_app().await;
    let agent = app.agent_id("Chandler").await;
    let made = app
        .post_json(
            "/v1/api-keys",
            &json!({"name": "website form",
                    "scopes": ["schedule-callbacks:write", "schedule-callbacks:read"]}),
        )
        .await
        .expect(201)
        .clone();
    let (key, key_id) = (made["key"].as_str().unwrap(), made["id"].as_str().unwrap());
    let cb = app
        .request_as(
            Some(key),
            Method::POST,
            "/schedule-callbacks",
            Some(&new_callback(&unique_phone(), &agent)),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(cb["created_by"], key_id, "{cb}");
    let id = cb["id"].as_str().unwrap();
    let href = cb["_links"]["self"]["href"].as_str().unwrap();
    assert_eq!(href, format!("/callbacks/{id}"));
    let followed = app.request_as(Some(key), Method::GET, href, None).await;
    assert_eq!(followed.expect(200), &cb);
    // The list shows the same object.
    let listed = app
        .request_as(Some(key), Method::GET, "/schedule-callbacks", None)
        .await
        .expect(200)
        .clone();
    assert_eq!(listed["_embedded"]["callbacks"][0], cb);

    // A callback created natively by another key names that key.
    let native = app
        .create(&crate::helpers::new_callback(&unique_phone(), &tomorrow()))
        .await;
    let shown = app
        .get(&format!(
            "/schedule-callbacks/{}",
            native["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .clone();
    let creator = shown["created_by"].as_str().unwrap();
    assert!(creator.starts_with("key_") && creator != key_id, "{shown}");

    // The self link is read-only, answers in Talkdesk's shape, and needs the read scope.
    td_error(&app.request(Method::DELETE, href, None).await, 405);
    td_error(&app.get("/callbacks/cb_unknown").await, 404);
    let stranger = key_with(&app, &["contacts:read"]).await;
    td_error(
        &app.request_as(Some(&stranger), Method::GET, href, None)
            .await,
        403,
    );
}

/// `dialing_model` only ever shows the two models Talkdesk documents: a preview callback is
/// `PREVIEW`, every mode in which Ringback dials by itself is `PREDICTIVE`.
#[tokio::test]
async fn dialing_model_shows_only_the_models_talkdesk_documents() {
    let app = spawn_app().await;
    for (native, shown) in [
        ("preview", "PREVIEW"),
        ("progressive", "PREDICTIVE"),
        ("ai", "PREDICTIVE"),
        ("unattended", "PREDICTIVE"),
    ] {
        let cb = app
            .create(&json!({
                "phone": unique_phone(),
                "scheduled_at": tomorrow(),
                "dialing_mode": native,
            }))
            .await;
        let read = app
            .get(&format!(
                "/schedule-callbacks/{}",
                cb["id"].as_str().unwrap()
            ))
            .await
            .expect(200)
            .clone();
        assert_eq!(read["dialing_model"], shown, "{native}");
        assert_eq!(read["origin"], "API", "{native}");
    }
}
