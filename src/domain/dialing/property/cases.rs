//! The cases: who asked for the call, the zone a request names, and the strategy that draws a
//! number, an instant, a window, its blackout dates, holidays and regional windows.

use proptest::sample::Index;

use super::*;
use super::{numbers::NUMBERS, oracle::EVERY_DAY};

/// Who asked for the call, which decides whether the window binds it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// A one-off callback's first call, at the time the customer asked for.
    FirstCall,
    /// The same, again after the dialer refused it.
    FirstCallRetried,
    /// A later attempt of a one-off callback.
    Recall,
    RecallRetried,
    /// A campaign's call.
    Campaign,
}

impl Kind {
    /// (attempt, attempt_open, campaign, automated).
    pub(super) fn facts(self) -> (u32, bool, Option<CampaignFacts>, bool) {
        let running = Some(CampaignFacts {
            status: CampaignStatus::Running,
            room: Some(5),
        });
        match self {
            Kind::FirstCall => (0, false, None, false),
            Kind::FirstCallRetried => (1, true, None, false),
            Kind::Recall => (1, false, None, true),
            Kind::RecallRetried => (2, true, None, true),
            Kind::Campaign => (0, false, running, true),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Request {
    /// No zone: the number's candidates.
    None,
    /// One of the number's own candidates.
    Own(Index),
    /// Any zone of the tz database.
    Any(Index),
}

#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) number: usize,
    /// Seconds since the epoch, in 2025-2030.
    pub(super) second: i64,
    /// Moved to this many minutes from the next clock change of one of the candidate zones.
    pub(super) near_change: Option<(Index, i64)>,
    pub(super) request: Request,
    /// Without its blackout dates, which are given as days from the instant's (UTC) date.
    pub(super) window: Hours,
    pub(super) blackouts: Vec<i64>,
    /// The window is the callback's own (a campaign's), the account's is another.
    pub(super) own_window: bool,
    /// Indices into `REGIONAL`.
    pub(super) regional: Vec<usize>,
    /// Days from the instant's date, and an index into `HOLIDAY_REGIONS`.
    pub(super) holidays: Vec<(i64, usize)>,
    pub(super) kind: Kind,
    pub(super) allow_customer_requested_times: bool,
}

/// 2025-01-01T00:00:00Z and 2031-01-01T00:00:00Z.
pub(super) const FROM: i64 = 1_735_689_600;
pub(super) const UNTIL: i64 = 1_924_992_000;

pub(super) fn hours() -> impl Strategy<Value = Hours> {
    let any = (0u16..96, 1u16..=96, 1u8..=EVERY_DAY).prop_map(|(s, len, days)| {
        let start = s * 15;
        Hours::new(start, (start + len * 15).min(24 * 60), days)
    });
    prop_oneof![Just(Hours::new(8 * 60, 21 * 60, EVERY_DAY)), any]
}

pub(super) fn case() -> impl Strategy<Value = Case> {
    let near_change = prop::option::weighted(0.25, (any::<Index>(), -1440i64..=1440));
    let request = prop_oneof![
        2 => Just(Request::None),
        1 => any::<Index>().prop_map(Request::Own),
        1 => any::<Index>().prop_map(Request::Any),
    ];
    let blackouts = prop_oneof![Just(Vec::new()), prop::collection::vec(-1i64..=7, 1..5)];
    let regional = prop_oneof![
        Just(Vec::new()),
        prop::sample::subsequence((0..REGIONAL.len()).collect::<Vec<_>>(), 1..=2),
    ];
    let holidays = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec((-1i64..=7, 0..HOLIDAY_REGIONS.len()), 1..3),
    ];
    let kind = prop_oneof![
        Just(Kind::FirstCall),
        Just(Kind::FirstCallRetried),
        Just(Kind::Recall),
        Just(Kind::RecallRetried),
        Just(Kind::Campaign),
    ];
    (
        (0..NUMBERS.len(), FROM..UNTIL, near_change, request),
        (
            hours(),
            blackouts,
            prop::bool::weighted(0.2),
            regional,
            holidays,
        ),
        (kind, any::<bool>()),
    )
        .prop_map(
            |(
                (number, second, near_change, request),
                (window, blackouts, own_window, regional, holidays),
                (kind, allow_customer_requested_times),
            )| Case {
                number,
                second,
                near_change,
                request,
                window,
                blackouts,
                own_window,
                regional,
                holidays,
                kind,
                allow_customer_requested_times,
            },
        )
}
