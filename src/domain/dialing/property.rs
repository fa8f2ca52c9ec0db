//! Property: no dial decision falls outside the calling window in any zone the callee may be in.
//!
//! A case is a real number (from a table of prefixes of 43 countries, every US and Canadian zone
//! among them), an instant anywhere in 2025-2030 (a quarter of them within a day of a clock
//! change of one of the candidate zones), a zone in the request or none, a window with or
//! without blackout dates, holidays and regional windows, and the kind of attempt. Then:
//!
//! - when [`decide`] lets the call through and the window binds it (an automated attempt, or
//!   an account that keeps first calls to the window too), the instant is inside the window, off
//!   every holiday and inside every regional window that applies, read in *every* candidate
//!   zone; when it blocks the call, the instant is outside;
//! - the instant it names for the window to open is later, inside, and the earliest such
//!   (no quarter hour in between is inside); [`earliest_dial`] answers the same;
//! - when it finds no opening, no quarter hour of the next 16 days is inside.
//!
//! "Inside" is judged by an oracle written here from the rules as documented: the instant's
//! local date, weekday and minute in each zone (by jiff), the candidate zones from
//! `geo::place_of` or the request, the regions from the number's country and subdivision.
//! Asking `SafeWindow::contains` instead would check the code against itself. Every offset and
//! clock change of 2025-2031 falls on a quarter hour, and so does every window bound, so a scan
//! of quarter hours finds every stretch of time that is inside.
//!
//! CI runs 100,000 cases; the million (`#[ignore]`d) is for
//! `cargo test --release --lib dialing::property -- --ignored` (see BENCHMARKS.md).

use std::{cell::Cell, fmt, sync::LazyLock};

use jiff::{
    Timestamp, ToSpan,
    civil::{Date, Weekday},
};
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{TestCaseResult, TestRunner},
};

use super::*;

