"""The extended properties set in the create request: what MIME (or a typed item) cannot carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.convert.payload import ExtendedProp
from core.mapi import (
    IMPORTANCE_HIGH,
    IMPORTANCE_LOW,
    MSGFLAG_READ,
    MSGFLAG_UNSENT,
    SENSITIVITY_CONFIDENTIAL,
    SENSITIVITY_PERSONAL,
    SENSITIVITY_PRIVATE,
    Named,
    PidLidAppointmentEndWhole,
    PidLidAppointmentRecur,
    PidLidAppointmentStartWhole,
    PidLidAppointmentStateFlags,
    PidLidAppointmentSubType,
    PidLidAppointmentTimeZoneDefinitionEndDisplay,
    PidLidAppointmentTimeZoneDefinitionRecur,
    PidLidAppointmentTimeZoneDefinitionStartDisplay,
    PidLidBusyStatus,
    PidLidCleanGlobalObjectId,
    PidLidCommonEnd,
    PidLidCommonStart,
    PidLidFlagRequest,
    PidLidGlobalObjectId,
    PidLidIntendedBusyStatus,
    PidLidLocation,
    PidLidLogDuration,
    PidLidLogEnd,
    PidLidLogStart,
    PidLidLogType,
    PidLidLogTypeDesc,
    PidLidNoteColor,
    PidLidNoteHeight,
    PidLidNoteWidth,
    PidLidRecurring,
    PidLidReminderSet,
    PidLidReminderSignalTime,
    PidLidReminderTime,
    PidLidTaskDueDate,
    PidLidTaskStartDate,
    PidLidTimeZoneDescription,
    PidLidTimeZoneStruct,
    PidLidToDoTitle,
    PidNameKeywords,
    PidNamePstImportSourceKey,
    PidTagClientSubmitTime,
    PidTagCreationTime,
    PidTagEndDate,
    PidTagFlagCompleteTime,
    PidTagFlagStatus,
    PidTagIconIndex,
    PidTagImportance,
    PidTagLastModificationTime,
    PidTagLastVerbExecuted,
    PidTagLastVerbExecutionTime,
    PidTagMessageClass,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PidTagSensitivity,
    PidTagStartDate,
    PidTagToDoItemFlags,
    Tag,
)

# Copied as they are when the source has them (MS-OXOMSG, MS-OXOFLAG).
_COPIED_MAIL: tuple[Tag | Named, ...] = (
    PidTagClientSubmitTime,
    PidTagIconIndex,
    PidTagLastVerbExecuted,
    PidTagLastModificationTime,
    PidTagLastVerbExecutionTime,
    PidTagFlagStatus,
    PidTagFlagCompleteTime,
    PidLidFlagRequest,
    PidLidTaskDueDate,
    PidLidTaskStartDate,
    PidLidCommonStart,
    PidLidCommonEnd,
    PidLidToDoTitle,
    PidTagToDoItemFlags,
    PidLidReminderSet,
    PidLidReminderTime,
    PidLidReminderSignalTime,
    PidTagImportance,
    PidTagSensitivity,
)


# Meeting messages (MS-OXOCAL 2.2.5/2.2.6) imported as MIME keep the meeting they describe.
_COPIED_MEETING: tuple[Tag | Named, ...] = (
    PidLidAppointmentStartWhole,
    PidLidAppointmentEndWhole,
    PidLidLocation,
    PidLidAppointmentSubType,
    PidLidBusyStatus,
    PidLidIntendedBusyStatus,
    PidLidAppointmentStateFlags,
    PidLidGlobalObjectId,
    PidLidCleanGlobalObjectId,
    PidLidAppointmentRecur,
    PidLidRecurring,
    PidLidTimeZoneStruct,
    PidLidTimeZoneDescription,
    PidLidAppointmentTimeZoneDefinitionStartDisplay,
    PidLidAppointmentTimeZoneDefinitionEndDisplay,
    PidLidAppointmentTimeZoneDefinitionRecur,
    PidTagStartDate,
    PidTagEndDate,
)


# The extra properties typed payloads carry (notes and journal entries have no EWS/Graph type).
TYPED_EXTRA: tuple[Tag | Named, ...] = (
    PidLidNoteColor,
    PidLidNoteWidth,
    PidLidNoteHeight,
    PidLidLogType,
    PidLidLogTypeDesc,
    PidLidLogStart,
    PidLidLogEnd,
    PidLidLogDuration,
)

# Every property `convert` may put in `extended`, for transports that register them up front.
ALL_EXTENDED_PROPS: tuple[Tag | Named, ...] = tuple(
    dict.fromkeys(
        (
            PidTagMessageFlags,
            PidNameKeywords,
            PidTagMessageClass,
            PidNamePstImportSourceKey,
            PidTagMessageDeliveryTime,
            *_COPIED_MAIL,
            *_COPIED_MEETING,
            *TYPED_EXTRA,
        )
    )
)


def source_key(store_key: str, item: Any) -> str:
    """The source stamp value: `<store record key hex>:<node id>[:<attachment path>]`."""
    key = f"{store_key}:{item.node_id}"
    if item.embedded_path:
        key += ":" + "/".join(str(i) for i in item.embedded_path)
    return key


def message_flags(item: Any) -> tuple[int, bool, bool]:
    """(PidTagMessageFlags to set, is_read, is_draft). Only READ and UNSENT are settable on
    create; UNSENT is kept only when the source was a draft, so nothing becomes a draft by accident."""
    flags = item.message_flags
    is_read = bool(flags & MSGFLAG_READ)
    is_draft = bool(flags & MSGFLAG_UNSENT)
    return (MSGFLAG_READ if is_read else 0) | (MSGFLAG_UNSENT if is_draft else 0), is_read, is_draft


def sent_time(item: Any) -> datetime | None:
    """When an item was sent: its MIME Date, read back as DateTimeSent (servers take PidTagClientSubmitTime
    from the Date header, MS-OXCMAIL 2.2.3.2.2). An item never submitted (a draft, an unsent forward) has
    no submit time; it keeps the time the PST does have for it, its creation, else its last modification,
    else its delivery, never the import time the server would stamp instead."""
    p = item.props
    return (
        p.time(PidTagClientSubmitTime)
        or p.time(PidTagCreationTime)
        or p.time(PidTagLastModificationTime)
        or p.time(PidTagMessageDeliveryTime)
    )


def received_time(item: Any) -> datetime | None:
    """When an item was received (PidTagMessageDeliveryTime, read back as DateTimeReceived); for an item
    the PST has no delivery time for, the submit, creation or last modification time, so the server does
    not stamp the import time."""
    p = item.props
    return (
        p.time(PidTagMessageDeliveryTime)
        or p.time(PidTagClientSubmitTime)
        or p.time(PidTagCreationTime)
        or p.time(PidTagLastModificationTime)
    )


def _ok(prop: Tag | Named, value: Any) -> bool:
    if value is None or value == "" or value == []:
        return False
    return True


def categories(item: Any) -> list[str]:
    value = item.props.get(PidNameKeywords)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


def importance_and_sensitivity(item: Any) -> tuple[str, str]:
    """('low'|'normal'|'high', 'normal'|'personal'|'private'|'confidential') of an item."""
    importance = {IMPORTANCE_LOW: "low", IMPORTANCE_HIGH: "high"}.get(item.props.int(PidTagImportance), "normal")
    sensitivity = {
        SENSITIVITY_PERSONAL: "personal",
        SENSITIVITY_PRIVATE: "private",
        SENSITIVITY_CONFIDENTIAL: "confidential",
    }.get(item.props.int(PidTagSensitivity) or 0, "normal")
    return importance, sensitivity


def mail_extended(item: Any, stamp: str) -> list[ExtendedProp]:
    """Extended properties of a MIME payload."""
    flags, _, _ = message_flags(item)
    out = [ExtendedProp(PidTagMessageFlags, flags)]
    received = received_time(item)
    if received is not None:
        out.append(ExtendedProp(PidTagMessageDeliveryTime, received))
    for prop in _COPIED_MAIL:
        value = item.props.get(prop)
        if _ok(prop, value):
            out.append(ExtendedProp(prop, value))
    cats = categories(item)
    if cats:
        out.append(ExtendedProp(PidNameKeywords, cats))
    message_class = item.message_class
    if message_class.upper() != "IPM.NOTE":
        # MIME import would make every item IPM.Note: keep posts, reports, meeting messages, forms
        out.append(ExtendedProp(PidTagMessageClass, message_class))
    if message_class.upper().startswith("IPM.SCHEDULE.MEETING."):
        for prop in _COPIED_MEETING:
            value = item.props.get(prop)
            if _ok(prop, value):
                out.append(ExtendedProp(prop, value))
    out.append(ExtendedProp(PidNamePstImportSourceKey, stamp))
    return out


def typed_extended(
    item: Any, stamp: str, extra: tuple[Tag | Named, ...] = (), message: bool = False
) -> list[ExtendedProp]:
    """Extended properties of a typed payload: the stamp, flags, and the given extra properties. A `message`
    (a sticky note or journal entry, created as a message of its class) also keeps its sent and received
    times (see `sent_time`), which the server would otherwise stamp with the import time."""
    out = []
    if message:
        flags, _, _ = message_flags(item)
        # read and unsent as in the PST (Outlook keeps its notes unsent)
        out.append(ExtendedProp(PidTagMessageFlags, flags))
        for prop, when in ((PidTagClientSubmitTime, sent_time(item)), (PidTagMessageDeliveryTime, received_time(item))):
            if when is not None:
                out.append(ExtendedProp(prop, when))
    for prop in (PidTagFlagStatus, PidTagFlagCompleteTime, PidLidFlagRequest, *extra):
        value = item.props.get(prop)
        if _ok(prop, value):
            out.append(ExtendedProp(prop, value))
    out.append(ExtendedProp(PidNamePstImportSourceKey, stamp))
    return out
