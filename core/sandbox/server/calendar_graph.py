"""The Graph side of the sandbox's recurring series (core/sandbox/server/calendar.py): an event
created with `recurrence` is a series master; `/events/{id}/instances` and `/calendarView` list its
occurrences; an occurrence's id (the master's with its index) is read, PATCHed (it becomes an
exception) and DELETEd. A mixin of `GraphService`, so graph.py keeps only the routes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from core.convert.payload import Recurrence
from core.convert.timezone import WINDOWS_TO_IANA, canonical_windows_id
from core.sandbox.server import calendar
from core.sandbox.server.store import Item

_PATTERN = {
    "daily": "daily",
    "weekly": "weekly",
    "absoluteMonthly": "absolute_monthly",
    "relativeMonthly": "relative_monthly",
    "absoluteYearly": "absolute_yearly",
    "relativeYearly": "relative_yearly",
}
_RANGE = {"endDate": "end_date", "numbered": "numbered", "noEnd": "no_end"}
# What PATCH may change on an occurrence, and the EWS-shaped field it becomes.
_PATCHABLE = {"subject", "body", "start", "end", "location", "showAs", "isReminderOn", "reminderMinutesBeforeStart"}
_SHOW_AS = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OOF",
    "workingelsewhere": "WorkingElsewhere",
}


def _g() -> Any:
    from core.sandbox.server import graph

    return graph


def _zone_of(name: str | None) -> dict:
    known = canonical_windows_id(name)
    if known is not None:
        return {"iana": WINDOWS_TO_IANA[known]}
    if name and name.upper() != "UTC":
        return {"iana": name}  # Graph also takes IANA names
    return {}


def on_create(body: dict, props: dict) -> None:
    """An event POSTed with a `recurrence` is a series master: its record in `props`."""
    rec_json = body.get("recurrence")
    if not isinstance(rec_json, dict):
        return
    g = _g()
    pattern, rng = rec_json["pattern"], rec_json["range"]
    rec = Recurrence(
        _PATTERN[pattern["type"]],  # type: ignore[arg-type]
        int(pattern.get("interval") or 1),
        days_of_week=[str(d).lower() for d in pattern.get("daysOfWeek") or []],  # type: ignore[misc]
        day_of_month=pattern.get("dayOfMonth"),
        month=pattern.get("month"),
        index=pattern.get("index"),
        first_day_of_week=str(pattern.get("firstDayOfWeek") or "sunday").lower(),  # type: ignore[arg-type]
        range=_RANGE[rng["type"]],  # type: ignore[arg-type]
        start_date=date.fromisoformat(rng["startDate"]),
        end_date=date.fromisoformat(rng["endDate"]) if rng.get("endDate") else None,
        occurrences=rng.get("numberOfOccurrences"),
    )
    zone = _zone_of(rng.get("recurrenceTimeZone") or (body.get("start") or {}).get("timeZone"))
    start = calendar.parse_time(g._date_time_tz(body["start"], "start"))
    end = calendar.parse_time(g._date_time_tz(body["end"], "end"))
    props[calendar.SERIES_KEY] = calendar.make_series(rec, zone, start, end)


def _when(value: datetime) -> dict:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


class GraphCalendarOps:
    """Mixed into GraphService: series instances, occurrences by id, calendarView."""

    store: Any

    def _occurrence_of(self, call: Any) -> tuple[Item, calendar.Occurrence | None]:
        g = _g()
        number, index = g.parse_id(call.args["item"], "I")
        item = self.store.item(number)
        folder = self.store.folder(item.folder_id) if item else None
        if item is None or folder is None or folder.mailbox != call.mailbox or item.kind != "CalendarItem":
            raise g.GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if index is None:
            return item, None
        try:
            return item, calendar.occurrence(item, index)
        except calendar.CalendarError:
            raise g.GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.") from None

    def event_json(self, call: Any, item: Item, occ: calendar.Occurrence | None = None, entity: bool = False) -> dict:
        """An event as Graph shows it: a master is a seriesMaster; an occurrence an occurrence or exception."""
        g = _g()
        out = self._item_json(call, item, g.KINDS["event"], entity=entity)  # type: ignore[attr-defined]
        if occ is None:
            if calendar.series_of(item) is not None:
                out["type"] = "seriesMaster"
            return out
        changes = {k: n[2] for k, n in occ.changes.items() if k != calendar.ATTACHMENTS}
        out.update(
            {
                "id": g.graph_id("I", item.id, occ.index),
                "type": "exception" if occ.modified else "occurrence",
                "seriesMasterId": g.graph_id("I", item.id),
                "originalStart": occ.original_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "start": _when(occ.start),
                "end": _when(occ.end),
                "recurrence": None,
            }
        )
        if "Subject" in changes:
            out["subject"] = changes["Subject"]
        if "Location" in changes:
            out["location"] = {"displayName": changes["Location"]}
        if "LegacyFreeBusyStatus" in changes:
            out["showAs"] = {v: k for k, v in _SHOW_AS.items()}.get(changes["LegacyFreeBusyStatus"], "busy")
        if "Body" in occ.changes:
            node = occ.changes["Body"]
            kind = "html" if node[1].get("BodyType") == "HTML" else "text"
            out["body"] = {"contentType": kind, "content": node[2]}
        return out

    def _window(self, call: Any) -> tuple[datetime, datetime]:
        g = _g()
        q = call.req.query
        if not q.get("startDateTime") or not q.get("endDateTime"):
            raise g.GraphError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query "
                "string parameters StartDateTime and EndDateTime.",
            )
        try:
            return calendar.parse_time(q["startDateTime"]), calendar.parse_time(q["endDateTime"])
        except ValueError:
            raise g.GraphError(400, "ErrorInvalidParameter", "The time window is not valid.") from None

    def list_instances(self, call: Any) -> Any:
        """GET /events/{id}/instances?startDateTime=&endDateTime=: a master's occurrences in the window."""
        g = _g()
        start, end = self._window(call)
        item, occ = self._occurrence_of(call)
        if occ is not None or calendar.series_of(item) is None:
            entries: list = []
        else:
            entries = [
                self.event_json(call, item, o)
                for o in calendar.occurrences(item, until=end)
                if not o.deleted and o.start < end and o.end > start
            ]
        top, skip = g._paging(call.req, default=g.MAX_PAGE)
        page = entries[skip : skip + top]
        return self._page(call, page, len(entries), self._ctx(call, "events"), skip, top)  # type: ignore[attr-defined]

    def calendar_view(self, call: Any) -> Any:
        """GET /calendar/calendarView: single events and occurrences overlapping the window."""
        g = _g()
        start, end = self._window(call)
        folder = self._family_folder(call, g.KINDS["event"])  # type: ignore[attr-defined]
        entries = [self.event_json(call, it, occ) for it, occ in calendar.in_view(self.store, folder.id, start, end)]
        top, skip = g._paging(call.req, default=g.MAX_PAGE)
        page = entries[skip : skip + top]
        return self._page(call, page, len(entries), self._ctx(call, "events"), skip, top)  # type: ignore[attr-defined]

    def get_event(self, call: Any) -> Any:
        item, occ = self._occurrence_of(call)
        return self._json(200, self.event_json(call, item, occ, entity=True))  # type: ignore[attr-defined]

    def update_event(self, call: Any) -> Any:
        """PATCH an event: an occurrence becomes an exception; a master or single event changes."""
        g = _g()
        body = g._json_body(call.req)
        item, occ = self._occurrence_of(call)
        if occ is None:
            g._check_properties(body, set(g.KINDS["event"].writable), set(g.KINDS["event"].readonly), "event")
            fields = g.event_fields({**self.event_json(call, item), **body}) if {"start", "end"} & set(body) else None
            graph_json = dict(item.props.get(g.GRAPH_JSON_KEY) or {})
            graph_json.update({k: v for k, v in body.items() if k not in g.KINDS["event"].readonly})
            subject = str(body["subject"]) if "subject" in body else item.subject
            updated = self.store.update_item(item.id, subject=subject, props={g.GRAPH_JSON_KEY: graph_json})
            if fields is not None:
                keep = [n for n in updated.fields if n[0] not in {f[0] for f in fields}]
                updated = self.store.update_item(item.id, fields=keep + fields)
            return self._json(200, self.event_json(call, updated, entity=True))  # type: ignore[attr-defined]
        unknown = set(body) - _PATCHABLE - {"@odata.type"}
        if unknown:
            raise g.GraphError(
                400,
                "ErrorInvalidPropertyForOccurrence" if unknown & g.KINDS["event"].writable else "RequestBodyRead",
                f"The property '{sorted(unknown)[0]}' cannot be changed on an occurrence.",
            )
        nodes: list[list] = []
        if "subject" in body:
            nodes.append(["Subject", {}, str(body["subject"] or "")])
        for key, element in (("start", "Start"), ("end", "End")):
            if key in body:
                nodes.append([element, {}, g._date_time_tz(body[key], key)])
        if "location" in body:
            nodes.append(["Location", {}, str((body["location"] or {}).get("displayName") or "")])
        if "showAs" in body:
            nodes.append(["LegacyFreeBusyStatus", {}, _SHOW_AS.get(str(body["showAs"]).lower(), "Busy")])
        if "isReminderOn" in body:
            nodes.append(["ReminderIsSet", {}, "true" if body["isReminderOn"] else "false"])
        if "reminderMinutesBeforeStart" in body:
            nodes.append(["ReminderMinutesBeforeStart", {}, str(int(body["reminderMinutesBeforeStart"]))])
        if isinstance(body.get("body"), dict):
            kind = "HTML" if str(body["body"].get("contentType", "")).lower() == "html" else "Text"
            nodes.append(["Body", {"BodyType": kind}, str(body["body"].get("content") or "")])
        try:
            item = calendar.modify(self.store, item, occ.index, nodes)
            occ = calendar.occurrence(item, occ.index)
        except calendar.CalendarError as err:
            raise g.GraphError(400, err.code, err.message) from None
        return self._json(200, self.event_json(call, item, occ, entity=True))  # type: ignore[attr-defined]

    def add_event_attachment(self, call: Any) -> Any:
        """POST a fileAttachment to an occurrence (it becomes an exception holding it)."""
        g = _g()
        body = g._json_body(call.req)
        item, occ = self._occurrence_of(call)
        if occ is None:
            raise g.GraphError(405, "ErrorInvalidRequest", "The sandbox adds event attachments to occurrences only.")
        record = self._attachment_record(body)  # type: ignore[attr-defined]  # Graph's own checks (size, fields)
        calendar.attach(self.store, item, occ.index, [record])
        return self._json(201, {"@odata.type": "#microsoft.graph.fileAttachment", **self._public(record)})

    def list_event_attachments(self, call: Any) -> Any:
        """GET an occurrence's attachments (names, types, sizes; no content)."""
        _item, occ = self._occurrence_of(call)
        records = calendar.occurrence_attachments(occ) if occ is not None else []
        entries = [{"@odata.type": "#microsoft.graph.fileAttachment", **self._public(r)} for r in records]
        return self._json(200, {"@odata.context": self._ctx(call, "attachments"), "value": entries})  # type: ignore[attr-defined]

    @staticmethod
    def _public(record: dict) -> dict:
        keys = ("name", "contentType", "size", "isInline", "contentId", "lastModifiedDateTime")
        return {k: record[k] for k in keys if k in record}

    def delete_event(self, call: Any) -> Any:
        """DELETE an occurrence (it leaves the series); deleting a whole event is not offered here."""
        g = _g()
        item, occ = self._occurrence_of(call)
        if occ is None:
            raise g.GraphError(405, "ErrorInvalidRequest", "The sandbox deletes occurrences only.")
        calendar.delete(self.store, item, occ.index)
        return g.GraphResponse(204, b"", "application/json")
