//! Test audio: tones made with sox, and what a recording holds (its level, and how much of it
//! is one frequency).

use std::{path::Path, process::Command};

/// Writes a sine tone of `freq_hz` lasting `seconds` to `path`, as 8 kHz mono 16-bit WAV (what
/// baresip's `aufile` plays over G.711), at half of full scale.
pub fn tone_wav(path: &Path, freq_hz: f64, seconds: f64) {
    let out = Command::new("sox")
        .args([
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
        ])
        .arg(path)
        .args(["synth", &seconds.to_string(), "sine", &freq_hz.to_string()])
        .args(["vol", "0.5"])
        .output()
        .unwrap_or_else(|e| panic!("sox could not be started ({e}): install Debian's sox"));
    assert!(
        out.status.success(),
        "sox failed to make {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The samples of a 16-bit integer WAV file (its first channel), in full-scale units, and its
/// sample rate.
pub fn samples(path: &Path) -> (Vec<f64>, u32) {
    let mut reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{} is not a WAV file: {e}", path.display()));
    let spec = reader.spec();
    assert!(
        spec.bits_per_sample == 16 && spec.sample_format == hound::SampleFormat::Int,
        "{}: expected 16-bit integer samples, got {spec:?}",
        path.display()
    );
    let channels = usize::from(spec.channels);
    let samples = reader
        .samples::<i16>()
        .step_by(channels)
        .map(|s| f64::from(s.expect("a sample")) / 32768.0)
        .collect();
    (samples, spec.sample_rate)
}

/// The root mean square of the file's samples, in full-scale units (0 for silence, about
/// 0.35 for [`tone_wav`]'s tones).
pub fn rms(path: &Path) -> f64 {
    let (x, _) = samples(path);
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|s| s * s).sum::<f64>() / x.len() as f64).sqrt()
}

/// The share of the file's power that is at `freq_hz`: about 1 for a pure tone at that
/// frequency, about 0 for other tones and for silence. Goertzel's power over blocks of 50 ms
/// (so a gap or a phase jump costs only its block), summed, over the total power.
pub fn energy_at(path: &Path, freq_hz: f64) -> f64 {
    let (x, rate) = samples(path);
    let block = (rate as usize / 20).max(1);
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq_hz / f64::from(rate)).cos();
    let mut tone = 0.0;
    for chunk in x.chunks(block) {
        let (mut s1, mut s2) = (0.0, 0.0);
        for &sample in chunk {
            let s0 = sample + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        // |X(f)|², scaled so that a whole number of cycles of a pure tone gives its energy.
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        tone += 2.0 * power / chunk.len() as f64;
    }
    let total: f64 = x.iter().map(|s| s * s).sum();
    if total == 0.0 { 0.0 } else { tone / total }
}