/// Real numbers, each with a zone it must be placed in (what the row is there for). The zones
/// are those of libphonenumber's prefix table, which is not always the zone a map would give.
const NUMBERS: &[(&str, &str)] = &[
    // United States and Canada: every zone, toll-free, and area codes that span two zones.
    ("+12125550199", "America/New_York"),
    ("+13055550199", "America/New_York"), // Miami, US-FL
    ("+14165550199", "America/Toronto"),
    ("+15145550199", "America/Toronto"), // Montreal, CA-QC
    ("+13125550199", "America/Chicago"),
    ("+12145550199", "America/Chicago"), // Dallas, US-TX
    ("+12045550199", "America/Winnipeg"),
    ("+13035550199", "America/Denver"),
    ("+19155550199", "America/Denver"), // El Paso: Texas on Mountain time
    ("+17805550199", "America/Edmonton"),
    ("+16025550199", "America/Phoenix"), // Arizona keeps standard time
    ("+19282830199", "America/Phoenix"), // Navajo Nation: Phoenix or Denver
    ("+14155550199", "America/Los_Angeles"),
    ("+16045550199", "America/Vancouver"),
    ("+12085550199", "America/Boise"), // Idaho: Boise or Los Angeles
    ("+19075550199", "America/Adak"),  // Alaska: Anchorage or Adak
    ("+18085550199", "Pacific/Honolulu"),
    ("+17095550199", "America/St_Johns"), // Newfoundland (or Labrador, on Halifax time)
    ("+19025550199", "America/Halifax"),
    ("+15065550199", "America/Halifax"),
    ("+13065550199", "America/Regina"), // Saskatchewan keeps standard time
    ("+18005550199", "Pacific/Honolulu"), // toll-free: every zone of +1
    ("+18885550199", "Pacific/Guam"),
    ("+17875550199", "America/Puerto_Rico"),
    ("+16715550199", "Pacific/Guam"),
    ("+16846331234", "Pacific/Pago_Pago"),
    // Australia: states, Lord Howe Island (half-hour shift), a mobile (any of its zones).
    ("+61293744000", "Australia/Sydney"),
    ("+61396291234", "Australia/Sydney"), // Melbourne
    ("+61731234567", "Australia/Brisbane"),
    ("+61881234567", "Australia/Adelaide"), // or Perth
    ("+61892345678", "Australia/Perth"),
    ("+61362345678", "Australia/Sydney"), // Hobart
    ("+61265080123", "Australia/Lord_Howe"),
    ("+61412345678", "Australia/Eucla"),
    // Brazil: mobiles carry their area code.
    ("+551134567890", "America/Sao_Paulo"),
    ("+552134567890", "America/Sao_Paulo"),
    ("+559233123456", "America/Manaus"),
    ("+556832123456", "America/Rio_Branco"),
    ("+558136191234", "America/Noronha"),
    ("+5511987654321", "America/Sao_Paulo"),
    ("+5592991234567", "America/Manaus"),
    // Mexico.
    ("+525512345678", "America/Mexico_City"),
    ("+528112345678", "America/Mexico_City"), // Monterrey
    ("+529981234567", "America/Cancun"),
    ("+526641234567", "America/Tijuana"),
    ("+526621234567", "America/Mazatlan"), // Hermosillo
    ("+526561234567", "America/Ciudad_Juarez"),
    // Russia and Kazakhstan share +7; their mobiles may be in any of its zones.
    ("+74951234567", "Europe/Moscow"),
    ("+74012123456", "Europe/Kaliningrad"),
    ("+73832123456", "Asia/Novosibirsk"),
    ("+74232123456", "Asia/Vladivostok"),
    ("+74152123456", "Asia/Kamchatka"),
    ("+79161234567", "Asia/Anadyr"),
    ("+77272123456", "Asia/Almaty"),
    ("+77011234567", "Asia/Aqtobe"),
    // Indonesia.
    ("+622112345678", "Asia/Jakarta"),
    ("+62411123456", "Asia/Makassar"),
    ("+62967123456", "Asia/Jayapura"),
    ("+6281234567890", "Asia/Jakarta"),
    // Europe.
    ("+442079460958", "Europe/London"),
    ("+447400123456", "Europe/Jersey"),
    ("+493012345678", "Europe/Berlin"),
    ("+33142685300", "Europe/Paris"),
    ("+33612345678", "Europe/Paris"),
    ("+34912345678", "Europe/Madrid"),
    ("+34928123456", "Atlantic/Canary"),
    ("+34612345678", "Atlantic/Canary"), // mobile: Madrid or the Canaries
    ("+351212345678", "Europe/Lisbon"),
    ("+351296123456", "Atlantic/Azores"),
    ("+351912345678", "Atlantic/Azores"), // mobile: Lisbon or the Azores
    ("+390212345678", "Europe/Rome"),
    ("+380441234567", "Europe/Kyiv"),
    ("+902121234567", "Europe/Istanbul"),
    // Asia and the Middle East.
    ("+911123456789", "Asia/Kolkata"),
    ("+919812345678", "Asia/Kolkata"),
    ("+861012345678", "Asia/Shanghai"),
    ("+8613812345678", "Asia/Shanghai"),
    ("+81312345678", "Asia/Tokyo"),
    ("+819012345678", "Asia/Tokyo"),
    ("+97714123456", "Asia/Kathmandu"), // +05:45
    ("+982112345678", "Asia/Tehran"),   // +03:30
    ("+96171234567", "Asia/Beirut"),
    ("+97221234567", "Asia/Jerusalem"),
    // Africa.
    ("+27211234567", "Africa/Johannesburg"),
    ("+20223456789", "Africa/Cairo"),
    ("+212522123456", "Africa/Casablanca"),
    // South America (Easter Island has no prefix of its own: Chile is all Santiago).
    ("+56221234567", "America/Santiago"),
    ("+541123456789", "America/Argentina/Buenos_Aires"),
    ("+5950211234567", "America/Asuncion"),
    ("+59352123456", "Pacific/Galapagos"), // or Guayaquil
    // Greenland.
    ("+299321000", "America/Nuuk"),
    ("+299971234", "America/Thule"),
    ("+299991234", "America/Scoresbysund"),
    // The Pacific.
    ("+6493001234", "Pacific/Auckland"),
    ("+6433050123", "Pacific/Chatham"),     // +12:45
    ("+6421123456", "Pacific/Chatham"),     // mobile: Auckland or Chatham
    ("+68675021234", "Pacific/Kiritimati"), // +14, with Tarawa and Kanton
    ("+68522123", "Pacific/Apia"),
    ("+67621234", "Pacific/Tongatapu"),
    ("+6793212345", "Pacific/Fiji"),
    ("+68987123456", "Pacific/Marquesas"), // -09:30
    ("+672381234", "Pacific/Norfolk"),
    ("+68226123", "Pacific/Rarotonga"),
    ("+6834123", "Pacific/Niue"),
    // International freephone, of no country: it may ring at any offset.
    ("+80012345678", "Etc/GMT+12"),
];

