//! A callback's attempts and history: one call [`Attempt`] and one [`CallbackEvent`].

use jiff::Timestamp;
use serde::Serialize;

use super::Outcome;

/// One call attempt: committed before the bridge is called.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub number: u32,
    #[schema(value_type = String)]
    pub started_at: Timestamp,
    /// Requests sent to the bridge for this attempt (retries after refusals included).
    pub bridge_requests: u32,
    /// Requests sent again because the outcome of an earlier one was unknown (a crash or a
    /// lease taken over); the bridge dedupes them by idempotency key.
    pub resends: u32,
    pub last_bridge_status: Option<u16>,
    #[schema(value_type = Option<String>)]
    pub accepted_at: Option<Timestamp>,
    pub outcome: Option<Outcome>,
    /// The disposition (wrap-up code) the call was completed with; `outcome` is its class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    pub duration_seconds: Option<u32>,
    pub notes: Option<String>,
    #[schema(value_type = Option<String>)]
    pub ended_at: Option<Timestamp>,
    /// The agent who took the call (preview mode).
    pub agent_id: Option<String>,
    /// The number the call presented: its callback's `caller_id`, or the one picked from its
    /// `caller_id_pool`; left out when the trunk's own was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// The final SIP response of a call on a `sip` trunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_code: Option<u16>,
    /// Its reason phrase, or why the call ended without one (a ring timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_reason: Option<String>,
    /// What answering-machine detection found (`human`, `machine`, `unknown`), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// Where the call's recording is served (`GET /v1/calls/{id}/recording`), once it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// The provider's id of a call placed through its API (a `twilio_compatible` trunk's
    /// `CallSid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_call_id: Option<String>,
    /// The state of the call's leg as its provider last reported it (`initiated`, `ringing`,
    /// `answered`, `ended`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leg_state: Option<String>,
    /// What the provider reported beyond the outcome (its call status, duration, SIP
    /// response, recording URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub provider_details: Option<serde_json::Value>,
}

impl Attempt {
    /// The id of attempt `number` of `callback` as a call: `cb_....2`.
    pub fn call_id(callback: &super::CallbackId, number: u32) -> String {
        format!("{callback}.{number}")
    }

    /// The path that serves the recording of attempt `number` of `callback`.
    pub fn recording_url(callback: &super::CallbackId, number: u32) -> String {
        format!("/v1/calls/{}/recording", Self::call_id(callback, number))
    }
}

/// One entry of a callback's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallbackEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = String)]
    pub at: Timestamp,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}
