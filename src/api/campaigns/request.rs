//! The body of `POST /v1/campaigns` (and of the campaign-list dialect), read into typed values:
//! every member is first taken as sent ([`CampaignRequest`]), so that a wrong type is refused
//! with an error naming its field rather than serde's message, then checked into
//! [`CampaignOptions`] and [`ContactEntry`]s.

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer};

use super::{super::error::ApiError, MAX_CONTACTS};
use crate::domain::{
    Amd, DialingMode, ErrorCode, FieldError, PhoneNumber, Zone,
    campaign::{Pacing, RecallPolicy},
    contact::ContactPatch,
    ids::ContactId,
    parse_scheduled_at,
    playbook::PlaybookId,
    routing::{Skills, parse_priority},
    window::CallingWindow,
};

pub(super) fn field_error(field: &str, code: ErrorCode, why: &str) -> ApiError {
    FieldError::new(code, field, why.to_owned()).into()
}

/// The members a campaign request may have; any other is refused with `unknown_field`.
const CAMPAIGN_FIELDS: [&str; 15] = [
    "playbook_id",
    "contacts",
    "name",
    "launch_at",
    "timezone",
    "recall",
    "calling_window",
    "pacing",
    "caller_id",
    "caller_id_pool",
    "dialing_mode",
    "trunk_id",
    "amd",
    "priority",
    "skills",
];

/// A member that should be a string. Reading it never fails, so that the check can name the
/// field: `null` counts as absent.
#[derive(Debug, Default)]
pub enum Text {
    #[default]
    Absent,
    Given(String),
    Other,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Null => Self::Absent,
            serde_json::Value::String(s) => Self::Given(s),
            _ => Self::Other,
        })
    }
}

impl Text {
    /// The string, if one was given; `must be a string` naming `field` otherwise.
    fn read(self, field: &str) -> Result<Option<String>, ApiError> {
        match self {
            Self::Absent => Ok(None),
            Self::Given(s) => Ok(Some(s)),
            Self::Other => Err(field_error(
                field,
                ErrorCode::InvalidField,
                "must be a string",
            )),
        }
    }
}

/// A campaign request as sent. Members that are JSON of their own (`recall`,
/// `calling_window`, `pacing`, `dialing_mode`, `contacts`) are kept as JSON for their domain
/// parsers, which name the nested field that is wrong; `null` reads as absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CampaignRequest {
    pub playbook_id: Text,
    pub contacts: Option<serde_json::Value>,
    pub name: Text,
    pub launch_at: Text,
    pub timezone: Text,
    pub recall: Option<serde_json::Value>,
    pub calling_window: Option<serde_json::Value>,
    pub pacing: Option<serde_json::Value>,
    pub caller_id: Text,
    pub caller_id_pool: Text,
    pub dialing_mode: Option<serde_json::Value>,
    pub trunk_id: Text,
    pub amd: Option<serde_json::Value>,
    pub priority: Option<serde_json::Value>,
    pub skills: Option<serde_json::Value>,
}

/// A campaign's settings, checked; `calling_window` is `None` when the account's applies.
pub struct CampaignOptions {
    pub name: Option<String>,
    pub timezone: Zone,
    pub launch_at: Timestamp,
    /// The zone a `launch_at` without an offset was read in: the campaign's `timezone` if
    /// given, else the account's zone (`dialect_timezone`), else UTC; `None` when `launch_at`
    /// carried its offset or was left out.
    pub launch_at_zone: Option<Zone>,
    pub recall: RecallPolicy,
    pub calling_window: Option<CallingWindow>,
    pub pacing: Pacing,
    pub caller_id: Option<PhoneNumber>,
    /// A caller ID pool's name, checked; whether the account has it is checked with the store.
    pub caller_id_pool: Option<String>,
    pub dialing_mode: DialingMode,
    /// As written: whether it names one of the account's trunks is checked with the store.
    pub trunk_id: Option<String>,
    /// Answering-machine detection on its calls (`drop` leaves the playbook's
    /// `voicemail_audio`).
    pub amd: Amd,
    /// Its calls' priority and required skills (`domain::routing`).
    pub priority: u8,
    pub skills: Skills,
}

/// One item of `contacts`: a contact to create or update by phone, or a stored one's id.
pub enum ContactEntry {
    New(ContactPatch),
    Stored(ContactId),
}

