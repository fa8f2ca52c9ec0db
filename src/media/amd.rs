//! Answering-machine detection: who answered a call ([`Detector`]), and when a machine's
//! greeting is over so a message can be left ([`BeepDetector`]).
//!
//! Both are sans-IO: they are fed the call's received audio, 8 kHz mono linear samples in
//! chunks of any size, and answer once. Time is the number of samples fed (8 a millisecond),
//! never the clock, so a test feeds a recording as fast as it likes and gets the same answer as
//! a call would in real time. Audio is judged in 20 ms frames (160 samples); a frame is *silent*
//! when its mean absolute amplitude is below a threshold, otherwise *voiced*.

use std::time::Duration;

use super::SAMPLE_RATE;
use super::tone::goertzel_power;

/// Samples in one frame of analysis: 20 ms at 8 kHz, the usual RTP packet.
const FRAME: usize = 160;
/// [`FRAME`] as a sample count.
const FRAME_SAMPLES: u64 = FRAME as u64;

/// The limits of [`Detector`]'s rules. The defaults are those of Asterisk's `app_amd`
/// (`amd.conf`), which carriers and dialers have tuned against for years, except where
/// [`Detector`] says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdConfig {
    /// Silence from the answer without a word: the verdict is `Unknown` (`initial_silence`).
    /// Default 2.5 s.
    pub initial_silence: Duration,
    /// Voice heard in all once a greeting has begun: at this much it is a machine's greeting
    /// (`long_greeting`). People say "Hello?", machines read a sentence. Default 1.5 s.
    pub greeting: Duration,
    /// Silence after a greeting has begun: at this much the greeting was a person's, who now
    /// waits for an answer (`human_then_silence`). Default 0.8 s.
    pub after_greeting_silence: Duration,
    /// No verdict by then: `Unknown` (`analysis_timeout`). Default 5 s.
    pub total_analysis_time: Duration,
    /// Voice lasting this long is a word, and the first word begins the greeting; shorter
    /// bursts (clicks, breath) are ignored. Default 100 ms.
    pub min_word_length: Duration,
    /// Silence lasting this long ends a word. Default 50 ms.
    pub between_words_silence: Duration,
    /// More words than this are a machine's greeting (`max_words`). Default 3.
    pub maximum_number_of_words: u32,
    /// One word lasting this long is a machine (`max_word_length`): music, a tone, a recording
    /// with no pauses. Default 5 s.
    pub maximum_word_length: Duration,
    /// A frame whose mean absolute amplitude (16-bit scale) is below this is silent. Default
    /// 256 (about -42 dBFS), as Asterisk's.
    pub silence_threshold: u16,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            initial_silence: Duration::from_millis(2500),
            greeting: Duration::from_millis(1500),
            after_greeting_silence: Duration::from_millis(800),
            total_analysis_time: Duration::from_millis(5000),
            min_word_length: Duration::from_millis(100),
            between_words_silence: Duration::from_millis(50),
            maximum_number_of_words: 3,
            maximum_word_length: Duration::from_millis(5000),
            silence_threshold: 256,
        }
    }
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnsweredBy {
    /// A person: a short greeting, then silence.
    Human,
    /// A machine: a long greeting, many words or one endless sound.
    Machine,
    /// Nothing to go by: silence, or no rule decided in time.
    Unknown,
}

impl AnsweredBy {
    /// `human`, `machine` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnsweredBy::Human => "human",
            AnsweredBy::Machine => "machine",
            AnsweredBy::Unknown => "unknown",
        }
    }
}

/// What [`Detector`] decided, why, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Who answered.
    pub answered_by: AnsweredBy,
    /// The rule that decided: `human_then_silence`, `long_greeting`, `max_words`,
    /// `max_word_length`, `initial_silence` or `analysis_timeout` (see [`AmdConfig`]).
    pub reason: &'static str,
    /// Samples fed when it was decided (8 a millisecond): the end of the deciding frame.
    pub at: u64,
}

