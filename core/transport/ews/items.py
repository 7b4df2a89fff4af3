"""Payloads (core.convert) as exchangelib items, with extended properties in the same CreateItem."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from exchangelib import Body as EwsBody
from exchangelib import CalendarItem, HTMLBody, Message
from exchangelib import Contact as EwsContact
from exchangelib import DistributionList as EwsDistributionList
from exchangelib import Task as EwsTask
from exchangelib.attachments import FileAttachment as EwsFileAttachment
from exchangelib.attachments import ItemAttachment as EwsItemAttachment
from exchangelib.ewsdatetime import EWSDate
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import Mailbox as EwsMailbox
from exchangelib.properties import Member

from core.convert.payload import (
    Appointment,
    Body,
    Contact,
    DistributionList,
    FileAttachment,
    ItemAttachment,
    JournalEntry,
    MimePayload,
    Note,
    Payload,
    Task,
)
from core.mapi import MSGFLAG_READ, PidNamePstImportSourceKey, PidTagMessageClass, PidTagMessageFlags
from core.transport.ews import calendar, props

log = logging.getLogger(__name__)

_IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}
_SENSITIVITY = {"normal": "Normal", "personal": "Personal", "private": "Private", "confidential": "Confidential"}
# An attendee's answer as EWS names it (ResponseTypeType).
_RESPONSE = {
    "organizer": "Organizer",
    "tentative": "Tentative",
    "accepted": "Accept",
    "declined": "Decline",
    "not_responded": "NoResponseReceived",
}
_TASK_STATUS = {
    "not_started": "NotStarted",
    "in_progress": "InProgress",
    "completed": "Completed",
    "waiting_on_others": "WaitingOnOthers",
    "deferred": "Deferred",
}
_PHONES = {
    "business": "BusinessPhone",
    "business2": "BusinessPhone2",
    "home": "HomePhone",
    "home2": "HomePhone2",
    "mobile": "MobilePhone",
    "pager": "Pager",
    "car": "CarPhone",
    "business_fax": "BusinessFax",
    "home_fax": "HomeFax",
    "other_fax": "OtherFax",
    "primary": "PrimaryPhone",
    "assistant": "AssistantPhone",
    "other": "OtherTelephone",
    "company_main": "CompanyMainPhone",
    "radio": "RadioPhone",
    "callback": "Callback",
    "isdn": "Isdn",
    "telex": "Telex",
    "tty_tdd": "TtyTddPhone",
}
_ADDRESSES = {"business": "Business", "home": "Home", "other": "Other"}


def _dt(value: Any) -> Any:
    return props.wire_value(value) if value is not None else None


def _date(value: Any) -> EWSDate | None:
    """A task's start/due day (EWS keeps them as dates)."""
    if value is None:
        return None
    return EWSDate(value.year, value.month, value.day)


def _body(body: Body) -> Any:
    if body.html:
        return HTMLBody(body.html)
    if body.text:
        return EwsBody(body.text)
    return None


def _set_extended(item: Any, payload: Payload) -> None:
    cls = type(item)
    setattr(item, props.register(PidNamePstImportSourceKey, cls), payload.source_key)
    for ext in props.sendable(payload):
        if ext.prop == PidTagMessageClass:
            continue  # the class goes as t:ItemClass (see wire.typed_item)
        try:
            name = props.register(ext.prop, cls)
        except ValueError as exc:  # a MAPI type EWS cannot carry
            payload.problems.append(f"property not kept: {exc}")
            continue
        setattr(item, name, props.wire_value(ext.value))


def _mailbox(m: Any) -> EwsMailbox | None:
    if m is None or not (m.email or m.name):
        return None
    return EwsMailbox(name=m.name, email_address=m.email)


def _attachments(item: Any, atts: list) -> None:
    for att in atts:
        if isinstance(att, ItemAttachment) and isinstance(att.payload, MimePayload):
            # an embedded message of a typed item: an item attachment created from its MIME
            inner = Message(mime_content=att.payload.mime, subject=att.payload.subject)
            item.attach(EwsItemAttachment(name=att.name, item=inner))
        elif isinstance(att, FileAttachment):
            item.attach(
                EwsFileAttachment(
                    name=att.name,
                    content=att.data,
                    content_type=att.content_type,
                    content_id=att.content_id,
                    is_inline=att.inline,
                    is_contact_photo=att.is_contact_photo,
                )
            )


# The class an EWS element has without an ItemClass (what the server gives an item created as that element).
_ELEMENT_CLASS = {
    Message: "IPM.Note",
    CalendarItem: "IPM.Appointment",
    EwsContact: "IPM.Contact",
    EwsTask: "IPM.Task",
    EwsDistributionList: "IPM.DistList",
}


def item_class(item: Any, payload: Payload) -> str | None:
    """The ItemClass to write for a typed item, when the payload's class is not its element's own (sticky
    notes and journal entries go as messages; custom forms such as IPM.Contact.Custom keep their class)."""
    default = _ELEMENT_CLASS.get(type(item))
    cls = payload.message_class
    return cls if cls and default is not None and cls.lower() != default.lower() else None


