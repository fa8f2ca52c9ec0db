//! Talkdesk's wire shapes: the request bodies and query Talkdesk clients send (assignees,
//! `assign_type`, a new callback, the list query, JSON Patch operations) and the callback
//! object rendered back, with its Talkdesk status.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::error::ApiError,
    domain::{
        AssigneeKind, Assignment, Callback, DialingMode, ErrorCode, FieldError, Origin, Outcome,
        Status, callback::check_assignment,
    },
};

/// An assignee as `"id"` or as `{"agent_id": "id"}` / `{"ring_group": "id"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Assignee {
    Id(String),
    Agent { agent_id: String },
    RingGroup { ring_group: String },
}

impl Assignee {
    fn id(self) -> String {
        match self {
            Assignee::Id(id)
            | Assignee::Agent { agent_id: id }
            | Assignee::RingGroup { ring_group: id } => id,
        }
    }
}

/// The body of a new scheduled callback. Fields of Talkdesk's callback object that Ringback
/// does not model (`teams`, `from_call_type`, `record_*` ...) are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct NewScheduledCallback {
    #[serde(alias = "phoneNumber", alias = "contact_phone_number")]
    pub(super) phone_number: Option<String>,
    #[serde(
        alias = "scheduledTimeToCall",
        alias = "time_to_call",
        alias = "timeToCall"
    )]
    pub(super) scheduled_time_to_call: Option<String>,
    pub(super) timezone: Option<String>,
    #[serde(alias = "assignType", alias = "assignment_type")]
    pub(super) assign_type: Option<String>,
    #[serde(default)]
    pub(super) agents: Option<Vec<Assignee>>,
    #[serde(alias = "ringGroups", default)]
    pub(super) ring_groups: Option<Vec<Assignee>>,
    /// Assignees of either kind, as `assign_type` says.
    #[serde(default)]
    pub(super) assignees: Option<Vec<Assignee>>,
    #[serde(alias = "callerId")]
    pub(super) caller_id: Option<String>,
    #[serde(alias = "dialingModel", alias = "dialing_mode", alias = "dialingMode")]
    pub(super) dialing_model: Option<String>,
    #[serde(alias = "interactionId")]
    pub(super) interaction_id: Option<String>,
    pub(super) notes: Option<String>,
}

/// What `assign_type` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AssignType {
    Agents,
    RingGroups,
    Anyone,
}

impl AssignType {
    pub(super) fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "SPECIFIC_AGENT" | "SPECIFIC_AGENTS" | "AGENT" | "AGENTS" => Ok(Self::Agents),
            "SPECIFIC_RING_GROUP"
            | "SPECIFIC_RING_GROUPS"
            | "RING_GROUP"
            | "RING_GROUPS"
            | "QUEUE"
            | "QUEUES" => Ok(Self::RingGroups),
            "ANY_ELIGIBLE_AGENT" => Ok(Self::Anyone),
            _ => Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!(
                    "{raw:?} is not supported; use SPECIFIC_AGENT, SPECIFIC_RING_GROUP or \
                     ANY_ELIGIBLE_AGENT"
                ),
            )
            .into()),
        }
    }

    pub(super) fn of(assignment: Option<&Assignment>) -> Self {
        match assignment.map(|a| a.kind) {
            Some(AssigneeKind::Agent) => Self::Agents,
            Some(AssigneeKind::Queue) => Self::RingGroups,
            None => Self::Anyone,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Agents => "SPECIFIC_AGENT",
            Self::RingGroups => "SPECIFIC_RING_GROUP",
            Self::Anyone => "ANY_ELIGIBLE_AGENT",
        }
    }

    /// The assignment for these assignees; agents and ring groups need at least one.
    pub(super) fn assignment(
        self,
        ids: Option<Vec<Assignee>>,
        field: &str,
    ) -> Result<Option<Assignment>, ApiError> {
        let kind = match self {
            Self::Anyone => return Ok(None),
            Self::Agents => AssigneeKind::Agent,
            Self::RingGroups => AssigneeKind::Queue,
        };
        let assignment = Assignment {
            kind,
            ids: ids
                .unwrap_or_default()
                .into_iter()
                .map(Assignee::id)
                .collect(),
        };
        check_assignment(&assignment, field).map_err(|mut e| {
            e.field = field.to_owned();
            e
        })?;
        Ok(Some(assignment))
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    #[serde(alias = "phoneNumber")]
    pub(super) phone_number: Option<String>,
    pub(super) page: Option<String>,
    pub(super) per_page: Option<String>,
    pub(super) status: Option<String>,
    pub(super) agent_id: Option<String>,
    pub(super) campaign_id: Option<String>,
}

impl ListQuery {
    /// The parameters the list takes; any other is refused rather than ignored (a filter
    /// silently dropped returns everything).
    pub(super) const PARAMETERS: [&'static str; 7] = [
        "phone_number",
        "phoneNumber",
        "page",
        "per_page",
        "status",
        "agent_id",
        "campaign_id",
    ];
}

