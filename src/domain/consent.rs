//! Consent to be called: what a customer agreed to (or withdrew) per number and scope, which
//! calls need which scope, and whether a call lacks consent the account requires.
//!
//! Scopes: `calls` (any call), `ai_calls` (an AI voice agent speaks: `dialing_mode: ai`),
//! `prerecorded` (nobody live is on Ringback's side when it is answered: `unattended`, the
//! dialer plays a message) and `sms` (texts; no call needs it). A call needs `calls` and its
//! own scope. An account may require consent for some scopes (`require_consent_for`); a scope
//! the customer revoked stops calls that need it whether the account requires it or not.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{AccountId, DialingMode, ErrorCode, FieldError, PhoneNumber};

/// What a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    Calls,
    AiCalls,
    Prerecorded,
    Sms,
}

impl ConsentScope {
    pub const ALL: [ConsentScope; 4] = [
        ConsentScope::Calls,
        ConsentScope::AiCalls,
        ConsentScope::Prerecorded,
        ConsentScope::Sms,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentScope::Calls => "calls",
            ConsentScope::AiCalls => "ai_calls",
            ConsentScope::Prerecorded => "prerecorded",
            ConsentScope::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Reads a scope named in a request.
    pub fn parse_field(s: &str, field: &str) -> Result<Self, FieldError> {
        Self::parse(s).ok_or_else(|| {
            FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!("{s:?} is not a scope: calls, ai_calls, prerecorded or sms"),
            )
        })
    }

    /// The scopes a call in `mode` needs: `calls`, and `ai_calls` or `prerecorded` for calls
    /// nobody live places.
    pub fn needed_by(mode: DialingMode) -> &'static [ConsentScope] {
        match mode {
            DialingMode::Ai => &[ConsentScope::Calls, ConsentScope::AiCalls],
            DialingMode::Unattended => &[ConsentScope::Calls, ConsentScope::Prerecorded],
            DialingMode::Preview | DialingMode::Progressive => &[ConsentScope::Calls],
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Reads an account's `require_consent_for`: call scopes, each once.
pub fn parse_required(names: &[String], field: &str) -> Result<Vec<ConsentScope>, FieldError> {
    let mut scopes = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let item = format!("{field}[{i}]");
        let scope = ConsentScope::parse_field(name, &item)?;
        if scope == ConsentScope::Sms {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                item,
                "only call scopes (calls, ai_calls, prerecorded) can be required before a call",
            ));
        }
        if scopes.contains(&scope) {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                item,
                format!("{name} is listed twice"),
            ));
        }
        scopes.push(scope);
    }
    Ok(scopes)
}

/// Where one number stands, scope by scope: consent given, withdrawn, or never recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsentState {
    granted: u8,
    revoked: u8,
}

impl ConsentState {
    /// Records that `scope` is granted (or revoked), replacing what was known of it.
    pub fn set(&mut self, scope: ConsentScope, granted: bool) {
        self.granted &= !scope.bit();
        self.revoked &= !scope.bit();
        match granted {
            true => self.granted |= scope.bit(),
            false => self.revoked |= scope.bit(),
        }
    }

    pub fn is_granted(self, scope: ConsentScope) -> bool {
        self.granted & scope.bit() != 0
    }

    pub fn is_revoked(self, scope: ConsentScope) -> bool {
        self.revoked & scope.bit() != 0
    }

    /// Why a call in `mode` may not be placed for lack of consent, if it may not: a needed
    /// scope the customer revoked, or one `required` by the account and never granted.
    pub fn lacking(self, mode: DialingMode, required: &[ConsentScope]) -> Option<String> {
        let needed = ConsentScope::needed_by(mode);
        if let Some(scope) = needed.iter().find(|s| self.is_revoked(**s)) {
            return Some(format!(
                "the customer revoked consent to {}",
                describe(*scope)
            ));
        }
        needed
            .iter()
            .find(|s| required.contains(s) && !self.is_granted(**s))
            .map(|scope| {
                format!(
                    "the account requires consent to {} and none is recorded for the number",
                    describe(*scope)
                )
            })
    }
}

