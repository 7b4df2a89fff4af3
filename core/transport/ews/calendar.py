"""Calendar items over EWS as Exchange documents them: a series by the `Recurrence` element in its
own time zone (`TimeZoneDefinition` built from the PST's rules), then its exceptions applied to
the occurrences found by index (`OccurrenceItemId`): UpdateItem for a modified one, DeleteItem for
a deleted one, never mailing anyone (SendToNone).

A series' exceptions are "steps" named `mod:N` (fields of occurrence N), `att:N` (its attachments)
and `del:N`; the engine journals each one, so a run stopped mid-series finishes the series on
resume without applying a step twice. Each step also checks the server first (is occurrence N
already an exception, already gone?), so it is safe even without the journal. Modifications go
first, deletions last and from the highest index down: a server that renumbers occurrences after
a deletion (gromox does) then still finds every step where the PST put it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import quoteattr

from exchangelib import CalendarItem, EWSDate, EWSDateTime
from exchangelib import errors as ex
from exchangelib.items import SEND_TO_NONE
from exchangelib.properties import OccurrenceItemId
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence
from exchangelib.util import TNS
from lxml import etree

from core.convert.payload import Appointment, FileAttachment, Recurrence, TimeZone, TimeZoneRule
from core.convert.timezone import utc_to_local, windows_zone
from core.convert.typed import note_organizer
from core.transport.ews import props

_BUSY = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OOF",
    "working_elsewhere": "WorkingElsewhere",
}
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_WORKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday"}
_WEEKEND = {"saturday", "sunday"}
_WEEK_NUMBER = {"first": "First", "second": "Second", "third": "Third", "fourth": "Fourth", "last": "Last"}
# TimeZoneDefinition ids of transitions (any text; Exchange's own look like these).
_STD, _DST = "Standard", "Daylight"
# EWS caps (types.xsd): Interval of a weekly/monthly pattern, NumberOfOccurrences.
MAX_INTERVAL = 99
MAX_OCCURRENCES = 999


def step_names(p: Appointment) -> list[str]:
    """The steps that complete a series after its creation, in the order they are applied."""
    steps: list[str] = []
    for e in sorted((e for e in p.exceptions if e.index is not None), key=lambda e: e.index or 0):
        steps.append(f"mod:{e.index}")
        if e.attachments:
            steps.append(f"att:{e.index}")
    steps += [f"del:{n}" for n in sorted(set(p.deleted_indexes), reverse=True)]
    return steps


# --- the series -------------------------------------------------------------------------------


def _day(name: str) -> str:
    return name.capitalize()


def _days_choice(days: Iterable[str]) -> str | None:
    """One EWS DayOfWeekType for a relative pattern's set of days (Day, Weekday, WeekendDay or one day)."""
    s = set(days)
    if len(s) == 7:
        return "Day"
    if s == _WORKDAYS:
        return "Weekday"
    if s == _WEEKEND:
        return "WeekendDay"
    if len(s) == 1:
        return _day(next(iter(s)))
    return None


def recurrence(rec: Recurrence, problems: list[str]) -> EwsRecurrence | None:
    """exchangelib's Recurrence for a series; None (reported) when EWS cannot express it."""
    if rec.calendar_type:
        problems.append(f"recurrence on calendar type {rec.calendar_type} kept as Gregorian")
    interval = max(1, rec.interval)
    pattern: Any
    if rec.pattern == "daily":
        pattern = DailyPattern(interval=interval)
    elif rec.pattern == "weekly":
        days = [_day(d) for d in rec.days_of_week] or [_DAY_NAMES[(rec.start_date or datetime.now()).isoweekday() % 7]]
        pattern = WeeklyPattern(
            interval=min(interval, MAX_INTERVAL), weekdays=days, first_day_of_week=_day(rec.first_day_of_week)
        )
    elif rec.pattern in ("absolute_monthly", "relative_monthly"):
        if interval > MAX_INTERVAL:
            problems.append(f"recurrence every {interval} months kept as every {MAX_INTERVAL}")
        if rec.pattern == "absolute_monthly":
            pattern = AbsoluteMonthlyPattern(interval=min(interval, MAX_INTERVAL), day_of_month=rec.day_of_month or 1)
        else:
            day = _days_choice(rec.days_of_week)
            if day is None:
                problems.append(f"monthly recurrence on days {rec.days_of_week} cannot be expressed in EWS; not kept")
                return None
            pattern = RelativeMonthlyPattern(
                interval=min(interval, MAX_INTERVAL), weekday=day, week_number=_WEEK_NUMBER[rec.index or "first"]
            )
    elif rec.pattern in ("absolute_yearly", "relative_yearly"):
        if interval > 1:
            problems.append(f"recurrence every {interval} years kept as yearly (EWS has no yearly interval)")
        month = rec.month or (rec.start_date.month if rec.start_date else 1)
        if rec.pattern == "absolute_yearly":
            pattern = AbsoluteYearlyPattern(day_of_month=rec.day_of_month or 1, month=month)
        else:
            day = _days_choice(rec.days_of_week)
            if day is None:
                problems.append(f"yearly recurrence on days {rec.days_of_week} cannot be expressed in EWS; not kept")
                return None
            pattern = RelativeYearlyPattern(weekday=day, week_number=_WEEK_NUMBER[rec.index or "first"], month=month)
    else:
        problems.append(f"recurrence pattern {rec.pattern!r} not kept")
        return None
    if rec.regenerate:
        problems.append("regenerating recurrence kept as a fixed one")
    start = rec.start_date
    if start is None:
        problems.append("recurrence has no start date; not kept")
        return None
    first = EWSDate(start.year, start.month, start.day)
    if rec.range == "end_date" and rec.end_date is not None:
        end = rec.end_date
        boundary: Any = EndDatePattern(start=first, end=EWSDate(end.year, end.month, end.day))
    elif rec.range == "numbered" and rec.occurrences:
        if rec.occurrences > MAX_OCCURRENCES and rec.end_date is not None:
            end = rec.end_date  # EWS caps the count; the same series ends on its last date
            boundary = EndDatePattern(start=first, end=EWSDate(end.year, end.month, end.day))
        else:
            boundary = NumberedPattern(start=first, number=min(rec.occurrences, MAX_OCCURRENCES))
    else:
        boundary = NoEndPattern(start=first)
    return EwsRecurrence(pattern=pattern, boundary=boundary)


