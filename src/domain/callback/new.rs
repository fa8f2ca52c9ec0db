//! Turning a request to schedule a callback into a [`Callback`].

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{Assignment, Callback, DialingMode, Fallback, Origin, Status, falls_back};
use crate::domain::{
    AccountId, CallbackId, ErrorCode, FieldError, PhoneNumber, Zone,
    dialing::{Location, ZoneSource},
    parse_scheduled_at,
    webhook::{MAX_URL_LEN, WebhookUrl},
};

pub const MAX_TEXT: usize = 5_000;
pub const MAX_NAME: usize = 200;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_ASSIGNEES: usize = 50;
pub const DEFAULT_EXPIRE_AFTER_MINUTES: u32 = 60;
pub const DEFAULT_MAX_DURATION_SECONDS: u32 = 900;
/// How far ahead a callback may be scheduled.
pub const MAX_HORIZON: SignedDuration = SignedDuration::from_hours(2 * 366 * 24);

/// The account-level rules a new callback must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct CreatePolicy {
    /// How far ahead of `now` a callback must be scheduled.
    pub min_lead: SignedDuration,
}

/// A request to schedule a callback, as received (native API, batch item or dialect).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCallback {
    /// E.164, or a human format with a country code (`+1-415-555-0199`).
    pub phone: String,
    pub contact_name: Option<String>,
    /// RFC 3339 with an offset, or a local date-time without offset read in `timezone`.
    /// Required, unless `slot_id` gives the time.
    #[serde(default)]
    pub scheduled_at: String,
    /// A slot from `GET /v1/availability` (`slot_...`) to book: the callback is assigned to
    /// the slot's queue and scheduled at its start (`scheduled_at` and `assignment`, if given,
    /// must say the same), and takes one of its places, counted in the same transaction as
    /// the insert; a full slot answers `409 slot_full` with `next_slots`.
    pub slot_id: Option<String>,
    /// IANA zone of the customer. Required when `scheduled_at` has no offset. Without it,
    /// calls are judged in the zone of the stored contact for the number, else in every
    /// zone the number may be in (`timezone_source` says which).
    pub timezone: Option<String>,
    pub assignment: Option<Assignment>,
    /// For a callback assigned to an agent: minutes after it falls due (0 to 10080) before,
    /// not taken by the agent, it moves to `fallback_queue_id` (else the agent's first queue),
    /// and at once when the agent is offline with no working hours left that day. Left out:
    /// the account's `fallback_after_minutes`; `null`: it stays with the agent.
    #[serde(default, deserialize_with = "crate::domain::present")]
    #[schema(value_type = Option<u32>)]
    pub fallback_after_minutes: Option<Option<u32>>,
    /// The queue (`que_...`) a personal callback falls back to.
    pub fallback_queue_id: Option<String>,
    /// The number calls show (E.164); once the account registered numbers
    /// (`/v1/caller-ids`), one of them.
    pub caller_id: Option<String>,
    /// A caller ID pool (`/v1/caller-ids`, their `pool`) instead of one `caller_id`: each
    /// call shows the pool number with the callee's area code, else in their region or
    /// country, else the least used, under each number's daily cap.
    pub caller_id_pool: Option<String>,
    pub dialing_mode: Option<DialingMode>,
    pub notes: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub interaction_id: Option<String>,
    pub reminder_minutes_before: Option<u32>,
    pub expire_after_minutes: Option<u32>,
    pub max_duration_seconds: Option<u32>,
    pub recording_enabled: Option<bool>,
    pub initial_message: Option<String>,
    pub webhook_url: Option<String>,
    /// Schedule even if an active callback for this phone exists.
    pub allow_duplicate: Option<bool>,
    /// Recall policy: minutes after an unanswered call before each further attempt, as a
    /// list (`[30, 120]`), the same list in a string (`"[30,120]"`), or a list per outcome
    /// (`{"busy": [5, 15], "no_answer": [30, 120], "voicemail": []}`). Recalls are placed
    /// inside the account's calling window; every attempt counts against its attempt cap.
    #[schema(value_type = Option<Object>)]
    pub recall: Option<serde_json::Value>,
    /// The trunk (`trk_...`) the call goes out on; absent: the campaign's, else the account's
    /// `default_trunk_id`, else the server's `--dialer-url` bridge.
    pub trunk_id: Option<String>,
    /// How long a call on a `sip` trunk rings before it is CANCELed (outcome `no_answer`),
    /// 5 to 300; absent: the server's `--ring-timeout-seconds` (30).
    pub ring_timeout_seconds: Option<u32>,
    /// Answering-machine detection on a `sip` trunk: `off` (default), `detect` (a machine
    /// ends the call as `voicemail`) or `drop` (the campaign playbook's `voicemail_audio` is
    /// left after the beep: `voicemail_left`).
    pub amd: Option<super::Amd>,
    /// 0 to 100 (default 50): among callbacks an agent may take, the highest is offered first
    /// (then the earliest due); a queue with `priority_aging_per_minute` raises it as it waits.
    pub priority: Option<i64>,
    /// Skills the agent who takes it must hold, each at least at its level 1 to 5
    /// (`{"spanish": 3}`); a queue with `skill_relax_after_seconds` drops them after that wait.
    #[schema(value_type = Option<Object>)]
    pub skills: Option<serde_json::Value>,
}

