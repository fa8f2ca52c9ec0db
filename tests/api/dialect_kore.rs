//! Kore.ai-style campaign callbacks: `callContactAt` on a native campaign's entries, its
//! per-item answers, reopening an ended entry with its history, and the errors.

use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const SECRET: &str = "a-kore-shared-secret-of-at-least-32-chars";

fn path(bot: &str, campaign: &str) -> String {
    format!("/campaign/api/v2/public/{bot}/campaign/{campaign}/callContactAt")
}

/// A JWT signed with the account's registered HS256 secret.
fn token(account: &str, scope: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "account_id": account, "sub": "kore-bot", "scope": scope,
                 "exp": now + 300, "iat": now }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// Registers the secret and opens calls at any hour; answers a writer's token.
async fn setup(app: &TestApp) -> String {
    app.request(
        Method::PUT,
        "/v1/jwt-key",
        Some(&json!({ "algorithm": "HS256", "secret": SECRET })),
    )
    .await
    .expect(200);
    app.request(
        Method::PUT,
        "/v1/settings",
        Some(
            &json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                      "allow_customer_requested_times": true, "max_attempts": null,
                      "attempt_window_days": 7 }),
        ),
    )
    .await
    .expect(200);
    token(&app.account_id, "campaigns:write")
}

/// A campaign of `n` contacts starting at `launch_at` (now if `None`); its id and entries.
async fn campaign(app: &TestApp, n: usize, launch_at: Option<String>) -> (String, Vec<Value>) {
    let pb = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Kore", "initial_message": "Hi" }),
        )
        .await
        .expect(201)["id"]
        .clone();
    let contacts: Vec<Value> = (0..n).map(|_| json!({ "phone": unique_phone() })).collect();
    let mut body = json!({ "playbook_id": pb, "contacts": contacts });
    if let Some(at) = launch_at {
        body["launch_at"] = at.into();
    }
    let id = app.post_json("/v1/campaigns", &body).await.expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entries = app
        .get(&format!("/v1/campaigns/{id}/contacts"))
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
        .clone();
    (id, entries)
}

/// Sends the page's curl request with its headers.
async fn send(app: &TestApp, path: &str, auth: Option<&str>, account: &str, body: &str) -> Resp {
    let mut req = app
        .client
        .post(app.url(path))
        .header("accountid", account)
        .header("iid", "st-c663aae2-2e00-5e95-9fa9acca1a2e")
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(auth) = auth {
        req = req.header("auth", format!("{auth} "));
    }
    Resp::read(req.send().await.unwrap()).await
}

fn in_hours(h: i64) -> String {
    at_ms(h * 3600 * 1000).to_string()
}

/// The error shape with this status.
#[track_caller]
fn failure(resp: &Resp, status: u16) -> String {
    let body = resp.expect(status);
    assert_eq!(body["status"], "failed", "{}", resp.text);
    let msg = body["errors"][0]["msg"].as_str().unwrap().to_owned();
    assert!(body["errors"][0]["code"].is_string(), "{}", resp.text);
    msg
}

