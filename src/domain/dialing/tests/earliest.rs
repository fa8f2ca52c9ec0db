//! When a call would be placed: [`earliest_dial`] waits for every rule at once.

use super::*;

#[test]
fn the_earliest_dial_waits_for_every_rule_at_once() {
    // Capped until 02:00 in San Francisco, when the window is shut: 08:00 that morning.
    let case = Case {
        policy: json!({"max_attempts": 1, "days": 1}),
        attempt: 1,
        due: "2026-01-14T10:00:00Z",
        now: "2026-01-14T10:00:00Z",
        started: &["2026-01-14T09:00:00Z"],
        ..Case::default()
    };
    let location = Location::locate(&phone(case.phone), None, None);
    let history = History {
        started: vec![t("2026-01-14T09:00:00Z")],
        last_answered: None,
        debt: None,
    };
    let facts = Facts {
        status: Status::Scheduled,
        due_at: t(case.due),
        attempt: 1,
        attempt_open: false,
        campaign: None,
        dialing_mode: DialingMode::Unattended,
        window: None,
        location: &location,
        on_dnc: false,
        consent: Default::default(),
        history: &history,
        free_agents: None,
    };
    let policy = policy(case.policy.clone());
    // The cap lifts 2026-01-15T09:00Z (01:00 PST), the window opens at 16:00Z.
    assert_eq!(
        earliest_dial(&facts, &policy, t(case.now)),
        Ok(t("2026-01-15T16:00:00Z"))
    );
}
