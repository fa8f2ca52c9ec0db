//! Erasure of a data subject (a phone number and the person behind it), as rules with no I/O:
//! what an erased number is replaced by, what counts as mentioning the person, and the counts
//! an erasure answers with. The store applies them (`store::sql::subjects`).
//!
//! Two forms replace the number. A row that must keep matching the number after the erasure
//! (a do-not-call entry, a revoked consent) holds [`erased_key`], the whole salted hash of the
//! number in its account (`audit_chain::subject_hash`), so a later check of the same number
//! computes the same key. A row that only has to stop naming it (a callback, its snapshots)
//! holds [`masked_phone`], a prefix of that hash that is no lookup key.

use serde::Serialize;

use super::PhoneNumber;

/// What marks a value as erased.
pub const ERASED: &str = "erased";

/// How many characters of the subject hash a masked row keeps: enough to tell two erased
/// callbacks of one number apart from another's, too few to serve as a key.
const MASK_PREFIX: usize = 12;

/// The key of a do-not-call entry or consent of an erased number: `erased:` and the number's
/// whole subject hash in its account.
pub fn erased_key(subject: &str) -> String {
    format!("{ERASED}:{subject}")
}

/// What a callback's phone becomes: `erased:` and a prefix of the subject hash.
pub fn masked_phone(subject: &str) -> String {
    let end = subject.len().min(MASK_PREFIX);
    format!("{ERASED}:{}", &subject[..end])
}

/// The strings whose presence in a stored text means it is about the erased person: the
/// number in E.164 and its national digits, and the names, notes and other free texts of the
/// erased rows (each at least 3 characters, so that a stray letter matches nothing).
#[derive(Debug, Clone, Default)]
pub struct Needles {
    /// The number's forms: E.164 and the national digits.
    number: Vec<String>,
    /// The person's texts (names, notes, metadata values, contact fields).
    texts: Vec<String>,
}

impl Needles {
    pub fn of(phone: &PhoneNumber) -> Self {
        let mut number = vec![phone.as_str().to_owned()];
        if let Some(national) = phone.national_digits() {
            number.push(national);
        }
        Self {
            number,
            texts: Vec::new(),
        }
    }

    /// The number's forms, for a search in the database (`LIKE '%digits%'`): the national
    /// digits are in every E.164 form, so they alone find both.
    pub fn number_forms(&self) -> &[String] {
        &self.number
    }

    /// Adds a text of the person (a name, a note ...), unless shorter than 3 characters.
    pub fn add_text(&mut self, text: &str) {
        let text = text.trim();
        if text.chars().count() < 3 {
            return;
        }
        self.texts.push(text.to_owned());
    }

    /// Adds every string (and number) inside a JSON value (metadata, custom fields).
    pub fn add_json(&mut self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.add_text(s),
            serde_json::Value::Number(n) => self.add_text(&n.to_string()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.add_json(v)),
            serde_json::Value::Object(map) => map.values().for_each(|v| self.add_json(v)),
            _ => {}
        }
    }

    /// Whether `text` holds the number in any of its forms.
    pub fn names_number(&self, text: &str) -> bool {
        self.number.iter().any(|n| text.contains(n.as_str()))
    }

    /// Whether `text` holds the number or any text of the person.
    pub fn mentioned_in(&self, text: &str) -> bool {
        self.names_number(text) || self.texts.iter().any(|t| text.contains(t.as_str()))
    }
}

/// What one erasure did, kind by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErasureCounts {
    /// Contacts deleted.
    pub contacts: u64,
    /// Callbacks masked (they keep their ids, statuses, times and attempts).
    pub callbacks: u64,
    /// Of those, the ones canceled because they were still to be called.
    pub callbacks_canceled: u64,
    /// Attempts (calls) whose notes, provider details and recording were removed.
    pub attempts: u64,
    /// Events whose stored payload was replaced.
    pub events: u64,
    /// Agents' feed entries whose payload was replaced.
    pub feed_entries: u64,
    /// Webhook deliveries not yet sent, deleted.
    pub webhook_deliveries: u64,
    /// Customer messages not yet sent, deleted.
    pub messages: u64,
    /// Consents now keyed by the number's hash.
    pub consents: u64,
    /// Do-not-call entries now keyed by the number's hash.
    pub dnc_entries: u64,
    /// Remembered answers (`Idempotency-Key`) that showed the number, deleted.
    pub idempotency_responses: u64,
    /// Audit entries whose content was redacted.
    pub audit_entries: u64,
    /// Recording files deleted.
    pub recordings: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_a_prefix_and_keys_the_whole_hash() {
        let hash = "0123456789abcdef0123456789abcdef";
        assert_eq!(masked_phone(hash), "erased:0123456789ab");
        assert_eq!(erased_key(hash), format!("erased:{hash}"));
    }

    #[test]
    fn the_number_is_found_in_either_form_and_short_texts_are_ignored() {
        let phone = PhoneNumber::parse("+14155550199", "phone").unwrap();
        let mut needles = Needles::of(&phone);
        assert!(needles.names_number("call 4155550199 later"));
        assert!(needles.names_number(r#"{"phone":"+14155550199"}"#));
        assert!(!needles.names_number("+14155550198"));
        needles.add_text("Al");
        needles.add_text("Ada Lovelace");
        needles.add_json(&serde_json::json!({ "ref": "D-77", "n": 12345 }));
        assert!(!needles.mentioned_in("Al was here"));
        assert!(needles.mentioned_in("for Ada Lovelace"));
        assert!(needles.mentioned_in("debt D-77"));
        assert!(needles.mentioned_in("x12345"));
    }
}
