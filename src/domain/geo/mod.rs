//! Where a phone number may be: the IANA time zones it may ring in and the region it belongs
//! to, for rules that depend on the called party's local time or place.
//!
//! The data is libphonenumber's prefix-to-time-zone map (its `PhoneNumberToTimeZonesMapper`),
//! generated into `assets/phone_zones/` by `tools/phone_zones/generate.py`; see the README
//! there for its source, licence and how to refresh it. The lookup mirrors libphonenumber:
//! numbers tied to a place (fixed lines, and mobiles where they carry an area) take the longest
//! matching prefix; the others (toll-free, premium, VoIP, mobiles of most countries, ...) could
//! ring anywhere their calling code reaches, so they take every zone of it.
//!
//! `Region` is the place vocabulary of account policies: an ISO 3166-1 country or an ISO 3166-2
//! subdivision.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use phonenumber::Type;
use phonenumber::metadata::{DATABASE, Database, Descriptor, Metadata};

use super::{PhoneNumber, Zone};

mod region;
mod table;

pub use region::Region;
use table::TABLE;

/// How precisely a number's place is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// From the number's prefix (area code): one place, possibly one zone.
    Prefix,
    /// Only the country calling code is known to be meaningful (toll-free, mobile in a
    /// country whose mobiles carry no area, premium, VoIP, a country-wide prefix): every zone
    /// of it.
    Country,
}

/// Where a phone number may be.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberPlace {
    /// Candidate IANA zones, never empty, in a stable order (the table's).
    pub zones: &'static [Zone],
    /// ISO 3166-1 alpha-2 of the number (from `phonenumber`'s region for it), if known.
    pub country: Option<&'static str>,
    /// ISO 3166-2 subdivision (`US-FL`, `CA-ON`) when the prefix pins one (NANP area codes).
    pub subdivision: Option<&'static str>,
    pub precision: Precision,
}

/// The place of a number. It never fails: a number whose place is unknown gets the zones of
/// its calling code, and a calling code that belongs to no country (+800, +881 ...) a zone of
/// every offset in use (it may be anywhere), with no country.
pub fn place_of(phone: &PhoneNumber) -> NumberPlace {
    let known = PLACES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(phone.as_str())
        .cloned();
    if let Some(place) = known {
        return place;
    }
    let place = match phonenumber::parse(None, phone.as_str()) {
        Ok(number) => place_parsed(&number, phone.as_str()).0,
        // Only numbers that failed to parse reach the fallback: `PhoneNumber` holds parsed ones.
        Err(_) => {
            let digits = phone.as_str().trim_start_matches('+');
            TABLE.place(digits, TABLE.calling_code_len(digits), false, None)
        }
    };
    remember(phone.as_str(), &place);
    place
}

/// Whether libphonenumber calls a parsed number valid (as `phonenumber::is_valid` decides),
/// and if so its place, remembered for [`place_of`] under its E.164 form: a number is placed
/// again at each step of the request that brought it (the dial decision, the event's
/// snapshot), and both answers come from one classification.
pub(crate) fn validate(number: &phonenumber::PhoneNumber, e164: &str) -> Option<NumberPlace> {
    let (place, valid) = place_parsed(number, e164);
    valid.then(|| {
        remember(e164, &place);
        place
    })
}

fn remember(e164: &str, place: &NumberPlace) {
    let mut places = PLACES.lock().unwrap_or_else(PoisonError::into_inner);
    if places.len() >= REMEMBERED {
        places.clear();
    }
    places.insert(e164.to_owned(), place.clone());
}

/// Places already worked out, by number. A callback's number is placed at each step of its
/// life (the dispatch guard, each event's snapshot), and working it out costs microseconds of
/// `phonenumber`'s pattern matching; remembering it costs a lookup.
static PLACES: LazyLock<Mutex<HashMap<String, NumberPlace>>> = LazyLock::new(Mutex::default);

/// How many places are remembered before the memory starts afresh.
const REMEMBERED: usize = 16_384;

