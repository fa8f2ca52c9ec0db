//! The harness itself, without Ringback: two baresip phones call each other inside a network
//! namespace and each hears the other's tone, so SIP, SDP and RTP work both ways on 127.0.0.1.

use std::time::Duration;

use crate::{
    audio::{energy_at, rms, tone_wav},
    baresip::Baresip,
    netns,
};

#[test]
fn two_phones_hear_each_other() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (high, low) = (dir.path().join("1000.wav"), dir.path().join("440.wav"));
        tone_wav(&high, 1000.0, 10.0);
        tone_wav(&low, 440.0, 10.0);
        let (a, b) = tokio::join!(Baresip::start("a", &high), Baresip::start("b", &low));
        assert!(b.sip_uri().ends_with(&format!(":{}", b.port())));

        a.dial(&b.sip_uri());
        tokio::join!(a.established(), b.established());
        tokio::time::sleep(Duration::from_secs(2)).await;
        a.hangup();
        let (_, closed) = tokio::join!(a.ended(), b.ended());
        assert_eq!(
            closed["param"], "Connection reset by peer",
            "B saw A hang up: {closed}"
        );

        for (phone, hears, not) in [(&b, 1000.0, 440.0), (&a, 440.0, 1000.0)] {
            let recordings = phone.recordings().await;
            assert_eq!(
                recordings.len(),
                1,
                "one call, one recording: {recordings:?}"
            );
            let file = &recordings[0];
            let (level, tone, other) = (rms(file), energy_at(file, hears), energy_at(file, not));
            let seconds = crate::audio::samples(file).0.len() as f64 / 8000.0;
            println!(
                "{} heard {seconds:.2} s: rms {level:.3}, share at {hears} Hz {tone:.3}, \
                 at {not} Hz {other:.5}",
                phone.sip_uri()
            );
            assert!(
                seconds > 1.0,
                "{} recorded only {seconds} s",
                phone.sip_uri()
            );
            assert!(
                level > 0.1,
                "{} heard near silence (rms {level})",
                phone.sip_uri()
            );
            assert!(
                tone > 0.8 && other < 0.05,
                "{} should hear {hears} Hz, not {not} Hz: shares {tone} and {other}",
                phone.sip_uri()
            );
        }
    });
}
