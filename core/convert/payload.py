"""The payloads `convert()` produces: plain data, no transport types.

Everything a transport needs to create one item is here. Times are UTC-aware `datetime`s
unless a field says it is a local wall-clock time or a date. Extended properties name their
`core.mapi` constant; the transport maps the constant to its wire form (EWS
`ExtendedFieldURI`, Graph `singleValueExtendedProperties`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from core.errors import ItemError
from core.mapi import Named, Tag


class ConversionError(ItemError):
    """One item cannot be converted at all. Recorded against the item; the run goes on."""


@dataclass(frozen=True, slots=True)
class ExtendedProp:
    """One MAPI property to set in the create request.

    `value` is an int, bool, float, str, bytes, UTC datetime, or a list of str (multi-valued
    string types, e.g. categories). `prop.type` is the MAPI type to send it as.
    """

    prop: Tag | Named
    value: Any


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A person: display name and SMTP address (None when it could not be resolved)."""

    name: str | None
    email: str | None
    address_type: str | None = "SMTP"
    """'SMTP' once resolved; the original type ('EX', ...) when `email` is None."""
    original: str | None = None
    """The original address when it was rewritten or could not be (e.g. a legacy DN)."""


@dataclass(frozen=True, slots=True)
class Attendee:
    mailbox: Mailbox
    kind: Literal["required", "optional", "resource"]
    response: Literal["none", "organizer", "tentative", "accepted", "declined", "not_responded"] = "none"


@dataclass(slots=True)
class Body:
    """An item body: text and/or HTML. `html` wins where the target supports it."""

    text: str | None = None
    html: str | None = None

    @property
    def empty(self) -> bool:
        return not self.text and not self.html


@dataclass(slots=True)
class FileAttachment:
    """A file attachment of a typed payload (MIME payloads carry theirs inside the MIME)."""

    name: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False
    is_contact_photo: bool = False


@dataclass(slots=True)
class ItemAttachment:
    """An embedded message of a typed payload, as MIME (message/rfc822) plus its own payload."""

    name: str
    payload: Payload


@dataclass(slots=True, kw_only=True)
class PayloadBase:
    """What every payload carries."""

    source_key: str
    """The source stamp value (DESIGN.md): `<store record key hex>:<node id>[:<attachment path>]`."""
    message_class: str
    subject: str | None = None
    extended: list[ExtendedProp] = field(default_factory=list)
    """Properties to set in the create request; always includes the source stamp."""
    problems: list[str] = field(default_factory=list)
    """Partial losses, one human line each ("OLE attachment 'x' kept as file")."""
    size: int = 0
    """Approximate bytes on the wire, for batching by `batch_megabytes`."""
    categories: list[str] = field(default_factory=list)
    importance: Literal["low", "normal", "high"] = "normal"
    sensitivity: Literal["normal", "personal", "private", "confidential"] = "normal"
    created: datetime | None = None
    modified: datetime | None = None


@dataclass(slots=True, kw_only=True)
class MimePayload(PayloadBase):
    """A mail-like item (IPM.Note and subclasses, IPM.Post, meeting messages, reports, unknown)
    as RFC 5322 bytes. Read state, draft state, flags and dates travel in `extended`."""

    mime: bytes
    is_read: bool = True
    is_draft: bool = False
    sent: datetime | None = None
    """The MIME Date (`core.convert.extended.sent_time`): the submit time, or the PST's own time for an
    item never submitted."""
    received: datetime | None = None


# --- recurrence -------------------------------------------------------------------------

