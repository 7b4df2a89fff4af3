"""What a transport cannot carry from a PST item, in one place, each with its reason.

The fidelity test (tests/fidelity) reads this list: a field that does not read back as it is in the
PST must be explained by an entry here (for the transport it went over) or by a named deviation of
the server (tests/gromox.py DEVIATION_*); anything else fails the test. Each entry names the field of
the test's per-field table, the transports it applies to, and the `case` the test checks the source
item against (tests/fidelity/compare.py has one rule per case, and fails on a case it does not know).

Field names of the table: folder, class, subject, sender, recipients, sent, received, flags,
importance, sensitivity, categories, followup, body, attachments, note colour, journal type. Entries
for other fields (time zone, recurrence, contact fields...) document losses the table does not
measure yet; their `case` is "" (no rule).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    field: str
    transports: frozenset[str]
    case: str
    reason: str


BOTH = frozenset({"ews", "graph"})
GRAPH = frozenset({"graph"})
EWS = frozenset({"ews"})

CANNOT_CARRY: tuple[Limit, ...] = (
    Limit(
        "recipients",
        BOTH,
        "recipient-without-address",
        "A recipient the PST names without any SMTP address (a legacy Exchange DN nothing resolves, an X.400, "
        "fax or other non-SMTP address) cannot be a recipient of the imported item: EWS and Graph recipients "
        "need an address (EWS answers ErrorMissingInformationEmailAddress), PidTagDisplayTo/Cc are computed "
        "from the recipients and read-only (MS-OXOMSG 2.2.1.7-2.2.1.9), and a made-up or IMCEAEX address would "
        "bounce. The name stays in the MIME To/Cc/Bcc header as an RFC 5322 group with no members, which "
        "Exchange's and gromox's MIME readers turn into no recipient.",
    ),
    Limit(
        "sender",
        BOTH,
        "recipient-without-address",
        "A sender the PST names without any SMTP address: as for recipients, no From can be made of it without "
        "making up an address; the MIME From is an RFC 5322 group with the name only.",
    ),
    Limit(
        "attachments",
        BOTH,
        "reference-attachment",
        "An attachment by reference (afByReference*, afByWebReference) holds no data in the PST, only a path or "
        "URL outside it; it is reported per item and not imported.",
    ),
    Limit(
        "attachments",
        GRAPH,
        "graph-no-attachment-api",
        "Graph has no attachments for contacts and To Do tasks (contacts have none; To Do's own attachment API "
        "is not used): their file attachments are reported as lost.",
    ),
    Limit(
        "attachments",
        GRAPH,
        "graph-json-embedded",
        "A message Graph creates from JSON (drafts: importMime makes every message a sent one) cannot hold an "
        "item attachment built from MIME: an embedded message becomes a .eml file attachment, so it and its own "
        "attachments are inside that file, not an attached item.",
    ),
    Limit(
        "body",
        GRAPH,
        "graph-json-one-body",
        "A message Graph creates from JSON (drafts: importMime makes every message a sent one) has one body: the "
        "HTML one when the PST has both, so the plain text reads back as Exchange renders that HTML as text, not "
        "as the PST's own text body.",
    ),
    Limit(
        "body",
        GRAPH,
        "graph-distlist-members",
        "Graph has no contact-group API and cannot set a list's members (PidLidDistributionListMembers holds entry "
        "ids it cannot make): the list becomes a message of class IPM.DistList with its members listed after its "
        "body.",
    ),
    Limit(
        "body",
        GRAPH,
        "graph-summary-body",
        "A contact, calendar item or task in a folder of another kind (a contact in a mail folder) cannot be "
        "created typed by Graph: it becomes a message of its class, and when it has no body of its own its fields "
        "are written as its body so they are not lost.",
    ),
    Limit(
        "recipients",
        GRAPH,
        "graph-event-attendees",
        "Graph sends meeting invitations to the attendees of every event it creates; an import must never mail "
        "anyone, so attendees are kept as text (PidLidToAttendeesString and friends), not as recipients.",
    ),
    Limit(
        "class",
        GRAPH,
        "graph-typed-class",
        "Graph's contact, event and To Do task resources set their own message class (IPM.Contact, "
        "IPM.Appointment, IPM.Task); a custom form class (IPM.Contact.Custom...) is not kept.",
    ),
)


# Losses outside the table's fields (the calendar's, contacts', lists'), kept here so there is one list.
CANNOT_CARRY += (
    Limit(
        "time zone",
        GRAPH,
        "",
        "Graph takes named time zones only: rules that match no known Windows zone (core.convert.timezone."
        "windows_zone) are sent as UTC times, their display name lost. EWS takes a TimeZoneDefinition built from "
        "the rules; only the rule in force in the item's first year is sent (a zone's historic changes are not).",
    ),
    Limit(
        "recurrence",
        BOTH,
        "",
        "Non-Gregorian calendars (CalendarType) become Gregorian; EWS has no interval for yearly patterns (every "
        "N years becomes yearly) and caps weekly/monthly intervals at 99 and counts at 999 (a longer count is sent "
        "as its end date); task 'regenerate N days after completion' exists in EWS (regeneration patterns) but not "
        "in Graph.",
    ),
    Limit(
        "occurrences",
        BOTH,
        "",
        "Modified and deleted occurrences are applied after the series exists (EWS: by InstanceIndex; Graph: "
        "among /instances by original start), each a journaled step; one that falls on no date of the pattern is "
        "reported and not applied. Over Graph an exception's attachments of 3 MB or more are not carried.",
    ),
    Limit(
        "organizer",
        BOTH,
        "",
        "A meeting's organizer is read-only on create over EWS and Graph: the mailbox owner becomes the organizer "
        "(reported per item when the PST's is someone else); over Graph the response status and cancelled state "
        "are read-only too, and the meeting's global object id is not kept on either.",
    ),
    Limit(
        "contact fields",
        GRAPH,
        "",
        "Graph v1.0 has no field for radio/telex/ISDN/TTY/callback phones, children, anniversary or the personal "
        "web page: they go as their MAPI properties. Email4+ slots and non-SMTP address types are lost in either "
        "transport (three emails exist); the contact photo is a second request, so an interrupted run may leave "
        "a contact without it.",
    ),
    Limit(
        "task fields",
        GRAPH,
        "",
        "To Do lists are flat (a task folder inside another becomes a list named by its path); percent complete, "
        "owner and work go as PidLidPercentComplete, PidLidTaskOwner, PidLidTaskEstimatedEffort/ActualEffort; "
        "task request/assignment state is lost.",
    ),
    Limit(
        "list members",
        BOTH,
        "",
        "EWS writes members that refer to a contact as one-off members (name and address); Graph cannot set "
        "members at all (see `graph-distlist-members`).",
    ),
    Limit(
        "mime",
        BOTH,
        "",
        "A PST does not keep the original MIME of received mail: bodies and attachments are rebuilt from "
        "properties, headers are written 7-bit (RFC 2047/2231), and the RTF formatting of a native-RTF body (no "
        "encapsulated HTML) is reduced to text. Over Graph's JSON route internet headers other than X- ones are "
        "kept only in PidTagTransportMessageHeaders, and attachments over 150 MB are refused for that item.",
    ),
)


def limits_for(field: str, transport: str) -> list[Limit]:
    """The entries that can explain a mismatch of `field` over `transport`."""
    return [limit for limit in CANNOT_CARRY if limit.field == field and transport in limit.transports]
