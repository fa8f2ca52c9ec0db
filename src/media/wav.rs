//! WAV files in and out: any PCM WAV read as 8 kHz mono ([`read_as_8k_mono`]), 8 kHz mono
//! written ([`write_8k_mono`]), and a call recorded to a stereo file as it happens
//! ([`Recorder`]).
//!
//! Reading uses `hound` for the samples, after a scan of the file's chunks of our own, which
//! names a compressed format in its error, decodes G.711 WAV files (format 6 and 7, common for
//! telephone prompts) with [`Codec`], and accepts a file whose `data` chunk claims more bytes
//! than there are (what a program streaming WAV to a pipe writes, as `espeak-ng --stdout` and
//! `sox ... -t wav -` do) by reading what is there.
//!
//! The conversion first mixes the channels down (their mean), then resamples with a
//! windowed-sinc filter (Blackman window, 10 zero crossings each side, cut-off at 45% of the
//! lower of the two rates: 3.6 kHz when going down to 8 kHz), which is the low-pass before
//! decimation and the interpolation in one step, for any ratio of rates. The kernel is read from
//! a table, linearly interpolated. Each output sample is normalised by the sum of its weights, so
//! a constant stays constant up to the edges. 8 kHz input passes through untouched.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Cursor};
use std::path::Path;
use std::sync::OnceLock;

use thiserror::Error;

use super::SAMPLE_RATE;
use super::g711::Codec;

/// The longest audio [`read_as_8k_mono`] accepts, in seconds (a prompt, not a podcast).
pub const MAX_SECONDS: u32 = 600;

/// The lowest and highest sample rates [`read_as_8k_mono`] accepts.
const RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Why audio could not be read or written.
#[derive(Debug, Error)]
pub enum AudioError {
    /// The bytes do not begin as a RIFF WAVE file.
    #[error("not a WAV file")]
    NotWav,
    /// A WAV file of a format other than PCM, float or G.711.
    #[error("compressed WAV (format {format:#06x}, {name}) is not supported")]
    Compressed {
        /// The `wFormatTag` (or the extensible format's sub-format).
        format: u16,
        /// Its usual name, or `unknown`.
        name: &'static str,
    },
    /// A WAV file of a kind this reader does not handle (such as 64-bit float, or a sample
    /// rate out of range).
    #[error("unsupported WAV: {0}")]
    Unsupported(String),
    /// A WAV file whose structure is broken.
    #[error("malformed WAV: {0}")]
    Malformed(String),
    /// More than [`MAX_SECONDS`] of audio.
    #[error("longer than {max} seconds ({seconds} s)")]
    TooLong {
        /// The file's duration, rounded up.
        seconds: u64,
        /// [`MAX_SECONDS`].
        max: u32,
    },
    /// No samples at all.
    #[error("empty: the WAV file has no audio")]
    Empty,
    /// Writing a recording failed.
    #[error("cannot write the recording: {0}")]
    Io(#[from] io::Error),
}

/// Reads a WAV file of any PCM kind (8, 16, 24 or 32-bit integer, 32-bit float, or G.711 µ-law
/// or A-law; any channel count; any sample rate from 1 to 384 kHz) as 8 kHz mono 16-bit
/// samples, the channels mixed down and the rate converted (see the module's documentation).
///
/// The output has `round(frames × 8000 / rate)` samples, the same duration. Errors say what is
/// wrong: not a WAV, compressed, malformed, longer than [`MAX_SECONDS`], or empty.
pub fn read_as_8k_mono(bytes: &[u8]) -> Result<Vec<i16>, AudioError> {
    let layout = scan(bytes)?;
    let frames = layout.data.len() / usize::from(layout.block_align);
    if frames == 0 {
        return Err(AudioError::Empty);
    }
    if !RATES.contains(&layout.sample_rate) {
        let rate = layout.sample_rate;
        return Err(AudioError::Unsupported(format!(
            "a sample rate of {rate} Hz"
        )));
    }
    let seconds = (frames as u64).div_ceil(u64::from(layout.sample_rate));
    if seconds > u64::from(MAX_SECONDS) {
        return Err(AudioError::TooLong {
            seconds,
            max: MAX_SECONDS,
        });
    }
    let mono = match layout.encoding {
        Encoding::Pcm => pcm_mono(&layout, frames)?,
        Encoding::G711(codec) => {
            let mut samples = Vec::with_capacity(layout.data.len());
            codec.decode(layout.data, &mut samples);
            let scaled = samples
                .iter()
                .map(|&s| Ok::<_, AudioError>(f32::from(s) / 32768.0));
            mix_down(scaled, layout.channels, frames)?
        }
    };
    if mono.is_empty() {
        return Err(AudioError::Empty);
    }
    let resampled = resample(&mono, layout.sample_rate);
    Ok(resampled.iter().map(|&x| to_i16(x)).collect())
}

/// A mono 8 kHz 16-bit PCM WAV file of `samples`. Past about 74 hours (4 GiB, the most a WAV
/// file holds), the rest is left out.
pub fn write_8k_mono(samples: &[i16]) -> Vec<u8> {
    let most = (u32::MAX as usize - 36) / 2;
    let samples = &samples[..samples.len().min(most)];
    // Within u32: at most `most` samples of 2 bytes.
    let data_len = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    bytes.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes()); // bytes a second
    bytes.extend_from_slice(&2u16.to_le_bytes()); // bytes a frame
    bytes.extend_from_slice(&16u16.to_le_bytes()); // bits a sample
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        bytes.extend_from_slice(&sample.to_le_bytes());
    }
    bytes
}

