//! Contacts: the people campaigns call, keyed by their phone number within an account.
//!
//! A contact is written by *patches*: the fields a request or a CSV row names. A field not
//! named keeps its value, a field named with `null` is cleared, so importing the same list
//! twice, or a list with fewer columns, never loses data. The same parser serves the JSON API
//! and CSV rows, so both accept and refuse exactly the same values.

use jiff::Timestamp;

use super::{AccountId, ErrorCode, FieldError, PhoneNumber, Zone, ids::ContactId};

/// Longest text field, in characters.
const MAX_TEXT: usize = 500;
/// Most custom fields on one contact.
pub const MAX_CUSTOM_FIELDS: usize = 50;
const MAX_CUSTOM_KEY: usize = 64;
const MAX_CUSTOM_TEXT: usize = 1_000;
/// Longest `external_id`, in characters.
pub const MAX_EXTERNAL_ID: usize = 128;

macro_rules! contact_details {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// The free-text personalisation fields of a contact (all optional).
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
        pub struct ContactDetails {
            $($(#[$doc])* pub $field: Option<String>,)*
        }

        impl ContactDetails {
            /// The field names, in the order the API and CSV exports list them.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            pub fn get(&self, name: &str) -> Option<&str> {
                match name {
                    $(stringify!($field) => self.$field.as_deref(),)*
                    _ => None,
                }
            }

            fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

contact_details! {
    first_name,
    last_name,
    email,
    company,
    job_title,
    address,
    city,
    /// State or province.
    state,
    country,
    postal_code,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
}

/// A custom field's value: what a CRM export carries.
pub type CustomFields = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone)]
pub struct Contact {
    pub id: ContactId,
    pub account_id: AccountId,
    /// The key: one contact per normalised number in an account.
    pub phone: PhoneNumber,
    /// The contact's id in the system it came from (a CRM's, a dialer's such as Kore.ai's
    /// `cid-...`): unique within the account, so other systems can name the contact by it.
    pub external_id: Option<String>,
    pub details: ContactDetails,
    /// The contact's own zone; where absent, a zone derived from the phone number or the
    /// campaign's applies.
    pub timezone: Option<Zone>,
    pub custom_fields: CustomFields,
    /// When a call to the number ended `invalid_number` (the network does not know it); an
    /// answered call clears it.
    pub phone_invalid_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The fields one request or CSV row sets, each already validated. `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub phone: Option<PhoneNumber>,
    /// `Some(None)` clears it.
    pub external_id: Option<Option<String>>,
    pub details: Vec<(&'static str, Option<String>)>,
    pub timezone: Option<Option<Zone>>,
    /// `"custom_fields": null`: remove every custom field (before setting any named here).
    pub clear_custom_fields: bool,
    /// Keys set (`Some`) or removed (`None`); the others stay.
    pub custom_fields: Vec<(String, Option<serde_json::Value>)>,
}

impl ContactPatch {
    /// Reads a JSON object (`{"phone": ..., "first_name": ..., "custom_fields": {...}}`).
    /// Errors name the field under `prefix` (`contacts[3].`).
    pub fn from_json(value: &serde_json::Value, prefix: &str) -> Result<Self, FieldError> {
        let at = |name: &str| format!("{prefix}{name}");
        let object = value.as_object().ok_or_else(|| {
            FieldError::new(
                ErrorCode::InvalidField,
                prefix.trim_end_matches('.'),
                "a contact must be a JSON object",
            )
        })?;
        let mut patch = Self::default();
        for (name, value) in object {
            let text = || -> Result<Option<&str>, FieldError> {
                match value {
                    serde_json::Value::Null => Ok(None),
                    serde_json::Value::String(s) => Ok(Some(s)),
                    _ => Err(FieldError::new(
                        ErrorCode::InvalidField,
                        at(name),
                        "must be a string or null",
                    )),
                }
            };
            match name.as_str() {
                "phone" => match text()? {
                    Some(p) => patch.phone = Some(PhoneNumber::parse(p, &at(name))?),
                    None => {
                        return Err(FieldError::new(
                            ErrorCode::InvalidPhone,
                            at(name),
                            "a contact's phone cannot be null",
                        ));
                    }
                },
                "timezone" => patch.set_timezone(text()?, &at(name))?,
                "external_id" => patch.set_external_id(text()?, &at(name))?,
                "custom_fields" => match value {
                    serde_json::Value::Null => patch.clear_custom_fields = true,
                    serde_json::Value::Object(map) => {
                        for (key, v) in map {
                            patch.set_custom(
                                key,
                                v.clone(),
                                &at(&format!("custom_fields.{key}")),
                            )?;
                        }
                    }
                    _ => {
                        return Err(FieldError::new(
                            ErrorCode::InvalidField,
                            at(name),
                            "must be an object of strings, numbers and booleans",
                        ));
                    }
                },
                other => patch.set_detail(other, text()?, &at(other))?,
            }
        }
        Ok(patch)
    }

    /// Sets a text field by name; an unknown name is `unknown_field`.
    pub fn set_detail(
        &mut self,
        name: &str,
        value: Option<&str>,
        field: &str,
    ) -> Result<(), FieldError> {
        let Some(known) = ContactDetails::NAMES.iter().find(|n| **n == name) else {
            return Err(FieldError::new(
                ErrorCode::UnknownField,
                field,
                format!("unknown field {name:?}; put your own fields in custom_fields"),
            ));
        };
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        if let Some(v) = value {
            if v.chars().count() > MAX_TEXT {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    field,
                    format!("must be at most {MAX_TEXT} characters"),
                ));
            }
            if v.chars().any(char::is_control) {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    field,
                    "must not contain control characters",
                ));
            }
            if name == "email" && !looks_like_email(v) {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    field,
                    "must be an email address such as ann@example.com",
                ));
            }
        }
        self.details.push((known, value.map(str::to_owned)));
        Ok(())
    }

    /// Sets (or with `None` or an empty text, clears) the external id: 1 to
    /// [`MAX_EXTERNAL_ID`] printable characters without spaces, not in the form of a Ringback
    /// id (`ctc_...`, `cb_...`), which would make a lookup by either ambiguous.
    pub fn set_external_id(&mut self, value: Option<&str>, field: &str) -> Result<(), FieldError> {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        if let Some(v) = value {
            let invalid = |why: &str| FieldError::new(ErrorCode::InvalidField, field, why);
            if v.chars().count() > MAX_EXTERNAL_ID {
                return Err(invalid(&format!(
                    "must be at most {MAX_EXTERNAL_ID} characters"
                )));
            }
            if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(invalid("must not contain spaces or control characters"));
            }
            if ContactId::parse(v).is_some() || super::CallbackId::parse(v).is_some() {
                return Err(invalid(
                    "must not have the form of a Ringback id (ctc_..., cb_...)",
                ));
            }
        }
        self.external_id = Some(value.map(str::to_owned));
        Ok(())
    }

    pub fn set_timezone(&mut self, value: Option<&str>, field: &str) -> Result<(), FieldError> {
        let zone = match value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(name) => Some(Zone::parse(name, field)?),
            None => None,
        };
        self.timezone = Some(zone);
        Ok(())
    }

    /// Sets (or with `null`, removes) one custom field: a string, number or boolean.
    pub fn set_custom(
        &mut self,
        key: &str,
        value: serde_json::Value,
        field: &str,
    ) -> Result<(), FieldError> {
        let invalid = |why: String| FieldError::new(ErrorCode::InvalidField, field, why);
        if key.trim().is_empty()
            || key.chars().count() > MAX_CUSTOM_KEY
            || key.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "custom field names are 1 to {MAX_CUSTOM_KEY} printable characters"
            )));
        }
        let value = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.chars().count() > MAX_CUSTOM_TEXT => {
                return Err(invalid(format!(
                    "must be at most {MAX_CUSTOM_TEXT} characters"
                )));
            }
            v @ (serde_json::Value::String(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::Bool(_)) => Some(v),
            _ => return Err(invalid("must be a string, number, boolean or null".into())),
        };
        self.custom_fields.push((key.trim().to_owned(), value));
        Ok(())
    }

    /// The names of the fields this patch touches (for the audit trail, which keeps no values).
    pub fn touched(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if self.phone.is_some() {
            out.push("phone".into());
        }
        if self.external_id.is_some() {
            out.push("external_id".into());
        }
        out.extend(self.details.iter().map(|(n, _)| (*n).to_owned()));
        if self.timezone.is_some() {
            out.push("timezone".into());
        }
        if self.clear_custom_fields {
            out.push("custom_fields".into());
        }
        out.extend(
            self.custom_fields
                .iter()
                .map(|(k, _)| format!("custom_fields.{k}")),
        );
        out.dedup();
        out
    }
}

impl Contact {
    /// A new contact from a patch that names its phone. Errors name fields under `prefix`.
    pub fn create(
        account_id: AccountId,
        patch: &ContactPatch,
        now: Timestamp,
        prefix: &str,
    ) -> Result<Self, FieldError> {
        let phone = patch.phone.clone().ok_or_else(|| {
            FieldError::new(
                ErrorCode::MissingField,
                format!("{prefix}phone"),
                "\"phone\" is required",
            )
        })?;
        let mut contact = Self {
            id: ContactId::generate(),
            account_id,
            phone,
            external_id: None,
            details: ContactDetails::default(),
            timezone: None,
            custom_fields: CustomFields::new(),
            phone_invalid_at: None,
            created_at: now,
            updated_at: now,
        };
        contact.apply(patch, now, prefix)?;
        Ok(contact)
    }

    /// Applies a patch: named fields change, the others keep their values.
    pub fn apply(
        &mut self,
        patch: &ContactPatch,
        now: Timestamp,
        prefix: &str,
    ) -> Result<(), FieldError> {
        if let Some(phone) = &patch.phone {
            self.phone = phone.clone();
        }
        for (name, value) in &patch.details {
            if let Some(slot) = self.details.slot(name) {
                *slot = value.clone();
            }
        }
        if let Some(external_id) = &patch.external_id {
            self.external_id = external_id.clone();
        }
        if let Some(zone) = &patch.timezone {
            self.timezone = zone.clone();
        }
        if patch.clear_custom_fields {
            self.custom_fields.clear();
        }
        for (key, value) in &patch.custom_fields {
            match value {
                Some(v) => {
                    self.custom_fields.insert(key.clone(), v.clone());
                }
                None => {
                    self.custom_fields.remove(key);
                }
            }
        }
        if self.custom_fields.len() > MAX_CUSTOM_FIELDS {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                format!("{prefix}custom_fields"),
                format!("a contact has at most {MAX_CUSTOM_FIELDS} custom fields"),
            ));
        }
        self.updated_at = now;
        Ok(())
    }
}

/// A deliberately loose check: one `@` with text on both sides and a dot in the domain.
/// Whether mail is delivered is not ours to know.
fn looks_like_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !v.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// How a CSV column maps onto a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Phone,
    ExternalId,
    Detail(&'static str),
    Timezone,
    /// A JSON object of custom fields (the shape exports write).
    CustomFieldsJson,
    Custom(String),
    /// Written by exports, ignored on import (`id`, `created_at`, `updated_at`).
    Ignored,
}

impl Column {
    /// Reads a header cell: a contact field, `custom_fields` (JSON), `custom_fields.<name>` or
    /// `custom.<name>`; any other name is a custom field of that name.
    pub fn from_header(name: &str) -> Self {
        let name = name.trim().trim_start_matches('\u{feff}');
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "phone" => return Column::Phone,
            "timezone" => return Column::Timezone,
            "external_id" => return Column::ExternalId,
            "custom_fields" => return Column::CustomFieldsJson,
            "id" | "created_at" | "updated_at" => return Column::Ignored,
            _ => {}
        }
        if let Some(known) = ContactDetails::NAMES.iter().find(|n| **n == lower) {
            return Column::Detail(known);
        }
        for prefix in ["custom_fields.", "custom."] {
            if lower.starts_with(prefix) {
                return Column::Custom(name[prefix.len()..].to_owned());
            }
        }
        Column::Custom(name.to_owned())
    }
}

/// Reads one CSV row. Empty cells are "no value given": they leave the stored value alone.
/// Errors name the column's header.
pub fn patch_from_row(
    columns: &[(Column, String)],
    cells: &[&str],
) -> Result<ContactPatch, FieldError> {
    let mut patch = ContactPatch::default();
    for ((column, header), cell) in columns.iter().zip(cells) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        match column {
            Column::Phone => patch.phone = Some(PhoneNumber::parse(cell, header)?),
            Column::Detail(name) => patch.set_detail(name, Some(cell), header)?,
            Column::Timezone => patch.set_timezone(Some(cell), header)?,
            Column::ExternalId => patch.set_external_id(Some(cell), header)?,
            Column::Custom(key) => {
                patch.set_custom(key, serde_json::Value::String(cell.to_owned()), header)?;
            }
            Column::CustomFieldsJson => {
                let map: CustomFields = serde_json::from_str(cell).map_err(|_| {
                    FieldError::new(
                        ErrorCode::InvalidField,
                        header.as_str(),
                        "must be a JSON object of strings, numbers and booleans",
                    )
                })?;
                for (key, value) in map {
                    patch.set_custom(&key, value, &format!("{header}.{key}"))?;
                }
            }
            Column::Ignored => {}
        }
    }
    if patch.phone.is_none() {
        return Err(FieldError::new(
            ErrorCode::MissingField,
            "phone",
            "the row has no phone number",
        ));
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2027-01-05T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_json_contact_is_read_field_by_field() {
        let patch = ContactPatch::from_json(
            &json!({"phone": "+1-415-555-0199", "first_name": " Ann ", "email": null,
                    "timezone": "America/Los_Angeles",
                    "custom_fields": {"plan": "gold", "seats": 3, "vip": true}}),
            "",
        )
        .unwrap();
        let contact = Contact::create(AccountId::generate(), &patch, now(), "").unwrap();
        assert_eq!(contact.phone.as_str(), "+14155550199");
        assert_eq!(contact.details.first_name.as_deref(), Some("Ann"));
        assert_eq!(contact.details.email, None);
        assert_eq!(contact.timezone.unwrap().name(), "America/Los_Angeles");
        assert_eq!(contact.custom_fields["seats"], json!(3));
    }

    #[test]
    fn bad_values_name_their_field() {
        for (input, code, field) in [
            (json!({"phone": "555"}), ErrorCode::InvalidPhone, "c.phone"),
            (json!({"phone": 5}), ErrorCode::InvalidField, "c.phone"),
            (
                json!({"first_name": 5}),
                ErrorCode::InvalidField,
                "c.first_name",
            ),
            (
                json!({"nickname": "A"}),
                ErrorCode::UnknownField,
                "c.nickname",
            ),
            (
                json!({"timezone": "Mars/Base"}),
                ErrorCode::InvalidTimezone,
                "c.timezone",
            ),
            (json!({"email": "ann"}), ErrorCode::InvalidField, "c.email"),
            (
                json!({"custom_fields": {"a": [1]}}),
                ErrorCode::InvalidField,
                "c.custom_fields.a",
            ),
            (
                json!({"custom_fields": "x"}),
                ErrorCode::InvalidField,
                "c.custom_fields",
            ),
        ] {
            let err = ContactPatch::from_json(&input, "c.").unwrap_err();
            assert_eq!((err.code, err.field.as_str()), (code, field), "{input}");
        }
        let err = Contact::create(
            AccountId::generate(),
            &ContactPatch::from_json(&json!({"first_name": "Ann"}), "").unwrap(),
            now(),
            "",
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingField);
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let account = AccountId::generate();
        let first = ContactPatch::from_json(
            &json!({"phone": "+14155550199", "first_name": "Ann", "city": "Oakland",
                    "custom_fields": {"plan": "gold", "tier": 1}}),
            "",
        )
        .unwrap();
        let mut contact = Contact::create(account, &first, now(), "").unwrap();
        let second = ContactPatch::from_json(
            &json!({"city": null, "company": "Acme", "custom_fields": {"tier": null}}),
            "",
        )
        .unwrap();
        contact.apply(&second, now(), "").unwrap();
        assert_eq!(contact.details.first_name.as_deref(), Some("Ann"));
        assert_eq!(contact.details.city, None);
        assert_eq!(contact.details.company.as_deref(), Some("Acme"));
        assert_eq!(
            contact.custom_fields,
            json!({"plan": "gold"}).as_object().unwrap().clone()
        );
        let clear = ContactPatch::from_json(&json!({"custom_fields": null}), "").unwrap();
        contact.apply(&clear, now(), "").unwrap();
        assert!(contact.custom_fields.is_empty());
    }

    #[test]
    fn csv_headers_map_to_fields_and_custom_fields() {
        assert_eq!(Column::from_header("Phone"), Column::Phone);
        assert_eq!(
            Column::from_header("first_name"),
            Column::Detail("first_name")
        );
        assert_eq!(Column::from_header("\u{feff}phone"), Column::Phone);
        assert_eq!(
            Column::from_header("custom.Plan"),
            Column::Custom("Plan".into())
        );
        assert_eq!(
            Column::from_header("Lead score"),
            Column::Custom("Lead score".into())
        );
        assert_eq!(Column::from_header("id"), Column::Ignored);
        let columns: Vec<(Column, String)> = ["phone", "first_name", "plan"]
            .iter()
            .map(|h| (Column::from_header(h), (*h).to_owned()))
            .collect();
        let patch = patch_from_row(&columns, &["+442079460958", "", "gold"]).unwrap();
        assert!(patch.details.is_empty(), "an empty cell sets nothing");
        assert_eq!(
            patch.custom_fields,
            vec![("plan".to_owned(), Some(json!("gold")))]
        );
        let err = patch_from_row(&columns, &["", "Ann", ""]).unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::MissingField, "phone")
        );
    }
}
