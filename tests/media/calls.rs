//! Ringback bridging real phones: baresip plays the customer (a 1 kHz tone) and the party the
//! customer is connected to (an agent or a voice-AI bot, 440 Hz). Each must hear the other,
//! through Ringback's RTP relay, and Ringback's own recording must hold both sides.

use std::path::Path;

use serde_json::{Value, json};

use crate::{
    audio::{energy_at, rms, tone_wav},
    baresip::Baresip,
    helpers::*,
    netns,
    server::{ended, sip_app, trunk_to},
};

const CUSTOMER: &str = "+14155550123";
const CUSTOMER_TONE: f64 = 1000.0;
const OTHER_TONE: f64 = 440.0;

/// A customer phone and the other party's, each playing its tone for longer than the call.
async fn phones(dir: &Path, other_user: &str) -> (Baresip, Baresip) {
    let (high, low) = (dir.join("customer.wav"), dir.join("other.wav"));
    tone_wav(&high, CUSTOMER_TONE, 30.0);
    tone_wav(&low, OTHER_TONE, 30.0);
    tokio::join!(
        Baresip::start_as("customer", CUSTOMER, &high),
        Baresip::start_as("other", other_user, &low)
    )
}

/// A callback on a `sip` trunk whose proxy is the customer's phone, due at once; its id.
async fn call(app: &TestApp, customer: &Baresip, extra: Value) -> String {
    let trunk = trunk_to(app, customer).await;
    let mut body = json!({ "phone": CUSTOMER, "scheduled_at": in_ms(200), "trunk_id": trunk,
                           "max_duration_seconds": 10 });
    if let (Value::Object(b), Value::Object(extra)) = (&mut body, extra) {
        b.extend(extra);
    }
    app.create(&body).await["id"].as_str().unwrap().to_owned()
}

/// Asserts `phone` heard `tone` (and not `not`) in its one recording.
async fn heard(phone: &Baresip, who: &str, tone: f64, not: f64) {
    let recordings = phone.recordings().await;
    assert_eq!(recordings.len(), 1, "{who}: one call, one recording");
    let file = &recordings[0];
    let (level, share, other) = (rms(file), energy_at(file, tone), energy_at(file, not));
    println!("{who} heard rms {level:.3}, {share:.3} at {tone} Hz, {other:.5} at {not} Hz");
    assert!(level > 0.1, "{who} heard near silence (rms {level})");
    assert!(
        share > 0.8 && other < 0.05,
        "{who} should hear {tone} Hz: shares {share} at {tone} Hz, {other} at {not} Hz"
    );
}

/// Ringback's recording of the call: the customer's tone on the left, the other party's on
/// the right.
async fn recording_holds_both_sides(app: &TestApp, cb: &Value) {
    let url = cb["attempts"][0]["recording_url"]
        .as_str()
        .unwrap_or_else(|| panic!("the attempt has a recording_url: {cb}"));
    let response = app
        .client
        .get(app.url(url))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    let bytes = response.bytes().await.unwrap();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000), "{spec:?}");
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let seconds = left.len() as f64 / 8000.0;
    assert!(seconds > 5.0, "the recording lasts {seconds} s");
    use ringback::media::tone::energy_ratio;
    let (customer, other) = (
        energy_ratio(&left, CUSTOMER_TONE),
        energy_ratio(&right, OTHER_TONE),
    );
    println!("recording: {seconds:.1} s, left {customer:.3} at 1 kHz, right {other:.3} at 440 Hz");
    assert!(
        customer > 0.5,
        "the left channel is the customer: {customer}"
    );
    assert!(other > 0.5, "the right channel is the other party: {other}");
    // Another account cannot fetch it.
    let stranger = app.second_account().await;
    let response = app
        .client
        .get(app.url(url))
        .bearer_auth(&stranger.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn a_progressive_call_connects_the_customer_and_the_reserved_agent_both_ways() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (customer, desk) = phones(dir.path(), "agent").await;
        let app = sip_app().await;
        let agent = app
            .available_agent(json!({ "name": "Ada", "sip_uri": desk.sip_uri() }))
            .await;
        let id = call(&app, &customer, json!({ "dialing_mode": "progressive" })).await;
        let cb = ended(&app, &id).await;
        assert_eq!(cb["outcome"], "answered", "{cb}");
        assert_eq!(cb["attempts"][0]["agent_id"], agent.as_str());
        heard(&desk, "the agent", CUSTOMER_TONE, OTHER_TONE).await;
        heard(&customer, "the customer", OTHER_TONE, CUSTOMER_TONE).await;
        recording_holds_both_sides(&app, &cb).await;
    });
}

#[test]
fn an_ai_call_connects_the_customer_and_the_bot_both_ways() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (customer, bot) = phones(dir.path(), "bot").await;
        let app = sip_app().await;
        let mut settings = app.get("/v1/settings").await.expect(200).clone();
        settings["ai_sip_uri"] = json!(bot.sip_uri());
        app.request(reqwest::Method::PUT, "/v1/settings", Some(&settings))
            .await
            .expect(200);
        let id = call(
            &app,
            &customer,
            json!({ "dialing_mode": "ai", "initial_message": "Hello from Ringback" }),
        )
        .await;
        let cb = ended(&app, &id).await;
        assert_eq!(cb["outcome"], "answered", "{cb}");
        heard(&bot, "the bot", CUSTOMER_TONE, OTHER_TONE).await;
        heard(&customer, "the customer", OTHER_TONE, CUSTOMER_TONE).await;
        recording_holds_both_sides(&app, &cb).await;
    });
}

#[test]
fn a_call_without_recording_keeps_none() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (customer, bot) = phones(dir.path(), "bot").await;
        let app = sip_app().await;
        let mut settings = app.get("/v1/settings").await.expect(200).clone();
        settings["ai_sip_uri"] = json!(bot.sip_uri());
        app.request(reqwest::Method::PUT, "/v1/settings", Some(&settings))
            .await
            .expect(200);
        let id = call(
            &app,
            &customer,
            json!({ "dialing_mode": "ai", "recording_enabled": false }),
        )
        .await;
        let cb = ended(&app, &id).await;
        assert_eq!(cb["outcome"], "answered", "{cb}");
        assert!(cb["attempts"][0].get("recording_url").is_none(), "{cb}");
        // Audio still flowed.
        heard(&bot, "the bot", CUSTOMER_TONE, OTHER_TONE).await;
        app.get(&format!("/v1/calls/{id}.1/recording"))
            .await
            .expect_error(404, "not_found");
    });
}
