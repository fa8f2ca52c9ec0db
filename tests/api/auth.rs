//! Scoped keys, JWTs, rate limits, the audit trail, and the walk of every route across accounts.

use std::process::Command;

use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const HS_SECRET: &str = "a-shared-secret-of-at-least-32-characters!";

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn hs256(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    let created = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "scoped", "scopes": scopes }),
        )
        .await
        .expect(201)
        .clone();
    created["key"].as_str().unwrap().to_owned()
}

async fn register_hs256(app: &TestApp) {
    app.request(
        Method::PUT,
        "/v1/jwt-key",
        Some(&json!({ "algorithm": "HS256", "secret": HS_SECRET })),
    )
    .await
    .expect(200);
}

async fn get_with_token(app: &TestApp, token: &str) -> Resp {
    app.request_as(Some(token), Method::GET, "/v1/callbacks", None)
        .await
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_naming_it() {
    let app = spawn_app().await;
    let reader = key_with(&app, &["callbacks:read"]).await;
    let body = new_callback(&unique_phone(), &tomorrow());
    let denied = app
        .request_as(Some(&reader), Method::POST, "/v1/callbacks", Some(&body))
        .await;
    let error = denied.expect_error(403, "forbidden");
    assert_eq!(error["required_scope"], "callbacks:write");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("callbacks:write")
    );
    app.assert_no_callbacks("after a 403").await;
    get_with_token(&app, &reader).await.expect(200);

    // The Talkdesk name of the write scope works as an alias.
    let writer = key_with(&app, &["schedule-callbacks:write"]).await;
    app.request_as(Some(&writer), Method::POST, "/v1/callbacks", Some(&body))
        .await
        .expect(201);
    // Only admins manage keys.
    app.request_as(Some(&writer), Method::GET, "/v1/api-keys", None)
        .await
        .expect_error(403, "forbidden");
    app.post_json(
        "/v1/api-keys",
        &json!({ "name": "x", "scopes": ["callbacks:delete"] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "scopes[0]");
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_get_401() {
    let app = spawn_app().await;
    app.request_as(None, Method::GET, "/v1/callbacks", None)
        .await
        .expect_error(401, "unauthorized");
    let resp = app
        .client
        .get(app.url("/v1/callbacks"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    Resp::read(resp).await.expect_error(401, "unauthorized");
    get_with_token(&app, "rbk_not-a-real-key")
        .await
        .expect_error(401, "unauthorized");

    // Revocation takes effect at once, even though the key was just used (and cached).
    let created = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "temp", "scopes": ["admin"] }),
        )
        .await
        .expect(201)
        .clone();
    let key = created["key"].as_str().unwrap();
    get_with_token(&app, key).await.expect(200);
    let revoked = app
        .post_json(
            &format!("/v1/api-keys/{}/revoke", created["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .expect(200)
        .clone();
    assert!(revoked["revoked_at"].is_string());
    assert!(
        revoked.get("key").is_none(),
        "the secret is never shown again"
    );
    get_with_token(&app, key)
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn rotating_a_key_gives_a_new_secret_and_stops_the_old_one() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "crm", "scopes": ["callbacks:read"] }),
        )
        .await
        .expect(201)
        .clone();
    let old = created["key"].as_str().unwrap();
    get_with_token(&app, old).await.expect(200);
    let rotated = app
        .post_json(
            &format!("/v1/api-keys/{}/rotate", created["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .expect(201)
        .clone();
    let new = rotated["key"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(rotated["scopes"], json!(["callbacks:read"]));
    get_with_token(&app, old)
        .await
        .expect_error(401, "unauthorized");
    get_with_token(&app, new).await.expect(200);
    let listed = app.get("/v1/api-keys").await.expect(200).clone();
    assert!(
        !listed.to_string().contains(new),
        "listing never shows secrets"
    );
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_valid_hs256_jwt_authenticates_with_its_claims_scopes() {
    let app = spawn_app().await;
    register_hs256(&app).await;
    let token = hs256(
        HS_SECRET,
        &json!({ "account_id": app.account_id, "sub": "crm-bot", "scope": "callbacks:read callbacks:write",
                 "exp": now_s() + 300, "iat": now_s() }),
    );
    get_with_token(&app, &token).await.expect(200);
    // The Kore.ai-style `auth` header carries the same token.
    let resp = app
        .client
        .get(app.url("/v1/callbacks"))
        .header("auth", &token)
        .send()
        .await
        .unwrap();
    Resp::read(resp).await.expect(200);
    let created = app
        .request_as(
            Some(&token),
            Method::POST,
            "/v1/callbacks",
            Some(&new_callback(&unique_phone(), &tomorrow())),
        )
        .await
        .expect(201)
        .clone();
    // The audit trail names the JWT subject.
    let audit = app
        .get(&format!(
            "/v1/audit?resource_id={}",
            created["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        audit["data"][0]["actor"],
        json!({ "type": "jwt", "id": "crm-bot" })
    );
    // A token without the admin scope cannot read the audit trail.
    app.request_as(Some(&token), Method::GET, "/v1/audit", None)
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn bad_jwts_get_401() {
    let app = spawn_app().await;
    register_hs256(&app).await;
    let other = app.second_account().await;
    let claims = |extra: Value| {
        let mut c = json!({ "account_id": app.account_id, "sub": "s", "scope": "admin",
                            "exp": now_s() + 300 });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let expired = hs256(HS_SECRET, &claims(json!({ "exp": now_s() - 3600 })));
    let not_yet = hs256(HS_SECRET, &claims(json!({ "nbf": now_s() + 3600 })));
    let future_iat = hs256(HS_SECRET, &claims(json!({ "iat": now_s() + 3600 })));
    let no_exp = {
        let mut c = claims(json!({}));
        c.as_object_mut().unwrap().remove("exp");
        hs256(HS_SECRET, &c)
    };
    let bad_signature = hs256(
        "another-secret-that-is-also-32-chars-long",
        &claims(json!({})),
    );
    // HS384 with the right secret: the account pinned HS256.
    let wrong_alg = encode(
        &Header::new(jsonwebtoken::Algorithm::HS384),
        &claims(json!({})),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap();
    // `alg: none` with no signature.
    let none_alg = {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
        format!("{header}.{payload}.")
    };
    // Signed with our secret but naming another account, which has no JWT key.
    let other_account = hs256(
        HS_SECRET,
        &claims(json!({ "account_id": other.account_id })),
    );
    for (what, token) in [
        ("expired", expired),
        ("not yet valid", not_yet),
        ("issued in the future", future_iat),
        ("without exp", no_exp),
        ("bad signature", bad_signature),
        ("wrong algorithm", wrong_alg),
        ("alg none", none_alg),
        ("another account", other_account),
    ] {
        let resp = get_with_token(&app, &token).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.text);
        resp.expect_error(401, "unauthorized");
    }

    // A token for account B, signed with B's own secret, sees only B's data.
    app.request_as(
        Some(&other.api_key),
        Method::PUT,
        "/v1/jwt-key",
        Some(
            &json!({ "algorithm": "HS256", "secret": "b-secret-that-is-long-enough-for-hs256!!" }),
        ),
    )
    .await
    .expect(200);
    app.create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let b_token = hs256(
        "b-secret-that-is-long-enough-for-hs256!!",
        &json!({ "account_id": other.account_id, "sub": "b", "scope": "callbacks:read", "exp": now_s() + 60 }),
    );
    let listed = get_with_token(&app, &b_token).await.expect(200).clone();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
}

/// Generates an ES256 key pair with openssl: (private PKCS#8 PEM, public PEM).
fn es256_pair() -> (String, String) {
    key_pair(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
}

/// Generates a key pair with `openssl genpkey <args>`: (private PKCS#8 PEM, public PEM).
fn key_pair(genpkey_args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("p.pem");
    let public = dir.path().join("pub.pem");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is installed (it makes the JWT test keys)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let private_s = private.to_str().unwrap();
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey_args);
    args.extend(["-out", private_s]);
    run(&args);
    run(&[
        "pkey",
        "-in",
        private_s,
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (
        std::fs::read_to_string(private).unwrap(),
        std::fs::read_to_string(public).unwrap(),
    )
}

#[tokio::test]
async fn an_es256_public_key_verifies_tokens_and_hs256_tokens_are_then_refused() {
    let app = spawn_app().await;
    let (private, public) = es256_pair();
    app.request(
        Method::PUT,
        "/v1/jwt-key",
        Some(&json!({ "algorithm": "ES256", "public_key": public })),
    )
    .await
    .expect(200);
    let claims = json!({ "account_id": app.account_id, "sub": "bot", "scopes": ["callbacks:read"], "exp": now_s() + 60 });
    let token = encode(
        &Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
    )
    .unwrap();
    get_with_token(&app, &token).await.expect(200);
    // Algorithm switching: an HS256 token whose secret is the public key text.
    let confused = hs256(&public, &claims);
    get_with_token(&app, &confused)
        .await
        .expect_error(401, "unauthorized");
    app.request(
        Method::PUT,
        "/v1/jwt-key",
        Some(&json!({ "algorithm": "RS256", "public_key": "not a pem" })),
    )
    .await
    .expect_field_error(400, "invalid_field", "public_key");
    app.request(
        Method::PUT,
        "/v1/jwt-key",
        Some(&json!({ "algorithm": "HS256", "secret": "short" })),
    )
    .await
    .expect_field_error(400, "invalid_field", "secret");
}

#[tokio::test]
async fn a_burst_over_the_limit_gets_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.rate_limit_per_second = 5;
        c.rate_limit_burst = 5;
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let resp = app.get("/v1/callbacks").await;
        if resp.status == 429 {
            resp.expect_error(429, "rate_limited");
            retry_after = resp
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        statuses.push(resp.status);
    }
    assert!(statuses[..5].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let seconds: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&seconds));
    // Another key has its own budget.
    let other = app.second_account().await;
    app.request_as(Some(&other.api_key), Method::GET, "/v1/callbacks", None)
        .await
        .expect(200);
}

/// Every dialect answers its 429 in its own shape, with `Retry-After` as the native API does.
#[tokio::test]
async fn every_dialect_s_429_carries_retry_after() {
    let app = spawn_app_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 1;
    })
    .await;
    for path in [
        "/v1/callbacks",
        "/v1/dialer/schedule_call/",
        "/v1/calls/scheduled",
        "/schedule-callbacks",
        "/campaign",
        "/campaign/api/v2/public/st-1/campaign/cmp_01JD0000000000000000000000/callContactAt",
    ] {
        // A fresh key each time: its own budget, spent by the first request.
        let key = app
            .post_json(
                "/v1/api-keys",
                &json!({ "name": "burst", "scopes": ["admin"] }),
            )
            .await;
        let key = if key.status == 429 {
            tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
            app.post_json(
                "/v1/api-keys",
                &json!({ "name": "burst", "scopes": ["admin"] }),
            )
            .await
            .expect(201)
            .clone()
        } else {
            key.expect(201).clone()
        };
        let key = key["key"].as_str().unwrap().to_owned();
        let mut limited = None;
        for _ in 0..4 {
            let resp = app
                .client
                .post(app.url(path))
                .bearer_auth(&key)
                .header("auth", &key)
                .header("accountid", &app.account_id)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let resp = Resp::read(resp).await;
            if resp.status == 429 {
                limited = Some(resp);
                break;
            }
        }
        let resp = limited.unwrap_or_else(|| panic!("{path}: never limited"));
        let seconds: u64 = resp
            .headers
            .get("retry-after")
            .unwrap_or_else(|| panic!("{path}: no Retry-After on {}", resp.text))
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&seconds), "{path}: {seconds}");
    }
}

#[tokio::test]
async fn the_audit_trail_records_who_changed_what() {
    let app = spawn_app().await;
    let created = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let id = created["id"].as_str().unwrap();
    app.patch(
        &format!("/v1/callbacks/{id}"),
        &json!({ "notes": "call after lunch" }),
    )
    .await
    .expect(200);
    app.cancel(id).await.expect(200);
    let audit = app
        .get(&format!("/v1/audit?resource_id={id}"))
        .await
        .expect(200)
        .clone();
    let entries = audit["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["callback.cancel", "callback.update", "callback.create"]
    );
    let update = &entries[1];
    assert_eq!(update["actor"]["type"], "api_key");
    assert!(update["actor"]["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(
        update["changes"]["notes"],
        json!({ "before": null, "after": "call after lunch" })
    );
    assert_eq!(
        entries[0]["changes"]["status"],
        json!({ "before": "scheduled", "after": "canceled" })
    );
    let filtered = app
        .get("/v1/audit?action=callback.update")
        .await
        .expect(200)
        .clone();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    app.get("/v1/audit?from=yesterday")
        .await
        .expect_field_error(400, "invalid_query", "from");
    // Keys are audited too, without their secrets.
    let key = key_with(&app, &["callbacks:read"]).await;
    let keys = app
        .get("/v1/audit?action=api_key.create")
        .await
        .expect(200)
        .clone();
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
    assert!(!keys.to_string().contains(&key));
}

#[tokio::test]
async fn the_keys_cli_creates_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = crate::database::TestDatabase::create(dir.path()).await;
    let db = test_db.url.clone();
    let bin = env!("CARGO_BIN_EXE_ringback");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .envs(test_db.key_env())
            .output()
            .unwrap();
        assert!(out.status.success(), "ringback {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let account: Value = serde_json::from_str(&run(&[
        "accounts",
        "create",
        "Acme",
        "--json",
        "--database-url",
        &db,
    ]))
    .unwrap();
    let acc = account["account_id"].as_str().unwrap();
    let key: Value = serde_json::from_str(&run(&[
        "keys",
        "create",
        "--account",
        acc,
        "--name",
        "crm",
        "--scopes",
        "callbacks:read,schedule-callbacks:write",
        "--json",
        "--database-url",
        &db,
    ]))
    .unwrap();
    let key_id = key["key_id"].as_str().unwrap();
    assert!(key["api_key"].as_str().unwrap().starts_with("rbk_"));
    let listed: Value = serde_json::from_str(&run(&[
        "keys",
        "list",
        "--account",
        acc,
        "--json",
        "--database-url",
        &db,
    ]))
    .unwrap();
    let crm = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id)
        .expect("the new key is listed");
    assert_eq!(crm["scopes"], json!(["callbacks:read", "callbacks:write"]));
    assert!(
        !listed
            .to_string()
            .contains(key["api_key"].as_str().unwrap())
    );
    run(&[
        "keys",
        "revoke",
        key_id,
        "--account",
        acc,
        "--database-url",
        &db,
    ]);
    let listed: Value = serde_json::from_str(&run(&[
        "keys",
        "list",
        "--account",
        acc,
        "--json",
        "--database-url",
        &db,
    ]))
    .unwrap();
    let crm = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id)
        .unwrap();
    assert!(crm["revoked_at"].is_string());
    let bad = Command::new(bin)
        .args([
            "keys",
            "revoke",
            "key_nope",
            "--account",
            acc,
            "--database-url",
            &db,
        ])
        .envs(test_db.key_env())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// `ringback keys revoke` is another process: a running server that has just used (and
/// cached) the key refuses it within a fraction of a second all the same (SQLite: the server
/// watches the database's credentials counter; PostgreSQL: the revocation's `NOTIFY`).
#[tokio::test]
async fn a_key_revoked_by_the_cli_stops_working_on_a_running_server() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "crm", "scopes": ["callbacks:read"] }),
        )
        .await
        .expect(201)
        .clone();
    let key = created["key"].as_str().unwrap();
    get_with_token(&app, key).await.expect(200);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args([
            "keys",
            "revoke",
            created["id"].as_str().unwrap(),
            "--account",
            &app.account_id,
            "--database-url",
            &app._db.url,
        ])
        .envs(app._db.key_env())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let revoked = std::time::Instant::now();
    let mut accepted = 0;
    loop {
        let resp = get_with_token(&app, key).await;
        if resp.status == 401 {
            break;
        }
        resp.expect(200);
        accepted += 1;
        assert!(
            revoked.elapsed() < std::time::Duration::from_millis(500),
            "the server still accepts the key {:?} after the CLI revoked it ({accepted} \
             requests accepted)",
            revoked.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    println!(
        "refused {:?} after the CLI revoked it ({accepted} requests accepted meanwhile)",
        revoked.elapsed()
    );
}

/// Replaces `{...}` path parameters with an id of the right shape for another account's
/// resource, so the walk reaches the handler rather than the 404 of an unknown route.
fn concrete(path: &str, ids: &std::collections::HashMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let before = &rest[..start];
        let kind = if before.contains("callbacks") {
            "callback"
        } else if before.contains("webhook-endpoints") {
            "endpoint"
        } else if before.contains("api-keys") {
            "key"
        } else if before.contains("events") {
            "event"
        } else if before.contains("agents") {
            "agent"
        } else if before.contains("queues") {
            "queue"
        } else if before.contains("contacts") {
            "contact"
        } else if before.contains("dnc") {
            "dnc"
        } else if before.contains("playbooks") {
            "playbook"
        } else {
            "other"
        };
        out.push_str(ids.get(kind).map_or("x", String::as_str));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_route_answers_404_to_another_accounts_ids_and_changes_nothing() {
    let app = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    // Account A's resources, one of each kind.
    let callback = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let endpoint = app
        .post_json(
            "/v1/webhook-endpoints",
            &json!({ "url": "http://127.0.0.1:9/a" }),
        )
        .await
        .expect(201)
        .clone();
    let key = app
        .post_json("/v1/api-keys", &json!({ "name": "a", "scopes": ["admin"] }))
        .await
        .expect(201)
        .clone();
    let agent = app
        .post_json("/v1/agents", &json!({ "name": "Ann" }))
        .await
        .expect(201)
        .clone();
    let queue = app
        .post_json("/v1/queues", &json!({ "name": "Sales" }))
        .await
        .expect(201)
        .clone();
    let contact = app
        .post_json("/v1/contacts", &json!({ "phone": unique_phone() }))
        .await
        .expect(201)
        .clone();
    let dnc_phone = unique_phone();
    app.post_json("/v1/dnc", &json!({ "phone": dnc_phone }))
        .await
        .expect(201);
    let playbook = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "P", "initial_message": "Hi {{ first_name }}" }),
        )
        .await
        .expect(201)
        .clone();
    let events = app.get("/v1/events").await.expect(200).clone();
    let ids = std::collections::HashMap::from([
        ("callback", callback["id"].as_str().unwrap().to_owned()),
        ("endpoint", endpoint["id"].as_str().unwrap().to_owned()),
        ("key", key["id"].as_str().unwrap().to_owned()),
        (
            "event",
            events["data"][0]["id"].as_str().unwrap().to_owned(),
        ),
        ("agent", agent["id"].as_str().unwrap().to_owned()),
        ("queue", queue["id"].as_str().unwrap().to_owned()),
        ("contact", contact["id"].as_str().unwrap().to_owned()),
        ("dnc", dnc_phone.clone()),
        ("playbook", playbook["id"].as_str().unwrap().to_owned()),
    ]);
    let before_callback = app.get_callback(&ids["callback"]).await;
    let before_endpoint = app
        .get(&format!("/v1/webhook-endpoints/{}", ids["endpoint"]))
        .await
        .expect(200)
        .clone();

    // Account B walks every route with a path parameter, read from the OpenAPI document so a
    // new route is covered without touching this test.
    let other = app.second_account().await;
    let doc = app.get("/openapi.json").await.expect(200).clone();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/") || !path.contains('{') {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = concrete(path, &ids);
            // A body valid for the operation, so the answer is about the id, not the body.
            let body = if path.ends_with("/outcome") || path.ends_with("/complete") {
                json!({ "outcome": "answered" })
            } else if path.ends_with("/reschedule") {
                json!({ "scheduled_at": tomorrow() })
            } else if path.starts_with("/v1/callbacks/") && method == "patch" {
                json!({ "notes": "B was here" })
            } else if path.starts_with("/v1/webhook-endpoints/") && method == "patch" {
                json!({ "enabled": false })
            } else if path.ends_with("/presence") {
                json!({ "presence": "available" })
            } else {
                json!({})
            };
            let resp = app
                .request_as(
                    Some(&other.api_key),
                    method.to_uppercase().parse::<Method>().unwrap(),
                    &url,
                    Some(&body),
                )
                .await;
            assert_eq!(
                resp.status, 404,
                "{method} {url} answered {} to another account: {}",
                resp.status, resp.text
            );
            // A vendor dialect's routes answer in that vendor's error shape.
            let dialect = item[method]["tags"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|t| t.as_str().is_some_and(|t| t.starts_with("dialect: ")))
            });
            if !dialect {
                resp.expect_error(404, "not_found");
            }
            walked += 1;
        }
    }
    assert!(walked >= 10, "the walk covered only {walked} operations");

    // Lists of B show none of A's data.
    for path in [
        "/v1/agents",
        "/v1/queues",
        "/v1/contacts",
        "/v1/dnc",
        "/v1/playbooks",
        "/v1/callbacks",
        "/v1/webhook-endpoints",
        "/v1/events",
        "/v1/audit",
    ] {
        let resp = app
            .request_as(Some(&other.api_key), Method::GET, path, None)
            .await;
        let body = resp.expect(200);
        let text = body.to_string();
        for id in ids.values() {
            assert!(!text.contains(id.as_str()), "{path} of B shows {id}");
        }
    }
    // Nothing of A changed.
    let after_callback = app.get_callback(&ids["callback"]).await;
    assert_eq!(after_callback["updated_at"], before_callback["updated_at"]);
    assert_eq!(after_callback["status"], "scheduled");
    let after_endpoint = app
        .get(&format!("/v1/webhook-endpoints/{}", ids["endpoint"]))
        .await
        .expect(200)
        .clone();
    assert_eq!(after_endpoint, before_endpoint);
    let after_agent = app
        .get(&format!("/v1/agents/{}", ids["agent"]))
        .await
        .expect(200)
        .clone();
    assert_eq!(after_agent, agent, "B changed A's agent");
    let after_queue = app
        .get(&format!("/v1/queues/{}", ids["queue"]))
        .await
        .expect(200)
        .clone();
    assert_eq!(after_queue, queue, "B changed A's queue");
    assert_eq!(
        app.get(&format!("/v1/contacts/{}", ids["contact"]))
            .await
            .expect(200),
        &contact,
        "B changed A's contact"
    );
    app.get(&format!("/v1/dnc/{}", dnc_phone.replace('+', "%2B")))
        .await
        .expect(200);
    assert_eq!(
        app.get(&format!("/v1/playbooks/{}", ids["playbook"]))
            .await
            .expect(200),
        &playbook,
        "B changed A's playbook"
    );
    get_with_token(&app, key["key"].as_str().unwrap())
        .await
        .expect(200);
}