/// A number of the table, with where it is placed, worked out once.
struct Entry {
    phone: PhoneNumber,
    /// The oracle's view: candidate zones, country and subdivision.
    place: geo::NumberPlace,
    /// Where the code under test places it when no zone is given.
    location: Location,
}

static TABLE: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    NUMBERS
        .iter()
        .map(|(number, _)| {
            let phone = PhoneNumber::parse(number, "phone")
                .unwrap_or_else(|e| panic!("{number}: {}", e.message));
            Entry {
                place: geo::place_of(&phone),
                location: Location::locate(&phone, None, None),
                phone,
            }
        })
        .collect()
});

/// Every zone of the bundled tz database, for the zone a request names.
static ZONES: LazyLock<Vec<Zone>> = LazyLock::new(|| {
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_owned())
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| Zone::parse(name, "timezone").unwrap())
        .collect()
});

// -------------------------------------------------------------------------------------------
// The rules, as the test writes them down
// -------------------------------------------------------------------------------------------

/// Calling hours: `[start, end)` in minutes since midnight on the days of `days` (bit 0 is
/// Monday), except on `closed` dates.
#[derive(Clone, PartialEq)]
struct Hours {
    start: u16,
    end: u16,
    days: u8,
    closed: Vec<Date>,
}

impl Hours {
    const fn new(start: u16, end: u16, days: u8) -> Self {
        Self {
            start,
            end,
            days,
            closed: Vec::new(),
        }
    }

    fn window(&self) -> CallingWindow {
        let days = std::array::from_fn(|i| self.days & (1 << i) != 0);
        CallingWindow::new(self.start, self.end, days)
            .expect("a valid window")
            .with_blackout_dates(self.closed.iter().copied())
    }

    fn holds(&self, local: &Local) -> bool {
        self.days & (1 << local.day.to_monday_zero_offset()) != 0
            && self.start <= local.minute
            && local.minute < self.end
            && !self.closed.contains(&local.date)
    }
}

impl fmt::Debug for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{} ", hhmm(self.start), hhmm(self.end))?;
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let on: Vec<&str> = (0..7)
            .filter(|i| self.days & (1 << i) != 0)
            .map(|i| days[i])
            .collect();
        write!(f, "{}", on.join(","))?;
        if !self.closed.is_empty() {
            write!(f, " closed {:?}", self.closed)?;
        }
        Ok(())
    }
}

const EVERY_DAY: u8 = 0b111_1111;
const WEEKDAYS: u8 = 0b001_1111;
const SATURDAY: u8 = 0b010_0000;
const SUNDAY: u8 = 0b100_0000;

