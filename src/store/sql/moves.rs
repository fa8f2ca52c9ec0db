//! A callback's status moves in SQL: what [`Status::after`] decides, rendered into the
//! statements that persist it. No statement here decides a move of its own: each `SET status`
//! is [`set`] of a domain [`Move`] (or a status the domain computed, bound as a parameter), and
//! each guard on the current status is [`from`] of one, so a row changes only by a move the
//! domain allows from the status it holds when the statement runs.

use crate::domain::{Status, callback::Move};

/// The statuses `step` may leave, with what it makes of each.
fn table(step: Move) -> impl Iterator<Item = (Status, Status)> {
    Status::ALL
        .into_iter()
        .filter_map(move |from| from.after(step).map(|to| (from, to)))
}

/// `status IN ('a', 'b')`: the row holds a status `step` may leave.
pub(super) fn from(step: Move) -> String {
    among(table(step).map(|(from, _)| from))
}

/// `status IN ('a', 'b')`, or `status = 'a'` for one: partial indexes on a status are matched
/// by the text of their condition, which is an equality.
fn among(statuses: impl Iterator<Item = Status>) -> String {
    let list: Vec<String> = statuses.map(|s| format!("'{}'", s.as_str())).collect();
    match list.as_slice() {
        [] => unreachable!("a status guard names no status"),
        [one] => format!("status = {one}"),
        _ => format!("status IN ({})", list.join(", ")),
    }
}

/// The row is held by a dispatch claim (`dispatching`): the statuses a retry leaves.
pub(super) fn claimed() -> String {
    from(Move::Retry)
}

/// Nobody has started dialling it (`scheduled`, `waiting`, `offered`): the statuses an edit
/// may leave.
pub(super) fn unstarted() -> String {
    from(Move::Edit)
}

/// The callback still holds its number (`Status::is_active`).
pub(super) fn active() -> String {
    among(Status::ALL.into_iter().filter(|s| s.is_active()))
}

/// The rows that read as `status`: a callback stored `dispatching` reads as `in_progress` once
/// the dialer accepted its current call ([`super::CALL_ACCEPTED`]), which is written to the
/// call only.
pub(super) fn reads_as(status: Status) -> String {
    let accepted = super::CALL_ACCEPTED;
    match status {
        Status::Dispatching => format!("(status = 'dispatching' AND NOT {accepted})"),
        Status::InProgress => {
            format!("(status = 'in_progress' OR (status = 'dispatching' AND {accepted}))")
        }
        other => format!("status = '{}'", other.as_str()),
    }
}

/// The statuses stored for a callback that reads as `status`: the guard of a change decided
/// from what was read.
pub(super) fn stored_as(status: Status) -> String {
    match status {
        Status::InProgress => among([Status::Dispatching, Status::InProgress].into_iter()),
        other => among(std::iter::once(other)),
    }
}

/// `status = ...`: what `step` makes of the status the row holds. To be used with [`from`] of
/// the same move.
pub(super) fn set(step: Move) -> String {
    let moves: Vec<(Status, Status)> = table(step).collect();
    match moves.as_slice() {
        [(_, to), rest @ ..] if rest.iter().all(|(_, other)| other == to) => {
            format!("status = '{}'", to.as_str())
        }
        _ => {
            let arms: String = moves
                .iter()
                .map(|(from, to)| format!(" WHEN '{}' THEN '{}'", from.as_str(), to.as_str()))
                .collect();
            format!("status = CASE status{arms} END")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Outcome;

    #[test]
    fn moves_render_from_the_domain_table() {
        assert_eq!(from(Move::Dispatch), "status = 'scheduled'");
        assert_eq!(set(Move::Dispatch), "status = 'dispatching'");
        assert_eq!(
            from(Move::Cancel),
            "status IN ('scheduled', 'waiting', 'offered')"
        );
        assert_eq!(set(Move::Start), "status = 'in_progress'");
        assert_eq!(unstarted(), "status IN ('scheduled', 'waiting', 'offered')");
        assert_eq!(claimed(), "status = 'dispatching'");
        // The guards used with another move's `set` name statuses that move may leave.
        for status in [Status::Scheduled, Status::Waiting, Status::Offered] {
            assert!(status.after(Move::Expire).is_some());
            assert!(status.after(Move::Cancel).is_some());
        }
        assert!(Status::Dispatching.after(Move::Start).is_some());
        assert!(Status::Dispatching.after(Move::Expire).is_some());
        assert_eq!(set(Move::Report(Outcome::Answered)), "status = 'completed'");
    }
}
