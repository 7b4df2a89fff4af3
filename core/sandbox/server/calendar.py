"""Recurring series in the sandbox, expanded as Exchange expands them.

A calendar item created with a `Recurrence` (EWS) or `recurrence` (Graph) is a series master. Its
pattern, time zone and first occurrence are kept beside it (`SERIES_KEY`); changes to single
occurrences are kept as a map from InstanceIndex to the changed fields, deletions as a set of
indexes (`CHANGES_KEY`). From these, both front ends answer as Exchange does:

- EWS: CalendarView (FindItem) lists occurrences, exceptions applied and deleted ones left out;
  `OccurrenceItemId` (master id + InstanceIndex) and `RecurringMasterItemId` resolve in GetItem,
  UpdateItem and DeleteItem; `CalendarItemType` is Single, RecurringMaster, Occurrence or
  Exception; a master lists its `ModifiedOccurrences` and `DeletedOccurrences`.
- Graph: `/events/{id}/instances` lists the same occurrences, which GET, PATCH and DELETE reach.

Occurrences are the n-th date of the pattern (InstanceIndex n, deleted ones counted), at the
master's wall-clock time in the series' zone: a series in W. Europe Standard Time stays at 10:00
local across a DST change. The pattern is expanded by core.convert.recurrence's expander (the
tests check the result against python-dateutil's rrule, not against this code).
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from core.convert.payload import WEEKDAYS, Recurrence, TimeZone, TimeZoneRule
from core.convert.recurrence import occurrence_dates
from core.convert.timezone import WINDOWS_TO_IANA, canonical_windows_id, local_to_utc, utc_to_local
from core.sandbox.server.store import Item, Store

SERIES_KEY = "sandbox:series"
ATTACHMENTS = "_attachments"  # in an occurrence's changes: its attachment records
CHANGES_KEY = "sandbox:occurrence-changes"
PRIVATE_KEYS = (SERIES_KEY, CHANGES_KEY)
# Occurrences listed at most for one view (Exchange's CalendarView answers at most 1,000).
MAX_VIEW = 1000
_EWS_TIME = "%Y-%m-%dT%H:%M:%SZ"
_OCC_MAGIC = b"SBXO"

# The order of CalendarItemType's own elements (types.xsd), after ItemType's.
CALENDAR_ORDER = (
    "UID", "RecurrenceId", "DateTimeStamp", "Start", "End", "OriginalStart", "IsAllDayEvent", "LegacyFreeBusyStatus",
    "Location", "When", "IsMeeting", "IsCancelled", "IsRecurring", "MeetingRequestWasSent", "IsResponseRequested",
    "CalendarItemType", "MyResponseType", "Organizer", "RequiredAttendees", "OptionalAttendees", "Resources",
    "InboxReminders", "ConflictingMeetingCount", "AdjacentMeetingCount", "ConflictingMeetings", "AdjacentMeetings",
    "Duration", "TimeZone", "AppointmentReplyTime", "AppointmentSequenceNumber", "AppointmentState", "Recurrence",
    "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences", "MeetingTimeZone",
    "StartTimeZone", "EndTimeZone", "ConferenceType", "AllowNewTimeProposal", "IsOnlineMeeting",
    "MeetingWorkspaceUrl", "NetShowUrl", "EnhancedLocation", "StartWallClock", "EndWallClock", "StartTimeZoneId",
    "EndTimeZoneId", "IntendedFreeBusyStatus", "JoinOnlineMeetingUrl", "OnlineMeetingSettings", "IsOrganizer",
    "CalendarActivityData", "DoNotForwardMeeting",
)  # fmt: skip
_RANK = {name: n for n, name in enumerate(CALENDAR_ORDER)}
# What an occurrence may change (UpdateItem on an occurrence; Graph PATCH of an instance).
OCCURRENCE_FIELDS = {
    "Subject", "Body", "Start", "End", "Location", "LegacyFreeBusyStatus", "ReminderIsSet",
    "ReminderMinutesBeforeStart", "Sensitivity", "Importance", "Categories", "IsAllDayEvent", "StartTimeZone",
    "EndTimeZone", "MeetingTimeZone",
}  # fmt: skip
_INDEX_NAMES = {"First": "first", "Second": "second", "Third": "third", "Fourth": "fourth", "Last": "last"}
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
)  # fmt: skip
_DAY_SETS = {
    "Day": list(WEEKDAYS),
    "Weekday": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "WeekendDay": ["saturday", "sunday"],
}


class CalendarError(Exception):
    """Refused as Exchange refuses it: `code` is the EWS response code (Graph maps it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- occurrence ids ---------------------------------------------------------------------------------
def occurrence_id(master_id: int, index: int) -> str:
    """An EWS ItemId of one occurrence (opaque, like Exchange's)."""
    return base64.b64encode(_OCC_MAGIC + struct.pack(">QI", master_id, index)).decode()


def parse_occurrence_id(value: str) -> tuple[int, int] | None:
    """(master id, index) of an occurrence id, or None for another kind of id."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    if len(raw) != 16 or not raw.startswith(_OCC_MAGIC):
        return None
    master, index = struct.unpack(">QI", raw[4:])
    return master, index


# --- the series ----------------------------------------------------------------------------------
def _zone(series: dict) -> Callable[[datetime], datetime]:
    """local naive -> UTC aware, for a series' zone."""
    tz = series.get("tz") or {}
    if "iana" in tz:
        zone = ZoneInfo(tz["iana"])
        return lambda local: local.replace(tzinfo=zone).astimezone(UTC)
    rules = tz.get("rules")
    if rules:
        zone_rules = TimeZone(None, [TimeZoneRule(**r) for r in rules])
        return lambda local: local_to_utc(local, zone_rules)
    return lambda local: local.replace(tzinfo=UTC)


def _to_local(series: dict, utc: datetime) -> datetime:
    tz = series.get("tz") or {}
    if "iana" in tz:
        return utc.astimezone(ZoneInfo(tz["iana"])).replace(tzinfo=None)
    rules = tz.get("rules")
    if rules:
        return utc_to_local(utc, TimeZone(None, [TimeZoneRule(**r) for r in rules]))
    return utc.astimezone(UTC).replace(tzinfo=None)


def _recurrence(series: dict) -> Recurrence:
    r = dict(series["rec"])
    for key in ("start_date", "end_date"):
        if r.get(key):
            r[key] = date.fromisoformat(r[key])
    return Recurrence(**r)


def parse_time(text: str) -> datetime:
    """An xs:dateTime as an aware UTC datetime (a value without a zone is taken as UTC)."""
    t = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    value = datetime.fromisoformat(t)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_EWS_TIME)


