//! Where a callback is in its life and what it is: its [`Status`] and the transitions the
//! statuses allow, its [`DialingMode`], its [`Origin`] and a call's [`Outcome`].

use serde::{Deserialize, Serialize};

/// Where a callback is in its life.
///
/// ```text
/// unattended, ai:
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
///
/// progressive (dialled only when an agent is free, who is reserved for it):
/// scheduled -> waiting -> scheduled (agent reserved, due now) -> dispatching -> as unattended
/// preview on a sip trunk: offered -> scheduled (the accepting agent, due now) -> dispatching
///
/// an outcome reported while dispatching or in progress: completed | failed | canceled (skipped_dnc),
///   or scheduled for the next attempt when it calls for a recall
/// completed | failed | canceled | expired -> scheduled when reopened (a dialect asks again)
/// ```
///
/// [`Status::after`] holds these moves as a table.
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

    /// The status `step` leaves a callback in that is in this one, or `None` if this status
    /// does not allow it: the diagram above, as a table.
    pub fn after(self, step: Move) -> Option<Status> {
        use Status::*;
        let next = match (step, self) {
            (Move::Edit, Scheduled | Waiting | Offered) => Scheduled,
            (Move::Cancel, Scheduled | Waiting | Offered) => Canceled,
            (Move::Dispatch, Scheduled) => Dispatching,
            (Move::Line, Scheduled) => Waiting,
            (Move::Retry, Dispatching) => Scheduled,
            (Move::Offer, Waiting) => Offered,
            (Move::Reserve, Waiting | Offered) => Scheduled,
            (Move::Withdraw, Offered) => Waiting,
            (Move::Start, Dispatching | Offered) => InProgress,
            (Move::Report(outcome), Dispatching | InProgress) => outcome.final_status(),
            (Move::Recall, Dispatching | InProgress) => Scheduled,
            (Move::Expire, Scheduled | Waiting | Offered | Dispatching) => Expired,
            (Move::Reopen, Completed | Failed | Expired | Canceled) => Scheduled,
            _ => return None,
        };
        Some(next)
    }

    /// Whether some [`Move`] takes a callback from this status to `next`.
    pub fn can_move_to(self, next: Status) -> bool {
        Move::ALL
            .into_iter()
            .any(|step| self.after(step) == Some(next))
    }

    /// Only a callback nobody has started dialling may be edited or canceled. A waiting or
    /// offered one goes back to `scheduled` when its time changes.
    pub fn is_editable(self) -> bool {
        self.after(Move::Edit).is_some()
    }

    /// An outcome may be reported once the bridge has the call. `dispatching` is included
    /// because a fast bridge may report before its acceptance has been recorded.
    pub fn accepts_outcome(self) -> bool {
        self.after(Move::Report(Outcome::Answered)).is_some()
    }
}

/// What can happen to a callback that changes its [`Status`] ([`Status::after`] says from which
/// statuses, and to which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// A user changes its time or fields: (back) to `scheduled`, an offer withdrawn.
    Edit,
    /// A user cancels it, or the scheduler skips it (its number is on the do-not-call list).
    Cancel,
    /// Due: a progressive or AI call is handed to the dialer bridge.
    Dispatch,
    /// Due: a preview callback lines up for an agent (`waiting`).
    Line,
    /// The bridge refused the dispatch: `scheduled` again, for a retry.
    Retry,
    /// Offered to an agent.
    Offer,
    /// An agent is reserved for the call and Ringback dials it: a free agent for a
    /// progressive callback in line, or the agent accepting a preview offer on a `sip` trunk.
    /// `scheduled` again, due now, for the scheduler.
    Reserve,
    /// The agent rejected the offer or let it time out: back in line.
    Withdraw,
    /// The call started: the bridge has it, or the agent accepted the offer.
    Start,
    /// An outcome is reported: the callback ends in the outcome's final status.
    Report(Outcome),
    /// An outcome is reported that calls for another attempt (no answer, with a recall left):
    /// `scheduled` for the next one.
    Recall,
    /// Its deadline passed before anyone called (or no instant will do for it).
    Expire,
    /// Asked for again after it ended (a dialect's `callContactAt`). The store also refuses to
    /// reopen one canceled because the number is on the do-not-call list.
    Reopen,
}

impl Move {
    /// Every move, each outcome's report included.
    pub const ALL: [Move; 19] = [
        Move::Edit,
        Move::Cancel,
        Move::Dispatch,
        Move::Line,
        Move::Retry,
        Move::Offer,
        Move::Reserve,
        Move::Withdraw,
        Move::Start,
        Move::Report(Outcome::Answered),
        Move::Report(Outcome::NoAnswer),
        Move::Report(Outcome::Busy),
        Move::Report(Outcome::Voicemail),
        Move::Report(Outcome::Failed),
        Move::Report(Outcome::SkippedDnc),
        Move::Report(Outcome::SkippedNoConsent),
        Move::Recall,
        Move::Expire,
        Move::Reopen,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DialingMode {
    /// The call is placed at its time with no agent waiting: for dialer bridges that connect
    /// it themselves and for message-only calls. The default.
    #[serde(alias = "UNATTENDED")]
    Unattended,
    /// An agent sees the callback before the call is placed.
    #[serde(alias = "PREVIEW")]
    Preview,
    /// The call is placed only when an agent who may take it is free; that agent is reserved
    /// while it rings and the answered customer is connected to them.
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
            DialingMode::Unattended => "unattended",
        }
    }