Weekday = Literal["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
WEEKDAYS: tuple[Weekday, ...] = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(slots=True)
class Recurrence:
    """A recurrence pattern and range, shaped like Graph's patternedRecurrence (EWS maps 1:1).

    `pattern`: daily | weekly | absolute_monthly | relative_monthly | absolute_yearly |
    relative_yearly. `index` (relative patterns): first | second | third | fourth | last.
    Range dates are local dates of the series' time zone.
    """

    pattern: Literal["daily", "weekly", "absolute_monthly", "relative_monthly", "absolute_yearly", "relative_yearly"]
    interval: int
    days_of_week: list[Weekday] = field(default_factory=list)
    day_of_month: int | None = None
    month: int | None = None
    index: Literal["first", "second", "third", "fourth", "last"] | None = None
    first_day_of_week: Weekday = "sunday"
    range: Literal["end_date", "numbered", "no_end"] = "no_end"
    start_date: date | None = None
    end_date: date | None = None
    occurrences: int | None = None
    every_weekday: bool = False
    """Daily pattern "every weekday" (stored as weekly Mon-Fri)."""
    regenerate: bool = False
    """Task "regenerate N days after completion" (SlidingFlag)."""
    calendar_type: int = 0
    """MS-OXOCAL CalendarType; 0 is Gregorian. Others (Hijri, ...) are reported as lost."""
    deleted: list[date] = field(default_factory=list)
    """Local dates of deleted occurrences (original start dates)."""
    modified: list[date] = field(default_factory=list)
    """Local dates (new start dates) of modified occurrences."""


@dataclass(slots=True)
class OccurrenceException:
    """A modified occurrence of a recurring appointment. None means "as the series"."""

    original_start: datetime
    """The occurrence's original start, UTC."""
    start: datetime
    end: datetime
    subject: str | None = None
    location: str | None = None
    busy_status: str | None = None
    reminder_minutes: int | None = None
    reminder_set: bool | None = None
    all_day: bool | None = None
    body: Body | None = None
    attachments: list[FileAttachment] = field(default_factory=list)
    index: int | None = None
    """1-based position of the original occurrence in the series (EWS InstanceIndex); None if outside it."""


@dataclass(slots=True)
class TimeZoneRule:
    """One era of a time zone, in the Windows convention: UTC = local + bias + standard_bias (or
    + daylight_bias in daylight time), in minutes. Transitions are SYSTEMTIME-style tuples
    (month, day-of-week 0=Sunday, week 1-5 with 5 = last, hour, minute), or None for no DST."""

    year: int
    bias: int
    standard_bias: int
    daylight_bias: int
    standard_transition: tuple[int, int, int, int, int] | None
    daylight_transition: tuple[int, int, int, int, int] | None
    effective: bool = False


@dataclass(slots=True)
class TimeZone:
    """A time zone from PidLidAppointmentTimeZoneDefinition* or PidLidTimeZoneStruct."""

    key_name: str | None
    """The Windows time zone id ("W. Europe Standard Time") when known."""
    rules: list[TimeZoneRule] = field(default_factory=list)
    description: str | None = None

    def effective_rule(self) -> TimeZoneRule | None:
        for rule in self.rules:
            if rule.effective:
                return rule
        return self.rules[-1] if self.rules else None


# --- typed payloads ---------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class TypedPayload(PayloadBase):
    body: Body = field(default_factory=Body)
    attachments: list[FileAttachment | ItemAttachment] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Appointment(TypedPayload):
    start: datetime | None
    end: datetime | None
    all_day: bool = False
    start_local: datetime | None = None
    """`start` as naive wall-clock time in `start_timezone` (an all-day event's date is its date)."""
    end_local: datetime | None = None
    start_timezone: TimeZone | None = None
    end_timezone: TimeZone | None = None
    location: str | None = None
    busy_status: Literal["free", "tentative", "busy", "oof", "working_elsewhere"] = "busy"
    reminder_set: bool = False
    reminder_minutes: int | None = None
    is_meeting: bool = False
    is_cancelled: bool = False
    organizer: Mailbox | None = None
    attendees: list[Attendee] = field(default_factory=list)
    response_status: str = "none"
    recurrence: Recurrence | None = None
    recurrence_timezone: TimeZone | None = None
    exceptions: list[OccurrenceException] = field(default_factory=list)
    deleted_occurrences: list[datetime] = field(default_factory=list)
    """Original starts (UTC) of deleted occurrences."""
    deleted_indexes: list[int] = field(default_factory=list)
    """1-based positions (EWS InstanceIndex) of the deleted occurrences, in the series' order."""
    global_object_id: bytes | None = None


@dataclass(slots=True)
class ContactEmail:
    slot: int
    """1, 2 or 3 (Email1/2/3)."""
    address: str | None
    display_name: str | None = None
    address_type: str | None = "SMTP"
    original: str | None = None


@dataclass(slots=True)
class PostalAddress:
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @property
    def empty(self) -> bool:
        return not any((self.street, self.city, self.state, self.postal_code, self.country))


@dataclass(slots=True, kw_only=True)
class Contact(TypedPayload):
    display_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    surname: str | None = None
    prefix: str | None = None
    generation: str | None = None
    nickname: str | None = None
    initials: str | None = None
    file_as: str | None = None
    company: str | None = None
    department: str | None = None
    job_title: str | None = None
    office: str | None = None
    profession: str | None = None
    manager: str | None = None
    assistant: str | None = None
    spouse: str | None = None
    children: list[str] = field(default_factory=list)
    birthday: datetime | None = None
    anniversary: datetime | None = None
    emails: list[ContactEmail] = field(default_factory=list)
    phones: dict[str, str] = field(default_factory=dict)
    """Keyed by: business, business2, home, home2, mobile, pager, car, business_fax, home_fax,
    other_fax, primary, assistant, other, company_main, radio, callback, isdn, telex, tty_tdd."""
    addresses: dict[str, PostalAddress] = field(default_factory=dict)
    """Keyed by: business, home, other."""
    im_address: str | None = None
    web_page: str | None = None
    business_home_page: str | None = None
    photo: FileAttachment | None = None


@dataclass(slots=True, kw_only=True)
class Task(TypedPayload):
    start_date: datetime | None = None
    """Start and due dates are the user's local dates at midnight, as Outlook stores them (MS-OXOTASK
    PidLidTaskStartDate/DueDate are local, not UTC): use their date part."""
    due_date: datetime | None = None
    complete_date: datetime | None = None
    status: Literal["not_started", "in_progress", "completed", "waiting_on_others", "deferred"] = "not_started"
    percent_complete: float = 0.0
    """0-100."""
    is_complete: bool = False
    reminder_set: bool = False
    reminder_time: datetime | None = None
    owner: str | None = None
    total_work_minutes: int | None = None
    actual_work_minutes: int | None = None
    recurrence: Recurrence | None = None


@dataclass(slots=True, kw_only=True)
class Note(TypedPayload):
    color: Literal["blue", "green", "pink", "yellow", "white"] = "yellow"
    width: int | None = None
    height: int | None = None


@dataclass(slots=True, kw_only=True)
class JournalEntry(TypedPayload):
    entry_type: str | None = None
    """PidLidLogType, e.g. 'Phone call', 'E-mail Message'."""
    entry_type_description: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    duration_minutes: int | None = None
    companies: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DistributionListMember:
    mailbox: Mailbox
    kind: Literal["one_off", "contact", "personal_dl", "gal_user", "gal_dl", "unknown"] = "one_off"


@dataclass(slots=True, kw_only=True)
class DistributionList(TypedPayload):
    display_name: str | None = None
    members: list[DistributionListMember] = field(default_factory=list)


Payload = MimePayload | Appointment | Contact | Task | Note | JournalEntry | DistributionList