impl CampaignRequest {
    /// Reads a body: it must be a JSON object of campaign members only.
    pub fn from_json(body: serde_json::Value) -> Result<Self, ApiError> {
        let serde_json::Value::Object(map) = body else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                "the body must be a JSON object",
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !CAMPAIGN_FIELDS.contains(&k.as_str())) {
            return Err(field_error(
                unknown,
                ErrorCode::UnknownField,
                "not a campaign field",
            ));
        }
        // Every member reads from any JSON value, so this cannot fail.
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                "the body must be a JSON object",
            )
        })
    }

    /// `playbook_id`, required, a UUID (checked first: the playbook is looked up before the
    /// rest is read).
    pub fn playbook_id(&mut self) -> Result<PlaybookId, ApiError> {
        let raw = std::mem::take(&mut self.playbook_id)
            .read("playbook_id")?
            .ok_or_else(|| field_error("playbook_id", ErrorCode::MissingField, "is required"))?;
        PlaybookId::parse(&raw)
            .ok_or_else(|| field_error("playbook_id", ErrorCode::InvalidField, "must be a UUID"))
    }

    /// Everything but the playbook and the contacts, checked in the order of the members
    /// above; `launch_at` defaults to `now` and may not be more than a minute before it. A
    /// `launch_at` without an offset is read in the campaign's `timezone`, else in
    /// `account_zone`, else in UTC.
    pub fn options(
        &mut self,
        now: Timestamp,
        account_zone: Option<&Zone>,
    ) -> Result<CampaignOptions, ApiError> {
        let named = match std::mem::take(&mut self.timezone).read("timezone")? {
            Some(name) => Some(Zone::parse(&name, "timezone")?),
            None => None,
        };
        let timezone = named.clone().unwrap_or_else(Zone::utc);
        let mut launch_at_zone = None;
        let launch_at = match std::mem::take(&mut self.launch_at).read("launch_at")? {
            Some(raw) => {
                if raw.trim().parse::<Timestamp>().is_err() {
                    launch_at_zone = Some(
                        named
                            .clone()
                            .or_else(|| account_zone.cloned())
                            .unwrap_or_else(Zone::utc),
                    );
                }
                let zone = launch_at_zone.as_ref().unwrap_or(&timezone);
                let at = parse_scheduled_at(&raw, Some(zone), "launch_at")?;
                if at < now - SignedDuration::from_secs(60) {
                    return Err(field_error(
                        "launch_at",
                        ErrorCode::TimeInPast,
                        "is in the past; leave it out to launch now",
                    ));
                }
                at.max(now)
            }
            None => now,
        };
        let recall = match &self.recall {
            Some(v) => RecallPolicy::parse(v, "recall")?,
            None => RecallPolicy::default(),
        };
        let calling_window = self
            .calling_window
            .as_ref()
            .map(|v| CallingWindow::parse(v, "calling_window"))
            .transpose()?;
        let pacing = match &self.pacing {
            Some(v) => Pacing::parse(v, "pacing")?,
            None => Pacing::default(),
        };
        let caller_id = std::mem::take(&mut self.caller_id)
            .read("caller_id")?
            .map(|c| PhoneNumber::parse(&c, "caller_id"))
            .transpose()?;
        let caller_id_pool = std::mem::take(&mut self.caller_id_pool)
            .read("caller_id_pool")?
            .map(|p| crate::domain::caller_id::parse_pool(&p, "caller_id_pool"))
            .transpose()?;
        if caller_id.is_some() && caller_id_pool.is_some() {
            return Err(field_error(
                "caller_id_pool",
                ErrorCode::InvalidField,
                "send caller_id or caller_id_pool, not both",
            ));
        }
        let dialing_mode = match self.dialing_mode.take() {
            None => DialingMode::Ai,
            Some(v) => serde_json::from_value(v).map_err(|_| {
                field_error(
                    "dialing_mode",
                    ErrorCode::InvalidField,
                    "must be ai, unattended, progressive or preview",
                )
            })?,
        };
        let amd = match self.amd.take() {
            None => Amd::Off,
            Some(v) => serde_json::from_value(v).map_err(|_| {
                field_error(
                    "amd",
                    ErrorCode::InvalidField,
                    "must be off, detect or drop",
                )
            })?,
        };
        let priority = match self.priority.take() {
            None => parse_priority(None, "priority")?,
            Some(v) => parse_priority(
                Some(v.as_i64().ok_or_else(|| {
                    field_error(
                        "priority",
                        ErrorCode::InvalidField,
                        "must be between 0 and 100",
                    )
                })?),
                "priority",
            )?,
        };
        let skills = Skills::parse(
            self.skills.as_ref().unwrap_or(&serde_json::Value::Null),
            "skills",
        )?;
        let name = std::mem::take(&mut self.name).read("name")?;
        let trunk_id = std::mem::take(&mut self.trunk_id).read("trunk_id")?;
        Ok(CampaignOptions {
            name,
            timezone,
            launch_at,
            launch_at_zone,
            recall,
            calling_window,
            pacing,
            caller_id,
            caller_id_pool,
            dialing_mode,
            trunk_id,
            amd,
            priority,
            skills,
        })
    }

    /// `contacts`: 1 to [`MAX_CONTACTS`] contact objects (each with a `phone`) or contact ids.
    pub fn contacts(&mut self) -> Result<Vec<ContactEntry>, ApiError> {
        let items = match self.contacts.take() {
            Some(serde_json::Value::Array(items)) if !items.is_empty() => items,
            Some(serde_json::Value::Array(_)) => {
                return Err(field_error(
                    "contacts",
                    ErrorCode::InvalidField,
                    "must not be empty",
                ));
            }
            None | Some(serde_json::Value::Null) => {
                return Err(field_error(
                    "contacts",
                    ErrorCode::MissingField,
                    "is required",
                ));
            }
            Some(_) => {
                return Err(field_error(
                    "contacts",
                    ErrorCode::InvalidField,
                    "must be a list of contact objects or contact ids",
                ));
            }
        };
        if items.len() > MAX_CONTACTS {
            return Err(field_error(
                "contacts",
                ErrorCode::TooManyItems,
                &format!("at most {MAX_CONTACTS} contacts per campaign"),
            ));
        }
        // Each item is read on its own, on every core; the first bad one is the answer.
        let not_a_contact = |i: usize| {
            field_error(
                &format!("contacts[{i}]"),
                ErrorCode::InvalidField,
                "must be a contact object or a contact id (ctc_...)",
            )
        };
        crate::parallel::map(&items, |i, item| match item {
            serde_json::Value::String(raw) => ContactId::parse(raw)
                .map(ContactEntry::Stored)
                .ok_or_else(|| not_a_contact(i)),
            serde_json::Value::Object(_) => {
                let patch = ContactPatch::from_json(item, &format!("contacts[{i}]."))?;
                if patch.phone.is_none() {
                    return Err(field_error(
                        &format!("contacts[{i}].phone"),
                        ErrorCode::MissingField,
                        "every contact needs a phone",
                    ));
                }
                Ok(ContactEntry::New(patch))
            }
            _ => Err(not_a_contact(i)),
        })
        .into_iter()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error_of(body: serde_json::Value) -> (ErrorCode, String) {
        let read = CampaignRequest::from_json(body).and_then(|mut r| {
            r.playbook_id()?;
            r.options("2026-11-24T00:00:00Z".parse().unwrap(), None)?;
            r.contacts()
        });
        let Err(e) = read else { panic!("accepted") };
        (e.code, e.field.unwrap_or_default())
    }

    #[test]
    fn each_error_names_its_field() {
        let pb = "6f1c1f4e-3a57-4b8e-9a3e-1d2f3c4b5a69";
        let ok = json!([{"phone": "+14155550100"}]);
        for (body, code, field) in [
            (json!([1]), ErrorCode::InvalidJson, ""),
            (json!({"colour": "red"}), ErrorCode::UnknownField, "colour"),
            (
                json!({"contacts": ok}),
                ErrorCode::MissingField,
                "playbook_id",
            ),
            (
                json!({"playbook_id": 7}),
                ErrorCode::InvalidField,
                "playbook_id",
            ),
            (
                json!({"playbook_id": "x"}),
                ErrorCode::InvalidField,
                "playbook_id",
            ),
            (
                json!({"playbook_id": pb, "name": 1}),
                ErrorCode::InvalidField,
                "name",
            ),
            (
                json!({"playbook_id": pb, "dialing_mode": "x"}),
                ErrorCode::InvalidField,
                "dialing_mode",
            ),
            (
                json!({"playbook_id": pb}),
                ErrorCode::MissingField,
                "contacts",
            ),
            (
                json!({"playbook_id": pb, "contacts": null}),
                ErrorCode::MissingField,
                "contacts",
            ),
            (
                json!({"playbook_id": pb, "contacts": []}),
                ErrorCode::InvalidField,
                "contacts",
            ),
            (
                json!({"playbook_id": pb, "contacts": [3]}),
                ErrorCode::InvalidField,
                "contacts[0]",
            ),
            (
                json!({"playbook_id": pb, "contacts": [{"first_name": "A"}]}),
                ErrorCode::MissingField,
                "contacts[0].phone",
            ),
        ] {
            assert_eq!(error_of(body.clone()), (code, field.to_owned()), "{body}");
        }
    }

    #[test]
    fn absent_and_null_members_take_their_defaults() {
        let now: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let mut r = CampaignRequest::from_json(json!({
            "playbook_id": "6f1c1f4e-3a57-4b8e-9a3e-1d2f3c4b5a69",
            "recall": null, "pacing": null, "calling_window": null, "dialing_mode": null,
        }))
        .unwrap();
        r.playbook_id().unwrap();
        let options = r.options(now, None).unwrap();
        assert_eq!(options.launch_at, now);
        assert_eq!(options.pacing, Pacing::default());
        assert!(options.recall.is_empty());
        assert!(options.calling_window.is_none());
        assert_eq!(options.dialing_mode, DialingMode::Ai);
        assert_eq!(options.timezone.name(), Zone::utc().name());
    }
}
