//! How much of a stretch of 8 kHz audio is one frequency: the Goertzel algorithm, a single bin
//! of a discrete Fourier transform at any frequency (not only a multiple of `8000 / len`).

use super::SAMPLE_RATE;

/// The power of `samples` (8 kHz) at `frequency_hz`: `|X(f)|²`, the squared magnitude of
/// their Fourier transform at that frequency, in squared sample units.
///
/// A sine of amplitude `A` at exactly that frequency over `N` samples gives about
/// `(A·N/2)²`; the further the frequency is from it, the less, to nothing one bin
/// (`8000 / N` Hz) away. Empty input gives 0.
pub fn goertzel_power(samples: &[i16], frequency_hz: f64) -> f64 {
    let omega = 2.0 * std::f64::consts::PI * frequency_hz / f64::from(SAMPLE_RATE);
    let coefficient = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    for &sample in samples {
        let s0 = f64::from(sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coefficient * s1 * s2).max(0.0)
}

/// The share of the energy of `samples` (8 kHz) that is at `frequency_hz`, from 0 to 1.
///
/// It is [`goertzel_power`] over what a pure sine of the same total energy at that frequency
/// would give (`N·Σx²/2`): about 1 for a pure tone at the frequency, falling to 0 a bin
/// (`8000 / N` Hz) away; near `2/N` for white noise; 0 for silence or empty input. Clamped to 1,
/// which a tone near 0 Hz or 4 kHz (where its mirror image adds in) could otherwise exceed.
pub fn energy_ratio(samples: &[i16], frequency_hz: f64) -> f64 {
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    if energy == 0.0 {
        return 0.0;
    }
    let ideal = samples.len() as f64 * energy / 2.0;
    (goertzel_power(samples, frequency_hz) / ideal).min(1.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `len` samples of a sine at `frequency_hz` with peak `amplitude`, from phase 0.
    pub(crate) fn sine(frequency_hz: f64, amplitude: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|n| {
                let t = n as f64 / f64::from(SAMPLE_RATE);
                (amplitude * (2.0 * std::f64::consts::PI * frequency_hz * t).sin()).round() as i16
            })
            .collect()
    }

    /// `len` samples of uniform white noise with peak `amplitude`, the same for the same seed.
    pub(crate) fn noise(amplitude: f64, len: usize, seed: u64) -> Vec<i16> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                // xorshift64*: good enough for test noise, and deterministic.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let unit =
                    (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
                (amplitude * (2.0 * unit - 1.0)).round() as i16
            })
            .collect()
    }

    #[test]
    fn a_sine_has_the_power_of_its_amplitude_at_its_frequency() {
        let samples = sine(1000.0, 8000.0, 160);
        let expected = (8000.0 * 160.0 / 2.0_f64).powi(2);
        let power = goertzel_power(&samples, 1000.0);
        assert!(
            (power / expected - 1.0).abs() < 0.01,
            "{power} vs {expected}"
        );
    }

    #[test]
    fn a_pure_tone_is_nearly_all_at_its_frequency_and_nothing_a_few_bins_away() {
        for frequency in [440.0, 1000.0, 1400.0, 2100.0] {
            let samples = sine(frequency, 10_000.0, 160);
            let at = energy_ratio(&samples, frequency);
            assert!(at > 0.98, "{frequency} Hz: {at}");
            let away = energy_ratio(&samples, frequency + 150.0);
            assert!(away < 0.05, "{frequency} Hz seen at +150 Hz: {away}");
        }
    }

    #[test]
    fn a_frequency_between_bins_is_still_found() {
        // 1013 Hz over 160 samples lies between the 1000 and 1050 Hz bins.
        let samples = sine(1013.0, 10_000.0, 160);
        assert!(energy_ratio(&samples, 1013.0) > 0.98);
        // A quarter of a bin away, about (sin(πx)/πx)² = 0.8 of it is seen.
        let near = energy_ratio(&samples, 1000.0);
        assert!((0.7..0.9).contains(&near), "{near}");
    }

    #[test]
    fn two_equal_tones_share_the_energy() {
        let a = sine(697.0, 5000.0, 400);
        let b = sine(1209.0, 5000.0, 400);
        let both: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        for frequency in [697.0, 1209.0] {
            let ratio = energy_ratio(&both, frequency);
            assert!((ratio - 0.5).abs() < 0.05, "{frequency} Hz: {ratio}");
        }
    }

    #[test]
    fn noise_has_no_frequency_of_its_own() {
        let samples = noise(10_000.0, 160, 7);
        for frequency in (400..=2100).step_by(100) {
            let ratio = energy_ratio(&samples, f64::from(frequency));
            assert!(ratio < 0.15, "{frequency} Hz: {ratio}");
        }
    }

    #[test]
    fn silence_and_nothing_have_no_energy_at_any_frequency() {
        assert_eq!(energy_ratio(&[0; 160], 1000.0), 0.0);
        assert_eq!(goertzel_power(&[0; 160], 1000.0), 0.0);
        assert_eq!(energy_ratio(&[], 1000.0), 0.0);
        assert_eq!(goertzel_power(&[], 1000.0), 0.0);
    }
}
