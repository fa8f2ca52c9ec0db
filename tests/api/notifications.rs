//! Confirmations and reminders to customers, and every callback's `customer_link`.
//!
//! Emails go to a real SMTP server on 127.0.0.1 (PyPI `aiosmtpd`, from `tests/smtp/.venv`:
//! `python3 -m venv tests/smtp/.venv && tests/smtp/.venv/bin/pip install -r
//! tests/smtp/requirements.txt`; `.ci/run` does it), which stores each message in a maildir;
//! the test parses them with Python's `email` module. Texts go to prism mocking Twilio's
//! published API description (`tests/twilio`, `npm ci`), which validates each request and
//! answers 422 to an invalid one, and to a recording stand-in carrier for their content. A test
//! fails, saying so, without these tools.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::Uri, routing::any};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use ringback::{
    clock::Clock,
    domain::{
        SigningSecret,
        customer_link::{LINK_KEY_NAME, LinkError, verify},
    },
};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::{
    helpers::*,
    twilio::{ACCOUNT_SID, Prism, TOKEN},
};

const TRUNK_NUMBER: &str = "+14155550100";
const PUBLIC_URL: &str = "https://callbacks.example.com";

fn tests_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server
// ---------------------------------------------------------------------------------------------

/// An email as the SMTP server received it, parsed by Python's `email` module.
#[derive(Debug, Clone)]
struct Mail {
    to: String,
    from: String,
    subject: String,
    body: String,
}

/// aiosmtpd on a free port of 127.0.0.1, storing what it receives in a maildir.
struct SmtpServer {
    _child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

fn python() -> PathBuf {
    let python = tests_dir("smtp").join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: create it with `python3 -m venv tests/smtp/.venv && \
         tests/smtp/.venv/bin/pip install -r tests/smtp/requirements.txt` (.ci/run does)",
        python.display()
    );
    python
}

