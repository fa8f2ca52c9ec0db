//! Rows of the account's calendar rules (holidays and regional windows), and how those
//! settings are read.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    use BlockCode::*;
    vec![
        Case {
            name: "a holiday of the callee's country",
            policy: json!({"holidays": [{"date": "2026-12-25", "regions": ["US"]}]}),
            due: "2026-12-25T20:00:00Z",
            now: "2026-12-25T20:00:00Z",
            expect: &[(CallingWindow, Some("2026-12-26T16:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "is no holiday for a callee elsewhere",
            phone: "+442079460958",
            policy: json!({"holidays": [{"date": "2026-12-25", "regions": ["US"]}]}),
            due: "2026-12-25T12:00:00Z",
            now: "2026-12-25T12:00:00Z",
            ..Case::default()
        },
        Case {
            name: "a holiday without regions is everybody's",
            phone: "+442079460958",
            policy: json!({"holidays": [{"date": "2026-12-25"}]}),
            due: "2026-12-25T12:00:00Z",
            now: "2026-12-25T12:00:00Z",
            expect: &[(CallingWindow, Some("2026-12-26T08:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a Florida number under the US-FL window (08:00-20:00) at 20:30",
            phone: "+13055550123",
            policy: json!({"regional_windows": [
                {"region": "US-FL", "calling_window": {"start": "08:00", "end": "20:00"}}]}),
            due: "2026-01-15T01:30:00Z",
            now: "2026-01-15T01:30:00Z",
            expect: &[(CallingWindow, Some("2026-01-15T13:00:00Z"))],
            ..Case::default()
        },
        Case {
            name: "a California number is not under the US-FL window",
            policy: json!({"regional_windows": [
                {"region": "US-FL", "calling_window": {"start": "08:00", "end": "20:00"}}]}),
            due: "2026-01-15T04:30:00Z",
            now: "2026-01-15T04:30:00Z",
            ..Case::default()
        },
        Case {
            name: "a regional window of alternatives: Texas on a Sunday opens at noon",
            phone: "+12145550123",
            policy: json!({"regional_windows": [{"region": "US-TX", "calling_window": [
                {"start": "09:00", "end": "21:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat"]},
                {"start": "12:00", "end": "21:00", "days": ["sun"]}]}]}),
            // Sunday 2026-01-18, 10:00 in Dallas.
            due: "2026-01-18T16:00:00Z",
            now: "2026-01-18T16:00:00Z",
            expect: &[(CallingWindow, Some("2026-01-18T18:00:00Z"))],
            ..Case::default()
        },
    ]
}

#[test]
fn holidays_and_regional_windows_are_read_with_named_errors() {
    let ok = Holiday::parse_list(
        &json!([{"date": "2026-12-25", "regions": ["us", "CA-QC"], "name": "Christmas Day"}]),
        "holidays",
    )
    .unwrap();
    assert_eq!(
        ok[0].to_json(),
        json!({"date": "2026-12-25", "regions": ["US", "CA-QC"], "name": "Christmas Day"})
    );
    for (bad, field) in [
        (json!({}), "holidays"),
        (json!([{"date": "25/12/2026"}]), "holidays[0].date"),
        (json!([{"date": "2026-02-30"}]), "holidays[0].date"),
        (json!([{"regions": ["US"]}]), "holidays[0].date"),
        (
            json!([{"date": "2026-12-25", "regions": ["XX"]}]),
            "holidays[0].regions[0]",
        ),
        (
            json!([{"date": "2026-12-25", "regions": ["US-ZZ"]}]),
            "holidays[0].regions[0]",
        ),
        (
            json!([{"date": "2026-12-25", "regions": "US"}]),
            "holidays[0].regions",
        ),
        (
            json!([{"date": "2026-12-25", "when": "always"}]),
            "holidays[0].when",
        ),
    ] {
        assert_eq!(
            Holiday::parse_list(&bad, "holidays").unwrap_err().field,
            field,
            "{bad}"
        );
    }
    for (bad, field) in [
        (
            json!([{"region": "US-QQ", "calling_window": {}}]),
            "regional_windows[0].region",
        ),
        (
            json!([{"calling_window": {}}]),
            "regional_windows[0].region",
        ),
        (
            json!([{"region": "US-FL"}]),
            "regional_windows[0].calling_window",
        ),
        (
            json!([{"region": "US-FL", "calling_window": {"start": "25:00"}}]),
            "regional_windows[0].calling_window.start",
        ),
        (
            json!([{"region": "US-FL", "calling_window": [{"days": []}]}]),
            "regional_windows[0].calling_window[0].days",
        ),
        (
            json!([{"region": "US-FL", "calling_window": {}}, {"region": "us-fl", "calling_window": {}}]),
            "regional_windows[1].region",
        ),
    ] {
        assert_eq!(
            RegionalWindow::parse_list(&bad, "regional_windows")
                .unwrap_err()
                .field,
            field,
            "{bad}"
        );
    }
}
