//! Secrets at rest: no secret the server keeps (signing and webhook secrets, JWT keys, trunk
//! credentials, SMTP passwords, the server's own keys) is in the database in clear, and each
//! still works; a server given another key file refuses to start; `ringback secrets
//! rotate-key` re-encrypts everything under a new key; a database made before secrets were
//! encrypted is encrypted on its first start.
//!
//! On SQLite the database file and its WAL are read as bytes; on PostgreSQL every row of every
//! table is read as text with a connection of the test's own (what a dump would hold).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use reqwest::Method;
use ringback::{
    admin,
    app::{AppError, Application},
    config::ServeConfig,
    domain::AccountId,
    store::{Backend, Store},
};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::{Connection, Row};
use tokio_util::sync::CancellationToken;

use crate::{
    database::{TestDatabase, schema_before},
    helpers::*,
};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

/// Every column that holds a secret: (table, column).
const SECRET_COLUMNS: [(&str, &str); 6] = [
    ("accounts", "signing_secret"),
    ("accounts", "jwt_key"),
    ("webhook_endpoints", "secret"),
    ("trunks", "secret"),
    ("notification_settings", "smtp_password"),
    ("server_secrets", "secret"),
];

// ---------------------------------------------------------------------------------------------
// What the database holds, read around the server
// ---------------------------------------------------------------------------------------------

/// The SQLite file of a `sqlite://` URL.
fn sqlite_file(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").expect("a sqlite:// URL"))
}

