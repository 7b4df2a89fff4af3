"""Typed payloads (core.convert) as Graph resources: event, contact, To Do task, and messages for
notes, journal entries and distribution lists.

Where Graph has no field for something, the MAPI property itself is set in the create request
(`singleValueExtendedProperties`), so Outlook still shows it. What Graph cannot carry at all is in
`core.convert.limits.CANNOT_CARRY` (graph-event-attendees, graph-no-attachment-api, graph-typed-class,
graph-distlist-members, and the time zone, occurrence, organizer, contact and task entries).

Notes, journal entries, distribution lists have no Graph type: they are messages with their
message class (PidTagMessageClass) and properties; a distribution list's members are listed after its body.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from core.convert.payload import (
    Appointment,
    Body,
    Contact,
    DistributionList,
    ExtendedProp,
    FileAttachment,
    ItemAttachment,
    Mailbox,
    Recurrence,
    Task,
    TimeZone,
)
from core.convert.timezone import utc_to_local, windows_zone
from core.mapi import (
    MSGFLAG_READ,
    SENSITIVITY_CONFIDENTIAL,
    SENSITIVITY_PERSONAL,
    SENSITIVITY_PRIVATE,
    PidLidAllAttendeesString,
    PidLidCcAttendeesString,
    PidLidPercentComplete,
    PidLidTaskActualEffort,
    PidLidTaskEstimatedEffort,
    PidLidTaskOwner,
    PidLidToAttendeesString,
    PidTagAssistantTelephoneNumber,
    PidTagBusinessFaxNumber,
    PidTagCallbackTelephoneNumber,
    PidTagCarTelephoneNumber,
    PidTagClientSubmitTime,
    PidTagCompanyMainTelephoneNumber,
    PidTagHomeFaxNumber,
    PidTagIsdnNumber,
    PidTagMessageClass,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PidTagOtherTelephoneNumber,
    PidTagPagerTelephoneNumber,
    PidTagPersonalHomePage,
    PidTagPrimaryFaxNumber,
    PidTagPrimaryTelephoneNumber,
    PidTagRadioTelephoneNumber,
    PidTagSensitivity,
    PidTagSubject,
    PidTagTelexNumber,
    PidTagTtyTddPhoneNumber,
    PidTagWeddingAnniversary,
)
from core.transport.graph.mail import GraphItem, LargeAttachment, extended_properties, split_attachments
from core.transport.graph.wire import INLINE_ATTACHMENT_MAX

_SHOW_AS = {
    "free": "free",
    "tentative": "tentative",
    "busy": "busy",
    "oof": "oof",
    "working_elsewhere": "workingElsewhere",
}
_SENSITIVITY_CODES = {
    "personal": SENSITIVITY_PERSONAL,
    "private": SENSITIVITY_PRIVATE,
    "confidential": SENSITIVITY_CONFIDENTIAL,
}
_PATTERN = {
    "daily": "daily",
    "weekly": "weekly",
    "absolute_monthly": "absoluteMonthly",
    "relative_monthly": "relativeMonthly",
    "absolute_yearly": "absoluteYearly",
    "relative_yearly": "relativeYearly",
}
_RANGE = {"end_date": "endDate", "numbered": "numbered", "no_end": "noEnd"}
_TASK_STATUS = {
    "not_started": "notStarted",
    "in_progress": "inProgress",
    "completed": "completed",
    "waiting_on_others": "waitingOnOthers",
    "deferred": "deferred",
}
# Phones Graph v1.0 has no field for: their MAPI properties (MS-OXOCNTC 2.2.1.4).
_PHONE_PROPS = {
    "business2": None,  # a second businessPhones entry
    "home2": None,  # a second homePhones entry
    "pager": PidTagPagerTelephoneNumber,
    "car": PidTagCarTelephoneNumber,
    "business_fax": PidTagBusinessFaxNumber,
    "home_fax": PidTagHomeFaxNumber,
    "other_fax": PidTagPrimaryFaxNumber,
    "primary": PidTagPrimaryTelephoneNumber,
    "assistant": PidTagAssistantTelephoneNumber,
    "other": PidTagOtherTelephoneNumber,
    "company_main": PidTagCompanyMainTelephoneNumber,
    "radio": PidTagRadioTelephoneNumber,
    "callback": PidTagCallbackTelephoneNumber,
    "isdn": PidTagIsdnNumber,
    "telex": PidTagTelexNumber,
    "tty_tdd": PidTagTtyTddPhoneNumber,
}
UTC_ZONE = "UTC"


def transaction_id(source_key: str) -> str:
    """A stable event `transactionId` from the stamp: Graph drops a second POST carrying the same one."""
    return hashlib.sha256(source_key.encode("utf-8")).hexdigest()[:32]


def _body(body: Body) -> dict | None:
    if body.html:
        return {"contentType": "html", "content": body.html}
    if body.text:
        return {"contentType": "text", "content": body.text}
    return None


def _email(m: Mailbox | None) -> dict | None:
    if m is None or not (m.email or m.name):
        return None
    out: dict[str, str] = {}
    if m.email:
        out["address"] = m.email
    if m.name:
        out["name"] = m.name
    return out


def _when(utc: datetime | None, local: datetime | None, tz: TimeZone | None, all_day: bool = False) -> dict | None:
    """A Graph dateTimeTimeZone: local wall-clock time in its Windows zone when known, else UTC."""
    if utc is None and local is None:
        return None
    zone = windows_zone(tz)
    if all_day:
        # Midnight of the local day, in the item's own zone: the event spans exactly its days there.
        day = local if local is not None else utc
        assert day is not None
        return {"dateTime": day.strftime("%Y-%m-%dT00:00:00"), "timeZone": zone or UTC_ZONE}
    if local is not None and zone:
        return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}
    assert utc is not None
    return {"dateTime": utc.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": UTC_ZONE}


def _date_time(value: datetime | None) -> dict | None:
    if value is None:
        return None
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": UTC_ZONE}


def recurrence(rec: Recurrence, tz: TimeZone | None, problems: list[str]) -> dict | None:
    """Graph's patternedRecurrence; None (reported) when Graph cannot express it."""
    if rec.calendar_type:
        problems.append(f"recurrence on calendar type {rec.calendar_type} not kept (Graph is Gregorian only)")
        return None
    pattern: dict[str, Any] = {"type": _PATTERN[rec.pattern], "interval": max(1, rec.interval)}
    if rec.every_weekday:
        pattern = {
            "type": "weekly",
            "interval": 1,
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        }
    elif rec.days_of_week:
        pattern["daysOfWeek"] = list(rec.days_of_week)
    if rec.day_of_month is not None:
        pattern["dayOfMonth"] = rec.day_of_month
    if rec.month is not None:
        pattern["month"] = rec.month
    if rec.index is not None:
        pattern["index"] = rec.index
    pattern["firstDayOfWeek"] = rec.first_day_of_week
    rng: dict[str, Any] = {"type": _RANGE[rec.range]}
    if rec.start_date is not None:
        rng["startDate"] = rec.start_date.isoformat()
    if rec.range == "end_date" and rec.end_date is not None:
        rng["endDate"] = rec.end_date.isoformat()
    if rec.range == "numbered":
        rng["numberOfOccurrences"] = rec.occurrences or 1
    zone = windows_zone(tz)
    if zone:
        rng["recurrenceTimeZone"] = zone
    if rec.regenerate:
        problems.append("task regenerates after completion: kept as a fixed recurrence (Graph has no sliding one)")
    return {"pattern": pattern, "range": rng}


