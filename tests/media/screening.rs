//! Answering-machine detection on calls Ringback places itself: baresip answers as the
//! customer, playing what a person or a voicemail greeting would say (spoken by espeak-ng),
//! and Ringback decides who answered from the audio it receives. With `drop`, the campaign
//! playbook's message is heard by the machine after its beep.

use std::{path::Path, process::Command, time::Duration};

use serde_json::json;

use crate::{
    audio::samples,
    baresip::Baresip,
    helpers::*,
    netns,
    server::{ended, sip_app, trunk_to},
};

const CUSTOMER: &str = "+14155550142";

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not be started ({e}): install it"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `text` spoken by espeak-ng, then `silence` seconds of silence, as the 8 kHz mono 16-bit
/// WAV baresip plays.
fn speech(dir: &Path, name: &str, text: &str, silence: f64) -> std::path::PathBuf {
    let raw = dir.join(format!("{name}-raw.wav"));
    let out = dir.join(format!("{name}.wav"));
    run("espeak-ng", &["-w", raw.to_str().unwrap(), text]);
    run(
        "sox",
        &[
            raw.to_str().unwrap(),
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            out.to_str().unwrap(),
            "pad",
            "0",
            &silence.to_string(),
        ],
    );
    out
}

/// A voicemail greeting of about ten seconds, a 1 kHz beep of half a second and a long
/// silence (baresip hangs up when its file ends); where the beep ends, in seconds.
fn greeting_then_beep(dir: &Path) -> (std::path::PathBuf, f64) {
    let greeting = speech(
        dir,
        "greeting",
        "Hi, you have reached the voicemail of Jordan Smith at Acme Insurance. I am away from \
         my desk or on another call right now. Please leave your name, your number and a short \
         message after the tone, and I will call you back as soon as I can. Thank you.",
        0.4,
    );
    let beep = dir.join("beep.wav");
    let silence = dir.join("silence.wav");
    let out = dir.join("machine.wav");
    run(
        "sox",
        &[
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            beep.to_str().unwrap(),
            "synth",
            "0.5",
            "sine",
            "1000",
            "vol",
            "0.5",
        ],
    );
    run(
        "sox",
        &[
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            silence.to_str().unwrap(),
            "trim",
            "0",
            "40",
        ],
    );
    run(
        "sox",
        &[
            greeting.to_str().unwrap(),
            beep.to_str().unwrap(),
            silence.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    let greeting_seconds = samples(&greeting).0.len() as f64 / 8000.0;
    (out, greeting_seconds + 0.5)
}

/// A callback to the customer on `trunk` with `amd`, due at once; its id.
async fn screened_call(app: &TestApp, trunk: &str, amd: &str) -> String {
    app.create(
        &json!({ "phone": CUSTOMER, "scheduled_at": in_ms(200), "trunk_id": trunk,
                        "max_duration_seconds": 10, "amd": amd }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn hello_then_silence_is_a_human() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let hello = speech(dir.path(), "hello", "Hello?", 40.0);
        let customer = Baresip::start_as("customer", CUSTOMER, &hello).await;
        let app = sip_app().await;
        let trunk = trunk_to(&app, &customer).await;
        let id = screened_call(&app, &trunk, "detect").await;
        assert_eq!(app.get_callback(&id).await["amd"], "detect");
        let cb = ended(&app, &id).await;
        let attempt = &cb["attempts"][0];
        assert_eq!(attempt["answered_by"], "human", "{cb}");
        assert_eq!(attempt["outcome"], "answered", "{cb}");
    });
}

#[test]
fn a_voicemail_greeting_is_a_machine_and_ends_the_call_as_voicemail() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (machine, _) = greeting_then_beep(dir.path());
        let customer = Baresip::start_as("customer", CUSTOMER, &machine).await;
        let app = sip_app().await;
        let trunk = trunk_to(&app, &customer).await;
        let id = screened_call(&app, &trunk, "detect").await;
        let cb = ended(&app, &id).await;
        let attempt = &cb["attempts"][0];
        assert_eq!(attempt["answered_by"], "machine", "{cb}");
        assert_eq!(attempt["outcome"], "voicemail", "{cb}");
        // Hung up within the analysis time, not at the duration cap.
        assert!(
            attempt["duration_seconds"].as_u64().unwrap() <= 6,
            "{attempt}"
        );
    });
}

#[test]
fn drop_leaves_the_playbooks_message_after_the_beep() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (machine, beep_ends) = greeting_then_beep(dir.path());
        let customer = Baresip::start_as("customer", CUSTOMER, &machine).await;
        let app = sip_app().await;
        let trunk = trunk_to(&app, &customer).await;
        // The message: two seconds of 600 Hz, uploaded at 16 kHz (converted on upload).
        let message = dir.path().join("message.wav");
        run(
            "sox",
            &[
                "-n",
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
                message.to_str().unwrap(),
                "synth",
                "2",
                "sine",
                "600",
                "vol",
                "0.5",
            ],
        );
        let audio = app
            .post_raw(
                "/v1/audio?name=renewal",
                "audio/wav",
                std::fs::read(&message).unwrap(),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let playbook = app
            .post_json(
                "/v1/playbooks",
                &json!({ "name": "Renewals", "initial_message": "Hi {{ first_name }}",
                         "voicemail_audio_id": audio }),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let campaign = app
            .post_json(
                "/v1/campaigns",
                &json!({ "playbook_id": playbook, "dialing_mode": "unattended",
                         "trunk_id": trunk, "amd": "drop",
                         "contacts": [{ "phone": CUSTOMER, "timezone": "UTC" }] }),
            )
            .await
            .expect(202)["campaign_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = eventually(Duration::from_secs(10), "the campaign's call", || async {
            let page = app
                .get("/v1/callbacks?phone=%2B14155550142")
                .await
                .expect(200)
                .clone();
            let found = page["data"].as_array()?.first()?.clone();
            assert_eq!(found["campaign_id"], campaign.as_str());
            found["id"].as_str().map(str::to_owned)
        })
        .await;
        let cb = ended(&app, &id).await;
        let attempt = &cb["attempts"][0];
        assert_eq!(attempt["answered_by"], "machine", "{cb}");
        assert_eq!(attempt["outcome"], "voicemail_left", "{cb}");
        assert_eq!(cb["status"], "completed");
        // What the machine recorded: the message, and only after the beep.
        let heard = customer.recordings().await;
        assert_eq!(heard.len(), 1);
        let (audio, rate) = samples(&heard[0]);
        assert_eq!(rate, 8000);
        let pcm: Vec<i16> = audio.iter().map(|s| (s * 32767.0) as i16).collect();
        let at = |s: f64| ((s * 8000.0) as usize).min(pcm.len());
        let before = ringback::media::tone::energy_ratio(&pcm[..at(beep_ends - 0.6)], 600.0);
        let after = ringback::media::tone::energy_ratio(&pcm[at(beep_ends)..], 600.0);
        println!(
            "beep ends at {beep_ends:.2} s of {:.2} s heard; 600 Hz share before {before:.4}, \
             after {after:.3}",
            pcm.len() as f64 / 8000.0
        );
        assert!(
            before < 0.05,
            "the message played before the beep: {before}"
        );
        assert!(
            after > 0.5,
            "the machine did not hear the message after the beep: {after}"
        );
    });
}
