//! `/v1/audio`: WAV uploads converted to 8 kHz mono, read back, kept per account, and named by
//! a playbook as its voicemail message (`voicemail_audio_id`).

use std::io::Cursor;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A WAV file of `seconds` of a 440 Hz tone at half scale, in `channels` channels of
/// `bits`-bit integer samples at `rate` Hz.
fn tone(rate: u32, channels: u16, bits: u16, seconds: f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("a WAV writer");
    let full_scale = f64::from(1u32 << (bits - 1));
    let frames = (f64::from(rate) * seconds).round() as usize;
    for n in 0..frames {
        let t = n as f64 / f64::from(rate);
        let x = 0.5 * (2.0 * std::f64::consts::PI * 440.0 * t).sin();
        let sample = (x * full_scale).round() as i32;
        for _ in 0..channels {
            match bits {
                8 => writer.write_sample(sample as i8),
                _ => writer.write_sample(sample as i16),
            }
            .expect("a sample");
        }
    }
    writer.finalize().expect("a finished file");
    bytes.into_inner()
}

/// A header of format `format` (not PCM: compressed) with `data` after it.
fn compressed(format: u16, data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&format.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&8000u32.to_le_bytes());
    bytes.extend_from_slice(&4000u32.to_le_bytes());
    bytes.extend_from_slice(&256u16.to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(data);
    bytes
}

async fn upload(app: &TestApp, query: &str, wav: Vec<u8>) -> Resp {
    app.post_raw(&format!("/v1/audio{query}"), "audio/wav", wav)
        .await
}

/// Uploads a second of 8 kHz audio; its id.
async fn some_audio(app: &TestApp) -> String {
    upload(app, "?name=Message", tone(8000, 1, 16, 1.0))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The bytes of `path`, read as `key`'s account.
async fn content(app: &TestApp, key: &str, path: &str) -> (u16, String, Vec<u8>) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_wav_of_any_pcm_kind_is_stored_as_8_khz_mono_of_the_same_length() {
    let app = spawn_app().await;
    // 1.5 s at 16 kHz in stereo.
    let stereo = upload(
        &app,
        "?name=Sorry%20we%20missed%20you",
        tone(16_000, 2, 16, 1.5),
    )
    .await;
    let stored = stereo.expect(201).clone();
    let id = stored["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("aud_"), "{stored}");
    assert_eq!(stored["name"], "Sorry we missed you");
    assert_eq!(stored["duration_ms"], 1500, "{stored}");
    assert!(stored["created_at"].is_string(), "{stored}");

    let (status, content_type, bytes) =
        content(&app, &app.api_key, &format!("/v1/audio/{id}/content")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "audio/wav");
    let reader = hound::WavReader::new(Cursor::new(bytes)).expect("a WAV file comes back");
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16),
        "{spec:?}"
    );
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 12_000, "1.5 s at 8 kHz");
    // Still the tone at half scale (its peak near 16384), not silence or noise.
    let peak = samples[400..11_600].iter().map(|s| s.unsigned_abs()).max();
    assert!(
        peak.is_some_and(|p| (15_000..=17_500).contains(&p)),
        "{peak:?}"
    );

    // An 8-bit file at 11,025 Hz, named by default.
    let eight_bit = upload(&app, "", tone(11_025, 1, 8, 0.5)).await;
    let eight_bit = eight_bit.expect(201).clone();
    assert_eq!(eight_bit["duration_ms"], 500, "{eight_bit}");
    assert_eq!(eight_bit["name"], "Untitled audio");

    // audio/x-wav is a WAV too.
    let other_type = app
        .post_raw("/v1/audio", "audio/x-wav", tone(8000, 1, 16, 0.25))
        .await;
    assert_eq!(other_type.expect(201)["duration_ms"], 250);

    // Metadata, one and all, oldest first.
    let one = app
        .get(&format!("/v1/audio/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(one, stored);
    let list = app.get("/v1/audio").await.expect(200).clone();
    let listed: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 3, "{list}");
    assert_eq!(listed[0], id);
    assert_eq!(listed[1], eight_bit["id"].as_str().unwrap());
    assert!(list["data"][0].get("bytes").is_none(), "no sound in a list");
}

#[tokio::test]
async fn a_body_that_is_not_a_pcm_wav_is_refused_naming_the_body_and_why() {
    let app = spawn_app().await;
    for (body, why) in [
        (b"ID3\x04 not a wav at all".to_vec(), "not a WAV file"),
        (
            compressed(2, &[0; 512]),
            "compressed WAV (format 0x0002, Microsoft ADPCM) is not supported",
        ),
        (tone(8000, 1, 16, 0.0), "empty"),
        // 601 seconds at 1 kHz, 8-bit.
        (tone(1000, 1, 8, 601.0), "longer than 600 seconds"),
    ] {
        let resp = upload(&app, "", body).await;
        let error = resp.expect_field_error(400, "invalid_field", "body");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with(why), "{message} (expected {why})");
    }
    // Not declared as WAV: 415 in the API's error shape.
    let json = app
        .post_json("/v1/audio", &json!({ "wav": "base64..." }))
        .await;
    json.expect_field_error(415, "unsupported_media_type", "Content-Type");
    let mp3 = app
        .post_raw("/v1/audio", "audio/mpeg", b"ID3\x04...".to_vec())
        .await;
    mp3.expect_field_error(415, "unsupported_media_type", "Content-Type");
    // A bad name.
    upload(&app, "?name=%20%20", tone(8000, 1, 16, 0.1))
        .await
        .expect_field_error(400, "invalid_query", "name");
    // Nothing was stored.
    let list = app.get("/v1/audio").await.expect(200).clone();
    assert_eq!(list["data"], json!([]), "{list}");
}