def _common(payload: Any, body: dict[str, Any]) -> None:
    if payload.categories:
        body["categories"] = list(payload.categories)
    body["importance"] = payload.importance


def _attachments(payload: Any) -> list[LargeAttachment]:
    out = []
    for att in payload.attachments:
        if isinstance(att, FileAttachment):
            out.append(LargeAttachment(att.name, att.content_type, att.data, att.inline, att.content_id))
        elif isinstance(att, ItemAttachment):
            mime = getattr(att.payload, "mime", None)
            if mime is not None:
                out.append(LargeAttachment(f"{att.name or 'message'}.eml", "message/rfc822", mime))
            else:
                payload.problems.append(f"embedded item {att.name!r} not kept (Graph cannot attach a typed item)")
    return out


def _with_attachments(payload: Any, body: dict, atts: list[LargeAttachment]) -> GraphItem:
    inline, later = split_attachments(atts)
    if inline:
        body["attachments"] = [a.file_attachment() for a in inline]
    return GraphItem(body, later)


def event_json(p: Appointment, utc_only: bool = False) -> GraphItem:
    """The `event` to POST for an appointment (attendees as text: see the module docstring).

    `utc_only` sends the times in UTC, for a server that does not know the item's time zone name.
    """
    extra: list[ExtendedProp] = []
    body: dict[str, Any] = {
        "subject": p.subject or "",
        "isAllDay": bool(p.all_day),
        "showAs": _SHOW_AS.get(p.busy_status, "busy"),
        "isReminderOn": bool(p.reminder_set),
        "sensitivity": p.sensitivity,
        "transactionId": transaction_id(p.source_key),
    }
    if p.reminder_minutes is not None:
        body["reminderMinutesBeforeStart"] = p.reminder_minutes
    _common(p, body)
    start_tz = None if utc_only else p.start_timezone
    end_tz = None if utc_only else (p.end_timezone or p.start_timezone)
    start = _when(p.start, p.start_local, start_tz, p.all_day)
    end = _when(p.end, p.end_local, end_tz, p.all_day)
    if start is None:
        raise ValueError("the appointment has no start time")
    body["start"] = start
    body["end"] = end or start
    if p.location:
        body["location"] = {"displayName": p.location}
    graph_body = _body(p.body)
    if graph_body is not None:
        body["body"] = graph_body
    if p.attendees:
        kinds: dict[str, list[str]] = {"required": [], "optional": [], "resource": []}
        for a in p.attendees:
            label = a.mailbox.name or a.mailbox.email or ""
            if a.mailbox.email and a.mailbox.name:
                label = f"{a.mailbox.name} <{a.mailbox.email}>"
            if label:
                kinds[a.kind].append(label)
        if kinds["required"]:
            extra.append(ExtendedProp(PidLidToAttendeesString, "; ".join(kinds["required"])))
        if kinds["optional"]:
            extra.append(ExtendedProp(PidLidCcAttendeesString, "; ".join(kinds["optional"])))
        everyone = kinds["required"] + kinds["optional"] + kinds["resource"]
        if everyone:
            extra.append(ExtendedProp(PidLidAllAttendeesString, "; ".join(everyone)))
            p.problems.append(
                f"{len(everyone)} attendee(s) kept as text, not as attendees (Graph would send them invitations)"
            )
    if p.recurrence is not None:
        rec = recurrence(p.recurrence, None if utc_only else (p.recurrence_timezone or p.start_timezone), p.problems)
        if rec is not None:
            body["recurrence"] = rec
        for e in p.exceptions:
            big = [a for a in e.attachments if len(a.data) >= INLINE_ATTACHMENT_MAX]
            for a in big:
                e.attachments.remove(a)
                p.problems.append(f"attachment {a.name!r} of a modified occurrence not kept (3 MB or more)")
    body.update(extended_properties(p, extra))
    return _with_attachments(p, body, _attachments(p))


