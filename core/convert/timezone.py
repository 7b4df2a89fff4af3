"""Time zone blobs (MS-OXOCAL 2.2.1.39 PidLidTimeZoneStruct, 2.2.1.41 TZDEFINITION) and the local
wall-clock to UTC conversion that recurrence decoding needs."""

from __future__ import annotations

import calendar
import struct
from datetime import UTC, datetime, timedelta

from core.convert.payload import TimeZone, TimeZoneRule
from core.mapi import TZRULE_FLAG_EFFECTIVE_TZREG

_SYSTEMTIME = struct.Struct("<8H")
_TZSTRUCT = struct.Struct("<iiiH16sH16s")
_TZRULE = struct.Struct("<BBHHH14siii16s16s")


def _transition(raw: bytes) -> tuple[int, int, int, int, int] | None:
    _year, month, dow, day, hour, minute, _s, _ms = _SYSTEMTIME.unpack(raw)
    if month == 0:
        return None
    return (month, dow, day, hour, minute)


def decode_tz_struct(data: bytes | None, description: str | None = None) -> TimeZone | None:
    """PidLidTimeZoneStruct (48 bytes) as a one-rule TimeZone; None if malformed."""
    if not data or len(data) < _TZSTRUCT.size:
        return None
    bias, std_bias, dst_bias, std_year, std_date, _dst_year, dst_date = _TZSTRUCT.unpack_from(data)
    rule = _rule(std_year, bias, std_bias, dst_bias, std_date, dst_date, effective=True)
    return TimeZone(key_name=None, rules=[rule], description=description)


def _rule(
    year: int, bias: int, std_bias: int, dst_bias: int, std_date: bytes, dst_date: bytes, effective: bool
) -> TimeZoneRule:
    """A rule from the fields TZSTRUCT and TZRULE share (MS-OXOCAL 2.2.1.39/2.2.1.41)."""
    return TimeZoneRule(
        year=year,
        bias=bias,
        standard_bias=std_bias,
        daylight_bias=dst_bias,
        standard_transition=_transition(std_date),
        daylight_transition=_transition(dst_date),
        effective=effective,
    )


def decode_tz_definition(data: bytes | None) -> TimeZone | None:
    """A TZDEFINITION blob (PidLidAppointmentTimeZoneDefinition*); None if malformed."""
    if not data or len(data) < 8:
        return None
    try:
        _major, _minor, cb_header, _reserved, cch = struct.unpack_from("<BBHHH", data, 0)
        key = data[8 : 8 + 2 * cch].decode("utf-16-le", "replace")
        pos = 4 + cb_header
        (count,) = struct.unpack_from("<H", data, 8 + 2 * cch)
        rules = []
        for _ in range(count):
            (_maj, _min, _res, flags, year, _x, bias, std_bias, dst_bias, std_date, dst_date) = _TZRULE.unpack_from(
                data, pos
            )
            pos += _TZRULE.size
            rules.append(
                _rule(year, bias, std_bias, dst_bias, std_date, dst_date, bool(flags & TZRULE_FLAG_EFFECTIVE_TZREG))
            )
    except (struct.error, UnicodeDecodeError):
        return None
    return TimeZone(key_name=key or None, rules=rules)


def _nth_weekday(year: int, month: int, dow: int, week: int, hour: int, minute: int) -> datetime:
    """The `week`-th (5 = last) `dow` (0 = Sunday) of a month, at hour:minute."""
    first_dow = (calendar.weekday(year, month, 1) + 1) % 7  # Python Monday=0 -> Sunday=0
    day = 1 + (dow - first_dow) % 7 + 7 * (week - 1)
    last = calendar.monthrange(year, month)[1]
    while day > last:
        day -= 7
    return datetime(year, month, day, hour, minute)


def _rule_for(tz: TimeZone, year: int) -> TimeZoneRule | None:
    best = None
    for rule in tz.rules:
        if rule.year <= year and (best is None or rule.year >= best.year):
            best = rule
    return best or tz.effective_rule()


def utc_offset_minutes(tz: TimeZone, local: datetime) -> int:
    """Minutes to add to a local wall-clock time to get UTC (Windows bias convention)."""
    rule = _rule_for(tz, local.year)
    if rule is None:
        return 0
    if rule.standard_transition is None or rule.daylight_transition is None:
        return rule.bias + rule.standard_bias
    dst_start = _nth_weekday(local.year, *rule.daylight_transition)
    std_start = _nth_weekday(local.year, *rule.standard_transition)
    naive = local.replace(tzinfo=None)
    if dst_start < std_start:
        in_dst = dst_start <= naive < std_start
    else:
        in_dst = not (std_start <= naive < dst_start)
    return rule.bias + (rule.daylight_bias if in_dst else rule.standard_bias)


def local_to_utc(local: datetime, tz: TimeZone | None) -> datetime:
    """A naive local time in `tz` as an aware UTC datetime (UTC itself when tz is None)."""
    naive = local.replace(tzinfo=None)
    if tz is None:
        return naive.replace(tzinfo=UTC)
    return (naive + timedelta(minutes=utc_offset_minutes(tz, naive))).replace(tzinfo=UTC)