/// Decides whether a person or a machine answered, from the first seconds of received audio.
///
/// The rules are Asterisk's `app_amd`, checked at every 20 ms frame in this order:
/// - a voiced frame: a run of voice of [`min_word_length`](AmdConfig::min_word_length) after
///   silence is a new word, and the first word begins the greeting; then one word of
///   [`maximum_word_length`](AmdConfig::maximum_word_length) is a **machine**
///   (`max_word_length`), more than [`maximum_number_of_words`](AmdConfig::maximum_number_of_words)
///   words a **machine** (`max_words`), and [`greeting`](AmdConfig::greeting) of voice in all,
///   once the greeting has begun, a **machine** (`long_greeting`);
/// - a silent frame: [`between_words_silence`](AmdConfig::between_words_silence) ends a word;
///   [`initial_silence`](AmdConfig::initial_silence) before any greeting is **unknown**
///   (`initial_silence`); [`after_greeting_silence`](AmdConfig::after_greeting_silence) after
///   a greeting has begun is a **human** (`human_then_silence`);
/// - either: [`total_analysis_time`](AmdConfig::total_analysis_time) fed without a verdict is
///   **unknown** (`analysis_timeout`).
///
/// Two choices differ from Asterisk. A long initial silence is `Unknown`, where Asterisk says
/// `MACHINE`: a machine that does not speak within 2.5 s is rare, while people who answer
/// unknown numbers and wait for the caller to speak first are common, and taking one of them
/// for a machine (leaving a recorded message, or hanging up: an abandoned call) costs more than
/// letting the dialer's policy choose (Twilio answers `unknown` here too). And words are counted
/// as Asterisk's documentation says, a machine when the maximum is *exceeded*, where its code
/// decides at the maximum-th word, which took "Hello, who's calling?" for a machine.
#[derive(Debug, Clone)]
pub struct Detector {
    framer: Framer,
    rules: Rules,
    decided: bool,
}

impl Detector {
    /// A detector at the moment of answer: the first sample pushed is the first heard.
    pub fn new(config: AmdConfig) -> Detector {
        Detector {
            framer: Framer::default(),
            rules: Rules::new(&config),
            decided: false,
        }
    }

    /// Feeds received 8 kHz mono samples, in chunks of any size. Returns the verdict once, at
    /// the frame that decides it; before and after that, `None` (samples after the verdict are
    /// ignored).
    pub fn push(&mut self, samples: &[i16]) -> Option<Verdict> {
        if self.decided {
            return None;
        }
        let verdict = self.framer.feed(samples, |frame| self.rules.frame(frame));
        self.decided = verdict.is_some();
        verdict
    }
}

/// [`AmdConfig`] in samples, and the state of its rules.
#[derive(Debug, Clone)]
struct Rules {
    initial_silence: u64,
    greeting: u64,
    after_greeting_silence: u64,
    total_analysis_time: u64,
    min_word_length: u64,
    between_words_silence: u64,
    maximum_number_of_words: u32,
    maximum_word_length: u64,
    silence_threshold: u16,
    /// Samples judged so far.
    elapsed: u64,
    /// Voice heard in all.
    voice: u64,
    /// The current run of voice (a word so far); a pause shorter than `between_words_silence`
    /// does not end it.
    voice_run: u64,
    /// The current run of silence.
    silence_run: u64,
    words: u32,
    in_word: bool,
    in_greeting: bool,
}

impl Rules {
    fn new(config: &AmdConfig) -> Rules {
        Rules {
            initial_silence: samples_in(config.initial_silence),
            greeting: samples_in(config.greeting),
            after_greeting_silence: samples_in(config.after_greeting_silence),
            total_analysis_time: samples_in(config.total_analysis_time),
            min_word_length: samples_in(config.min_word_length),
            between_words_silence: samples_in(config.between_words_silence),
            maximum_number_of_words: config.maximum_number_of_words,
            maximum_word_length: samples_in(config.maximum_word_length),
            silence_threshold: config.silence_threshold,
            elapsed: 0,
            voice: 0,
            voice_run: 0,
            silence_run: 0,
            words: 0,
            in_word: false,
            in_greeting: false,
        }
    }