#[tokio::test]
async fn an_rs256_public_key_verifies_tokens_signed_with_its_private_key() {
    let app = spawn_app().await;
    let (private, public) = key_pair(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    app.request(
        Method::PUT,
        "/v1/jwt-key",
        Some(&json!({ "algorithm": "RS256", "public_key": public })),
    )
    .await
    .expect(200);
    let shown = app.get("/v1/jwt-key").await.expect(200).clone();
    assert_eq!(
        shown,
        json!({ "algorithm": "RS256" }),
        "the key itself is never shown"
    );
    let claims = json!({ "account_id": app.account_id, "sub": "ivr", "scope": "callbacks:read", "exp": now_s() + 60 });
    let token = encode(
        &Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
    )
    .unwrap();
    get_with_token(&app, &token).await.expect(200);
    // Removing the key stops JWTs at once.
    let removed = app.request(Method::DELETE, "/v1/jwt-key", None).await;
    assert_eq!(removed.status, 204);
    get_with_token(&app, &token)
        .await
        .expect_error(401, "unauthorized");
}

/// Token times are judged by the server's clock (the one every other rule reads), not the
/// library's: an hour ahead, a token that expires in ten minutes is expired, and one not
/// valid for another half hour is.
#[tokio::test]
async fn jwt_times_are_judged_by_the_server_clock() {
    let clock = std::sync::Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    register_hs256(&app).await;
    let claims = |exp: i64, nbf: i64| {
        json!({ "account_id": app.account_id, "sub": "crm-bot", "scope": "callbacks:read",
                "exp": exp, "nbf": nbf, "iat": now_s() })
    };
    let expiring = hs256(HS_SECRET, &claims(now_s() + 600, now_s()));
    let later = hs256(HS_SECRET, &claims(now_s() + 7200, now_s() + 1800));
    get_with_token(&app, &expiring).await.expect(200);
    refused(&get_with_token(&app, &later).await, "token not yet valid");

    clock.advance(std::time::Duration::from_secs(3600));
    refused(&get_with_token(&app, &expiring).await, "token expired");
    get_with_token(&app, &later).await.expect(200);
}

fn refused(resp: &Resp, why: &str) {
    let error = resp.expect_error(401, "unauthorized");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains(why)),
        "expected {why:?}: {error}"
    );
}