/// A parsed number's place, and whether it is valid (its type in its region is known).
fn place_parsed(number: &phonenumber::PhoneNumber, e164: &str) -> (NumberPlace, bool) {
    let digits = e164.trim_start_matches('+');
    let code = number.code().value();
    let national = number.national().to_string();
    let (country, geographic, valid) = match classify(code, &national) {
        Some((meta, kind)) => (
            Some(meta.id()).filter(|id| *id != NON_GEOGRAPHIC),
            is_geographic(kind, code),
            kind != Type::Unknown,
        ),
        None => (None, false, false),
    };
    let code_len = code.checked_ilog10().map_or(1, |log| log as usize + 1);
    (TABLE.place(digits, code_len, geographic, country), valid)
}

/// libphonenumber's region of the calling codes that belong to no country.
const NON_GEOGRAPHIC: &str = "001";

/// Calling codes whose mobile numbers are tied to a place, as libphonenumber's
/// `GEO_MOBILE_COUNTRIES` has them: Mexico, Argentina, Brazil and Indonesia give mobiles area
/// codes, China assigns them by place. Elsewhere a mobile can be anywhere in its country.
const GEO_MOBILE_CODES: [u16; 5] = [52, 54, 55, 62, 86];

/// libphonenumber's `isNumberTypeGeographical`.
fn is_geographic(kind: Type, code: u16) -> bool {
    match kind {
        Type::FixedLine | Type::FixedLineOrMobile => true,
        Type::Mobile => GEO_MOBILE_CODES.contains(&code),
        _ => false,
    }
}

// `classify` and `kind_of` are the `phonenumber` crate's own `PhoneNumber::metadata` and
// `number_type`, except that they are given the national number with its leading zeros: the
// crate drops them there (not in `is_valid`), so an Italian landline (+39 02 ...) would match
// no pattern and have neither a country nor a type.

/// The region a number belongs to among those sharing its calling code, and its type there.
fn classify(code: u16, national: &str) -> Option<(&'static Metadata, Type)> {
    let database: &'static Database = &DATABASE;
    let with_kind = |meta: &'static Metadata| (meta, kind_of(meta, national));
    let regions = database.region(&code)?;
    match regions[..] {
        [NON_GEOGRAPHIC] => database.by_code(&code)?.into_iter().next().map(with_kind),
        [only] => database.by_id(only).map(with_kind),
        _ => regions
            .iter()
            .filter_map(|region| database.by_id(*region))
            .find_map(|meta| match meta.leading_digits() {
                Some(leading) => leading
                    .find(national)
                    .is_some_and(|m| m.start() == 0)
                    .then(|| with_kind(meta)),
                None => Some(with_kind(meta)).filter(|(_, kind)| *kind != Type::Unknown),
            }),
    }
}

