//! Answering-machine detection on real speech: espeak-ng speaks a person's "Hello?" and a
//! voicemail greeting, sox adds the beep and the silences, and the audio goes through the WAV
//! converter and a G.711 µ-law round trip (as a call would hear it) into the detectors.
//!
//! espeak-ng and sox must be installed (Debian's `espeak-ng` and `sox`); without them these
//! tests fail, saying so. They are never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use ringback::media::wav::read_as_8k_mono;
use ringback::media::{
    AmdConfig, AnsweredBy, BeepConfig, BeepDetector, Codec, Cue, Detector, Verdict,
};

/// Samples in a millisecond at 8 kHz.
const PER_MS: usize = 8;

const GREETING: &str = "Hi, you have reached the voicemail of Jordan Avery. \
    I can't take your call right now. \
    Please leave your name, your number and a short message after the tone, \
    and I will call you back.";

/// Runs a program to its end; panics, naming it, if it is missing or fails.
fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {program} ({error}): the AMD tests make their audio with espeak-ng and \
             sox; install them (apt-get install espeak-ng sox)"
            )
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A folder of audio files made for one test.
struct Studio {
    dir: tempfile::TempDir,
}

impl Studio {
    fn new() -> Studio {
        Studio {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// espeak-ng's WAV file (mono, 22,050 Hz) of `text`.
    fn speak(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        run("espeak-ng", &["-w", path_str(&path), text]);
        path
    }

    /// A 22,050 Hz mono file made by `sox -n` with `effects` (`synth ...`, `trim ...`).
    fn synth(&self, name: &str, effects: &[&str]) -> PathBuf {
        let path = self.path(name);
        let args = [
            &["-n", "-r", "22050", "-c", "1", "-b", "16", path_str(&path)],
            effects,
        ];
        run("sox", &args.concat());
        path
    }

    /// `parts` one after the other, then `trailing_silence` seconds of silence.
    fn concat(&self, name: &str, parts: &[&Path], trailing_silence: &str) -> PathBuf {
        let path = self.path(name);
        let mut args: Vec<&str> = parts.iter().map(|part| path_str(part)).collect();
        args.extend([path_str(&path), "pad", "0", trailing_silence]);
        run("sox", &args);
        path
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// The file as 8 kHz mono, through the converter under test.
fn read(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("a file sox or espeak-ng wrote");
    read_as_8k_mono(&bytes).expect("a readable WAV file")
}

/// What a call carries: µ-law on the wire.
fn over_the_phone(samples: &[i16]) -> Vec<i16> {
    let mut encoded = Vec::new();
    Codec::Pcmu.encode(samples, &mut encoded);
    let mut decoded = Vec::new();
    Codec::Pcmu.decode(&encoded, &mut decoded);
    decoded
}

/// The verdict on `call`, fed in 20 ms packets as RTP would bring it.
fn answer(call: &[i16]) -> Verdict {
    let mut detector = Detector::new(AmdConfig::default());
    call.chunks(160)
        .find_map(|packet| detector.push(packet))
        .expect("a verdict")
}

/// The cue in `call` from `from` on, as an offset into `call`, fed in packets of an odd size.
fn cue(call: &[i16], from: u64) -> Cue {
    let mut detector = BeepDetector::new(BeepConfig::default());
    let rest = &call[from as usize..];
    let cue = rest
        .chunks(97)
        .find_map(|packet| detector.push(packet))
        .expect("a cue");
    match cue {
        Cue::Beep { at } => Cue::Beep { at: at + from },
        Cue::SilenceAfterSpeech { at } => Cue::SilenceAfterSpeech { at: at + from },
        Cue::Timeout { at } => Cue::Timeout { at: at + from },
    }
}

/// The end of the last stretch louder than silence, in samples.
fn end_of_sound(samples: &[i16]) -> usize {
    samples
        .iter()
        .rposition(|s| s.unsigned_abs() > 512)
        .map_or(0, |at| at + 1)
}

fn ms(samples: u64) -> u64 {
    samples / PER_MS as u64
}

#[test]
fn hello_then_silence_is_a_human() {
    let studio = Studio::new();
    let hello = studio.speak("hello.wav", "Hello?");
    let call = studio.concat("call.wav", &[&hello], "3");
    let call = over_the_phone(&read(&call));
    let spoken_until = end_of_sound(&call) as u64;

    let verdict = answer(&call);
    println!(
        "\"Hello?\" ends at {} ms: {verdict:?} at {} ms",
        ms(spoken_until),
        ms(verdict.at)
    );
    assert_eq!(verdict.answered_by, AnsweredBy::Human, "{verdict:?}");
    assert_eq!(verdict.reason, "human_then_silence");
    // 800 ms of silence after the word, within a frame or two of where the sound fades.
    let silence = verdict.at - spoken_until;
    assert!(
        (700..=900).contains(&ms(silence)),
        "{} ms of silence",
        ms(silence)
    );
}

#[test]
fn a_voicemail_greeting_is_a_machine_and_its_beep_ends_where_it_ends() {
    let studio = Studio::new();
    let greeting = studio.speak("greeting.wav", GREETING);
    let gap = studio.synth("gap.wav", &["trim", "0", "0.4"]);
    let beep = studio.synth("beep.wav", &["synth", "0.5", "sine", "1000", "vol", "0.5"]);
    let call = studio.concat("call.wav", &[&greeting, &gap, &beep], "3");

    let greeting_len = read(&greeting).len();
    let beep_end = (greeting_len + 400 * PER_MS + 500 * PER_MS) as u64;
    let call = over_the_phone(&read(&call));
    let seconds = greeting_len as f64 / 8000.0;
    assert!(
        (8.0..=13.0).contains(&seconds),
        "a greeting of {seconds:.2} s"
    );

    let verdict = answer(&call);
    println!(
        "a greeting of {seconds:.2} s: {verdict:?} at {} ms",
        ms(verdict.at)
    );
    assert_eq!(verdict.answered_by, AnsweredBy::Machine, "{verdict:?}");

    let cue = cue(&call, verdict.at);
    let error = cue.at() as i64 - beep_end as i64;
    println!(
        "beep ends at {} ms: {} at {} ms ({:+} ms)",
        ms(beep_end),
        cue.reason(),
        ms(cue.at()),
        error / PER_MS as i64
    );
    assert_eq!(cue.reason(), "beep", "{cue:?}");
    assert!(
        error.unsigned_abs() <= 150 * PER_MS as u64,
        "{cue:?}, the beep ends at {beep_end}"
    );
}

#[test]
fn a_greeting_without_a_beep_is_over_at_its_silence_once_the_wait_is_over() {
    let studio = Studio::new();
    let greeting = studio.speak("greeting.wav", GREETING);
    let call = studio.concat("call.wav", &[&greeting], "10");
    let call = over_the_phone(&read(&call));
    let spoken_until = end_of_sound(&call) as u64;

    let verdict = answer(&call);
    assert_eq!(verdict.answered_by, AnsweredBy::Machine, "{verdict:?}");
    let cue = cue(&call, verdict.at);
    println!(
        "no beep, speech until {} ms: {} at {} ms",
        ms(spoken_until),
        cue.reason(),
        ms(cue.at())
    );
    assert_eq!(cue.reason(), "silence_after_speech", "{cue:?}");
    // After the 15 s wait from the verdict and at least 1.5 s after the greeting.
    let waited = BeepConfig::default().max_wait.as_millis() as u64;
    let after_speech = ms(spoken_until) + 1500;
    let expected = (ms(verdict.at) + waited).max(after_speech);
    assert!(
        ms(cue.at()).abs_diff(expected) <= 40,
        "{cue:?}, expected at {expected} ms"
    );
}

#[test]
fn espeak_ngs_22_khz_output_converts_to_8_khz_of_the_same_duration() {
    let studio = Studio::new();
    let speech = studio.speak("speech.wav", "Your callback is scheduled for three thirty.");
    let rate = String::from_utf8_lossy(&run("soxi", &["-r", path_str(&speech)]))
        .trim()
        .to_owned();
    assert_eq!(rate, "22050", "espeak-ng's sample rate");
    let frames: u64 = String::from_utf8_lossy(&run("soxi", &["-s", path_str(&speech)]))
        .trim()
        .parse()
        .expect("soxi's sample count");

    let samples = read(&speech);
    let expected = (frames as f64 * 8000.0 / 22050.0).round() as usize;
    println!(
        "{frames} samples at 22,050 Hz -> {} at 8 kHz (expected {expected})",
        samples.len()
    );
    assert_eq!(samples.len(), expected);
    let loud = samples.iter().filter(|s| s.unsigned_abs() > 2000).count();
    assert!(
        loud > samples.len() / 10,
        "speech, not silence: {loud} loud samples"
    );

    // The same speech streamed to a pipe (its lengths unknown) reads the same.
    let streamed = run(
        "espeak-ng",
        &["--stdout", "Your callback is scheduled for three thirty."],
    );
    assert_eq!(
        read_as_8k_mono(&streamed).expect("a readable stream"),
        samples
    );
}
