#!/usr/bin/env python3
"""Writes assets/phone_zones/phone_zones.txt: where a phone number may be.

The zones come from libphonenumber's prefix-to-time-zone map as shipped in the PyPI package
`phonenumbers`; the states and provinces of North American (+1) area codes from its geocoder;
the country of a prefix from its region metadata. The tz database speaks in three places only:

- where libphonenumber has no zone for a whole calling code, its zone.tab gives them;
- corrections: where libphonenumber names a zone of another country (one that shares the
  offset today, +505 Nicaragua as America/Chicago, but not the daylight saving rules), that
  zone is replaced by every zone zone.tab lists for the prefix's own countries (see `correct`);
- the calling codes of no country (+800 freephone, +881 satellite ...) may ring anywhere, so
  they get a fixed set of zones covering every offset in use (`ANYWHERE`).

Run from anywhere (Python 3.11+), with the phonenumbers version you mean to vendor:

    pip install phonenumbers==<version> regex && python3 tools/phone_zones/generate.py

(`regex`, for its partial matches, tells which region a prefix's numbers belong to.) The tz
database is read from $TZDIR (default /usr/share/zoneinfo). The output is sorted, so the same
inputs always give the same file. Any gap in coverage, or a zone of another country left in a
line after the corrections, stops the script with an error rather than writing a bad table.
"""

import os
import re
import struct
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import regex
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.tzdata import TIMEZONE_DATA

OUTPUT = Path(__file__).resolve().parents[2] / "assets" / "phone_zones" / "phone_zones.txt"
TZDIR = Path(os.environ.get("TZDIR", "/usr/share/zoneinfo"))
UNKNOWN = "Etc/Unknown"
# Calling codes of no country (+800 freephone, +808 shared cost, +870 Inmarsat, +881 satellite,
# ...): libphonenumber's region "001". Such a number may ring anywhere, so it gets a zone of
# every offset in use: the whole hours, UTC-12 to UTC+14, and a zone of each offset that is
# not a whole hour (a check below fails if the tz database has one they miss). The Rust side
# reports no country for them. No calling window holds in all of them at once: such a number
# is called only when the request names the callee's zone.
ANYWHERE = (
    *(f"Etc/GMT+{hours}" for hours in range(12, 0, -1)),
    "Etc/GMT",
    *(f"Etc/GMT-{hours}" for hours in range(1, 15)),
    "America/St_Johns",  # -03:30, -02:30
    "Pacific/Marquesas",  # -09:30
    "Asia/Tehran",  # +03:30
    "Asia/Kabul",  # +04:30
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Asia/Yangon",  # +06:30
    "Australia/Eucla",  # +08:45
    "Australia/Adelaide",  # +09:30, +10:30
    "Pacific/Chatham",  # +12:45, +13:45
)

# libphonenumber still writes some zones by names the tz database keeps only as links to the
# current ones; the current name is what users type and what the rest of Ringback compares.
RENAMED = {
    "Africa/Asmera": "Africa/Asmara",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Godthab": "America/Nuuk",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Choibalsan": "Asia/Ulaanbaatar",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "Pacific/Enderbury": "Pacific/Kanton",
    "Pacific/Ponape": "Pacific/Pohnpei",
    "Pacific/Truk": "Pacific/Chuuk",
}

# The geocoder's English area-code descriptions, mapped to postal codes. Its quirks are kept
# here on purpose ("Washington State", "British Colombia") so that a new spelling fails below.
US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY",
    "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO",
    "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington State": "WA", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY",
}
CA_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC", "Manitoba": "MB",
    "New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Nova Scotia": "NS",
    "Northwest Territories": "NT", "Nunavut": "NU", "Ontario": "ON",
    "Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK", "Yukon": "YT",
}
SUBDIVISIONS = {"US": US_STATES, "CA": CA_PROVINCES}
# libphonenumber's regions that the tz database, which follows ISO 3166-1, counts as part of
# another country: Ascension and Tristan da Cunha (Saint Helena, Ascension and Tristan da
# Cunha), Kosovo (zone.tab's Europe/Belgrade covers it).
TZ_COUNTRY = {"AC": "SH", "TA": "SH", "XK": "RS"}
# Area codes shared by several provinces pin none of them.
SEVERAL = {"Nova Scotia/Prince Edward Island", "Northwest Territories/Nunavut/Yukon"}
# Subscriber numbers tried to learn which NANP region an area code belongs to: libphonenumber
# decides by leading digits or by a full pattern match, so the number must look real.
NANP_SAMPLES = ("2345678", "2002000", "5550100", "3334444", "7654321", "9876543")