    fn frame(&mut self, frame: &[i16; FRAME]) -> Option<Verdict> {
        self.elapsed += FRAME_SAMPLES;
        let decided = if is_silent(frame, self.silence_threshold) {
            self.silent_frame()
        } else {
            self.voiced_frame()
        };
        let decided = decided.or_else(|| {
            (self.elapsed >= self.total_analysis_time)
                .then_some((AnsweredBy::Unknown, "analysis_timeout"))
        });
        decided.map(|(answered_by, reason)| Verdict {
            answered_by,
            reason,
            at: self.elapsed,
        })
    }

    fn silent_frame(&mut self) -> Option<(AnsweredBy, &'static str)> {
        self.silence_run += FRAME_SAMPLES;
        if self.silence_run >= self.between_words_silence {
            self.in_word = false;
            self.voice_run = 0;
        }
        if !self.in_greeting && self.silence_run >= self.initial_silence {
            return Some((AnsweredBy::Unknown, "initial_silence"));
        }
        if self.in_greeting && self.silence_run >= self.after_greeting_silence {
            return Some((AnsweredBy::Human, "human_then_silence"));
        }
        None
    }

    fn voiced_frame(&mut self) -> Option<(AnsweredBy, &'static str)> {
        self.silence_run = 0;
        self.voice_run += FRAME_SAMPLES;
        self.voice += FRAME_SAMPLES;
        if !self.in_word && self.voice_run >= self.min_word_length {
            self.in_word = true;
            self.words += 1;
        }
        if self.voice_run >= self.maximum_word_length {
            return Some((AnsweredBy::Machine, "max_word_length"));
        }
        if self.words > self.maximum_number_of_words {
            return Some((AnsweredBy::Machine, "max_words"));
        }
        if self.in_greeting && self.voice >= self.greeting {
            return Some((AnsweredBy::Machine, "long_greeting"));
        }
        if !self.in_greeting && self.words > 0 {
            self.in_greeting = true;
        }
        None
    }
}

/// The limits of [`BeepDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct BeepConfig {
    /// The lowest frequency of a beep. Default 400 Hz.
    pub min_frequency_hz: f64,
    /// The highest frequency of a beep. Default 2,100 Hz (voicemail beeps are 440 Hz to
    /// 2 kHz; speech has no sustained pure tone).
    pub max_frequency_hz: f64,
    /// The share of a frame's energy at its strongest frequency for it to be part of a beep
    /// (see [`energy_ratio`](super::tone::energy_ratio)). Default 0.8; a pure tone gives about
    /// 0.97 or more, voiced speech well under it.
    pub min_tone_ratio: f64,
    /// How long the tone must last, in whole 20 ms frames: with the default 120 ms, a beep of
    /// at least 140 ms is always caught. Default 120 ms.
    pub min_beep: Duration,
    /// How long the sound must stay at least 10 dB under the beep after it ends. Default 100 ms.
    pub quiet_after: Duration,
    /// With no beep by then, the end of the greeting is heard as silence instead
    /// (`silence_after_speech`). Default 15 s.
    pub max_wait: Duration,
    /// The silence that, after `max_wait`, ends the greeting. Default 1.5 s.
    pub silence_after_speech: Duration,
    /// With neither by then, give up ([`Cue::Timeout`]). Default 30 s.
    pub give_up: Duration,
    /// As [`AmdConfig::silence_threshold`]. Default 256.
    pub silence_threshold: u16,
}

impl Default for BeepConfig {
    fn default() -> Self {
        BeepConfig {
            min_frequency_hz: 400.0,
            max_frequency_hz: 2100.0,
            min_tone_ratio: 0.8,
            min_beep: Duration::from_millis(120),
            quiet_after: Duration::from_millis(100),
            max_wait: Duration::from_secs(15),
            silence_after_speech: Duration::from_millis(1500),
            give_up: Duration::from_secs(30),
            silence_threshold: 256,
        }
    }
}

/// When to start speaking a message to a machine, and why then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// The beep ended `at` samples after the detector began (within a 20 ms frame).
    Beep {
        /// The sample offset where the beep ended.
        at: u64,
    },
    /// No beep by [`BeepConfig::max_wait`]; the greeting ended in
    /// [`BeepConfig::silence_after_speech`] of silence, which had lasted that long `at` samples
    /// after the detector began.
    SilenceAfterSpeech {
        /// The sample offset where the silence had lasted long enough.
        at: u64,
    },
    /// Neither a beep nor that silence by [`BeepConfig::give_up`], `at` samples in.
    Timeout {
        /// The sample offset of the give-up.
        at: u64,
    },
}

