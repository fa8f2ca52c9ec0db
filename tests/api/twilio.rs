//! Calls on a `twilio_compatible` trunk: placed against Twilio's own published API description
//! (prism mocking `twilio_api_v2010.json` validates every request), ended by status callbacks
//! signed with Twilio's official helper library (PyPI `twilio`, `RequestValidator`), and, against
//! a stand-in carrier, SignalWire and Telnyx calls, a refused token, and a voicemail drop from
//! a signed URL.
//!
//! prism and the API description come from `tests/twilio/package.json` (`npm ci` there), the
//! helper library from `tests/twilio/.venv` (`python3 -m venv tests/twilio/.venv &&
//! tests/twilio/.venv/bin/pip install -r tests/twilio/requirements.txt`); `.ci/run` does both.
//! A test fails, saying so, without them.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    routing::any,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::*;

pub(crate) const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub(crate) const TOKEN: &str = "twilio-test-auth-token";
const CALLER_ID: &str = "+14155550100";

fn twilio_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twilio")
}

// ---------------------------------------------------------------------------------------------
// Twilio's own tools
// ---------------------------------------------------------------------------------------------

/// The signature Twilio's helper library computes for a request (`RequestValidator`).
pub(crate) async fn official_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let python = twilio_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: create it with `python3 -m venv tests/twilio/.venv && \
         tests/twilio/.venv/bin/pip install -r tests/twilio/requirements.txt` (.ci/run does)",
        python.display()
    );
    let params: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let script = "import json, sys\n\
                  from twilio.request_validator import RequestValidator\n\
                  token, url, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n\
                  print(RequestValidator(token).compute_signature(url, params), end='')\n";
    let out = Command::new(&python)
        .args(["-c", script, token, url, &Value::Object(params).to_string()])
        .output()
        .await
        .expect("python runs");
    assert!(
        out.status.success(),
        "Twilio's RequestValidator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// prism mocking Twilio's published API description, on a free port.
pub(crate) struct Prism {
    _child: Child,
    /// The API root, as a trunk's `base_url`.
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

impl Prism {
    pub(crate) async fn start() -> Self {
        let bin = twilio_dir().join("node_modules/.bin/prism");
        let spec = twilio_dir()
            .join("node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json");
        assert!(
            bin.exists() && spec.exists(),
            "prism or Twilio's API description is missing: run `npm ci` in tests/twilio \
             (.ci/run does)"
        );
        // prism reads a form body's repeated keys as arrays only where the description states
        // the encoding OpenAPI defaults to (style form, explode true); the copy states it for
        // the array properties of the call-creating request and changes nothing else.
        let mut description: Value =
            serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
        let form = &mut description["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls.json"]["post"]
            ["requestBody"]["content"]["application/x-www-form-urlencoded"];
        let arrays: Vec<String> = form["schema"]["properties"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, p)| p["type"] == "array")
            .map(|(k, _)| k.clone())
            .collect();
        assert!(arrays.contains(&"StatusCallbackEvent".to_owned()));
        form["encoding"] = arrays
            .iter()
            .map(|k| (k.clone(), json!({ "style": "form", "explode": true })))
            .collect::<serde_json::Map<_, _>>()
            .into();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("twilio_api_v2010.json");
        std::fs::write(&copy, description.to_string()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&bin)
            .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(&copy)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("prism could not be started ({e})"));
        let base = format!("http://127.0.0.1:{port}/2010-04-01");
        let client = http_client();
        eventually(Duration::from_secs(60), "prism to listen", || async {
            client
                .get(format!("{base}/Accounts/{ACCOUNT_SID}/Calls.json"))
                .basic_auth(ACCOUNT_SID, Some(TOKEN))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Self {
            _child: child,
            base,
            _dir: dir,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A stand-in carrier
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct CarrierRequest {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    form: Vec<(String, String)>,
    json: Value,
}

impl CarrierRequest {
    fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.json[name].as_str())
    }

    fn params(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Default)]
struct CarrierState {
    requests: Mutex<Vec<CarrierRequest>>,
    /// Created calls, as `GET Calls.json` lists them.
    calls: Mutex<Vec<Value>>,
    refuse_token: Mutex<bool>,
    /// How long a create is held before it is answered.
    hold: Mutex<Duration>,
}

/// Plays a provider's Calls API: creates calls (answering with a new sid), lists them, or
/// refuses the token like Twilio does (401, code 20003).
struct Carrier {
    url: String,
    state: Arc<CarrierState>,
}

async fn carrier_handler(
    State(state): State<Arc<CarrierState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let request = CarrierRequest {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers,
        form: serde_urlencoded::from_bytes(&body).unwrap_or_default(),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    state.requests.lock().unwrap().push(request.clone());
    if *state.refuse_token.lock().unwrap() {
        return (
            StatusCode::UNAUTHORIZED,
            json!({ "code": 20003, "message": "Authenticate", "more_info":
                    "https://www.twilio.com/docs/errors/20003", "status": 401 })
            .to_string(),
        );
    }
    if method == Method::GET
        && let Some(sid) = request
            .path
            .rsplit_once("/Calls/")
            .and_then(|(_, rest)| rest.strip_suffix(".json"))
    {
        let calls = state.calls.lock().unwrap();
        return match calls.iter().find(|c| c["sid"] == sid) {
            Some(call) => (StatusCode::OK, call.to_string()),
            None => (StatusCode::NOT_FOUND, json!({ "code": 20404 }).to_string()),
        };
    }
    if method == Method::GET {
        let calls = state.calls.lock().unwrap().clone();
        return (StatusCode::OK, json!({ "calls": calls }).to_string());
    }
    let sid = format!("CA{}", ulid::Ulid::new().to_string().to_lowercase());
    let call = json!({
        "sid": sid, "call_sid": sid, "status": "queued",
        "to": request.param("To"), "from": request.param("From"),
        "date_created": jiff::fmt::rfc2822::to_string(&jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC)).unwrap(),
    });
    // Placed at once, like a provider's call; the answer may be held.
    state.calls.lock().unwrap().push(call.clone());
    let hold = *state.hold.lock().unwrap();
    tokio::time::sleep(hold).await;
    (StatusCode::CREATED, call.to_string())
}

impl Carrier {
    async fn start() -> Self {
        let state = Arc::new(CarrierState::default());
        let app = Router::new()
            .route("/{*rest}", any(carrier_handler))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            state,
        }
    }

    fn hold(&self, hold: Duration) {
        *self.state.hold.lock().unwrap() = hold;
    }

    fn lookups_to(&self, phone: &str) -> Vec<CarrierRequest> {
        let to = serde_urlencoded::to_string([("To", phone)]).unwrap();
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == Method::GET && r.query.contains(&to))
            .cloned()
            .collect()
    }

    /// The provider's call `sid` ends: its resource shows `fields` from now on.
    fn end_call(&self, sid: &str, fields: Value) {
        let mut calls = self.state.calls.lock().unwrap();
        let call = calls.iter_mut().find(|c| c["sid"] == sid).unwrap();
        if let (Value::Object(call), Value::Object(fields)) = (call, fields) {
            call.extend(fields);
        }
    }

    fn refuse_token(&self, on: bool) {
        *self.state.refuse_token.lock().unwrap() = on;
    }

    fn creates(&self) -> Vec<CarrierRequest> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == Method::POST)
            .cloned()
            .collect()
    }

    fn creates_to(&self, phone: &str) -> Vec<CarrierRequest> {
        self.creates()
            .into_iter()
            .filter(|r| r.param("To") == Some(phone))
            .collect()
    }

    /// The first call created to `phone`, and the sid it was given.
    async fn call_to(&self, phone: &str) -> (CarrierRequest, String) {
        let request = eventually(WAIT, &format!("a call to {phone}"), || async {
            self.creates_to(phone).into_iter().next()
        })
        .await;
        let sid = self
            .state
            .calls
            .lock()
            .unwrap()
            .iter()
            .find(|c| c["to"] == phone)
            .map(|c| c["sid"].as_str().unwrap().to_owned())
            .unwrap();
        (request, sid)
    }
}