#[tokio::test]
async fn an_upload_over_the_body_limit_is_413() {
    let app = spawn_app_with(|c| c.max_bulk_body_bytes = 64 * 1024).await;
    // 2 s at 16 kHz, 16-bit: 64,044 bytes fit, 4 s do not.
    upload(&app, "", tone(16_000, 1, 16, 2.0)).await.expect(201);
    upload(&app, "", tone(16_000, 1, 16, 4.0))
        .await
        .expect_error(413, "payload_too_large");
}

#[tokio::test]
async fn another_account_can_neither_read_nor_delete_the_audio() {
    let app = spawn_app().await;
    let id = some_audio(&app).await;
    let other = app.second_account().await;
    let key = Some(other.api_key.as_str());
    for path in [format!("/v1/audio/{id}"), format!("/v1/audio/{id}/content")] {
        app.request_as(key, Method::GET, &path, None)
            .await
            .expect_error(404, "not_found");
    }
    app.request_as(key, Method::DELETE, &format!("/v1/audio/{id}"), None)
        .await
        .expect_error(404, "not_found");
    let theirs = app.request_as(key, Method::GET, "/v1/audio", None).await;
    assert_eq!(theirs.expect(200)["data"], json!([]));
    // Nor name it in a playbook of theirs.
    app.request_as(
        key,
        Method::POST,
        "/v1/playbooks",
        Some(&json!({ "name": "Theirs", "initial_message": "Hi", "voicemail_audio_id": id })),
    )
    .await
    .expect_field_error(400, "invalid_field", "voicemail_audio_id");
    // It is still there for its own account.
    app.get(&format!("/v1/audio/{id}")).await.expect(200);
    let (status, _, _) = content(&app, &app.api_key, &format!("/v1/audio/{id}/content")).await;
    assert_eq!(status, 200);
    // Malformed ids are not found either.
    app.get("/v1/audio/nope")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_playbook_plays_audio_of_its_account_which_is_not_deleted_while_in_use() {
    let app = spawn_app().await;
    let audio = some_audio(&app).await;
    let playbook = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Renewals", "initial_message": "Hi {{ first_name }}",
                     "voicemail_audio_id": audio }),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(playbook["voicemail_audio_id"], audio.as_str());
    let id = playbook["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("/v1/playbooks/{id}")).await.expect(200)["voicemail_audio_id"],
        audio.as_str()
    );

    // The dialer's view: the samples of the playbook's message.
    let account = ringback::domain::AccountId::from_trusted(app.account_id.clone());
    let playbook_id = ringback::domain::playbook::PlaybookId::parse(&id).unwrap();
    let samples = app
        .store
        .voicemail_audio(&account, &playbook_id)
        .await
        .unwrap()
        .expect("the playbook has a voicemail message");
    assert_eq!(samples.len(), 8000, "a second at 8 kHz");

    // Missing, malformed or deleted audio is refused by name, on create and on change.
    let missing = "aud_01JD3M6Q0Y8W4ZK1T2V5R7X9AB";
    for bad in [json!(missing), json!("nope"), json!(42)] {
        app.post_json(
            "/v1/playbooks",
            &json!({ "name": "X", "initial_message": "Hi", "voicemail_audio_id": bad }),
        )
        .await
        .expect_field_error(400, "invalid_field", "voicemail_audio_id");
        app.patch(
            &format!("/v1/playbooks/{id}"),
            &json!({ "voicemail_audio_id": bad }),
        )
        .await
        .expect_field_error(400, "invalid_field", "voicemail_audio_id");
    }

    // In use: not deleted.
    let refused = app
        .request(Method::DELETE, &format!("/v1/audio/{audio}"), None)
        .await;
    let error = refused.expect_error(409, "audio_in_use");
    assert!(error["message"].as_str().unwrap().contains(&id), "{error}");
    app.get(&format!("/v1/audio/{audio}")).await.expect(200);

    // A change that leaves it out keeps it; null clears it.
    let renamed = app
        .patch(
            &format!("/v1/playbooks/{id}"),
            &json!({ "name": "Renewals 2" }),
        )
        .await;
    assert_eq!(renamed.expect(200)["voicemail_audio_id"], audio.as_str());
    let cleared = app
        .patch(
            &format!("/v1/playbooks/{id}"),
            &json!({ "voicemail_audio_id": null }),
        )
        .await;
    assert_eq!(cleared.expect(200)["voicemail_audio_id"], Value::Null);
    assert_eq!(
        app.store
            .voicemail_audio(&account, &playbook_id)
            .await
            .unwrap(),
        None
    );

    // Free now.
    let freed = app
        .request(Method::DELETE, &format!("/v1/audio/{audio}"), None)
        .await;
    assert_eq!(freed.status, 204, "{}", freed.text);
    app.get(&format!("/v1/audio/{audio}"))
        .await
        .expect_error(404, "not_found");
    let (status, _, _) = content(&app, &app.api_key, &format!("/v1/audio/{audio}/content")).await;
    assert_eq!(status, 404);
    app.request(Method::DELETE, &format!("/v1/audio/{audio}"), None)
        .await
        .expect_error(404, "not_found");

    // A deleted playbook (that no campaign calls with) lets go of its audio.
    let second = some_audio(&app).await;
    app.patch(
        &format!("/v1/playbooks/{id}"),
        &json!({ "voicemail_audio_id": second }),
    )
    .await
    .expect(200);
    let deleted = app
        .request(Method::DELETE, &format!("/v1/playbooks/{id}"), None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let freed = app
        .request(Method::DELETE, &format!("/v1/audio/{second}"), None)
        .await;
    assert_eq!(freed.status, 204, "{}", freed.text);
}