def _utc(value: datetime | None) -> EWSDateTime | None:
    return props.wire_value(value) if value is not None else None  # type: ignore[return-value]


def calendar_item(common: dict[str, Any], p: Appointment, body: Any) -> CalendarItem:
    """The CalendarItem creating `p`: times as UTC instants (an all-day event's are the local
    midnights of its zone, which StartTimeZone names, so it spans exactly its days), the series'
    Recurrence, its attendees without invitations."""
    item = CalendarItem(
        body=body,
        start=_utc(p.start),
        end=_utc(p.end),
        is_all_day=p.all_day,
        location=p.location,
        legacy_free_busy_status=_BUSY.get(p.busy_status, "Busy"),
        reminder_is_set=p.reminder_set,
        reminder_minutes_before_start=p.reminder_minutes or 0,
        **common,
    )
    if p.recurrence is not None:
        item.recurrence = recurrence(p.recurrence, p.problems)
    account = common.get("account")
    note_organizer(p, getattr(account, "primary_smtp_address", None))
    return item


# --- time zones -------------------------------------------------------------------------------


def _duration(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    m = abs(minutes)
    return f"{sign}PT{m // 60}H{m % 60}M" if m % 60 else f"{sign}PT{m // 60}H"


def _rule_for_year(tz: TimeZone, year: int) -> TimeZoneRule | None:
    best = None
    for rule in tz.rules:
        if rule.year <= year and (best is None or rule.year >= best.year):
            best = rule
    return best or tz.effective_rule()


def timezone_definition(tag: str, tz: TimeZone | None, year: int) -> str:
    """A `t:StartTimeZone`/`t:EndTimeZone` element (TimeZoneDefinitionType) with the PST's rule for
    `year`: its periods and yearly transitions, named by the Windows zone id when one matches."""
    if tz is None or not tz.rules:
        return (
            f'<t:{tag} Id="UTC"><t:Periods><t:Period Bias="PT0H" Name="Standard" Id="UTC/Standard"/>'
            f"</t:Periods></t:{tag}>"
        )
    rule = _rule_for_year(tz, year)
    assert rule is not None
    zone_id = windows_zone(tz, year) or (tz.key_name or "Customized Time Zone")
    name = f" Name={quoteattr(tz.description)}" if tz.description else ""
    std_id, dst_id = f"{zone_id}/{_STD}", f"{zone_id}/{_DST}"
    periods = f'<t:Period Bias="{_duration(rule.bias + rule.standard_bias)}" Name="{_STD}" Id={quoteattr(std_id)}/>'
    if rule.standard_transition is None or rule.daylight_transition is None:
        return f"<t:{tag} Id={quoteattr(zone_id)}{name}><t:Periods>{periods}</t:Periods></t:{tag}>"
    periods += f'<t:Period Bias="{_duration(rule.bias + rule.daylight_bias)}" Name="{_DST}" Id={quoteattr(dst_id)}/>'

    def transition(to: str, when: tuple[int, int, int, int, int]) -> str:
        month, dow, week, hour, minute = when
        return (
            f'<t:RecurringDayTransition><t:To Kind="Period">{to}</t:To>'
            f"<t:TimeOffset>{_duration(hour * 60 + minute)}</t:TimeOffset><t:Month>{month}</t:Month>"
            f"<t:DayOfWeek>{_DAY_NAMES[dow % 7]}</t:DayOfWeek><t:Occurrence>{-1 if week >= 5 else week}</t:Occurrence>"
            "</t:RecurringDayTransition>"
        )

    group = (
        '<t:TransitionsGroups><t:TransitionsGroup Id="0">'
        + transition(_escape(dst_id), rule.daylight_transition)
        + transition(_escape(std_id), rule.standard_transition)
        + "</t:TransitionsGroup></t:TransitionsGroups>"
    )
    return (
        f"<t:{tag} Id={quoteattr(zone_id)}{name}><t:Periods>{periods}</t:Periods>{group}"
        f'<t:Transitions><t:Transition><t:To Kind="Group">0</t:To></t:Transition></t:Transitions></t:{tag}>'
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def with_time_zones(xml: bytes, p: Appointment) -> bytes:
    """The serialised CalendarItem with its StartTimeZone/EndTimeZone replaced by the PST's zones
    (exchangelib writes only an Id, of the UTC instants we hand it)."""
    start_tz = p.recurrence_timezone if p.recurrence is not None else p.start_timezone
    end_tz = p.recurrence_timezone if p.recurrence is not None else (p.end_timezone or p.start_timezone)
    year = (p.start or datetime.now(UTC)).year
    root = etree.fromstring(xml)
    for tag, tz in (("StartTimeZone", start_tz), ("EndTimeZone", end_tz)):
        old = root.find(f"{{{TNS}}}{tag}")
        if old is None:
            continue
        frag = f'<x xmlns:t="{TNS}">{timezone_definition(tag, tz, year)}</x>'
        new = etree.fromstring(frag)[0]
        old.addprevious(new)
        root.remove(old)
    return etree.tostring(root)


# --- exceptions ---------------------------------------------------------------------------------


class SeriesStepError(Exception):
    """A step could not be applied (the server refused it); `transient` when worth trying later."""

    def __init__(self, step: str, message: str, transient: bool = False) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.transient = transient


_GONE = tuple(
    getattr(ex, n)
    for n in ("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "ErrorItemNotFound", "ErrorItemCorrupt")
    if hasattr(ex, n)
)


# What a step reads of an occurrence. Only these: asking for every registered extended property as
# well makes gromox leave Start and End out of its answer.
_OCCURRENCE_FIELDS = ("type", "start", "end", "subject", "attachments")


def _occurrence(account: Any, folder: Any, master_id: str, index: int) -> CalendarItem | None:
    """Occurrence `index` of a series as the server has it now; None when it is gone."""
    occ = CalendarItem(account=account, folder=folder, _id=OccurrenceItemId(id=master_id, instance_index=index))
    (fresh,) = list(account.fetch(ids=[occ], only_fields=list(_OCCURRENCE_FIELDS)))
    if isinstance(fresh, _GONE):
        return None
    if isinstance(fresh, Exception):
        raise fresh
    fresh.folder = folder
    return fresh


def _local_date(value: Any, tz: TimeZone | None) -> Any:
    """The date of an instant (ours, or exchangelib's EWSDateTime) in the series' zone."""
    return utc_to_local(datetime.fromtimestamp(value.timestamp(), UTC), tz).date()


def apply_step(account: Any, folder: Any, master_id: str, p: Appointment, step: str) -> None:
    """Apply one step to the series `master_id`, unless the server shows it applied already.

    Raises:
        SeriesStepError: the server refused it.
    """
    kind, _, n = step.partition(":")
    index = int(n)
    tz = p.recurrence_timezone
    occ = _occurrence(account, folder, master_id, index)
    if kind == "del":
        if occ is None:
            return  # deleted already (Exchange answers ErrorCalendarOccurrenceIsDeletedFromRecurrence)
        original = next((d for d, i in zip(p.deleted_occurrences, p.deleted_indexes, strict=False) if i == index), None)
        if original is not None and occ.start is not None and _local_date(occ.start, tz) != _local_date(original, tz):
            # Not the occurrence the PST deleted: a server that renumbers after a deletion has
            # already removed ours, and this is the next one.
            return
        occ.delete(send_meeting_cancellations=SEND_TO_NONE)  # HardDelete: an occurrence has no copy to keep
        return
    e = next((x for x in p.exceptions if x.index == index), None)
    if e is None:
        return
    if occ is None:
        raise SeriesStepError(step, f"occurrence {index} of the series is not on the server")
    if kind == "mod":
        if occ.type == "Exception":
            return  # modified already
        occ.start = _utc(e.start)
        occ.end = _utc(e.end)
        fields = ["start", "end"]
        for name, value in (
            ("subject", e.subject),
            ("location", e.location),
            ("legacy_free_busy_status", _BUSY.get(e.busy_status) if e.busy_status else None),
            ("reminder_is_set", e.reminder_set),
            ("reminder_minutes_before_start", e.reminder_minutes),
        ):
            if value is not None:
                setattr(occ, name, value)
                fields.append(name)
        if e.body is not None and not e.body.empty:
            from core.transport.ews.items import _body

            occ.body = _body(e.body)
            fields.append("body")
        occ.save(update_fields=fields, send_meeting_invitations=SEND_TO_NONE)
        return
    if kind == "att":
        from core.transport.ews.items import _attachments

        have = {a.name for a in occ.attachments or []}
        _attachments(occ, [att for att in e.attachments if isinstance(att, FileAttachment) and att.name not in have])
        return
    raise SeriesStepError(step, "unknown step")