def make_series(rec: Recurrence, tz: dict, start: datetime, end: datetime) -> dict:
    """The series record kept beside a master: pattern, zone, and its first occurrence's local times."""
    series: dict[str, Any] = {"tz": tz}
    rec_json = {k: getattr(rec, k) for k in rec.__slots__}  # type: ignore[attr-defined]
    for key in ("start_date", "end_date"):
        if rec_json.get(key) is not None:
            rec_json[key] = rec_json[key].isoformat()
    rec_json["deleted"] = []
    rec_json["modified"] = []
    series["rec"] = rec_json
    series["start_local"] = _to_local(series, start).isoformat()
    series["end_local"] = _to_local(series, end).isoformat()
    return series


@dataclass(frozen=True)
class Occurrence:
    index: int
    original_start: datetime
    start: datetime
    end: datetime
    changes: dict  # element name -> stored JSON node, for an exception
    deleted: bool = False

    @property
    def modified(self) -> bool:
        return bool(self.changes)


def series_of(item: Item) -> dict | None:
    value = item.props.get(SERIES_KEY)
    return value if isinstance(value, dict) else None


def changes_of(item: Item) -> dict:
    value = item.props.get(CHANGES_KEY)
    if isinstance(value, dict):
        return {"modified": dict(value.get("modified") or {}), "deleted": list(value.get("deleted") or [])}
    return {"modified": {}, "deleted": []}


