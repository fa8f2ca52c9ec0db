//! Rows of the attempt rules: the attempt cap and the quiet period after an answered
//! call.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    use BlockCode::*;
    vec![
        Case {
            name: "the cap lifts when the oldest attempt leaves the period",
            policy: json!({"max_attempts": 2, "days": 7}),
            started: &["2026-01-12T20:00:00Z", "2026-01-13T20:00:00Z"],
            expect: &[(AttemptCap, Some("2026-01-19T20:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "was: over the cap, it lifts when enough have left, not the oldest alone",
            policy: json!({"max_attempts": 2, "days": 7}),
            started: &[
                "2026-01-10T20:00:00Z",
                "2026-01-12T20:00:00Z",
                "2026-01-13T20:00:00Z",
            ],
            expect: &[(AttemptCap, Some("2026-01-19T20:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "was: the cap's period is counted back from the due time, not from now",
            policy: json!({"max_attempts": 1, "days": 7}),
            due: "2026-01-15T20:00:00Z",
            started: &["2026-01-08T10:00:00Z"],
            expect: &[(NotDue, Some("2026-01-15T20:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a recall waits out the quiet period",
            policy: json!({"quiet": 24}),
            attempt: 1,
            answered: Some("2026-01-14T10:00:00Z"),
            expect: &[(QuietPeriod, Some("2026-01-15T10:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a first call is what the customer asked for: no quiet period",
            policy: json!({"quiet": 24}),
            answered: Some("2026-01-14T10:00:00Z"),
            ..Case::default()
        },
        Case {
            name: "was: a retry of the first call after a refusal is still the first call",
            policy: json!({"quiet": 24}),
            attempt: 1,
            open: true,
            answered: Some("2026-01-14T10:00:00Z"),
            ..Case::default()
        },
        Case {
            name: "was: a retry of a recall is automated",
            policy: json!({"quiet": 24}),
            attempt: 2,
            open: true,
            answered: Some("2026-01-14T10:00:00Z"),
            expect: &[(QuietPeriod, Some("2026-01-15T10:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a campaign call's first attempt is automated",
            policy: json!({"quiet": 24}),
            campaign: RUNNING,
            answered: Some("2026-01-14T10:00:00Z"),
            expect: &[(QuietPeriod, Some("2026-01-15T10:00:00Z"))],
            ..Case::default()
        },
    ]
}
