//! Audio an account uploads to be played into calls (a voicemail message left after the beep).
//!
//! What is kept is the audio converted to 8 kHz mono 16-bit PCM (`media::wav`), the form every
//! call plays; the upload itself is not kept. A playbook names the message its calls leave
//! (`Playbook::voicemail_audio_id`).

use jiff::Timestamp;

use super::{AccountId, ErrorCode, FieldError, ids::AudioId};

/// Longest name, in characters.
pub const MAX_NAME: usize = 200;

/// The name of audio uploaded without one.
pub const DEFAULT_NAME: &str = "Untitled audio";

/// The samples a second of stored audio holds (8 kHz).
const SAMPLES_PER_SECOND: u64 = 8_000;

/// One stored piece of audio, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    pub id: AudioId,
    pub account_id: AccountId,
    pub name: String,
    /// Its length, in milliseconds (rounded down).
    pub duration_ms: u64,
    pub created_at: Timestamp,
}

impl Audio {
    /// The length of `samples` samples of 8 kHz audio, in whole milliseconds.
    pub fn duration_ms_of(samples: usize) -> u64 {
        samples as u64 * 1000 / SAMPLES_PER_SECOND
    }

    /// A name as given (`?name=`): trimmed, 1 to [`MAX_NAME`] characters; none given is
    /// [`DEFAULT_NAME`].
    pub fn parse_name(raw: Option<&str>, field: &str) -> Result<String, FieldError> {
        let Some(raw) = raw else {
            return Ok(DEFAULT_NAME.to_owned());
        };
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.contains('\0') {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!("must be 1 to {MAX_NAME} characters"),
            ));
        }
        Ok(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_milliseconds_of_8_khz() {
        assert_eq!(Audio::duration_ms_of(8000), 1000);
        assert_eq!(Audio::duration_ms_of(12_345), 1543);
        assert_eq!(Audio::duration_ms_of(0), 0);
    }

    #[test]
    fn names_are_trimmed_and_bounded_and_default_when_missing() {
        assert_eq!(Audio::parse_name(None, "name").unwrap(), DEFAULT_NAME);
        assert_eq!(
            Audio::parse_name(Some("  Sorry we missed you "), "name").unwrap(),
            "Sorry we missed you"
        );
        for bad in ["", "   ", &"x".repeat(MAX_NAME + 1), "a\0b"] {
            let err = Audio::parse_name(Some(bad), "name").unwrap_err();
            assert_eq!(err.field, "name");
        }
    }
}