def occurrences(item: Item, until: datetime | None = None, limit: int | None = None) -> list[Occurrence]:
    """A master's occurrences in order (deleted ones included, marked), up to `until` (UTC)."""
    series = series_of(item)
    if series is None:
        return []
    rec = _recurrence(series)
    to_utc = _zone(series)
    first_start = datetime.fromisoformat(series["start_local"])
    length = datetime.fromisoformat(series["end_local"]) - first_start
    last_day = (_to_local(series, until).date() + timedelta(days=1)) if until is not None else None
    if last_day is None and limit is None and rec.range == "no_end":
        limit = MAX_VIEW
    dates = occurrence_dates(rec, until=last_day, limit=limit)
    changes = changes_of(item)
    deleted = set(changes["deleted"])
    out = []
    for n, d in enumerate(dates, 1):
        local = datetime.combine(d, first_start.time())
        start, end = to_utc(local), to_utc(local + length)
        mod = changes["modified"].get(str(n)) or {}
        s = parse_time(mod["Start"][2]) if "Start" in mod else start
        e = parse_time(mod["End"][2]) if "End" in mod else end
        out.append(Occurrence(n, start, s, e, mod, n in deleted))
    return out


def occurrence(item: Item, index: int) -> Occurrence:
    """Occurrence `index` of a master; CalendarError as Exchange answers a bad or deleted index."""
    if series_of(item) is None:
        raise CalendarError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "The item is not recurring.")
    if index < 1:
        raise CalendarError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "The occurrence index is out of range."
        )
    found = occurrences(item, limit=index)
    if len(found) < index:
        raise CalendarError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "The occurrence index is out of range."
        )
    occ = found[index - 1]
    if occ.deleted:
        raise CalendarError(
            "ErrorCalendarOccurrenceIsDeletedFromRecurrence", "The occurrence was deleted from the recurrence."
        )
    return occ


def store_changes(store: Store, item: Item, changes: dict) -> Item:
    updated = store.update_item(item.id, props={CHANGES_KEY: changes})
    assert updated is not None
    return updated


def modify(store: Store, item: Item, index: int, nodes: list[list]) -> Item:
    """Record changed fields (EWS-shaped JSON nodes) of occurrence `index`."""
    occ = occurrence(item, index)
    changes = changes_of(item)
    mod = dict(occ.changes)
    for node in nodes:
        if node[0] not in OCCURRENCE_FIELDS:
            raise CalendarError("ErrorInvalidPropertySet", f"{node[0]} cannot be changed on an occurrence.")
        mod[node[0]] = node
    start = parse_time(mod["Start"][2]) if "Start" in mod else occ.start
    end = parse_time(mod["End"][2]) if "End" in mod else occ.end
    if end < start:
        raise CalendarError("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate.")
    changes["modified"][str(index)] = mod
    return store_changes(store, item, changes)


def attach(store: Store, item: Item, index: int, records: list[dict]) -> Item:
    """Add attachments (stored records, as attachments.py keeps an item's) to occurrence `index`:
    it becomes an exception holding them."""
    occ = occurrence(item, index)
    changes = changes_of(item)
    mod = dict(occ.changes)
    mod[ATTACHMENTS] = [*(mod.get(ATTACHMENTS) or []), *records]
    changes["modified"][str(index)] = mod
    return store_changes(store, item, changes)


def occurrence_attachments(occ: Occurrence) -> list[dict]:
    """The attachment records of an occurrence (its own, not the master's)."""
    return list(occ.changes.get(ATTACHMENTS) or [])


def delete(store: Store, item: Item, index: int) -> Item:
    """Delete occurrence `index` (its changes go with it)."""
    occurrence(item, index)
    changes = changes_of(item)
    changes["modified"].pop(str(index), None)
    changes["deleted"] = sorted(set(changes["deleted"]) | {index})
    return store_changes(store, item, changes)


# --- EWS ---------------------------------------------------------------------------------------------
def _text_of(fields: list, name: str) -> str | None:
    for node in fields:
        if node[0] == name and isinstance(node[2], str):
            return node[2]
    return None


def _node(fields: list, name: str) -> list | None:
    return next((n for n in fields if n[0] == name), None)


def _children(node: list) -> list:
    return node[2] if isinstance(node[2], list) else []