def utc_to_local(utc: datetime, tz: TimeZone | None) -> datetime:
    """An aware UTC datetime as naive local time in `tz` (two passes settle DST edges)."""
    naive = utc.astimezone(UTC).replace(tzinfo=None)
    if tz is None:
        return naive
    guess = naive - timedelta(minutes=utc_offset_minutes(tz, naive))
    return naive - timedelta(minutes=utc_offset_minutes(tz, guess))


# Windows time zone ids (what EWS and Graph name zones by) and the IANA zone with the same rules
# today (CLDR's windowsZones "001" territory), for the zones a PST most often carries.
WINDOWS_TO_IANA: dict[str, str] = {
    "Dateline Standard Time": "Etc/GMT+12",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time": "America/Chicago",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota",
    "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indianapolis",
    "Venezuela Standard Time": "America/Caracas",
    "Atlantic Standard Time": "America/Halifax",
    "SA Western Standard Time": "America/La_Paz",
    "Pacific SA Standard Time": "America/Santiago",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Buenos_Aires",
    "SA Eastern Standard Time": "America/Cayenne",
    "Greenland Standard Time": "America/Godthab",
    "Azores Standard Time": "Atlantic/Azores",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde",
    "UTC": "Etc/UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "Morocco Standard Time": "Africa/Casablanca",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "W. Central Africa Standard Time": "Africa/Lagos",
    "GTB Standard Time": "Europe/Bucharest",
    "Middle East Standard Time": "Asia/Beirut",
    "Egypt Standard Time": "Africa/Cairo",
    "E. Europe Standard Time": "Europe/Chisinau",
    "South Africa Standard Time": "Africa/Johannesburg",
    "FLE Standard Time": "Europe/Kiev",
    "Israel Standard Time": "Asia/Jerusalem",
    "Turkey Standard Time": "Europe/Istanbul",
    "Arabic Standard Time": "Asia/Baghdad",
    "Arab Standard Time": "Asia/Riyadh",
    "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi",
    "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai",
    "Afghanistan Standard Time": "Asia/Kabul",
    "Pakistan Standard Time": "Asia/Karachi",
    "West Asia Standard Time": "Asia/Tashkent",
    "India Standard Time": "Asia/Calcutta",
    "Sri Lanka Standard Time": "Asia/Colombo",
    "Nepal Standard Time": "Asia/Katmandu",
    "Central Asia Standard Time": "Asia/Almaty",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "Myanmar Standard Time": "Asia/Rangoon",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "W. Australia Standard Time": "Australia/Perth",
    "Korea Standard Time": "Asia/Seoul",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "West Pacific Standard Time": "Pacific/Port_Moresby",
    "Tasmania Standard Time": "Australia/Hobart",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Tonga Standard Time": "Pacific/Tongatapu",
}
_BY_LOWER = {k.lower(): k for k in WINDOWS_TO_IANA}
_SAMPLE_DAYS = range(0, 366, 3)


def canonical_windows_id(name: str | None) -> str | None:
    """A Windows zone id as the table spells it (ids compare without case), or None if unknown."""
    return _BY_LOWER.get((name or "").strip().lower())


def _offsets_of_rules(tz: TimeZone, year: int) -> list[int]:
    base = datetime(year, 1, 1, 12)
    return [-utc_offset_minutes(tz, base + timedelta(days=d)) for d in _SAMPLE_DAYS]


_matched: dict[tuple, str | None] = {}


def windows_zone(tz: TimeZone | None, year: int | None = None) -> str | None:
    """The Windows zone id of `tz`: its own when it names a known one, else the first known zone
    whose UTC offsets over `year` (default: its effective rule's) are the same every third day at
    noon, so a PidLidTimeZoneStruct without a name still finds "Pacific Standard Time". None when
    no known zone matches (the caller then sends the rules themselves, or UTC)."""
    if tz is None:
        return None
    own = canonical_windows_id(tz.key_name)
    if own is not None:
        return own
    rule = _rule_for(tz, year) if year is not None else tz.effective_rule()
    if rule is None:
        return None
    key = (rule.bias, rule.standard_bias, rule.daylight_bias, rule.standard_transition, rule.daylight_transition)
    if key in _matched:
        return _matched[key]
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    y = year or (rule.year if rule.year > 1900 else datetime.now().year)
    want = _offsets_of_rules(TimeZone(None, [rule]), y)
    found = None
    for win, iana in WINDOWS_TO_IANA.items():
        try:
            zone = ZoneInfo(iana)
        except ZoneInfoNotFoundError:
            continue
        base = datetime(y, 1, 1, 12)
        got = [int(zone.utcoffset(base + timedelta(days=d)).total_seconds() // 60) for d in _SAMPLE_DAYS]
        if got == want:
            found = win
            break
    _matched[key] = found
    return found