impl Cue {
    /// The sample offset of the cue, counted from the first sample fed to the detector.
    pub fn at(self) -> u64 {
        match self {
            Cue::Beep { at } | Cue::SilenceAfterSpeech { at } | Cue::Timeout { at } => at,
        }
    }

    /// `beep`, `silence_after_speech` or `timeout`.
    pub fn reason(self) -> &'static str {
        match self {
            Cue::Beep { .. } => "beep",
            Cue::SilenceAfterSpeech { .. } => "silence_after_speech",
            Cue::Timeout { .. } => "timeout",
        }
    }
}

/// Finds the end of a voicemail greeting: the moment its beep ends, after which the machine
/// records.
///
/// A beep is a run of frames each with one dominant frequency between
/// [`min_frequency_hz`](BeepConfig::min_frequency_hz) and
/// [`max_frequency_hz`](BeepConfig::max_frequency_hz) (searched every 10 Hz with the Goertzel
/// algorithm) holding at least [`min_tone_ratio`](BeepConfig::min_tone_ratio) of the frame's
/// energy, staying within 50 Hz of where it began, for at least
/// [`min_beep`](BeepConfig::min_beep); then, after one frame of transition,
/// [`quiet_after`](BeepConfig::quiet_after) whose mean energy is at least 10 dB under the
/// beep's. Its end is reported as [`Cue::Beep`] once that quiet has been heard, so about
/// `quiet_after` after it. A tone followed by more sound (music, a chord) is not a beep.
///
/// Not every machine beeps, and some beeps are missed, so after
/// [`max_wait`](BeepConfig::max_wait) the first [`silence_after_speech`](BeepConfig::silence_after_speech)
/// of silence (possibly begun before) is taken as the end ([`Cue::SilenceAfterSpeech`]): the
/// message is left a little late rather than never. At [`give_up`](BeepConfig::give_up) it
/// answers [`Cue::Timeout`], and the dialer decides (speak anyway, or hang up).
///
/// Create it when [`Detector`] says `Machine` and feed it the audio that follows; its offsets
/// count from the first sample fed to it.
#[derive(Debug, Clone)]
pub struct BeepDetector {
    framer: Framer,
    beeps: Beeps,
    decided: bool,
}

impl BeepDetector {
    /// A detector whose time 0 is the first sample pushed.
    pub fn new(config: BeepConfig) -> BeepDetector {
        BeepDetector {
            framer: Framer::default(),
            beeps: Beeps::new(&config),
            decided: false,
        }
    }

    /// Feeds received 8 kHz mono samples, in chunks of any size. Returns the cue once; before
    /// and after that, `None`.
    pub fn push(&mut self, samples: &[i16]) -> Option<Cue> {
        if self.decided {
            return None;
        }
        let cue = self.framer.feed(samples, |frame| self.beeps.frame(frame));
        self.decided = cue.is_some();
        cue
    }
}

/// How far the dominant frequency of a beep's frames may wander from its first frame's.
const BEEP_DRIFT_HZ: f64 = 50.0;
/// The spacing of the frequencies searched for a beep.
const BEEP_STEP_HZ: f64 = 10.0;
/// How much weaker than the beep the quiet after it must be: 10 dB.
const QUIET_BELOW_BEEP: f64 = 0.1;

/// [`BeepConfig`] in samples, and where the search is.
#[derive(Debug, Clone)]
struct Beeps {
    frequencies: Vec<f64>,
    min_tone_ratio: f64,
    min_beep: u64,
    quiet_after: u64,
    max_wait: u64,
    silence_after_speech: u64,
    give_up: u64,
    silence_threshold: u16,
    elapsed: u64,
    silence_run: u64,
    state: BeepState,
}

