"""Item conversion: a PST `Item` becomes a transport-neutral payload.

Contract (both the EWS and the Graph transports consume it)::

    from core.convert import convert, ConvertContext
    ctx = ConvertContext.for_pst(pst, RewriteOptions.from_profile(profile.address_rewriting),
                                 resolve_name=transport.resolve_name)
    payload = convert(item, ctx)        # raises ConversionError for this item only
    report["address_rewriting"] = ctx.resolver.stats.to_dict()

`for_pst` learns the PST's legacy DN <-> SMTP pairs and contacts in one streaming pass, made on
demand (the first EX address its own item cannot resolve; most PSTs never need it) on the
calling thread, which must be the PST reader's thread.

`payload` is one of:

* `MimePayload` for mail-like classes (IPM.Note and subclasses, IPM.Post, IPM.Schedule.Meeting.*,
  REPORT.*, anything unknown): `mime` (RFC 5322 bytes, 7-bit headers, UTF-8 bodies),
  `is_read`, `is_draft`, `sent`, `received`.
* a typed payload: `Appointment`, `Contact`, `Task`, `Note`, `JournalEntry`,
  `DistributionList`, with plain-Python fields (see `core.convert.payload`) and
  `attachments` (`FileAttachment` or `ItemAttachment` holding a nested payload).

Every payload carries `source_key` (the DESIGN.md source stamp value), `message_class`,
`subject`, `categories`, `importance`, `sensitivity`, `size` (bytes, for batching), `problems`
(partial losses, one line each) and `extended`: a list of `ExtendedProp(prop, value)` where
`prop` is a `core.mapi` Tag or Named. Transports set every entry in the same create request;
it always includes `PidNamePstImportSourceKey`. `core.convert.extended.ALL_EXTENDED_PROPS` lists
every property that can appear, for transports that register them up front. For MIME payloads it also carries
PidTagMessageFlags (READ as in the source; UNSENT only when the source was a draft), delivery and
submit times, PidTagIconIndex / PidTagLastVerbExecuted(+Time), flag status and dates, reminder,
categories (PidNameKeywords), importance and sensitivity.

For any class other than IPM.Note it carries PidTagMessageClass (MIME import would otherwise make
every item IPM.Note), and for IPM.Schedule.Meeting.* the meeting's own properties (start/end,
location, global object id, recurrence and time zone blobs).

Addresses: `AddressResolver` (core.convert.addresses) rewrites EX addresses; its `stats`
(`RewriteStats.to_dict()`) goes into the run report. Unresolvable addresses are written as a
display name alone (an empty RFC 5322 group), never as a made-up SMTP address.

What a transport cannot carry, each with its reason: `core.convert.limits.CANNOT_CARRY`, the one
list (the fidelity test reads it). Sticky notes and journal entries have no EWS or Graph item type:
transports create them as messages of class IPM.StickyNote / IPM.Activity (EWS: t:ItemClass) with
their `extended` properties (PidLidNoteColor/Width/Height, PidLidLog*), which Outlook shows as notes
and journal entries.
"""

from core.convert.addresses import AddressResolver, RewriteOptions, RewriteStats
from core.convert.convert import ConvertContext, convert, convert_mime, payload_kind
from core.convert.payload import (
    Appointment,
    Attendee,
    Body,
    Contact,
    ContactEmail,
    ConversionError,
    DistributionList,
    DistributionListMember,
    ExtendedProp,
    FileAttachment,
    ItemAttachment,
    JournalEntry,
    Mailbox,
    MimePayload,
    Note,
    OccurrenceException,
    Payload,
    PostalAddress,
    Recurrence,
    Task,
    TimeZone,
    TimeZoneRule,
)

__all__ = [
    "AddressResolver",
    "Appointment",
    "Attendee",
    "Body",
    "Contact",
    "ContactEmail",
    "ConversionError",
    "ConvertContext",
    "DistributionList",
    "DistributionListMember",
    "ExtendedProp",
    "FileAttachment",
    "ItemAttachment",
    "JournalEntry",
    "Mailbox",
    "MimePayload",
    "Note",
    "OccurrenceException",
    "Payload",
    "PostalAddress",
    "Recurrence",
    "RewriteOptions",
    "RewriteStats",
    "Task",
    "TimeZone",
    "TimeZoneRule",
    "convert",
    "convert_mime",
    "payload_kind",
]