// ---------------------------------------------------------------------------------------------
// Shortcuts
// ---------------------------------------------------------------------------------------------

async fn quick_app() -> TestApp {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.allow_private_webhooks = true;
    })
    .await;
    app.any_hour().await;
    app
}

async fn trunk(app: &TestApp, settings: Value) -> String {
    let mut all = json!({
        "profile": "twilio", "account_sid": ACCOUNT_SID, "auth_token": TOKEN,
        "caller_id": CALLER_ID, "status_callback_base": app.url(""),
    });
    if let (Value::Object(all), Value::Object(settings)) = (&mut all, settings) {
        all.extend(settings);
    }
    let created = app
        .post_json(
            "/v1/trunks",
            &json!({ "name": "Twilio", "kind": "twilio_compatible", "settings": all }),
        )
        .await;
    created.expect(201)["id"].as_str().unwrap().to_owned()
}

async fn call(app: &TestApp, trunk: &str, extra: Value) -> (String, String) {
    let phone = unique_phone();
    let mut body = json!({ "phone": phone, "scheduled_at": in_ms(300), "trunk_id": trunk,
                           "recall": [] });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let cb = app.create(&body).await;
    (cb["id"].as_str().unwrap().to_owned(), phone)
}

fn status_url(app: &TestApp, trunk: &str) -> String {
    app.url(&format!("/telephony/twilio/{trunk}/status"))
}

/// Posts a status callback with `params`, signed with `signature` (none: unsigned).
async fn post_status(
    app: &TestApp,
    trunk: &str,
    params: &[(&str, &str)],
    header: Option<(&str, String)>,
) -> u16 {
    let mut request = app
        .client
        .post(status_url(app, trunk))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(params).unwrap());
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Posts a status callback signed by Twilio's helper library; answers its status.
async fn signed_status(app: &TestApp, trunk: &str, params: &[(&str, &str)]) -> u16 {
    let signature = official_signature(TOKEN, &status_url(app, trunk), params).await;
    post_status(app, trunk, params, Some(("X-Twilio-Signature", signature))).await
}

async fn attempt(app: &TestApp, id: &str) -> Value {
    app.get_callback(id).await["attempts"][0].clone()
}