def contact_json(p: Contact) -> GraphItem:
    """The `contact` to POST; fields Graph lacks go as their MAPI properties."""
    extra: list[ExtendedProp] = []
    if p.subject:
        extra.append(ExtendedProp(PidTagSubject, p.subject))  # a contact has no subject field in Graph
    body: dict[str, Any] = {}
    simple = {
        "displayName": p.display_name,
        "givenName": p.given_name,
        "middleName": p.middle_name,
        "surname": p.surname,
        "title": p.prefix,
        "generation": p.generation,
        "nickName": p.nickname,
        "initials": p.initials,
        "fileAs": p.file_as,
        "companyName": p.company,
        "department": p.department,
        "jobTitle": p.job_title,
        "officeLocation": p.office,
        "profession": p.profession,
        "manager": p.manager,
        "assistantName": p.assistant,
        "spouseName": p.spouse,
        "businessHomePage": p.business_home_page,
    }
    body.update({k: v for k, v in simple.items() if v})
    if p.children:
        body["children"] = list(p.children)
    if p.birthday is not None:
        body["birthday"] = p.birthday.strftime("%Y-%m-%dT%H:%M:%SZ")
    if p.anniversary is not None:
        extra.append(ExtendedProp(PidTagWeddingAnniversary, p.anniversary))
    if p.web_page:
        extra.append(ExtendedProp(PidTagPersonalHomePage, p.web_page))
    if p.im_address:
        body["imAddresses"] = [p.im_address]
    emails = []
    for e in sorted(p.emails, key=lambda e: e.slot):
        if not e.address or not 1 <= e.slot <= 3:
            continue
        one = {"address": e.address}
        if e.display_name:
            one["name"] = e.display_name
        emails.append(one)
    if emails:
        body["emailAddresses"] = emails
    business = [p.phones[k] for k in ("business", "business2") if p.phones.get(k)]
    home = [p.phones[k] for k in ("home", "home2") if p.phones.get(k)]
    if business:
        body["businessPhones"] = business
    if home:
        body["homePhones"] = home
    if p.phones.get("mobile"):
        body["mobilePhone"] = p.phones["mobile"]
    for key, number in p.phones.items():
        prop = _PHONE_PROPS.get(key)
        if prop is not None and number:
            extra.append(ExtendedProp(prop, number))
    for kind, addr in p.addresses.items():
        if addr.empty or kind not in ("business", "home", "other"):
            continue
        body[f"{kind}Address"] = {
            k: v
            for k, v in (
                ("street", addr.street),
                ("city", addr.city),
                ("state", addr.state),
                ("postalCode", addr.postal_code),
                ("countryOrRegion", addr.country),
            )
            if v
        }
    text = p.body.text or p.body.html
    if text:
        body["personalNotes"] = text
    _common(p, body)
    body.pop("importance", None)  # contacts have no importance in Graph
    code = _SENSITIVITY_CODES.get(p.sensitivity)
    if code is not None:
        extra.append(ExtendedProp(PidTagSensitivity, code))
    body.update(extended_properties(p, extra))
    atts = [a for a in p.attachments if isinstance(a, FileAttachment) and not a.is_contact_photo]
    if atts:
        p.problems.append(f"{len(atts)} attachment(s) of the contact not kept (Graph contacts have none)")
    return GraphItem(body, [])