/// How a file's samples are stored.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// Integer or float PCM, for `hound`.
    Pcm,
    /// One G.711 byte a sample.
    G711(Codec),
}

/// What [`scan`] found: the format, and the data as far as the file holds it.
struct Layout<'a> {
    encoding: Encoding,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    /// The body of the `fmt ` chunk.
    fmt: &'a [u8],
    /// The body of the `data` chunk, cut to what the file holds and to whole frames.
    data: &'a [u8],
}

/// Walks the RIFF chunks for the format and the data.
fn scan(bytes: &[u8]) -> Result<Layout<'_>, AudioError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(AudioError::NotWav);
    }
    let mut rest = &bytes[12..];
    let mut fmt: Option<&[u8]> = None;
    let data = loop {
        if rest.len() < 8 {
            return Err(AudioError::Malformed(
                if fmt.is_none() {
                    "no fmt chunk"
                } else {
                    "no data chunk"
                }
                .to_owned(),
            ));
        }
        let id = &rest[0..4];
        let declared = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let body = &rest[8..];
        let len = declared.min(body.len());
        if id == b"data" {
            break &body[..len];
        }
        if id == b"fmt " {
            fmt = Some(&body[..len]);
        }
        // Chunks are padded to an even length.
        rest = body
            .get(declared.saturating_add(declared % 2)..)
            .unwrap_or(&[]);
    };
    let Some(fmt) = fmt else {
        return Err(AudioError::Malformed(
            "no fmt chunk before the data".to_owned(),
        ));
    };
    if fmt.len() < 16 {
        return Err(AudioError::Malformed("fmt chunk too short".to_owned()));
    }
    let u16_at = |at: usize| u16::from_le_bytes([fmt[at], fmt[at + 1]]);
    let tag = u16_at(0);
    let channels = u16_at(2);
    let sample_rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let block_align = u16_at(12);
    const EXTENSIBLE: u16 = 0xFFFE;
    // The extensible format's sub-format GUID begins with the format tag it stands for.
    let format = if tag == EXTENSIBLE && fmt.len() >= 26 {
        u16_at(24)
    } else {
        tag
    };
    let encoding = match format {
        1 | 3 => Encoding::Pcm,
        6 => Encoding::G711(Codec::Pcma),
        7 => Encoding::G711(Codec::Pcmu),
        other => {
            return Err(AudioError::Compressed {
                format: other,
                name: format_name(other),
            });
        }
    };
    if channels == 0 || block_align == 0 || block_align % channels != 0 {
        return Err(AudioError::Malformed(format!(
            "{channels} channels in frames of {block_align} bytes"
        )));
    }
    if matches!(encoding, Encoding::G711(_)) && block_align != channels {
        return Err(AudioError::Malformed(
            "G.711 with more than a byte a sample".to_owned(),
        ));
    }
    let data = &data[..data.len() - data.len() % usize::from(block_align)];
    Ok(Layout {
        encoding,
        channels,
        sample_rate,
        block_align,
        fmt,
        data,
    })
}