/// Regional windows an account may hold; a case takes some of them.
const REGIONAL: &[(&str, &[Hours])] = &[
    ("US-FL", &[Hours::new(8 * 60, 20 * 60, EVERY_DAY)]),
    (
        "US-TX",
        &[
            Hours::new(9 * 60, 21 * 60, WEEKDAYS | SATURDAY),
            Hours::new(12 * 60, 21 * 60, SUNDAY),
        ],
    ),
    (
        "CA-QC",
        &[
            Hours::new(8 * 60, 20 * 60, WEEKDAYS),
            Hours::new(10 * 60, 17 * 60, SATURDAY | SUNDAY),
        ],
    ),
    (
        "AU-NSW",
        &[
            Hours::new(9 * 60, 20 * 60, WEEKDAYS),
            Hours::new(9 * 60, 17 * 60, SATURDAY),
        ],
    ),
    (
        "RU",
        &[
            Hours::new(9 * 60, 20 * 60, WEEKDAYS),
            Hours::new(10 * 60, 18 * 60, SATURDAY | SUNDAY),
        ],
    ),
];

/// The regions a holiday may name (none: everybody).
const HOLIDAY_REGIONS: &[&[&str]] = &[
    &[],
    &["US"],
    &["US-TX", "US-FL"],
    &["CA-QC"],
    &["AU-NSW"],
    &["BR", "MX"],
    &["RU"],
    &["GB"],
];

/// Do the rules of `region` reach a number placed at `place`? A country's reach its numbers;
/// a subdivision's those known to be in it and those whose subdivision is unknown.
fn reaches(region: &str, place: &geo::NumberPlace) -> bool {
    let country = region.split('-').next().unwrap_or(region);
    let subdivision_ok =
        !region.contains('-') || place.subdivision.is_none() || place.subdivision == Some(region);
    place.country == Some(country) && subdivision_ok
}

/// The local date, weekday and minute of an instant in a zone.
struct Local {
    date: Date,
    day: Weekday,
    minute: u16,
}

impl Local {
    fn of(at: Timestamp, zone: &Zone) -> Self {
        let zoned = at.to_zoned(zone.tz().clone());
        Self {
            date: zoned.date(),
            day: zoned.weekday(),
            minute: zoned.hour() as u16 * 60 + zoned.minute() as u16,
        }
    }
}

/// Is an instant inside every rule in every zone the callee may be in?
struct Oracle<'a> {
    zones: &'a [Zone],
    window: &'a Hours,
    /// The regional windows that apply; each is a list of alternatives.
    regional: Vec<&'a [Hours]>,
    /// The dates of the holidays that apply.
    holidays: Vec<Date>,
}

impl Oracle<'_> {
    /// The first candidate zone in which `at` breaks a rule; `None`: inside everywhere.
    fn breach(&self, at: Timestamp) -> Option<&Zone> {
        self.zones.iter().find(|zone| {
            let local = Local::of(at, zone);
            !(self.window.holds(&local)
                && self
                    .regional
                    .iter()
                    .all(|alternatives| alternatives.iter().any(|h| h.holds(&local)))
                && !self.holidays.contains(&local.date))
        })
    }

    fn inside(&self, at: Timestamp) -> bool {
        self.breach(at).is_none()
    }

    /// The first quarter hour strictly after `from` and not after `to` that is inside.
    fn first_inside(&self, from: Timestamp, to: Timestamp) -> Option<Timestamp> {
        const QUARTER: i64 = 15 * 60;
        let mut s = from.as_second().div_euclid(QUARTER) * QUARTER + QUARTER;
        while s <= to.as_second() {
            let t = Timestamp::from_second(s).unwrap();
            if self.inside(t) {
                return Some(t);
            }
            s += QUARTER;
        }
        None
    }

    /// `at` in every candidate zone, for failure messages.
    fn show(&self, at: Timestamp) -> String {
        let zones: Vec<String> = self
            .zones
            .iter()
            .take(8)
            .map(|z| {
                let zoned = at.to_zoned(z.tz().clone());
                format!("{} {}", zoned.strftime("%a %Y-%m-%d %H:%M"), z.name())
            })
            .collect();
        let more = self.zones.len().saturating_sub(8);
        let more = if more > 0 {
            format!(" and {more} more zones")
        } else {
            String::new()
        };
        format!("{at} ({}{more})", zones.join(", "))
    }
}