def task_json(p: Task) -> GraphItem:
    """The To Do `todoTask` to POST (beta, which takes extended properties)."""
    extra: list[ExtendedProp] = []
    body: dict[str, Any] = {
        "title": p.subject or "",
        "status": _TASK_STATUS.get(p.status, "notStarted"),
        "isReminderOn": bool(p.reminder_set),
    }
    _common(p, body)
    graph_body = _body(p.body)
    if graph_body is not None:
        body["body"] = graph_body
    # Start and due are local dates (payload docstring): midnight of that day, in UTC terms.
    if p.due_date is not None:
        body["dueDateTime"] = _date_time(p.due_date.replace(hour=0, minute=0, second=0, microsecond=0))
    if p.start_date is not None:
        body["startDateTime"] = _date_time(p.start_date.replace(hour=0, minute=0, second=0, microsecond=0))
    if p.is_complete and p.complete_date is not None:
        body["completedDateTime"] = _date_time(p.complete_date)
    if p.reminder_time is not None:
        body["reminderDateTime"] = _date_time(p.reminder_time)
    if p.recurrence is not None:
        rec = recurrence(p.recurrence, None, p.problems)
        if rec is not None:
            body["recurrence"] = rec
    extra.append(ExtendedProp(PidLidPercentComplete, float(p.percent_complete) / 100.0))
    if p.owner:
        extra.append(ExtendedProp(PidLidTaskOwner, p.owner))
    if p.total_work_minutes is not None:
        extra.append(ExtendedProp(PidLidTaskEstimatedEffort, int(p.total_work_minutes)))
    if p.actual_work_minutes is not None:
        extra.append(ExtendedProp(PidLidTaskActualEffort, int(p.actual_work_minutes)))
    code = _SENSITIVITY_CODES.get(p.sensitivity)
    if code is not None:
        extra.append(ExtendedProp(PidTagSensitivity, code))
    body.update(extended_properties(p, extra))
    if p.attachments:
        p.problems.append(f"{len(p.attachments)} attachment(s) of the task not kept (To Do tasks via Graph)")
    return GraphItem(body, [])


