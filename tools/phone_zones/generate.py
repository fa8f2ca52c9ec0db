#!/usr/bin/env python3
"""Writes assets/phone_zones/phone_zones.txt: where a phone number may be.

The zones come from libphonenumber's prefix-to-time-zone map as shipped in the PyPI package
`phonenumbers`; the states and provinces of North American (+1) area codes from its geocoder;
the country of an area code from its region metadata. Only where libphonenumber has no zone
for a whole calling code does the tz database's zone.tab speak instead.

Run from anywhere (Python 3.11+), with the phonenumbers version you mean to vendor:

    pip install phonenumbers==<version> && python3 tools/phone_zones/generate.py

The tz database is read from $TZDIR (default /usr/share/zoneinfo). The output is sorted, so
the same inputs always give the same file. Any gap in coverage stops the script with an error
rather than writing a table with holes.
"""

import os
import re
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.tzdata import TIMEZONE_DATA

OUTPUT = Path(__file__).resolve().parents[2] / "assets" / "phone_zones" / "phone_zones.txt"
TZDIR = Path(os.environ.get("TZDIR", "/usr/share/zoneinfo"))
UNKNOWN = "Etc/Unknown"
# Calling codes of no country (+800 freephone, +881 satellite, ...): libphonenumber's region
# "001". They get this zone so that every number has one; the Rust side reports no country.
NON_GEOGRAPHIC_ZONE = "Etc/UTC"

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
# Area codes shared by several provinces pin none of them.
SEVERAL = {"Nova Scotia/Prince Edward Island", "Northwest Territories/Nunavut/Yukon"}
# Subscriber numbers tried to learn which NANP region an area code belongs to: libphonenumber
# decides by leading digits or by a full pattern match, so the number must look real.
NANP_SAMPLES = ("2345678", "2002000", "5550100", "3334444", "7654321", "9876543")

errors = []


def fail(message):
    errors.append(message)


def read_tzdb():
    """The tz database's version and the current zones of each country (zone.tab)."""
    version = "unknown"
    zi = TZDIR / "tzdata.zi"
    if zi.is_file():
        version = zi.read_text().split("\n", 1)[0].removeprefix("# version ").strip()
    by_region = {}
    for table in ("zone.tab", "zone1970.tab"):
        path = TZDIR / table
        if not path.is_file():
            sys.exit(f"generate.py: no {table} under {TZDIR}; set TZDIR to a tz database")
        for line in path.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            regions, _, zone = line.split("\t")[:3]
            for region in regions.split(","):
                by_region.setdefault(region, set()).add(zone)
    return version, by_region


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


def build(by_region):
    listed = set().union(*by_region.values())
    zones = {}
    for prefix, names in TIMEZONE_DATA.items():
        code = calling_code_of(prefix)
        if code is None:
            fail(f"prefix {prefix} has no calling code")
            continue
        found = zone_set(names, listed)
        if found:
            zones[prefix] = found
    fallbacks = []
    for number, regions in sorted(COUNTRY_CODE_TO_REGION_CODE.items()):
        code = str(number)
        if code in zones:
            continue
        if all(region == "001" for region in regions):
            zones[code] = (NON_GEOGRAPHIC_ZONE,)
            continue
        found = zone_set([z for region in regions for z in by_region.get(region, ())], listed)
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


def warn_of_stand_ins(zones, by_region):
    """libphonenumber sometimes names a zone of another country that shares the offset today
    (+505 Nicaragua as America/Chicago), whose daylight saving rules may differ. Kept, since
    the table is libphonenumber's, but shown to whoever refreshes it."""
    for prefix, names in sorted(zones.items()):
        code = calling_code_of(prefix)
        regions = COUNTRY_CODE_TO_REGION_CODE[int(code)]
        own = set().union(*(by_region.get(region, set()) for region in regions))
        foreign = [zone for zone in names if zone not in own and zone != NON_GEOGRAPHIC_ZONE]
        if foreign and own:
            print(f"note: +{prefix} ({'/'.join(regions)}): {' '.join(foreign)}", file=sys.stderr)


def main():
    version, by_region = read_tzdb()
    zones, regions, fallbacks = build(by_region)
    warn_of_stand_ins(zones, by_region)
    for number in COUNTRY_CODE_TO_REGION_CODE:
        if str(number) not in zones:
            fail(f"+{number} has no country-level entry")
    if errors:
        sys.exit("generate.py: " + "\n  ".join(["coverage check failed:", *errors]))
    body = lines(zones, regions)
    header = [
        "# Where a phone number may be: E.164 digit prefix -> IANA time zones [-> region].",
        f"# Generated by tools/phone_zones/generate.py from phonenumbers {phonenumbers.__version__}",
        "# (libphonenumber's timezone map and geocoder, Apache-2.0, see LICENSE) and tz database",
        f"# {version} (zone.tab). Do not edit by hand; rerun:",
        f"#   pip install phonenumbers=={phonenumbers.__version__}"
        " && python3 tools/phone_zones/generate.py",
        "# Line: prefix|zones|region. The longest matching prefix gives the zones; an empty zone",
        "# list (and a missing region) means those of the next shorter prefix. A calling code's",
        "# own line holds every zone of it. Region (+1 area codes only): ISO 3166-2 subdivision",
        "# or ISO 3166-1 country.",
        f"# Non-geographic calling codes (no country) are written as {NON_GEOGRAPHIC_ZONE}.",
        "# Calling codes with zones from zone.tab (none in libphonenumber): "
        + (" ".join(fallbacks) or "none"),
    ]
    OUTPUT.write_text("\n".join(header + body) + "\n")
    print(f"wrote {len(body)} prefixes to {OUTPUT.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