/// Everything the database holds, as one text: on SQLite the bytes of the file, its WAL and
/// its shared memory; on PostgreSQL every row of every table of the schema as JSON.
async fn everything_stored(db: &TestDatabase) -> String {
    match crate::BACKEND {
        Backend::Sqlite => {
            let file = sqlite_file(&db.url);
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{}{suffix}", file.display());
                if let Ok(b) = std::fs::read(&path) {
                    bytes.extend_from_slice(&b);
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let mut all = String::new();
            for table in tables {
                let rows: Option<String> = sqlx::query_scalar(&format!(
                    "SELECT string_agg(row_to_json(t)::text, E'\\n') FROM \"{table}\" t"
                ))
                .fetch_one(&mut conn)
                .await
                .unwrap();
                all.push_str(&rows.unwrap_or_default());
            }
            conn.close().await.unwrap();
            all
        }
    }
}

/// Every value of every secret column, as stored.
async fn stored_secrets(db: &TestDatabase) -> Vec<String> {
    let mut values = Vec::new();
    for (table, column) in SECRET_COLUMNS {
        let sql = format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL");
        let found: Vec<String> = match crate::BACKEND {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(sqlite_file(&db.url))
                    .read_only(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                let rows = sqlx::query(&sql).fetch_all(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                rows.iter().map(|r| r.get(0)).collect()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                let rows = sqlx::query(&sql).fetch_all(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                rows.iter().map(|r| r.get(0)).collect()
            }
        };
        values.extend(found);
    }
    values
}

/// The ids of the keys the stored secrets were sealed with (`enc:v1:<key id>:...`); panics
/// on a value that is not sealed.
async fn stored_key_ids(db: &TestDatabase) -> Vec<String> {
    stored_secrets(db)
        .await
        .iter()
        .map(|v| {
            let rest = v
                .strip_prefix("enc:v1:")
                .unwrap_or_else(|| panic!("a secret is stored in clear ({} characters)", v.len()));
            rest.split(':').next().unwrap().to_owned()
        })
        .collect()
}

/// Fails naming the first of `secrets` the database holds in clear.
async fn assert_none_stored(db: &TestDatabase, secrets: &[&str]) {
    let stored = everything_stored(db).await;
    assert!(!stored.is_empty(), "the database was read");
    for secret in secrets {
        assert!(
            !stored.contains(secret),
            "the database holds a secret in clear: {secret}"
        );
    }
}

/// The key file of the test database `db` in `dir`.
fn key_file(db: &TestDatabase) -> PathBuf {
    db.key_file.clone().unwrap_or_else(|| {
        let mut name = sqlite_file(&db.url).into_os_string();
        name.push(".key");
        PathBuf::from(name)
    })
}

// ---------------------------------------------------------------------------------------------
// A server stopped and started again on one database
// ---------------------------------------------------------------------------------------------

/// The server's configuration on `db`, with the key file `key` (else the database's own).
fn config_on(db: &TestDatabase, dir: &Path, key: Option<&Path>) -> ServeConfig {
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), db.url.clone());
    config.database.secret_key_file = key.map(Path::to_owned).or_else(|| db.key_file.clone());
    config.min_lead_seconds = 1;
    config.rate_limit_per_second = 0;
    config.allow_private_webhooks = true;
    config.webhook_retry_delays_ms = vec![200, 300];
    config.recordings_dir = dir.join("recordings");
    config
}

/// A running server and an admin key of its account.
struct Running {
    base: String,
    api_key: String,
    account: AccountId,
    store: Arc<dyn Store>,
    client: reqwest::Client,
    shutdown: CancellationToken,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Running {
    /// Runs `app` as `account` (a new account when `None`), with a new admin key.
    async fn run(app: Application, account: Option<AccountId>) -> Self {
        let store = app.store();
        let account = match account {
            Some(a) => a,
            None => {
                admin::create_account(store.as_ref(), "Acme", Timestamp::now())
                    .await
                    .unwrap()
                    .0
                    .id
            }
        };
        let scopes = vec!["admin".to_owned()];
        let (_, key) =
            admin::create_key(store.as_ref(), &account, "test", &scopes, Timestamp::now())
                .await
                .unwrap();
        allow_any_time(store.as_ref(), &account).await;
        let base = format!("http://{}", app.local_addr());
        let shutdown = app.shutdown_token();
        let (ran, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = app.run().await;
            let _ = ran.send(true);
        });
        Self {
            base,
            api_key: key.expose().to_owned(),
            account,
            store,
            client: http_client(),
            shutdown,
            stopped,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.api_key);
        if let Some(b) = body {
            req = req.json(b);
        }
        Resp::read(req.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        let _ = self.stopped.wait_for(|s| *s).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The secrets at work
// ---------------------------------------------------------------------------------------------

/// A webhook receiver that keeps every request.
#[derive(Clone, Default)]
struct Receiver {
    hooks: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start() -> (Self, SocketAddr) {
        async fn take(
            State(r): State<Receiver>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            raw: Bytes,
        ) -> &'static str {
            r.hooks
                .lock()
                .unwrap()
                .push((uri.path().to_owned(), headers, raw));
            "ok"
        }
        let receiver = Self::default();
        let app = Router::new()
            .route("/{*path}", post(take))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    /// Waits for a request to `path` and says whether it is signed with `secret` (Standard
    /// Webhooks: HMAC-SHA256 over `id.timestamp.body` with the base64 key after `whsec_`).
    async fn signed_with(&self, path: &str, secret: &str) -> bool {
        let (headers, raw) = eventually(WAIT, &format!("a request to {path}"), || async {
            self.hooks
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _, _)| p == path)
                .map(|(_, h, b)| (h.clone(), b.clone()))
        })
        .await;
        let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
        mac.update(&raw);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        header("webhook-signature")
            .split(' ')
            .any(|part| part == expected)
    }
}

/// Vapi's signature of `body` with `secret` at `timestamp`.
fn vapi_sign(body: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The status a Vapi event signed with `secret` gets from the trunk: 404 (the call is not the
/// trunk's) once the signature holds, 403 when it does not.
async fn vapi_event_status(base: &str, trunk: &str, secret: &str) -> u16 {
    let body =
        json!({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": {"id": "vapi-call-unknown"}}})
        .to_string();
    let now = Timestamp::now().as_second();
    http_client()
        .post(format!("{base}/telephony/vapi/{trunk}/events"))
        .header("content-type", "application/json")
        .header("x-signature", vapi_sign(&body, secret, now))
        .header("x-timestamp", now.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The known secrets a test gave the server or was shown once.
struct Known {
    signing_secret: String,
    endpoint_secret: String,
    trunk: String,
}

const JWT_SECRET: &str = "jwt-shared-secret-kept-sealed-at-rest-0123456789";
const VAPI_API_KEY: &str = "vapi-private-key-kept-sealed";
const VAPI_WEBHOOK_SECRET: &str = "vapi-webhook-secret-kept-sealed";
const SMTP_PASSWORD: &str = "smtp-password-kept-sealed";

/// Gives the running server's account one secret of every kind, through the API.
async fn give_secrets(server: &Running, receiver: SocketAddr) -> Known {
    let signing_secret = server
        .post("/v1/signing-secret/rotate", &json!({}))
        .await
        .expect(200)["signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .send(
            Method::PUT,
            "/v1/jwt-key",
            Some(&json!({ "algorithm": "HS256", "secret": JWT_SECRET })),
        )
        .await
        .expect(200);
    let endpoint = server
        .post(
            "/v1/webhook-endpoints",
            &json!({ "url": format!("http://{receiver}/endpoint") }),
        )
        .await
        .expect(201)
        .clone();
    let trunk = server
        .post(
            "/v1/trunks",
            &json!({"name": "Vapi", "kind": "vapi", "settings": {
                "api_key": VAPI_API_KEY, "assistant_id": "asst_1",
                "phone_number_id": "pn_1", "webhook_secret": VAPI_WEBHOOK_SECRET }}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .send(
            Method::PUT,
            "/v1/settings/notifications",
            Some(
                &json!({ "smtp_host": "smtp.example.com", "smtp_username": "acme",
                          "smtp_password": SMTP_PASSWORD, "smtp_security": "tls" }),
            ),
        )
        .await
        .expect(200);
    Known {
        signing_secret,
        endpoint_secret: endpoint["secret"].as_str().unwrap().to_owned(),
        trunk,
    }
}

impl Known {
    /// Every secret in clear, and the key of each `whsec_` secret alone.
    fn all(&self) -> Vec<&str> {
        vec![
            &self.signing_secret,
            self.signing_secret.strip_prefix("whsec_").unwrap(),
            &self.endpoint_secret,
            self.endpoint_secret.strip_prefix("whsec_").unwrap(),
            JWT_SECRET,
            VAPI_API_KEY,
            VAPI_WEBHOOK_SECRET,
            SMTP_PASSWORD,
        ]
    }

    /// Each secret does its work on `server`: deliveries are signed with the endpoint's and
    /// the account's secrets, a JWT signed with the shared secret authenticates, the trunk
    /// checks a vendor's signature with its secret, the SMTP password reads back.
    async fn all_work(&self, server: &Running, receiver: &Receiver, addr: SocketAddr, n: u32) {
        let own = format!("/own-{n}");
        let mut body = new_callback(&unique_phone(), &tomorrow());
        body["webhook_url"] = json!(format!("http://{addr}{own}"));
        server.post("/v1/callbacks", &body).await.expect(201);
        assert!(
            receiver
                .signed_with("/endpoint", &self.endpoint_secret)
                .await
        );
        assert!(receiver.signed_with(&own, &self.signing_secret).await);

        let now = Timestamp::now().as_second();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({ "account_id": server.account.as_str(), "sub": "crm", "scope": "callbacks:read",
                     "exp": now + 300, "iat": now }),
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap();
        let with_jwt = server
            .client
            .get(format!("{}/v1/callbacks", server.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(with_jwt.status(), 200);

        assert_eq!(
            vapi_event_status(&server.base, &self.trunk, VAPI_WEBHOOK_SECRET).await,
            404
        );
        assert_eq!(
            vapi_event_status(&server.base, &self.trunk, "another-secret").await,
            403
        );

        let settings = server
            .store
            .notification_settings(&server.account)
            .await
            .unwrap();
        assert_eq!(
            settings.smtp_password.as_ref().map(|p| p.expose()),
            Some(SMTP_PASSWORD)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_holds_no_secret_in_clear_and_every_secret_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path()).await;
    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .unwrap();
    let server = Running::run(app, None).await;
    let (receiver, addr) = Receiver::start().await;
    let known = give_secrets(&server, addr).await;
    known.all_work(&server, &receiver, addr, 1).await;

    assert_none_stored(&db, &known.all()).await;
    // The customer links' key too: every secret column holds sealed values, of one key.
    let ids = stored_key_ids(&db).await;
    assert!(ids.len() >= 6, "{ids:?}");
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    // The key file is its owner's alone, and holds the key the values name.
    let key_file = key_file(&db);
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.contains("rbk1:"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    server.stop().await;
}

#[tokio::test]
async fn a_server_given_another_key_file_refuses_to_start_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path()).await;
    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .unwrap();
    Running::run(app, None).await.stop().await;

    let database_key = stored_key_ids(&db).await[0].clone();
    // Another key: the start is refused, naming both keys and the file.
    let other = dir.path().join("other.key");
    let other_key = ringback::secrets::file::KeyFile::new(&other)
        .load()
        .unwrap()
        .current;
    let refused = Application::build(config_on(&db, dir.path(), Some(&other)))
        .await
        .err()
        .expect("another key is refused");
    let said = refused.to_string();
    assert!(matches!(refused, AppError::Store(_)), "{said}");
    assert!(
        said.contains(&format!("encrypted with key {database_key}")),
        "{said}"
    );
    assert!(said.contains(other_key.id()), "{said}");
    assert!(said.contains(&other.display().to_string()), "{said}");

    // A key file that is not a key is named and refused as well.
    std::fs::write(&other, "not a key\n").unwrap();
    let said = Application::build(config_on(&db, dir.path(), Some(&other)))
        .await
        .err()
        .expect("a file that is not a key is refused")
        .to_string();
    assert!(said.contains("not a Ringback key"), "{said}");

    // Without its key file the database is not given a new key: the start is refused.
    let own = key_file(&db);
    let kept = dir.path().join("kept.key");
    std::fs::rename(&own, &kept).unwrap();
    let said = Application::build(config_on(&db, dir.path(), None))
        .await
        .err()
        .expect("a missing key file is refused")
        .to_string();
    assert!(
        said.contains(&format!("encrypted with key {database_key}")),
        "{said}"
    );
    assert!(said.contains("does not exist"), "{said}");
    assert!(!own.exists(), "no new key was made in its place");
    std::fs::rename(&kept, &own).unwrap();
    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .expect("its own key file opens it");
    drop(app);

    if crate::BACKEND == Backend::Postgres {
        let mut config = config_on(&db, dir.path(), None);
        config.database.secret_key_file = None;
        let said = Application::build(config)
            .await
            .err()
            .expect("PostgreSQL without a key file is refused")
            .to_string();
        assert!(said.contains("--secret-key-file"), "{said}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_reencrypts_every_secret_under_a_new_key_that_the_server_then_uses() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path()).await;
    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .unwrap();
    let server = Running::run(app, None).await;
    let account = server.account.clone();
    let (receiver, addr) = Receiver::start().await;
    let known = give_secrets(&server, addr).await;
    server.stop().await;
    let before = stored_key_ids(&db).await;
    let old_key = dir.path().join("old.key");
    std::fs::copy(key_file(&db), &old_key).unwrap();

    let out = tokio::process::Command::new(BIN)
        .args(["secrets", "rotate-key", "--database-url", &db.url])
        .envs(db.key_env())
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "rotate-key failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report: Value = serde_json::from_str(stdout.trim()).expect("a JSON report");
    let new_id = report["key_id"].as_str().unwrap();
    assert_eq!(report["previous_key_id"], before[0].as_str());
    assert_ne!(new_id, before[0]);
    assert_eq!(report["reencrypted"].as_u64().unwrap(), before.len() as u64);
    let key_text = std::fs::read_to_string(key_file(&db)).unwrap();
    assert!(!stdout.contains(key_text.lines().last().unwrap()));
    assert!(!stdout.contains(&std::fs::read_to_string(&old_key).unwrap()));

    // Every secret is sealed with the new key; the old one no longer opens anything.
    let after = stored_key_ids(&db).await;
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|id| id == new_id), "{after:?}");
    let mut pending = key_file(&db).into_os_string();
    pending.push(".new");
    assert!(
        !Path::new(&pending).exists(),
        "the new key file replaced the old"
    );
    assert_none_stored(&db, &known.all()).await;
    let said = Application::build(config_on(&db, dir.path(), Some(&old_key)))
        .await
        .err()
        .expect("the old key is refused")
        .to_string();
    assert!(
        said.contains(&format!("encrypted with key {new_id}")),
        "{said}"
    );

    // A crash after the re-encryption's commit, before the new file replaced the old: the
    // old key file and the new one beside it. The start keeps the new key and finishes.
    let current = key_file(&db);
    std::fs::rename(&current, &pending).unwrap();
    std::fs::copy(&old_key, &current).unwrap();
    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .expect("a rotation cut short after its commit is finished at start");
    drop(app);
    assert!(!Path::new(&pending).exists());
    let finished = std::fs::read_to_string(&current).unwrap();
    assert_eq!(finished, key_text);

    // A crash before the commit: a new key file beside the current one, which the database
    // does not name. The start keeps the current key and drops the other.
    ringback::secrets::file::KeyFile::new(&current)
        .write_pending(&ringback::secrets::Key::generate())
        .unwrap();
    assert!(Path::new(&pending).exists());

    // The server starts with the key file as it is now, and every secret still works.
    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .unwrap();
    assert!(!Path::new(&pending).exists());
    assert_eq!(std::fs::read_to_string(&current).unwrap(), key_text);
    let server = Running::run(app, Some(account)).await;
    known.all_work(&server, &receiver, addr, 2).await;
    server.stop().await;
    assert!(stored_key_ids(&db).await.iter().all(|id| id == new_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_before_secrets_were_encrypted_is_encrypted_on_its_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create_empty(dir.path()).await;
    let (receiver, addr) = Receiver::start().await;
    let signing = format!("whsec_{}", STANDARD.encode([7u8; 32]));
    let endpoint = format!("whsec_{}", STANDARD.encode([9u8; 32]));
    let deleted = format!("whsec_{}", STANDARD.encode([5u8; 32]));
    let account = "acc_01JD3M6Q0Y8W4ZK1T2V5R7X9AB";
    // As a version before this one kept them: in clear, and a deleted endpoint's secret left
    // in freed space.
    schema_before(
        &db.url,
        20261231000046,
        &format!(
            "INSERT INTO accounts (id, name, created_at, signing_secret) \
             VALUES ('{account}', 'Old', 0, '{signing}');
             INSERT INTO webhook_endpoints (id, account_id, url, description, event_types, \
             secret, enabled, created_at, updated_at) VALUES ('wh_01JD3M6Q0Y8W4ZK1T2V5R7X9AB', \
             '{account}', 'http://{addr}/endpoint', NULL, '[\"*\"]', '{endpoint}', 1, 0, 0);
             INSERT INTO webhook_endpoints (id, account_id, url, description, event_types, \
             secret, enabled, created_at, updated_at) VALUES ('wh_01JD3M6Q0Y8W4ZK1T2V5R7X9AC', \
             '{account}', 'http://{addr}/gone', NULL, '[\"*\"]', '{deleted}', 1, 0, 0);
             DELETE FROM webhook_endpoints WHERE id = 'wh_01JD3M6Q0Y8W4ZK1T2V5R7X9AC';"
        ),
    )
    .await;
    assert!(everything_stored(&db).await.contains(&endpoint));

    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .unwrap();
    let account = AccountId::parse(account).unwrap();
    let server = Running::run(app, Some(account.clone())).await;
    let mut sealed = stored_secrets(&db).await;
    let ids = stored_key_ids(&db).await;
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_none_stored(&db, &[&signing, &endpoint]).await;
    if crate::BACKEND == Backend::Sqlite {
        // SQLite keeps freed pages and the WAL: neither holds a secret after the first start.
        assert_none_stored(&db, &[&deleted]).await;
    }
    // The secrets kept before still sign.
    let mut body = new_callback(&unique_phone(), &tomorrow());
    body["webhook_url"] = json!(format!("http://{addr}/own"));
    server.post("/v1/callbacks", &body).await.expect(201);
    assert!(receiver.signed_with("/endpoint", &endpoint).await);
    assert!(receiver.signed_with("/own", &signing).await);
    server.stop().await;

    // Once sealed, a start seals nothing again.
    let app = Application::build(config_on(&db, dir.path(), None))
        .await
        .unwrap();
    let server = Running::run(app, Some(account)).await;
    let mut again = stored_secrets(&db).await;
    server.stop().await;
    sealed.sort();
    again.sort();
    // The second start's own new values (none expected) aside, the sealed ones are unchanged.
    assert!(
        sealed.iter().all(|v| again.contains(v)),
        "resealed on a second start"
    );
}