/// A copy of the file with only its `fmt ` and `data` chunks, their lengths those of what is
/// there, which `hound` reads whatever the original's lengths said. Both bodies were cut from
/// chunks whose lengths are `u32`s.
fn canonical(layout: &Layout<'_>) -> Vec<u8> {
    let fmt_len = layout.fmt.len() as u32;
    let data_len = layout.data.len() as u32;
    let riff_len = fmt_len.saturating_add(data_len).saturating_add(20);
    let mut canonical = Vec::with_capacity(28 + layout.fmt.len() + layout.data.len());
    canonical.extend_from_slice(b"RIFF");
    canonical.extend_from_slice(&riff_len.to_le_bytes());
    canonical.extend_from_slice(b"WAVEfmt ");
    canonical.extend_from_slice(&fmt_len.to_le_bytes());
    canonical.extend_from_slice(layout.fmt);
    canonical.extend_from_slice(b"data");
    canonical.extend_from_slice(&data_len.to_le_bytes());
    canonical.extend_from_slice(layout.data);
    canonical
}

/// The usual name of a WAV format tag that is not PCM.
fn format_name(format: u16) -> &'static str {
    match format {
        0x0002 => "Microsoft ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0050 => "MPEG",
        0x0055 => "MP3",
        0x0064 => "G.726 ADPCM",
        0x0065 => "G.722 ADPCM",
        0x00FF => "AAC",
        0x0161 => "Windows Media Audio",
        0x1600 => "AAC",
        0x566F => "Vorbis",
        0xF1AC => "FLAC",
        _ => "unknown",
    }
}

/// The `frames` frames of a PCM file, mixed down to one channel, as floats in [-1, 1].
fn pcm_mono(layout: &Layout<'_>, frames: usize) -> Result<Vec<f32>, AudioError> {
    let reader = hound::WavReader::new(Cursor::new(canonical(layout))).map_err(read_error)?;
    let spec = reader.spec();
    match spec.sample_format {
        hound::SampleFormat::Float => {
            let samples = reader.into_samples::<f32>().map(|s| s.map_err(read_error));
            mix_down(samples, spec.channels, frames)
        }
        hound::SampleFormat::Int => {
            if !(8..=32).contains(&spec.bits_per_sample) {
                let bits = spec.bits_per_sample;
                return Err(AudioError::Unsupported(format!("{bits}-bit samples")));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f64;
            let samples = reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| (f64::from(s) * scale) as f32).map_err(read_error));
            mix_down(samples, spec.channels, frames)
        }
    }
}

fn read_error(error: hound::Error) -> AudioError {
    match error {
        hound::Error::Unsupported => AudioError::Unsupported("this kind of WAV file".to_owned()),
        hound::Error::FormatError(what) => AudioError::Malformed(what.to_owned()),
        other => AudioError::Malformed(other.to_string()),
    }
}

/// The mean of each frame's `channels` samples, for about `frames` frames.
fn mix_down(
    samples: impl Iterator<Item = Result<f32, AudioError>>,
    channels: u16,
    frames: usize,
) -> Result<Vec<f32>, AudioError> {
    let channels = usize::from(channels.max(1));
    let mut mono = Vec::with_capacity(frames);
    let (mut sum, mut count) = (0.0_f32, 0);
    for sample in samples {
        sum += sample?;
        count += 1;
        if count == channels {
            mono.push(sum / channels as f32);
            (sum, count) = (0.0, 0);
        }
    }
    Ok(mono)
}

/// Zero crossings of the sinc on each side of the kernel's centre.
const ZEROS: usize = 10;
/// Kernel table entries per zero crossing.
const RESOLUTION: usize = 256;

/// The windowed sinc, `sinc(u) · blackman(u / ZEROS)` for `u` from 0 to `ZEROS` in steps of
/// `1 / RESOLUTION`, and one zero past the end.
fn kernel() -> &'static [f32] {
    static KERNEL: OnceLock<Vec<f32>> = OnceLock::new();
    KERNEL.get_or_init(|| {
        use std::f64::consts::PI;
        let mut table: Vec<f32> = (0..=ZEROS * RESOLUTION)
            .map(|i| {
                let u = i as f64 / RESOLUTION as f64;
                let sinc = if i == 0 {
                    1.0
                } else {
                    (PI * u).sin() / (PI * u)
                };
                // Blackman, centred: 1 at u = 0, 0 at u = ZEROS.
                let x = u / ZEROS as f64;
                let window = 0.42 + 0.5 * (PI * x).cos() + 0.08 * (2.0 * PI * x).cos();
                (sinc * window) as f32
            })
            .collect();
        table.push(0.0);
        table
    })
}

