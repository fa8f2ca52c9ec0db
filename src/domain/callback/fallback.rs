//! Personal callbacks that fall back to the team: a callback assigned to an agent that the
//! agent has not taken some minutes after it fell due (or at once, when the agent is offline
//! for the rest of their day) moves to a queue, so a promise to a customer does not wait on
//! one person (Genesys "assign to queue on ownership expiration", VICIdial USERONLY to
//! ANYONE).

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{AssigneeKind, Assignment};
use crate::domain::{ErrorCode, FieldError, ids::QueueId};

/// The longest wait before a personal callback falls back: a week.
pub const MAX_FALLBACK_MINUTES: u32 = 7 * 24 * 60;

/// When and where a personal callback falls back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// Minutes after the callback fell due (0: as soon as it is due and not taken).
    pub after_minutes: u32,
    /// The queue it moves to; `None`: the first queue of its agent.
    pub queue_id: Option<QueueId>,
}

impl Fallback {
    /// Reads `fallback_after_minutes` and `fallback_queue_id` (`prefix` names them in errors).
    /// Without minutes there is no fallback, and a queue alone is refused.
    pub fn parse(
        after_minutes: Option<u32>,
        queue_id: Option<&str>,
        prefix: &str,
    ) -> Result<Option<Self>, FieldError> {
        let queue_id = queue_id
            .map(|raw| {
                QueueId::parse(raw.trim()).ok_or_else(|| {
                    FieldError::new(
                        ErrorCode::InvalidField,
                        format!("{prefix}fallback_queue_id"),
                        "must be a queue id (que_...)",
                    )
                })
            })
            .transpose()?;
        let Some(after_minutes) = after_minutes else {
            return match queue_id {
                None => Ok(None),
                Some(_) => Err(FieldError::new(
                    ErrorCode::InvalidField,
                    format!("{prefix}fallback_queue_id"),
                    "needs fallback_after_minutes (when the callback moves to the queue)",
                )),
            };
        };
        if after_minutes > MAX_FALLBACK_MINUTES {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                format!("{prefix}fallback_after_minutes"),
                format!("must be 0 to {MAX_FALLBACK_MINUTES}, or null to stay with the agent"),
            ));
        }
        Ok(Some(Self {
            after_minutes,
            queue_id,
        }))
    }

    /// The instant a personal callback that fell due at `due_at` moves, if nobody took it.
    pub fn at(&self, due_at: Timestamp) -> Timestamp {
        due_at
            .checked_add(SignedDuration::from_mins(i64::from(self.after_minutes)))
            .unwrap_or(Timestamp::MAX)
    }

    /// Where the callback goes: the fallback queue, else the first queue of its agent
    /// (`agent_queues`, as the agent lists them), else nobody in particular (any agent of the
    /// account may take it: `None`).
    pub fn target(&self, agent_queues: &[QueueId]) -> Option<Assignment> {
        let queue = self.queue_id.as_ref().or(agent_queues.first())?;
        Some(Assignment {
            kind: AssigneeKind::Queue,
            ids: vec![queue.as_str().to_owned()],
        })
    }
}

/// Only callbacks assigned to agents fall back; the account's default applies to those.
pub fn falls_back(assignment: Option<&Assignment>) -> bool {
    assignment.is_some_and(|a| a.kind == AssigneeKind::Agent)
}

/// Why a personal callback moved to the team (the `reason` of `callback.reassigned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// `fallback_after_minutes` passed after it fell due and the agent had not taken it.
    NotTaken,
    /// It fell due while its agent was offline with no working hours left that day.
    AgentOffline,
}

impl FallbackReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::NotTaken => "not_taken",
            FallbackReason::AgentOffline => "agent_offline",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_minutes_means_no_fallback_and_a_lone_queue_is_refused() {
        assert_eq!(Fallback::parse(None, None, "").unwrap(), None);
        let err = Fallback::parse(None, Some("que_1"), "").unwrap_err();
        assert_eq!(err.field, "fallback_queue_id");
    }

    #[test]
    fn minutes_beyond_a_week_and_malformed_queues_are_refused() {
        let err = Fallback::parse(Some(MAX_FALLBACK_MINUTES + 1), None, "x.").unwrap_err();
        assert_eq!(err.field, "x.fallback_after_minutes");
        let err = Fallback::parse(Some(5), Some("agt_1"), "").unwrap_err();
        assert_eq!(err.field, "fallback_queue_id");
    }

    #[test]
    fn it_moves_to_its_queue_else_the_agents_first_else_anyone() {
        let own = QueueId::generate();
        let first = QueueId::generate();
        let second = QueueId::generate();
        let with_queue = Fallback {
            after_minutes: 10,
            queue_id: Some(own.clone()),
        };
        let ids = |a: Option<Assignment>| a.map(|a| a.ids);
        assert_eq!(
            ids(with_queue.target(std::slice::from_ref(&first))),
            Some(vec![own.as_str().to_owned()])
        );
        let without = Fallback {
            after_minutes: 10,
            queue_id: None,
        };
        assert_eq!(
            ids(without.target(&[first.clone(), second])),
            Some(vec![first.as_str().to_owned()])
        );
        assert_eq!(without.target(&[]), None);
    }

    #[test]
    fn it_falls_back_minutes_after_it_fell_due() {
        let due: Timestamp = "2026-03-08T09:00:00Z".parse().unwrap();
        let f = Fallback {
            after_minutes: 30,
            queue_id: None,
        };
        assert_eq!(f.at(due), "2026-03-08T09:30:00Z".parse().unwrap());
    }
}
