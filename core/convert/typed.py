"""Typed payloads for calendar items, contacts, tasks, notes, journal entries and distribution lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from core.convert.addresses import AddressResolver, Party, recipient_party, representing_party, sender_party
from core.convert.body import extract_body, item_codec
from core.convert.entryid import decode_one_off, decode_wrapped
from core.convert.extended import categories, importance_and_sensitivity, typed_extended
from core.convert.mime import _att_name, _content_type
from core.convert.payload import (
    Appointment,
    Attendee,
    Contact,
    ContactEmail,
    DistributionList,
    DistributionListMember,
    FileAttachment,
    ItemAttachment,
    JournalEntry,
    Mailbox,
    Note,
    OccurrenceException,
    PostalAddress,
    Task,
    TypedPayload,
)
from core.convert.recurrence import (
    RecurrenceError,
    decode_appointment_recurrence,
    decode_recurrence_pattern,
    occurrence_dates,
    occurrence_start,
    to_recurrence,
)
from core.convert.timezone import decode_tz_definition, decode_tz_struct, local_to_utc, utc_to_local
from core.mapi import (
    ADDRTYPE_EX,
    WRAPPED_TYPE_CONTACT,
    WRAPPED_TYPE_GAL_DL,
    WRAPPED_TYPE_GAL_USER,
    WRAPPED_TYPE_ONE_OFF,
    WRAPPED_TYPE_PERSONAL_DL,
    PidLidAppointmentEndWhole,
    PidLidAppointmentRecur,
    PidLidAppointmentStartWhole,
    PidLidAppointmentStateFlags,
    PidLidAppointmentSubType,
    PidLidAppointmentTimeZoneDefinitionEndDisplay,
    PidLidAppointmentTimeZoneDefinitionRecur,
    PidLidAppointmentTimeZoneDefinitionStartDisplay,
    PidLidBusyStatus,
    PidLidCompanies,
    PidLidContacts,
    PidLidDistributionListMembers,
    PidLidDistributionListName,
    PidLidDistributionListOneOffMembers,
    PidLidEmail1AddressType,
    PidLidEmail1DisplayName,
    PidLidEmail1EmailAddress,
    PidLidEmail1OriginalDisplayName,
    PidLidEmail2AddressType,
    PidLidEmail2DisplayName,
    PidLidEmail2EmailAddress,
    PidLidEmail2OriginalDisplayName,
    PidLidEmail3AddressType,
    PidLidEmail3DisplayName,
    PidLidEmail3EmailAddress,
    PidLidEmail3OriginalDisplayName,
    PidLidExceptionReplaceTime,
    PidLidFileUnder,
    PidLidGlobalObjectId,
    PidLidHtml,
    PidLidInstantMessagingAddress,
    PidLidLocation,
    PidLidLogDuration,
    PidLidLogEnd,
    PidLidLogStart,
    PidLidLogType,
    PidLidLogTypeDesc,
    PidLidNoteColor,
    PidLidNoteHeight,
    PidLidNoteWidth,
    PidLidPercentComplete,
    PidLidRecurring,
    PidLidReminderDelta,
    PidLidReminderSet,
    PidLidReminderTime,
    PidLidResponseStatus,
    PidLidTaskActualEffort,
    PidLidTaskComplete,
    PidLidTaskDateCompleted,
    PidLidTaskDueDate,
    PidLidTaskEstimatedEffort,
    PidLidTaskOwner,
    PidLidTaskRecurrence,
    PidLidTaskStartDate,
    PidLidTaskStatus,
    PidLidTimeZoneDescription,
    PidLidTimeZoneStruct,
    PidLidWorkAddressCity,
    PidLidWorkAddressCountry,
    PidLidWorkAddressPostalCode,
    PidLidWorkAddressState,
    PidLidWorkAddressStreet,
    PidTagAssistant,
    PidTagAssistantTelephoneNumber,
    PidTagAttachmentContactPhoto,
    PidTagAttachmentHidden,
    PidTagBirthday,
    PidTagBusiness2TelephoneNumber,
    PidTagBusinessFaxNumber,
    PidTagBusinessHomePage,
    PidTagBusinessTelephoneNumber,
    PidTagCallbackTelephoneNumber,
    PidTagCarTelephoneNumber,
    PidTagChildrensNames,
    PidTagCompanyMainTelephoneNumber,
    PidTagCompanyName,
    PidTagCreationTime,
    PidTagDepartmentName,
    PidTagDisplayName,
    PidTagDisplayNamePrefix,
    PidTagEndDate,
    PidTagGeneration,
    PidTagGivenName,
    PidTagHome2TelephoneNumber,
    PidTagHomeAddressCity,
    PidTagHomeAddressCountry,
    PidTagHomeAddressPostalCode,
    PidTagHomeAddressStateOrProvince,
    PidTagHomeAddressStreet,
    PidTagHomeFaxNumber,
    PidTagHomeTelephoneNumber,
    PidTagInitials,
    PidTagIsdnNumber,
    PidTagLastModificationTime,
    PidTagLocality,
    PidTagManagerName,
    PidTagMiddleName,
    PidTagMobileTelephoneNumber,
    PidTagNickname,
    PidTagOfficeLocation,
    PidTagOtherAddressCity,
    PidTagOtherAddressCountry,
    PidTagOtherAddressPostalCode,
    PidTagOtherAddressStateOrProvince,
    PidTagOtherAddressStreet,
    PidTagOtherTelephoneNumber,
    PidTagPagerTelephoneNumber,
    PidTagPersonalHomePage,
    PidTagPostalCode,
    PidTagPrimaryFaxNumber,
    PidTagPrimaryTelephoneNumber,
    PidTagProfession,
    PidTagRadioTelephoneNumber,
    PidTagRecipientFlags,
    PidTagRecipientTrackStatus,
    PidTagSpouseName,
    PidTagStartDate,
    PidTagStateOrProvince,
    PidTagStreetAddress,
    PidTagSurname,
    PidTagTelexNumber,
    PidTagTitle,
    PidTagTtyTddPhoneNumber,
    PidTagWeddingAnniversary,
    afEmbeddedMessage,
    asfCanceled,
    asfMeeting,
    recipExceptionalDeleted,
    recipOrganizer,
)
from core.mapi import PidTagCountry as PidTagCountryTag

_BUSY = {0: "free", 1: "tentative", 2: "busy", 3: "oof", 4: "working_elsewhere"}
_RESPONSE = {0: "none", 1: "organizer", 2: "tentative", 3: "accepted", 4: "declined", 5: "not_responded"}
_TASK_STATUS = {0: "not_started", 1: "in_progress", 2: "completed", 3: "waiting_on_others", 4: "deferred"}
_NOTE_COLOR = {0: "blue", 1: "green", 2: "pink", 3: "yellow", 4: "white"}

ConvertEmbedded = Callable[[Any], Any]


def _str(props: Any, key: Any) -> str | None:
    value = props.get(key)
    if isinstance(value, str):
        value = value.replace("\x00", "").strip()
        return value or None
    return None


def _strs(props: Any, key: Any) -> list[str]:
    value = props.get(key)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


def base_fields(item: Any, stamp: str) -> dict[str, Any]:
    p = item.props
    importance, sensitivity = importance_and_sensitivity(item)
    return {
        "source_key": stamp,
        "message_class": item.message_class,
        "subject": item.subject,
        "categories": categories(item),
        "importance": importance,
        "sensitivity": sensitivity,
        "created": p.time(PidTagCreationTime),
        "modified": p.time(PidTagLastModificationTime),
        "problems": list(item.problems),
    }


def attachments_of(
    item: Any, payload: TypedPayload, convert_embedded: ConvertEmbedded, skip: Callable[[Any], bool] | None = None
) -> None:
    """File attachments and embedded items of a typed payload (problems go on the payload)."""
    for att in item.attachments:
        if skip is not None and skip(att):
            continue
        name = _att_name(att)
        try:
            if att.method == afEmbeddedMessage or att.is_embedded_message:
                inner = att.embedded
                if inner is None:
                    payload.problems.append(f"embedded item {name!r} could not be read; left out")
                    continue
                payload.attachments.append(ItemAttachment(name, convert_embedded(inner)))
                continue
            data = att.read()
        except Exception as e:  # one attachment never sinks the item
            payload.problems.append(f"attachment {name!r} could not be read: {e}")
            continue
        if not data and not att.size:
            payload.problems.append(f"attachment {name!r} has no data in the PST (a reference?); left out")
            continue
        fa = FileAttachment(
            name=name,
            content_type=_content_type(att, name),
            data=data,
            content_id=(att.content_id or "").strip("<> ") or None,
            inline=bool(att.hidden),
            is_contact_photo=bool(att.props.get(PidTagAttachmentContactPhoto, False)),
        )
        if fa.is_contact_photo and isinstance(payload, Contact):
            payload.photo = fa
            continue
        payload.attachments.append(fa)
    payload.size = sum(
        len(a.data) if isinstance(a, FileAttachment) else getattr(a.payload, "size", 0) for a in payload.attachments
    ) + len((payload.body.html or "") + (payload.body.text or ""))


def _resolve(resolver: AddressResolver | None, party: Party | None) -> Mailbox | None:
    if party is None:
        return None
    if resolver is not None:
        return resolver.resolve(party)
    if party.smtp_hints:
        return Mailbox(party.name, party.smtp_hints[0])
    return Mailbox(party.name, None, party.address_type, party.address)


# --- appointments -------------------------------------------------------------------------


def to_appointment(
    item: Any, stamp: str, resolver: AddressResolver | None, convert_embedded: ConvertEmbedded
) -> Appointment:
    p = item.props
    body, body_problems = extract_body(item)
    start = p.time(PidLidAppointmentStartWhole) or p.time(PidTagStartDate)
    end = p.time(PidLidAppointmentEndWhole) or p.time(PidTagEndDate)
    state = p.int(PidLidAppointmentStateFlags) or 0
    recur_tz = decode_tz_definition(p.bytes(PidLidAppointmentTimeZoneDefinitionRecur)) or decode_tz_struct(
        p.bytes(PidLidTimeZoneStruct), _str(p, PidLidTimeZoneDescription)
    )
    if recur_tz is not None and recur_tz.description is None:
        recur_tz.description = _str(p, PidLidTimeZoneDescription)
    start_tz = decode_tz_definition(p.bytes(PidLidAppointmentTimeZoneDefinitionStartDisplay)) or recur_tz
    end_tz = decode_tz_definition(p.bytes(PidLidAppointmentTimeZoneDefinitionEndDisplay)) or start_tz
    reminder_set = bool(p.get(PidLidReminderSet, False))
    appt = Appointment(
        **base_fields(item, stamp),
        body=body,
        start=start,
        end=end,
        all_day=bool(p.get(PidLidAppointmentSubType, False)),
        start_timezone=start_tz,
        end_timezone=end_tz,
        location=_str(p, PidLidLocation),
        busy_status=_BUSY.get(p.int(PidLidBusyStatus) if p.int(PidLidBusyStatus) is not None else 2, "busy"),  # type: ignore[arg-type]
        reminder_set=reminder_set,
        reminder_minutes=p.int(PidLidReminderDelta) if reminder_set else None,
        is_meeting=bool(state & asfMeeting),
        is_cancelled=bool(state & asfCanceled),
        response_status=_RESPONSE.get(p.int(PidLidResponseStatus) or 0, "none"),
        recurrence_timezone=recur_tz,
        global_object_id=p.bytes(PidLidGlobalObjectId),
    )
    appt.problems.extend(body_problems)
    if start is not None:
        appt.start_local = utc_to_local(start, start_tz)
    if end is not None:
        appt.end_local = utc_to_local(end, end_tz)
    if start is None or end is None:
        appt.problems.append("appointment has no start or end time")

    cp = item.codepage or "cp1252"
    for r in item.recipients:
        flags = r.props.int(PidTagRecipientFlags) or 0
        if flags & recipExceptionalDeleted:
            continue
        mb = _resolve(resolver, recipient_party(r, cp))
        if mb is None:
            continue
        if flags & recipOrganizer or r.kind == "from":
            appt.organizer = mb
            continue
        kind = {"to": "required", "cc": "optional", "bcc": "resource"}.get(r.kind, "required")
        track = r.props.int(PidTagRecipientTrackStatus) or 0
        appt.attendees.append(Attendee(mb, kind, _RESPONSE.get(track, "none")))  # type: ignore[arg-type]
    if appt.organizer is None and appt.is_meeting:
        appt.organizer = _resolve(resolver, representing_party(item) or sender_party(item))

    exception_atts: dict[datetime, Any] = {}
    blob = p.bytes(PidLidAppointmentRecur)
    if blob and p.get(PidLidRecurring, True):
        try:
            ar = decode_appointment_recurrence(blob, item_codec(item) or "cp1252")
            appt.recurrence, rec_problems = to_recurrence(ar.pattern)
            appt.problems.extend(rec_problems)
            originals = set()
            for ex in ar.exceptions:
                original_utc = local_to_utc(ex.original_start, recur_tz)
                originals.add(ex.original_start.date())
                appt.exceptions.append(
                    OccurrenceException(
                        original_start=original_utc,
                        start=local_to_utc(ex.start, recur_tz),
                        end=local_to_utc(ex.end, recur_tz),
                        subject=ex.subject,
                        location=ex.location,
                        busy_status=_BUSY.get(ex.busy_status) if ex.busy_status is not None else None,
                        reminder_minutes=ex.reminder_delta,
                        reminder_set=ex.reminder_set,
                        all_day=ex.sub_type,
                    )
                )
            for d in appt.recurrence.deleted:
                if d not in originals:
                    appt.deleted_occurrences.append(local_to_utc(occurrence_start(d, ar.start_time_offset), recur_tz))
            _index_occurrences(appt, ar, recur_tz)
        except RecurrenceError as e:
            appt.problems.append(f"recurrence could not be decoded ({e}); imported as a single appointment")
        # exception embedded messages carry each modified occurrence's body and attachments
        for att in item.attachments:
            if att.is_embedded_message and att.props.get(PidTagAttachmentHidden, False):
                try:
                    inner = att.embedded
                except Exception as e:  # noqa: BLE001
                    appt.problems.append(f"exception item {att.index} could not be read: {e}")
                    exception_atts[datetime.min] = att
                    continue
                when = inner.props.time(PidLidExceptionReplaceTime) if inner is not None else None
                if inner is not None and when is not None:
                    exception_atts[when] = att
                    for ex in appt.exceptions:
                        if abs((ex.original_start - when).total_seconds()) < 60:
                            ex_body, _ = extract_body(inner)
                            ex.body = ex_body if not ex_body.empty else None
                            holder = Appointment(source_key="", message_class="", start=None, end=None)
                            attachments_of(inner, holder, convert_embedded)
                            ex.attachments = [a for a in holder.attachments if isinstance(a, FileAttachment)]
    skip_ids = {id(a) for a in exception_atts.values()}
    attachments_of(item, appt, convert_embedded, skip=lambda a: id(a) in skip_ids)
    appt.extended = typed_extended(item, stamp)
    return appt


def note_organizer(p: Appointment, mailbox: str | None) -> None:
    """A meeting organized by someone else keeps its attendees, but EWS and Graph make the mailbox
    owner its organizer (Organizer is read-only on create): said per item, by the transport that knows
    the mailbox."""
    org = p.organizer
    if not p.is_meeting or org is None or not mailbox:
        return
    if (org.email or "").lower() != mailbox.lower():
        who = f"{org.name} <{org.email}>" if org.email and org.name else (org.email or org.name)
        p.problems.append(f"organizer {who} not kept: the server makes the mailbox owner the organizer")


def _index_occurrences(appt: Appointment, ar: Any, tz: Any) -> None:
    """Each exception's and deleted occurrence's InstanceIndex: its position among the series' dates.

    An exception or deletion that falls on no date of the pattern cannot be found by index on the
    server: it is reported, and left as the series makes it.
    """
    rec = appt.recurrence
    assert rec is not None
    wanted = [utc_to_local(ex.original_start, tz).date() for ex in appt.exceptions]
    wanted += [utc_to_local(d, tz).date() for d in appt.deleted_occurrences]
    if not wanted:
        return
    dates = occurrence_dates(rec, until=max(wanted))
    index = {d: i + 1 for i, d in enumerate(dates)}
    for ex in appt.exceptions:
        ex.index = index.get(utc_to_local(ex.original_start, tz).date())
        if ex.index is None:
            when = f"{ex.original_start:%Y-%m-%d}"
            appt.problems.append(f"modified occurrence of {when} is not in the series; not applied")
    kept = []
    for when in appt.deleted_occurrences:
        n = index.get(utc_to_local(when, tz).date())
        if n is None:
            appt.problems.append(f"deleted occurrence of {when:%Y-%m-%d} is not in the series; not applied")
            continue
        kept.append(when)
        appt.deleted_indexes.append(n)
    appt.deleted_occurrences = kept


# --- contacts -----------------------------------------------------------------------------

_PHONES = (
    ("business", PidTagBusinessTelephoneNumber),
    ("business2", PidTagBusiness2TelephoneNumber),
    ("home", PidTagHomeTelephoneNumber),
    ("home2", PidTagHome2TelephoneNumber),
    ("mobile", PidTagMobileTelephoneNumber),
    ("pager", PidTagPagerTelephoneNumber),
    ("car", PidTagCarTelephoneNumber),
    ("business_fax", PidTagBusinessFaxNumber),
    ("home_fax", PidTagHomeFaxNumber),
    ("other_fax", PidTagPrimaryFaxNumber),
    ("primary", PidTagPrimaryTelephoneNumber),
    ("assistant", PidTagAssistantTelephoneNumber),
    ("other", PidTagOtherTelephoneNumber),
    ("company_main", PidTagCompanyMainTelephoneNumber),
    ("radio", PidTagRadioTelephoneNumber),
    ("callback", PidTagCallbackTelephoneNumber),
    ("isdn", PidTagIsdnNumber),
    ("telex", PidTagTelexNumber),
    ("tty_tdd", PidTagTtyTddPhoneNumber),
)
_EMAILS = (
    (1, PidLidEmail1DisplayName, PidLidEmail1AddressType, PidLidEmail1EmailAddress, PidLidEmail1OriginalDisplayName),
    (2, PidLidEmail2DisplayName, PidLidEmail2AddressType, PidLidEmail2EmailAddress, PidLidEmail2OriginalDisplayName),
    (3, PidLidEmail3DisplayName, PidLidEmail3AddressType, PidLidEmail3EmailAddress, PidLidEmail3OriginalDisplayName),
)


def to_contact(item: Any, stamp: str, resolver: AddressResolver | None, convert_embedded: ConvertEmbedded) -> Contact:
    p = item.props
    body, body_problems = extract_body(item)
    c = Contact(
        **base_fields(item, stamp),
        body=body,
        display_name=_str(p, PidTagDisplayName),
        given_name=_str(p, PidTagGivenName),
        middle_name=_str(p, PidTagMiddleName),
        surname=_str(p, PidTagSurname),
        prefix=_str(p, PidTagDisplayNamePrefix),
        generation=_str(p, PidTagGeneration),
        nickname=_str(p, PidTagNickname),
        initials=_str(p, PidTagInitials),
        file_as=_str(p, PidLidFileUnder),
        company=_str(p, PidTagCompanyName),
        department=_str(p, PidTagDepartmentName),
        job_title=_str(p, PidTagTitle),
        office=_str(p, PidTagOfficeLocation),
        profession=_str(p, PidTagProfession),
        manager=_str(p, PidTagManagerName),
        assistant=_str(p, PidTagAssistant),
        spouse=_str(p, PidTagSpouseName),
        children=_strs(p, PidTagChildrensNames),
        birthday=p.time(PidTagBirthday),
        anniversary=p.time(PidTagWeddingAnniversary),
        im_address=_str(p, PidLidInstantMessagingAddress),
        web_page=_str(p, PidLidHtml) or _str(p, PidTagPersonalHomePage),
        business_home_page=_str(p, PidTagBusinessHomePage),
    )
    c.problems.extend(body_problems)
    for slot, dname, atype, addr, orig in _EMAILS:
        a = _str(p, addr)
        if not a:
            continue
        t = (_str(p, atype) or "SMTP").upper()
        d = _str(p, dname)
        o = _str(p, orig)
        party = Party(d, t, a, [o] if t == ADDRTYPE_EX and o and "@" in o else [], a if t == ADDRTYPE_EX else None)
        if t == "SMTP":
            party.smtp_hints.append(a)
        mb = _resolve(resolver, party)
        if mb is not None and mb.email:
            c.emails.append(ContactEmail(slot, mb.email, d, "SMTP", a if t != "SMTP" else None))
        else:
            c.emails.append(ContactEmail(slot, None, d, t, a))
            c.problems.append(f"Email{slot} ({t}: {a}) has no SMTP address; kept as display name only")
    for key, tag in _PHONES:
        v = _str(p, tag)
        if v:
            c.phones[key] = v
    for key, fields in (
        (
            "business",
            (
                PidLidWorkAddressStreet,
                PidLidWorkAddressCity,
                PidLidWorkAddressState,
                PidLidWorkAddressPostalCode,
                PidLidWorkAddressCountry,
            ),
        ),
        (
            "home",
            (
                PidTagHomeAddressStreet,
                PidTagHomeAddressCity,
                PidTagHomeAddressStateOrProvince,
                PidTagHomeAddressPostalCode,
                PidTagHomeAddressCountry,
            ),
        ),
        (
            "other",
            (
                PidTagOtherAddressStreet,
                PidTagOtherAddressCity,
                PidTagOtherAddressStateOrProvince,
                PidTagOtherAddressPostalCode,
                PidTagOtherAddressCountry,
            ),
        ),
    ):
        addr = PostalAddress(*(_str(p, f) for f in fields))
        if key == "business" and addr.empty:
            addr = PostalAddress(
                _str(p, PidTagStreetAddress),
                _str(p, PidTagLocality),
                _str(p, PidTagStateOrProvince),
                _str(p, PidTagPostalCode),
                _str(p, PidTagCountryTag),
            )
        if not addr.empty:
            c.addresses[key] = addr
    attachments_of(item, c, convert_embedded)
    c.extended = typed_extended(item, stamp)
    return c


# --- tasks, notes, journal ----------------------------------------------------------------


def to_task(item: Any, stamp: str, resolver: AddressResolver | None, convert_embedded: ConvertEmbedded) -> Task:
    p = item.props
    body, body_problems = extract_body(item)
    percent = p.get(PidLidPercentComplete)
    status_code = p.int(PidLidTaskStatus)
    t = Task(
        **base_fields(item, stamp),
        body=body,
        start_date=p.time(PidLidTaskStartDate),
        due_date=p.time(PidLidTaskDueDate),
        complete_date=p.time(PidLidTaskDateCompleted),
        status=_TASK_STATUS.get(status_code if status_code is not None else 0, "not_started"),  # type: ignore[arg-type]
        percent_complete=round(float(percent) * 100, 2) if isinstance(percent, (int, float)) else 0.0,
        is_complete=bool(p.get(PidLidTaskComplete, False)),
        reminder_set=bool(p.get(PidLidReminderSet, False)),
        reminder_time=p.time(PidLidReminderTime),
        owner=_str(p, PidLidTaskOwner),
        total_work_minutes=p.int(PidLidTaskEstimatedEffort),
        actual_work_minutes=p.int(PidLidTaskActualEffort),
    )
    t.problems.extend(body_problems)
    blob = p.bytes(PidLidTaskRecurrence)
    if blob:
        try:
            t.recurrence, probs = to_recurrence(decode_recurrence_pattern(blob))
            t.problems.extend(probs)
        except RecurrenceError as e:
            t.problems.append(f"task recurrence could not be decoded ({e}); imported as a single task")
    attachments_of(item, t, convert_embedded)
    t.extended = typed_extended(item, stamp)
    return t


def to_note(item: Any, stamp: str, resolver: AddressResolver | None, convert_embedded: ConvertEmbedded) -> Note:
    p = item.props
    body, body_problems = extract_body(item)
    n = Note(
        **base_fields(item, stamp),
        body=body,
        color=_NOTE_COLOR.get(p.int(PidLidNoteColor) if p.int(PidLidNoteColor) is not None else 3, "yellow"),  # type: ignore[arg-type]
        width=p.int(PidLidNoteWidth),
        height=p.int(PidLidNoteHeight),
    )
    n.problems.extend(body_problems)
    attachments_of(item, n, convert_embedded)
    n.extended = typed_extended(item, stamp, (PidLidNoteColor, PidLidNoteWidth, PidLidNoteHeight), message=True)
    return n


def to_journal(
    item: Any, stamp: str, resolver: AddressResolver | None, convert_embedded: ConvertEmbedded
) -> JournalEntry:
    p = item.props
    body, body_problems = extract_body(item)
    start = p.time(PidLidLogStart)
    end = p.time(PidLidLogEnd)
    duration = p.int(PidLidLogDuration)
    if end is None and start is not None and duration is not None:
        end = start + timedelta(minutes=duration)
    j = JournalEntry(
        **base_fields(item, stamp),
        body=body,
        entry_type=_str(p, PidLidLogType),
        entry_type_description=_str(p, PidLidLogTypeDesc),
        start=start,
        end=end,
        duration_minutes=duration,
        companies=_strs(p, PidLidCompanies),
        contacts=_strs(p, PidLidContacts),
    )
    j.problems.extend(body_problems)
    attachments_of(item, j, convert_embedded)
    j.extended = typed_extended(
        item, stamp, (PidLidLogType, PidLidLogTypeDesc, PidLidLogStart, PidLidLogEnd, PidLidLogDuration), message=True
    )
    return j


# --- distribution lists -------------------------------------------------------------------

_WRAPPED_KIND = {
    WRAPPED_TYPE_ONE_OFF: "one_off",
    WRAPPED_TYPE_CONTACT: "contact",
    WRAPPED_TYPE_PERSONAL_DL: "personal_dl",
    WRAPPED_TYPE_GAL_USER: "gal_user",
    WRAPPED_TYPE_GAL_DL: "gal_dl",
}


def _list_bytes(value: Any) -> list[bytes]:
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, bytes)]
    return []


def to_distribution_list(
    item: Any, stamp: str, resolver: AddressResolver | None, convert_embedded: ConvertEmbedded
) -> DistributionList:
    p = item.props
    body, body_problems = extract_body(item)
    dl = DistributionList(
        **base_fields(item, stamp),
        body=body,
        display_name=_str(p, PidLidDistributionListName) or _str(p, PidTagDisplayName) or item.subject,
    )
    dl.problems.extend(body_problems)
    cp = item_codec(item) or "cp1252"
    wrapped = _list_bytes(p.get(PidLidDistributionListMembers))
    one_offs = _list_bytes(p.get(PidLidDistributionListOneOffMembers))
    count = max(len(wrapped), len(one_offs))
    for i in range(count):
        w = decode_wrapped(wrapped[i]) if i < len(wrapped) else None
        kind = _WRAPPED_KIND.get(w.type, "unknown") if w is not None else "one_off"
        one = decode_one_off(one_offs[i], cp) if i < len(one_offs) else None
        if one is None and w is not None and w.type == WRAPPED_TYPE_ONE_OFF:
            one = decode_one_off(w.embedded, cp)
        if one is None:
            dl.problems.append(f"member {i + 1} of the list carries no address; left out")
            continue
        atype = one.address_type.upper()
        party = Party(
            one.display_name,
            atype,
            one.address,
            [one.address] if atype == "SMTP" else [],
            one.address if atype == ADDRTYPE_EX else None,
        )
        mb = _resolve(resolver, party)
        if mb is None:
            continue
        if not mb.email:
            dl.problems.append(f"member {one.display_name!r} ({atype}) has no SMTP address; kept by name only")
        dl.members.append(DistributionListMember(mb, kind))  # type: ignore[arg-type]
    attachments_of(item, dl, convert_embedded)
    dl.extended = typed_extended(item, stamp)
    return dl
