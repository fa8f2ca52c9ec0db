//! Every parser of the domain is fed arbitrary text: it answers a value or a `FieldError` (or
//! `None`), never a panic. A panic in a parser is a `500` on every route that parses that
//! field, so the property covers them all at once.
//!
//! Random text seldom looks like a phone number or an instant, so besides any Unicode the
//! generator splices multi-byte characters into valid-looking inputs ("2027-01-05T10:00:00+0é:00",
//! "+1 415 555 0199é"), where byte-position slicing would break.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    PhoneNumber, Zone,
    agent::parse_working_hours,
    auth::Scope,
    campaign::{Pacing, RecallPolicy},
    contact::ContactPatch,
    dialing::{Holiday, RegionalWindow},
    geo::Region,
    ids::CampaignId,
    parse_scheduled_at,
    playbook::MessageTemplate,
    signing::SigningSecret,
    user::Email,
    webhook::parse_event_types,
    window::{CallingWindow, parse_date},
};

/// Valid-looking inputs of the parsers, to be cut and spliced.
const SEEDS: &[&str] = &[
    "2027-01-05T10:00:00+05:30",
    "2027-01-05T10:00:00Z",
    "2027-01-05 10:00:00",
    "+1 415 555 0199",
    "0044 20 7946 0958",
    "America/New_York",
    "08:00",
    "24:00",
    "2026-12-25",
    "US-FL",
    "[30,120]",
    "{\"busy\": [5]}",
    "cb_01JD0000000000000000000000",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "a@b.c",
    "Hi {{ first_name }}",
    "callback.created",
];

/// Characters of two, three and four bytes, and ones that look like the ASCII a parser waits
/// for (a full-width plus, an Arabic digit).
const AWKWARD: &[char] = &['é', '€', '𝟘', '＋', '٣', '\u{301}', '\u{200b}', '\u{0}'];

/// Text to parse: anything at all, or a seed with awkward characters spliced in at character
/// boundaries, or a seed cut short.
fn text() -> impl Strategy<Value = String> {
    let spliced = (
        prop::sample::select(SEEDS),
        prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(AWKWARD)),
            1..4,
        ),
    )
        .prop_map(|(seed, inserts)| {
            let mut chars: Vec<char> = seed.chars().collect();
            for (at, c) in inserts {
                let i = at.index(chars.len() + 1);
                chars.insert(i, c);
            }
            chars.into_iter().collect()
        });
    let cut = (prop::sample::select(SEEDS), any::<prop::sample::Index>()).prop_map(|(seed, at)| {
        let chars: Vec<char> = seed.chars().collect();
        chars[..at.index(chars.len() + 1)].iter().collect()
    });
    prop_oneof![any::<String>(), spliced, cut]
}

/// Feeds `s` to every parser that takes text.
fn parse_everything(s: &str) {
    let zone = Zone::parse("America/New_York", "timezone").unwrap();
    let _ = PhoneNumber::parse(s, "phone");
    let _ = Zone::parse(s, "timezone");
    let _ = parse_scheduled_at(s, None, "scheduled_at");
    let _ = parse_scheduled_at(s, Some(&zone), "scheduled_at");
    let _ = Region::parse(s, "region");
    let _ = Region::from_state("US", s);
    let _ = Region::from_state(s, "FL");
    let _ = CampaignId::parse(s);
    let _ = Scope::parse(s);
    let _ = SigningSecret::parse(s);
    let _ = Email::parse(s, "email");
    let _ = MessageTemplate::parse(s, "initial_message");
    let _ = parse_event_types(Some(vec![s.to_owned()]));
    let _ = parse_date(&json!(s));
    let as_json = Value::String(s.to_owned());
    let _ = RecallPolicy::parse(&as_json, "recall");
    let _ = CallingWindow::parse(&as_json, "calling_window");
    let _ = Pacing::parse(&as_json, "pacing");
    // The same text where each structured parser expects text inside its shape.
    let _ = CallingWindow::parse(
        &json!({ "start": s, "end": s, "days": [s], "blackout_dates": [s] }),
        "calling_window",
    );
    let _ = RecallPolicy::parse(&json!({ s: [5] }), "recall");
    let _ = Holiday::parse_list(
        &json!([{ "date": s, "regions": [s], "name": s }]),
        "holidays",
    );
    let _ = RegionalWindow::parse_list(
        &json!([{ "region": s, "calling_window": { "start": s } }]),
        "regional_windows",
    );
    let _ = parse_working_hours(json!({ "mon": [s] }), "working_hours");
    let _ = parse_working_hours(json!({ s: ["09:00-17:00"] }), "working_hours");
    let _ = ContactPatch::from_json(
        &json!({ "phone": s, "timezone": s, "first_name": s, "custom_fields": { s: s } }),
        "",
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn no_parser_panics_on_any_text(s in text()) {
        parse_everything(&s);
    }
}

#[test]
fn a_time_with_multi_byte_characters_is_refused_not_a_panic() {
    // Found by schemathesis: "éééa" is six bytes, and the offset check sliced the last six
    // bytes of it by position.
    for input in [
        "éééa",
        "2027-01-05T10:00:00+0é:00",
        "2027-01-05T10:00:00é",
        "€€",
    ] {
        let e = parse_scheduled_at(input, None, "scheduled_at").unwrap_err();
        assert_eq!(e.field, "scheduled_at", "{input}");
    }
}