errors = []


def fail(message):
    errors.append(message)


class Tzdb:
    """What the tz database says: its version, the zones of each country, their clocks."""

    def __init__(self):
        self.version = "unknown"
        zi = TZDIR / "tzdata.zi"
        if zi.is_file():
            self.version = zi.read_text().split("\n", 1)[0].removeprefix("# version ").strip()
        # zone.tab: the zones of a country, each by one name, for the corrections and the
        # calling codes libphonenumber gives no zone. zone1970.tab also names a zone for every
        # country whose clocks have agreed with it since 1970 (America/Puerto_Rico for CA, the
        # Lower North Shore of Quebec); both say which zones are a country's own.
        self.zone_tab = self.read_tab("zone.tab")
        self.by_region = {region: set(zones) for region, zones in self.zone_tab.items()}
        for region, zones in self.read_tab("zone1970.tab").items():
            self.by_region.setdefault(region, set()).update(zones)
        self.listed = set().union(*self.by_region.values())
        self.known_clocks = {}

    @staticmethod
    def read_tab(table):
        path = TZDIR / table
        if not path.is_file():
            sys.exit(f"generate.py: no {table} under {TZDIR}; set TZDIR to a tz database")
        by_region = {}
        for line in path.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            regions, _, zone = line.split("\t")[:3]
            for region in regions.split(","):
                by_region.setdefault(region, set()).add(zone)
        return by_region

    def clocks(self, zone):
        """What a zone's clocks show from 1970 on: its offset then, each change of offset
        since, and its rule for the years after its last transition (the TZif footer). Two
        names of one zone, a link (backward ones included) and its target, have the same; so
        do Europe/Jersey and Europe/London where a build of the tz database (Debian's, with
        backzone) keeps the first as a zone of its own rather than a link."""
        if zone in self.known_clocks:
            return self.known_clocks[zone]
        path = TZDIR / zone
        data = path.read_bytes() if path.is_file() else b""
        if data[:4] != b"TZif" or data[4:5] < b"2":
            sys.exit(f"generate.py: {path} is not a TZif file of version 2 or later")

        def counts(at):  # isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
            return struct.unpack(">6l", data[at + 20 : at + 44])

        isut, isstd, leap, times, types, chars = counts(0)
        at = 44 + times * 5 + types * 6 + chars + leap * 8 + isstd + isut  # the v1 block
        isut, isstd, leap, times, types, chars = counts(at)
        at += 44
        moments = struct.unpack(f">{times}q", data[at : at + times * 8])
        at += times * 8
        kinds = data[at : at + times]
        at += times
        offsets = [struct.unpack(">l", data[at + i * 6 : at + i * 6 + 4])[0] for i in range(types)]
        at += types * 6 + chars + leap * 12 + isstd + isut
        footer = data[at:].decode().strip("\n")
        offset = offsets[0]
        changes = []
        for moment, kind in zip(moments, kinds):
            if moment <= 0:
                offset = offsets[kind]
            elif offsets[kind] != (changes[-1][1] if changes else offset):
                changes.append((moment, offsets[kind]))
        self.known_clocks[zone] = (offset, tuple(changes), footer)
        return self.known_clocks[zone]

    def countries(self, regions):
        """The tz database's countries for libphonenumber's regions."""
        return {TZ_COUNTRY.get(region, region) for region in regions}

    def own(self, regions):
        """The clocks of the countries' zones in zone.tab and zone1970.tab."""
        return {
            self.clocks(zone)
            for country in self.countries(regions)
            for zone in self.by_region.get(country, ())
        }

    def is_own(self, zone, regions):
        return self.clocks(zone) in self.own(regions)

    def zones_of(self, regions):
        """Every zone zone.tab lists for the countries, sorted."""
        countries = self.countries(regions)
        return tuple(sorted({zone for c in countries for zone in self.zone_tab.get(c, ())}))

    def offsets(self, zone, year):
        """The UTC offsets (in minutes) a zone shows on the 1st and 15th of each month."""
        path = TZDIR / zone
        if not path.is_file():
            fail(f"zone {zone} is not in {TZDIR}")
            return set()
        with path.open("rb") as file:
            tz = ZoneInfo.from_file(file, key=zone)
        instants = (
            datetime(year, month, day, 12, tzinfo=timezone.utc)
            for month in range(1, 13)
            for day in (1, 15)
        )
        return {int(at.astimezone(tz).utcoffset().total_seconds()) // 60 for at in instants}


def zone_set(zones, listed):
    """Current names, sorted; every one must be a zone the tz database lists for a country."""
    found = set()
    for zone in zones:
        if zone == UNKNOWN:
            continue
        zone = RENAMED.get(zone, zone)
        if zone not in listed:
            fail(f"zone {zone} is in no zone.tab line; if it was renamed, add it to RENAMED")
        found.add(zone)
    return tuple(sorted(found))


def calling_code_of(prefix):
    for length in (1, 2, 3):
        if int(prefix[:length]) in COUNTRY_CODE_TO_REGION_CODE:
            return prefix[:length]
    return None


# The number types of libphonenumber's `_number_type_helper`: a number of a region without
# leading digits belongs to it when it matches its general pattern and one of these.
NUMBER_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)