def _summary(p: Any) -> str:
    """The fields of a typed item as text lines, for an item Graph must create as a plain message."""
    lines = []
    for name in (
        "display_name", "given_name", "surname", "company", "job_title", "start", "end", "location",
        "due_date", "status",
    ):  # fmt: skip
        value = getattr(p, name, None)
        if value:
            lines.append(f"{name.replace('_', ' ').capitalize()}: {value}")
    for e in getattr(p, "emails", None) or []:
        if e.address:
            lines.append(f"E-mail {e.slot}: {e.address}")
    for kind, number in (getattr(p, "phones", None) or {}).items():
        lines.append(f"Phone ({kind.replace('_', ' ')}): {number}")
    return "\n".join(lines)


def _html_text(html_text: str) -> str:
    """An HTML body as plain text (tags dropped, entities decoded), to put text after it."""
    import html as htmllib
    import re

    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", html_text)
    text = re.sub(r"(?i)<(br|/p|/div|/tr|/li)\b[^>]*>", "\n", text)
    return htmllib.unescape(re.sub(r"(?s)<[^>]*>", "", text))


def untyped_message_json(p: Any) -> GraphItem:
    """A note, journal entry or distribution list as a message with its own message class; also a
    contact, appointment or task that sits in a folder of another kind, where Graph cannot create
    its typed resource (its fields then go in the body when it has none, and that is reported)."""
    flags = next((e.value for e in p.extended if e.prop == PidTagMessageFlags), MSGFLAG_READ)
    body: dict[str, Any] = {
        "subject": p.subject or getattr(p, "display_name", None) or "",
        "isRead": bool(flags & MSGFLAG_READ),
    }
    if isinstance(p, (Appointment, Contact, Task)):
        if p.body.empty:
            p.body = Body(text=_summary(p))
        p.problems.append(
            f"{p.message_class} kept as a plain item of that class: Graph creates it typed only in a folder of its kind"
        )
    _common(p, body)
    content = _body(p.body)
    if isinstance(p, DistributionList):
        lines = [
            f"{m.mailbox.name or ''} <{m.mailbox.email}>" if m.mailbox.email else (m.mailbox.name or "")
            for m in p.members
        ]
        if lines:
            # the list's own body first, then its members (Graph cannot set DL members)
            own = p.body.text or (_html_text(p.body.html) if p.body.html else "")
            text = (own.rstrip() + "\n\n" if own.strip() else "") + "Members:\n" + "\n".join(lines)
            content = {"contentType": "text", "content": text}
            p.problems.append(f"{len(lines)} list member(s) kept in the body only (Graph cannot set DL members)")
    if content is not None:
        body["body"] = content
    extra = [
        ExtendedProp(PidTagMessageClass, p.message_class),
        ExtendedProp(PidTagMessageFlags, MSGFLAG_READ),
    ]
    when = p.created or p.modified
    if when is not None:
        # a message gets a sent and received time; the PST's own, not the import time Graph would give
        extra += [ExtendedProp(PidTagClientSubmitTime, when), ExtendedProp(PidTagMessageDeliveryTime, when)]
    code = _SENSITIVITY_CODES.get(p.sensitivity)
    if code is not None:
        extra.append(ExtendedProp(PidTagSensitivity, code))
    body.update(extended_properties(p, extra))
    return _with_attachments(p, body, _attachments(p))


def occurrence_patch(p: Appointment, index: int) -> dict | None:
    """The PATCH that makes occurrence `index` of a series what the PST's exception says (None: no such one)."""
    e = next((x for x in p.exceptions if x.index == index), None)
    if e is None:
        return None
    tz = p.recurrence_timezone or p.start_timezone
    body: dict[str, Any] = {
        "start": _when(e.start, utc_to_local(e.start, tz), tz),
        "end": _when(e.end, utc_to_local(e.end, tz), tz),
    }
    if e.subject is not None:
        body["subject"] = e.subject
    if e.location is not None:
        body["location"] = {"displayName": e.location}
    if e.busy_status is not None:
        body["showAs"] = _SHOW_AS.get(e.busy_status, "busy")
    if e.reminder_set is not None:
        body["isReminderOn"] = bool(e.reminder_set)
    if e.reminder_minutes is not None:
        body["reminderMinutesBeforeStart"] = e.reminder_minutes
    if e.body is not None and not e.body.empty:
        body["body"] = _body(e.body)
    return body