def _ews_date(text: str) -> date:
    return date.fromisoformat(text.strip()[:10])


def _ews_recurrence(node: list) -> Recurrence:
    """A stored `Recurrence` element as a Recurrence; CalendarError when it makes no series."""
    parts = _children(node)
    if len(parts) != 2:
        raise CalendarError("ErrorInvalidRecurrence", "A recurrence needs a pattern and a range.")
    pattern, rng = parts
    kind, values = pattern[0], {c[0]: c[2] for c in _children(pattern)}
    interval = int(values.get("Interval") or 1)
    if interval < 1:
        raise CalendarError("ErrorInvalidRecurrence", "The recurrence interval must be at least 1.")

    def days(text: str) -> list:
        out = []
        for word in text.split():
            out += _DAY_SETS.get(word, [word.lower()])
        return out

    rec: Recurrence
    if kind == "DailyRecurrence":
        rec = Recurrence("daily", interval)
    elif kind == "WeeklyRecurrence":
        rec = Recurrence("weekly", interval, days_of_week=days(values.get("DaysOfWeek", "")))
        if values.get("FirstDayOfWeek"):
            rec.first_day_of_week = values["FirstDayOfWeek"].lower()
    elif kind == "AbsoluteMonthlyRecurrence":
        rec = Recurrence("absolute_monthly", interval, day_of_month=int(values["DayOfMonth"]))
    elif kind == "RelativeMonthlyRecurrence":
        rec = Recurrence(
            "relative_monthly",
            interval,
            days_of_week=days(values.get("DaysOfWeek", "")),
            index=_INDEX_NAMES.get(values.get("DayOfWeekIndex", "First"), "first"),  # type: ignore[arg-type]
        )
    elif kind == "AbsoluteYearlyRecurrence":
        rec = Recurrence(
            "absolute_yearly", 1, day_of_month=int(values["DayOfMonth"]), month=_MONTHS.index(values["Month"]) + 1
        )
    elif kind == "RelativeYearlyRecurrence":
        rec = Recurrence(
            "relative_yearly",
            1,
            days_of_week=days(values.get("DaysOfWeek", "")),
            index=_INDEX_NAMES.get(values.get("DayOfWeekIndex", "First"), "first"),  # type: ignore[arg-type]
            month=_MONTHS.index(values["Month"]) + 1,
        )
    else:
        raise CalendarError("ErrorInvalidRecurrence", f"{kind} is not a calendar recurrence pattern.")
    if rec.pattern == "weekly" and not rec.days_of_week:
        raise CalendarError("ErrorInvalidRecurrence", "A weekly recurrence needs DaysOfWeek.")
    bounds = {c[0]: c[2] for c in _children(rng)}
    rec.start_date = _ews_date(bounds["StartDate"])
    if rng[0] == "EndDateRecurrence":
        rec.range, rec.end_date = "end_date", _ews_date(bounds["EndDate"])
    elif rng[0] == "NumberedRecurrence":
        rec.range, rec.occurrences = "numbered", int(bounds["NumberOfOccurrences"])
    else:
        rec.range = "no_end"
    return rec


def _ews_zone(node: list | None) -> dict:
    """A stored StartTimeZone (TimeZoneDefinitionType) as the series' zone: a known Windows id
    names its IANA zone (as Exchange uses its own definition of a zone it knows); otherwise the
    definition's periods and yearly transitions are used."""
    if node is None:
        return {}
    known = canonical_windows_id(node[1].get("Id"))
    if known is not None:
        try:
            ZoneInfo(WINDOWS_TO_IANA[known])
            return {"iana": WINDOWS_TO_IANA[known]}
        except ZoneInfoNotFoundError:
            pass
    periods: dict[str, int] = {}
    transitions: dict[str, tuple] = {}
    for child in _children(node):
        if child[0] == "Periods":
            for period in _children(child):
                periods[period[1].get("Id", "")] = _minutes(period[1].get("Bias", "PT0H"))
        elif child[0] == "TransitionsGroups":
            for group in _children(child)[:1]:
                for tr in _children(group):
                    v = {c[0]: c[2] for c in _children(tr)}
                    if tr[0] != "RecurringDayTransition":
                        continue
                    week = int(v["Occurrence"])
                    when = (
                        int(v["Month"]),
                        [d.capitalize() for d in WEEKDAYS].index(v["DayOfWeek"]),
                        5 if week < 0 else week,
                        _minutes(v["TimeOffset"]) // 60,
                        _minutes(v["TimeOffset"]) % 60,
                    )
                    transitions[v["To"]] = when
    if not periods:
        return {}
    ids = list(periods)
    std = periods[ids[0]]
    if len(ids) < 2 or len(transitions) < 2:
        return {"rules": [_rule(std, std, None, None)]}
    dst = periods[ids[1]]
    return {"rules": [_rule(std, dst, transitions.get(ids[0]), transitions.get(ids[1]))]}