def may_begin(pattern, digits):
    """Whether some string the pattern matches as a whole begins with the digits."""
    return pattern is not None and regex.fullmatch(pattern, digits, partial=True) is not None


def regions_of(prefix):
    """The regions whose numbers may begin with a prefix. A calling code's own line is every
    region sharing the code; a longer prefix of a shared code is told apart as libphonenumber's
    `_region_code_for_number_from_list` does: a region with leading digits takes the numbers
    they match (and when they match the prefix itself, every number of it, so no later region
    can), one without takes the valid numbers of its own."""
    code = calling_code_of(prefix)
    regions = COUNTRY_CODE_TO_REGION_CODE[int(code)]
    if prefix == code or len(regions) == 1:
        return regions
    national = prefix[len(code):]
    found = []
    for region in regions:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta.leading_digits is not None:
            if re.match(meta.leading_digits, national):
                found.append(region)
                break
            if regex.match(meta.leading_digits, national, partial=True):
                found.append(region)
        elif may_begin(meta.general_desc.national_number_pattern, national) and any(
            may_begin(desc.national_number_pattern, national)
            for desc in (getattr(meta, kind) for kind in NUMBER_TYPES)
            if desc is not None
        ):
            found.append(region)
    return tuple(found)


def nanp_country(area):
    """The region libphonenumber gives numbers of a +1 area code (US, CA, PR, JM ...)."""
    for sample in NANP_SAMPLES:
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(area + sample))
        region = phonenumbers.region_code_for_number(number)
        if region:
            return region
    return None


def state_in(country, text):
    """A description's postal code; None for several; "?" when it names no subdivision."""
    names = SUBDIVISIONS[country]
    if text in SEVERAL:
        return None
    if text in names:
        return names[text]
    match = re.fullmatch(r".*, ([A-Z]{2})", text)
    if match and match[1] in names.values():
        return match[1]
    return "?"


def nanp_region(area):
    """`US-FL`, `CA-ON`, or just the country (`PR`, `JM`, `CA`) for a 3-digit area code."""
    country = nanp_country(area)
    if country not in SUBDIVISIONS:
        return country
    key = "1" + area
    described = GEOCODE_DATA.get(key, {}).get("en")
    if described is not None:
        state = state_in(country, described)
        if state == "?":
            fail(f"+1 {area} ({country}): no subdivision known for {described!r}")
            state = None
    else:
        # No area-code-level entry: the city-level ones may still agree on one state.
        states = {
            state_in(country, names["en"])
            for prefix, names in GEOCODE_DATA.items()
            if prefix.startswith(key) and "en" in names
        } - {"?"}
        state = states.pop() if len(states) == 1 else None
    return f"{country}-{state}" if state else country