#[tokio::test]
async fn the_pages_request_moves_pending_entries_and_answers_each_item() {
    let app = spawn_app().await;
    let jwt = setup(&app).await;
    let (id, entries) = campaign(&app, 2, Some(in_hours(48))).await;
    let by_callback = entries[0]["callback_id"].as_str().unwrap();
    let by_contact = entries[1]["contact_id"].as_str().unwrap();
    let (t1, t2) = (in_hours(5), in_hours(6));
    let body = json!([
        { "campaignDialingListId": by_callback, "timeToContact": t1 },
        { "campaignDialingListId": by_contact, "timeToContact": t2 },
        { "campaignDialingListId": by_callback, "timeToContact": "2020-06-18T17:55:00Z" },
        { "campaignDialingListId": "cid-1741dc3-dd1-4ddc085c8e44", "timeToContact": t1 },
        { "campaignDialingListId": by_callback, "timeToContact": "tomorrow at noon" },
        { "campaignDialingListId": by_callback, "timeToContact": 5 },
        { "timeToContact": t1 },
    ]);
    let resp = send(
        &app,
        &path("st-1", &id),
        Some(&jwt),
        "685bd2bfa5b15d",
        &body.to_string(),
    )
    .await;
    let answer = resp.expect(200);
    assert_eq!(answer["status"], "success");
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 7);
    let got: Vec<(&str, &str)> = data
        .iter()
        .map(|d| {
            // A success says what it did in `action`; only a failure has a `reason`.
            let why = if d["status"] == "success" {
                assert!(d.get("reason").is_none(), "{d}");
                &d["action"]
            } else {
                assert!(d.get("action").is_none(), "{d}");
                &d["reason"]
            };
            (d["status"].as_str().unwrap(), why.as_str().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("success", "rescheduled"),
            ("success", "rescheduled"),
            ("failed", "time_in_past"),
            ("failed", "unknown_dialing_list_id"),
            ("failed", "invalid_time"),
            ("failed", "invalid_time"),
            ("failed", "invalid_dialing_list_id"),
        ]
    );
    assert_eq!(data[0]["campaignDialingListId"], by_callback);
    assert_eq!(data[1]["campaignDialingListId"], by_contact);
    assert_eq!(
        data[3]["campaignDialingListId"],
        "cid-1741dc3-dd1-4ddc085c8e44"
    );

    // The native API sees the entries' own callbacks at the new times, still campaign calls.
    let first = app.get_callback(by_callback).await;
    assert_eq!(ts(&first["scheduled_at"]), t1.parse().unwrap());
    assert_eq!(first["origin"], "campaign");
    assert_eq!(first["campaign_id"], id.as_str());
    assert_eq!(first["metadata"]["kore"]["bot_id"], "st-1");
    assert_eq!(first["metadata"]["kore"]["account_id"], "685bd2bfa5b15d");
    let second = app
        .get_callback(entries[1]["callback_id"].as_str().unwrap())
        .await;
    assert_eq!(ts(&second["scheduled_at"]), t2.parse().unwrap());
    assert_eq!(data[1]["callbackId"], second["id"]);
}

#[tokio::test]
async fn reopening_an_ended_entry_keeps_its_attempts_and_history() {
    let app = spawn_quick_app().await;
    let jwt = setup(&app).await;
    let (id, entries) = campaign(&app, 1, None).await;
    let cb = entries[0]["callback_id"].as_str().unwrap().to_owned();
    app.wait_for_status(&cb, "in_progress", WAIT).await;
    let p = path("st-1", &id);
    let item =
        |at: String| json!([{ "campaignDialingListId": cb, "timeToContact": at }]).to_string();

    // A call in progress is a per-item failure.
    let resp = send(&app, &p, Some(&jwt), &app.account_id, &item(in_hours(2))).await;
    assert_eq!(resp.expect(200)["data"][0]["reason"], "call_in_progress");

    // Not answered, no recall left: failed. Kore reopens the same callback.
    app.report_outcome(&cb, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200);
    assert_eq!(app.get_callback(&cb).await["status"], "failed");
    let at = in_hours(3);
    let resp = send(&app, &p, Some(&jwt), &app.account_id, &item(at.clone())).await;
    let data = &resp.expect(200)["data"][0];
    assert_eq!(data["status"], "success", "{}", resp.text);
    assert_eq!(data["action"], "reopened");
    assert!(data.get("reason").is_none(), "{data}");
    assert_eq!(data["callbackId"], cb.as_str());

    let after = app.get_callback(&cb).await;
    assert_eq!(after["status"], "scheduled");
    assert!(after["outcome"].is_null(), "{after}");
    assert_eq!(ts(&after["scheduled_at"]), at.parse().unwrap());
    assert_eq!(after["attempts"].as_array().unwrap().len(), 1, "{after}");
    let reopened = events_of(&after, "callback.rescheduled");
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0]["data"]["reason"], "kore", "{}", reopened[0]);
    assert!(
        !events_of(&after, "callback.failed").is_empty(),
        "history kept"
    );
    let listed = app
        .get(&format!("/v1/campaigns/{id}/contacts"))
        .await
        .expect(200)["data"][0]
        .clone();
    assert_eq!(listed["status"], "scheduled");
    assert_eq!(listed["attempts"], 1);

    // The audit trail names the JWT's subject.
    let audit = app
        .get(&format!("/v1/audit?resource_id={cb}"))
        .await
        .expect(200)["data"]
        .clone();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "callback.reopen"
                && e["actor"] == json!({ "type": "jwt", "id": "kore-bot" })),
        "{audit}"
    );
}

