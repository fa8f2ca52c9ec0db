//! What stops a call: the rule ([`BlockCode`]) and its reason and lifting time ([`Block`]).

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

/// A rule that stops a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockCode {
    /// The callback has ended.
    FinalState,
    /// Its time has not come.
    NotDue,
    /// The number is on the do-not-call list.
    Dnc,
    /// The customer revoked consent the call needs, or the account requires consent that was
    /// never given.
    NoConsent,
    /// The number (or debt) had the account's most attempts in its period.
    AttemptCap,
    /// The number answered an automated call too recently.
    QuietPeriod,
    /// Outside the calling window (hours, days, blackout dates, holidays, regional windows) in
    /// some zone the callee may be in.
    CallingWindow,
    /// Its campaign is paused (or ended).
    CampaignPaused,
    /// Its campaign has as many calls under way as its pacing allows.
    Pacing,
    /// A preview call, and no agent is free.
    NoAgent,
}

impl BlockCode {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockCode::FinalState => "final_state",
            BlockCode::NotDue => "not_due",
            BlockCode::Dnc => "dnc",
            BlockCode::NoConsent => "no_consent",
            BlockCode::AttemptCap => "attempt_cap",
            BlockCode::QuietPeriod => "quiet_period",
            BlockCode::CallingWindow => "calling_window",
            BlockCode::CampaignPaused => "campaign_paused",
            BlockCode::Pacing => "pacing",
            BlockCode::NoAgent => "no_agent",
        }
    }

    /// Lifted by the passing of time alone (it says `until`), or by nothing but an event (a
    /// resume, a free agent, a call ending) or never.
    pub(super) fn lifts_by_time(self) -> bool {
        matches!(
            self,
            BlockCode::NotDue
                | BlockCode::AttemptCap
                | BlockCode::QuietPeriod
                | BlockCode::CallingWindow
        )
    }
}

impl fmt::Display for BlockCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What stops a call, and when it lifts by itself, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub code: BlockCode,
    pub reason: String,
    pub until: Option<Timestamp>,
}