fn text(value: Option<String>, field: &str, max: usize) -> Result<Option<String>, FieldError> {
    match value {
        Some(v) if v.chars().count() > max => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be at most {max} characters"),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn in_range(
    value: Option<u32>,
    field: &str,
    min: u32,
    max: u32,
    default: Option<u32>,
) -> Result<Option<u32>, FieldError> {
    match value.or(default) {
        Some(v) if !(min..=max).contains(&v) => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be between {min} and {max}"),
        )),
        other => Ok(other),
    }
}

/// Checks a requested call time against `now` and the minimum lead time.
pub fn check_lead_time(
    at: Timestamp,
    now: Timestamp,
    policy: CreatePolicy,
    field: &str,
) -> Result<(), FieldError> {
    if at <= now {
        return Err(FieldError::new(
            ErrorCode::TimeInPast,
            field,
            format!("{at} is in the past (now is {now})"),
        ));
    }
    let lead = at.duration_since(now);
    if lead > MAX_HORIZON {
        return Err(FieldError::new(
            ErrorCode::TimeTooFar,
            field,
            "must be at most two years from now",
        ));
    }
    if lead < policy.min_lead {
        return Err(FieldError::new(
            ErrorCode::LeadTimeTooShort,
            field,
            format!(
                "must be at least {} seconds from now",
                policy.min_lead.as_secs()
            ),
        ));
    }
    Ok(())
}

/// Validates assignee lists: a kind and 1 to 50 non-empty ids.
pub fn check_assignment(a: &Assignment, field: &str) -> Result<(), FieldError> {
    if a.ids.is_empty() || a.ids.len() > MAX_ASSIGNEES {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            format!("{field}.ids"),
            format!("must list between 1 and {MAX_ASSIGNEES} assignees"),
        ));
    }
    if a.ids
        .iter()
        .any(|id| id.trim().is_empty() || id.len() > 100)
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            format!("{field}.ids"),
            "assignee ids must be 1 to 100 characters",
        ));
    }
    Ok(())
}

/// Checks that metadata is a JSON object of bounded size.
pub fn check_metadata(
    value: Option<serde_json::Value>,
    field: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, FieldError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) => {
            let size = serde_json::to_string(&map).map(|s| s.len()).unwrap_or(0);
            if size > MAX_METADATA_BYTES {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    field,
                    format!("must be at most {MAX_METADATA_BYTES} bytes as JSON"),
                ));
            }
            Ok(Some(map))
        }
        Some(_) => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must be a JSON object",
        )),
    }
}

impl NewCallback {
    /// A callback assigned to an agent that says nothing of falling back takes the account's
    /// `fallback_after_minutes` and `fallback_queue_id`.
    pub fn takes_account_fallback(&self) -> bool {
        self.fallback_after_minutes.is_none()
            && self.fallback_queue_id.is_none()
            && falls_back(self.assignment.as_ref())
    }