#[tokio::test]
async fn bad_requests_answer_in_the_error_shape_never_500() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4 * 1024).await;
    let jwt = setup(&app).await;
    let (id, entries) = campaign(&app, 1, Some(in_hours(48))).await;
    let p = path("st-1", &id);
    let ok = json!([{ "campaignDialingListId": entries[0]["callback_id"], "timeToContact": in_hours(5) }])
        .to_string();
    let acc = app.account_id.clone();

    // 401: no token, a token signed with another secret, an API key is fine.
    failure(&send(&app, &p, None, &acc, &ok).await, 401);
    let forged = encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "account_id": acc, "scope": "campaigns:write", "exp": jiff::Timestamp::now().as_second() + 60 }),
        &EncodingKey::from_secret(b"not-the-registered-secret-at-all-no"),
    )
    .unwrap();
    failure(&send(&app, &p, Some(&forged), &acc, &ok).await, 401);
    send(&app, &p, Some(&app.api_key), &acc, &ok)
        .await
        .expect(200);
    // 403: a token without campaigns:write; an accountId naming another account.
    let reader = token(&acc, "campaigns:read");
    failure(&send(&app, &p, Some(&reader), &acc, &ok).await, 403);
    let other = app.second_account().await;
    failure(
        &send(&app, &p, Some(&jwt), &other.account_id, &ok).await,
        403,
    );
    // 400: missing iid or accountId headers.
    let resp = Resp::read(
        app.client
            .post(app.url(&p))
            .header("auth", &jwt)
            .header("accountId", &acc)
            .header("content-type", "application/json")
            .body(ok.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(failure(&resp, 400).contains("iid"));
    let resp = Resp::read(
        app.client
            .post(app.url(&p))
            .header("auth", &jwt)
            .header("iid", "st-1")
            .header("content-type", "application/json")
            .body(ok.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(failure(&resp, 400).to_lowercase().contains("accountid"));
    // 404: an unknown campaign, a malformed id, another account's campaign.
    for missing in ["cmp_01JB0000000000000000000000", "nope"] {
        failure(
            &send(&app, &path("st-1", missing), Some(&jwt), &acc, &ok).await,
            404,
        );
    }
    let theirs = app
        .request_as(
            Some(&other.api_key),
            Method::POST,
            "/v1/playbooks",
            Some(&json!({ "name": "Theirs", "initial_message": "Hi" })),
        )
        .await
        .expect(201)["id"]
        .clone();
    let their_campaign = app
        .request_as(
            Some(&other.api_key),
            Method::POST,
            "/v1/campaigns",
            Some(&json!({ "playbook_id": theirs, "launch_at": in_hours(48),
                          "contacts": [{ "phone": unique_phone() }] })),
        )
        .await
        .expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    failure(
        &send(&app, &path("st-1", &their_campaign), Some(&jwt), &acc, &ok).await,
        404,
    );
    // Another campaign's entry is unknown in this one.
    let (_, mine_elsewhere) = campaign(&app, 1, Some(in_hours(48))).await;
    let body = json!([{ "campaignDialingListId": mine_elsewhere[0]["callback_id"], "timeToContact": in_hours(5) }]);
    let resp = send(&app, &p, Some(&jwt), &acc, &body.to_string()).await;
    assert_eq!(
        resp.expect(200)["data"][0]["reason"],
        "unknown_dialing_list_id"
    );
    // 400: malformed JSON, not an array, an empty array.
    for bad in ["[{", "{\"campaignDialingListId\": \"x\"}", "[]", "42"] {
        failure(&send(&app, &p, Some(&jwt), &acc, bad).await, 400);
    }
    // 413 and 405 in the same shape.
    let big =
        json!([{ "campaignDialingListId": "x".repeat(8 * 1024), "timeToContact": in_hours(5) }]);
    failure(
        &send(&app, &p, Some(&jwt), &acc, &big.to_string()).await,
        413,
    );
    let resp = Resp::read(
        app.client
            .get(app.url(&p))
            .header("auth", &jwt)
            .send()
            .await
            .unwrap(),
    )
    .await;
    failure(&resp, 405);
}

#[tokio::test]
async fn do_not_call_skips_and_canceled_campaigns_are_per_item_failures() {
    let app = spawn_quick_app().await;
    let jwt = setup(&app).await;
    // A number put on the do-not-call list before the launch is skipped when it falls due.
    let phone = unique_phone();
    app.post_json("/v1/dnc", &json!({ "phone": phone, "source": "crm" }))
        .await
        .expect(201);
    let pb = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Kore", "initial_message": "Hi" }),
        )
        .await
        .expect(201)["id"]
        .clone();
    let id = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": pb, "contacts": [{ "phone": phone }, { "phone": unique_phone() }] }),
        )
        .await
        .expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entries = app
        .get(&format!("/v1/campaigns/{id}/contacts"))
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
        .clone();
    let (skipped, other) = match entries.iter().position(|e| e["phone"] == phone.as_str()) {
        Some(0) => (&entries[0], &entries[1]),
        _ => (&entries[1], &entries[0]),
    };
    let skipped = skipped["callback_id"].as_str().unwrap().to_owned();
    let other = other["callback_id"].as_str().unwrap().to_owned();
    let cb = app.wait_for_status(&skipped, "canceled", WAIT).await;
    assert_eq!(cb["outcome"], "skipped_dnc");
    let p = path("st-1", &id);
    let item = |cb: &str| {
        json!([{ "campaignDialingListId": cb, "timeToContact": in_hours(2) }]).to_string()
    };
    let resp = send(&app, &p, Some(&jwt), &app.account_id, &item(&skipped)).await;
    assert_eq!(resp.expect(200)["data"][0]["reason"], "dnc");
    assert_eq!(app.get_callback(&skipped).await["status"], "canceled");

    app.request(Method::POST, &format!("/v1/campaigns/{id}/cancel"), None)
        .await
        .expect(200);
    let resp = send(&app, &p, Some(&jwt), &app.account_id, &item(&other)).await;
    assert_eq!(
        resp.expect(200)["data"][0]["reason"],
        "campaign_not_running"
    );
}

/// The campaign's entries, in the order of `phones`.
async fn entries_by_phone(app: &TestApp, id: &str, phones: &[String]) -> Vec<Value> {
    let listed = app
        .get(&format!("/v1/campaigns/{id}/contacts"))
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
        .clone();
    phones
        .iter()
        .map(|p| {
            listed
                .iter()
                .find(|e| e["phone"] == p.as_str())
                .unwrap()
                .clone()
        })
        .collect()
}

/// Kore.ai names an entry by its own id (`cid-...`): the contact's `external_id`, given with
/// the campaign's contacts, through the contacts API or in a CSV import, and shown on the
/// contact and on the campaign's entries.
#[tokio::test]
async fn entries_are_named_by_kores_own_ids() {
    let app = spawn_app().await;
    let jwt = setup(&app).await;
    let pb = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Kore", "initial_message": "Hi" }),
        )
        .await
        .expect(201)["id"]
        .clone();
    let phones: Vec<String> = (0..3).map(|_| unique_phone()).collect();
    let ids = [
        "cid-1741dc3-aaaa-4ddc085c8e44",
        "cid-1741dc3-bbbb-4ddc085c8e44",
        "cid-1741dc3-cccc-4ddc085c8e44",
    ];
    let id = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": pb, "launch_at": in_hours(48), "contacts": [
                { "phone": phones[0], "external_id": ids[0] },
                { "phone": phones[1] },
                { "phone": phones[2] },
            ] }),
        )
        .await
        .expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = entries_by_phone(&app, &id, &phones).await;
    assert_eq!(before[0]["external_id"], ids[0]);
    assert_eq!(before[1]["external_id"], Value::Null);
    // The second through the contacts API, the third by a CSV import.
    let contact = before[1]["contact_id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/v1/contacts/{contact}"),
            &json!({ "external_id": ids[1] }),
        )
        .await;
    assert_eq!(patched.expect(200)["external_id"], ids[1]);
    let report = app
        .post_raw(
            "/v1/contacts/import",
            "text/csv",
            format!("phone,external_id\n{},{}\n", phones[2], ids[2]),
        )
        .await;
    assert_eq!(report.expect(200)["updated"], 1, "{}", report.text);
    let shown = app
        .get(&format!(
            "/v1/contacts/{}",
            before[2]["contact_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown.expect(200)["external_id"], ids[2]);
    let after = entries_by_phone(&app, &id, &phones).await;
    for (entry, external) in after.iter().zip(ids) {
        assert_eq!(entry["external_id"], external, "{entry}");
    }

    let times = [in_hours(5), in_hours(6), in_hours(7)];
    let body: Vec<Value> = ids
        .iter()
        .zip(&times)
        .map(|(cid, t)| json!({ "campaignDialingListId": cid, "timeToContact": t }))
        .chain([json!({ "campaignDialingListId": "cid-unknown", "timeToContact": times[0] })])
        .collect();
    let resp = send(
        &app,
        &path("st-1", &id),
        Some(&jwt),
        &app.account_id,
        &Value::from(body).to_string(),
    )
    .await;
    let data = resp.expect(200)["data"].as_array().unwrap().clone();
    for ((item, entry), (cid, t)) in data.iter().zip(&after).zip(ids.iter().zip(&times)) {
        assert_eq!(item["campaignDialingListId"], *cid, "{item}");
        assert_eq!(item["status"], "success", "{item}");
        assert_eq!(item["callbackId"], entry["callback_id"], "{item}");
        let cb = app
            .get_callback(entry["callback_id"].as_str().unwrap())
            .await;
        assert_eq!(cb["scheduled_at"], t.as_str());
    }
    assert_eq!(data[3]["status"], "failed");
    assert_eq!(data[3]["reason"], "unknown_dialing_list_id");
}

/// An `external_id` is unique within the account: another contact's is `409` naming the
/// field, wherever it is set; a malformed one is `400`; nothing is written by a refusal.
#[tokio::test]
async fn external_ids_are_unique_within_the_account_and_checked() {
    let app = spawn_app().await;
    let taken = "cid-0001";
    let (a, b) = (unique_phone(), unique_phone());
    let created = app
        .post_json("/v1/contacts", &json!({ "phone": a, "external_id": taken }))
        .await;
    assert_eq!(created.expect(201)["external_id"], taken);
    // Upserting the same contact again with its own id is no conflict.
    app.post_json("/v1/contacts", &json!({ "phone": a, "external_id": taken }))
        .await
        .expect(200);
    app.post_json("/v1/contacts", &json!({ "phone": b, "external_id": taken }))
        .await
        .expect_field_error(409, "duplicate_external_id", "external_id");
    assert_eq!(
        app.get(&format!("/v1/contacts?phone=%2B{}", &b[1..]))
            .await
            .expect(200)["data"],
        json!([]),
        "the refused contact was not created"
    );
    let other = app
        .post_json("/v1/contacts", &json!({ "phone": b }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch(
        &format!("/v1/contacts/{other}"),
        &json!({ "external_id": taken }),
    )
    .await
    .expect_field_error(409, "duplicate_external_id", "external_id");
    assert_eq!(
        app.get(&format!("/v1/contacts/{other}")).await.expect(200)["external_id"],
        Value::Null
    );
    // In a campaign's contacts and in a CSV import.
    let pb = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Kore", "initial_message": "Hi" }),
        )
        .await
        .expect(201)["id"]
        .clone();
    app.post_json(
        "/v1/campaigns",
        &json!({ "playbook_id": pb, "contacts": [{ "phone": unique_phone(), "external_id": taken }] }),
    )
    .await
    .expect_field_error(409, "duplicate_external_id", "contacts[0].external_id");
    let report = app
        .post_raw(
            "/v1/contacts/import",
            "text/csv",
            format!("phone,external_id\n{},{taken}\n", unique_phone()),
        )
        .await;
    let report = report.expect(200);
    assert_eq!(report["created"], 0, "{report}");
    assert_eq!(
        report["errors"][0]["code"], "duplicate_external_id",
        "{report}"
    );
    assert_eq!(report["errors"][0]["field"], "external_id", "{report}");
    // Two new contacts of one request may not share one either.
    let twice = format!(
        "phone,external_id\n{},cid-x\n{},cid-x\n",
        unique_phone(),
        unique_phone()
    );
    let report = app.post_raw("/v1/contacts/import", "text/csv", twice).await;
    let report = report.expect(200);
    assert_eq!(
        (report["created"].clone(), report["failed"].clone()),
        (json!(1), json!(1))
    );

    // Malformed values.
    for bad in [
        json!(42),
        json!("has a space"),
        json!("x".repeat(129)),
        json!("ctc_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        json!("cb_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    ] {
        app.post_json(
            "/v1/contacts",
            &json!({ "phone": unique_phone(), "external_id": bad }),
        )
        .await
        .expect_field_error(400, "invalid_field", "external_id");
    }
    // null clears it, and then another contact may take it.
    let cleared = app
        .post_json("/v1/contacts", &json!({ "phone": a, "external_id": null }))
        .await;
    assert_eq!(cleared.expect(200)["external_id"], Value::Null);
    let moved = app
        .patch(
            &format!("/v1/contacts/{other}"),
            &json!({ "external_id": taken }),
        )
        .await;
    assert_eq!(moved.expect(200)["external_id"], taken);
    // Another account has its own ids.
    let tenant = app.second_account().await;
    app.request_as(
        Some(&tenant.api_key),
        Method::POST,
        "/v1/contacts",
        Some(&json!({ "phone": a, "external_id": taken })),
    )
    .await
    .expect(201);
}

/// The per-item reasons besides `time_in_past`: a number on the do-not-call list (`dnc`), a
/// time outside the calling window (`outside_calling_window`), an unknown entry and a bad
/// time; the entry is left as it was.
#[tokio::test]
async fn dnc_and_the_calling_window_are_per_item_reasons() {
    let app = spawn_app().await;
    let jwt = setup(&app).await;
    // The default window, times outside it refused; the campaign's calls keep it.
    app.request(
        Method::PUT,
        "/v1/settings",
        Some(
            &json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                       "allow_customer_requested_times": false, "max_attempts": null,
                       "attempt_window_days": 7 }),
        ),
    )
    .await
    .expect(200);
    let (id, entries) = campaign(&app, 2, Some(in_hours(72))).await;
    let listed = entries[0]["callback_id"].as_str().unwrap();
    let phone = entries[0]["phone"].as_str().unwrap();
    app.post_json("/v1/dnc", &json!({ "phone": phone, "source": "crm" }))
        .await
        .expect(201);
    let zone = entries[1]["timezone"].as_str().unwrap();
    let other = entries[1]["callback_id"].as_str().unwrap();
    let before = app.get_callback(other).await;
    let body = json!([
        { "campaignDialingListId": listed, "timeToContact": two_days_ahead_at(zone, 10) },
        { "campaignDialingListId": other, "timeToContact": two_days_ahead_at(zone, 3) },
        { "campaignDialingListId": "cid-nobody", "timeToContact": two_days_ahead_at(zone, 10) },
        { "campaignDialingListId": other, "timeToContact": "2026-13-40T99:00:00Z" },
    ]);
    let resp = send(
        &app,
        &path("st-1", &id),
        Some(&jwt),
        &app.account_id,
        &body.to_string(),
    )
    .await;
    let reasons: Vec<&str> = resp.expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["status"], "failed", "{d}");
            d["reason"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "dnc",
            "outside_calling_window",
            "unknown_dialing_list_id",
            "invalid_time"
        ]
    );
    assert_eq!(
        app.get_callback(other).await["scheduled_at"],
        before["scheduled_at"]
    );
}