/// `input` at `from` Hz resampled to [`SAMPLE_RATE`].
fn resample(input: &[f32], from: u32) -> Vec<f32> {
    if from == SAMPLE_RATE {
        return input.to_vec();
    }
    let table = kernel();
    let out_len =
        (input.len() as u64 * u64::from(SAMPLE_RATE) + u64::from(from) / 2) / u64::from(from);
    // Input samples per output sample, and the cut-off in cycles per input sample.
    let step = f64::from(from) / f64::from(SAMPLE_RATE);
    let cutoff = 0.45 * f64::from(from.min(SAMPLE_RATE)) / f64::from(from);
    // Zero crossings are 1 / (2 · cutoff) input samples apart.
    let per_input = 2.0 * cutoff;
    let half_width = ZEROS as f64 / per_input;
    let last = input.len() as i64 - 1;
    (0..out_len)
        .map(|n| {
            let centre = n as f64 * step;
            let first = ((centre - half_width).ceil() as i64).max(0);
            let end = ((centre + half_width).floor() as i64).min(last);
            let (mut sum, mut weights) = (0.0_f64, 0.0_f64);
            for k in first..=end {
                let u = (k as f64 - centre).abs() * per_input * RESOLUTION as f64;
                let i = u as usize;
                let Some(&below) = table.get(i) else { continue };
                let above = table.get(i + 1).copied().unwrap_or(0.0);
                let weight = f64::from(below) + (f64::from(above) - f64::from(below)) * u.fract();
                sum += weight * f64::from(input[k as usize]);
                weights += weight;
            }
            if weights.abs() > 1e-9 {
                (sum / weights) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// A float sample in [-1, 1] as 16 bits, clipped.
fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// How far one leg may run ahead of the other before the other is taken to have lost that
/// audio: 200 ms.
const MAX_LEAD: usize = (SAMPLE_RATE / 5) as usize;
/// How often the file's header is brought up to date, so that a crash leaves a readable file
/// with all but the last few seconds: every 5 s of audio.
const FLUSH_EVERY: u64 = 5 * SAMPLE_RATE as u64;

/// Records a call as it happens: a stereo 8 kHz 16-bit WAV file, the customer's leg on the left
/// channel and the other leg (agent, prompt or bot) on the right.
///
/// The legs arrive separately, each in its own packets, and are aligned by sample count: the
/// n-th sample pushed for one leg is written beside the n-th of the other. When one leg runs
/// more than 200 ms ahead (the other sent nothing: muted, on hold, packets lost), the other is
/// padded with silence to keep within 200 ms of it, so the file never holds more than that in
/// memory and a silent leg does not stop the recording. Audio that then arrives late for the
/// padded leg is written where that leg is, up to 200 ms early; a caller that knows from RTP
/// timestamps that packets were lost should push silence for them, which keeps the legs exact.
/// The header is brought up to date every
/// 5 s of audio, and by [`finish`](Recorder::finish), which pads the shorter leg and must be
/// called (a recorder dropped without it loses the last 200 ms).
pub struct Recorder {
    writer: hound::WavWriter<BufWriter<File>>,
    customer: VecDeque<i16>,
    other: VecDeque<i16>,
    written: u64,
    flushed: u64,
}

impl Recorder {
    /// Creates (or truncates) the file at `path` and writes its header.
    pub fn create(path: impl AsRef<Path>) -> Result<Recorder, AudioError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(write_error)?;
        Ok(Recorder {
            writer,
            customer: VecDeque::new(),
            other: VecDeque::new(),
            written: 0,
            flushed: 0,
        })
    }

    /// Adds the customer's next 8 kHz samples (the left channel).
    pub fn push_customer(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        self.customer.extend(samples);
        self.write_aligned()
    }

    /// Adds the other leg's next 8 kHz samples (the right channel).
    pub fn push_other(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        self.other.extend(samples);
        self.write_aligned()
    }

    /// Writes what is left, the shorter leg padded with silence, and completes the file.
    /// Returns the recording's length in samples of each channel (8,000 a second).
    pub fn finish(mut self) -> Result<u64, AudioError> {
        let len = self.customer.len().max(self.other.len());
        self.write_frames(len)?;
        self.writer.finalize().map_err(write_error)?;
        Ok(self.written)
    }

    /// Writes the frames both legs have, and those of a leg more than [`MAX_LEAD`] ahead.
    fn write_aligned(&mut self) -> Result<(), AudioError> {
        let both = self.customer.len().min(self.other.len());
        let lead = self.customer.len().max(self.other.len()) - both;
        self.write_frames(both + lead.saturating_sub(MAX_LEAD))?;
        if self.written - self.flushed >= FLUSH_EVERY {
            self.writer.flush().map_err(write_error)?;
            self.flushed = self.written;
        }
        Ok(())
    }

    /// Writes `frames` frames, padding a leg that has fewer with silence.
    fn write_frames(&mut self, frames: usize) -> Result<(), AudioError> {
        for _ in 0..frames {
            let left = self.customer.pop_front().unwrap_or(0);
            let right = self.other.pop_front().unwrap_or(0);
            self.writer.write_sample(left).map_err(write_error)?;
            self.writer.write_sample(right).map_err(write_error)?;
        }
        self.written += frames as u64;
        Ok(())
    }
}

fn write_error(error: hound::Error) -> AudioError {
    match error {
        hound::Error::IoError(error) => AudioError::Io(error),
        other => AudioError::Io(io::Error::other(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::energy_ratio;

    /// A WAV file of `spec` holding `frames` frames of `signal(t)` (t in seconds, value in
    /// [-1, 1]) on every channel.
    fn wav(spec: hound::WavSpec, frames: usize, signal: impl Fn(f64) -> f64) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("a writer");
        let full_scale = (1i64 << (spec.bits_per_sample - 1)) as f64;
        for n in 0..frames {
            let x = signal(n as f64 / f64::from(spec.sample_rate));
            for _ in 0..spec.channels {
                match spec.sample_format {
                    hound::SampleFormat::Float => writer.write_sample(x as f32),
                    hound::SampleFormat::Int => {
                        let top = full_scale - 1.0;
                        writer.write_sample((x * full_scale).round().clamp(-full_scale, top) as i32)
                    }
                }
                .expect("a sample");
            }
        }
        writer.finalize().expect("a file");
        bytes.into_inner()
    }

    fn spec(channels: u16, sample_rate: u32, bits: u16, float: bool) -> hound::WavSpec {
        let sample_format = if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        };
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format,
        }
    }

    fn sine(frequency: f64, amplitude: f64) -> impl Fn(f64) -> f64 {
        move |t| amplitude * (2.0 * std::f64::consts::PI * frequency * t).sin()
    }

    fn rms(samples: &[i16]) -> f64 {
        let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        (energy / samples.len() as f64).sqrt()
    }

    #[test]
    fn every_pcm_kind_reads_as_8k_mono_of_the_same_duration_and_sound() {
        let kinds = [
            spec(1, 8000, 16, false),
            spec(1, 22_050, 16, false),
            spec(2, 44_100, 16, false),
            spec(2, 48_000, 24, false),
            spec(6, 16_000, 32, false),
            spec(1, 11_025, 8, false),
            spec(2, 32_000, 32, true),
            spec(1, 6_000, 16, false),
        ];
        for kind in kinds {
            // Half a second and a bit, a frame count that does not divide evenly.
            let frames = kind.sample_rate as usize / 2 + 7;
            let bytes = wav(kind, frames, sine(1000.0, 0.5));
            let samples = read_as_8k_mono(&bytes).expect("a readable file");
            let expected = (frames as f64 * 8000.0 / f64::from(kind.sample_rate)).round();
            assert_eq!(samples.len(), expected as usize, "{kind:?}");
            // Away from the edges: a 1 kHz sine at half scale (RMS 0.5 / √2).
            let middle = &samples[400..samples.len() - 400];
            let level = rms(middle) / 32768.0;
            assert!(
                (level - 0.5 / 2f64.sqrt()).abs() < 0.01,
                "{kind:?}: RMS {level}"
            );
            assert!(energy_ratio(&middle[..800], 1000.0) > 0.98, "{kind:?}");
        }
    }

    #[test]
    fn eight_khz_mono_16_bit_passes_through_untouched() {
        let samples: Vec<i16> = (0..4000)
            .map(|n| ((n * 37) % 65536 - 32768) as i16)
            .collect();
        assert_eq!(
            read_as_8k_mono(&write_8k_mono(&samples)).expect("readable"),
            samples
        );
    }

    #[test]
    fn what_is_written_is_a_standard_wav_file() {
        let bytes = write_8k_mono(&[0, 1, -1, i16::MAX, i16::MIN]);
        let reader = hound::WavReader::new(Cursor::new(bytes)).expect("a WAV file");
        assert_eq!(reader.spec(), spec(1, 8000, 16, false));
        let samples: Vec<i16> = reader
            .into_samples()
            .map(|s| s.expect("a sample"))
            .collect();
        assert_eq!(samples, [0, 1, -1, i16::MAX, i16::MIN]);
    }

    #[test]
    fn channels_are_mixed_down_to_their_mean() {
        // Left at +0.5, right at -0.25: the mean is +0.125.
        let mut bytes = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut bytes, spec(2, 8000, 16, false)).expect("w");
        for _ in 0..100 {
            writer.write_sample(16384_i16).expect("left");
            writer.write_sample(-8192_i16).expect("right");
        }
        writer.finalize().expect("a file");
        let samples = read_as_8k_mono(&bytes.into_inner()).expect("readable");
        assert_eq!(samples, vec![4096; 100]);
    }

    #[test]
    fn what_8_khz_cannot_hold_is_filtered_out_not_folded_down() {
        // 5 kHz would fold to 3 kHz without the low-pass.
        let bytes = wav(spec(1, 48_000, 16, false), 48_000, sine(5000.0, 0.5));
        let samples = read_as_8k_mono(&bytes).expect("readable");
        let level = rms(&samples[400..samples.len() - 400]) / 32768.0;
        assert!(level < 0.002, "RMS {level} of a 0.35 input");
    }

    #[test]
    fn a_streamed_file_whose_data_length_is_unknown_is_read_to_its_end() {
        let mut bytes = wav(spec(1, 16_000, 16, false), 16_000, sine(440.0, 0.3));
        // As `espeak-ng --stdout` writes: lengths that claim more than there is.
        bytes[4..8].copy_from_slice(&0x7FFF_F024u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0x7FFF_F000u32.to_le_bytes());
        // And an odd byte at the end, half a sample.
        bytes.push(0);
        assert_eq!(read_as_8k_mono(&bytes).expect("readable").len(), 8000);
    }

    /// A header of `format` with `data` after it.
    fn raw_wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let align = channels * bits.div_ceil(8);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&format.to_le_bytes());
        bytes.extend_from_slice(&channels.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        bytes.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        bytes.extend_from_slice(&align.to_le_bytes());
        bytes.extend_from_slice(&bits.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn g711_wav_files_are_decoded() {
        let linear: Vec<i16> = crate::media::tone::tests::sine(1000.0, 8000.0, 1600);
        for (format, codec) in [(7, Codec::Pcmu), (6, Codec::Pcma)] {
            let mut encoded = Vec::new();
            codec.encode(&linear, &mut encoded);
            let mut expected = Vec::new();
            codec.decode(&encoded, &mut expected);
            let bytes = raw_wav(format, 1, 8000, 8, &encoded);
            assert_eq!(
                read_as_8k_mono(&bytes).expect("readable"),
                expected,
                "{codec:?}"
            );
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let message = |bytes: &[u8]| match read_as_8k_mono(bytes) {
            Ok(samples) => panic!("read {} samples", samples.len()),
            Err(error) => error.to_string(),
        };
        assert_eq!(message(b"ID3\x04 an mp3"), "not a WAV file");
        assert_eq!(message(b""), "not a WAV file");
        assert_eq!(
            message(&raw_wav(2, 1, 8000, 4, &[0; 256])),
            "compressed WAV (format 0x0002, Microsoft ADPCM) is not supported"
        );
        assert_eq!(
            message(&raw_wav(0x55, 2, 44_100, 0, &[0; 256])),
            "compressed WAV (format 0x0055, MP3) is not supported"
        );
        assert_eq!(
            message(&raw_wav(1, 1, 8000, 16, &[])),
            "empty: the WAV file has no audio"
        );
        // 601 seconds at 1 kHz, 8 bits.
        assert_eq!(
            message(&raw_wav(1, 1, 1000, 8, &vec![128; 601_000])),
            "longer than 600 seconds (601 s)"
        );
        assert_eq!(
            message(&raw_wav(1, 1, 500, 16, &[0; 200])),
            "unsupported WAV: a sample rate of 500 Hz"
        );
        assert!(message(&raw_wav(1, 0, 8000, 16, &[0; 200])).starts_with("malformed WAV"));
        assert!(message(&b"RIFF\x04\x00\x00\x00WAVE"[..]).starts_with("malformed WAV"));
    }

    fn channels_of(path: &Path) -> (Vec<i16>, Vec<i16>) {
        let reader = hound::WavReader::open(path).expect("a WAV file");
        assert_eq!(reader.spec(), spec(2, 8000, 16, false));
        let samples: Vec<i16> = reader
            .into_samples()
            .map(|s| s.expect("a sample"))
            .collect();
        let left = samples.iter().step_by(2).copied().collect();
        let right = samples.iter().skip(1).step_by(2).copied().collect();
        (left, right)
    }

    #[test]
    fn a_recording_puts_the_customer_left_and_the_other_leg_right_sample_by_sample() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("call.wav");
        let mut recorder = Recorder::create(&path).expect("a recorder");
        // Interleaved packets of 20 ms, the other leg one packet behind.
        for packet in 0..50_i16 {
            recorder.push_customer(&[packet; 160]).expect("written");
            if packet > 0 {
                recorder.push_other(&[-(packet - 1); 160]).expect("written");
            }
        }
        recorder.push_other(&[-49; 160]).expect("written");
        assert_eq!(recorder.finish().expect("finished"), 8000);
        let (left, right) = channels_of(&path);
        for (n, (l, r)) in left.iter().zip(&right).enumerate() {
            let packet = (n / 160) as i16;
            assert_eq!((*l, *r), (packet, -packet), "sample {n}");
        }
    }

    #[test]
    fn a_leg_that_falls_silent_is_padded_with_silence() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("call.wav");
        let mut recorder = Recorder::create(&path).expect("a recorder");
        recorder.push_customer(&[1; 800]).expect("written");
        recorder.push_other(&[2; 800]).expect("written");
        // The other leg stops for a second, then comes back.
        for _ in 0..50 {
            recorder.push_customer(&[3; 160]).expect("written");
        }
        recorder.push_other(&[4; 800]).expect("written");
        recorder.push_customer(&[5; 800]).expect("written");
        assert_eq!(recorder.finish().expect("finished"), 800 + 8000 + 800);
        let (left, right) = channels_of(&path);
        assert_eq!(left, [vec![1; 800], vec![3; 8000], vec![5; 800]].concat());
        // The silence is 800 ms long, not 1 s: the last 200 ms of the lead waited for the
        // other leg, whose packets then took their place.
        assert_eq!(
            right,
            [vec![2; 800], vec![0; 6400], vec![4; 800], vec![0; 1600]].concat()
        );
    }

    #[test]
    fn a_recording_is_readable_before_it_is_finished() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("call.wav");
        let mut recorder = Recorder::create(&path).expect("a recorder");
        for _ in 0..(6 * 50) {
            recorder.push_customer(&[7; 160]).expect("written");
            recorder.push_other(&[8; 160]).expect("written");
        }
        // Five seconds are in the header already.
        let (left, _) = channels_of(&path);
        assert!(left.len() >= 40_000, "{} samples", left.len());
        assert_eq!(recorder.finish().expect("finished"), 48_000);
        assert_eq!(channels_of(&path).0.len(), 48_000);
    }

    #[test]
    fn a_recorder_that_cannot_create_its_file_says_so() {
        let dir = tempfile::tempdir().expect("a directory");
        let result = Recorder::create(dir.path().join("missing").join("call.wav"));
        assert!(matches!(result, Err(AudioError::Io(_))));
    }
}