    /// Validates every field and builds the callback to store. Returns it with the
    /// `allow_duplicate` flag. `prefix` names the field path for batch items (`callbacks[3].`).
    pub fn validate(
        self,
        account_id: &AccountId,
        origin: Origin,
        now: Timestamp,
        policy: CreatePolicy,
        prefix: &str,
    ) -> Result<(Callback, bool), FieldError> {
        let f = |name: &str| format!("{prefix}{name}");
        let phone = PhoneNumber::parse(&self.phone, &f("phone"))?;
        let timezone = match &self.timezone {
            Some(name) => Some(Zone::parse(name, &f("timezone"))?),
            None => None,
        };
        if self.scheduled_at.is_empty() {
            return Err(FieldError::new(
                ErrorCode::MissingField,
                f("scheduled_at"),
                "missing field `scheduled_at` (or give a `slot_id`)",
            ));
        }
        let scheduled_at =
            parse_scheduled_at(&self.scheduled_at, timezone.as_ref(), &f("scheduled_at")).map_err(
                |mut e| {
                    if e.code == ErrorCode::MissingField {
                        e.field = f("timezone");
                    }
                    e
                },
            )?;
        check_lead_time(scheduled_at, now, policy, &f("scheduled_at"))?;
        let caller_id = self
            .caller_id
            .filter(|c| !c.trim().is_empty())
            .map(|c| PhoneNumber::parse(&c, &f("caller_id")))
            .transpose()?;
        let caller_id_pool = self
            .caller_id_pool
            .map(|p| crate::domain::caller_id::parse_pool(&p, &f("caller_id_pool")))
            .transpose()?;
        if caller_id.is_some() && caller_id_pool.is_some() {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                f("caller_id_pool"),
                "send caller_id or caller_id_pool, not both",
            ));
        }
        if let Some(a) = &self.assignment {
            check_assignment(a, &f("assignment"))?;
        }
        let fallback = Fallback::parse(
            self.fallback_after_minutes.flatten(),
            self.fallback_queue_id.as_deref(),
            prefix,
        )?;
        if fallback.is_some() && !falls_back(self.assignment.as_ref()) {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                f("fallback_after_minutes"),
                "applies only to a callback assigned to an agent (assignment.type agent)",
            ));
        }
        let expire_after_minutes = in_range(
            self.expire_after_minutes,
            &f("expire_after_minutes"),
            1,
            7 * 24 * 60,
            Some(DEFAULT_EXPIRE_AFTER_MINUTES),
        )?
        .unwrap_or(DEFAULT_EXPIRE_AFTER_MINUTES);
        let max_duration_seconds = in_range(
            self.max_duration_seconds,
            &f("max_duration_seconds"),
            10,
            4 * 60 * 60,
            Some(DEFAULT_MAX_DURATION_SECONDS),
        )?
        .unwrap_or(DEFAULT_MAX_DURATION_SECONDS);
        let reminder_minutes_before = in_range(
            self.reminder_minutes_before,
            &f("reminder_minutes_before"),
            1,
            7 * 24 * 60,
            None,
        )?;
        // Without a zone of the request's, the number's (the API may find the contact's).
        let (timezone, timezone_source) = match timezone {
            Some(zone) => (zone, ZoneSource::Request),
            None => (
                Location::locate(&phone, None, None).display_zone().clone(),
                ZoneSource::Number,
            ),
        };
        let callback = Callback {
            id: CallbackId::generate(),
            account_id: account_id.clone(),
            origin,
            status: Status::Scheduled,
            phone,
            contact_name: text(self.contact_name, &f("contact_name"), MAX_NAME)?,
            scheduled_at,
            timezone,
            timezone_source,
            region: None,
            due_at: scheduled_at,
            expires_at: Callback::deadline(scheduled_at, expire_after_minutes),
            attempt: 0,
            attempt_open: false,
            assignment: self.assignment,
            fallback,
            caller_id,
            dialing_mode: self.dialing_mode.unwrap_or(DialingMode::Unattended),
            notes: text(self.notes, &f("notes"), MAX_TEXT)?,
            metadata: check_metadata(self.metadata, &f("metadata"))?,
            interaction_id: text(self.interaction_id, &f("interaction_id"), MAX_NAME)?,
            reminder_minutes_before,
            expire_after_minutes,
            max_duration_seconds,
            recording_enabled: self.recording_enabled.unwrap_or(true),
            initial_message: text(self.initial_message, &f("initial_message"), MAX_TEXT)?,
            webhook_url: self
                .webhook_url
                .map(|raw| WebhookUrl::parse_field(&raw, &f("webhook_url")))
                .transpose()?,
            outcome: None,
            disposition: None,
            caller_id_pool,
            agent_id: None,
            offer_expires_at: None,
            campaign_id: None,
            contact_id: None,
            recall: match &self.recall {
                Some(v) => crate::domain::campaign::RecallPolicy::parse(v, &f("recall"))?,
                None => crate::domain::campaign::RecallPolicy::default(),
            },
            calling_window: None,
            amd: self.amd.unwrap_or_default(),
            priority: crate::domain::routing::parse_priority(self.priority, &f("priority"))?,
            skills: crate::domain::routing::Skills::parse(
                self.skills.as_ref().unwrap_or(&serde_json::Value::Null),
                &f("skills"),
            )?,
            ring_timeout_seconds: in_range(
                self.ring_timeout_seconds,
                &f("ring_timeout_seconds"),
                5,
                300,
                None,
            )?,
            trunk_id: self
                .trunk_id
                .map(|raw| {
                    crate::domain::ids::TrunkId::parse(raw.trim()).ok_or_else(|| {
                        FieldError::new(
                            ErrorCode::InvalidField,
                            f("trunk_id"),
                            "must be a trunk id (trk_...)",
                        )
                    })
                })
                .transpose()?,
            queued_since: None,
            created_at: now,
            updated_at: now,
            created_by: None,
            version: 1,
        };
        // The URL as stored (normalised, so perhaps longer than as received) is held to the
        // same limit, once every other field has passed.
        if let Some(url) = &callback.webhook_url
            && url.as_str().len() > MAX_URL_LEN
        {
            return Err(FieldError::new(
                ErrorCode::InvalidUrl,
                f("webhook_url"),
                format!("must be at most {MAX_URL_LEN} characters"),
            ));
        }
        Ok((callback, self.allow_duplicate.unwrap_or(false)))
    }
}
