//! Wrap-up codes ("dispositions"): an account's own names for how a call ended. Each maps to
//! one native [`Outcome`], its class, which recall policies, the callback's final state and
//! report rates read; a `final` one ends the callback whatever its recall policy says, a
//! recallable one leaves the policy to decide by its class.

use jiff::Timestamp;

use super::{AccountId, ErrorCode, FieldError, Outcome};

/// Longest code, in characters.
pub const MAX_CODE: usize = 64;
/// Longest label, in characters.
pub const MAX_LABEL: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct Disposition {
    pub account_id: AccountId,
    /// The key calls are completed with: 1 to 64 of `A-Z a-z 0-9 _ - .`.
    pub code: String,
    pub label: String,
    pub outcome_class: Outcome,
    /// Ends the callback: no recall follows, whatever its policy.
    pub is_final: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Disposition {
    /// Whether a recall policy may follow a call completed with it.
    pub fn allows_recall(&self) -> bool {
        !self.is_final
    }
}

/// A code as given: trimmed, 1 to 64 letters, digits, `_`, `-` or `.`.
pub fn parse_code(raw: &str, field: &str) -> Result<String, FieldError> {
    let code = raw.trim();
    let ok = !code.is_empty()
        && code.chars().count() <= MAX_CODE
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(code.to_owned())
    } else {
        Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be 1 to {MAX_CODE} letters, digits, `_`, `-` or `.` (such as SALE_MADE)"),
        ))
    }
}

/// A label: trimmed, 1 to 200 characters.
pub fn parse_label(raw: &str, field: &str) -> Result<String, FieldError> {
    let label = raw.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be 1 to {MAX_LABEL} characters"),
        ));
    }
    Ok(label.to_owned())
}

/// The outcomes a call can be completed with, as a disposition's class: every native outcome
/// but `skipped_dnc` (a call never dialled).
const CLASSES: [Outcome; 7] = [
    Outcome::Answered,
    Outcome::NoAnswer,
    Outcome::Busy,
    Outcome::Voicemail,
    Outcome::Failed,
    Outcome::InvalidNumber,
    Outcome::VoicemailLeft,
];

/// An outcome class by its name.
pub fn parse_outcome_class(raw: &str, field: &str) -> Result<Outcome, FieldError> {
    CLASSES
        .into_iter()
        .find(|o| o.as_str() == raw.trim())
        .ok_or_else(|| {
            FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!(
                    "{raw:?} is not an outcome; use one of {}",
                    CLASSES.map(Outcome::as_str).join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_labels_and_classes_are_checked() {
        assert_eq!(
            parse_code(" SALE_made-1.x ", "code").unwrap(),
            "SALE_made-1.x"
        );
        for bad in ["", "  ", "with space", "é", &"x".repeat(65)] {
            assert_eq!(
                parse_code(bad, "code").unwrap_err().field,
                "code",
                "{bad:?}"
            );
        }
        assert!(parse_label("Sale made", "label").is_ok());
        assert!(parse_label(" ", "label").is_err());
        assert_eq!(parse_outcome_class("busy", "c").unwrap(), Outcome::Busy);
        for bad in ["skipped_dnc", "BUSY", "sale"] {
            assert!(parse_outcome_class(bad, "c").is_err(), "{bad}");
        }
    }
}
