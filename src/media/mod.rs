//! Audio for placing calls ourselves: codecs, tone analysis, answering-machine detection and
//! WAV files, all sans-IO except the [`wav::Recorder`] (which writes the file it is given).
//!
//! Everything here works on 8 kHz mono signed 16-bit linear samples ([`SAMPLE_RATE`]), the
//! audio of a G.711 telephone call: [`g711`] turns RTP payloads into them and back, [`wav`]
//! turns any PCM WAV file into them (a prompt to play) and writes calls to WAV, [`tone`]
//! measures a frequency in them, and [`amd`] decides from them who answered and when a
//! voicemail greeting is over. Time is always a count of samples, never the clock.

pub mod amd;
pub mod g711;
pub mod tone;
pub mod wav;

pub use amd::{AmdConfig, AnsweredBy, BeepConfig, BeepDetector, Cue, Detector, Verdict};
pub use g711::Codec;
pub use wav::{AudioError, Recorder};

/// The sample rate of every sample slice in this module: 8 kHz, G.711's.
pub const SAMPLE_RATE: u32 = 8000;