#[derive(Debug, Clone, Copy)]
enum BeepState {
    /// No tone under way.
    Listening,
    /// A tone began at `start`, at `frequency`; `energy` sums its frames' mean squares.
    Tone {
        start: u64,
        frequency: f64,
        frames: u64,
        energy: f64,
    },
    /// A long enough tone ended at `end` (its first frame without the tone); the frames after
    /// that one are being heard (`frames`, their mean squares summed in `energy`).
    After {
        end: u64,
        beep_energy: f64,
        frames: u64,
        energy: f64,
    },
}

/// What one frame is.
struct Heard {
    silent: bool,
    /// The dominant frequency, when the frame is a tone.
    tone: Option<f64>,
    mean_square: f64,
}

impl Beeps {
    fn new(config: &BeepConfig) -> Beeps {
        let span = (config.max_frequency_hz - config.min_frequency_hz) / BEEP_STEP_HZ;
        // No frequencies (no beep is ever found) when the range is empty or not a number; no
        // more than 4 kHz (the highest an 8 kHz signal holds) of them.
        let steps = if span >= 0.0 {
            (span.floor() as u32).min(400)
        } else {
            0
        };
        let frequencies = (0..=steps)
            .map(|step| config.min_frequency_hz + f64::from(step) * BEEP_STEP_HZ)
            .filter(|&frequency| frequency <= config.max_frequency_hz)
            .collect();
        Beeps {
            frequencies,
            min_tone_ratio: config.min_tone_ratio,
            min_beep: samples_in(config.min_beep),
            quiet_after: samples_in(config.quiet_after),
            max_wait: samples_in(config.max_wait),
            silence_after_speech: samples_in(config.silence_after_speech),
            give_up: samples_in(config.give_up),
            silence_threshold: config.silence_threshold,
            elapsed: 0,
            silence_run: 0,
            state: BeepState::Listening,
        }
    }

    fn hear(&self, frame: &[i16; FRAME]) -> Heard {
        let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        let mean_square = energy / FRAME as f64;
        if is_silent(frame, self.silence_threshold) {
            return Heard {
                silent: true,
                tone: None,
                mean_square,
            };
        }
        // `energy_ratio` for each frequency, with the energy computed once.
        let ideal = FRAME as f64 * energy / 2.0;
        let (frequency, power) = self
            .frequencies
            .iter()
            .map(|&f| (f, goertzel_power(frame, f)))
            .fold(
                (0.0, 0.0),
                |best, next| if next.1 > best.1 { next } else { best },
            );
        let tone = (power / ideal >= self.min_tone_ratio).then_some(frequency);
        Heard {
            silent: false,
            tone,
            mean_square,
        }
    }

    fn frame(&mut self, frame: &[i16; FRAME]) -> Option<Cue> {
        let heard = self.hear(frame);
        let start = self.elapsed;
        self.elapsed += FRAME_SAMPLES;
        self.silence_run = if heard.silent {
            self.silence_run + FRAME_SAMPLES
        } else {
            0
        };
        if let Some(end) = self.follow_beep(&heard, start) {
            return Some(Cue::Beep { at: end });
        }
        if self.elapsed >= self.max_wait && self.silence_run >= self.silence_after_speech {
            return Some(Cue::SilenceAfterSpeech { at: self.elapsed });
        }
        if self.elapsed >= self.give_up {
            return Some(Cue::Timeout { at: self.elapsed });
        }
        None
    }

    /// Moves the search on by the frame that began at `start`; the end of a beep once its
    /// quiet has been heard.
    fn follow_beep(&mut self, heard: &Heard, start: u64) -> Option<u64> {
        let begin = |frequency| BeepState::Tone {
            start,
            frequency,
            frames: 1,
            energy: heard.mean_square,
        };
        let fresh = heard.tone.map_or(BeepState::Listening, begin);
        match self.state {
            BeepState::Listening => self.state = fresh,
            BeepState::Tone {
                start: began,
                frequency,
                frames,
                energy,
            } => match heard.tone {
                Some(f) if (f - frequency).abs() <= BEEP_DRIFT_HZ => {
                    let (frames, energy) = (frames + 1, energy + heard.mean_square);
                    self.state = BeepState::Tone {
                        start: began,
                        frequency,
                        frames,
                        energy,
                    };
                }
                _ if frames * FRAME_SAMPLES >= self.min_beep => {
                    // This frame may still hold the beep's last milliseconds: the quiet is
                    // heard from the next one.
                    self.state = BeepState::After {
                        end: start,
                        beep_energy: energy / frames as f64,
                        frames: 0,
                        energy: 0.0,
                    };
                }
                _ => self.state = fresh,
            },
            BeepState::After {
                end,
                beep_energy,
                frames,
                energy,
            } => {
                let (frames, energy) = (frames + 1, energy + heard.mean_square);
                if heard.tone.is_some() {
                    // Another tone: that one may be the beep.
                    self.state = fresh;
                } else if frames * FRAME_SAMPLES < self.quiet_after {
                    self.state = BeepState::After {
                        end,
                        beep_energy,
                        frames,
                        energy,
                    };
                } else if energy / (frames as f64) < beep_energy * QUIET_BELOW_BEEP {
                    return Some(end);
                } else {
                    self.state = BeepState::Listening;
                }
            }
        }
        None
    }
}

