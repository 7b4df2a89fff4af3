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