/// The type of a national number in its region; the first special service that matches wins,
/// as in libphonenumber.
fn kind_of(meta: &Metadata, national: &str) -> Type {
    let d = meta.descriptors();
    let matches = |desc: Option<&Descriptor>| desc.is_some_and(|desc| desc.is_match(national));
    if !d.general().is_match(national) {
        return Type::Unknown;
    }
    let services = [
        (d.premium_rate(), Type::PremiumRate),
        (d.toll_free(), Type::TollFree),
        (d.shared_cost(), Type::SharedCost),
        (d.voip(), Type::Voip),
        (d.personal_number(), Type::PersonalNumber),
        (d.pager(), Type::Pager),
        (d.uan(), Type::Uan),
        (d.voicemail(), Type::Voicemail),
    ];
    if let Some((_, kind)) = services.into_iter().find(|(desc, _)| matches(*desc)) {
        return kind;
    }
    let same_patterns = d.fixed_line().map(|f| f.national_number().as_str())
        == d.mobile().map(|m| m.national_number().as_str());
    match (matches(d.fixed_line()), matches(d.mobile())) {
        (true, true) => Type::FixedLineOrMobile,
        (true, false) if same_patterns => Type::FixedLineOrMobile,
        (true, false) => Type::FixedLine,
        (false, true) => Type::Mobile,
        (false, false) => Type::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(text: &str) -> PhoneNumber {
        PhoneNumber::parse(text, "phone").unwrap()
    }

    fn names(place: &NumberPlace) -> Vec<&str> {
        place.zones.iter().map(Zone::name).collect()
    }

    /// The example national numbers of a region's number types, as its metadata gives them.
    fn examples(meta: &Metadata) -> impl Iterator<Item = &str> {
        let d = meta.descriptors();
        [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .filter_map(Descriptor::example)
    }

    /// `validate` agrees with `phonenumber::is_valid` on every example number of every region
    /// and type in libphonenumber's metadata, and on each with a digit too few or too many.
    #[test]
    fn validity_is_libphonenumbers() {
        let database: &'static Database = &DATABASE;
        let mut checked = 0;
        let mut valid = 0;
        for code in 1..1000u16 {
            for region in database.region(&code).unwrap_or_default() {
                let metas = match region {
                    NON_GEOGRAPHIC => database.by_code(&code).unwrap_or_default(),
                    id => database.by_id(id).into_iter().collect(),
                };
                for meta in metas {
                    let general = meta.descriptors().general().example();
                    for example in general.into_iter().chain(examples(meta)) {
                        for national in [
                            example.to_owned(),
                            example[..example.len() - 1].to_owned(),
                            format!("{example}7"),
                        ] {
                            let text = format!("+{code}{national}");
                            let Ok(number) = phonenumber::parse(None, &text) else {
                                continue;
                            };
                            let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
                            let ours = validate(&number, &e164).is_some();
                            assert_eq!(ours, phonenumber::is_valid(&number), "{text}");
                            checked += 1;
                            valid += usize::from(ours);
                        }
                    }
                }
            }
        }
        assert!(
            checked > 2_000 && valid > 1_000,
            "{checked} checked, {valid} valid"
        );
    }

    #[test]
    fn numbers_tied_to_a_place_take_their_prefix() {
        use Precision::*;
        // Number, its zones ("+ zone": one of them), its country or subdivision, precision.
        let cases = [
            ("+14155550199", "America/Los_Angeles", "US-CA", Prefix),
            ("+12125550199", "America/New_York", "US-NY", Prefix),
            ("+13055550199", "America/New_York", "US-FL", Prefix),
            ("+14165550199", "America/Toronto", "CA-ON", Prefix),
            ("+16045550199", "America/Vancouver", "CA-BC", Prefix),
            // Labrador, also in 709, keeps Atlantic time.
            ("+17095550199", "+ America/St_Johns", "CA-NL", Prefix),
            ("+17875550199", "America/Puerto_Rico", "PR", Prefix),
            ("+61293744000", "Australia/Sydney", "AU", Prefix),
            ("+551134567890", "America/Sao_Paulo", "BR", Prefix),
            // Brazil's mobiles carry their area code.
            ("+5511987654321", "America/Sao_Paulo", "BR", Prefix),
            ("+525512345678", "America/Mexico_City", "MX", Prefix),
            ("+74951234567", "Europe/Moscow", "RU", Prefix),
            ("+622112345678", "Asia/Jakarta", "ID", Prefix),
            ("+442079460958", "Europe/London", "GB", Prefix),
            // Germany has one zone: the country's line says it all.
            ("+493012345678", "Europe/Berlin", "DE", Country),
            // Italian landlines keep their leading zero (see `classify`).
            ("+390212345678", "Europe/Rome", "IT", Prefix),
            ("+390669812345", "Europe/Vatican", "VA", Prefix),
        ];
        for (number, zones, region, precision) in cases {
            let place = place_of(&phone(number));
            let found = names(&place);
            match zones.strip_prefix("+ ") {
                Some(zone) => assert!(found.contains(&zone), "{number}: {found:?}"),
                None => assert_eq!(found, [zones], "{number}"),
            }
            assert_eq!(place.country, Some(&region[..2]), "{number}");
            let subdivision = (region.len() > 2).then_some(region);
            assert_eq!(place.subdivision, subdivision, "{number}");
            assert_eq!(place.precision, precision, "{number}");
        }
    }

    #[test]
    fn numbers_not_tied_to_a_place_take_every_zone_of_their_calling_code() {
        let us = [
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "America/Adak",
            "Pacific/Honolulu",
        ];
        for number in ["+18005550199", "+18885550199"] {
            let place = place_of(&phone(number));
            let found = names(&place);
            assert!(us.iter().all(|z| found.contains(z)), "{number}: {found:?}");
            assert_eq!(place.precision, Precision::Country, "{number}");
            assert_eq!((place.country, place.subdivision), (Some("US"), None));
        }
        // Australia's mobiles carry no area.
        let place = place_of(&phone("+61412345678"));
        let found = names(&place);
        for zone in ["Australia/Sydney", "Australia/Perth", "Australia/Adelaide"] {
            assert!(found.contains(&zone), "{found:?}");
        }
        assert_eq!(place.precision, Precision::Country);
        // International freephone belongs to no country.
        let place = place_of(&phone("+80012345678"));
        assert_eq!(place.country, None);
        assert_eq!(place.precision, Precision::Country);
        assert!(!place.zones.is_empty());
    }

    /// zone.tab's zones of Russia (tz database 2025b).
    const RUSSIA: [&str; 26] = [
        "Asia/Anadyr",
        "Asia/Barnaul",
        "Asia/Chita",
        "Asia/Irkutsk",
        "Asia/Kamchatka",
        "Asia/Khandyga",
        "Asia/Krasnoyarsk",
        "Asia/Magadan",
        "Asia/Novokuznetsk",
        "Asia/Novosibirsk",
        "Asia/Omsk",
        "Asia/Sakhalin",
        "Asia/Srednekolymsk",
        "Asia/Tomsk",
        "Asia/Ust-Nera",
        "Asia/Vladivostok",
        "Asia/Yakutsk",
        "Asia/Yekaterinburg",
        "Europe/Astrakhan",
        "Europe/Kaliningrad",
        "Europe/Kirov",
        "Europe/Moscow",
        "Europe/Samara",
        "Europe/Saratov",
        "Europe/Ulyanovsk",
        "Europe/Volgograd",
    ];

    #[test]
    fn zones_of_another_country_are_replaced_by_the_countrys_own() {
        // libphonenumber names these a zone of another country with the same offset today but
        // other daylight saving rules (in the comment); the generator puts the country's own.
        for (number, zones) in [
            ("+50522701234", &["America/Managua"][..]), // America/Chicago
            ("+211912345678", &["Africa/Juba"]),        // Africa/Nairobi
            ("+218212345678", &["Africa/Tripoli"]),     // Europe/Bucharest
            ("+21321123456", &["Africa/Algiers"]),      // Europe/Paris
            // Atlantic/Canary. +212 is Western Sahara's too, whence El_Aaiun (Morocco's clocks).
            ("+212522123456", &["Africa/Casablanca", "Africa/El_Aaiun"]),
            ("+35312345678", &["Europe/Dublin"]), // Europe/London and its Crown dependencies
            ("+375172345678", &["Europe/Minsk"]), // Europe/Moscow
            ("+37052345678", &["Europe/Vilnius"]), // Europe/Bucharest
            ("+37167123456", &["Europe/Riga"]),   // Europe/Bucharest
            ("+3726123456", &["Europe/Tallinn"]), // Europe/Bucharest
            ("+97022345678", &["Asia/Gaza", "Asia/Hebron"]), // Europe/Bucharest
        ] {
            let place = place_of(&phone(number));
            assert_eq!(names(&place), zones, "{number}");
            assert!(place.country.is_some(), "{number}");
        }
        // Kaliningrad (+7 401), in Europe/Bucharest for libphonenumber: every zone of Russia.
        let place = place_of(&phone("+74012345678"));
        let found = names(&place);
        assert!(found.contains(&"Europe/Kaliningrad"), "{found:?}");
        assert!(found.iter().all(|zone| RUSSIA.contains(zone)), "{found:?}");
        assert_eq!(place.country, Some("RU"));
        // +1 879, Newfoundland and Labrador. libphonenumber also names America/Puerto_Rico,
        // which the tz database counts as Canada's too (Quebec's Lower North Shore).
        let place = place_of(&phone("+18792345678"));
        assert!(names(&place).contains(&"America/St_Johns"), "{place:?}");
        assert_eq!(place.subdivision, Some("CA-NL"));
        // Mexico: no line of +52 holds America/New_York any more (libphonenumber has it in some).
        let mut lines = 0;
        for (prefix, line) in &TABLE.prefixes {
            let Some(set) = line.zones.filter(|_| prefix.starts_with("52")) else {
                continue;
            };
            let zones: Vec<&str> = TABLE.sets[set].iter().map(Zone::name).collect();
            assert!(!zones.contains(&"America/New_York"), "+{prefix}: {zones:?}");
            assert!(
                zones.iter().all(|z| z.starts_with("America/")),
                "+{prefix}: {zones:?}"
            );
            lines += 1;
        }
        assert!(lines > 50, "{lines}");
    }

    #[test]
    fn numbers_of_no_country_may_be_anywhere() {
        // International freephone (+800) and a satellite phone (+881): a zone of every offset.
        let mut expected: Vec<String> = (1..=12).map(|h| format!("Etc/GMT+{h}")).collect();
        expected.push("Etc/GMT".to_owned());
        expected.extend((1..=14).map(|h| format!("Etc/GMT-{h}")));
        expected.extend(
            [
                "America/St_Johns",
                "Pacific/Marquesas",
                "Asia/Tehran",
                "Asia/Kabul",
                "Asia/Kolkata",
                "Asia/Kathmandu",
                "Asia/Yangon",
                "Australia/Eucla",
                "Australia/Adelaide",
                "Pacific/Chatham",
            ]
            .map(str::to_owned),
        );
        expected.sort();
        for number in ["+80012345678", "+881612345678"] {
            let place = place_of(&phone(number));
            assert_eq!(place.country, None, "{number}");
            assert_eq!(place.subdivision, None, "{number}");
            assert_eq!(place.precision, Precision::Country, "{number}");
            let mut found = names(&place);
            found.sort_unstable();
            assert_eq!(found, expected, "{number}");
            // jiff knows them all, and they show 37 different offsets, UTC-12 to UTC+14, in
            // winter and in summer alike: no calling window holds in all of them at once.
            for at in ["2025-01-15T12:00:00Z", "2025-07-15T12:00:00Z"] {
                let at: jiff::Timestamp = at.parse().unwrap();
                let mut offsets: Vec<i32> = place
                    .zones
                    .iter()
                    .map(|zone| zone.tz().to_offset(at).seconds())
                    .collect();
                offsets.sort_unstable();
                offsets.dedup();
                assert_eq!(offsets.len(), 37, "{number} at {at}: {offsets:?}");
                assert_eq!(offsets[0], -12 * 3600);
                assert_eq!(offsets[36], 14 * 3600);
            }
        }
    }

    #[test]
    fn a_number_of_every_country_has_a_place() {
        let mut regions = 0;
        for meta in DATABASE.iter() {
            let mut placed = false;
            for example in examples(meta) {
                let Ok(number) =
                    PhoneNumber::parse(&format!("+{}{example}", meta.country_code()), "phone")
                else {
                    continue;
                };
                let place = place_of(&number);
                assert!(!place.zones.is_empty(), "{number}");
                // It may be another region's of its calling code (libphonenumber has a Jersey
                // mobile example as GB's), but it is a country's unless the code is no one's.
                let sharing = DATABASE.region(&meta.country_code()).unwrap();
                match place.country {
                    Some(country) => assert!(sharing.contains(&country), "{number}: {country}"),
                    None => assert_eq!(sharing, [NON_GEOGRAPHIC], "{number}"),
                }
                placed = true;
            }
            assert!(placed, "no valid example number for {}", meta.id());
            regions += 1;
        }
        assert!(regions > 240, "{regions}");
    }
}