async fn wait_for_outcome(app: &TestApp, id: &str) -> Value {
    eventually(WAIT, &format!("{id} to have an outcome"), || async {
        let cb = app.get_callback(id).await;
        (!cb["outcome"].is_null()).then_some(cb)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_twilio_trunk_keeps_its_token_to_itself_and_bad_settings_name_their_field() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    let id = trunk(&app, json!({ "base_url": carrier.url })).await;
    let shown = app.get(&format!("/v1/trunks/{id}")).await;
    assert!(
        !shown.text.contains(TOKEN),
        "the token is never shown: {}",
        shown.text
    );
    let shown = shown.expect(200);
    assert_eq!(shown["kind"], "twilio_compatible");
    assert_eq!(shown["status"], "ok");
    assert_eq!(shown["settings"]["auth_token_set"], true);
    assert_eq!(shown["settings"]["profile"], "twilio");
    assert_eq!(shown["settings"]["account_sid"], ACCOUNT_SID);
    let audit = app.get(&format!("/v1/audit?resource_id={id}")).await;
    assert!(!audit.text.contains(TOKEN), "nor audited: {}", audit.text);

    let good = json!({ "profile": "twilio", "account_sid": ACCOUNT_SID, "auth_token": TOKEN,
                       "caller_id": CALLER_ID, "status_callback_base": "https://rb.example.com" });
    let with = |key: &str, value: Value| {
        let mut s = good.clone();
        s[key] = value;
        s
    };
    let without = |key: &str| {
        let mut s = good.clone();
        s.as_object_mut().unwrap().remove(key);
        s
    };
    let cases = [
        (
            without("account_sid"),
            "missing_field",
            "settings.account_sid",
        ),
        (
            with("account_sid", json!("AC12")),
            "invalid_field",
            "settings.account_sid",
        ),
        (
            without("auth_token"),
            "missing_field",
            "settings.auth_token",
        ),
        (
            with("profile", json!("plivo")),
            "invalid_field",
            "settings.profile",
        ),
        (
            with("caller_id", json!("12")),
            "invalid_phone",
            "settings.caller_id",
        ),
        (
            with("status_callback_base", json!("ftp://x")),
            "invalid_field",
            "settings.status_callback_base",
        ),
        (
            with("base_url", json!(7)),
            "invalid_field",
            "settings.base_url",
        ),
        (
            with("profile", json!("signalwire")),
            "missing_field",
            "settings.space",
        ),
        (
            with("profile", json!("telnyx_texml")),
            "missing_field",
            "settings.application_sid",
        ),
        (
            with("public_key", json!("not a key")),
            "invalid_field",
            "settings.public_key",
        ),
        (
            with("colour", json!("red")),
            "unknown_field",
            "settings.colour",
        ),
    ];
    for (settings, code, field) in cases {
        let resp = app
            .post_json(
                "/v1/trunks",
                &json!({ "name": "T", "kind": "twilio_compatible", "settings": settings }),
            )
            .await;
        resp.expect_field_error(400, code, field);
    }
}

#[tokio::test]
async fn calls_placed_on_a_twilio_trunk_validate_against_twilios_api_description() {
    let prism = Prism::start().await;
    // The validator is live: a request without `From` is refused.
    let refused = http_client()
        .post(format!("{}/Accounts/{ACCOUNT_SID}/Calls.json", prism.base))
        .basic_auth(ACCOUNT_SID, Some(TOKEN))
        .form(&[("To", "+14155550199"), ("Twiml", "<Response/>")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert!(body.to_string().contains("From"), "{body}");

    let app = quick_app().await;
    let trunk = trunk(
        &app,
        json!({ "base_url": prism.base, "ai_stream_url": "wss://ai.example.com/stream" }),
    )
    .await;
    let (said, _) = call(
        &app,
        &trunk,
        json!({ "initial_message": "Your order has shipped", "amd": "detect",
                "ring_timeout_seconds": 20, "max_duration_seconds": 120 }),
    )
    .await;
    let (ai, _) = call(
        &app,
        &trunk,
        json!({ "dialing_mode": "ai", "initial_message": "Hi <Ann> & co", "recording_enabled": false }),
    )
    .await;
    // prism answers a valid request with the description's example call.
    for id in [&said, &ai] {
        let cb = app.wait_for_status(id, "in_progress", WAIT).await;
        let attempt = &cb["attempts"][0];
        assert_eq!(attempt["last_bridge_status"], 201, "{cb}");
        assert_eq!(attempt["bridge_requests"], 1, "{cb}");
        assert_eq!(
            attempt["provider_call_id"], "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "{cb}"
        );
        assert_eq!(attempt["leg_state"], "initiated", "{cb}");
    }
}

#[tokio::test]
async fn status_callbacks_signed_by_twilios_library_end_calls_with_their_outcomes() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    let trunk = trunk(
        &app,
        json!({ "base_url": format!("{}/2010-04-01", carrier.url) }),
    )
    .await;

    // A human answers: initiated, ringing, in progress, completed.
    let (id, phone) = call(
        &app,
        &trunk,
        json!({ "amd": "detect", "initial_message": "Hello", "max_duration_seconds": 300,
                "ring_timeout_seconds": 25 }),
    )
    .await;
    let (request, sid) = carrier.call_to(&phone).await;
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    );
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{ACCOUNT_SID}:{TOKEN}"))
    );
    assert_eq!(request.header("authorization"), basic);
    assert_eq!(request.param("From"), Some(CALLER_ID));
    assert_eq!(request.param("Timeout"), Some("25"));
    assert_eq!(request.param("TimeLimit"), Some("300"));
    assert_eq!(request.param("Record"), Some("true"));
    assert_eq!(request.param("MachineDetection"), Some("Enable"));
    assert_eq!(request.param("AsyncAmd"), Some("true"));
    assert_eq!(
        request.param("StatusCallback"),
        Some(status_url(&app, &trunk).as_str())
    );
    assert_eq!(
        request.params("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert!(
        request.param("Twiml").unwrap().contains("<Say>Hello</Say>"),
        "{:?}",
        request.param("Twiml")
    );
    app.wait_for_status(&id, "in_progress", WAIT).await;
    let base = [
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("To", phone.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all: Vec<(&str, &str)> = base.to_vec();
        all.extend_from_slice(extra);
        all
    };
    assert_eq!(
        signed_status(&app, &trunk, &with(&[("CallStatus", "initiated")])).await,
        204
    );
    assert_eq!(
        signed_status(&app, &trunk, &with(&[("CallStatus", "ringing")])).await,
        204
    );
    let ringing = app.get_callback(&id).await;
    assert_eq!(ringing["status"], "in_progress", "{ringing}");
    assert_eq!(ringing["attempts"][0]["leg_state"], "ringing");
    assert!(ringing["outcome"].is_null());
    assert_eq!(
        signed_status(&app, &trunk, &with(&[("CallStatus", "in-progress")])).await,
        204
    );
    // The asynchronous AMD result carries no status.
    assert_eq!(
        signed_status(&app, &trunk, &with(&[("AnsweredBy", "human")])).await,
        204
    );
    assert_eq!(attempt(&app, &id).await["leg_state"], "answered");
    let done = with(&[
        ("CallStatus", "completed"),
        ("CallDuration", "42"),
        ("RecordingUrl", "https://api.twilio.com/rec/RE1"),
    ]);
    assert_eq!(signed_status(&app, &trunk, &done).await, 204);
    let cb = wait_for_outcome(&app, &id).await;
    assert_eq!(cb["outcome"], "answered", "{cb}");
    assert_eq!(cb["status"], "completed");
    let a = &cb["attempts"][0];
    assert_eq!(a["duration_seconds"], 42);
    assert_eq!(a["answered_by"], "human");
    assert_eq!(a["leg_state"], "ended");
    assert_eq!(a["provider_call_id"], sid.as_str());
    assert_eq!(
        a["provider_details"]["recording_url"],
        "https://api.twilio.com/rec/RE1"
    );
    assert_eq!(a["provider_details"]["call_status"], "completed");
    // A repeated final callback changes nothing.
    assert_eq!(signed_status(&app, &trunk, &done).await, 204);
    assert_eq!(app.get_callback(&id).await["attempts"], cb["attempts"]);

    // Recorded sequences of the other endings.
    /// A recorded sequence of callbacks (each after `CallSid` and `AccountSid`) and what the
    /// attempt ends with.
    struct Ending {
        steps: &'static [&'static [(&'static str, &'static str)]],
        outcome: &'static str,
        answered_by: Option<&'static str>,
        sip_code: Option<u64>,
    }
    let sequences = [
        Ending {
            steps: &[
                &[("CallStatus", "ringing")],
                &[("CallStatus", "in-progress")],
                &[("AnsweredBy", "machine_start")],
                &[("CallStatus", "completed"), ("CallDuration", "20")],
            ],
            outcome: "voicemail",
            answered_by: Some("machine"),
            sip_code: None,
        },
        Ending {
            steps: &[
                &[("CallStatus", "ringing")],
                &[("CallStatus", "busy"), ("SipResponseCode", "486")],
            ],
            outcome: "busy",
            answered_by: None,
            sip_code: Some(486),
        },
        Ending {
            steps: &[
                &[("CallStatus", "ringing")],
                &[("CallStatus", "no-answer"), ("SipResponseCode", "487")],
            ],
            outcome: "no_answer",
            answered_by: None,
            sip_code: Some(487),
        },
        Ending {
            steps: &[&[("CallStatus", "failed"), ("SipResponseCode", "503")]],
            outcome: "failed",
            answered_by: None,
            sip_code: Some(503),
        },
    ];
    for Ending {
        steps,
        outcome,
        answered_by,
        sip_code,
    } in sequences
    {
        let (id, phone) = call(&app, &trunk, json!({ "amd": "detect" })).await;
        let (_, sid) = carrier.call_to(&phone).await;
        for step in steps {
            let mut params = vec![("CallSid", sid.as_str()), ("AccountSid", ACCOUNT_SID)];
            params.extend_from_slice(step);
            assert_eq!(signed_status(&app, &trunk, &params).await, 204, "{outcome}");
        }
        let cb = wait_for_outcome(&app, &id).await;
        assert_eq!(cb["outcome"], outcome, "{cb}");
        let a = &cb["attempts"][0];
        assert_eq!(a["answered_by"].as_str(), answered_by, "{cb}");
        assert_eq!(a["sip_code"].as_u64(), sip_code, "{cb}");
    }
}

#[tokio::test]
async fn unsigned_tampered_or_unknown_status_callbacks_are_refused_and_change_nothing() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    let trunk = trunk(&app, json!({ "base_url": carrier.url })).await;
    let (id, phone) = call(&app, &trunk, json!({})).await;
    let (_, sid) = carrier.call_to(&phone).await;
    app.wait_for_status(&id, "in_progress", WAIT).await;
    let before = app.get_callback(&id).await;

    let params = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "completed"),
        ("CallDuration", "9"),
    ];
    assert_eq!(
        post_status(&app, &trunk, &params, None).await,
        403,
        "unsigned"
    );
    // Signed by Twilio's library, then one parameter changed on the way.
    let signature = official_signature(TOKEN, &status_url(&app, &trunk), &params).await;
    let tampered = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "busy"),
        ("CallDuration", "9"),
    ];
    let header = Some(("X-Twilio-Signature", signature.clone()));
    assert_eq!(
        post_status(&app, &trunk, &tampered, header).await,
        403,
        "tampered"
    );
    // Signed with another token.
    let forged = official_signature("another-token", &status_url(&app, &trunk), &params).await;
    let header = Some(("X-Twilio-Signature", forged));
    assert_eq!(
        post_status(&app, &trunk, &params, header).await,
        403,
        "other token"
    );
    assert_eq!(app.get_callback(&id).await, before, "nothing changed");

    // Correctly signed, but for a call or a trunk Ringback does not have.
    let unknown = [
        ("CallSid", "CA00000000000000000000000000000000"),
        ("CallStatus", "completed"),
    ];
    assert_eq!(signed_status(&app, &trunk, &unknown).await, 404);
    let resp = app
        .client
        .post(app.url("/telephony/twilio/trk_01J00000000000000000000000/status"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(app.get_callback(&id).await, before, "nothing changed");

    // The genuine callback is taken.
    assert_eq!(signed_status(&app, &trunk, &params).await, 204);
    assert_eq!(wait_for_outcome(&app, &id).await["outcome"], "answered");
}

#[tokio::test]
async fn a_refused_token_marks_the_trunk_failing_its_calls_wait_and_a_call_or_a_change_clears_it() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    carrier.refuse_token(true);
    // An endpoint subscribed to the event.
    let receiver = Carrier::start().await;
    app.post_json(
        "/v1/webhook-endpoints",
        &json!({ "url": format!("{}/hooks", receiver.url), "event_types": ["trunk.failing"] }),
    )
    .await
    .expect(201);
    let trunk = trunk(&app, json!({ "base_url": carrier.url })).await;
    let (id, phone) = call(&app, &trunk, json!({})).await;

    let failing = eventually(WAIT, "the trunk to be failing", || async {
        let t = app
            .get(&format!("/v1/trunks/{trunk}"))
            .await
            .expect(200)
            .clone();
        (t["status"] == "failing").then_some(t)
    })
    .await;
    let reason = failing["failing_reason"].as_str().unwrap();
    assert!(
        reason.contains("Authenticate") && reason.contains("401"),
        "{reason}"
    );
    let events = app
        .get("/v1/events?type=trunk.failing")
        .await
        .expect(200)
        .clone();
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["object"]["id"], trunk.as_str());
    let delivered = eventually(WAIT, "the trunk.failing delivery", || async {
        receiver.creates().into_iter().find(|r| r.path == "/hooks")
    })
    .await;
    assert_eq!(
        delivered.json["type"], "trunk.failing",
        "{:?}",
        delivered.json
    );
    assert_eq!(delivered.json["data"]["object"]["status"], "failing");
    assert!(!delivered.header("webhook-signature").is_empty(), "signed");

    // The call waits: retried on the same attempt, never given up for it.
    eventually(Duration::from_secs(15), "a retry", || async {
        (carrier.creates_to(&phone).len() >= 2).then_some(())
    })
    .await;
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["attempt_count"], 1, "{cb}");
    assert!(cb["outcome"].is_null(), "{cb}");
    assert!(
        matches!(cb["status"].as_str(), Some("scheduled" | "dispatching")),
        "{cb}"
    );
    assert_eq!(
        app.get("/v1/events?type=trunk.failing").await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "one event while it stays failing"
    );

    // The token is fixed at the provider: the next try goes through and clears the state.
    carrier.refuse_token(false);
    let cb = app
        .wait_for_status(&id, "in_progress", Duration::from_secs(30))
        .await;
    assert_eq!(cb["attempt_count"], 1);
    let t = app
        .get(&format!("/v1/trunks/{trunk}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(t["status"], "ok", "{t}");
    assert!(t["failing_reason"].is_null());

    // Failing again; a change of the trunk clears it at once.
    carrier.refuse_token(true);
    call(&app, &trunk, json!({})).await;
    eventually(WAIT, "the trunk to be failing again", || async {
        let t = app
            .get(&format!("/v1/trunks/{trunk}"))
            .await
            .expect(200)
            .clone();
        (t["status"] == "failing").then_some(())
    })
    .await;
    let changed = app
        .patch(
            &format!("/v1/trunks/{trunk}"),
            &json!({ "settings": { "auth_token": "new-token" } }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(changed["status"], "ok");
    assert_eq!(
        app.get(&format!("/v1/trunks/{trunk}")).await.expect(200)["status"],
        "ok"
    );
}

#[tokio::test]
async fn a_signalwire_call_is_placed_with_the_project_and_ended_by_its_signed_callbacks() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    let project = "0c0d6a2e-6f0e-4d2a-9c3b-1f6c2d0a9b11";
    let trunk = trunk(
        &app,
        json!({ "profile": "signalwire", "account_sid": project, "space": "example",
                "base_url": format!("{}/api/laml/2010-04-01", carrier.url) }),
    )
    .await;
    let (id, phone) = call(&app, &trunk, json!({})).await;
    let (request, sid) = carrier.call_to(&phone).await;
    assert_eq!(
        request.path,
        format!("/api/laml/2010-04-01/Accounts/{project}/Calls.json")
    );
    let basic = format!("Basic {}", STANDARD.encode(format!("{project}:{TOKEN}")));
    assert_eq!(request.header("authorization"), basic);
    app.wait_for_status(&id, "in_progress", WAIT).await;
    let params = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "completed"),
        ("CallDuration", "7"),
    ];
    let signature = official_signature(TOKEN, &status_url(&app, &trunk), &params).await;
    let tampered = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "busy"),
        ("CallDuration", "7"),
    ];
    let header = Some(("X-SignalWire-Signature", signature.clone()));
    assert_eq!(post_status(&app, &trunk, &tampered, header).await, 403);
    let header = Some(("X-SignalWire-Signature", signature));
    assert_eq!(post_status(&app, &trunk, &params, header).await, 204);
    let cb = wait_for_outcome(&app, &id).await;
    assert_eq!(cb["outcome"], "answered");
    assert_eq!(cb["attempts"][0]["duration_seconds"], 7);
}