def countries_of(prefix, names, tzdb):
    """The countries of a line, and a note on how they were found. They are the regions its
    numbers belong to (`regions_of`; for a prefix libphonenumber's patterns no longer allow, a
    stale line of its time zone map, those of the calling code), and any other region sharing
    the calling code whose zone libphonenumber names for it: the time zone map and the region
    patterns do not always agree (+61 8 5120 4 is AU's by the patterns, Christmas Island's by
    the map and the geocoder), and a real place of the number must not be corrected away."""
    code = calling_code_of(prefix)
    sharing = COUNTRY_CODE_TO_REGION_CODE[int(code)]
    regions = regions_of(prefix)
    note = None
    if not regions:
        regions = sharing
        note = f"no number of {'/'.join(sharing)} begins with it; taken as +{code}'s"
    strangers = [zone for zone in names if not tzdb.is_own(zone, regions)]
    named = tuple(
        region
        for region in sharing
        if region not in regions and any(tzdb.is_own(zone, [region]) for zone in strangers)
    )
    if named:
        note = f"{'/'.join(regions)} by the patterns, {'/'.join(named)} by the zones; both kept"
        regions = (*regions, *named)
    return regions, note


def is_nowhere(code):
    return all(region == "001" for region in COUNTRY_CODE_TO_REGION_CODE[int(code)])


def build(tzdb):
    listed = tzdb.listed
    zones = {}
    for prefix, names in TIMEZONE_DATA.items():
        code = calling_code_of(prefix)
        if code is None:
            fail(f"prefix {prefix} has no calling code")
            continue
        if is_nowhere(code):
            fail(f"+{prefix}: libphonenumber now gives zones to a calling code of no country")
            continue
        found = zone_set(names, listed)
        if found:
            zones[prefix] = found
    fallbacks = []
    for number, regions in sorted(COUNTRY_CODE_TO_REGION_CODE.items()):
        code = str(number)
        if code in zones:
            continue
        if is_nowhere(code):
            zones[code] = tuple(sorted(ANYWHERE))
            continue
        found = zone_set(tzdb.zones_of(regions), listed)
        if not found:
            fail(f"+{code} ({', '.join(regions)}): no zone in libphonenumber or zone.tab")
            continue
        zones[code] = found
        fallbacks.append(code)

    regions = {}
    areas = {p[1:4] for p in (*TIMEZONE_DATA, *GEOCODE_DATA) if p.startswith("1") and len(p) >= 4}
    for area in sorted(areas):
        region = nanp_region(area)
        if region:
            regions["1" + area] = region
    return zones, regions, fallbacks


def lines(zones, regions):
    """One line per prefix, leaving out those that say nothing their shorter prefix doesn't."""
    def inherited(table, prefix, code):
        for length in range(len(prefix) - 1, len(code) - 1, -1):
            if prefix[:length] in table:
                return table[prefix[:length]]
        return None

    out = []
    for prefix in sorted(set(zones) | set(regions)):
        code = calling_code_of(prefix)
        own, region = zones.get(prefix), regions.get(prefix)
        if prefix != code:
            if own == inherited(zones, prefix, code):
                own = None
            if region == inherited(regions, prefix, code):
                region = None
            if own is None and region is None:
                continue
        line = f"{prefix}|{' '.join(own or ())}"
        out.append(f"{line}|{region}" if region else line)
    return out


def correct(zones, tzdb):
    """The one correction made to libphonenumber's zones. It sometimes names a zone of another
    country that shares the offset today but not the daylight saving rules (+505 Nicaragua as
    America/Chicago, +213 Algeria as Europe/Paris). For each line, the countries are those its
    numbers belong to (`countries_of`); a zone that is not theirs in zone.tab or zone1970.tab
    (nor has the same clocks since 1970 as one of theirs, as a link to it does) is replaced by
    every zone zone.tab lists for them: a superset of where the number may be, which is safe
    where a wrong zone is not. Returns the corrected prefixes and every line's countries."""
    corrected = {}
    for region in sorted({r for rs in COUNTRY_CODE_TO_REGION_CODE.values() for r in rs}):
        if region != "001" and not tzdb.zones_of([region]):
            fail(f"region {region}: no zone in zone.tab; if it is part of a country there,"
                 " add it to TZ_COUNTRY")
    countries = {}
    for prefix, names in sorted(zones.items()):
        code = calling_code_of(prefix)
        if is_nowhere(code):
            continue
        regions, note = countries_of(prefix, names, tzdb)
        countries[prefix] = regions
        if note:
            print(f"note: +{prefix}: {note}", file=sys.stderr)
        foreign = [zone for zone in names if not tzdb.is_own(zone, regions)]
        if not foreign:
            continue
        instead = tzdb.zones_of(regions)
        if not instead:
            fail(f"+{prefix} ({'/'.join(regions)}): zone.tab lists no zone for it")
            continue
        zones[prefix] = tuple(sorted(set(names) - set(foreign) | set(instead)))
        corrected[prefix] = (regions, foreign)
        print(
            f"note: +{prefix} ({'/'.join(regions)}): {' '.join(foreign)} not theirs;"
            f" now {' '.join(zones[prefix])}",
            file=sys.stderr,
        )
    return corrected, countries


