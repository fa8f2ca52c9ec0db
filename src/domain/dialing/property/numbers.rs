//! The numbers the property is run on: real numbers of 43 countries, each with a zone it must
//! be placed in, worked out once; and every zone of the tz database for a request to name.

use std::sync::LazyLock;

use super::*;
use crate::domain::{PhoneNumber, geo};

/// Real numbers, each with a zone it must be placed in (what the row is there for). The zones
/// are those of libphonenumber's prefix table, which is not always the zone a map would give.
pub(super) const NUMBERS: &[(&str, &str)] = &[
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
pub(super) struct Entry {
    pub(super) phone: PhoneNumber,
    /// The oracle's view: candidate zones, country and subdivision.
    pub(super) place: geo::NumberPlace,
    /// Where the code under test places it when no zone is given.
    pub(super) location: Location,
}

pub(super) static TABLE: LazyLock<Vec<Entry>> = LazyLock::new(|| {
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
pub(super) static ZONES: LazyLock<Vec<Zone>> = LazyLock::new(|| {
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