#[tokio::test]
async fn a_telnyx_texml_call_is_placed_as_json_and_ended_by_ed25519_signed_callbacks() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = STANDARD.encode(key.verifying_key().as_bytes());
    let trunk = trunk(
        &app,
        json!({ "profile": "telnyx_texml", "account_sid": "telnyx-account-1",
                "application_sid": "texml-app-1", "public_key": public,
                "base_url": format!("{}/v2/texml", carrier.url) }),
    )
    .await;
    let (id, phone) = call(&app, &trunk, json!({ "max_duration_seconds": 60 })).await;
    let (request, sid) = carrier.call_to(&phone).await;
    assert_eq!(
        request.path,
        "/v2/texml/Accounts/telnyx-account-1/Calls.json"
    );
    assert_eq!(request.header("authorization"), format!("Bearer {TOKEN}"));
    assert!(
        request
            .header("content-type")
            .starts_with("application/json")
    );
    assert_eq!(request.json["ApplicationSid"], "texml-app-1");
    assert_eq!(request.json["From"], CALLER_ID);
    assert_eq!(request.json["TimeLimit"], "60");
    assert_eq!(
        request.json["StatusCallbackEvent"],
        "initiated ringing answered completed"
    );
    app.wait_for_status(&id, "in_progress", WAIT).await;

    let body =
        serde_urlencoded::to_string([("CallSid", sid.as_str()), ("CallStatus", "no-answer")])
            .unwrap();
    let send = |body: String, timestamp: String, signature: Option<String>| {
        let mut request = app
            .client
            .post(status_url(&app, &trunk))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("telnyx-timestamp", timestamp)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("telnyx-signature-ed25519", signature);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let sign = |timestamp: &str, body: &str| {
        STANDARD.encode(
            key.sign(format!("{timestamp}|{body}").as_bytes())
                .to_bytes(),
        )
    };
    let now = jiff::Timestamp::now().as_second().to_string();
    assert_eq!(send(body.clone(), now.clone(), None).await, 403, "unsigned");
    let other = SigningKey::from_bytes(&[8u8; 32]);
    let forged = STANDARD.encode(other.sign(format!("{now}|{body}").as_bytes()).to_bytes());
    assert_eq!(
        send(body.clone(), now.clone(), Some(forged)).await,
        403,
        "another key"
    );
    let old = (jiff::Timestamp::now().as_second() - 3600).to_string();
    assert_eq!(
        send(body.clone(), old.clone(), Some(sign(&old, &body))).await,
        403,
        "replayed"
    );
    assert!(app.get_callback(&id).await["outcome"].is_null());
    assert_eq!(
        send(body.clone(), now.clone(), Some(sign(&now, &body))).await,
        204
    );
    assert_eq!(wait_for_outcome(&app, &id).await["outcome"], "no_answer");
}

