//! Where a callback is in its life and what it is: its [`Status`] and the transitions the
//! statuses allow, its [`DialingMode`], its [`Origin`] and a call's [`Outcome`].

use serde::{Deserialize, Serialize};

/// Where a callback is in its life.
///
/// ```text
/// progressive, ai:
/// scheduled -> dispatching -> in_progress -> completed | failed
///     |  ^          |  \
///     |  '----------'   '-> expired (bridge kept refusing until the deadline)
///     '-> canceled | expired
///
/// preview (an agent takes the call):
/// scheduled -> waiting <-> offered -> in_progress -> completed | failed
///                 |           |
///                 '-> expired '-> (rejected or timed out: back to waiting)
/// scheduled | waiting | offered -> canceled, or back to scheduled when rescheduled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    /// A preview callback that is due, in line for an agent.
    Waiting,
    /// Offered to one agent, who has until `offer_expires_at` to accept or reject it.
    Offered,
    Dispatching,
    InProgress,
    Completed,
    Failed,
    Canceled,
    Expired,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Scheduled,
        Status::Waiting,
        Status::Offered,
        Status::Dispatching,
        Status::InProgress,
        Status::Completed,
        Status::Failed,
        Status::Canceled,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Waiting => "waiting",
            Status::Offered => "offered",
            Status::Dispatching => "dispatching",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Active callbacks still hold a claim on the customer's phone number.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Scheduled
                | Status::Waiting
                | Status::Offered
                | Status::Dispatching
                | Status::InProgress
        )
    }

    pub fn is_final(self) -> bool {
        !self.is_active()
    }

    /// Only a callback nobody has started dialling may be edited or canceled. A waiting or
    /// offered one goes back to `scheduled` when its time changes.
    pub fn is_editable(self) -> bool {
        matches!(self, Status::Scheduled | Status::Waiting | Status::Offered)
    }

    /// An outcome may be reported once the bridge has the call. `dispatching` is included
    /// because a fast bridge may report before its acceptance has been recorded.
    pub fn accepts_outcome(self) -> bool {
        matches!(self, Status::Dispatching | Status::InProgress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DialingMode {
    /// An agent sees the callback before the call is placed.
    #[serde(alias = "PREVIEW")]
    Preview,
    /// The call is placed and connected to an agent when answered.
    #[serde(alias = "PROGRESSIVE")]
    Progressive,
    /// An AI voice agent places and handles the call.
    #[serde(alias = "AI")]
    Ai,
}

impl DialingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DialingMode::Preview => "preview",
            DialingMode::Progressive => "progressive",
            DialingMode::Ai => "ai",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Preview, Self::Progressive, Self::Ai]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Which system created a callback: the native API, the web UI, a campaign, or one of the
/// compatible dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Api,
    Ui,
    Campaign,
    Kore,
    Acefone,
    AiCalls,
    Campaigns,
    Talkdesk,
}

impl Origin {
    pub const ALL: [Origin; 8] = [
        Origin::Api,
        Origin::Ui,
        Origin::Campaign,
        Origin::Kore,
        Origin::Acefone,
        Origin::AiCalls,
        Origin::Campaigns,
        Origin::Talkdesk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Ui => "ui",
            Origin::Campaign => "campaign",
            Origin::Kore => "kore",
            Origin::Acefone => "acefone",
            Origin::AiCalls => "ai_calls",
            Origin::Campaigns => "campaigns",
            Origin::Talkdesk => "talkdesk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// What happened on the call, as reported by the dialer bridge or an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    NoAnswer,
    Busy,
    Voicemail,
    Failed,
    /// Never dialled: the number is on the do-not-call list.
    SkippedDnc,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Voicemail => "voicemail",
            Outcome::Failed => "failed",
            Outcome::SkippedDnc => "skipped_dnc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Answered,
            Self::NoAnswer,
            Self::Busy,
            Self::Voicemail,
            Self::Failed,
            Self::SkippedDnc,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// The final state a callback reaches with this outcome.
    pub fn final_status(self) -> Status {
        match self {
            Outcome::Answered => Status::Completed,
            Outcome::SkippedDnc => Status::Canceled,
            _ => Status::Failed,
        }
    }

    /// Does a recall policy call again after this outcome?
    pub fn is_recallable(self) -> bool {
        matches!(
            self,
            Outcome::NoAnswer | Outcome::Busy | Outcome::Voicemail | Outcome::Failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_callbacks_nobody_is_calling_are_editable() {
        for st in Status::ALL {
            let untouched = matches!(st, Status::Scheduled | Status::Waiting | Status::Offered);
            assert_eq!(st.is_editable(), untouched);
            assert_eq!(Status::parse(st.as_str()), Some(st));
        }
    }
}
