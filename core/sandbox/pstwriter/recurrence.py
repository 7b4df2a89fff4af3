"""Recurrence blobs: RecurrencePattern and AppointmentRecurrencePattern (MS-OXOCAL 2.2.1.44).

Only the weekly pattern the generator uses is built, with times in UTC (so local time, which
the blob records, equals UTC and no time-zone rules are involved).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.mapi import (
    APPT_RECUR_READER_VERSION2,
    APPT_RECUR_WRITER_VERSION2_MIN,
    ARO_LOCATION,
    ARO_SUBJECT,
    END_AFTER_N_OCCURRENCES,
    IDC_RCEV_PAT_ORB_WEEKLY,
    PATTERN_TYPE_WEEK,
    RECUR_READER_VERSION,
    RECUR_WRITER_VERSION,
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
        mods = sorted(self.modified, key=lambda m: m.start)
        out += struct.pack("<H", len(mods))
        for m in mods:
            flags = (ARO_SUBJECT if m.subject else 0) | (ARO_LOCATION if m.location else 0)
            out += struct.pack(
                "<IIIH", minutes_1601(m.start), minutes_1601(m.end), minutes_1601(m.original_start), flags
            )
            for text in (m.subject, m.location):
                if text:
                    raw = text.encode("cp1252", "replace")
                    out += struct.pack("<HH", len(raw) + 1, len(raw)) + raw
        out += struct.pack("<I", 0)  # ReservedBlock1Size
        for m in mods:
            # ExtendedException (no ChangeHighlight before writer version 0x3009)
            out += struct.pack("<I", 0)  # ReservedBlockEE1Size
            if m.subject or m.location:
                out += struct.pack("<III", minutes_1601(m.start), minutes_1601(m.end), minutes_1601(m.original_start))
                for text in (m.subject, m.location):
                    if text:
                        wide = text.encode("utf-16-le")
                        out += struct.pack("<H", len(wide) // 2) + wide
                out += struct.pack("<I", 0)  # ReservedBlockEE2Size
        out += struct.pack("<I", 0)  # ReservedBlock2Size
        return bytes(out)
