//! Agents, presence and queues (ring groups).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn agents_and_queues_are_created_joined_and_listed() {
    let app = spawn_app().await;
    let sales = app
        .post_json(
            "/v1/queues",
            &json!({ "name": "Sales", "offer_timeout_seconds": 20 }),
        )
        .await
        .expect(201)
        .clone();
    let sales_id = sales["id"].as_str().unwrap();
    assert!(sales_id.starts_with("que_"));
    let agent = app
        .post_json(
            "/v1/agents",
            &json!({ "name": "Ann Lee", "external_id": "ext-7", "queue_ids": [sales_id],
                     "concurrency": 2, "timezone": "Europe/London",
                     "working_hours": { "mon": ["09:00-17:00"], "sat": ["10:00-14:00"] } }),
        )
        .await
        .expect(201)
        .clone();
    let agent_id = agent["id"].as_str().unwrap();
    assert!(agent_id.starts_with("agt_"));
    assert_eq!(agent["presence"], "offline", "a new agent is offline");
    assert_eq!(agent["queue_ids"], json!([sales_id]));
    assert_eq!(agent["timezone"], "Europe/London");
    // The queue lists its member.
    let queue = app
        .get(&format!("/v1/queues/{sales_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(queue["member_ids"], json!([agent_id]));
    assert_eq!(queue["offer_timeout_seconds"], 20);

    // A second queue takes the agent through its member list.
    let support = app
        .post_json(
            "/v1/queues",
            &json!({ "name": "Support", "member_ids": [agent_id] }),
        )
        .await
        .expect(201)
        .clone();
    let agent = app
        .get(&format!("/v1/agents/{agent_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(agent["queue_ids"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/v1/agents").await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get("/v1/queues").await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Deleting a queue takes it off the agent; deleting the agent empties its queues.
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/queues/{}", support["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    let agent = app
        .get(&format!("/v1/agents/{agent_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(agent["queue_ids"], json!([sales_id]));
    assert_eq!(
        app.request(Method::DELETE, &format!("/v1/agents/{agent_id}"), None)
            .await
            .status,
        204
    );
    app.get(&format!("/v1/agents/{agent_id}"))
        .await
        .expect_error(404, "not_found");
    let queue = app
        .get(&format!("/v1/queues/{sales_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(queue["member_ids"], json!([]));
}

#[tokio::test]
async fn presence_changes_are_kept_and_audited() {
    let app = spawn_app().await;
    let agent = app
        .post_json("/v1/agents", &json!({ "name": "Bo" }))
        .await
        .expect(201)
        .clone();
    let id = agent["id"].as_str().unwrap();
    let path = format!("/v1/agents/{id}/presence");
    let set = app
        .request(
            Method::PUT,
            &path,
            Some(&json!({ "presence": "available" })),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(set["presence"], "available");
    assert!(ts(&set["presence_changed_at"]) >= ts(&agent["presence_changed_at"]));
    app.request(Method::PUT, &path, Some(&json!({ "presence": "sleeping" })))
        .await
        .expect_field_error(400, "invalid_field", "presence");
    let got = app
        .get(&format!("/v1/agents/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(got["presence"], "available");
    let audit = app
        .get(&format!("/v1/audit?resource_id={id}&action=agent.presence"))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        audit["data"][0]["changes"]["presence"],
        json!({ "before": "offline", "after": "available" })
    );
}

#[tokio::test]
async fn bad_agent_and_queue_input_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "name": "" }), "name", "invalid_field"),
        (
            json!({ "name": "A", "concurrency": 0 }),
            "concurrency",
            "invalid_field",
        ),
        (
            json!({ "name": "A", "timezone": "Mars/Base" }),
            "timezone",
            "invalid_timezone",
        ),
        (
            json!({ "name": "A", "queue_ids": ["que_nope"] }),
            "queue_ids[0]",
            "invalid_field",
        ),
        (
            json!({ "name": "A", "working_hours": { "mon": ["17:00-09:00"] } }),
            "working_hours.mon[0]",
            "invalid_field",
        ),
        (
            json!({ "name": "A", "shift": "late" }),
            "shift",
            "unknown_field",
        ),
    ];
    for (body, field, code) in cases {
        app.post_json("/v1/agents", &body)
            .await
            .expect_field_error(400, code, field);
    }
    app.post_json(
        "/v1/queues",
        &json!({ "name": "Q", "member_ids": ["agt_nope"] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "member_ids[0]");
    app.post_json(
        "/v1/queues",
        &json!({ "name": "Q", "offer_timeout_seconds": 1 }),
    )
    .await
    .expect_field_error(400, "invalid_field", "offer_timeout_seconds");
    assert_eq!(app.get("/v1/agents").await.expect(200)["data"], json!([]));
    assert_eq!(app.get("/v1/queues").await.expect(200)["data"], json!([]));
}

#[tokio::test]
async fn agents_need_the_agents_scopes() {
    let app = spawn_app().await;
    let key = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "crm", "scopes": ["callbacks:write"] }),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request_as(Some(&key), Method::GET, "/v1/agents", None)
        .await
        .expect_error(403, "forbidden");
    let reader = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "wallboard", "scopes": ["agents:read"] }),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request_as(Some(&reader), Method::GET, "/v1/queues", None)
        .await
        .expect(200);
    app.request_as(
        Some(&reader),
        Method::POST,
        "/v1/queues",
        Some(&json!({ "name": "Q" })),
    )
    .await
    .expect_error(403, "forbidden");
}

#[tokio::test]
async fn an_agents_sip_uri_is_checked_shown_changed_and_removed() {
    let app = spawn_app().await;
    let agent = app
        .post_json(
            "/v1/agents",
            &json!({ "name": "Ada", "sip_uri": "sip:ada@pbx.example.com:5070;transport=udp" }),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(
        agent["sip_uri"],
        "sip:ada@pbx.example.com:5070;transport=udp"
    );
    let path = format!("/v1/agents/{}", agent["id"].as_str().unwrap());
    assert_eq!(
        app.get(&path).await.expect(200)["sip_uri"],
        agent["sip_uri"]
    );

    for bad in [
        "tel:+14155550100",
        "ada@pbx.example.com",
        "sip:",
        "sip:ada@bad host",
    ] {
        app.post_json("/v1/agents", &json!({ "name": "Bo", "sip_uri": bad }))
            .await
            .expect_field_error(400, "invalid_field", "sip_uri");
        app.patch(&path, &json!({ "sip_uri": bad }))
            .await
            .expect_field_error(400, "invalid_field", "sip_uri");
    }
    assert_eq!(
        app.get(&path).await.expect(200)["sip_uri"],
        agent["sip_uri"],
        "a refused change wrote nothing"
    );
    let changed = app
        .patch(&path, &json!({ "sip_uri": "sips:ada@[::1]" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(changed["sip_uri"], "sips:ada@[::1]");
    let kept = app
        .patch(&path, &json!({ "name": "Ada L." }))
        .await
        .expect(200)
        .clone();
    assert_eq!(kept["sip_uri"], "sips:ada@[::1]", "left out, it is kept");
    let removed = app
        .patch(&path, &json!({ "sip_uri": null }))
        .await
        .expect(200)
        .clone();
    assert_eq!(removed["sip_uri"], Value::Null);
}