fn describe(scope: ConsentScope) -> &'static str {
    match scope {
        ConsentScope::Calls => "calls",
        ConsentScope::AiCalls => "calls by an AI voice agent",
        ConsentScope::Prerecorded => "prerecorded calls",
        ConsentScope::Sms => "text messages",
    }
}

/// A consent as stored: the latest word of the customer on one scope for one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub account_id: AccountId,
    pub phone: PhoneNumber,
    pub scope: ConsentScope,
    /// `true`: given; `false`: withdrawn.
    pub granted: bool,
    /// Where it was captured or withdrawn (`web_form`, `ivr`, `api`, `sms_stop`, ...).
    pub source: String,
    /// When the customer said it.
    pub captured_at: Timestamp,
    /// What proves it (the form's wording, a recording's id, the message text).
    pub evidence: Option<String>,
    pub updated_at: Timestamp,
}

/// The longest `source`, and the longest `evidence`.
pub const MAX_SOURCE: usize = 100;
pub const MAX_EVIDENCE: usize = 5_000;

/// Checks a consent's `source` and `evidence` texts.
pub fn check_texts(source: &str, evidence: Option<&str>) -> Result<(), FieldError> {
    if source.trim().is_empty() || source.chars().count() > MAX_SOURCE {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "source",
            format!("must be 1 to {MAX_SOURCE} characters"),
        ));
    }
    if evidence.is_some_and(|e| e.chars().count() > MAX_EVIDENCE) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "evidence",
            format!("must be at most {MAX_EVIDENCE} characters"),
        ));
    }
    Ok(())
}

/// Is this text message a request to stop (the carriers' standard opt-out words)?
pub fn is_stop_word(body: &str) -> bool {
    const WORDS: [&str; 7] = [
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
    ];
    let word = body
        .trim()
        .trim_end_matches(['.', '!'])
        .to_ascii_uppercase();
    WORDS.contains(&word.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ai_call_needs_ai_consent_only_where_required_and_never_after_a_revocation() {
        let mut state = ConsentState::default();
        assert_eq!(state.lacking(DialingMode::Ai, &[]), None);
        assert!(
            state
                .lacking(DialingMode::Ai, &[ConsentScope::AiCalls])
                .is_some()
        );
        // A live agent's call does not need AI consent.
        assert_eq!(
            state.lacking(DialingMode::Preview, &[ConsentScope::AiCalls]),
            None
        );
        state.set(ConsentScope::AiCalls, true);
        assert_eq!(
            state.lacking(DialingMode::Ai, &[ConsentScope::AiCalls]),
            None
        );
        // Revoking calls stops every call, required or not.
        state.set(ConsentScope::Calls, false);
        let why = state.lacking(DialingMode::Preview, &[]).unwrap();
        assert!(why.contains("revoked"), "{why}");
        state.set(ConsentScope::Calls, true);
        assert_eq!(state.lacking(DialingMode::Unattended, &[]), None);
        assert!(
            state
                .lacking(DialingMode::Unattended, &[ConsentScope::Prerecorded])
                .is_some()
        );
    }

    #[test]
    fn required_scopes_are_call_scopes_listed_once() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_required(&names(&["ai_calls", "prerecorded"]), "r").unwrap(),
            vec![ConsentScope::AiCalls, ConsentScope::Prerecorded]
        );
        assert_eq!(
            parse_required(&names(&["sms"]), "r").unwrap_err().field,
            "r[0]"
        );
        assert_eq!(
            parse_required(&names(&["calls", "calls"]), "r")
                .unwrap_err()
                .field,
            "r[1]"
        );
        assert_eq!(
            parse_required(&names(&["robocalls"]), "r")
                .unwrap_err()
                .field,
            "r[0]"
        );
    }

    #[test]
    fn stop_words_are_the_carriers_opt_out_words() {
        for yes in ["STOP", "stop", " Stop. ", "unsubscribe", "END"] {
            assert!(is_stop_word(yes), "{yes}");
        }
        for no in ["stop calling at night", "hello", ""] {
            assert!(!is_stop_word(no), "{no}");
        }
    }
}
