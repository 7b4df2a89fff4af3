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

What a transport cannot carry (so these are lost or approximated, and should be said so):

* Sticky notes and journal entries have no EWS or Graph item type. Transports create them as
  messages of class IPM.StickyNote / IPM.Activity with the body and the `extended` properties
  (PidLidNoteColor/Width/Height, PidLidLog*); Outlook then shows them as notes and journal
  entries. Graph's message API may refuse a non-IPM.Note class; OWA never shows either kind.
* Time zones: EWS takes a custom TimeZoneDefinition built from `TimeZone.rules`; Graph only
  takes named zones, so a zone without `key_name` (old PidLidTimeZoneStruct only) becomes UTC
  times with the zone's display name lost.
* Recurrence: non-Gregorian calendars (`calendar_type`) become Gregorian; task "regenerate"
  patterns exist in EWS (regeneration patterns) but not in Graph.
* Exception occurrences: their attachments (`OccurrenceException.attachments`) need one request
  per occurrence after the series exists; Graph cannot attach to an occurrence's exception at all.
* Contacts: Graph has no fields for radio/telex/ISDN/TTY/callback phones, children or
  anniversary-free "other" dates; EWS has them all. Only three emails exist in either.
* Distribution lists: Graph has no contact-group API; members referring to a contact are
  written as one-off members (name + address) on EWS.
* MIME: headers are 7-bit (RFC 2047/2231); the original MIME structure of received mail is not
  stored in a PST, so bodies and attachments are rebuilt from properties. RTF formatting of
  native-RTF bodies (no encapsulated HTML) is reduced to text.
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
