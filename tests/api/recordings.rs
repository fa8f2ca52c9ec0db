//! Call recordings and their retention: a real recorded call (an `ai` call on a `sip` trunk,
//! sipp answering as the customer and as the bot, recorded because `recording_enabled`
//! defaults to true) is served at its `recording_url` until its account's
//! `recording_retention_days` have passed, then the sweep deletes the file and the attempt
//! forgets it. Another account's recordings follow that account's retention only.
//! sipp must be installed, as for `tests/api/sip.rs`.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::*;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// sipp answering one call (`tests/sip/answer.xml`, PCMU) and waiting for the BYE.
struct Sipp {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Sipp {
    async fn answer() -> Self {
        let port = {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
            socket.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip/answer.xml");
        let text = std::fs::read_to_string(scenario)
            .unwrap()
            .replace("CODECS", "0");
        let file = dir.path().join("answer.xml");
        std::fs::write(&file, text).unwrap();
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&file)
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
            .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("sipp could not be started ({e}): install Debian's sip-tester package")
            });
        // sipp binds its port at once; give it a moment before the INVITE comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    async fn finish(mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("sipp ends its scenario within a minute")
            .unwrap()
            .success()
    }
}

/// One account's side of the test: its key, and the sipp playing its customer and its bot.
struct Caller {
    key: String,
    customer: Sipp,
    bot: Sipp,
}

impl Caller {
    async fn new(key: String) -> Self {
        Self {
            key,
            customer: Sipp::answer().await,
            bot: Sipp::answer().await,
        }
    }

