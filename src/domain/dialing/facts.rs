//! What [`decide`](super::decide) is told about one call: the [`Facts`], the attempts
//! already made ([`History`]) and the campaign ([`CampaignFacts`]).

use jiff::Timestamp;

use super::Location;
use crate::domain::{
    Callback, DialingMode, Status, campaign::CampaignStatus, consent::ConsentState,
    window::CallingWindow,
};

/// Attempts already made to the callee's number (or about the same debt), from whatever
/// created them, skipped ones excepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// When each attempt started, oldest first. The stores hands over those of the cap's
    /// period before `now`; earlier ones are ignored.
    pub started: Vec<Timestamp>,
    /// When the last answered call ended.
    pub last_answered: Option<Timestamp>,
    /// The debt (`metadata.debt_ref`) whose attempts are counted beside the number's.
    pub debt: Option<String>,
}

/// The campaign a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignFacts {
    pub status: CampaignStatus,
    /// Calls it may still start under its pacing (`max_concurrent_calls` minus the ones being
    /// placed or in progress); `None` when not counted.
    pub room: Option<i64>,
}

/// Everything [`decide`](super::decide) needs to know about one call.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub status: Status,
    /// When the call is due (the requested time, a recall's time, a retry's time).
    pub due_at: Timestamp,
    /// Number of the current (or last) attempt; 0 before the first.
    pub attempt: u32,
    /// The current attempt has no outcome yet (the call is being retried after the dialer
    /// refused it), so a new dispatch continues it rather than starting another.
    pub attempt_open: bool,
    pub campaign: Option<CampaignFacts>,
    pub dialing_mode: DialingMode,
    /// The callback's own window (a campaign's); `None`: the account's.
    pub window: Option<&'a CallingWindow>,
    pub location: &'a Location,
    pub on_dnc: bool,
    /// What the customer consented to (or withdrew) for the number.
    pub consent: ConsentState,
    pub history: &'a History,
    /// Agents free to take a preview call, where that was counted.
    pub free_agents: Option<u32>,
}

impl<'a> Facts<'a> {
    /// The facts a stored callback carries; the caller adds the do-not-call hit, the campaign
    /// and the free agents it knows.
    pub fn of(cb: &'a Callback, location: &'a Location, history: &'a History) -> Self {
        Self {
            status: cb.status,
            due_at: cb.due_at,
            attempt: cb.attempt,
            attempt_open: cb.attempt_open,
            campaign: None,
            dialing_mode: cb.dialing_mode,
            window: cb.calling_window.as_ref(),
            location,
            on_dnc: false,
            consent: ConsentState::default(),
            history,
            free_agents: None,
        }
    }

    /// An automated attempt: a campaign call, or any attempt after the first call of a one-off
    /// callback (a recall). The first call of a one-off callback, retries after the dialer
    /// refused it included, is at the time the customer asked for.
    pub fn is_automated(&self) -> bool {
        let first_call = self.attempt == 0 || (self.attempt == 1 && self.attempt_open);
        self.campaign.is_some() || !first_call
    }
}
