"""Recurrence blobs: RecurrencePattern (MS-OXOCAL 2.2.1.44.1, also PidLidTaskRecurrence) and
AppointmentRecurrencePattern with ExceptionInfo / ExtendedException (2.2.1.44.2-2.2.1.44.5).

Times inside the blob are minutes since 1601-01-01 in the series' local time zone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core.convert.payload import WEEKDAYS, Recurrence
from core.mapi import (
    APPT_RECUR_WRITER_VERSION2_HIGHLIGHT,
    ARO_APPTCOLOR,
    ARO_ATTACHMENT,
    ARO_BUSYSTATUS,
    ARO_LOCATION,
    ARO_MEETINGTYPE,
    ARO_REMINDER,
    ARO_REMINDERDELTA,
    ARO_SUBJECT,
    ARO_SUBTYPE,
    END_AFTER_DATE,
    END_AFTER_N_OCCURRENCES,
    IDC_RCEV_PAT_ORB_DAILY,
    IDC_RCEV_PAT_ORB_MONTHLY,
    IDC_RCEV_PAT_ORB_WEEKLY,
    IDC_RCEV_PAT_ORB_YEARLY,
    PATTERN_TYPE_DAY,
    PATTERN_TYPE_HJ_MONTH,
    PATTERN_TYPE_HJ_MONTH_END,
    PATTERN_TYPE_HJ_MONTH_NTH,
    PATTERN_TYPE_MONTH,
    PATTERN_TYPE_MONTH_END,
    PATTERN_TYPE_MONTH_NTH,
    PATTERN_TYPE_WEEK,
    RECUR_NTH_LAST,
)

EPOCH_1601 = datetime(1601, 1, 1)
_NTH = {1: "first", 2: "second", 3: "third", 4: "fourth", RECUR_NTH_LAST: "last"}


class RecurrenceError(ValueError):
    """The blob is malformed; the message says where."""


def minutes_to_datetime(minutes: int) -> datetime:
    """Minutes since 1601-01-01 as a naive datetime (local time of the series)."""
    return EPOCH_1601 + timedelta(minutes=minutes)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, fmt: str) -> tuple:
        try:
            values = struct.unpack_from("<" + fmt, self.data, self.pos)
        except struct.error:
            raise RecurrenceError(f"blob ends early at byte {self.pos}") from None
        self.pos += struct.calcsize("<" + fmt)
        return values

    def u16(self) -> int:
        return self.take("H")[0]

    def u32(self) -> int:
        return self.take("I")[0]

    def counted_string(self, codepage: str) -> str:
        """An exception's 8-bit string: WideCharLength, then Length and that many bytes (MS-OXOCAL 2.2.1.44.2)."""
        _wide_length, length = self.take("HH")
        return self.raw(length).decode(codepage, "replace")

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RecurrenceError(f"blob ends early at byte {self.pos} (wanted {n} bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


@dataclass(slots=True)
class RecurrencePattern:
    """The fields of a RecurrencePattern structure, undecoded."""

    frequency: int
    pattern_type: int
    calendar_type: int
    first_date_time: int
    period: int
    sliding: int
    days_mask: int = 0
    day_of_month: int = 0
    nth: int = 0
    end_type: int = 0
    occurrence_count: int = 0
    first_dow: int = 0
    deleted: list[int] = field(default_factory=list)
    modified: list[int] = field(default_factory=list)
    start_date: int = 0
    end_date: int = 0


def read_pattern(r: _Reader) -> RecurrencePattern:
    _reader_v, _writer_v, freq, ptype, cal, first, period, sliding = r.take("HHHHHIII")
    p = RecurrencePattern(freq, ptype, cal, first, period, sliding)
    if ptype == PATTERN_TYPE_DAY:
        pass
    elif ptype == PATTERN_TYPE_WEEK:
        p.days_mask = r.u32()
    elif ptype in (PATTERN_TYPE_MONTH, PATTERN_TYPE_MONTH_END, PATTERN_TYPE_HJ_MONTH, PATTERN_TYPE_HJ_MONTH_END):
        p.day_of_month = r.u32()
    elif ptype in (PATTERN_TYPE_MONTH_NTH, PATTERN_TYPE_HJ_MONTH_NTH):
        p.days_mask, p.nth = r.take("II")
    else:
        raise RecurrenceError(f"unknown PatternType 0x{ptype:04x}")
    p.end_type, p.occurrence_count, p.first_dow = r.take("III")
    n = r.u32()
    if n > 100000:
        raise RecurrenceError(f"implausible DeletedInstanceCount {n}")
    p.deleted = list(r.take(f"{n}I")) if n else []
    n = r.u32()
    if n > 100000:
        raise RecurrenceError(f"implausible ModifiedInstanceCount {n}")
    p.modified = list(r.take(f"{n}I")) if n else []
    p.start_date, p.end_date = r.take("II")
    return p


def _days(mask: int) -> list:
    return [WEEKDAYS[i] for i in range(7) if mask & (1 << i)]


def to_recurrence(p: RecurrencePattern) -> tuple[Recurrence, list[str]]:
    """The transport-neutral Recurrence of a pattern, and what could not be expressed."""
    problems: list[str] = []
    start = minutes_to_datetime(p.start_date).date()
    hijri = p.pattern_type in (PATTERN_TYPE_HJ_MONTH, PATTERN_TYPE_HJ_MONTH_NTH, PATTERN_TYPE_HJ_MONTH_END)
    if hijri or p.calendar_type not in (0, 1):
        problems.append(f"recurrence uses calendar type {p.calendar_type}; imported as Gregorian")
    rec: Recurrence
    if p.frequency == IDC_RCEV_PAT_ORB_DAILY and p.pattern_type == PATTERN_TYPE_DAY:
        rec = Recurrence("daily", max(1, p.period // 1440))
    elif p.frequency == IDC_RCEV_PAT_ORB_DAILY and p.pattern_type == PATTERN_TYPE_WEEK:
        rec = Recurrence("weekly", max(1, p.period), days_of_week=_days(p.days_mask), every_weekday=True)
    elif p.frequency == IDC_RCEV_PAT_ORB_WEEKLY:
        rec = Recurrence("weekly", max(1, p.period), days_of_week=_days(p.days_mask))
    elif p.frequency == IDC_RCEV_PAT_ORB_MONTHLY:
        if p.pattern_type in (PATTERN_TYPE_MONTH_NTH, PATTERN_TYPE_HJ_MONTH_NTH):
            rec = Recurrence(
                "relative_monthly", max(1, p.period), days_of_week=_days(p.days_mask), index=_NTH.get(p.nth, "first")
            )
        else:
            dom = 31 if p.pattern_type in (PATTERN_TYPE_MONTH_END, PATTERN_TYPE_HJ_MONTH_END) else p.day_of_month
            rec = Recurrence("absolute_monthly", max(1, p.period), day_of_month=dom)
    elif p.frequency == IDC_RCEV_PAT_ORB_YEARLY:
        years = max(1, p.period // 12)
        if p.pattern_type in (PATTERN_TYPE_MONTH_NTH, PATTERN_TYPE_HJ_MONTH_NTH):
            rec = Recurrence(
                "relative_yearly",
                years,
                days_of_week=_days(p.days_mask),
                index=_NTH.get(p.nth, "first"),
                month=start.month,
            )
        else:
            dom = 31 if p.pattern_type in (PATTERN_TYPE_MONTH_END, PATTERN_TYPE_HJ_MONTH_END) else p.day_of_month
            rec = Recurrence("absolute_yearly", years, day_of_month=dom, month=start.month)
    else:
        raise RecurrenceError(f"unknown RecurFrequency 0x{p.frequency:04x}")
    rec.first_day_of_week = WEEKDAYS[p.first_dow % 7]
    rec.start_date = start
    rec.calendar_type = p.calendar_type
    rec.regenerate = bool(p.sliding)
    if p.end_type == END_AFTER_DATE:
        rec.range = "end_date"
        rec.end_date = minutes_to_datetime(p.end_date).date()
    elif p.end_type == END_AFTER_N_OCCURRENCES:
        rec.range = "numbered"
        rec.occurrences = p.occurrence_count
        rec.end_date = minutes_to_datetime(p.end_date).date()
    else:
        rec.range = "no_end"
    rec.deleted = [minutes_to_datetime(m).date() for m in p.deleted]
    rec.modified = [minutes_to_datetime(m).date() for m in p.modified]
    return rec, problems


@dataclass(slots=True)
class ExceptionRecord:
    """One ExceptionInfo with its ExtendedException merged in; times are local, naive."""

    start: datetime
    end: datetime
    original_start: datetime
    override_flags: int
    subject: str | None = None
    location: str | None = None
    meeting_type: int | None = None
    reminder_delta: int | None = None
    reminder_set: bool | None = None
    busy_status: int | None = None
    has_attachment: bool | None = None
    sub_type: bool | None = None
    color: int | None = None


@dataclass(slots=True)
class AppointmentRecurrence:
    pattern: RecurrencePattern
    start_time_offset: int
    """Minutes after local midnight at which each occurrence starts."""
    end_time_offset: int
    exceptions: list[ExceptionRecord]


def decode_recurrence_pattern(data: bytes) -> RecurrencePattern:
    """A bare RecurrencePattern (PidLidTaskRecurrence). Raises RecurrenceError."""
    return read_pattern(_Reader(data))


def decode_appointment_recurrence(data: bytes, codepage: str = "cp1252") -> AppointmentRecurrence:
    """PidLidAppointmentRecur. Raises RecurrenceError when malformed."""
    r = _Reader(data)
    pattern = read_pattern(r)
    _reader_v2, writer_v2, start_off, end_off = r.take("IIII")
    count = r.u16()
    exceptions: list[ExceptionRecord] = []
    for _ in range(count):
        s, e, o, flags = r.take("IIIH")
        ex = ExceptionRecord(minutes_to_datetime(s), minutes_to_datetime(e), minutes_to_datetime(o), flags)
        if flags & ARO_SUBJECT:
            ex.subject = r.counted_string(codepage)
        if flags & ARO_MEETINGTYPE:
            ex.meeting_type = r.u32()
        if flags & ARO_REMINDERDELTA:
            ex.reminder_delta = r.u32()
        if flags & ARO_REMINDER:
            ex.reminder_set = bool(r.u32())
        if flags & ARO_LOCATION:
            ex.location = r.counted_string(codepage)
        if flags & ARO_BUSYSTATUS:
            ex.busy_status = r.u32()
        if flags & ARO_ATTACHMENT:
            ex.has_attachment = bool(r.u32())
        if flags & ARO_SUBTYPE:
            ex.sub_type = bool(r.u32())
        if flags & ARO_APPTCOLOR:
            ex.color = r.u32()
        exceptions.append(ex)
    r.raw(r.u32())  # ReservedBlock1
    # ExtendedException: one per ExceptionInfo, carrying the Unicode subject and location.
    try:
        for ex in exceptions:
            if writer_v2 >= APPT_RECUR_WRITER_VERSION2_HIGHLIGHT:
                r.raw(r.u32())  # ChangeHighlightSize + ChangeHighlightValue/Reserved
            r.raw(r.u32())  # ReservedBlockEE1
            if ex.override_flags & (ARO_SUBJECT | ARO_LOCATION):
                r.take("III")  # StartDateTime, EndDateTime, OriginalStartDate again
                if ex.override_flags & ARO_SUBJECT:
                    n = r.u16()
                    ex.subject = r.raw(2 * n).decode("utf-16-le", "replace")
                if ex.override_flags & ARO_LOCATION:
                    n = r.u16()
                    ex.location = r.raw(2 * n).decode("utf-16-le", "replace")
                r.raw(r.u32())  # ReservedBlockEE2
    except RecurrenceError:
        pass  # older writers stop after ReservedBlock1; the 8-bit strings stand
    return AppointmentRecurrence(pattern, start_off, end_off, exceptions)


def occurrence_start(d: date, offset_minutes: int) -> datetime:
    return datetime(d.year, d.month, d.day) + timedelta(minutes=offset_minutes)


# --- expansion ----------------------------------------------------------------------------
# The longest series expanded when it has no end (about 30 years of daily occurrences).
EXPAND_LIMIT = 11000
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def _weekday_of(d: date) -> str:
    return WEEKDAYS[(d.weekday() + 1) % 7]  # Python Monday=0 -> our Sunday=0 order


def _month_days(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _nth_in_month(year: int, month: int, days: list, index: str) -> date | None:
    """The `index`-th (first..fourth, last) day of the month whose weekday is in `days`."""
    month_dates = [date(year, month, d) for d in range(1, _month_days(year, month) + 1)]
    matching = [d for d in month_dates if _weekday_of(d) in days]
    if not matching:
        return None
    n = _INDEX[index or "first"]
    if n == -1:
        return matching[-1]
    return matching[n - 1] if n <= len(matching) else None


def occurrence_dates(rec: Recurrence, until: date | None = None, limit: int | None = None) -> list[date]:
    """The local dates of a series' occurrences in order, deleted ones included (Exchange's
    InstanceIndex counts them: the n-th date is occurrence n).

    Stops at the range's end, at `until` (inclusive) or after `limit` dates, whichever is first;
    a series with no end needs `until` or `limit` (EXPAND_LIMIT otherwise). A day of month past the
    month's end falls on its last day, as Outlook and Exchange place it.
    """
    start = rec.start_date
    if start is None:
        return []
    cap = limit if limit is not None else EXPAND_LIMIT
    if rec.range == "numbered" and rec.occurrences:
        cap = min(cap, rec.occurrences)
    last = until
    if rec.range == "end_date" and rec.end_date is not None:
        last = rec.end_date if last is None else min(last, rec.end_date)
    interval = max(1, rec.interval)
    out: list[date] = []

    def take(d: date) -> bool:
        """Add `d` if in range; False once the series is over."""
        if last is not None and d > last:
            return False
        if d >= start:
            out.append(d)
        return len(out) < cap

    if rec.pattern == "daily":
        d = start
        while take(d):
            d += timedelta(days=interval)
        return out
    if rec.pattern == "weekly":
        days = set(rec.days_of_week) or {_weekday_of(start)}
        first_dow = WEEKDAYS.index(rec.first_day_of_week)
        week = start - timedelta(days=(WEEKDAYS.index(_weekday_of(start)) - first_dow) % 7)
        while True:
            for i in range(7):
                d = week + timedelta(days=i)
                if _weekday_of(d) in days and not take(d):
                    return out
            week += timedelta(days=7 * interval)
    if rec.pattern in ("absolute_monthly", "relative_monthly", "absolute_yearly", "relative_yearly"):
        step = interval * (12 if rec.pattern.endswith("yearly") else 1)
        year, month = start.year, (rec.month or start.month) if rec.pattern.endswith("yearly") else start.month
        while True:
            if rec.pattern.startswith("absolute"):
                dom = rec.day_of_month or start.day
                d: date | None = date(year, month, min(dom, _month_days(year, month)))
            else:
                d = _nth_in_month(year, month, list(rec.days_of_week), rec.index or "first")
            if d is not None and not take(d):
                return out
            if last is None and len(out) == 0 and year > start.year + 100:
                return out  # a pattern that never matches
            month += step
            year += (month - 1) // 12
            month = (month - 1) % 12 + 1
    raise RecurrenceError(f"unknown pattern {rec.pattern!r}")