def _rule(std: int, dst: int, to_std: tuple | None, to_dst: tuple | None) -> dict:
    return {
        "year": 1601,
        "bias": std,
        "standard_bias": 0,
        "daylight_bias": dst - std,
        "standard_transition": list(to_std) if to_std else None,
        "daylight_transition": list(to_dst) if to_dst else None,
        "effective": True,
    }


_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?)?$")


def _minutes(text: str) -> int:
    m = _DURATION.match(text.strip())
    if not m:
        return 0
    sign, d, h, mi, _s = m.groups()
    total = int(d or 0) * 1440 + int(h or 0) * 60 + int(mi or 0)
    return -total if sign else total


def on_create(fields: list, props: dict) -> None:
    """CreateItem of a CalendarItem: a Recurrence makes it a series master (its record in `props`).

    Raises:
        CalendarError: the recurrence is not valid (Exchange's ErrorInvalidRecurrence & co.).
    """
    node = _node(fields, "Recurrence")
    start, end = _text_of(fields, "Start"), _text_of(fields, "End")
    if node is None or start is None or end is None:
        return
    try:
        rec = _ews_recurrence(node)
    except (KeyError, ValueError) as exc:
        raise CalendarError("ErrorInvalidRecurrence", f"The recurrence is not valid ({exc}).") from None
    zone = _ews_zone(_node(fields, "StartTimeZone"))
    props[SERIES_KEY] = make_series(rec, zone, parse_time(start), parse_time(end))


def _occurrence_fields(item: Item, occ: Occurrence) -> list:
    fields = [n for n in item.fields if n[0] not in ("Recurrence", "ModifiedOccurrences", "DeletedOccurrences")]
    fields = [n for n in fields if n[0] not in occ.changes and n[0] not in ("Start", "End")]
    fields += [n for k, n in occ.changes.items() if k not in ("Start", "End", ATTACHMENTS)]
    fields += [["Start", {}, fmt(occ.start)], ["End", {}, fmt(occ.end)], ["OriginalStart", {}, fmt(occ.original_start)]]
    return fields


def view_fields(item: Item, mailbox: str, occ: Occurrence | None = None) -> list:
    """The fields of a calendar item as Exchange shows them (computed ones added, schema order)."""
    fields = _occurrence_fields(item, occ) if occ is not None else list(item.fields)
    series = series_of(item)
    if occ is not None:
        kind = "Exception" if occ.modified else "Occurrence"
    else:
        kind = "RecurringMaster" if series is not None else "Single"
    names = {n[0] for n in fields}
    meeting = bool(names & {"RequiredAttendees", "OptionalAttendees", "Resources"})
    computed = [
        ["IsMeeting", {}, "true" if meeting else "false"],
        ["IsRecurring", {}, "true" if occ is not None else "false"],
        ["CalendarItemType", {}, kind],
        ["MyResponseType", {}, "Organizer" if meeting else "Unknown"],
        ["Organizer", {}, [["Mailbox", {}, [["Name", {}, mailbox], ["EmailAddress", {}, mailbox]]]]],
    ]
    if occ is None and series is not None:
        every = occurrences(item, limit=MAX_VIEW)
        mods = [o for o in every if o.modified and not o.deleted]
        gone = [o for o in every if o.deleted]
        if mods:
            listed = []
            for o in mods:
                occ_id = {"Id": occurrence_id(item.id, o.index), "ChangeKey": _ck(item, o.index)}
                times = [["Start", {}, fmt(o.start)], ["End", {}, fmt(o.end)]]
                listed.append(
                    ["Occurrence", {}, [["ItemId", occ_id, ""], *times, ["OriginalStart", {}, fmt(o.original_start)]]]
                )
            computed.append(["ModifiedOccurrences", {}, listed])
        if gone:
            computed.append(
                [
                    "DeletedOccurrences",
                    {},
                    [["DeletedOccurrence", {}, [["Start", {}, fmt(o.original_start)]]] for o in gone],
                ]
            )
    have = {n[0] for n in fields}
    fields += [c for c in computed if c[0] not in have]
    # xs:boolean as Exchange writes it ("true"/"false"), whatever form the client sent (exchangelib sends 1/0)
    fields = [[n[0], n[1], _canonical_bool(n[2])] if n[0] in _BOOLEANS else n for n in fields]
    head = [n for n in fields if n[0] not in _RANK]
    tail = sorted((n for n in fields if n[0] in _RANK), key=lambda n: _RANK[n[0]])
    return head + tail


