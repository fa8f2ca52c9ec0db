//! The Callback Manager's endpoints (`/ui/api/...`): signing in and out, the session cookie,
//! CSRF, session expiry, account isolation, what agent users may reach, and report figures.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use reqwest::Method;
use ringback::{admin, domain::Actor};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{
    Resp, ShiftedClock, TestApp, in_ms, spawn_app, spawn_app_with_clock, spawn_quick_app, tomorrow,
    unique_phone,
};

const PASSWORD: &str = "correct horse battery";

/// Makes a user of `account` in the test server.
async fn user(app: &TestApp, account: &str, email: &str, role: &str, agent: Option<&str>) {
    admin::create_user(
        app.store.as_ref(),
        &ringback::domain::AccountId::parse(account).unwrap(),
        email,
        role,
        agent,
        &SecretString::from(PASSWORD),
        &Actor::Cli,
        Timestamp::now(),
    )
    .await
    .expect("the user can be created");
}

/// A signed-in browser: its session cookie and CSRF token.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

async fn sign_in_raw(app: &TestApp, email: &str, password: &str) -> Resp {
    let resp = app
        .client
        .post(app.url("/ui/api/session"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    Resp::read(resp).await
}

async fn sign_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let resp = sign_in_raw(app, email, PASSWORD).await;
    let body = resp.expect(200).clone();
    let set = resp.headers["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    Browser {
        app,
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

impl Browser<'_> {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        csrf: Option<&str>,
    ) -> Resp {
        let mut req = self
            .app
            .client
            .request(method, self.app.url(path))
            .header("cookie", &self.cookie);
        if let Some(token) = csrf {
            req = req.header("x-csrf-token", token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        Resp::read(req.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(body), Some(&self.csrf.clone()))
            .await
    }

    async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PATCH, path, Some(body), Some(&self.csrf.clone()))
            .await
    }
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_the_session() {
    let app = spawn_app().await;
    user(&app, &app.account_id, "Boss@Acme.test", "supervisor", None).await;
    let resp = sign_in_raw(&app, "boss@acme.test", PASSWORD).await;
    let body = resp.expect(200);
    assert_eq!(body["user"]["role"], "supervisor");
    assert_eq!(body["user"]["account_id"], app.account_id);
    let cookie = resp.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("ringback_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http has no Secure flag: {cookie}"
    );

    let b = sign_in(&app, "boss@acme.test").await;
    b.get("/ui/api/session").await.expect(200);
    let out = b
        .send(
            Method::DELETE,
            "/ui/api/session",
            None,
            Some(&b.csrf.clone()),
        )
        .await;
    assert_eq!(out.status, 204);
    b.get("/ui/api/session")
        .await
        .expect_error(401, "unauthorized");
    b.get("/ui/api/callbacks")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn cookies_are_secure_behind_an_https_proxy() {
    let app = spawn_app().await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    let resp = app
        .client
        .post(app.url("/ui/api/session"))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": "boss@acme.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_addresses_are_refused_alike_and_then_limited() {
    let app = spawn_app().await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    let wrong = sign_in_raw(&app, "boss@acme.test", "not the password").await;
    let err = wrong.expect_error(401, "unauthorized").clone();
    let unknown = sign_in_raw(&app, "nobody@acme.test", PASSWORD).await;
    assert_eq!(
        unknown.expect_error(401, "unauthorized")["message"],
        err["message"]
    );
    assert!(wrong.headers.get("set-cookie").is_none());
    sign_in_raw(&app, "not an address", PASSWORD)
        .await
        .expect_field_error(400, "invalid_field", "email");
    sign_in_raw(&app, "boss@acme.test", "")
        .await
        .expect_field_error(400, "invalid_field", "password");
    // The burst is five attempts per address (malformed ones are not counted); the sixth is
    // refused without checking, even with the right password.
    for _ in 0..4 {
        sign_in_raw(&app, "boss@acme.test", "still wrong").await;
    }
    sign_in_raw(&app, "boss@acme.test", PASSWORD)
        .await
        .expect_error(429, "rate_limited");
}

#[tokio::test]
async fn changes_without_the_sessions_csrf_token_are_refused() {
    let app = spawn_app().await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    let b = sign_in(&app, "boss@acme.test").await;
    let body = json!({ "phone": unique_phone(), "scheduled_at": tomorrow() });
    b.send(Method::POST, "/ui/api/callbacks", Some(&body), None)
        .await
        .expect_field_error(403, "forbidden", "X-CSRF-Token");
    b.send(
        Method::POST,
        "/ui/api/callbacks",
        Some(&body),
        Some("0".repeat(64).as_str()),
    )
    .await
    .expect_field_error(403, "forbidden", "X-CSRF-Token");
    let other = sign_in(&app, "boss@acme.test").await;
    b.send(
        Method::POST,
        "/ui/api/callbacks",
        Some(&body),
        Some(other.csrf.as_str()),
    )
    .await
    .expect_field_error(403, "forbidden", "X-CSRF-Token");
    app.assert_no_callbacks("after refused changes").await;
    let made = b.post("/ui/api/callbacks", &body).await;
    assert_eq!(made.expect(201)["origin"], "ui");
    // The change is audited as the user.
    let audit = app.get("/v1/audit?action=callback.create").await;
    let entry = &audit.expect(200)["data"][0];
    assert_eq!(entry["actor"]["type"], "user", "{entry}");
}

#[tokio::test]
async fn sessions_end_after_twelve_hours() {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    let b = sign_in(&app, "boss@acme.test").await;
    b.get("/ui/api/callbacks").await.expect(200);
    clock.advance(Duration::from_secs(11 * 3600));
    b.get("/ui/api/callbacks").await.expect(200);
    clock.advance(Duration::from_secs(3600 + 1));
    b.get("/ui/api/callbacks")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn a_supervisor_sees_only_their_own_accounts_callbacks() {
    let app = spawn_app().await;
    let other = app.second_account().await;
    user(&app, &app.account_id, "a@acme.test", "supervisor", None).await;
    user(&app, &other.account_id, "b@other.test", "supervisor", None).await;
    let mine = app.create_at(&tomorrow()).await;
    let b = sign_in(&app, "b@other.test").await;
    let page = b.get("/ui/api/callbacks").await;
    assert_eq!(page.expect(200)["data"], json!([]));
    b.get(&format!("/ui/api/callbacks/{mine}"))
        .await
        .expect_error(404, "not_found");
    b.patch(
        &format!("/ui/api/callbacks/{mine}"),
        &json!({ "notes": "x" }),
    )
    .await
    .expect_error(404, "not_found");
    b.post(&format!("/ui/api/callbacks/{mine}/cancel"), &json!({}))
        .await
        .expect_error(404, "not_found");
    b.post(
        &format!("/ui/api/callbacks/{mine}/notes"),
        &json!({ "text": "x" }),
    )
    .await
    .expect_error(404, "not_found");
    let bulk = b
        .post(
            "/ui/api/callbacks/bulk",
            &json!({ "action": "cancel", "ids": [mine] }),
        )
        .await;
    assert_eq!(bulk.expect(200)["results"][0]["error"]["code"], "not_found");
    let export = b.get("/ui/api/callbacks/export").await;
    assert_eq!(export.status, 200);
    assert!(!export.text.contains(&mine));
    let report = b.get("/ui/api/reports").await;
    assert_eq!(report.expect(200)["total"], 0);
    assert_eq!(app.get_callback(&mine).await["status"], "scheduled");
    // And the owner sees it.
    let a = sign_in(&app, "a@acme.test").await;
    a.get(&format!("/ui/api/callbacks/{mine}"))
        .await
        .expect(200);
}

#[tokio::test]
async fn an_agent_user_reaches_only_their_own_work() {
    let app = spawn_app().await;
    let alice = app.agent_id("Alice").await;
    let bob = app.agent_id("Bob").await;
    user(
        &app,
        &app.account_id,
        "alice@acme.test",
        "agent",
        Some(&alice),
    )
    .await;
    let assigned = |id: &str| {
        json!({ "phone": unique_phone(), "scheduled_at": tomorrow(), "dialing_mode": "preview",
                "assignment": { "type": "agent", "ids": [id] } })
    };
    let hers = app.create(&assigned(&alice)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let his = app.create(&assigned(&bob)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = sign_in(&app, "alice@acme.test").await;
    let work = b.get("/ui/api/me/callbacks").await;
    let ids: Vec<&str> = work
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![hers.as_str()]);
    b.get(&format!("/ui/api/callbacks/{hers}"))
        .await
        .expect(200);
    b.get(&format!("/ui/api/callbacks/{his}"))
        .await
        .expect_error(404, "not_found");
    b.post(&format!("/ui/api/callbacks/{his}/cancel"), &json!({}))
        .await
        .expect_error(404, "not_found");
    for path in [
        "/ui/api/callbacks",
        "/ui/api/reports",
        "/ui/api/events",
        "/ui/api/callbacks/export",
    ] {
        b.get(path).await.expect_error(403, "forbidden");
    }
    b.post(
        "/ui/api/callbacks",
        &json!({ "phone": unique_phone(), "scheduled_at": tomorrow() }),
    )
    .await
    .expect_error(403, "forbidden");
    b.post(
        "/ui/api/callbacks/bulk",
        &json!({ "action": "cancel", "ids": [his] }),
    )
    .await
    .expect_error(403, "forbidden");
    b.patch(
        &format!("/ui/api/callbacks/{hers}"),
        &json!({ "assignment": null }),
    )
    .await
    .expect_error(403, "forbidden");
    // What she may do: reschedule and annotate her own, set her presence.
    let moved = b
        .patch(
            &format!("/ui/api/callbacks/{hers}"),
            &json!({ "scheduled_at": in_ms(2 * 86_400_000) }),
        )
        .await;
    moved.expect(200);
    let noted = b
        .post(
            &format!("/ui/api/callbacks/{hers}/notes"),
            &json!({ "text": "call after 5" }),
        )
        .await;
    assert!(
        noted.expect(200)["notes"]
            .as_str()
            .unwrap()
            .contains("alice@acme.test] call after 5")
    );
    let p = b
        .send(
            Method::PUT,
            "/ui/api/me/presence",
            Some(&json!({ "presence": "away" })),
            Some(&b.csrf.clone()),
        )
        .await;
    assert_eq!(p.expect(200)["presence"], "away");
    let dir = b.get("/ui/api/directory").await;
    assert_eq!(dir.expect(200)["agents"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_filters_name_the_field() {
    let app = spawn_app().await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    let b = sign_in(&app, "boss@acme.test").await;
    for (query, field) in [
        ("sort=sideways", "sort"),
        ("phone=call-me", "phone"),
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("status=sleeping", "status"),
        ("agent=bob", "agent"),
        ("cursor=nope&sort=scheduled_asc", "cursor"),
        ("colour=red", ""),
    ] {
        let resp = b.get(&format!("/ui/api/callbacks?{query}")).await;
        assert_eq!(resp.status, 400, "{query}: {}", resp.text);
        if !field.is_empty() {
            assert_eq!(resp.body["error"]["field"], field, "{query}: {}", resp.text);
        }
    }
    b.get("/ui/api/reports?from=2027-13-01")
        .await
        .expect_field_error(400, "invalid_query", "from");
    b.get("/ui/api/reports?from=2027-02-01&to=2027-01-01")
        .await
        .expect_field_error(400, "invalid_query", "to");
    b.get("/ui/api/reports?timezone=Mars/Olympus")
        .await
        .expect_field_error(400, "invalid_timezone", "timezone");
    b.post(
        "/ui/api/callbacks/bulk",
        &json!({ "action": "explode", "ids": ["cb_x"] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "action");
    b.post(
        "/ui/api/callbacks/bulk",
        &json!({ "action": "reschedule", "ids": ["cb_x"] }),
    )
    .await
    .expect_field_error(400, "missing_field", "scheduled_at");
}

#[tokio::test]
async fn the_list_pages_by_scheduled_time_and_filters_by_phone_prefix() {
    let app = spawn_app().await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    let mut made = Vec::new();
    for hours in [50, 10, 30, 20, 40] {
        made.push((hours, app.create_at(&in_ms(hours * 3_600_000)).await));
    }
    made.sort();
    let b = sign_in(&app, "boss@acme.test").await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = b
            .get(&format!(
                "/ui/api/callbacks?sort=scheduled_asc&limit=2&cursor={cursor}"
            ))
            .await
            .expect(200)
            .clone();
        for cb in page["data"].as_array().unwrap() {
            seen.push(cb["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        seen,
        made.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>()
    );
    let one = app
        .create(&json!({ "phone": "+442071838750", "scheduled_at": tomorrow() }))
        .await;
    let found = b.get("/ui/api/callbacks?phone=4420").await;
    let data = found.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], one["id"]);
    // Agent and queue filters: assigned callbacks, and a reassignment moves them.
    let alice = app.agent_id("Alice").await;
    let billing = app.queue_id("Billing").await;
    let to_alice = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                         "assignment": { "type": "agent", "ids": [alice] } }),
        )
        .await["id"]
        .clone();
    let ids = |r: &Resp| -> Vec<Value> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    let by_agent = b.get(&format!("/ui/api/callbacks?agent={alice}")).await;
    assert_eq!(ids(&by_agent), vec![to_alice.clone()]);
    let id = to_alice.as_str().unwrap();
    b.patch(
        &format!("/ui/api/callbacks/{id}"),
        &json!({ "assignment": { "type": "queue", "ids": [billing] } }),
    )
    .await
    .expect(200);
    let by_agent = b.get(&format!("/ui/api/callbacks?agent={alice}")).await;
    assert_eq!(ids(&by_agent), Vec::<Value>::new());
    let by_queue = b.get(&format!("/ui/api/callbacks?queue={billing}")).await;
    assert_eq!(ids(&by_queue), vec![to_alice]);
    let csv = b.get("/ui/api/callbacks/export?phone=%2B4420").await;
    assert!(csv.content_type().starts_with("text/csv"));
    assert_eq!(csv.text.lines().count(), 2, "{}", csv.text);
}

#[tokio::test]
async fn reports_count_seeded_callbacks() {
    let app = spawn_quick_app().await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    let answered = app.dispatched_callback(300).await;
    let missed = app.dispatched_callback(300).await;
    app.report_outcome(
        &answered,
        &json!({ "outcome": "answered", "duration_seconds": 30 }),
    )
    .await
    .expect(200);
    app.report_outcome(&missed, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200);
    let canceled = app.create_at(&in_ms(3_600_000)).await;
    app.cancel(&canceled).await.expect(200);
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let q = format!("from={today}&to={today}&timezone=UTC");
    let report = app
        .get(&format!("/v1/reports/callbacks?{q}"))
        .await
        .expect(200)
        .clone();
    // The canceled one may fall on tomorrow near midnight UTC; the two calls are today.
    let day = &report["days"][0];
    assert_eq!(
        day["by_origin"]["api"].as_u64().unwrap(),
        report["total"].as_u64().unwrap()
    );
    assert_eq!(day["by_outcome"]["answered"], 1);
    assert_eq!(day["by_outcome"]["no_answer"], 1);
    assert_eq!(report["answer_rate"]["answered"], 1);
    assert_eq!(report["answer_rate"]["with_outcome"], 2);
    assert_eq!(report["answer_rate"]["rate"], 0.5);
    assert_eq!(report["request_to_call"]["count"], 2);
    assert_eq!(report["timeliness"]["on_time"], 2);
    assert_eq!(report["sla"]["misses"], 0);
    // The same figures on the page's endpoint.
    let b = sign_in(&app, "boss@acme.test").await;
    let ui = b
        .get(&format!("/ui/api/reports?{q}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(ui, report);
    // Integrators need callbacks:read.
    let key = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "agents only", "scopes": ["agents:read"] }),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request_as(Some(&key), Method::GET, "/v1/reports/callbacks", None)
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/ui/assets/app.js"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no outside resources"
    );
    for asset in ["/ui/assets/app.js", "/ui/assets/app.css"] {
        let r = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
}

#[tokio::test]
async fn users_need_a_good_password_and_agents_a_real_agent() {
    let app = spawn_app().await;
    let account = ringback::domain::AccountId::parse(&app.account_id).unwrap();
    let make =
        |email: &'static str, role: &'static str, agent: Option<&'static str>, pw: &'static str| {
            let store = app.store.clone();
            let account = account.clone();
            async move {
                admin::create_user(
                    store.as_ref(),
                    &account,
                    email,
                    role,
                    agent,
                    &SecretString::from(pw),
                    &Actor::Cli,
                    Timestamp::now(),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            }
        };
    assert!(make("a@b.c", "supervisor", None, "short").await.is_err());
    assert!(make("a@b.c", "owner", None, PASSWORD).await.is_err());
    assert!(make("a@b.c", "agent", None, PASSWORD).await.is_err());
    assert!(
        make(
            "a@b.c",
            "agent",
            Some("agt_01J00000000000000000000000"),
            PASSWORD
        )
        .await
        .is_err()
    );
    assert!(make("a@b.c", "supervisor", None, PASSWORD).await.is_ok());
    assert!(
        make("A@B.C", "supervisor", None, PASSWORD).await.is_err(),
        "e-mails are unique"
    );
}

#[tokio::test]
async fn a_supervisor_lists_campaigns_with_totals_and_pauses_resumes_and_cancels_them() {
    let app = spawn_app().await;
    let other = app.second_account().await;
    let alice = app.agent_id("Alice").await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    user(
        &app,
        &app.account_id,
        "alice@acme.test",
        "agent",
        Some(&alice),
    )
    .await;
    user(&app, &other.account_id, "b@other.test", "supervisor", None).await;
    let playbook = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Renewals", "initial_message": "Hi" }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let launched = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": playbook, "name": "Spring renewals",
                     "launch_at": tomorrow(),
                     "contacts": [ { "phone": unique_phone() }, { "phone": unique_phone() } ] }),
        )
        .await;
    let id = launched.expect(202)["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let boss = sign_in(&app, "boss@acme.test").await;
    let list = boss.get("/ui/api/campaigns").await;
    let list = list.expect(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(c["campaign_id"], id.as_str());
    assert_eq!(c["name"], "Spring renewals");
    assert_eq!(c["status"], "running");
    assert_eq!(c["totals"]["contacts"], 2);
    assert_eq!(c["totals"]["pending"], 2);
    assert_eq!(c["totals"]["attempts"], 0);
    assert_eq!(c["totals"]["answered"], 0);
    assert_eq!(c["totals"]["skipped_dnc"], 0);

    // An agent user may neither list nor change it; another account does not find it.
    let agent = sign_in(&app, "alice@acme.test").await;
    agent
        .get("/ui/api/campaigns")
        .await
        .expect_error(403, "forbidden");
    let b = sign_in(&app, "b@other.test").await;
    assert_eq!(b.get("/ui/api/campaigns").await.expect(200), &json!([]));
    for action in ["pause", "resume", "cancel"] {
        let path = format!("/ui/api/campaigns/{id}/{action}");
        agent
            .post(&path, &json!({}))
            .await
            .expect_error(403, "forbidden");
        b.post(&path, &json!({}))
            .await
            .expect_error(404, "not_found");
    }
    // Changes need the CSRF token.
    boss.send(
        Method::POST,
        &format!("/ui/api/campaigns/{id}/pause"),
        None,
        None,
    )
    .await
    .expect_error(403, "forbidden");

    let paused = boss
        .post(&format!("/ui/api/campaigns/{id}/pause"), &json!({}))
        .await;
    assert_eq!(paused.expect(200)["status"], "paused");
    let resumed = boss
        .post(&format!("/ui/api/campaigns/{id}/resume"), &json!({}))
        .await;
    assert_eq!(resumed.expect(200)["status"], "running");
    let canceled = boss
        .post(&format!("/ui/api/campaigns/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(canceled.expect(200)["status"], "canceled");
    boss.post(&format!("/ui/api/campaigns/{id}/resume"), &json!({}))
        .await
        .expect_error(409, "invalid_state");
    let list = boss.get("/ui/api/campaigns").await;
    let c = list.expect(200)[0].clone();
    assert_eq!(c["status"], "canceled");
    assert_eq!(c["totals"]["canceled"], 2);
    assert_eq!(c["totals"]["pending"], 0);
}

#[tokio::test]
async fn a_callback_shows_its_disposition_and_the_caller_id_its_call_used() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    app.post_json(
        "/v1/dispositions",
        &json!({ "code": "SALE", "label": "Sale made", "outcome_class": "answered", "final": true }),
    )
    .await
    .expect(201);
    app.post_json(
        "/v1/caller-ids",
        &json!({ "number": "+14155550111", "pool": "sales" }),
    )
    .await
    .expect(201);
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                         "caller_id_pool": "sales" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "in_progress", crate::helpers::WAIT)
        .await;
    app.report_outcome(&id, &json!({ "disposition": "SALE" }))
        .await
        .expect(200);

    let b = sign_in(&app, "boss@acme.test").await;
    let detail = b
        .get(&format!("/ui/api/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    let cb = &detail["callback"];
    assert_eq!(cb["disposition"], "SALE", "{detail}");
    assert_eq!(cb["outcome"], "answered");
    assert_eq!(cb["caller_id_pool"], "sales");
    assert_eq!(cb["attempts"][0]["caller_id"], "+14155550111");
    assert_eq!(cb["attempts"][0]["disposition"], "SALE");
    let dir = b.get("/ui/api/directory").await.expect(200).clone();
    assert_eq!(
        dir["dispositions"],
        json!([{ "code": "SALE", "label": "Sale made", "outcome_class": "answered", "final": true }])
    );
    // The page renders them: the detail's facts and attempts, and the agent's complete form.
    let js = app
        .client
        .get(app.url("/ui/assets/app.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "['Disposition', dispositionText(cb.disposition)]",
        "['Caller ID', callerIdText(cb)]",
        "'Caller ID used'",
        "a.caller_id || ''",
        "dispositionText(a.disposition)",
        "field('Disposition', disposition)",
    ] {
        assert!(js.contains(needle), "app.js lacks {needle}");
    }
}

#[tokio::test]
async fn a_supervisor_sees_and_changes_a_waiting_callbacks_priority_and_skills() {
    let app = spawn_quick_app().await;
    let alice = app.agent_id("Alice").await;
    user(&app, &app.account_id, "boss@acme.test", "supervisor", None).await;
    user(
        &app,
        &app.account_id,
        "alice@acme.test",
        "agent",
        Some(&alice),
    )
    .await;
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(100),
                         "dialing_mode": "preview", "skills": { "spanish": 2 },
                         "assignment": { "type": "agent", "ids": [alice] } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "waiting", crate::helpers::WAIT)
        .await;
    let boss = sign_in(&app, "boss@acme.test").await;
    let list = boss.get("/ui/api/callbacks").await;
    let row = list.expect(200)["data"][0].clone();
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["priority"], 50);
    assert_eq!(row["skills"], json!({ "spanish": 2 }));

    let changed = boss
        .patch(
            &format!("/ui/api/callbacks/{id}"),
            &json!({ "priority": 95, "skills": { "spanish": 1, "billing": 3 } }),
        )
        .await;
    let changed = changed.expect(200);
    assert_eq!(changed["priority"], 95);
    assert_eq!(changed["status"], "waiting");
    let detail = boss.get(&format!("/ui/api/callbacks/{id}")).await;
    let detail = detail.expect(200);
    assert_eq!(
        detail["callback"]["skills"],
        json!({ "billing": 3, "spanish": 1 })
    );
    boss.patch(
        &format!("/ui/api/callbacks/{id}"),
        &json!({ "skills": { "billing": 9 } }),
    )
    .await
    .expect_field_error(400, "invalid_field", "skills.billing");

    // An agent user may see it, but not change its priority or skills.
    let b = sign_in(&app, "alice@acme.test").await;
    b.patch(
        &format!("/ui/api/callbacks/{id}"),
        &json!({ "priority": 1 }),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(app.get_callback(&id).await["priority"], 95);

    // The page has the column and the form.
    let js = app
        .client
        .get(app.url("/ui/assets/app.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for piece in [
        "'aria-label': 'Priority and skills'",
        "text: 'Priority' }",
        "['Required skills', skillsText(cb.skills)",
    ] {
        assert!(js.contains(piece), "app.js lacks {piece}");
    }
}