// -------------------------------------------------------------------------------------------
// The cases
// -------------------------------------------------------------------------------------------

/// Who asked for the call, which decides whether the window binds it.
#[derive(Debug, Clone, Copy)]
enum Kind {
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
    fn facts(self) -> (u32, bool, Option<CampaignFacts>, bool) {
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
enum Request {
    /// No zone: the number's candidates.
    None,
    /// One of the number's own candidates.
    Own(Index),
    /// Any zone of the tz database.
    Any(Index),
}

#[derive(Debug, Clone)]
struct Case {
    number: usize,
    /// Seconds since the epoch, in 2025-2030.
    second: i64,
    /// Moved to this many minutes from the next clock change of one of the candidate zones.
    near_change: Option<(Index, i64)>,
    request: Request,
    /// Without its blackout dates, which are given as days from the instant's (UTC) date.
    window: Hours,
    blackouts: Vec<i64>,
    /// The window is the callback's own (a campaign's), the account's is another.
    own_window: bool,
    /// Indices into `REGIONAL`.
    regional: Vec<usize>,
    /// Days from the instant's date, and an index into `HOLIDAY_REGIONS`.
    holidays: Vec<(i64, usize)>,
    kind: Kind,
    allow_customer_requested_times: bool,
}

/// 2025-01-01T00:00:00Z and 2031-01-01T00:00:00Z.
const FROM: i64 = 1_735_689_600;
const UNTIL: i64 = 1_924_992_000;

fn hours() -> impl Strategy<Value = Hours> {
    let any = (0u16..96, 1u16..=96, 1u8..=EVERY_DAY).prop_map(|(s, len, days)| {
        let start = s * 15;
        Hours::new(start, (start + len * 15).min(24 * 60), days)
    });
    prop_oneof![Just(Hours::new(8 * 60, 21 * 60, EVERY_DAY)), any]
}

fn case() -> impl Strategy<Value = Case> {
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

/// What a case came to, to show that every branch of the property was reached.
#[derive(Default)]
struct Tally {
    dialed: Cell<u32>,
    moved: Cell<u32>,
    never: Cell<u32>,
    kept_for_customer: Cell<u32>,
}

fn check(case: &Case, tally: &Tally) -> TestCaseResult {
    let entry = &TABLE[case.number];
    let request = match &case.request {
        Request::None => None,
        Request::Own(i) => Some(i.get(entry.place.zones)),
        Request::Any(i) => Some(i.get(&ZONES)),
    };
    let located;
    let location = match request {
        None => &entry.location,
        Some(zone) => {
            located = Location::locate(&entry.phone, Some((zone, ZoneSource::Request)), None);
            &located
        }
    };
    let zones = request.map_or(entry.place.zones, std::slice::from_ref);

    let mut now = Timestamp::from_second(case.second).unwrap();
    if let Some((which, minutes)) = &case.near_change
        && let Some(change) = which.get(zones).tz().following(now).next()
    {
        now = change.timestamp().checked_add(minutes.minutes()).unwrap();
    }
    let day = |offset: i64| now.to_zoned(jiff::tz::TimeZone::UTC).date() + offset.days();

    let mut hours = case.window.clone();
    hours.closed = case.blackouts.iter().map(|&d| day(d)).collect();
    let window = hours.window();
    // The account's window when the callback brings its own, which must not be the one read.
    let elsewhere = Hours::new(10 * 60, 11 * 60, 1).window();
    let regional: Vec<(&str, &[Hours])> = case.regional.iter().map(|&i| REGIONAL[i]).collect();
    let holidays: Vec<(Date, &[&str])> = case
        .holidays
        .iter()
        .map(|&(d, r)| (day(d), HOLIDAY_REGIONS[r]))
        .collect();
    let policy = AccountSettings {
        calling_window: if case.own_window {
            elsewhere
        } else {
            window.clone()
        },
        allow_customer_requested_times: case.allow_customer_requested_times,
        regional_windows: regional
            .iter()
            .map(|(region, alternatives)| RegionalWindow {
                region: Region::parse(region, "region").unwrap(),
                windows: alternatives.iter().map(Hours::window).collect(),
            })
            .collect(),
        holidays: holidays
            .iter()
            .map(|(date, regions)| Holiday {
                date: *date,
                name: None,
                regions: regions
                    .iter()
                    .map(|r| Region::parse(r, "region").unwrap())
                    .collect(),
            })
            .collect(),
        ..AccountSettings::default()
    };
    let (attempt, attempt_open, campaign, automated) = case.kind.facts();
    let history = History::default();
    let facts = Facts {
        status: Status::Scheduled,
        due_at: now,
        attempt,
        attempt_open,
        campaign,
        dialing_mode: DialingMode::Progressive,
        window: case.own_window.then_some(&window),
        location,
        on_dnc: false,
        history: &history,
        free_agents: None,
    };
    let oracle = Oracle {
        zones,
        window: &hours,
        regional: regional
            .iter()
            .filter(|(region, _)| reaches(region, &entry.place))
            .map(|(_, alternatives)| *alternatives)
            .collect(),
        holidays: holidays
            .iter()
            .filter(|(_, regions)| {
                regions.is_empty() || regions.iter().any(|r| reaches(r, &entry.place))
            })
            .map(|(date, _)| *date)
            .collect(),
    };

    let decision = decide(&facts, &policy, now);
    let earliest = earliest_dial(&facts, &policy, now);
    let block = decision.blocked_by(BlockCode::CallingWindow);
    prop_assert!(
        decision
            .blocks
            .iter()
            .all(|b| b.code == BlockCode::CallingWindow),
        "{:?}",
        decision.blocks
    );
    let breach = oracle.breach(now);

    if !automated && case.allow_customer_requested_times {
        // The customer's time stands; the decision only notes that it is outside.
        prop_assert!(block.is_none(), "{:?}", decision.blocks);
        prop_assert_eq!(decision.notes.is_empty(), breach.is_none());
        prop_assert_eq!(earliest.clone(), Ok(now));
        tally
            .kept_for_customer
            .set(tally.kept_for_customer.get() + 1);
        return Ok(());
    }
    match block {
        None => {
            prop_assert!(
                breach.is_none(),
                "dialed at {}, outside in {}",
                oracle.show(now),
                breach.unwrap().name()
            );
            prop_assert_eq!(earliest.clone(), Ok(now));
            tally.dialed.set(tally.dialed.get() + 1);
        }
        Some(block) => {
            prop_assert!(
                breach.is_some(),
                "blocked at {}, which is inside everywhere: {}",
                oracle.show(now),
                block.reason
            );
            match block.until {
                Some(opening) => {
                    prop_assert!(opening > now, "opening {opening} is not after {now}");
                    prop_assert!(
                        oracle.inside(opening),
                        "opening {} is outside in {}: {}",
                        oracle.show(opening),
                        oracle.breach(opening).unwrap().name(),
                        block.reason
                    );
                    let sooner = oracle.first_inside(now, opening);
                    prop_assert!(
                        sooner.is_none_or(|t| t == opening),
                        "opening {} but {} is inside already",
                        oracle.show(opening),
                        oracle.show(sooner.unwrap())
                    );
                    prop_assert_eq!(earliest.clone(), Ok(opening));
                    tally.moved.set(tally.moved.get() + 1);
                }
                None => {
                    let horizon = now.checked_add((16 * 24).hours()).unwrap();
                    let found = oracle.first_inside(now, horizon);
                    prop_assert!(
                        found.is_none(),
                        "no opening found from {}, but {} is inside: {}",
                        oracle.show(now),
                        oracle.show(found.unwrap()),
                        block.reason
                    );
                    prop_assert!(
                        earliest
                            .as_ref()
                            .is_err_and(|b| b.code == BlockCode::CallingWindow),
                        "{earliest:?}"
                    );
                    tally.never.set(tally.never.get() + 1);
                }
            }
        }
    }
    Ok(())
}

/// Runs `cases` cases; panics with the smallest failing case if one fails.
fn run(cases: u32) {
    let config = ProptestConfig {
        source_file: Some(file!()),
        ..ProptestConfig::with_cases(cases)
    };
    let tally = Tally::default();
    if let Err(failure) = TestRunner::new(config).run(&case(), |case| check(&case, &tally)) {
        panic!("{failure}");
    }
    // Not vacuous: calls were let through, moved, found no opening, kept for the customer.
    let reached = [
        tally.dialed.get(),
        tally.moved.get(),
        tally.never.get(),
        tally.kept_for_customer.get(),
    ];
    assert!(reached.iter().all(|n| *n > 0), "{reached:?}");
}

#[test]
fn no_dial_decision_falls_outside_the_window_in_any_candidate_zone() {
    run(100_000);
}

#[test]
#[ignore = "a million cases, about 10 s in release: cargo test --release --lib dialing::property -- --ignored"]
fn no_dial_decision_falls_outside_the_window_in_a_million_cases() {
    run(1_000_000);
}

#[test]
fn the_table_holds_real_numbers_in_every_zone_it_names() {
    let mut countries: Vec<&str> = Vec::new();
    let mut ambiguous = 0;
    for ((number, zone), entry) in NUMBERS.iter().zip(TABLE.iter()) {
        let names: Vec<&str> = entry.location.zones().iter().map(Zone::name).collect();
        assert!(names.contains(zone), "{number}: {names:?}");
        assert_eq!(entry.location.zones(), entry.place.zones, "{number}");
        countries.extend(entry.place.country.filter(|c| !countries.contains(c)));
        if names.len() > 1 {
            assert_eq!(entry.location.source(), ZoneSource::NumberAmbiguous);
            ambiguous += 1;
        }
    }
    assert!(countries.len() >= 30, "{countries:?}");
    assert!(
        ambiguous >= 15,
        "{ambiguous} numbers have several candidate zones"
    );
    // Every US and Canadian zone, from a number placed by its area code (not a toll-free one).
    for zone in [
        "America/New_York",
        "America/Toronto",
        "America/Chicago",
        "America/Winnipeg",
        "America/Denver",
        "America/Edmonton",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Vancouver",
        "America/Anchorage",
        "America/Adak",
        "Pacific/Honolulu",
        "America/Halifax",
        "America/St_Johns",
        "America/Regina",
    ] {
        assert!(
            TABLE
                .iter()
                .any(|e| e.place.country.is_some_and(|c| c == "US" || c == "CA")
                    && e.place.zones.len() <= 2
                    && e.place.zones.iter().any(|z| z.name() == zone)),
            "no US or Canadian number placed in {zone}"
        );
    }
}

#[test]
fn clocks_change_on_quarter_hours_in_every_zone_from_2025_to_2030() {
    // What lets the scans above look at quarter hours only.
    let from = Timestamp::from_second(FROM).unwrap();
    for zone in ZONES.iter() {
        let tz = zone.tz();
        assert_eq!(tz.to_offset(from).seconds() % 900, 0, "{}", zone.name());
        for change in tz
            .following(from)
            .take_while(|c| c.timestamp().as_second() < UNTIL + 30 * 86_400)
        {
            assert_eq!(
                (
                    change.timestamp().as_second() % 900,
                    change.offset().seconds() % 900
                ),
                (0, 0),
                "{} at {}",
                zone.name(),
                change.timestamp()
            );
        }
    }
}
