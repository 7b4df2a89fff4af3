"""What a calendar must show, computed independently of pstimport: each series' occurrences from
its source pattern with python-dateutil's rrule, in its zone with zoneinfo, exceptions applied.

A "spec" is a plain dict: pattern (daily | weekday | weekly | monthly | monthly_nth | yearly |
yearly_nth), interval, days, day_of_month, nth, month, end (count | date | none), count,
end_date, iana, start_local, duration_minutes, all_day, subject, location, deleted (local starts)
and modified (original_start, start, end local; subject, location or None)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule

_DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
_NTH = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
WORKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
# A series without end is checked over its first occurrences only.
NO_END_OCCURRENCES = 12


@dataclass(frozen=True, order=True)
class Occ:
    start: datetime
    end: datetime
    subject: str
    location: str


def _rule(spec: dict) -> rrule.rrule:
    start = datetime.fromisoformat(spec["start_local"])
    kw: dict = {"dtstart": start, "interval": spec.get("interval") or 1, "wkst": rrule.SU}
    p = spec["pattern"]
    days = [_DAYS[d] for d in (WORKDAYS if p == "weekday" else spec.get("days") or [])]
    if p == "daily":
        freq = rrule.DAILY
    elif p in ("weekday", "weekly"):
        freq, kw["byweekday"] = rrule.WEEKLY, days
        if p == "weekday":
            kw["interval"] = 1
    elif p in ("monthly", "yearly"):
        freq = rrule.MONTHLY if p == "monthly" else rrule.YEARLY
        dom = spec["day_of_month"]
        # "Day 31" falls on the last day of a shorter month (as Outlook shows it): the last of 28..31 there.
        kw["bymonthday"], kw["bysetpos"] = list(range(min(28, dom), dom + 1)), -1
        if p == "yearly":
            kw["bymonth"] = spec.get("month") or start.month
    else:
        freq = rrule.MONTHLY if p == "monthly_nth" else rrule.YEARLY
        kw["byweekday"], kw["bysetpos"] = days, _NTH[spec["nth"]]
        if p == "yearly_nth":
            kw["bymonth"] = spec.get("month") or start.month
    if spec["end"] == "count":
        kw["count"] = spec["count"]
    elif spec["end"] == "date":
        kw["until"] = datetime.combine(date.fromisoformat(spec["end_date"]), datetime.max.time())
    else:
        kw["count"] = NO_END_OCCURRENCES
    return rrule.rrule(freq, **kw)


def expected(spec: dict, first: int | None = None) -> list[Occ]:
    """The occurrences a client must see, UTC, in order (of the first `first` of the pattern only,
    deleted ones counted, when given)."""
    zone = ZoneInfo(spec.get("iana") or "UTC")
    length = timedelta(minutes=spec["duration_minutes"])
    deleted = {datetime.fromisoformat(d) for d in spec.get("deleted") or []}
    modified = {datetime.fromisoformat(m["original_start"]): m for m in spec.get("modified") or []}

    def utc(local: datetime) -> datetime:
        return local.replace(tzinfo=zone).astimezone(UTC)

    out = []
    for n, local in enumerate(_rule(spec), 1):
        if first is not None and n > first:
            break
        if local in deleted:
            continue
        m = modified.get(local)
        if m is not None:
            out.append(
                Occ(
                    utc(datetime.fromisoformat(m["start"])),
                    utc(datetime.fromisoformat(m["end"])),
                    m.get("subject") or spec["subject"],
                    m.get("location") or spec.get("location") or "",
                )
            )
        else:
            out.append(Occ(utc(local), utc(local + length), spec["subject"], spec.get("location") or ""))
    return sorted(out)


def spec_from_truth(item: dict) -> dict | None:
    """The spec of a writer item (calendar mode, or the realistic mode's weekly UTC series)."""
    extra = item.get("extra") or {}
    rec = extra.get("recurrence")
    if not rec or not item["class"].startswith("IPM.Appointment"):
        return None
    spec = {"subject": item["subject"], "location": extra.get("location") or ""}
    if "start_local" in rec:
        return {**rec, **spec}
    # realistic mode: weekly in UTC, days as a mask, exceptions in UTC ISO
    start = datetime.fromisoformat(extra["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(extra["end"].replace("Z", "+00:00"))
    names = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]

    def local(iso: str) -> str:
        return iso.replace("Z", "")

    return {
        **spec,
        "pattern": "weekly",
        "interval": rec.get("interval", 1),
        "days": [d for i, d in enumerate(names) if rec["days_mask"] & (1 << i)],
        "end": "count",
        "count": rec["count"],
        "iana": "UTC",
        "start_local": start.strftime("%Y-%m-%dT%H:%M:%S"),
        "duration_minutes": int((end - start).total_seconds() // 60),
        "all_day": False,
        "deleted": [local(d) for d in rec["deleted"]],
        "modified": [
            {**m, "original_start": local(m["original_start"]), "start": local(m["start"]), "end": local(m["end"])}
            for m in rec["modified"]
        ],
    }


def span(occs: list[Occ]) -> tuple[datetime, datetime]:
    """A window holding every expected occurrence (a day of margin each side)."""
    return min(o.start for o in occs) - timedelta(days=1), max(o.end for o in occs) + timedelta(days=1)


def spec_from_pst(item: object) -> dict | None:
    """The spec of a recurring appointment read from a PST (its PidLidAppointmentRecur, decoded by
    pstimport's blob reader; the expansion is still rrule's), or None when it is not recurring."""
    from core.convert.body import item_codec
    from core.convert.recurrence import decode_appointment_recurrence, occurrence_start, to_recurrence
    from core.convert.timezone import WINDOWS_TO_IANA, decode_tz_definition, windows_zone
    from core.mapi import PidLidAppointmentRecur, PidLidAppointmentTimeZoneDefinitionRecur, PidLidLocation

    props = item.props  # type: ignore[attr-defined]
    blob = props.bytes(PidLidAppointmentRecur)
    if not blob:
        return None
    ar = decode_appointment_recurrence(blob, item_codec(item) or "cp1252")
    rec, _ = to_recurrence(ar.pattern)
    zone = windows_zone(decode_tz_definition(props.bytes(PidLidAppointmentTimeZoneDefinitionRecur)))
    pattern = {
        "daily": "daily",
        "weekly": "weekday" if rec.every_weekday else "weekly",
        "absolute_monthly": "monthly",
        "relative_monthly": "monthly_nth",
        "absolute_yearly": "yearly",
        "relative_yearly": "yearly_nth",
    }[rec.pattern]
    fmt = "%Y-%m-%dT%H:%M:%S"
    start = occurrence_start(rec.start_date, ar.start_time_offset)
    originals = {ex.original_start.date() for ex in ar.exceptions}
    return {
        "subject": item.subject,  # type: ignore[attr-defined]
        "location": (props.get(PidLidLocation) or "").strip("\x00"),
        "pattern": pattern,
        "interval": rec.interval,
        "days": list(rec.days_of_week),
        "day_of_month": rec.day_of_month,
        "nth": rec.index,
        "month": rec.month,
        "end": {"numbered": "count", "end_date": "date", "no_end": "none"}[rec.range],
        "count": rec.occurrences,
        "end_date": rec.end_date.isoformat() if rec.end_date and rec.range == "end_date" else None,
        "iana": WINDOWS_TO_IANA.get(zone or "UTC", "UTC"),
        "start_local": start.strftime(fmt),
        "duration_minutes": ar.end_time_offset - ar.start_time_offset,
        "all_day": False,
        "deleted": [occurrence_start(d, ar.start_time_offset).strftime(fmt) for d in rec.deleted if d not in originals],
        "modified": [
            {
                "original_start": ex.original_start.strftime(fmt),
                "start": ex.start.strftime(fmt),
                "end": ex.end.strftime(fmt),
                "subject": ex.subject,
                "location": ex.location,
            }
            for ex in ar.exceptions
        ],
    }
