//! When a call would be placed if nothing changed but time ([`earliest_dial`]).

use jiff::Timestamp;

use super::{Block, BlockCode, Facts, decide};
use crate::domain::campaign::AccountSettings;

/// When the call would be placed if nothing changed but time: the first instant from `now`
/// (or its due time) at which [`decide`] lets it through, asking again at the latest `until`
/// of what blocks it. Blocks that only an event lifts (pacing, a paused campaign, no free
/// agent) are left out of the reckoning; one that never lifts (do-not-call, no consent, an ended callback,
/// a window that never opens) gives `Err` with it.
pub fn earliest_dial(
    facts: &Facts<'_>,
    policy: &AccountSettings,
    now: Timestamp,
) -> Result<Timestamp, Block> {
    let mut decision = decide(facts, policy, now);
    // Each round moves past a block that lifts; a window, a cap and a quiet period settle
    // together within a few.
    for _ in 0..32 {
        let mut until = decision.at;
        for block in &decision.blocks {
            match block.until {
                Some(t) if block.code.lifts_by_time() => until = until.max(t),
                Some(_) => {}
                None if block.code.lifts_by_time() || is_permanent(block.code) => {
                    return Err(block.clone());
                }
                None => {}
            }
        }
        if until == decision.at {
            return Ok(decision.at);
        }
        decision = decide(facts, policy, until);
    }
    Err(decision
        .blocks
        .into_iter()
        .next()
        .expect("a decision that kept moving has a block"))
}

fn is_permanent(code: BlockCode) -> bool {
    matches!(
        code,
        BlockCode::Dnc | BlockCode::NoConsent | BlockCode::FinalState
    )
}