/// Cuts chunks of any size into whole frames.
#[derive(Debug, Clone)]
struct Framer {
    frame: [i16; FRAME],
    len: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            frame: [0; FRAME],
            len: 0,
        }
    }
}

impl Framer {
    /// Calls `on_frame` with each frame `samples` completes, until it returns something.
    fn feed<T>(
        &mut self,
        mut samples: &[i16],
        mut on_frame: impl FnMut(&[i16; FRAME]) -> Option<T>,
    ) -> Option<T> {
        while !samples.is_empty() {
            let take = (FRAME - self.len).min(samples.len());
            self.frame[self.len..self.len + take].copy_from_slice(&samples[..take]);
            self.len += take;
            samples = &samples[take..];
            if self.len == FRAME {
                self.len = 0;
                if let Some(found) = on_frame(&self.frame) {
                    return Some(found);
                }
            }
        }
        None
    }
}

/// Whether a frame's mean absolute amplitude is under `threshold`.
fn is_silent(frame: &[i16; FRAME], threshold: u16) -> bool {
    let sum: u64 = frame.iter().map(|&s| u64::from(s.unsigned_abs())).sum();
    sum < u64::from(threshold) * FRAME_SAMPLES
}

/// The number of 8 kHz samples in `duration`, rounded down.
fn samples_in(duration: Duration) -> u64 {
    let samples = duration.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000;
    u64::try_from(samples).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::tests::{noise, sine};

    /// `ms` milliseconds of samples.
    fn len(ms: u64) -> usize {
        (ms * 8) as usize
    }

    fn silence(ms: u64) -> Vec<i16> {
        vec![0; len(ms)]
    }

    /// A "word": loud noise, as far from a tone as sound gets.
    fn word(ms: u64) -> Vec<i16> {
        noise(8000.0, len(ms), ms)
    }

    fn tone(frequency: f64, ms: u64) -> Vec<i16> {
        sine(frequency, 8000.0, len(ms))
    }

    fn join(parts: &[Vec<i16>]) -> Vec<i16> {
        parts.concat()
    }

    fn detect(config: AmdConfig, samples: &[i16]) -> Option<Verdict> {
        let mut detector = Detector::new(config);
        samples.chunks(160).find_map(|chunk| detector.push(chunk))
    }

    fn verdict(answered_by: AnsweredBy, reason: &'static str, at_ms: u64) -> Option<Verdict> {
        Some(Verdict {
            answered_by,
            reason,
            at: at_ms * 8,
        })
    }

    #[test]
    fn a_short_greeting_then_silence_is_a_human() {
        let call = join(&[silence(300), word(400), silence(2000)]);
        let found = detect(AmdConfig::default(), &call);
        // The greeting ends at 700 ms; 800 ms of silence later, a person waits for an answer.
        assert_eq!(
            found,
            verdict(AnsweredBy::Human, "human_then_silence", 1500)
        );
    }

    #[test]
    fn a_greeting_of_more_than_one_and_a_half_seconds_is_a_machine() {
        let call = join(&[silence(200), word(3000)]);
        let found = detect(AmdConfig::default(), &call);
        assert_eq!(found, verdict(AnsweredBy::Machine, "long_greeting", 1700));
    }

    #[test]
    fn a_fourth_word_is_a_machine() {
        let word_and_pause = join(&[word(140), silence(100)]);
        let call = join(&[silence(200), word_and_pause.repeat(5), silence(1000)]);
        let found = detect(AmdConfig::default(), &call);
        // The fourth word begins at 200 + 3 * 240 ms and is one 100 ms later.
        assert_eq!(found, verdict(AnsweredBy::Machine, "max_words", 1020));
    }

    #[test]
    fn a_pause_shorter_than_between_words_silence_does_not_end_a_word() {
        let one_word = AmdConfig {
            maximum_number_of_words: 1,
            ..AmdConfig::default()
        };
        let joined = join(&[word(300), silence(40), word(300), silence(1000)]);
        let found = detect(one_word.clone(), &joined);
        assert_eq!(found.map(|v| v.reason), Some("human_then_silence"));

        let apart = join(&[word(300), silence(100), word(300), silence(1000)]);
        let found = detect(one_word, &apart);
        assert_eq!(found, verdict(AnsweredBy::Machine, "max_words", 500));
    }

    #[test]
    fn silence_from_the_answer_is_unknown() {
        let found = detect(AmdConfig::default(), &silence(6000));
        assert_eq!(found, verdict(AnsweredBy::Unknown, "initial_silence", 2500));
    }

    #[test]
    fn clicks_shorter_than_a_word_are_no_greeting_and_time_runs_out() {
        let click_and_pause = join(&[word(60), silence(600)]);
        let call = click_and_pause.repeat(10);
        let found = detect(AmdConfig::default(), &call);
        assert_eq!(
            found,
            verdict(AnsweredBy::Unknown, "analysis_timeout", 5000)
        );
    }

    #[test]
    fn one_endless_sound_is_a_machine() {
        let patient = AmdConfig {
            greeting: Duration::from_secs(20),
            total_analysis_time: Duration::from_secs(20),
            ..AmdConfig::default()
        };
        let found = detect(patient, &word(8000));
        assert_eq!(found, verdict(AnsweredBy::Machine, "max_word_length", 5000));
    }

    #[test]
    fn quiet_background_noise_is_silence() {
        // Mean absolute amplitude about 100, under the threshold of 256.
        let hiss = noise(200.0, len(4000), 3);
        let found = detect(AmdConfig::default(), &hiss);
        assert_eq!(found, verdict(AnsweredBy::Unknown, "initial_silence", 2500));
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_the_audio_is_cut() {
        let call = join(&[silence(333), word(417), silence(1500)]);
        let whole = detect(AmdConfig::default(), &call);
        assert!(whole.is_some());
        for size in [1, 37, 159, 161, 1000, call.len()] {
            let mut detector = Detector::new(AmdConfig::default());
            let found = call.chunks(size).find_map(|chunk| detector.push(chunk));
            assert_eq!(found, whole, "chunks of {size}");
        }
    }

    #[test]
    fn the_verdict_is_given_once() {
        let mut detector = Detector::new(AmdConfig::default());
        assert!(detector.push(&silence(3000)).is_some());
        assert_eq!(detector.push(&silence(3000)), None);
        assert_eq!(detector.push(&word(3000)), None);
    }

    fn beep(config: BeepConfig, samples: &[i16], chunk: usize) -> Option<Cue> {
        let mut detector = BeepDetector::new(config);
        samples.chunks(chunk).find_map(|chunk| detector.push(chunk))
    }

    /// Asserts a beep cue within a frame of `end` samples.
    fn assert_beep_near(found: Option<Cue>, end: usize) {
        let Some(Cue::Beep { at }) = found else {
            panic!("no beep: {found:?}")
        };
        let error = at.abs_diff(end as u64);
        assert!(error <= FRAME_SAMPLES, "beep end at {at}, really {end}");
    }

    #[test]
    fn a_beep_after_a_greeting_ends_where_the_tone_ends() {
        for (frequency, lead) in [(1000.0, 1000), (440.0, 1003), (1400.0, 1111), (2000.0, 997)] {
            let greeting = noise(8000.0, len(lead), 11);
            let call = join(&[greeting, tone(frequency, 500), silence(1000)]);
            let end = len(lead) + len(500);
            for chunk in [1, 160, 333] {
                assert_beep_near(beep(BeepConfig::default(), &call, chunk), end);
            }
        }
    }

    #[test]
    fn a_beep_over_a_quiet_line_is_found() {
        let hiss = |ms| noise(150.0, len(ms), ms);
        let mut call = join(&[word(800), hiss(300), tone(1000.0, 250), hiss(1000)]);
        let under = noise(150.0, call.len(), 99);
        for (sample, hiss) in call.iter_mut().zip(under) {
            *sample = sample.saturating_add(hiss);
        }
        assert_beep_near(beep(BeepConfig::default(), &call, 160), len(1350));
    }

    #[test]
    fn of_two_beeps_the_second_ends_the_greeting() {
        let call = join(&[
            word(500),
            tone(1000.0, 200),
            silence(60),
            tone(1000.0, 200),
            silence(500),
        ]);
        assert_beep_near(beep(BeepConfig::default(), &call, 160), len(960));
    }

    #[test]
    fn what_is_not_a_beep_is_not_reported() {
        let not_beeps = [
            (
                "too short",
                join(&[word(500), tone(1000.0, 80), silence(2000)]),
            ),
            (
                "too low",
                join(&[word(500), tone(300.0, 500), silence(2000)]),
            ),
            (
                "too high",
                join(&[word(500), tone(3000.0, 500), silence(2000)]),
            ),
            (
                "followed by sound",
                join(&[word(500), tone(1000.0, 500), word(2000)]),
            ),
            ("a chord", {
                let chord: Vec<i16> = (tone(600.0, 500).iter().zip(tone(900.0, 500)))
                    .map(|(a, b)| a / 2 + b / 2)
                    .collect();
                join(&[word(500), chord, silence(2000)])
            }),
            ("a gliding whistle", {
                let glide = (0..len(600))
                    .map(|n| {
                        let t = n as f64 / 8000.0;
                        // From 500 Hz up by 2 kHz a second: 40 Hz every 20 ms frame.
                        let phase = 2.0 * std::f64::consts::PI * (500.0 * t + 1000.0 * t * t);
                        (8000.0 * phase.sin()) as i16
                    })
                    .collect();
                join(&[word(500), glide, silence(2000)])
            }),
        ];
        for (what, call) in not_beeps {
            assert_eq!(beep(BeepConfig::default(), &call, 160), None, "{what}");
        }
    }

    #[test]
    fn with_no_beep_the_first_long_silence_after_max_wait_ends_the_greeting() {
        let config = BeepConfig::default();
        // Speech until 16 s, with short pauses; silence from then on.
        let speech = join(&[word(1900), silence(600)]).repeat(6);
        let call = join(&[speech, word(1000), silence(5000)]);
        let found = beep(config, &call, 160);
        assert_eq!(
            found,
            Some(Cue::SilenceAfterSpeech {
                at: len(16_000 + 1500) as u64
            })
        );
        assert_eq!(found.map(Cue::reason), Some("silence_after_speech"));
    }

    #[test]
    fn a_silence_begun_before_max_wait_counts_at_max_wait() {
        let call = join(&[word(3000), silence(20_000)]);
        let found = beep(BeepConfig::default(), &call, 160);
        assert_eq!(
            found,
            Some(Cue::SilenceAfterSpeech {
                at: len(15_000) as u64
            })
        );
    }

    #[test]
    fn with_neither_a_beep_nor_silence_it_gives_up() {
        let music = word(40_000);
        let found = beep(BeepConfig::default(), &music, 160);
        assert_eq!(
            found,
            Some(Cue::Timeout {
                at: len(30_000) as u64
            })
        );
        assert_eq!(found.map(Cue::reason), Some("timeout"));
        assert_eq!(found.map(Cue::at), Some(len(30_000) as u64));
    }

    #[test]
    fn the_cue_is_given_once() {
        let mut detector = BeepDetector::new(BeepConfig::default());
        let call = join(&[tone(1000.0, 300), silence(300)]);
        assert!(matches!(detector.push(&call), Some(Cue::Beep { .. })));
        assert_eq!(detector.push(&call), None);
    }
}