#[tokio::test]
async fn a_voicemail_drop_plays_the_playbooks_audio_from_a_signed_expiring_url() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    let trunk = trunk(&app, json!({ "base_url": carrier.url })).await;
    // Half a second of 8 kHz silence as the message.
    let mut wav = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut wav, spec).unwrap();
    for _ in 0..4000 {
        writer.write_sample(0i16).unwrap();
    }
    writer.finalize().unwrap();
    let audio = app
        .post_raw("/v1/audio?name=message", "audio/wav", wav.into_inner())
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let playbook = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Drop", "initial_message": "Hi", "voicemail_audio_id": audio }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let phone = unique_phone();
    app.post_json(
        "/v1/campaigns",
        &json!({ "playbook_id": playbook, "contacts": [{ "phone": phone }], "trunk_id": trunk,
                 "dialing_mode": "unattended", "amd": "drop", "timezone": "UTC" }),
    )
    .await
    .expect(202);
    let (request, _) = carrier.call_to(&phone).await;
    assert_eq!(request.param("MachineDetection"), Some("DetectMessageEnd"));
    let twiml = request.param("Twiml").unwrap();
    let url = twiml
        .split("<Play>")
        .nth(1)
        .and_then(|rest| rest.split("</Play>").next())
        .unwrap_or_else(|| panic!("a <Play> in {twiml}"))
        .replace("&amp;", "&");
    assert!(url.starts_with(&app.url("/telephony/voicemail/")), "{url}");
    // No bearer token: the signature is the credential.
    let fetched = app.client.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "audio/wav");
    let bytes = fetched.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    // A changed expiry or signature is refused.
    let (path, query) = url.split_once('?').unwrap();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let expires: i64 = params
        .iter()
        .find(|(k, _)| k == "expires")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let signature = &params.iter().find(|(k, _)| k == "signature").unwrap().1;
    let later = format!("{path}?expires={}&signature={signature}", expires + 3600);
    assert_eq!(app.client.get(&later).send().await.unwrap().status(), 403);
    let unsigned = format!("{path}?expires={expires}");
    assert_eq!(
        app.client.get(&unsigned).send().await.unwrap().status(),
        403
    );
    // Signed with the account's secret (rotated here, so the test knows it), a URL verifies
    // until its expiry and not after.
    let secret = app.post_json("/v1/signing-secret/rotate", &json!({})).await;
    let secret = secret.expect(200)["signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let sign = |expires: i64| {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        let signed_path = url::Url::parse(path).unwrap().path().to_owned();
        mac.update(format!("{signed_path}:{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let now = jiff::Timestamp::now().as_second();
    let valid = format!("{path}?expires={}&signature={}", now + 60, sign(now + 60));
    assert_eq!(app.client.get(&valid).send().await.unwrap().status(), 200);
    let expired = format!("{path}?expires={}&signature={}", now - 1, sign(now - 1));
    assert_eq!(app.client.get(&expired).send().await.unwrap().status(), 403);
}

/// The server is killed after the provider placed the call and before its answer was stored:
/// the resend after the restart looks the call up and adopts it, and the customer is dialled
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_a_crash_between_create_and_answer_adopts_the_call_instead_of_dialling_again()
 {
    use crate::restart::{Server, env};
    let env = env().await;
    let carrier = Carrier::start().await;
    carrier.hold(Duration::from_secs(3));
    let args = ["--lease-seconds", "2", "--allow-private-webhooks"];
    let mut server = Server::start(&env, &args).await;
    let settings = json!({
        "profile": "twilio", "account_sid": ACCOUNT_SID, "auth_token": TOKEN,
        "caller_id": CALLER_ID, "status_callback_base": server.base, "base_url": carrier.url,
    });
    let trunk = server
        .send(
            reqwest::Method::POST,
            "/v1/trunks",
            Some(&json!({ "name": "Twilio", "kind": "twilio_compatible", "settings": settings })),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let phone = unique_phone();
    let cb = server
        .send(
            reqwest::Method::POST,
            "/v1/callbacks",
            Some(&json!({ "phone": phone, "scheduled_at": in_ms(1_500), "trunk_id": trunk })),
        )
        .await
        .expect(201)
        .clone();
    let id = cb["id"].as_str().unwrap().to_owned();
    let (_, sid) = carrier.call_to(&phone).await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5)).await;
    drop(server);
    carrier.hold(Duration::ZERO);
    assert!(carrier.lookups_to(&phone).is_empty());

    let server = Server::start(&env, &args).await;
    let cb = server.wait_for_status(&id, "in_progress").await;
    assert_eq!(
        carrier.creates_to(&phone).len(),
        1,
        "the customer was dialled twice"
    );
    let lookup = carrier.lookups_to(&phone);
    assert_eq!(lookup.len(), 1, "the resend looked the call up first");
    assert!(lookup[0].query.contains("StartTime"), "{}", lookup[0].query);
    let attempts = cb["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{cb}");
    assert_eq!(attempts[0]["provider_call_id"], sid.as_str(), "{cb}");
    assert!(attempts[0]["resends"].as_u64().unwrap() >= 1, "{cb}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(carrier.creates_to(&phone).len(), 1);
}

/// What an answered call runs, by mode: the reserved agent's `sip_uri`, the account's AI agent
/// with the call's first words, nothing without a party to connect; a trunk changed without
/// its token keeps it.
#[tokio::test]
async fn the_twiml_of_each_mode_connects_the_right_party() {
    let app = quick_app().await;
    let carrier = Carrier::start().await;
    let trunk = trunk(&app, json!({ "base_url": carrier.url })).await;
    // A change that leaves the token out keeps it: calls still authenticate with it.
    let changed = app
        .patch(
            &format!("/v1/trunks/{trunk}"),
            &json!({ "settings": { "caller_id": "+14155550111" } }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(changed["settings"]["auth_token_set"], true);
    assert_eq!(changed["settings"]["caller_id"], "+14155550111");

    // An ai call with neither an ai_stream_url nor the account's ai_sip_uri is not placed.
    let (waiting, phone) = call(&app, &trunk, json!({ "dialing_mode": "ai" })).await;
    let refused = eventually(WAIT, "the refused dispatch", || async {
        let cb = app.get_callback(&waiting).await;
        (cb["attempts"][0]["bridge_requests"].as_u64() >= Some(1)).then_some(cb)
    })
    .await;
    assert!(carrier.creates_to(&phone).is_empty(), "{refused}");
    assert!(refused["outcome"].is_null(), "{refused}");
    app.cancel(&waiting).await.expect(200);

    let bot = "sip:bot@ai.example.com";
    let mut settings = app.get("/v1/settings").await.expect(200).clone();
    settings["ai_sip_uri"] = json!(bot);
    app.request(reqwest::Method::PUT, "/v1/settings", Some(&settings))
        .await
        .expect(200);
    // Kept for a few seconds by the dialer; a new call sees it soon after.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, phone) = call(
        &app,
        &trunk,
        json!({ "dialing_mode": "ai", "initial_message": "Hi Ann & co" }),
    )
    .await;
    let (request, _) = carrier.call_to(&phone).await;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{ACCOUNT_SID}:{TOKEN}"))
    );
    assert_eq!(request.header("authorization"), basic);
    assert_eq!(request.param("From"), Some("+14155550111"));
    let twiml = request.param("Twiml").unwrap();
    assert!(
        twiml.contains(
            "<Dial><Sip>sip:bot@ai.example.com?X-Initial-Message=Hi+Ann+%26+co</Sip></Dial>"
        ),
        "{twiml}"
    );

    let agent = app
        .available_agent(json!({ "name": "Desk", "sip_uri": "sip:desk1@pbx.example.com" }))
        .await;
    let (id, phone) = call(&app, &trunk, json!({ "dialing_mode": "progressive" })).await;
    let (request, _) = carrier.call_to(&phone).await;
    let twiml = request.param("Twiml").unwrap();
    assert!(
        twiml.contains("<Dial><Sip>sip:desk1@pbx.example.com</Sip></Dial>"),
        "{twiml}"
    );
    // The customer rings for the agent reserved for the call.
    let events = app.get_callback(&id).await;
    let reserved = events_of(&events, "callback.agent_reserved");
    assert_eq!(reserved.len(), 1, "{events}");
    assert!(reserved[0].to_string().contains(agent.as_str()), "{events}");
}

/// A call whose end never arrives (the status callback was lost) is read back from the provider
/// once it must have ended, and ends as the provider says.
#[tokio::test]
async fn a_call_whose_status_callback_never_comes_is_ended_from_the_providers_record() {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| {
        c.min_lead_seconds = 0;
        c.allow_private_webhooks = true;
        c.lost_call_grace_seconds = 1;
    })
    .await;
    app.any_hour().await;
    let carrier = Carrier::start().await;
    let trunk = trunk(&app, json!({ "base_url": carrier.url })).await;
    let (id, phone) = call(
        &app,
        &trunk,
        json!({ "max_duration_seconds": 60, "ring_timeout_seconds": 10 }),
    )
    .await;
    let (_, sid) = carrier.call_to(&phone).await;
    app.wait_for_status(&id, "in_progress", WAIT).await;
    carrier.end_call(
        &sid,
        json!({ "status": "completed", "duration": "33", "answered_by": "human" }),
    );
    // Still possibly live: nobody asks yet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reads = |carrier: &Carrier| {
        carrier
            .state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == Method::GET && r.path.ends_with(&format!("/Calls/{sid}.json")))
            .count()
    };
    assert_eq!(reads(&carrier), 0);
    assert!(app.get_callback(&id).await["outcome"].is_null());
    // Past its ring timeout, its duration cap and the grace.
    app.move_time(&clock, Duration::from_secs(120));
    let cb = wait_for_outcome(&app, &id).await;
    assert_eq!(cb["outcome"], "answered", "{cb}");
    let a = &cb["attempts"][0];
    assert_eq!(a["duration_seconds"], 33, "{cb}");
    assert_eq!(a["answered_by"], "human", "{cb}");
    assert_eq!(a["leg_state"], "ended", "{cb}");
    assert_eq!(reads(&carrier), 1);
}