/// One JSON Patch operation (`from`, used only by `move` and `copy`, is ignored: those
/// operations are refused).
#[derive(Debug, Deserialize)]
pub(super) struct PatchOp {
    pub(super) op: String,
    pub(super) path: String,
    pub(super) value: Option<Value>,
}

/// The Talkdesk status of a callback.
pub fn talkdesk_status(cb: &Callback) -> &'static str {
    match cb.status {
        Status::Scheduled if cb.attempt == 0 => "UNATTEMPTED",
        Status::Scheduled => "TO_BE_RETRIED",
        // Due and waiting for an agent, offered to one, or being dialled.
        Status::Waiting | Status::Offered | Status::Dispatching | Status::InProgress => {
            "IN_PROGRESS"
        }
        Status::Completed => "SUCCESS",
        Status::Canceled => "CANCELED",
        Status::Failed if matches!(cb.outcome, Some(Outcome::Failed | Outcome::InvalidNumber)) => {
            "INVALID_NUMBER"
        }
        Status::Failed | Status::Expired => "EXHAUSTED",
    }
}

/// The Talkdesk `dialing_model` of a native dialling mode: Talkdesk documents `PREVIEW` (an
/// agent sees the callback, then dials) and `PREDICTIVE` (the system dials and connects
/// whoever answers). Every mode in which Ringback places the call itself is the latter.
pub fn dialing_model(mode: DialingMode) -> &'static str {
    match mode {
        DialingMode::Preview => "PREVIEW",
        DialingMode::Progressive | DialingMode::Ai | DialingMode::Unattended => "PREDICTIVE",
    }
}

/// The Talkdesk `origin` of a native origin: Talkdesk knows callbacks scheduled by an agent
/// and by its API. The Callback Manager is where agents schedule; every other system that
/// schedules through Ringback (its API, the other dialects, campaigns) is an API.
pub fn origin(origin: Origin) -> &'static str {
    match origin {
        Origin::Ui => "AGENT",
        Origin::Api
        | Origin::Campaign
        | Origin::Kore
        | Origin::Acefone
        | Origin::AiCalls
        | Origin::Campaigns
        | Origin::Talkdesk => "API",
    }
}

/// The callback object, from a stored callback.
pub fn callback(cb: &Callback) -> Value {
    let ids = |kind: AssigneeKind, key: &str| -> Vec<Value> {
        cb.assignment
            .as_ref()
            .filter(|a| a.kind == kind)
            .map(|a| a.ids.iter().map(|id| json!({ key: id })).collect())
            .unwrap_or_default()
    };
    let next = cb.status.is_editable().then(|| cb.due_at.to_string());
    // The contact's name as first and last: its first word, and the rest.
    let name = cb
        .contact_name
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    let (first, last) = match name.split_once(char::is_whitespace) {
        Some((first, last)) => (Some(first), Some(last.trim_start())),
        None => ((!name.is_empty()).then_some(name), None),
    };
    json!({
        "id": cb.id.as_str(),
        "callback_id": cb.id.as_str(),
        "account_id": cb.account_id.as_str(),
        "interaction_id": cb.interaction_id,
        "caller_id": cb.caller_id.as_ref().map(|c| c.as_str()),
        "phone_number": cb.phone.as_str(),
        "record_first_name": first,
        "record_last_name": last,
        "campaign_id": cb.campaign_id.as_ref().map(|c| c.as_str()),
        "scheduled_time_to_call": cb.scheduled_at.to_string(),
        "time_to_call": cb.scheduled_at.to_string(),
        "next_time_to_call": next,
        "timezone": cb.timezone.name(),
        "assign_type": AssignType::of(cb.assignment.as_ref()).as_str(),
        "agents": ids(AssigneeKind::Agent, "agent_id"),
        "ring_groups": ids(AssigneeKind::Queue, "ring_group"),
        "dialing_model": dialing_model(cb.dialing_mode),
        "notes": cb.notes,
        "origin": origin(cb.origin),
        "created_by": cb.created_by,
        "status": talkdesk_status(cb),
        "created_at": cb.created_at.to_string(),
        "updated_at": cb.updated_at.to_string(),
        // Talkdesk's own link form; `GET /callbacks/{id}` answers it.
        "_links": { "self": { "href": format!("/callbacks/{}", cb.id) } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_native_origin_shows_as_one_talkdesk_documents() {
        for native in Origin::ALL {
            let expected = if native == Origin::Ui { "AGENT" } else { "API" };
            assert_eq!(origin(native), expected, "{native:?}");
        }
    }

    #[test]
    fn every_dialing_mode_shows_as_one_talkdesk_documents() {
        for (native, expected) in [
            (DialingMode::Preview, "PREVIEW"),
            (DialingMode::Progressive, "PREDICTIVE"),
            (DialingMode::Ai, "PREDICTIVE"),
            (DialingMode::Unattended, "PREDICTIVE"),
        ] {
            assert_eq!(dialing_model(native), expected, "{native:?}");
            assert_eq!(DialingMode::parse(native.as_str()), Some(native));
        }
    }
}
