//! The dial decision: may this call be placed at this instant, and if not, every rule that
//! stops it and the instant that rule lifts.
//!
//! [`decide`] is the one place these rules live. The dispatch guard, `/eligibility`, create
//! and dry-run answers, campaign planning, recall planning and the preview offers all call it
//! (or [`earliest_dial`], which asks it again until nothing blocks); none keeps a rule of its
//! own. It is pure: the callers gather the [`Facts`] (the callback, the do-not-call hit, the
//! attempts to the number, the campaign, the free agents) and the account's
//! [`AccountSettings`], and pass `now`.
//!
//! **Where the callee is.** A call is judged in the zone the request named, else the contact's,
//! else every zone the number may be in ([`Location`]): a call is placed only when the calling
//! window holds in each of them (the *safe window*), so a toll-free number is called only at
//! hours that are legal from Honolulu to St. John's.

use jiff::{SignedDuration, Timestamp};

use super::{
    Status,
    campaign::{AccountSettings, CampaignStatus},
};

mod blocks;
mod calendar;
mod earliest;
mod evidence;
mod facts;
mod location;
mod safe_window;

pub use blocks::{Block, BlockCode};
pub use calendar::{Holiday, MAX_HOLIDAYS, MAX_REGIONAL_WINDOWS, RegionalWindow};
pub use earliest::earliest_dial;
pub use evidence::evidence;
pub use facts::{CampaignFacts, Facts, History};
pub use location::{Location, ZoneSource};
pub use safe_window::SafeWindow;

/// The answer of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The instant judged: `now`, or the due time if that is later.
    pub at: Timestamp,
    /// Every rule that stops the call at `at`; empty: dial.
    pub blocks: Vec<Block>,
    /// Rules that applied without blocking, one sentence each (a window lifted for a time the
    /// customer asked for).
    pub notes: Vec<String>,
}

impl Decision {
    /// Nothing stops the call: dial at `at`.
    pub fn may_dial(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn blocked_by(&self, code: BlockCode) -> Option<&Block> {
        self.blocks.iter().find(|b| b.code == code)
    }
}

/// Decides whether the call described by `facts` may be placed at `now` (or at its due time,
/// if that is later) under `policy`. Pure: the same facts, policy and instant always give the
/// same decision.
pub fn decide(facts: &Facts<'_>, policy: &AccountSettings, now: Timestamp) -> Decision {
    let at = now.max(facts.due_at);
    let mut decision = Decision {
        at,
        blocks: Vec::new(),
        notes: Vec::new(),
    };
    let mut block = |code, reason: String, until| {
        decision.blocks.push(Block {
            code,
            reason,
            until,
        })
    };
    if facts.status.is_final() {
        block(
            BlockCode::FinalState,
            format!("the callback is {}", facts.status.as_str()),
            None,
        );
        return decision;
    }
    if facts.status == Status::Scheduled && facts.due_at > now {
        block(
            BlockCode::NotDue,
            "its time has not come".to_owned(),
            Some(facts.due_at),
        );
    }
    if facts.on_dnc {
        block(
            BlockCode::Dnc,
            "the number is on the do-not-call list".to_owned(),
            None,
        );
    }
    if let Some(why) = facts
        .consent
        .lacking(facts.dialing_mode, &policy.require_consent_for)
    {
        block(BlockCode::NoConsent, why, None);
    }
    if let Some(max) = policy.max_attempts {
        let period = SignedDuration::from_hours(i64::from(policy.attempt_window_days) * 24);
        let recent: Vec<Timestamp> = facts
            .history
            .started
            .iter()
            .copied()
            .filter(|t| *t <= at && t.checked_add(period).is_ok_and(|end| end > at))
            .collect();
        if recent.len() >= max as usize {
            // The cap lifts when enough of them have left the period for one more to fit.
            let until = recent[recent.len() - max as usize].checked_add(period).ok();
            block(
                BlockCode::AttemptCap,
                format!(
                    "{} attempts to this number{} in the last {} days (cap {max})",
                    recent.len(),
                    facts
                        .history
                        .debt
                        .as_ref()
                        .map(|d| format!(" or about debt {d}"))
                        .unwrap_or_default(),
                    policy.attempt_window_days
                ),
                until,
            );
        }
    }
    let automated = facts.is_automated();
    if automated
        && let Some(hours) = policy.quiet_after_answer_hours
        && let Some(answered) = facts.history.last_answered
        && let Ok(until) = answered.checked_add(SignedDuration::from_hours(i64::from(hours)))
        && until > at
    {
        block(
            BlockCode::QuietPeriod,
            format!("the number answered a call less than {hours} hours ago"),
            Some(until),
        );
    }
    let window = facts.window.unwrap_or(&policy.calling_window);
    let safe = SafeWindow::new(window, policy, facts.location);
    if !safe.contains(at) {
        let opening = safe.next_opening(at);
        let reason = safe
            .explain(at, opening)
            .unwrap_or_else(|| "outside the calling window".to_owned());
        if !automated && policy.allow_customer_requested_times {
            decision.notes.push(format!(
                "{reason}; kept at the time asked for, because the account allows times \
                 customers ask for (outside the calling window) on first calls"
            ));
        } else {
            decision.blocks.push(Block {
                code: BlockCode::CallingWindow,
                reason,
                until: opening,
            });
        }
    }
    if let Some(campaign) = facts.campaign {
        if campaign.status != CampaignStatus::Running {
            decision.blocks.push(Block {
                code: BlockCode::CampaignPaused,
                reason: format!("its campaign is {}", campaign.status.as_str()),
                until: None,
            });
        } else if campaign.room.is_some_and(|room| room <= 0) {
            decision.blocks.push(Block {
                code: BlockCode::Pacing,
                reason: "its campaign has as many calls under way as its pacing allows".to_owned(),
                until: None,
            });
        }
    }
    if facts.dialing_mode.waits_for_agent() && facts.free_agents == Some(0) {
        decision.blocks.push(Block {
            code: BlockCode::NoAgent,
            reason: "no agent of the account is available".to_owned(),
            until: None,
        });
    }
    decision
}

#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;