#[tokio::test]
async fn a_stop_text_signed_by_twilio_revokes_consent_and_cancels_what_is_pending_at_once() {
    let app = quick_app().await;
    let trunk = trunk(&app, json!({})).await;
    let phone = unique_phone();
    let mut pending = Vec::new();
    for mode in ["unattended", "preview", "ai"] {
        let cb = app
            .create(
                &json!({ "phone": phone, "scheduled_at": tomorrow(), "dialing_mode": mode,
                             "allow_duplicate": true }),
            )
            .await;
        pending.push(cb["id"].as_str().unwrap().to_owned());
    }
    let sms_url = app.url(&format!("/telephony/twilio/{trunk}/sms"));
    let post = |params: Vec<(&'static str, String)>, signature: Option<String>| {
        let mut request = app
            .client
            .post(&sms_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&params).unwrap());
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send()
    };
    let params = vec![
        (
            "MessageSid",
            "SM0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("AccountSid", ACCOUNT_SID.to_owned()),
        ("From", phone.clone()),
        ("To", CALLER_ID.to_owned()),
        ("Body", "Stop".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Unsigned, or signed with another token: refused, nothing changes.
    let forged = official_signature("another-token", &sms_url, &pairs).await;
    for signature in [None, Some(forged)] {
        let resp = post(params.clone(), signature).await.unwrap();
        assert_eq!(resp.status(), 403);
    }
    for id in &pending {
        assert_eq!(app.get_callback(id).await["status"], "scheduled");
    }

    let signature = official_signature(TOKEN, &sms_url, &pairs).await;
    let resp = post(params.clone(), Some(signature)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<Response>"), "TwiML");
    for id in &pending {
        let cb = app.get_callback(id).await;
        assert_eq!(cb["status"], "canceled", "{id}");
        let canceled = events_of(&cb, "callback.canceled");
        assert_eq!(canceled[0]["data"]["reason"], "consent_revoked");
    }
    let consents = app
        .get(&format!("/v1/consents?phone={}", phone.replace('+', "%2B")))
        .await
        .expect(200)
        .clone();
    let data = consents["data"].as_array().unwrap();
    assert_eq!(data.len(), 4, "every scope revoked: {consents}");
    assert!(
        data.iter()
            .all(|c| c["status"] == "revoked" && c["source"] == "sms_stop")
    );
    // A later callback to the number is never dialled.
    let later = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(300) }))
        .await;
    let id = later["id"].as_str().unwrap();
    let cb = app.wait_for_status(id, "canceled", WAIT).await;
    assert_eq!(cb["outcome"], "skipped_no_consent");
    assert!(app.bridge.requests_for(id).is_empty());
}