def build_item(account: Any, folder: Any, payload: Payload) -> Any:
    """The exchangelib item that creates `payload`, stamp and extended properties included."""
    common: dict[str, Any] = {
        "account": account,
        "folder": folder,
        "subject": payload.subject,
        "importance": _IMPORTANCE.get(payload.importance, "Normal"),
        "sensitivity": _SENSITIVITY.get(payload.sensitivity, "Normal"),
    }
    if payload.categories:
        common["categories"] = list(payload.categories)
    if isinstance(payload, MimePayload):
        item = Message(mime_content=payload.mime, is_read=payload.is_read, **common)
    elif isinstance(payload, Appointment):
        item = calendar.calendar_item(common, payload, _body(payload.body))
        atts = []
        for a in payload.attendees:
            mb = _mailbox(a.mailbox)
            if mb is not None:
                atts.append((a.kind, EwsAttendee(mailbox=mb, response_type=_RESPONSE.get(a.response, "Unknown"))))
        item.required_attendees = [x for k, x in atts if k == "required"] or None
        item.optional_attendees = [x for k, x in atts if k == "optional"] or None
        item.resources = [x for k, x in atts if k == "resource"] or None
        _attachments(item, payload.attachments)
    elif isinstance(payload, Contact):
        item = EwsContact(
            body=_body(payload.body),
            # EWS requires a display name; Outlook would show the file-as or the name parts.
            display_name=payload.display_name
            or payload.file_as
            or " ".join(x for x in (payload.given_name, payload.surname) if x)
            or payload.subject
            or "(no name)",
            given_name=payload.given_name,
            middle_name=payload.middle_name,
            surname=payload.surname,
            nickname=payload.nickname,
            initials=payload.initials,
            file_as=payload.file_as,
            company_name=payload.company,
            department=payload.department,
            job_title=payload.job_title,
            office=payload.office,
            profession=payload.profession,
            manager=payload.manager,
            assistant_name=payload.assistant,
            spouse_name=payload.spouse,
            children=payload.children or None,
            birthday=_date(payload.birthday),
            wedding_anniversary=_date(payload.anniversary),
            business_homepage=payload.business_home_page,
            generation=payload.generation,
            **common,
        )
        emails = [
            EmailAddress(email=e.address, label=f"EmailAddress{e.slot}")
            for e in payload.emails
            if e.address and 1 <= e.slot <= 3
        ]
        item.email_addresses = emails or None
        phones = [PhoneNumber(label=_PHONES[k], phone_number=v) for k, v in payload.phones.items() if k in _PHONES]
        item.phone_numbers = phones or None
        addrs = [
            PhysicalAddress(
                label=_ADDRESSES[k],
                street=a.street,
                city=a.city,
                state=a.state,
                zipcode=a.postal_code,
                country=a.country,
            )
            for k, a in payload.addresses.items()
            if k in _ADDRESSES and not a.empty
        ]
        item.physical_addresses = addrs or None
        _attachments(item, payload.attachments)
        if payload.photo is not None:
            _attachments(item, [payload.photo])
    elif isinstance(payload, Task):
        item = EwsTask(
            body=_body(payload.body),
            start_date=_date(payload.start_date),
            due_date=_date(payload.due_date),
            complete_date=_dt(payload.complete_date) if payload.is_complete else None,
            status=_TASK_STATUS.get(payload.status, "NotStarted"),
            percent_complete=Decimal(str(round(payload.percent_complete, 2))),
            reminder_is_set=payload.reminder_set,
            reminder_due_by=_dt(payload.reminder_time),
            owner=payload.owner,
            total_work=payload.total_work_minutes,
            actual_work=payload.actual_work_minutes,
            **common,
        )
        _attachments(item, payload.attachments)
    elif isinstance(payload, DistributionList):
        members = []
        for m in payload.members:
            mb = _mailbox(m.mailbox)
            if mb is not None:
                members.append(Member(mailbox=mb))
        item = EwsDistributionList(
            body=_body(payload.body),
            display_name=payload.display_name or payload.subject or "Distribution list",
            members=members or None,
            **common,
        )
    elif isinstance(payload, (Note, JournalEntry)):
        # EWS has no typed note or journal item: a Message with their class (`item_class`, written by the
        # transport as t:ItemClass) and properties.
        flags = next((e.value for e in payload.extended if e.prop == PidTagMessageFlags), MSGFLAG_READ)
        item = Message(body=_body(payload.body), is_read=bool(flags & MSGFLAG_READ), **common)
        _attachments(item, payload.attachments)
    else:
        raise TypeError(f"unknown payload type {type(payload).__name__}")
    _set_extended(item, payload)
    if isinstance(payload, (Note, JournalEntry, DistributionList)) and not any(
        e.prop == PidTagMessageFlags for e in payload.extended
    ):
        # A Message created without PidTagMessageFlags is a draft (MSGFLAG_UNSENT): notes, journal
        # entries and lists were never drafts.
        setattr(item, props.register(PidTagMessageFlags, type(item)), MSGFLAG_READ)
    return item
