"""Recurrence blobs: RecurrencePattern and AppointmentRecurrencePattern (MS-OXOCAL 2.2.1.44).

`WeeklyRecurrence` is the realistic mode's weekly series in UTC (local time, which the blob
records, equals UTC). `Series` writes every pattern Outlook writes (daily, every weekday, weekly,
monthly on a date or nth weekday, yearly likewise; ending by date, count or never) in a Windows
time zone (`Zone`, with PidLidTimeZoneStruct and TZDEFINITION blobs), with its exceptions.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.mapi import (
    APPT_RECUR_READER_VERSION2,
    APPT_RECUR_WRITER_VERSION2_MIN,
    ARO_LOCATION,
    ARO_SUBJECT,
    END_AFTER_DATE,
    END_AFTER_N_OCCURRENCES,
    END_NEVER_END,
    IDC_RCEV_PAT_ORB_DAILY,
    IDC_RCEV_PAT_ORB_MONTHLY,
    IDC_RCEV_PAT_ORB_WEEKLY,
    IDC_RCEV_PAT_ORB_YEARLY,
    PATTERN_TYPE_DAY,
    PATTERN_TYPE_MONTH,
    PATTERN_TYPE_MONTH_NTH,
    PATTERN_TYPE_WEEK,
    RECUR_NTH_LAST,
    RECUR_READER_VERSION,
    RECUR_WRITER_VERSION,
    TZDEFINITION_MAJOR_VERSION,
    TZDEFINITION_MINOR_VERSION,
    TZDEFINITION_RESERVED,
    TZRULE_FLAG_EFFECTIVE_TZREG,
    TZRULE_RESERVED,
)

EPOCH_1601 = datetime(1601, 1, 1)
MINUTES_PER_WEEK = 7 * 24 * 60
CALENDAR_TYPE_DEFAULT = 0
FIRST_DOW_SUNDAY = 0
# 1601-01-01 was a Monday: the first Sunday-started week begins 6 days later (MS-OXOCAL
# 2.2.1.44.1, FirstDateTime of a weekly pattern is that offset modulo the period).
FIRST_SUNDAY_OFFSET_MIN = 6 * 24 * 60


def minutes_1601(dt: datetime) -> int:
    """Minutes since 1601-01-01 (the recurrence blobs' date unit)."""
    return int((dt - EPOCH_1601).total_seconds() // 60)


def _midnight(dt: datetime) -> datetime:
    return datetime(dt.year, dt.month, dt.day)


@dataclass
class ModifiedOccurrence:
    """An occurrence moved or renamed: its original start and new values."""

    original_start: datetime
    start: datetime
    end: datetime
    subject: str | None = None
    location: str | None = None


@dataclass
class WeeklyRecurrence:
    """Every `period` weeks on the days in `days_mask` (DOW bits), `count` occurrences."""

    first_start: datetime
    duration: timedelta
    days_mask: int
    count: int
    period: int = 1
    deleted: list[datetime] = field(default_factory=list)  # original starts of deleted occurrences
    modified: list[ModifiedOccurrence] = field(default_factory=list)

    def occurrences(self) -> list[datetime]:
        """The original start of every occurrence (before deletions and changes)."""
        out: list[datetime] = []
        day = self.first_start
        week0 = _midnight(self.first_start) - timedelta(days=(self.first_start.weekday() + 1) % 7)
        while len(out) < self.count:
            weeks = (_midnight(day) - week0).days // 7
            dow_bit = 1 << ((day.weekday() + 1) % 7)
            if weeks % self.period == 0 and self.days_mask & dow_bit:
                out.append(day)
            day += timedelta(days=1)
        return out

    def pattern(self) -> bytes:
        """The RecurrencePattern structure (also the whole of PidLidTaskRecurrence)."""
        occ = self.occurrences()
        first_dt = (FIRST_SUNDAY_OFFSET_MIN) % (self.period * MINUTES_PER_WEEK)
        deleted = sorted(
            {minutes_1601(_midnight(d)) for d in self.deleted}
            | {minutes_1601(_midnight(m.original_start)) for m in self.modified}
        )
        modified = sorted(minutes_1601(_midnight(m.start)) for m in self.modified)
        out = struct.pack(
            "<HHHHHIIII",
            RECUR_READER_VERSION,
            RECUR_WRITER_VERSION,
            IDC_RCEV_PAT_ORB_WEEKLY,
            PATTERN_TYPE_WEEK,
            CALENDAR_TYPE_DEFAULT,
            first_dt,
            self.period,
            0,
            self.days_mask,
        )
        out += struct.pack("<III", END_AFTER_N_OCCURRENCES, self.count, FIRST_DOW_SUNDAY)
        out += struct.pack(f"<I{len(deleted)}I", len(deleted), *deleted)
        out += struct.pack(f"<I{len(modified)}I", len(modified), *modified)
        out += struct.pack("<II", minutes_1601(_midnight(occ[0])), minutes_1601(_midnight(occ[-1])))
        return out

    def appointment_pattern(self) -> bytes:
        """The AppointmentRecurrencePattern: the pattern, times of day and exceptions."""
        start_offset = minutes_1601(self.first_start) - minutes_1601(_midnight(self.first_start))
        end_offset = start_offset + int(self.duration.total_seconds() // 60)
        out = bytearray(self.pattern())
        out += struct.pack(
            "<IIII", APPT_RECUR_READER_VERSION2, APPT_RECUR_WRITER_VERSION2_MIN, start_offset, end_offset
        )
        out += _exceptions_part(self.modified)
        return bytes(out)


# --- every pattern Outlook writes, in a time zone ---------------------------------------------


@dataclass(frozen=True)
class Zone:
    """A Windows time zone as Outlook stores it: bias and one yearly DST rule (SYSTEMTIME-style
    transitions: month, day of week 0=Sunday, week 1-5 with 5 = last, hour)."""

    key: str
    description: str
    iana: str  # the same rules, for the ground truth (computed with zoneinfo)
    bias: int
    daylight_bias: int = 0
    standard: tuple[int, int, int, int] | None = None
    daylight: tuple[int, int, int, int] | None = None

    def _systemtime(self, when: tuple[int, int, int, int] | None) -> bytes:
        if when is None:
            return bytes(16)
        month, dow, week, hour = when
        return struct.pack("<8H", 0, month, dow, week, hour, 0, 0, 0)

    def tz_struct(self) -> bytes:
        """PidLidTimeZoneStruct (MS-OXOCAL 2.2.1.39)."""
        return struct.pack(
            "<iiiH16sH16s",
            self.bias,
            0,
            self.daylight_bias,
            0,
            self._systemtime(self.standard),
            0,
            self._systemtime(self.daylight),
        )

    def definition(self) -> bytes:
        """A TZDEFINITION with one rule (MS-OXOCAL 2.2.1.41), as PidLidAppointmentTimeZoneDefinition*."""
        key = self.key.encode("utf-16-le")
        cch = len(self.key)
        cb_header = 2 + 2 + len(key) + 2  # reserved, cchKeyName, KeyName, cRules
        head = (
            struct.pack(
                "<BBHHH", TZDEFINITION_MAJOR_VERSION, TZDEFINITION_MINOR_VERSION, cb_header, TZDEFINITION_RESERVED, cch
            )
            + key
        )
        head += struct.pack("<H", 1)
        rule = struct.pack(
            "<BBHHH14siii16s16s",
            TZDEFINITION_MAJOR_VERSION,
            TZDEFINITION_MINOR_VERSION,
            TZRULE_RESERVED,
            TZRULE_FLAG_EFFECTIVE_TZREG,
            2007,
            bytes(14),
            self.bias,
            0,
            self.daylight_bias,
            self._systemtime(self.standard),
            self._systemtime(self.daylight),
        )
        return head + rule


WEST_EUROPE = Zone(
    "W. Europe Standard Time",
    "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
    "Europe/Berlin",
    -60,
    -60,
    (10, 0, 5, 3),
    (3, 0, 5, 2),
)
PACIFIC = Zone(
    "Pacific Standard Time",
    "(UTC-08:00) Pacific Time (US & Canada)",
    "America/Los_Angeles",
    480,
    -60,
    (11, 0, 1, 2),
    (3, 0, 2, 2),
)
UTC_ZONE = Zone("UTC", "(UTC) Coordinated Universal Time", "UTC", 0)
NO_END_DATE = 0x5AE980DF  # 4500-12-31 23:59, what Outlook writes for a series without end
NO_END_COUNT = 10
_NTH = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": RECUR_NTH_LAST}
_DOW = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _mask(days: list[str]) -> int:
    return sum(1 << _DOW.index(d) for d in days)


@dataclass
class Change:
    """A modified occurrence, local wall-clock times of the series' zone."""

    original_start: datetime
    start: datetime
    end: datetime
    subject: str | None = None
    location: str | None = None
    attachment: str | None = None  # a small text file on this occurrence only


@dataclass
class Series:
    """A recurring appointment as Outlook writes it: `pattern` is daily | weekday | weekly |
    monthly | monthly_nth | yearly | yearly_nth; `end` is count | date | none. Times are local
    (naive) in `zone`; the first occurrence starts at `start`."""

    pattern: str
    start: datetime
    duration: timedelta
    zone: Zone
    interval: int = 1
    days: list[str] = field(default_factory=list)
    day_of_month: int | None = None
    nth: str | None = None
    end: str = "count"
    count: int | None = None
    end_date: datetime | None = None
    all_day: bool = False
    deleted: list[datetime] = field(default_factory=list)  # original local starts
    changes: list[Change] = field(default_factory=list)

    def recurrence(self):  # noqa: ANN201 - core.convert.payload.Recurrence
        """The pattern as the converter's Recurrence (to list its dates)."""
        from core.convert.payload import Recurrence

        kinds = {
            "daily": "daily",
            "weekday": "weekly",
            "weekly": "weekly",
            "monthly": "absolute_monthly",
            "monthly_nth": "relative_monthly",
            "yearly": "absolute_yearly",
            "yearly_nth": "relative_yearly",
        }
        days = ["monday", "tuesday", "wednesday", "thursday", "friday"] if self.pattern == "weekday" else self.days
        rec = Recurrence(
            kinds[self.pattern],  # type: ignore[arg-type]
            self.interval,
            days_of_week=list(days),  # type: ignore[arg-type]
            day_of_month=self.day_of_month,
            month=self.start.month if self.pattern.startswith("yearly") else None,
            index=self.nth,  # type: ignore[arg-type]
            start_date=self.start.date(),
        )
        if self.end == "count":
            rec.range, rec.occurrences = "numbered", self.count
        elif self.end == "date":
            assert self.end_date is not None
            rec.range, rec.end_date = "end_date", self.end_date.date()
        return rec

    def occurrences(self, limit: int = 60) -> list[datetime]:
        """Original local starts of the occurrences (at most `limit` for a series without end)."""
        from core.convert.recurrence import occurrence_dates

        dates = occurrence_dates(self.recurrence(), limit=limit)
        return [datetime.combine(d, self.start.time()) for d in dates]

    def _pattern_fields(self) -> tuple[int, int, int, int, bytes]:
        """(RecurFrequency, PatternType, FirstDateTime, Period, PatternTypeSpecific)."""
        start_min = minutes_1601(_midnight(self.start))
        if self.pattern == "daily":
            period = self.interval * 1440
            return IDC_RCEV_PAT_ORB_DAILY, PATTERN_TYPE_DAY, start_min % period, period, b""
        if self.pattern in ("weekday", "weekly"):
            freq = IDC_RCEV_PAT_ORB_DAILY if self.pattern == "weekday" else IDC_RCEV_PAT_ORB_WEEKLY
            days = ["monday", "tuesday", "wednesday", "thursday", "friday"] if self.pattern == "weekday" else self.days
            period = 1 if self.pattern == "weekday" else self.interval
            first = FIRST_SUNDAY_OFFSET_MIN % (period * MINUTES_PER_WEEK)
            return freq, PATTERN_TYPE_WEEK, first, period, struct.pack("<I", _mask(days))
        yearly = self.pattern.startswith("yearly")
        freq = IDC_RCEV_PAT_ORB_YEARLY if yearly else IDC_RCEV_PAT_ORB_MONTHLY
        period = self.interval * 12 if yearly else self.interval
        months = (self.start.year - 1601) * 12 + self.start.month - 1
        m = months % period
        first = minutes_1601(datetime(1601 + m // 12, m % 12 + 1, 1))
        if self.pattern.endswith("_nth"):
            specific = struct.pack("<II", _mask(self.days), _NTH[self.nth or "first"])
            return freq, PATTERN_TYPE_MONTH_NTH, first, period, specific
        return freq, PATTERN_TYPE_MONTH, first, period, struct.pack("<I", self.day_of_month or self.start.day)

    def pattern_blob(self) -> bytes:
        freq, ptype, first, period, specific = self._pattern_fields()
        occ = self.occurrences()
        versions = (RECUR_READER_VERSION, RECUR_WRITER_VERSION)
        out = struct.pack("<HHHHHIII", *versions, freq, ptype, CALENDAR_TYPE_DEFAULT, first, period, 0)
        out += specific
        if self.end == "count":
            end_type, count, end = END_AFTER_N_OCCURRENCES, self.count or 1, minutes_1601(_midnight(occ[-1]))
        elif self.end == "date":
            assert self.end_date is not None
            end_type, count, end = END_AFTER_DATE, len(occ), minutes_1601(_midnight(self.end_date))
        else:
            end_type, count, end = END_NEVER_END, NO_END_COUNT, NO_END_DATE
        out += struct.pack("<III", end_type, count, FIRST_DOW_SUNDAY)
        deleted = sorted(
            {minutes_1601(_midnight(d)) for d in self.deleted}
            | {minutes_1601(_midnight(c.original_start)) for c in self.changes}
        )
        modified = sorted(minutes_1601(_midnight(c.start)) for c in self.changes)
        out += struct.pack(f"<I{len(deleted)}I", len(deleted), *deleted)
        out += struct.pack(f"<I{len(modified)}I", len(modified), *modified)
        out += struct.pack("<II", minutes_1601(_midnight(self.start)), end)
        return out

    def appointment_blob(self) -> bytes:
        """PidLidAppointmentRecur: the pattern, the times of day and the exceptions (local times)."""
        start_offset = self.start.hour * 60 + self.start.minute
        end_offset = start_offset + int(self.duration.total_seconds() // 60)
        out = bytearray(self.pattern_blob())
        out += struct.pack(
            "<IIII", APPT_RECUR_READER_VERSION2, APPT_RECUR_WRITER_VERSION2_MIN, start_offset, end_offset
        )
        out += _exceptions_part(self.changes)
        return bytes(out)


def _exceptions_part(changes: Iterable[Any]) -> bytes:
    """The exception count, ExceptionInfo and ExtendedException blocks that end an
    AppointmentRecurrencePattern (MS-OXOCAL 2.2.1.44.2-2.2.1.44.4), for changed occurrences with
    `start`, `end`, `original_start` (local times), `subject` and `location` (None: unchanged)."""
    ordered = sorted(changes, key=lambda c: c.start)
    out = bytearray(struct.pack("<H", len(ordered)))
    for c in ordered:
        flags = (ARO_SUBJECT if c.subject else 0) | (ARO_LOCATION if c.location else 0)
        out += struct.pack("<IIIH", minutes_1601(c.start), minutes_1601(c.end), minutes_1601(c.original_start), flags)
        for text in (c.subject, c.location):
            if text:
                raw = text.encode("cp1252", "replace")
                out += struct.pack("<HH", len(raw) + 1, len(raw)) + raw
    out += struct.pack("<I", 0)  # ReservedBlock1Size
    for c in ordered:
        # ExtendedException (no ChangeHighlight before writer version 0x3009)
        out += struct.pack("<I", 0)  # ReservedBlockEE1Size
        if c.subject or c.location:
            out += struct.pack("<III", minutes_1601(c.start), minutes_1601(c.end), minutes_1601(c.original_start))
            for text in (c.subject, c.location):
                if text:
                    wide = text.encode("utf-16-le")
                    out += struct.pack("<H", len(wide) // 2) + wide
            out += struct.pack("<I", 0)  # ReservedBlockEE2Size
    out += struct.pack("<I", 0)  # ReservedBlock2Size
    return bytes(out)