    async fn request(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Resp {
        app.request_as(Some(&self.key), method, path, body).await
    }

    /// Sets the account's settings: what it has, with `changes` over it.
    async fn put_settings(&self, app: &TestApp, changes: Value) -> Resp {
        let mut settings = self
            .request(app, Method::GET, "/v1/settings", None)
            .await
            .expect(200)
            .clone();
        if let (Value::Object(s), Value::Object(changes)) = (&mut settings, changes) {
            s.extend(changes);
        }
        self.request(app, Method::PUT, "/v1/settings", Some(&settings))
            .await
    }

    /// An `ai` call on a `sip` trunk to its customer sipp, connected to its bot sipp and hung
    /// up at the 10 s cap; the callback's id.
    async fn place_call(&self, app: &TestApp) -> String {
        let trunk = self
            .request(
                app,
                Method::POST,
                "/v1/trunks",
                Some(&json!({ "name": "Carrier", "kind": "sip",
                    "settings": { "proxy": format!("127.0.0.1:{}", self.customer.port) } })),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.put_settings(
            app,
            json!({ "ai_sip_uri": format!("sip:bot@127.0.0.1:{}", self.bot.port),
                    "calling_window": { "start": "00:00", "end": "24:00" } }),
        )
        .await
        .expect(200);
        let mut body = new_callback(&unique_phone(), &in_ms(200));
        body["trunk_id"] = json!(trunk);
        body["dialing_mode"] = json!("ai");
        body["max_duration_seconds"] = json!(10);
        self.request(app, Method::POST, "/v1/callbacks", Some(&body))
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The callback once its first attempt has ended.
    async fn ended(&self, app: &TestApp, id: &str) -> Value {
        eventually(Duration::from_secs(40), "the call's outcome", || async {
            let cb = self
                .request(app, Method::GET, &format!("/v1/callbacks/{id}"), None)
                .await
                .expect(200)
                .clone();
            let over = !cb["attempts"][0]["outcome"].is_null()
                && !matches!(cb["status"].as_str(), Some("in_progress" | "dispatching"));
            over.then_some(cb)
        })
        .await
    }

    /// The attempt's `recording_url` now.
    async fn recording_url(&self, app: &TestApp, id: &str) -> Value {
        let cb = self
            .request(app, Method::GET, &format!("/v1/callbacks/{id}"), None)
            .await;
        cb.expect(200)["attempts"][0]["recording_url"].clone()
    }

    /// What the recording's URL answers: its status and body.
    async fn fetch(&self, app: &TestApp, url: &str) -> (u16, Vec<u8>) {
        let resp = app
            .client
            .get(app.url(url))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }
}

/// Where the server keeps a callback's first attempt's recording.
fn recording_file(app: &TestApp, account: &str, id: &str) -> PathBuf {
    app._dir
        .path()
        .join("recordings")
        .join(account)
        .join(format!("{id}.1.wav"))
}

#[tokio::test]
async fn recordings_past_the_accounts_retention_are_deleted_and_forgotten() {
    let clock = std::sync::Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| {
        c.min_lead_seconds = 0;
        c.sip_listen = Some("127.0.0.1:0".parse().unwrap());
        c.ring_timeout_seconds = 2;
        c.recording_sweep_seconds = 1;
    })
    .await;
    let other = app.second_account().await;
    let mine = Caller::new(app.api_key.clone()).await;
    let theirs = Caller::new(other.api_key.clone()).await;

    // A recorded call in each account, side by side.
    let my_call = mine.place_call(&app).await;
    let their_call = theirs.place_call(&app).await;
    let mut calls = Vec::new();
    for (caller, id) in [(&mine, &my_call), (&theirs, &their_call)] {
        let cb = caller.ended(&app, id).await;
        assert_eq!(cb["outcome"], "answered", "{cb}");
        let url = cb["attempts"][0]["recording_url"]
            .as_str()
            .unwrap_or_else(|| panic!("the bridged call was recorded: {cb}"))
            .to_owned();
        assert_eq!(url, format!("/v1/calls/{id}.1/recording"));
        let (status, wav) = caller.fetch(&app, &url).await;
        assert_eq!(status, 200);
        assert!(wav.starts_with(b"RIFF"), "a WAV file is served");
        calls.push(url);
    }
    let my_file = recording_file(&app, &app.account_id, &my_call);
    let their_file = recording_file(&app, &other.account_id, &their_call);
    assert!(my_file.exists() && their_file.exists());

    // The setting: 1 to 3650 days or null, kept when a PUT leaves it out.
    for bad in [json!(0), json!(5000), json!("x"), json!(-1), json!(1.5)] {
        mine.put_settings(&app, json!({ "recording_retention_days": bad }))
            .await
            .expect_field_error(400, "invalid_field", "recording_retention_days");
    }
    let saved = mine
        .put_settings(&app, json!({ "recording_retention_days": 1 }))
        .await;
    assert_eq!(saved.expect(200)["recording_retention_days"], 1);
    theirs
        .put_settings(&app, json!({ "recording_retention_days": 30 }))
        .await
        .expect(200);
    let mut without = app.get("/v1/settings").await.expect(200).clone();
    without
        .as_object_mut()
        .unwrap()
        .remove("recording_retention_days");
    let kept = app
        .request(Method::PUT, "/v1/settings", Some(&without))
        .await;
    assert_eq!(kept.expect(200)["recording_retention_days"], 1);
    assert_eq!(
        app.get("/v1/settings").await.expect(200)["recording_retention_days"],
        1
    );

    // Before the day is out nothing is deleted.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        my_file.exists(),
        "a recording younger than its retention is kept"
    );

    // Two days later: this account's recording is gone, the other's (30 days) is not.
    app.move_time(&clock, 2 * DAY);
    eventually(WAIT, "the expired recording's deletion", || async {
        mine.recording_url(&app, &my_call)
            .await
            .is_null()
            .then_some(())
    })
    .await;
    assert!(!my_file.exists(), "the file is deleted");
    let (status, _) = mine.fetch(&app, &calls[0]).await;
    assert_eq!(status, 404);
    let cb = app.get_callback(&my_call).await;
    assert!(
        cb["attempts"][0]
            .get("recording_url")
            .is_none_or(Value::is_null),
        "{cb}"
    );
    assert!(
        their_file.exists(),
        "another account's recording is never touched"
    );
    assert_eq!(
        theirs.recording_url(&app, &their_call).await,
        calls[1].as_str()
    );
    let (status, _) = theirs.fetch(&app, &calls[1]).await;
    assert_eq!(status, 200);

    // Its own retention passes too, a month on.
    app.move_time(&clock, 30 * DAY);
    eventually(WAIT, "the other account's deletion", || async {
        theirs
            .recording_url(&app, &their_call)
            .await
            .is_null()
            .then_some(())
    })
    .await;
    assert!(!their_file.exists());
    let (status, _) = theirs.fetch(&app, &calls[1]).await;
    assert_eq!(status, 404);

    for sipp in [mine.customer, mine.bot, theirs.customer, theirs.bot] {
        assert!(sipp.finish().await, "each call was answered and hung up");
    }
}