def check(zones, countries, tzdb):
    """After the corrections, every zone of a line is its countries' own, and the zones of the
    calling codes of no country cover every offset the tz database uses."""
    for prefix, names in sorted(zones.items()):
        if is_nowhere(calling_code_of(prefix)):
            if names != tuple(sorted(ANYWHERE)):
                fail(f"+{prefix}: a calling code of no country, not written as anywhere")
            continue
        for zone in names:
            if not tzdb.is_own(zone, countries[prefix]):
                fail(f"+{prefix}: {zone} is still another country's after the corrections")
        code = calling_code_of(prefix)
        if not set(names) <= set(zones[code]):
            fail(f"+{prefix}: a zone its calling code's line lacks ({' '.join(names)})")
    match = re.match(r"\d{4}", tzdb.version)
    if not match:
        fail(f"tz database version {tzdb.version!r} names no year to check offsets in")
        return
    year = int(match[0])
    covered = set().union(*(tzdb.offsets(zone, year) for zone in ANYWHERE))
    for zone in sorted(tzdb.listed):
        for offset in sorted(tzdb.offsets(zone, year) - covered):
            hours, minutes = divmod(abs(offset), 60)
            sign = "-" if offset < 0 else "+"
            fail(f"{zone} is at {sign}{hours:02}:{minutes:02}, an offset no ANYWHERE zone has")


def main():
    tzdb = Tzdb()
    zones, regions, fallbacks = build(tzdb)
    corrected, countries = correct(zones, tzdb)
    check(zones, countries, tzdb)
    for number in COUNTRY_CODE_TO_REGION_CODE:
        if str(number) not in zones:
            fail(f"+{number} has no country-level entry")
    if errors:
        sys.exit("generate.py: " + "\n  ".join(["check failed:", *errors]))
    body = lines(zones, regions)
    nowhere = sorted(str(n) for n in COUNTRY_CODE_TO_REGION_CODE if is_nowhere(str(n)))
    corrections = wrapped(
        "# Corrected, libphonenumber naming a zone of another country there (see README.md):",
        [f"{prefix} {'/'.join(regions)}" for prefix, (regions, _) in corrected.items()],
    )
    header = [
        "# Where a phone number may be: E.164 digit prefix -> IANA time zones [-> region].",
        f"# Generated by tools/phone_zones/generate.py from phonenumbers {phonenumbers.__version__}",
        "# (libphonenumber's timezone map and geocoder, Apache-2.0, see LICENSE) and tz database",
        f"# {tzdb.version} (zone.tab, zone1970.tab). Do not edit by hand; rerun:",
        f"#   pip install phonenumbers=={phonenumbers.__version__} regex"
        " && python3 tools/phone_zones/generate.py",
        "# Line: prefix|zones|region. The longest matching prefix gives the zones; an empty zone",
        "# list (and a missing region) means those of the next shorter prefix. A calling code's",
        "# own line holds every zone of it. Region (+1 area codes only): ISO 3166-2 subdivision",
        "# or ISO 3166-1 country.",
        f"# Calling codes of no country ({' '.join(nowhere)}) may ring anywhere:",
        "# their zones hold every offset in use.",
        "# Calling codes with zones from zone.tab (none in libphonenumber): "
        + (" ".join(fallbacks) or "none"),
        *corrections,
    ]
    OUTPUT.write_text("\n".join(header + body) + "\n")
    print(f"wrote {len(body)} prefixes to {OUTPUT.name}", file=sys.stderr)


def wrapped(first, items, width=92):
    """Comment lines: the first, then the items (or "none"), none longer than `width`."""
    out, line = [first], "#  "
    for item in items or ["none"]:
        if len(line) + 1 + len(item) > width:
            out.append(line)
            line = "#  "
        line += " " + item
    return [*out, line]


if __name__ == "__main__":
    main()