/// Runs the page's curl sample under `sh`, with `substitutions` made and curl told to print the
/// status after the body; answers the status and the body.
async fn run_curl_sample(sample: &str, substitutions: &[(&str, &str)]) -> (u16, Value) {
    let mut command = sample.to_owned();
    for (from, to) in substitutions {
        assert!(command.contains(from), "the sample has no {from}");
        command = command.replace(from, to);
    }
    command.push_str(" --silent --write-out '\\n%{http_code}'");
    let out = tokio::process::Command::new("sh")
        .args(["-c", &command])
        .output()
        .await
        .expect("sh runs");
    assert!(
        out.status.success(),
        "curl failed (is it installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), serde_json::from_str(body).unwrap())
}

/// The page's curl sample, run by curl with only the host, the token, the bot and campaign ids
/// and the date changed. Its dialing-list id, Kore.ai's own (masked as the page shows it), is a
/// contact's `external_id`. With the page's own date, past now, the answer is the page's sample
/// response (`failed`, `time_in_past`); with 10:00 in the contact's zone two days ahead, inside
/// the default calling window, the entry moves there.
#[tokio::test]
async fn the_pages_curl_sample_runs_unchanged() {
    const SAMPLE: &str = r#"curl --location 'https://{{host}}/campaign/api/v2/public/{{botID}}/campaign/{{campaignInstanceId}}/callContactAt' \
--header 'accountid: 685bd2b**********fa5b15d' \
--header 'iid: st-c663aae2-2e**********95-9fa9acca1a2e' \
--header 'Content-Type: application/json' \
--header 'auth: <token> ' \
--data '[
    {
        "campaignDialingListId": "cid-1741dc3************dd1-4ddc085c8e44",
        "timeToContact": "2026-06-18T17:55:00Z"
    }
]'"#;
    const CID: &str = "cid-1741dc3************dd1-4ddc085c8e44";
    let app = spawn_app().await;
    let jwt = setup(&app).await;
    app.request(
        Method::PUT,
        "/v1/settings",
        Some(
            &json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                       "allow_customer_requested_times": false, "max_attempts": null,
                       "attempt_window_days": 7 }),
        ),
    )
    .await
    .expect(200);
    let pb = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Kore", "initial_message": "Hi" }),
        )
        .await
        .expect(201)["id"]
        .clone();
    let phone = unique_phone();
    let id = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": pb, "launch_at": in_hours(72),
                     "contacts": [{ "phone": phone, "external_id": CID }] }),
        )
        .await
        .expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entry = &entries_by_phone(&app, &id, std::slice::from_ref(&phone)).await[0];
    assert_eq!(entry["external_id"], CID);
    let host = app.url("");
    let common = [
        ("https://{{host}}", host.as_str()),
        ("{{botID}}", "st-kore-bot"),
        ("{{campaignInstanceId}}", id.as_str()),
        ("<token>", jwt.as_str()),
    ];

    let (status, answer) = run_curl_sample(SAMPLE, &common).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({ "status": "success", "data": [
            { "campaignDialingListId": CID, "status": "failed", "reason": "time_in_past" }
        ] })
    );

    let at = two_days_ahead_at(entry["timezone"].as_str().unwrap(), 10);
    let mut substitutions = common.to_vec();
    substitutions.push(("2026-06-18T17:55:00Z", at.as_str()));
    let (status, answer) = run_curl_sample(SAMPLE, &substitutions).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "success");
    let item = &answer["data"][0];
    assert_eq!(item["campaignDialingListId"], CID);
    assert_eq!(item["status"], "success", "{item}");
    assert_eq!(item["action"], "rescheduled");
    assert_eq!(item["callbackId"], entry["callback_id"]);
    let cb = app
        .get_callback(entry["callback_id"].as_str().unwrap())
        .await;
    assert_eq!(cb["scheduled_at"], at.as_str());
    assert_eq!(
        cb["metadata"]["kore"]["account_id"],
        "685bd2b**********fa5b15d"
    );
    assert_eq!(cb["metadata"]["kore"]["bot_id"], "st-kore-bot");
}