    /// Whether a due callback of this mode waits in line for a free agent (the router's work)
    /// rather than being dialled at its time (the scheduler's).
    pub fn waits_for_agent(self) -> bool {
        matches!(self, DialingMode::Preview | DialingMode::Progressive)
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Unattended, Self::Preview, Self::Progressive, Self::Ai]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Answering-machine detection on the calls Ringback places itself (`sip` trunks): `off`;
/// `detect`, which hangs up on a machine (outcome `voicemail`, the recall policy decides); or
/// `drop`, which waits for the greeting's beep, plays the playbook's `voicemail_audio` and
/// hangs up (outcome `voicemail_left`). A human (or an unknown answer) goes on as the call's
/// mode says; the attempt keeps `answered_by`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Amd {
    #[default]
    Off,
    Detect,
    Drop,
}

impl Amd {
    pub fn as_str(self) -> &'static str {
        match self {
            Amd::Off => "off",
            Amd::Detect => "detect",
            Amd::Drop => "drop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Amd::Off, Amd::Detect, Amd::Drop]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    pub fn is_off(&self) -> bool {
        *self == Amd::Off
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
    /// The network says the number does not exist (SIP 404, 484, 604): never called again.
    InvalidNumber,
    /// An answering machine took the call and Ringback left the playbook's message after its
    /// beep (`amd: "drop"`): done, never recalled.
    VoicemailLeft,
    /// Never dialled: the number is on the do-not-call list.
    SkippedDnc,
    /// Never dialled: the customer revoked consent the call needed, or the account requires
    /// consent that was never given.
    SkippedNoConsent,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Voicemail => "voicemail",
            Outcome::Failed => "failed",
            Outcome::InvalidNumber => "invalid_number",
            Outcome::VoicemailLeft => "voicemail_left",
            Outcome::SkippedDnc => "skipped_dnc",
            Outcome::SkippedNoConsent => "skipped_no_consent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Answered,
            Self::NoAnswer,
            Self::Busy,
            Self::Voicemail,
            Self::Failed,
            Self::InvalidNumber,
            Self::VoicemailLeft,
            Self::SkippedDnc,
            Self::SkippedNoConsent,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// The final state a callback reaches with this outcome.
    pub fn final_status(self) -> Status {
        match self {
            Outcome::Answered | Outcome::VoicemailLeft => Status::Completed,
            Outcome::SkippedDnc | Outcome::SkippedNoConsent => Status::Canceled,
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

    #[test]
    fn outcomes_are_taken_once_the_bridge_has_the_call() {
        for st in Status::ALL {
            let calling = matches!(st, Status::Dispatching | Status::InProgress);
            assert_eq!(st.accepts_outcome(), calling, "{st:?}");
            for step in Move::ALL {
                if let Move::Report(outcome) = step {
                    let to = calling.then(|| outcome.final_status());
                    assert_eq!(st.after(step), to, "{st:?} {step:?}");
                }
            }
        }
    }

    #[test]
    fn the_moves_follow_the_diagram() {
        use Status::*;
        // Every edge of the diagram on `Status`, and no other.
        let edges = [
            (Scheduled, Scheduled),
            (Scheduled, Dispatching),
            (Scheduled, Waiting),
            (Scheduled, Canceled),
            (Scheduled, Expired),
            (Waiting, Scheduled),
            (Waiting, Offered),
            (Waiting, Canceled),
            (Waiting, Expired),
            (Offered, Scheduled),
            (Offered, Waiting),
            (Offered, InProgress),
            (Offered, Canceled),
            (Offered, Expired),
            (Dispatching, Scheduled),
            (Dispatching, InProgress),
            (Dispatching, Completed),
            (Dispatching, Failed),
            (Dispatching, Canceled),
            (Dispatching, Expired),
            (InProgress, Scheduled),
            (InProgress, Completed),
            (InProgress, Failed),
            (InProgress, Canceled),
            (Completed, Scheduled),
            (Failed, Scheduled),
            (Canceled, Scheduled),
            (Expired, Scheduled),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    edges.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        // Only a reopen leaves a final status.
        for st in Status::ALL.into_iter().filter(|s| s.is_final()) {
            for step in Move::ALL {
                assert_eq!(
                    st.after(step).is_some(),
                    step == Move::Reopen,
                    "{st:?} {step:?}"
                );
            }
        }
    }
}