_BOOLEANS = {"IsAllDayEvent", "ReminderIsSet", "IsResponseRequested", "AllowNewTimeProposal", "IsOnlineMeeting"}


def _canonical_bool(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "0", "false"):
        return "true" if value.strip().lower() in ("1", "true") else "false"
    return value


def _ck(item: Item, index: int) -> str:
    return base64.b64encode(b"CK" + struct.pack(">QI", item.id, index)).decode()


def is_viewed(item: Item) -> bool:
    """Whether the item's fields are already the computed view (no client can set CalendarItemType)."""
    return any(n[0] == "CalendarItemType" for n in item.stored_fields)


def as_viewed(item: Item, mailbox: str, occ: Occurrence | None = None) -> Item:
    """The item (or one of its occurrences) with the fields Exchange would show."""
    subject = item.subject
    if occ is not None and "Subject" in occ.changes:
        subject = occ.changes["Subject"][2] or ""
    return replace(item, stored_fields=view_fields(item, mailbox, occ), subject=subject, pending_mime=None)


def set_occurrence_id(el: etree._Element, tns: str, master_id: int, index: int) -> None:
    """Give a rendered item element its occurrence's ItemId (the master's id is rendered by default)."""
    item_id = el.find(f"{{{tns}}}ItemId")
    if item_id is not None:
        item_id.set("Id", occurrence_id(master_id, index))
        item_id.set("ChangeKey", base64.b64encode(b"CK" + struct.pack(">QI", master_id, index)).decode())


def in_view(store: Store, folder_id: int, start: datetime, end: datetime) -> list[tuple[Item, Occurrence | None]]:
    """What a CalendarView of [start, end) lists: single items and occurrences that overlap it,
    by start time (masters themselves are not listed, as in Exchange)."""
    out: list[tuple[datetime, int, Item, Occurrence | None]] = []
    for item in store.items(folder_id):
        if item.kind != "CalendarItem":
            continue
        if series_of(item) is not None:
            for occ in occurrences(item, until=end):
                if not occ.deleted and occ.start < end and occ.end > start:
                    out.append((occ.start, item.id, item, occ))
            continue
        s, e = _text_of(item.fields, "Start"), _text_of(item.fields, "End")
        if s is None or e is None:
            continue
        st, en = parse_time(s), parse_time(e)
        if st < end and (en > start or (st == en and st >= start)):
            out.append((st, item.id, item, None))
    out.sort(key=lambda x: (x[0], x[1], x[3].index if x[3] else 0))
    return [(it, occ) for _s, _i, it, occ in out]


def update_nodes(item_el: etree._Element, to_json: Callable[[etree._Element], list]) -> list[list]:
    """The fields an UpdateItem's SetItemField elements set (their item element's children)."""
    nodes = []
    for child in item_el:
        if isinstance(child.tag, str):
            nodes.append(to_json(child))
    return nodes


def json_dump(value: object) -> str:
    return json.dumps(value)
