//! E.164 phone numbers, parsed with libphonenumber's metadata (the `phonenumber` crate).

use std::fmt;

use super::{ErrorCode, FieldError};

/// A phone number in E.164 form (`+14155550199`). Human formats such as `+1 (415) 555-0199`
/// or `+1-415-555-0199` are accepted and normalised; a number without a country code is refused
/// because we cannot know which country it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str, field: &str) -> Result<Self, FieldError> {
        let trimmed = input.trim();
        let invalid = |why: &str| FieldError::new(ErrorCode::InvalidPhone, field, why.to_owned());
        if trimmed.is_empty() {
            return Err(invalid("phone number is empty"));
        }
        if trimmed.len() > 32 {
            return Err(invalid("phone number is too long"));
        }
        if !trimmed.starts_with('+') && !trimmed.starts_with("00") {
            return Err(invalid(
                "phone number must be in E.164 form with a country code, e.g. +14155550199",
            ));
        }
        let normalised = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => trimmed.to_owned(),
        };
        let parsed = phonenumber::parse(None, &normalised)
            .map_err(|_| invalid("not a recognisable phone number"))?;
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        if super::geo::validate(&parsed, &e164).is_none() {
            return Err(invalid(
                "not a valid phone number for its country (wrong length or prefix)",
            ));
        }
        Ok(Self(e164))
    }

    /// Wraps a value read back from our own store, which only ever holds parsed numbers.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The national significant number's digits (E.164 without `+` and the country code),
    /// how the number is often written inside texts; `None` if it does not parse.
    pub fn national_digits(&self) -> Option<String> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        let code = parsed.code().value().to_string();
        let digits = self.0.strip_prefix('+')?.strip_prefix(code.as_str())?;
        (!digits.is_empty()).then(|| digits.to_owned())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for PhoneNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_formats_are_normalised_to_e164() {
        for input in [
            "+1-415-555-0199",
            "+1 (415) 555-0199",
            "+14155550199",
            "001 415 555 0199",
        ] {
            assert_eq!(
                PhoneNumber::parse(input, "phone").unwrap().as_str(),
                "+14155550199",
                "{input}"
            );
        }
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958", "phone")
                .unwrap()
                .as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn numbers_without_country_code_or_with_bad_length_are_refused() {
        for input in [
            "4155550199",
            "",
            "+1 415",
            "+999 12345",
            "hello",
            "+1415555019999999",
        ] {
            let err = PhoneNumber::parse(input, "phone").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidPhone, "{input}");
            assert_eq!(err.field, "phone");
        }
    }
}