impl SmtpServer {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("aiosmtpd could not be started ({e})"));
        eventually(Duration::from_secs(20), "aiosmtpd to listen", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Self {
            _child: child,
            port,
            maildir,
            _dir: dir,
        }
    }

    /// Every message received so far, oldest first.
    async fn mails(&self) -> Vec<Mail> {
        let script = "import email, email.policy, json, os, sys\n\
                      d = os.path.join(sys.argv[1], 'new')\n\
                      out = []\n\
                      for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:\n\
                      \x20   with open(os.path.join(d, n), 'rb') as f:\n\
                      \x20       m = email.message_from_binary_file(f, policy=email.policy.default)\n\
                      \x20   out.append({'to': str(m['To']), 'from': str(m['From']),\n\
                      \x20               'subject': str(m['Subject']), 'body': m.get_content()})\n\
                      print(json.dumps(out))\n";
        let out = Command::new(python())
            .args(["-c", script])
            .arg(&self.maildir)
            .output()
            .await
            .expect("python runs");
        assert!(
            out.status.success(),
            "reading the maildir failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        all.into_iter()
            .map(|m| Mail {
                to: m["to"].as_str().unwrap().to_owned(),
                from: m["from"].as_str().unwrap().to_owned(),
                subject: m["subject"].as_str().unwrap().to_owned(),
                body: m["body"].as_str().unwrap().to_owned(),
            })
            .collect()
    }

    async fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .await
            .into_iter()
            .filter(|m| m.to.contains(to))
            .collect()
    }

    /// Waits for the `n`th message to `to`.
    async fn wait_for(&self, to: &str, n: usize) -> Vec<Mail> {
        eventually(WAIT, &format!("{n} emails to {to}"), || async {
            let mails = self.mails_to(to).await;
            (mails.len() >= n).then_some(mails)
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Texts: prism on Twilio's API description, and a recording carrier
// ---------------------------------------------------------------------------------------------

/// A text as the stand-in carrier received it.
#[derive(Debug, Clone)]
struct Text {
    path: String,
    authorization: String,
    form: Vec<(String, String)>,
}

impl Text {
    fn param(&self, name: &str) -> &str {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Answers every Messages.json create like Twilio (201 and a sid) and records it.
struct Carrier {
    base: String,
    texts: Arc<Mutex<Vec<Text>>>,
}

async fn carrier_handler(
    State(texts): State<Arc<Mutex<Vec<Text>>>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, String) {
    texts.lock().unwrap().push(Text {
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        form: serde_urlencoded::from_bytes(&body).unwrap_or_default(),
    });
    let sid = format!("SM{}", "0".repeat(32));
    (
        axum::http::StatusCode::CREATED,
        json!({ "sid": sid, "status": "queued" }).to_string(),
    )
}

impl Carrier {
    async fn start() -> Self {
        let texts = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/{*rest}", any(carrier_handler))
            .with_state(texts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{addr}/2010-04-01"),
            texts,
        }
    }

    fn texts_to(&self, phone: &str) -> Vec<Text> {
        self.texts
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.param("To") == phone)
            .cloned()
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Shortcuts
// ---------------------------------------------------------------------------------------------

/// A server whose links are under [`PUBLIC_URL`] and whose failed messages are retried twice,
/// quickly, on `clock`.
async fn app_on(clock: Arc<ShiftedClock>) -> TestApp {
    let app = spawn_app_with_clock(clock, |c| {
        c.public_url = Some(PUBLIC_URL.parse().unwrap());
        c.notification_retry_delays_ms = vec![100, 100];
        c.notification_timeout_ms = 2_000;
        c.allow_private_webhooks = true;
    })
    .await;
    app.any_hour().await;
    app
}

async fn app() -> TestApp {
    app_on(Arc::new(ShiftedClock::default())).await
}

async fn put_notifications(app: &TestApp, body: Value) -> Resp {
    app.request(Method::PUT, "/v1/settings/notifications", Some(&body))
        .await
}

/// Emails on, to `smtp`, with no encryption (the test server speaks plain SMTP).
async fn email_on(app: &TestApp, port: u16, extra: Value) {
    let mut body = json!({
        "email_enabled": true, "email_from": "Acme Callbacks <callbacks@acme.example>",
        "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
        "company_name": "Acme",
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    put_notifications(app, body).await.expect(200);
}

async fn twilio_trunk(app: &TestApp, base_url: &str) -> String {
    app.post_json(
        "/v1/trunks",
        &json!({ "name": "Texts", "kind": "twilio_compatible", "settings": {
            "profile": "twilio", "account_sid": ACCOUNT_SID, "auth_token": TOKEN,
            "caller_id": TRUNK_NUMBER, "status_callback_base": app.url(""), "base_url": base_url,
        }}),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A callback in Los Angeles (415 numbers are) at `at`, with `extra` fields.
async fn callback_at(app: &TestApp, at: Timestamp, extra: Value) -> Value {
    let mut body = json!({ "phone": unique_phone(), "scheduled_at": at.to_string() });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    app.create(&body).await
}

/// Waits until the callback's history holds an event of `kind`; the callback.
async fn wait_for_event(app: &TestApp, id: &str, kind: &str) -> Value {
    eventually(WAIT, &format!("{kind} in the history of {id}"), || async {
        let cb = app.get_callback(id).await;
        (!events_of(&cb, kind).is_empty()).then_some(cb)
    })
    .await
}

async fn link_key(app: &TestApp) -> SigningSecret {
    app.store
        .server_secret(LINK_KEY_NAME, SigningSecret::generate(), Timestamp::now())
        .await
        .unwrap()
}

/// The token of a customer link.
fn token_of(link: &str) -> &str {
    link.rsplit_once("/c/").expect("a customer link").1
}

/// How the customer's zone writes `at` (Los Angeles), computed here with jiff on its own.
fn los_angeles(at: Timestamp) -> (String, String) {
    let zoned = at.to_zoned(jiff::tz::TimeZone::get("America/Los_Angeles").unwrap());
    (
        zoned.strftime("%B %-d, %Y at %-I:%M %p").to_string(),
        zoned.strftime("%Z").to_string(),
    )
}

/// Two days ahead at 10:30 UTC, to the second.
fn in_two_days() -> Timestamp {
    let t = Timestamp::now() + SignedDuration::from_hours(48);
    Timestamp::from_second(t.as_second() - t.as_second() % 3600 + 1800).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_callback_carries_a_customer_link_that_verifies_to_it_and_reveals_nothing_else() {
    let app = app().await;
    let phone = unique_phone();
    let created = app
        .create(&json!({ "phone": phone, "scheduled_at": tomorrow(),
                         "contact_name": "Ann Lee" }))
        .await;
    let id = created["id"].as_str().unwrap();
    let link = created["customer_link"].as_str().expect("a customer_link");
    assert!(link.starts_with(&format!("{PUBLIC_URL}/c/")), "{link}");
    let token = token_of(link);
    assert!(
        !token.contains(&phone[1..]) && !link.contains("Ann"),
        "{link}"
    );
    // The same link on every read: the callback, the list.
    assert_eq!(app.get_callback(id).await["customer_link"], link);
    let listed = app.list_all().await;
    let row = listed.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(row["customer_link"], link);

    let key = link_key(&app).await;
    let named = verify(&key, token).expect("the token verifies");
    assert_eq!(named.callback_id.as_str(), id);
    assert_eq!(named.account_id.as_str(), app.account_id);
    let mut tampered: Vec<char> = token.chars().collect();
    tampered[5] = if tampered[5] == 'x' { 'y' } else { 'x' };
    let tampered: String = tampered.into_iter().collect();
    assert_eq!(verify(&key, &tampered), Err(LinkError::Invalid));
    // Not in the event snapshots that webhooks carry.
    let cb = app.get_callback(id).await;
    assert!(
        events_of(&cb, "callback.created")[0]["data"]["object"]
            .get("customer_link")
            .is_none()
    );
}

#[tokio::test]
async fn without_a_public_url_customer_links_are_relative() {
    let app = spawn_app().await;
    let created = app
        .create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    let link = created["customer_link"].as_str().unwrap();
    assert!(link.starts_with("/c/") && link.len() == 3 + 64, "{link}");
}

#[tokio::test]
async fn an_email_confirmation_carries_the_customers_local_time_and_a_link_to_the_callback() {
    let smtp = SmtpServer::start().await;
    let app = app().await;
    email_on(&app, smtp.port, json!({})).await;
    let phone = unique_phone();
    app.post_json(
        "/v1/contacts",
        &json!({ "phone": phone, "first_name": "Ann", "last_name": "Lee",
                 "email": "ann.lee@example.com" }),
    )
    .await
    .expect(201);
    let at = in_two_days();
    let created = app
        .create(&json!({ "phone": phone, "scheduled_at": at.to_string() }))
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["timezone"], "America/Los_Angeles");

    let mail = smtp.wait_for("ann.lee@example.com", 1).await.remove(0);
    assert_eq!(mail.subject, "Your callback from Acme");
    assert!(mail.from.contains("callbacks@acme.example"), "{mail:?}");
    assert!(mail.body.starts_with("Hi Ann Lee,"), "{}", mail.body);
    let (local, zone) = los_angeles(at);
    assert!(
        mail.body.contains(&local) && mail.body.contains(&zone),
        "{local} {zone} not in {}",
        mail.body
    );
    let link = created["customer_link"].as_str().unwrap();
    assert!(mail.body.contains(link), "{link} not in {}", mail.body);
    // Following the link's token leads to this callback.
    let link_in_mail = mail
        .body
        .split_whitespace()
        .find(|w| w.starts_with(PUBLIC_URL))
        .unwrap();
    let named = verify(&link_key(&app).await, token_of(link_in_mail)).unwrap();
    assert_eq!(named.callback_id.as_str(), id);

    let cb = wait_for_event(&app, id, "callback.notification_sent").await;
    let sent = events_of(&cb, "callback.notification_sent")[0]["data"].clone();
    assert_eq!(sent["channel"], "email");
    assert_eq!(sent["template"], "confirmation");
    assert_eq!(sent["to"], "ann.lee@example.com");
    assert_eq!(sent["attempts"], 1);
    assert!(sent["provider_answer"].as_str().unwrap().starts_with("250"));
    // A customer without an address is skipped, and said so.
    let other = callback_at(&app, at, json!({})).await;
    let other_id = other["id"].as_str().unwrap();
    let cb = wait_for_event(&app, other_id, "callback.notification_skipped").await;
    let skipped = &events_of(&cb, "callback.notification_skipped")[0]["data"];
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("no email address")
    );
}

#[tokio::test]
async fn a_text_confirmation_is_a_valid_request_of_twilios_messages_api() {
    let prism = Prism::start().await;
    let app = app().await;
    let trunk = twilio_trunk(&app, &prism.base).await;
    put_notifications(&app, json!({ "sms_enabled": true, "sms_trunk_id": trunk }))
        .await
        .expect(200);
    let created = callback_at(&app, in_two_days(), json!({})).await;
    let id = created["id"].as_str().unwrap();
    // prism answers 201 only to a request its description allows (422 otherwise, which the
    // worker records as failed for good).
    let cb = wait_for_event(&app, id, "callback.notification_sent").await;
    assert!(events_of(&cb, "callback.notification_failed").is_empty());
    let sent = &events_of(&cb, "callback.notification_sent")[0]["data"];
    assert_eq!(sent["channel"], "sms");
    assert_eq!(sent["template"], "confirmation");
    assert_eq!(sent["to"], created["phone"]);
    assert!(
        sent["provider_answer"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test]
async fn texts_carry_the_time_and_link_from_the_chosen_number_and_respect_sms_consent() {
    let carrier = Carrier::start().await;
    let app = app().await;
    let trunk = twilio_trunk(&app, &carrier.base).await;
    put_notifications(
        &app,
        json!({ "sms_enabled": true, "sms_trunk_id": trunk, "sms_from": "+14155550111",
                "company_name": "Acme",
                "templates": { "sms": { "confirmation":
                    "{{ company }} calls {{ contact_name | default('you') }} {{ time }}: {{ link }}" } } }),
    )
    .await
    .expect(200);
    let at = in_two_days();
    let created = callback_at(&app, at, json!({ "contact_name": "Bo" })).await;
    let phone = created["phone"].as_str().unwrap();
    let text = eventually(WAIT, "a text", || async {
        carrier.texts_to(phone).into_iter().next()
    })
    .await;
    assert_eq!(
        text.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    );
    assert!(text.authorization.starts_with("Basic "));
    assert_eq!(text.param("From"), "+14155550111");
    let (local, zone) = los_angeles(at);
    assert_eq!(
        text.param("Body"),
        format!(
            "Acme calls Bo {}, {local} {zone}: {}",
            at.to_zoned(jiff::tz::TimeZone::get("America/Los_Angeles").unwrap())
                .strftime("%A"),
            created["customer_link"].as_str().unwrap()
        )
    );

    // A number that revoked sms consent gets no text.
    let revoked = unique_phone();
    app.post_json(
        "/v1/consents",
        &json!({ "phone": revoked, "scope": "sms", "status": "revoked", "source": "web_form" }),
    )
    .await
    .expect(201);
    let cb = app
        .create(&json!({ "phone": revoked, "scheduled_at": at.to_string() }))
        .await;
    let id = cb["id"].as_str().unwrap();
    let cb = wait_for_event(&app, id, "callback.notification_skipped").await;
    let skipped = &events_of(&cb, "callback.notification_skipped")[0]["data"];
    assert!(skipped["reason"].as_str().unwrap().contains("revoked"));
    assert!(carrier.texts_to(&revoked).is_empty());

    // When the account requires sms consent, only numbers that gave it get texts.
    put_notifications(&app, json!({ "sms_requires_consent": true }))
        .await
        .expect(200);
    let (without, with) = (unique_phone(), unique_phone());
    app.post_json(
        "/v1/consents",
        &json!({ "phone": with, "scope": "sms", "source": "web_form" }),
    )
    .await
    .expect(201);
    let skipped = app
        .create(&json!({ "phone": without, "scheduled_at": at.to_string() }))
        .await;
    app.create(&json!({ "phone": with, "scheduled_at": at.to_string() }))
        .await;
    eventually(WAIT, "a text to the consenting number", || async {
        carrier.texts_to(&with).into_iter().next()
    })
    .await;
    let cb = wait_for_event(
        &app,
        skipped["id"].as_str().unwrap(),
        "callback.notification_skipped",
    )
    .await;
    assert!(
        events_of(&cb, "callback.notification_skipped")[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("requires consent")
    );
    assert!(carrier.texts_to(&without).is_empty());
}

#[tokio::test]
async fn a_reminder_goes_its_minutes_before_a_new_time_supersedes_it_and_a_cancel_drops_it() {
    let smtp = SmtpServer::start().await;
    let clock = Arc::new(ShiftedClock::default());
    let app = app_on(clock.clone()).await;
    email_on(
        &app,
        smtp.port,
        json!({ "customer_reminder_minutes_before": 60 }),
    )
    .await;
    let now = clock.now();
    let hours = |h: i64| now + SignedDuration::from_hours(h);
    let kept = callback_at(
        &app,
        hours(3),
        json!({ "metadata": { "email": "kept@example.com" } }),
    )
    .await;
    let canceled = callback_at(
        &app,
        hours(3) + SignedDuration::from_mins(30),
        json!({ "metadata": { "email": "canceled@example.com" } }),
    )
    .await;
    let kept_id = kept["id"].as_str().unwrap();
    smtp.wait_for("kept@example.com", 1).await;
    smtp.wait_for("canceled@example.com", 1).await;
    app.cancel(canceled["id"].as_str().unwrap())
        .await
        .expect(200);

    // A new time: the customer hears of it, and the reminder moves with it.
    let moved_to = hours(5);
    app.patch(
        &format!("/v1/callbacks/{kept_id}"),
        &json!({ "scheduled_at": moved_to.to_string() }),
    )
    .await
    .expect(200);
    let mails = smtp.wait_for("kept@example.com", 2).await;
    assert_eq!(mails[1].subject, "Your callback from Acme has a new time");
    let (local, _) = los_angeles(moved_to);
    assert!(mails[1].body.contains(&local), "{}", mails[1].body);

    // Past the old reminder's time (2 h) and the canceled one's (2 h 30): nothing.
    app.move_time(&clock, Duration::from_secs(2 * 3600 + 40 * 60));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(smtp.mails_to("kept@example.com").await.len(), 2);
    assert_eq!(smtp.mails_to("canceled@example.com").await.len(), 1);

    // An hour before the new time: the reminder, telling the new time.
    app.move_time(&clock, Duration::from_secs(80 * 60));
    let mails = smtp.wait_for("kept@example.com", 3).await;
    assert!(
        mails[2].subject.starts_with("Reminder: Acme calls you"),
        "{mails:?}"
    );
    assert!(mails[2].body.contains(&local), "{}", mails[2].body);
    assert_eq!(mails.len(), 3);
    assert_eq!(smtp.mails_to("canceled@example.com").await.len(), 1);
    let cb = wait_for_event(&app, kept_id, "callback.notification_sent").await;
    let templates: Vec<&str> = events_of(&cb, "callback.notification_sent")
        .iter()
        .map(|e| e["data"]["template"].as_str().unwrap())
        .collect();
    assert_eq!(templates, ["confirmation", "rescheduled", "reminder"]);
}

#[tokio::test]
async fn an_unreachable_smtp_server_never_blocks_the_callback_and_ends_as_a_recorded_failure() {
    let app = app().await;
    let closed = free_port();
    email_on(&app, closed, json!({})).await;
    let resp = app
        .post_callback(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                                "metadata": { "email": "nobody@example.com" } }),
        )
        .await;
    let created = resp.expect(201);
    let id = created["id"].as_str().unwrap();
    let cb = wait_for_event(&app, id, "callback.notification_failed").await;
    let failed = &events_of(&cb, "callback.notification_failed")[0]["data"];
    assert_eq!(failed["channel"], "email");
    assert_eq!(failed["template"], "confirmation");
    // The first try and both retries.
    assert_eq!(failed["attempts"], 3);
    assert!(!failed["error"].as_str().unwrap().is_empty());
    assert!(events_of(&cb, "callback.notification_sent").is_empty());
    assert_eq!(cb["status"], "scheduled");
}

#[tokio::test]
async fn the_email_test_reports_the_servers_answer_or_its_error() {
    let smtp = SmtpServer::start().await;
    let app = app().await;
    app.post_json("/v1/settings/email/test", &json!({}))
        .await
        .expect_field_error(400, "missing_field", "smtp_host");
    email_on(&app, smtp.port, json!({})).await;
    let ok = app
        .post_json("/v1/settings/email/test", &json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(
        ok["answer"]
            .as_str()
            .unwrap()
            .contains(&smtp.port.to_string())
    );
    assert_eq!(ok["smtp_security"], "none");

    put_notifications(&app, json!({ "smtp_port": free_port() }))
        .await
        .expect(200);
    let refused = app
        .post_json("/v1/settings/email/test", &json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(refused["ok"], false, "{refused}");
    let error = refused["error"].as_str().unwrap().to_lowercase();
    assert!(
        error.contains("refused") || error.contains("connect"),
        "{error}"
    );
}

#[tokio::test]
async fn bad_notification_settings_are_refused_naming_the_field_and_the_password_is_never_shown() {
    let app = app().await;
    let defaults = app
        .get("/v1/settings/notifications")
        .await
        .expect(200)
        .clone();
    assert_eq!(defaults["sms_enabled"], false);
    assert_eq!(defaults["email_enabled"], false);
    assert!(
        defaults["templates"]["sms"]["confirmation"]
            .as_str()
            .unwrap()
            .contains("{{ link }}")
    );
    let http_trunk = app
        .post_json(
            "/v1/trunks",
            &json!({ "name": "Bridge", "kind": "http_bridge",
                     "settings": { "url": "https://bridge.example.com/dispatch" } }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, code, field) in [
        (
            json!({ "templates": { "sms": { "confirmation": "{{ link | no_such_filter }}" } } }),
            "invalid_field",
            "templates.sms.confirmation",
        ),
        (
            json!({ "templates": { "email": { "reminder": { "body": "{% for x in %}" } } } }),
            "invalid_field",
            "templates.email.reminder.body",
        ),
        (
            json!({ "templates": { "email": { "rescheduled": { "subject": "{{ phone }}" } } } }),
            "invalid_field",
            "templates.email.rescheduled.subject",
        ),
        (json!({ "smtp_port": 0 }), "invalid_field", "smtp_port"),
        (json!({ "smtp_port": 70000 }), "invalid_field", "smtp_port"),
        (json!({ "smtp_port": "25" }), "invalid_field", "smtp_port"),
        (
            json!({ "smtp_security": "ssl" }),
            "invalid_field",
            "smtp_security",
        ),
        (
            json!({ "smtp_host": "smtp://mail" }),
            "invalid_field",
            "smtp_host",
        ),
        (
            json!({ "email_from": "not an address" }),
            "invalid_field",
            "email_from",
        ),
        (
            json!({ "email_enabled": true }),
            "missing_field",
            "smtp_host",
        ),
        (
            json!({ "sms_enabled": true }),
            "missing_field",
            "sms_trunk_id",
        ),
        (
            json!({ "sms_trunk_id": "trk_nope" }),
            "invalid_field",
            "sms_trunk_id",
        ),
        (
            json!({ "sms_trunk_id": http_trunk }),
            "invalid_field",
            "sms_trunk_id",
        ),
        (json!({ "sms_from": "12" }), "invalid_phone", "sms_from"),
        (
            json!({ "customer_reminder_minutes_before": 0 }),
            "invalid_field",
            "customer_reminder_minutes_before",
        ),
        (json!({ "nope": 1 }), "unknown_field", "nope"),
    ] {
        let resp = put_notifications(&app, body.clone()).await;
        let error = resp.expect_field_error(400, code, field);
        if field.starts_with("templates.") {
            assert!(
                error["message"].as_str().unwrap().contains("template"),
                "{body}: {error}"
            );
        }
    }
    let error = put_notifications(
        &app,
        json!({ "templates": { "sms": { "confirmation": "{{ link | no_such_filter }}" } } }),
    )
    .await
    .expect_field_error(400, "invalid_field", "templates.sms.confirmation")
    .clone();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no_such_filter"),
        "minijinja's reason: {error}"
    );
    // Nothing was saved.
    assert_eq!(
        app.get("/v1/settings/notifications").await.expect(200),
        &defaults
    );

    let saved = put_notifications(
        &app,
        json!({ "smtp_host": "smtp.example.com", "smtp_username": "acme",
                "smtp_password": "s3cret-pw", "smtp_security": "tls" }),
    )
    .await;
    let saved = saved.expect(200);
    assert_eq!(saved["smtp_password_set"], true);
    assert_eq!(saved["smtp_port"], 465);
    let shown = app.get("/v1/settings/notifications").await;
    assert!(!shown.text.contains("s3cret-pw"), "{}", shown.text);
    assert!(shown.body.get("smtp_password").is_none());
    assert_eq!(shown.body["smtp_password_set"], true);
    // An answer sent back as it is changes nothing, and keeps the password.
    let again = put_notifications(&app, shown.body.clone()).await;
    assert_eq!(again.expect(200), &shown.body);
    let audit = app.get("/v1/audit").await;
    assert!(!audit.text.contains("s3cret-pw"));
}

#[tokio::test]
async fn an_smtp_server_on_an_internal_address_is_refused_unless_the_server_allows_them() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app().await;
    put_notifications(
        &app,
        json!({ "smtp_host": "127.0.0.1", "smtp_port": smtp.port }),
    )
    .await
    .expect_field_error(400, "invalid_field", "smtp_host");
    put_notifications(&app, json!({ "smtp_host": "localhost" }))
        .await
        .expect_field_error(400, "invalid_field", "smtp_host");
    // A server started with --allow-private-webhooks takes it and reaches it.
    let allowed = app_on(Arc::new(ShiftedClock::default())).await;
    email_on(&allowed, smtp.port, json!({})).await;
    let ok = allowed
        .post_json("/v1/settings/email/test", &json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(ok["ok"], true, "{ok}");
}
