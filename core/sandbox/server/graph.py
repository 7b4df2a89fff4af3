"""The Microsoft Graph front end: the Outlook mail, calendar, contacts and To Do resources on the store.

`GraphService.handle(GraphRequest) -> GraphResponse` serves one request below `/v1.0` or `/beta`
(the HTTP plumbing and Bearer authentication live in `app.py`). It is as strict as Graph where an
importer could go wrong unnoticed:

- a JSON-created message is a draft unless the create request itself sets PidTagMessageFlags
  (`singleValueExtendedProperties` id `Integer 0x0E07`) without MSGFLAG_UNSENT; the flags set by a
  later PATCH are ignored (as Exchange does);
- unknown properties are refused (400 RequestBodyRead), bodies over 4 MB get 413, attachments over
  3 MB must go through an upload session whose chunks are multiples of 320 KiB;
- `$batch` takes at most 20 requests; each sub-request meets the throttling knobs on its own, and up to
  4 of them run at once (as Outlook runs them), each holding one of the mailbox's concurrency slots;
- the throttling knobs are Exchange Online's (`--graph-limits`): 4 requests at once per app and mailbox,
  10,000 requests per 10 minutes per app and mailbox (every request counts, a refused one too), 150 MB
  of uploads per 5 minutes per mailbox (whatever the app); over any of them: 429 with Retry-After.

Items are stored as the EWS front end stores them (subject, flags, EWS-shaped fields, extended
properties keyed by `store.prop_key`, MIME blobs), so each front end sees what the other created.
What Graph sent that has no EWS field is kept beside the item under a private property key.

Deviations from Graph are listed in `DEVIATIONS` below.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import email.parser
import email.policy
import json
import logging
import re
import secrets
import struct
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.mapi import props as mapi
from core.sandbox.server import attachments as attachments_mod
from core.sandbox.server import calendar_graph, mimefields
from core.sandbox.server.calendar import PRIVATE_KEYS as _CALENDAR_KEYS
from core.sandbox.server.calendar import SERIES_KEY as _SERIES
from core.sandbox.server.calendar_graph import GraphCalendarOps
from core.sandbox.server.ews import EwsService, Principal, normalise_value
from core.sandbox.server.knobs import GRAPH_BATCH_PARALLEL, KnobState
from core.sandbox.server.store import Folder, Item, NewItem, Store, StoreError, prop_key

log = logging.getLogger(__name__)

DEVIATIONS = """\
- $batch sub-requests run one after another in request order (Graph may run up to 4 in parallel).
- Folders created through /calendars and /todo/lists go below the message root; /contactFolders below Contacts.
- Ids are opaque base64url strings, but not Exchange's (no mailbox GUID inside); they are stable.
- importMime (beta) creates unread, non-draft messages; it cannot carry extended properties (MIME only).
- linkedResources/any(...) filters on To Do tasks are accepted as the sandbox's stand-in for a stamp lookup.
"""

# --- wire constants (Microsoft Graph) ------------------------------------------------------
GRAPH_VERSIONS = ("v1.0", "beta")
MAX_BATCH_REQUESTS = 20  # Graph JSON batching: at most 20 requests per batch
MAX_ATTACHMENT_POST_BYTES = 3 * 1024 * 1024  # POST .../attachments: "under 3 MB"; bigger goes through a session
MAX_UPLOAD_SESSION_BYTES = 150 * 1024 * 1024  # createUploadSession: attachments up to 150 MB
UPLOAD_CHUNK_MULTIPLE = 320 * 1024  # each chunk but the last: a multiple of 320 KiB
MAX_UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024
UPLOAD_SESSION_LIFETIME_S = 6 * 3600
DEFAULT_PAGE = 10  # $top when none is given (mailFolders, messages, events, contacts)
MAX_PAGE = 1000
SOURCE_KEY = prop_key(
    "String", property_set=mapi.PidNamePstImportSourceKey.guid, name=mapi.PidNamePstImportSourceKey.key
)
FLAGS_KEY = prop_key("Integer", tag=mapi.PidTagMessageFlags.id)
DELIVERY_KEY = prop_key("SystemTime", tag=mapi.PidTagMessageDeliveryTime.id)
SUBMIT_KEY = prop_key("SystemTime", tag=mapi.PidTagClientSubmitTime.id)
CLASS_KEY = prop_key("String", tag=mapi.PidTagMessageClass.id)
SUBJECT_KEY = prop_key("String", tag=mapi.PidTagSubject.id)
CONTAINER_CLASS_KEY = prop_key("String", tag=mapi.PidTagContainerClass.id)
# The Graph JSON an item was created with (what has no EWS field), kept as a private "property".
GRAPH_JSON_KEY = "sandbox:graph-json"
LINKED_KEY = "sandbox:linked-external-ids"
_ID_MAGIC = b"SBXG"

# Well-known mail folder names Graph accepts in place of an id (mailFolder resource docs).
WELL_KNOWN = {
    "inbox", "drafts", "sentitems", "deleteditems", "outbox", "junkemail", "archive", "msgfolderroot",
    "conversationhistory", "syncissues", "conflicts", "localfailures", "serverfailures",
    "recoverableitemsdeletions", "searchfolders",
}  # fmt: skip
# Extended property types Graph's singleValueExtendedProperties id syntax names (MapiPropertyType).
PROP_TYPES = {
    t.lower(): t
    for t in (
        "ApplicationTime", "Binary", "Boolean", "CLSID", "Currency", "Double", "Error", "Float", "Integer",
        "Long", "Null", "Object", "Short", "String", "SystemTime",
    )
}  # fmt: skip

# Properties each resource accepts in a create/update body (Graph v1.0 resource docs), and the
# read-only ones Graph tolerates (accepted and ignored).
_MESSAGE_WRITABLE = {
    "subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from", "sender",
    "importance", "isRead", "isReadReceiptRequested", "isDeliveryReceiptRequested", "categories", "flag",
    "internetMessageId", "internetMessageHeaders", "inferenceClassification", "attachments",
    "singleValueExtendedProperties", "multiValueExtendedProperties", "extensions", "uniqueBody", "mentions",
}  # fmt: skip
_MESSAGE_READONLY = {
    "id", "@odata.type", "@odata.etag", "createdDateTime", "lastModifiedDateTime", "changeKey", "receivedDateTime",
    "sentDateTime", "hasAttachments", "bodyPreview", "parentFolderId", "conversationId", "conversationIndex",
    "isDraft", "webLink",
}  # fmt: skip
_EVENT_WRITABLE = {
    "subject", "body", "start", "end", "location", "locations", "attendees", "isAllDay", "isReminderOn",
    "reminderMinutesBeforeStart", "recurrence", "showAs", "sensitivity", "importance", "categories",
    "responseRequested", "hideAttendees", "isOnlineMeeting", "onlineMeetingProvider", "allowNewTimeProposals",
    "transactionId", "organizer", "attachments", "singleValueExtendedProperties", "multiValueExtendedProperties",
    "extensions", "originalStartTimeZone", "originalEndTimeZone", "isCancelled", "type", "iCalUId", "uid",
}  # fmt: skip
_EVENT_READONLY = {
    "id", "@odata.type", "@odata.etag", "createdDateTime", "lastModifiedDateTime", "changeKey", "bodyPreview",
    "hasAttachments", "isOrganizer", "seriesMasterId", "webLink", "responseStatus", "onlineMeeting",
    "onlineMeetingUrl", "isDraft", "originalStart",
}  # fmt: skip
_CONTACT_WRITABLE = {
    "givenName", "surname", "middleName", "nickName", "initials", "title", "generation", "displayName",
    "fileAs", "emailAddresses", "imAddresses", "businessPhones", "homePhones", "mobilePhone", "businessHomePage",
    "companyName", "department", "jobTitle", "officeLocation", "profession", "manager", "assistantName",
    "spouseName", "children", "birthday", "personalNotes", "homeAddress", "businessAddress", "otherAddress",
    "yomiGivenName", "yomiSurname", "yomiCompanyName", "categories", "singleValueExtendedProperties",
    "multiValueExtendedProperties", "extensions", "photo",
}  # fmt: skip
_CONTACT_READONLY = {
    "id", "@odata.type", "@odata.etag", "createdDateTime", "lastModifiedDateTime", "changeKey", "parentFolderId",
}  # fmt: skip
_TASK_WRITABLE = {
    "title", "body", "importance", "status", "dueDateTime", "startDateTime", "completedDateTime",
    "reminderDateTime", "isReminderOn", "recurrence", "categories", "linkedResources", "checklistItems",
    "extensions", "hasAttachments",
}  # fmt: skip
_TASK_READONLY = {
    "id",
    "@odata.type",
    "@odata.etag",
    "createdDateTime",
    "lastModifiedDateTime",
    "bodyLastModifiedDateTime",
}
_FOLDER_WRITABLE = {"displayName", "isHidden", "singleValueExtendedProperties", "multiValueExtendedProperties"}
_RECIPIENT_KEYS = ("toRecipients", "ccRecipients", "bccRecipients", "replyTo")
_IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}
# Windows time zone names Graph accepts, mapped to IANA (enough for tests and common PST data).
_WINDOWS_ZONES = {
    "utc": "UTC", "coordinated universal time": "UTC", "gmt standard time": "Europe/London",
    "w. europe standard time": "Europe/Berlin", "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest", "e. europe standard time": "Europe/Bucharest",
    "pacific standard time": "America/Los_Angeles", "mountain standard time": "America/Denver",
    "central standard time": "America/Chicago", "eastern standard time": "America/New_York",
    "tokyo standard time": "Asia/Tokyo", "china standard time": "Asia/Shanghai",
    "india standard time": "Asia/Kolkata", "aus eastern standard time": "Australia/Sydney",
}  # fmt: skip
_RECURRENCE_PATTERNS = {"daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"}
_RECURRENCE_RANGES = {"endDate", "noEnd", "numbered"}


class GraphError(Exception):
    """An error answered as Graph's JSON error object."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass
class GraphRequest:
    """One Graph request as the front end sees it (a top-level one, or one from a $batch)."""

    method: str
    version: str  # v1.0 | beta
    path: str  # below the version, e.g. /users/alice@x/mailFolders/inbox
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    principal: Principal | None  # None for pre-authenticated upload URLs
    base_url: str
    raw_url: str = ""  # path + query as sent, for @odata.nextLink


@dataclass
class GraphResponse:
    status: int
    body: bytes = b""
    content_type: str = (
        "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
    )
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False  # close the connection without answering (drop_rate)


RecordHook = Callable[[str, str, str, str, int, int], None]  # operation, outcome, principal, mailbox, status, bytes


# --- ids ---------------------------------------------------------------------------------------
def graph_id(kind: str, number: int, extra: int | None = None) -> str:
    """An opaque id: base64url of magic, kind and number (and an index for attachments)."""
    raw = _ID_MAGIC + kind.encode() + struct.pack(">Q", number)
    if extra is not None:
        raw += struct.pack(">I", extra)
    return base64.urlsafe_b64encode(raw).decode()


def parse_id(value: str, kind: str) -> tuple[int, int | None]:
    try:
        raw = base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.") from None
    if not raw.startswith(_ID_MAGIC) or raw[4:5] != kind.encode() or len(raw) not in (13, 17):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    number = struct.unpack(">Q", raw[5:13])[0]
    extra = struct.unpack(">I", raw[13:17])[0] if len(raw) == 17 else None
    return number, extra


def user_object_id(address: str) -> str:
    """The directory object id of a user: a stable GUID derived from the address."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-user:{address.lower()}"))


def mailbox_guid(address: str, archive: bool = False) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-mailbox:{'archive' if archive else 'primary'}:{address}"))


# --- extended properties -----------------------------------------------------------------------
_PROP_ID = re.compile(
    r"^\s*(?P<type>\w+)\s+(?:(?P<tag>0x[0-9a-fA-F]{1,4})|\{?(?P<guid>[0-9a-fA-F-]{36})\}?\s+"
    r"(?:(?P<name_kw>[Nn]ame)\s+(?P<name>.+?)|(?P<id_kw>[Ii]d)\s+(?P<lid>0x[0-9a-fA-F]{1,4}|\d+)))\s*$"
)


def ext_prop_key(prop_id: str, multi: bool = False) -> tuple[str, str]:
    """(store key, property type) of a Graph extended-property id such as `String {guid} Name X`."""
    match = _PROP_ID.match(prop_id or "")
    if not match:
        raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{prop_id}' is not valid.")
    ptype = match.group("type")
    base = ptype[:-5] if multi and ptype.lower().endswith("array") else ptype
    canonical = PROP_TYPES.get(base.lower())
    if canonical is None or (multi and not ptype.lower().endswith("array")):
        raise GraphError(400, "ErrorInvalidProperty", f"The extended property type '{ptype}' is not valid.")
    store_type = canonical + ("Array" if multi else "")
    if match.group("tag"):
        return prop_key(store_type, tag=int(match.group("tag"), 16)), store_type
    guid = match.group("guid")
    if match.group("name") is not None:
        return prop_key(store_type, property_set=guid, name=match.group("name")), store_type
    return prop_key(store_type, property_set=guid, lid=int(match.group("lid"), 0)), store_type


def prop_id_of(key: str) -> str | None:
    """The Graph id of a store key (the inverse of `ext_prop_key`), or None for private keys."""
    parts = key.split(":")
    if key.startswith("tag:") and len(parts) == 3:
        return f"{parts[2]} 0x{int(parts[1], 16):x}"
    match = re.match(r"^\{([0-9a-f-]{36})\}:(name|id):(.+):(\w+)$", key)
    if not match:
        return None
    guid, how, what, ptype = match.groups()
    return f"{ptype} {{{guid}}} {'Name' if how == 'name' else 'Id'} {what}"


def _prop_value(ptype: str, value: object, prop_id: str) -> str:
    if not isinstance(value, str):
        raise GraphError(400, "RequestBodyRead", f"The value of extended property '{prop_id}' must be a string.")
    base = ptype.removesuffix("Array")
    try:
        if base in ("Integer", "Long", "Short", "Error", "Currency"):
            return normalise_value(base, value)
        if base == "Boolean":
            if value.strip().lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return normalise_value(base, value)
        if base == "SystemTime":
            _parse_time(value)
        if base == "Binary":
            base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise GraphError(
            400, "ErrorInvalidExtendedPropertyValue", f"The value '{value[:40]}' is not valid for type {ptype}."
        ) from None
    return value


def _parse_time(value: str) -> dt.datetime:
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Graph sends 7 fractional digits
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _iso(value: dt.datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = _parse_time(value)
        except ValueError:
            return value
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def promoted_headers(mime: bytes) -> dict[str, object]:
    """What Exchange makes of a MIME message's X- headers: PS_INTERNET_HEADERS named properties
    (String, named by the header, case-insensitive), so a `$filter` on them finds the item."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(mime)
    except Exception:  # unparseable MIME: nothing promoted
        return {}
    out: dict[str, object] = {}
    for name, value in headers.items():
        if not name.lower().startswith("x-"):
            continue
        key = prop_key("String", property_set=mapi.PS_INTERNET_HEADERS, name=name)
        out.setdefault(key, " ".join(str(value).split()))
    return out


# --- OData query parsing ------------------------------------------------------------------------
def _odata_string(text: str) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise GraphError(400, "BadRequest", "Invalid filter clause: a string literal must be quoted.")
    return text[1:-1].replace("''", "'")


_STRING = r"'(?:[^']|'')*'"
_DISPLAYNAME_FILTER = re.compile(rf"^\s*displayName\s+eq\s+({_STRING})\s*$", re.IGNORECASE)
_EXT_FILTER = re.compile(
    rf"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+({_STRING})\s+and\s+\1/value\s+eq\s+"
    rf"({_STRING})\s*\)\s*$",
    re.IGNORECASE,
)
_LINKED_FILTER = re.compile(
    rf"^\s*linkedResources/any\(\s*(\w+)\s*:\s*\1/externalId\s+eq\s+({_STRING})\s*\)\s*$", re.IGNORECASE
)
_EXPAND_EXT = re.compile(r"^\s*(single|multi)ValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.+)\))?\s*$", re.IGNORECASE)
_ID_EQ = re.compile(rf"^\s*id\s+eq\s+({_STRING})\s*$", re.IGNORECASE)


def _split_top(text: str) -> list[str]:
    """Split an $expand/$select list on commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [p.strip() for p in out]


def _expand_props(req: GraphRequest) -> dict[str, set[str] | None]:
    """`$expand=singleValueExtendedProperties($filter=id eq '...')` -> {"single": {keys} | None (all)}."""
    wanted: dict[str, set[str] | None] = {}
    for part in _split_top(req.query.get("$expand", "")):
        match = _EXPAND_EXT.match(part)
        if not match:
            if part.lower() in ("attachments", "linkedresources"):
                wanted[part.lower()] = None
                continue
            raise GraphError(400, "BadRequest", f"Parsing OData Select and Expand failed: '{part}' cannot be expanded.")
        which = match.group(1).lower()
        if match.group(2) is None:
            wanted[which] = None
            continue
        keys: set[str] = set()
        for clause in re.split(r"\s+or\s+", match.group(2), flags=re.IGNORECASE):
            id_match = _ID_EQ.match(clause)
            if not id_match:
                raise GraphError(400, "BadRequest", "Invalid filter clause in $expand.")
            keys.add(ext_prop_key(_odata_string(id_match.group(1)), multi=which == "multi")[0])
        wanted[which] = keys
    return wanted


def _prefers_text(req: GraphRequest) -> bool:
    prefer = req.headers.get("prefer", "")
    return bool(re.search(r'outlook\.body-content-type\s*=\s*"?text"?', prefer, re.IGNORECASE))


def _paging(req: GraphRequest, default: int = DEFAULT_PAGE) -> tuple[int, int]:
    try:
        top = int(req.query.get("$top", default))
        skip = int(req.query.get("$skip", 0))
    except ValueError:
        raise GraphError(400, "BadRequest", "Invalid $top or $skip value.") from None
    if top < 0 or skip < 0:
        raise GraphError(400, "BadRequest", "Invalid $top or $skip value.")
    return min(top, MAX_PAGE), skip


def _json_body(req: GraphRequest) -> dict:
    ctype = req.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise GraphError(415, "UnsupportedMediaType", f"Content-Type '{ctype}' is not supported here.")
    try:
        data = json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GraphError(400, "RequestBodyRead", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise GraphError(400, "RequestBodyRead", "The request body must be a JSON object.")
    return data


def _check_properties(body: dict, writable: set[str], readonly: set[str], type_name: str) -> None:
    for name in body:
        if name in writable or name in readonly or name.startswith("@odata."):
            continue
        raise GraphError(
            400,
            "RequestBodyRead",
            f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use "
            "property names that are defined by the type or mark the type as open type.",
        )


# --- Graph JSON <-> the store's EWS-shaped fields ----------------------------------------------------
def _mailbox_node(recipient: object, where: str) -> list:
    if not isinstance(recipient, dict) or not isinstance(recipient.get("emailAddress"), dict):
        raise GraphError(400, "RequestBodyRead", f"'{where}' needs recipients shaped {{\"emailAddress\": {{...}}}}.")
    addr = recipient["emailAddress"]
    unknown = set(addr) - {"address", "name", "@odata.type"}
    if unknown or set(recipient) - {"emailAddress", "@odata.type", "type", "status", "proposedNewTime"}:
        raise GraphError(400, "RequestBodyRead", f"Unknown property in a recipient of '{where}'.")
    parts = [["Name", {}, addr["name"]]] if addr.get("name") else []
    if addr.get("address"):
        parts += [["EmailAddress", {}, addr["address"]], ["RoutingType", {}, "SMTP"]]
    return ["Mailbox", {}, parts]


def _graph_recipient(node: list) -> dict:
    values = {child[0]: child[2] for child in node[2] if isinstance(child, list)}
    out: dict[str, str] = {}
    if values.get("Name"):
        out["name"] = values["Name"]
    if values.get("EmailAddress"):
        out["address"] = values["EmailAddress"]
    return {"emailAddress": out}


def _body_node(body: object) -> list:
    if not isinstance(body, dict) or set(body) - {"contentType", "content", "@odata.type"}:
        raise GraphError(400, "RequestBodyRead", "'body' must be an itemBody: {contentType, content}.")
    ctype = str(body.get("contentType", "text")).lower()
    if ctype not in ("text", "html"):
        raise GraphError(400, "RequestBodyRead", f"The body contentType '{ctype}' is not valid (text or html).")
    return ["Body", {"BodyType": "HTML" if ctype == "html" else "Text"}, str(body.get("content") or "")]


def _common_fields(body: dict) -> list[list]:
    """The ItemType fields (schema order) of subject/body/categories/importance."""
    fields: list[list] = []
    if "subject" in body or "title" in body:
        fields.append(["Subject", {}, str(body.get("subject", body.get("title")) or "")])
    if isinstance(body.get("body"), dict):
        fields.append(_body_node(body["body"]))
    if body.get("categories"):
        if not isinstance(body["categories"], list) or not all(isinstance(c, str) for c in body["categories"]):
            raise GraphError(400, "RequestBodyRead", "'categories' must be a list of strings.")
        fields.append(["Categories", {}, [["String", {}, c] for c in body["categories"]]])
    if "importance" in body:
        value = str(body["importance"]).lower()
        if value not in _IMPORTANCE:
            raise GraphError(400, "RequestBodyRead", f"The importance '{body['importance']}' is not valid.")
        fields.append(["Importance", {}, _IMPORTANCE[value]])
    return fields


def message_fields(body: dict) -> list[list]:
    """EWS-shaped fields of a Graph message body, in MessageType order."""
    fields = _common_fields(body)
    for key, element in (
        ("sender", "Sender"),
        ("toRecipients", "ToRecipients"),
        ("ccRecipients", "CcRecipients"),
        ("bccRecipients", "BccRecipients"),
        ("isReadReceiptRequested", "IsReadReceiptRequested"),
        ("isDeliveryReceiptRequested", "IsDeliveryReceiptRequested"),
        ("from", "From"),
        ("internetMessageId", "InternetMessageId"),
        ("replyTo", "ReplyTo"),
    ):
        if key not in body or body[key] is None:
            continue
        value = body[key]
        if key in ("sender", "from"):
            fields.append([element, {}, [_mailbox_node(value, key)]])
        elif key in _RECIPIENT_KEYS:
            if not isinstance(value, list):
                raise GraphError(400, "RequestBodyRead", f"'{key}' must be a list of recipients.")
            if value:
                fields.append([element, {}, [_mailbox_node(r, key) for r in value]])
        elif isinstance(value, bool):
            fields.append([element, {}, "true" if value else "false"])
        else:
            fields.append([element, {}, str(value)])
    return fields


def _zone(name: str) -> dt.tzinfo:
    key = _WINDOWS_ZONES.get(name.strip().lower(), name.strip())
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise GraphError(
            400, "TimeZoneNotSupportedException", f"A valid TimeZone value must be specified: {name}."
        ) from None


def _date_time_tz(value: object, where: str) -> str:
    """A dateTimeTimeZone as a UTC instant."""
    if not isinstance(value, dict) or "dateTime" not in value or set(value) - {"dateTime", "timeZone", "@odata.type"}:
        raise GraphError(400, "RequestBodyRead", f"'{where}' must be a dateTimeTimeZone: {{dateTime, timeZone}}.")
    try:
        local = dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", str(value["dateTime"]).replace("Z", "")))
    except ValueError:
        raise GraphError(400, "RequestBodyRead", f"'{where}.dateTime' is not a date and time.") from None
    zone = _zone(str(value.get("timeZone") or "UTC"))
    return local.replace(tzinfo=zone).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_recurrence(value: object) -> None:
    if value is None:
        return
    if (
        not isinstance(value, dict)
        or set(value) - {"pattern", "range"}
        or "pattern" not in value
        or "range" not in value
    ):
        raise GraphError(400, "RequestBodyRead", "'recurrence' must be a patternedRecurrence: {pattern, range}.")
    pattern, rng = value["pattern"], value["range"]
    pattern_keys = {"type", "interval", "month", "dayOfMonth", "daysOfWeek", "firstDayOfWeek", "index"}
    range_keys = {"type", "startDate", "endDate", "recurrenceTimeZone", "numberOfOccurrences"}
    if not isinstance(pattern, dict) or set(pattern) - pattern_keys or pattern.get("type") not in _RECURRENCE_PATTERNS:
        raise GraphError(400, "RequestBodyRead", "The recurrence pattern is not valid.")
    if not isinstance(rng, dict) or set(rng) - range_keys or rng.get("type") not in _RECURRENCE_RANGES:
        raise GraphError(400, "RequestBodyRead", "The recurrence range is not valid.")
    if "startDate" not in rng:
        raise GraphError(400, "ErrorInvalidRecurrence", "The recurrence range needs a startDate.")
    if pattern["type"] == "weekly" and not pattern.get("daysOfWeek"):
        raise GraphError(400, "ErrorInvalidRecurrence", "A weekly pattern needs daysOfWeek.")
    if rng["type"] == "endDate" and not rng.get("endDate"):
        raise GraphError(400, "ErrorInvalidRecurrence", "An endDate range needs an endDate.")
    if rng["type"] == "numbered" and int(rng.get("numberOfOccurrences") or 0) < 1:
        raise GraphError(400, "ErrorInvalidRecurrence", "A numbered range needs numberOfOccurrences.")


def event_fields(body: dict) -> list[list]:
    fields = _common_fields(body)
    for key in ("start", "end"):
        if key not in body:
            raise GraphError(400, "ErrorInvalidRequest", f"An event needs '{key}'.")
    start, end = _date_time_tz(body["start"], "start"), _date_time_tz(body["end"], "end")
    if end < start:
        raise GraphError(400, "ErrorInvalidRequest", "The event's end is before its start.")
    fields += [["Start", {}, start], ["End", {}, end]]
    if "isAllDay" in body:
        fields.append(["IsAllDayEvent", {}, "true" if body["isAllDay"] else "false"])
    location = body.get("location")
    if isinstance(location, dict) and location.get("displayName"):
        fields.append(["Location", {}, str(location["displayName"])])
    _check_recurrence(body.get("recurrence"))
    for attendee in body.get("attendees") or []:
        _mailbox_node(attendee, "attendees")
        if str(attendee.get("type", "required")).lower() not in ("required", "optional", "resource"):
            raise GraphError(400, "RequestBodyRead", "An attendee type must be required, optional or resource.")
    return fields


def contact_fields(body: dict) -> list[list]:
    fields = _common_fields(body)
    for key, element in (("displayName", "DisplayName"), ("givenName", "GivenName"), ("companyName", "CompanyName")):
        if body.get(key):
            fields.append([element, {}, str(body[key])])
    emails = body.get("emailAddresses") or []
    if not isinstance(emails, list) or len(emails) > 3:
        raise GraphError(400, "ErrorInvalidRequest", "'emailAddresses' takes at most 3 addresses.")
    entries = []
    for n, entry in enumerate(emails, 1):
        if not isinstance(entry, dict) or set(entry) - {"address", "name", "@odata.type"}:
            raise GraphError(400, "RequestBodyRead", "An emailAddresses entry is {address, name}.")
        entries.append(["Entry", {"Key": f"EmailAddress{n}"}, str(entry.get("address") or "")])
    if entries:
        fields.append(["EmailAddresses", {}, entries])
    for key, element in (("jobTitle", "JobTitle"), ("surname", "Surname")):
        if body.get(key):
            fields.append([element, {}, str(body[key])])
    return fields


def task_fields(body: dict) -> list[list]:
    fields = _common_fields(body)
    status_map = {
        "notstarted": "NotStarted",
        "inprogress": "InProgress",
        "completed": "Completed",
        "waitingonothers": "WaitingOnOthers",
        "deferred": "Deferred",
    }
    for key, element in (("dueDateTime", "DueDate"), ("startDateTime", "StartDate")):
        if body.get(key) is not None:
            fields.append([element, {}, _date_time_tz(body[key], key)])
    if "status" in body:
        status = status_map.get(str(body["status"]).lower())
        if status is None:
            raise GraphError(400, "RequestBodyRead", f"The task status '{body['status']}' is not valid.")
        fields.append(["Status", {}, status])
    _check_recurrence(body.get("recurrence"))
    for resource in body.get("linkedResources") or []:
        if not isinstance(resource, dict) or set(resource) - {
            "webUrl",
            "applicationName",
            "displayName",
            "externalId",
            "id",
        }:
            raise GraphError(
                400, "RequestBodyRead", "A linkedResource is {webUrl, applicationName, displayName, externalId}."
            )
    return fields


def fields_to_graph(item: Item) -> dict:
    """What an EWS-created item looks like in Graph (the fields the EWS front end stored)."""
    out: dict[str, object] = {}
    for node in item.fields:
        name, attrs, content = node
        if name == "Body":
            out["body"] = {"contentType": "html" if attrs.get("BodyType") == "HTML" else "text", "content": content}
        elif name == "Categories" and isinstance(content, list):
            out["categories"] = [c[2] for c in content]
        elif name == "Importance":
            out["importance"] = str(content).lower()
        elif name in ("ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo") and isinstance(content, list):
            out[name[0].lower() + name[1:]] = [_graph_recipient(n) for n in content]
        elif name in ("From", "Sender") and isinstance(content, list) and content:
            out[name.lower()] = _graph_recipient(content[0])
        elif name == "InternetMessageId":
            out["internetMessageId"] = content
        elif name == "DateTimeSent":
            out["sentDateTime"] = content
        elif name in ("Start", "End"):
            out[name.lower()] = {"dateTime": str(content).rstrip("Z") + ".0000000", "timeZone": "UTC"}
        elif name == "Location":
            out["location"] = {"displayName": content}
        elif name == "IsAllDayEvent":
            out["isAllDay"] = str(content).strip().lower() in ("1", "true")
        elif name in ("GivenName", "Surname", "DisplayName", "CompanyName", "JobTitle"):
            out[name[0].lower() + name[1:]] = content
        elif name == "EmailAddresses" and isinstance(content, list):
            out["emailAddresses"] = [{"address": e[2]} for e in content]
    return out


# --- resource kinds ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """One Graph item resource and how it sits in the store."""

    name: str  # Graph type name: message, event, contact, todoTask
    item_kind: str  # store kind (EWS element name)
    item_class: str
    folder_class: str  # the container class its folders have (prefix)
    writable: frozenset[str]
    readonly: frozenset[str]
    to_fields: Callable[[dict], list[list]]
    ext_props: bool  # singleValueExtendedProperties allowed


KINDS = {
    "message": Kind(
        "message", "Message", "IPM.Note", "IPF.Note", frozenset(_MESSAGE_WRITABLE), frozenset(_MESSAGE_READONLY),
        message_fields, True,
    ),
    "event": Kind(
        "event", "CalendarItem", "IPM.Appointment", "IPF.Appointment", frozenset(_EVENT_WRITABLE),
        frozenset(_EVENT_READONLY), event_fields, True,
    ),
    "contact": Kind(
        "contact", "Contact", "IPM.Contact", "IPF.Contact", frozenset(_CONTACT_WRITABLE), frozenset(_CONTACT_READONLY),
        contact_fields, True,
    ),
    "todoTask": Kind(
        "todoTask", "Task", "IPM.Task", "IPF.Task", frozenset(_TASK_WRITABLE), frozenset(_TASK_READONLY), task_fields,
        False,
    ),
}  # fmt: skip
_COLLECTION_KIND = {"messages": "message", "events": "event", "contacts": "contact", "tasks": "todoTask"}
_ATTACHMENTS_KEY = attachments_mod.ATTACHMENTS_KEY
# Navigation properties: in a response only when $expand names them.
_RELATIONSHIPS = {"linkedResources", "checklistItems", "extensions", "attachments", "photo"}
_PRIVATE = (GRAPH_JSON_KEY, _ATTACHMENTS_KEY, LINKED_KEY, *_CALENDAR_KEYS)


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    uploads: bool = False  # the body counts against the mailbox's upload budget
    beta_only: bool = False


def _route(method: str, pattern: str, handler: str, uploads: bool = False, beta_only: bool = False) -> Route:
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"
    return Route(method, re.compile(regex, re.IGNORECASE), handler, uploads, beta_only)


_MSG = r"(?:/mailFolders/[^/]+)?/messages/{item}"
ROUTES = [
    _route("GET", "", "get_user"),
    _route("GET", "/mailboxSettings", "get_mailbox_settings"),
    _route("GET", "/settings/exchange", "get_exchange_settings", beta_only=True),
    _route("GET", "/mailFolders", "list_mail_folders"),
    _route("POST", "/mailFolders", "create_mail_folder"),
    _route("GET", "/mailFolders/{folder}", "get_mail_folder"),
    _route("GET", "/mailFolders/{folder}/childFolders", "list_mail_folders"),
    _route("POST", "/mailFolders/{folder}/childFolders", "create_mail_folder"),
    _route("GET", "/mailFolders/{folder}/messages", "list_items"),
    _route("POST", "/mailFolders/{folder}/messages", "create_item", uploads=True),
    _route("POST", "/mailFolders/{folder}/importMime", "import_mime", uploads=True, beta_only=True),
    _route("GET", "/messages", "list_items"),
    _route("POST", "/messages", "create_item", uploads=True),
    _route("GET", _MSG, "get_item"),
    _route("PATCH", _MSG, "update_item", uploads=True),
    _route("GET", _MSG + r"/\$value", "get_mime"),
    _route("GET", _MSG + "/attachments", "list_attachments"),
    _route("POST", _MSG + "/attachments", "add_attachment", uploads=True),
    _route("POST", _MSG + "/attachments/createUploadSession", "create_upload_session"),
    _route("GET", _MSG + "/attachments/{attachment}", "get_attachment"),
    _route("GET", _MSG + r"/attachments/{attachment}/\$value", "get_attachment_value"),
    _route("GET", "/calendars", "list_calendars"),
    _route("POST", "/calendars", "create_calendar"),
    _route("GET", "/calendar", "get_calendar"),
    _route("GET", "/calendars/{folder}", "get_calendar"),
    _route("GET", r"/(?:calendars/{folder}|calendar)/events", "list_items"),
    _route("GET", "/events", "list_items"),
    _route("POST", r"/(?:calendars/{folder}|calendar)/events", "create_item", uploads=True),
    _route("POST", "/events", "create_item", uploads=True),
    _route("GET", r"(?:/calendars/[^/]+|/calendar)?/events/{item}", "get_event"),
    # recurring series (calendar_graph.py): instances, occurrences, the calendar view
    _route("GET", r"(?:/calendars/[^/]+|/calendar)?/events/{item}/instances", "list_instances"),
    _route("GET", r"(?:/calendars/{folder}|/calendar)?/calendarView", "calendar_view"),
    _route("PATCH", r"(?:/calendars/[^/]+|/calendar)?/events/{item}", "update_event", uploads=True),
    _route("DELETE", r"(?:/calendars/[^/]+|/calendar)?/events/{item}", "delete_event"),
    _route("POST", r"(?:/calendars/[^/]+|/calendar)?/events/{item}/attachments", "add_event_attachment", uploads=True),
    _route("GET", r"(?:/calendars/[^/]+|/calendar)?/events/{item}/attachments", "list_event_attachments"),
    _route("GET", "/contactFolders", "list_contact_folders"),
    _route("POST", "/contactFolders", "create_contact_folder"),
    _route("GET", "/contactFolders/{folder}", "get_contact_folder"),
    _route("GET", "/contactFolders/{folder}/childFolders", "list_contact_folders"),
    _route("POST", "/contactFolders/{folder}/childFolders", "create_contact_folder"),
    _route("GET", "/contactFolders/{folder}/contacts", "list_items"),
    _route("GET", "/contacts", "list_items"),
    _route("POST", "/contactFolders/{folder}/contacts", "create_item", uploads=True),
    _route("POST", "/contacts", "create_item", uploads=True),
    _route("GET", r"(?:/contactFolders/[^/]+)?/contacts/{item}", "get_item"),
    _route("GET", "/todo/lists", "list_task_lists"),
    _route("POST", "/todo/lists", "create_task_list"),
    _route("GET", "/todo/lists/{folder}", "get_task_list"),
    _route("GET", "/todo/lists/{folder}/tasks", "list_items"),
    _route("POST", "/todo/lists/{folder}/tasks", "create_item", uploads=True),
    _route("GET", "/todo/lists/[^/]+/tasks/{item}", "get_item"),
]
_USER_PREFIX = re.compile(r"^/(?:me(?=/|$)|users/(?P<user>[^/]+))(?P<rest>.*)$", re.IGNORECASE)
UPLOAD_PATH = re.compile(r"^/api/v2\.0/AttachmentSessions/(?P<session>[\w-]+)$", re.IGNORECASE)


@dataclass
class Call:
    """A routed request: who, which mailbox, which handler and its path arguments."""

    req: GraphRequest
    route: Route
    mailbox: str
    args: dict[str, str]
    collection: str  # last resource segment, e.g. messages, events, childFolders

    @property
    def operation(self) -> str:
        return f"{self.req.method} {self.route.handler}"


class GraphService(GraphCalendarOps):
    """Serves Graph requests on a Store, with the realism knobs of `KnobState`."""

    def __init__(self, store: Store, knobs: KnobState, record: RecordHook | None = None) -> None:
        self.store = store
        self.knobs = knobs
        self.record = record
        self._sessions: dict[str, dict] = {}
        self._sessions_lock = threading.Lock()
        self._budget: dict[str, list[tuple[float, int]]] = {}
        self._budget_lock = threading.Lock()
        self._requests: dict[str, collections.deque[float]] = {}  # app|mailbox -> arrivals in the window

    # --- entry points ----------------------------------------------------------------------
    def handle(self, req: GraphRequest) -> GraphResponse:
        """Answer one top-level request (never raises for the client's mistakes)."""
        try:
            if req.method == "POST" and req.path.rstrip("/").lower() == "/$batch":
                return self._batch(req)
            return self._serve(req, in_batch=False)
        except GraphError as err:
            return self.error_response(err, req)
        except Exception:  # a sandbox bug: answer like Graph's own failures rather than dropping the connection
            log.exception("Graph request %s %s failed", req.method, req.path)
            return self.error_response(
                GraphError(500, "InternalServerError", "The sandbox failed on this request."), req
            )

    @staticmethod
    def error_response(err: GraphError, req: GraphRequest | None = None) -> GraphResponse:
        request_id = str(uuid.uuid4())
        body = {
            "error": {
                "code": err.code,
                "message": err.message,
                "innerError": {
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": (req.headers.get("client-request-id") if req else None) or request_id,
                },
            }
        }
        headers = [("request-id", request_id)]
        if err.retry_after is not None:
            headers.append(("Retry-After", str(err.retry_after)))
        return GraphResponse(err.status, json.dumps(body).encode(), "application/json", headers)

    def upload_chunk(self, session_id: str, req: GraphRequest) -> GraphResponse:
        """PUT to a pre-authenticated upload URL (no Authorization header, as Graph wants)."""
        try:
            return self._upload_chunk(session_id, req)
        except GraphError as err:
            return self.error_response(err, req)
        except Exception:  # a sandbox bug: a JSON 500, not a dropped connection
            log.exception("Graph upload chunk failed")
            return self.error_response(
                GraphError(500, "InternalServerError", "The sandbox failed on this request."), req
            )

    # --- routing and throttling --------------------------------------------------------------
    def _resolve(self, req: GraphRequest) -> Call:
        path = unquote(req.path).rstrip("/") or "/"
        match = _USER_PREFIX.match(path)
        if not match:
            raise GraphError(
                400, "BadRequest", f"Resource not found for the segment '{path.strip('/').split('/')[0]}'."
            )
        rest = match.group("rest")
        principal = req.principal
        assert principal is not None
        if match.group("user") is None:
            if principal.kind != "user":
                raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            mailbox = principal.name
        else:
            mailbox = self._user_address(match.group("user"))
        for route in ROUTES:
            found = route.pattern.match(rest)
            if found is None:
                continue
            if route.method != req.method:
                continue
            if route.beta_only and req.version != "beta":
                segment = rest.rstrip("/").split("/")[-1]
                raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
            collection = next((s for s in reversed(rest.split("/")) if s and not s.startswith("$")), "")
            return Call(req, route, mailbox, found.groupdict(), collection)
        if any(r.pattern.match(rest) for r in ROUTES):
            raise GraphError(405, "Request_BadRequest", f"The HTTP method '{req.method}' is not allowed here.")
        segment = rest.strip("/").split("/")[-1] if rest.strip("/") else ""
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    def _user_address(self, token: str) -> str:
        token = token.strip().strip("'").lower()
        if self.store.user(token) is not None:
            return token
        for user in self.store.users():
            if user_object_id(user.address) == token:
                return user.address
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{token}' is invalid.")

    def _check_access(self, call: Call) -> None:
        principal = call.req.principal
        assert principal is not None
        if principal.kind == "app" or call.route.handler == "get_user":
            return  # Mail.ReadWrite as an application permission: every mailbox of the tenant
        if principal.name.lower() == call.mailbox or self.store.can_impersonate(principal.name, call.mailbox):
            return
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _serve(self, req: GraphRequest, in_batch: bool) -> GraphResponse:
        call = self._resolve(req)
        try:
            self._check_access(call)
        except GraphError as err:
            self._note(call, "fault", err.status, len(req.body))
            raise
        return self._gated(call, lambda: getattr(self, call.route.handler)(call), in_batch)

    def _gated(self, call: Call, serve: Callable[[], GraphResponse], in_batch: bool = False) -> GraphResponse:
        """Apply the knobs (concurrency per app and mailbox, latency, faults, upload budget), then serve."""
        req = call.req
        knobs = self.knobs.knobs
        principal = req.principal.name if req.principal else "?"
        gate = f"graph|{principal}|{call.mailbox}"
        self._count_request(call, f"{principal}|{call.mailbox}")
        if not self.knobs.enter(gate, knobs.graph_max_concurrency):
            self._note(call, "refused", 429, 0)
            raise GraphError(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", 1)
        try:
            if knobs.latency_ms:
                time.sleep(knobs.latency_ms / 1000)
            fate = self.knobs.draw()
            retry_after = max(1, -(-knobs.back_off_ms // 1000))
            if fate == "drop" and not in_batch:
                self._note(call, "drop", 0, 0)
                return GraphResponse(0, drop=True)
            if fate in ("drop", "error"):
                self._note(call, "error", 503, 0)
                raise GraphError(
                    503, "ServiceUnavailable", "The service is temporarily unavailable. Try again later.", retry_after
                )
            if fate == "busy":
                self._note(call, "busy", 429, 0)
                raise GraphError(
                    429,
                    "TooManyRequests",
                    "Too many requests are being made; the application is being throttled.",
                    retry_after,
                )
            if call.route.uploads:
                self._charge(call, len(req.body))
            try:
                response = serve()
            except GraphError as err:
                self._note(call, "fault", err.status, len(req.body))
                raise
            self._note(call, "ok", response.status, len(req.body))
            return response
        finally:
            self.knobs.leave(gate)

    def _note(self, call: Call, outcome: str, status: int, nbytes: int) -> None:
        if self.record is not None:
            principal = call.req.principal.name if call.req.principal else "?"
            self.record(call.operation, outcome, principal, call.mailbox, status, nbytes)

    def _count_request(self, call: Call, key: str) -> None:
        """Count one request against the app's budget for this mailbox (every request counts, a refused
        one too), or refuse it with 429 and the Retry-After when the window is full."""
        knobs = self.knobs.knobs
        if not knobs.graph_request_budget:
            return
        now = time.monotonic()
        with self._budget_lock:
            window = self._requests.setdefault(key, collections.deque())
            while window and window[0] <= now - knobs.graph_request_window_s:
                window.popleft()
            over = len(window) >= knobs.graph_request_budget
            # Retry when the request that makes room has left the window.
            wait = window[len(window) - knobs.graph_request_budget] + knobs.graph_request_window_s - now if over else 0
            window.append(now)
        if over:
            self._note(call, "requests", 429, 0)
            # Exchange Online's wording for this limit was not found in public reports (the concurrency and
            # upload limits' are used below); the client never reads the message, only the status and
            # Retry-After.
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its request limit for this mailbox; retry after the interval given.",
                max(1, int(-(-wait // 1))),
            )

    def _charge(self, call: Call, nbytes: int) -> None:
        """Count `nbytes` against the mailbox's upload budget, or refuse with 429 and a Retry-After."""
        self._charge_mailbox(call.mailbox, nbytes, lambda: self._note(call, "budget", 429, 0))

    def _charge_mailbox(self, mailbox: str, nbytes: int, on_refuse: Callable[[], None]) -> None:
        knobs = self.knobs.knobs
        if not knobs.upload_budget_bytes or not nbytes:
            return
        now = time.monotonic()
        with self._budget_lock:
            window = [(t, n) for t, n in self._budget.get(mailbox, []) if t > now - knobs.upload_window_s]
            used = sum(n for _t, n in window)
            if used and used + nbytes > knobs.upload_budget_bytes:
                # Retry when enough of the window has slid out for this request to fit.
                freed, wait = 0, knobs.upload_window_s
                for t, n in window:
                    freed += n
                    if used - freed + nbytes <= knobs.upload_budget_bytes:
                        wait = t + knobs.upload_window_s - now
                        break
                self._budget[mailbox] = window
                on_refuse()
                # The wording Exchange Online uses for its upload limit (O365/python-o365 issue #500).
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its IncomingBytes limit.",
                    max(1, int(-(-wait // 1))),
                )
            window.append((now, nbytes))
            self._budget[mailbox] = window

    # --- $batch ----------------------------------------------------------------------------
    def _batch(self, req: GraphRequest) -> GraphResponse:
        payload = _json_body(req)
        requests = payload.get("requests")
        if set(payload) != {"requests"} or not isinstance(requests, list):
            raise GraphError(400, "BadRequest", "Invalid batch payload format: a 'requests' array is required.")
        if len(requests) > MAX_BATCH_REQUESTS:
            raise GraphError(400, "BadRequest", f"The batch request contains more than {MAX_BATCH_REQUESTS} requests.")
        ids = [str(r.get("id")) if isinstance(r, dict) else "" for r in requests]
        if len(set(ids)) != len(ids) or "" in ids or "None" in ids:
            raise GraphError(400, "BadRequest", "Each request in a batch needs a unique id.")
        if any(isinstance(r, dict) and r.get("dependsOn") for r in requests):
            return self._batch_answer(self._batch_in_order(req, requests, ids))

        # Independent requests: Outlook runs up to 4 at once, each meeting the knobs on its own (so each
        # holds one of the mailbox's concurrency slots while it runs).
        def one(sub: dict) -> tuple[str, GraphResponse]:
            return str(sub["id"]), self._batch_request(req, sub, {}, ids)

        with ThreadPoolExecutor(GRAPH_BATCH_PARALLEL, thread_name_prefix="sandbox-graph-batch") as pool:
            return self._batch_answer(list(pool.map(one, requests)))

    def _batch_in_order(self, req: GraphRequest, requests: list, ids: list[str]) -> list[tuple[str, GraphResponse]]:
        """A batch with dependsOn: one request after the other, a failed dependency failing its dependents."""
        statuses: dict[str, int] = {}
        out = []
        for sub in requests:
            resp = self._batch_request(req, sub, statuses, ids)
            statuses[str(sub["id"])] = resp.status
            out.append((str(sub["id"]), resp))
        return out

    def _batch_request(self, req: GraphRequest, sub: dict, statuses: dict[str, int], ids: list[str]) -> GraphResponse:
        unknown = set(sub) - {"id", "method", "url", "headers", "body", "dependsOn"}
        depends = sub.get("dependsOn") or []
        if unknown or not isinstance(sub.get("url"), str) or not sub.get("method"):
            return self.error_response(GraphError(400, "BadRequest", "Invalid request in batch."), req)
        if any(d not in ids for d in depends):
            raise GraphError(400, "BadRequest", "dependsOn names a request that is not in the batch.")
        if any(statuses.get(d, 0) >= 400 or d not in statuses for d in depends):
            return self.error_response(GraphError(424, "FailedDependency", "A dependency failed."), req)
        return self._batch_one(req, sub)

    def _batch_answer(self, answers: list[tuple[str, GraphResponse]]) -> GraphResponse:
        responses = []
        for sub_id, resp in answers:
            entry: dict[str, object] = {"id": sub_id, "status": resp.status}
            headers = dict(resp.headers)
            if resp.body:
                headers["Content-Type"] = resp.content_type
            entry["headers"] = headers
            if resp.body:
                text = resp.body.decode("utf-8", "replace")
                entry["body"] = json.loads(text) if resp.content_type.startswith("application/json") else text
            responses.append(entry)
        body = {"responses": responses}
        return GraphResponse(200, json.dumps(body).encode())

    def _batch_one(self, outer: GraphRequest, sub: dict) -> GraphResponse:
        url = str(sub["url"])
        split = urlsplit(url if url.startswith("/") else "/" + url)
        headers = {str(k).lower(): str(v) for k, v in (sub.get("headers") or {}).items()}
        body = sub.get("body")
        method = str(sub["method"]).upper()
        if body is not None and "content-type" not in headers:
            return self.error_response(
                GraphError(400, "BadRequest", "A Content-Type header is required when a request has a body."), outer
            )
        if body is None:
            raw = b""
        elif headers.get("content-type", "").startswith("application/json"):
            # As it came in the batch's body (compact, UTF-8): what the upload budget charges.
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        else:
            raw = str(body).encode()
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        req = GraphRequest(method, outer.version, split.path, query, headers, raw, outer.principal, outer.base_url, url)
        try:
            return self._serve(req, in_batch=True)
        except GraphError as err:
            return self.error_response(err, req)

    # --- helpers ---------------------------------------------------------------------------
    def _ctx(self, call: Call, tail: str) -> str:
        return f"{call.req.base_url}/{call.req.version}/$metadata#users('{quote(call.mailbox)}')/{tail}"

    @staticmethod
    def _json(status: int, body: dict, headers: list[tuple[str, str]] | None = None) -> GraphResponse:
        return GraphResponse(status, json.dumps(body).encode(), headers=headers or [])

    def _folder_by_token(self, call: Call, token: str, default_family: str | None = None) -> Folder:
        """A folder of the call's mailbox by id or well-known name."""
        low = token.lower()
        if low in WELL_KNOWN:
            folder = self.store.distinguished(call.mailbox, low)
            if folder is None:
                raise GraphError(404, "ErrorFolderNotFound", "The specified folder could not be found in the store.")
            return folder
        if low.startswith("archive"):
            # archivemsgfolderroot & co. are EWS names: Graph's mail API cannot reach the online archive.
            raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        number, _ = parse_id(token, "F")
        folder = self.store.folder(number)
        if folder is None or folder.mailbox != call.mailbox or folder.archive:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return folder

    def _family_folder(self, call: Call, kind: Kind) -> Folder:
        """The folder a kind's collection addresses: an explicit one (checked), or the default."""
        defaults = {"message": "drafts", "event": "calendar", "contact": "contacts", "todoTask": "tasks"}
        token = call.args.get("folder")
        if token is None:
            folder = self.store.distinguished(call.mailbox, defaults[kind.name])
            assert folder is not None
            return folder
        if kind.name == "message":
            return self._folder_by_token(call, token)
        number, _ = parse_id(token, "F")
        folder = self.store.folder(number)
        if (
            folder is None
            or folder.mailbox != call.mailbox
            or folder.archive
            or not (folder.folder_class or "").startswith(kind.folder_class)
        ):
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return folder

    def _kind_of(self, call: Call) -> Kind:
        path = call.req.path.lower()
        for segment, kind in (("/events", "event"), ("/contacts", "contact"), ("/tasks", "todoTask")):
            if segment in path:
                return KINDS[kind]
        return KINDS["message"]

    def _item(self, call: Call, kind: Kind) -> Item:
        number, _ = parse_id(call.args["item"], "I")
        item = self.store.item(number)
        folder = self.store.folder(item.folder_id) if item else None
        if item is None or folder is None or folder.mailbox != call.mailbox or folder.archive:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return item

    def _ext_props(self, body: dict, kind: Kind) -> dict[str, object]:
        """The extended properties of a create/update body, as store keys and values."""
        props: dict[str, object] = {}
        for which, multi in (("singleValueExtendedProperties", False), ("multiValueExtendedProperties", True)):
            entries = body.get(which)
            if entries is None:
                continue
            if not kind.ext_props:
                raise GraphError(
                    400,
                    "RequestBodyRead",
                    f"The property '{which}' does not exist on type 'microsoft.graph.{kind.name}'.",
                )
            if not isinstance(entries, list):
                raise GraphError(400, "RequestBodyRead", f"'{which}' must be an array.")
            for entry in entries:
                if not isinstance(entry, dict) or set(entry) - {"id", "value", "@odata.type"}:
                    raise GraphError(400, "RequestBodyRead", f"An entry of '{which}' is {{id, value}}.")
                key, ptype = ext_prop_key(str(entry.get("id", "")), multi)
                value = entry.get("value")
                if multi:
                    if not isinstance(value, list):
                        raise GraphError(400, "RequestBodyRead", "A multi-value property's value is an array.")
                    props[key] = [_prop_value(ptype, v, entry["id"]) for v in value]
                else:
                    props[key] = _prop_value(ptype, value, entry["id"])
        return props

    # --- users -----------------------------------------------------------------------------
    def get_user(self, call: Call) -> GraphResponse:
        user = self.store.user(call.mailbox)
        assert user is not None
        body = {
            "@odata.context": f"{call.req.base_url}/{call.req.version}/$metadata#users/$entity",
            "businessPhones": [],
            "displayName": user.display_name,
            "givenName": user.display_name.split(" ")[0],
            "jobTitle": None,
            "mail": user.address,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": user.display_name.split(" ")[-1],
            "userPrincipalName": user.address,
            "id": user_object_id(user.address),
        }
        return self._json(200, body)

    def get_mailbox_settings(self, call: Call) -> GraphResponse:
        body = {
            "@odata.context": self._ctx(call, "mailboxSettings"),
            "archiveFolder": graph_id("F", self.store.distinguished(call.mailbox, "archive").id),  # type: ignore[union-attr]
            "timeZone": "UTC",
            "dateFormat": "yyyy-MM-dd",
            "timeFormat": "HH:mm",
            "userPurpose": "user",
            "delegateMeetingMessageDeliveryOptions": "sendToDelegateOrInformationOnly",
            "language": {"locale": "en-US", "displayName": "English (United States)"},
            "automaticRepliesSetting": {"status": "disabled", "externalAudience": "all"},
        }
        return self._json(200, body)

    def get_exchange_settings(self, call: Call) -> GraphResponse:
        """beta /settings/exchange: the mailboxes of a user, incl. the In-Place Archive's id (not reachable)."""
        body: dict[str, object] = {
            "@odata.context": self._ctx(call, "settings/exchange/$entity"),
            "primaryMailboxId": mailbox_guid(call.mailbox),
        }
        if self.store.has_archive(call.mailbox):
            body["inPlaceArchiveMailboxId"] = mailbox_guid(call.mailbox, archive=True)
        return self._json(200, body)

    # --- folders ---------------------------------------------------------------------------
    def _folder_json(self, call: Call, folder: Folder) -> dict:
        total, unread = self.store.count_items(folder.id)
        body: dict[str, object] = {
            "id": graph_id("F", folder.id),
            "displayName": folder.display_name,
            "parentFolderId": graph_id("F", folder.parent_id) if folder.parent_id else None,
            "childFolderCount": len(self.store.children(folder.id)),
            "unreadItemCount": unread,
            "totalItemCount": total,
            "isHidden": False,
        }
        if call.req.version == "beta":
            body["wellKnownName"] = folder.distinguished if folder.distinguished in WELL_KNOWN else None
        wanted = _expand_props(call.req).get("single", set())
        if wanted is None or (wanted and CONTAINER_CLASS_KEY in wanted):
            if folder.folder_class:
                body["singleValueExtendedProperties"] = [{"id": "String 0x3613", "value": folder.folder_class}]
            else:
                body["singleValueExtendedProperties"] = []
        return body

    def _select(self, call: Call, body: dict) -> dict:
        select = call.req.query.get("$select")
        if not select:
            return body
        names = {s.strip().lower() for s in select.split(",") if s.strip()}
        keep = {"id", "@odata.etag", "singlevalueextendedproperties", "multivalueextendedproperties", "attachments"}
        return {k: v for k, v in body.items() if k.lower() in names or k.lower() in keep or k.startswith("@odata")}

    def _page(self, call: Call, entries: list, total: int | None, context: str, skip: int, top: int) -> GraphResponse:
        body: dict[str, object] = {"@odata.context": context}
        if call.req.query.get("$count", "").lower() == "true":
            body["@odata.count"] = total
        body["value"] = entries
        if total is not None and entries and skip + len(entries) < total:
            query = dict(call.req.query)
            query["$skip"] = str(skip + len(entries))
            query.setdefault("$top", str(top))
            qs = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in query.items())
            body["@odata.nextLink"] = f"{call.req.base_url}/{call.req.version}{call.req.path}?{qs}"
        return self._json(200, body)

    def _list_folders(self, call: Call, folders: list[Folder], context: str, render: Callable[[Folder], dict]):
        text = call.req.query.get("$filter")
        if text:
            match = _DISPLAYNAME_FILTER.match(text)
            if not match:
                raise GraphError(400, "BadRequest", "Invalid filter clause: only displayName eq '...' is supported.")
            name = _odata_string(match.group(1)).casefold()
            folders = [f for f in folders if f.display_name.casefold() == name]
        top, skip = _paging(call.req)
        page = folders[skip : skip + top]
        return self._page(call, [self._select(call, render(f)) for f in page], len(folders), context, skip, top)

    def list_mail_folders(self, call: Call) -> GraphResponse:
        parent = self._folder_by_token(call, call.args.get("folder", "msgfolderroot"))
        tail = "mailFolders" if "folder" not in call.args else f"mailFolders('{graph_id('F', parent.id)}')/childFolders"
        return self._list_folders(
            call, self.store.children(parent.id), self._ctx(call, tail), lambda f: self._folder_json(call, f)
        )

    def get_mail_folder(self, call: Call) -> GraphResponse:
        folder = self._folder_by_token(call, call.args["folder"])
        body = {"@odata.context": self._ctx(call, "mailFolders/$entity"), **self._folder_json(call, folder)}
        return self._json(200, self._select(call, body))

    def _new_folder(self, parent: Folder, name: object, folder_class: str | None) -> Folder:
        if not isinstance(name, str) or not name.strip():
            raise GraphError(400, "ErrorInvalidRequest", "A folder needs a non-empty display name.")
        try:
            return self.store.create_folder(parent.id, name, folder_class)
        except StoreError as err:
            if err.code == "folder_exists":
                raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.") from None
            raise GraphError(404, "ErrorItemNotFound", str(err)) from None

    def create_mail_folder(self, call: Call) -> GraphResponse:
        body = _json_body(call.req)
        _check_properties(body, _FOLDER_WRITABLE, {"id", "parentFolderId"}, "mailFolder")
        parent = self._folder_by_token(call, call.args.get("folder", "msgfolderroot"))
        props = self._ext_props(body, KINDS["message"])
        folder_class = str(props.pop(CONTAINER_CLASS_KEY, "IPF.Note"))  # PidTagContainerClass, set at creation
        folder = self._new_folder(parent, body.get("displayName"), folder_class)
        answer = {"@odata.context": self._ctx(call, "mailFolders/$entity"), **self._folder_json(call, folder)}
        return self._json(201, answer)

    # calendars -----------------------------------------------------------------------------
    def _calendar_json(self, call: Call, folder: Folder) -> dict:
        user = self.store.user(call.mailbox)
        return {
            "id": graph_id("F", folder.id),
            "name": folder.display_name,
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": folder.distinguished == "calendar",
            "changeKey": base64.b64encode(f"F{folder.id}".encode()).decode(),
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": folder.distinguished != "calendar",
            "owner": {"name": user.display_name if user else call.mailbox, "address": call.mailbox},
        }

    def _all_folders(self, call: Call, folder_class: str) -> list[Folder]:
        root = self.store.distinguished(call.mailbox, "msgfolderroot")
        assert root is not None
        return [f for f in self.store.descendants(root.id) if (f.folder_class or "").startswith(folder_class)]

    def list_calendars(self, call: Call) -> GraphResponse:
        return self._list_folders(
            call,
            self._all_folders(call, "IPF.Appointment"),
            self._ctx(call, "calendars"),
            lambda f: self._calendar_json(call, f),
        )

    def get_calendar(self, call: Call) -> GraphResponse:
        folder = self._family_folder(call, KINDS["event"])
        body = {"@odata.context": self._ctx(call, "calendars/$entity"), **self._calendar_json(call, folder)}
        return self._json(200, self._select(call, body))

    def create_calendar(self, call: Call) -> GraphResponse:
        body = _json_body(call.req)
        _check_properties(body, {"name", "color", "hexColor"}, {"id"}, "calendar")
        root = self.store.distinguished(call.mailbox, "msgfolderroot")
        assert root is not None
        folder = self._new_folder(root, body.get("name"), "IPF.Appointment")
        answer = {"@odata.context": self._ctx(call, "calendars/$entity"), **self._calendar_json(call, folder)}
        return self._json(201, answer)

    # contact folders -----------------------------------------------------------------------
    @staticmethod
    def _contact_folder_json(folder: Folder) -> dict:
        return {
            "id": graph_id("F", folder.id),
            "displayName": folder.display_name,
            "parentFolderId": graph_id("F", folder.parent_id) if folder.parent_id else None,
        }

    def _contact_parent(self, call: Call) -> Folder:
        if "folder" in call.args:
            return self._family_folder(call, KINDS["contact"])
        folder = self.store.distinguished(call.mailbox, "contacts")
        assert folder is not None
        return folder

    def list_contact_folders(self, call: Call) -> GraphResponse:
        parent = self._contact_parent(call)
        folders = [f for f in self.store.children(parent.id) if (f.folder_class or "").startswith("IPF.Contact")]
        return self._list_folders(call, folders, self._ctx(call, "contactFolders"), self._contact_folder_json)

    def get_contact_folder(self, call: Call) -> GraphResponse:
        folder = self._family_folder(call, KINDS["contact"])
        body = {"@odata.context": self._ctx(call, "contactFolders/$entity"), **self._contact_folder_json(folder)}
        return self._json(200, self._select(call, body))

    def create_contact_folder(self, call: Call) -> GraphResponse:
        body = _json_body(call.req)
        _check_properties(
            body,
            {"displayName", "singleValueExtendedProperties", "multiValueExtendedProperties"},
            {"id"},
            "contactFolder",
        )
        parent = self._contact_parent(call)
        if body.get("parentFolderId"):
            raise GraphError(400, "RequestBodyRead", "Use /contactFolders/{id}/childFolders to nest contact folders.")
        folder = self._new_folder(parent, body.get("displayName"), "IPF.Contact")
        answer = {"@odata.context": self._ctx(call, "contactFolders/$entity"), **self._contact_folder_json(folder)}
        return self._json(201, answer)

    # To Do lists ---------------------------------------------------------------------------
    @staticmethod
    def _task_list_json(folder: Folder) -> dict:
        return {
            "@odata.etag": f'W/"{base64.b64encode(f"L{folder.id}".encode()).decode()}"',
            "displayName": folder.display_name,
            "isOwner": True,
            "isShared": False,
            "wellknownListName": "defaultList" if folder.distinguished == "tasks" else "none",
            "id": graph_id("F", folder.id),
        }

    def list_task_lists(self, call: Call) -> GraphResponse:
        context = self._ctx(call, "todo/lists")
        return self._list_folders(call, self._all_folders(call, "IPF.Task"), context, self._task_list_json)

    def get_task_list(self, call: Call) -> GraphResponse:
        folder = self._family_folder(call, KINDS["todoTask"])
        body = {"@odata.context": self._ctx(call, "todo/lists/$entity"), **self._task_list_json(folder)}
        return self._json(200, self._select(call, body))

    def create_task_list(self, call: Call) -> GraphResponse:
        body = _json_body(call.req)
        _check_properties(
            body, {"displayName", "extensions"}, {"id", "isOwner", "isShared", "wellknownListName"}, "todoTaskList"
        )
        root = self.store.distinguished(call.mailbox, "msgfolderroot")
        assert root is not None
        folder = self._new_folder(root, body.get("displayName"), "IPF.Task")
        answer = {"@odata.context": self._ctx(call, "todo/lists/$entity"), **self._task_list_json(folder)}
        return self._json(201, answer)

    # --- items -----------------------------------------------------------------------------
    _ACCEPTED_KINDS = {
        "message": ("Message", "Item", "PostItem"),
        "event": ("CalendarItem",),
        "contact": ("Contact",),
        "todoTask": ("Task",),
    }

    def _new_item(self, body: dict, kind: Kind) -> NewItem:
        _check_properties(body, set(kind.writable), set(kind.readonly), kind.name)
        props = self._ext_props(body, kind)
        fields = kind.to_fields(body)
        flags_value = props.pop(FLAGS_KEY, None)  # PidTagMessageFlags: only honoured in the create request
        item_class = str(props.pop(prop_key("String", tag=mapi.PidTagMessageClass.id), "") or kind.item_class)
        if kind.name == "message":
            for header in body.get("internetMessageHeaders") or []:
                name = header.get("name", "") if isinstance(header, dict) else ""
                if not str(name).lower().startswith("x-") or set(header) - {"name", "value"}:
                    raise GraphError(
                        400,
                        "InvalidInternetMessageHeader",
                        f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                    )
            flags = int(str(flags_value)) if flags_value is not None else mapi.MSGFLAG_UNSENT
            if "isRead" in body:
                flags = (flags | mapi.MSGFLAG_READ) if body["isRead"] else (flags & ~mapi.MSGFLAG_READ)
        else:
            flags = int(str(flags_value)) if flags_value is not None else mapi.MSGFLAG_READ
        attachments = [self._attachment_record(a) for a in body.get("attachments") or []]
        if attachments:
            fields.append(["HasAttachments", {}, "true"])
            props[_ATTACHMENTS_KEY] = attachments
        props[GRAPH_JSON_KEY] = {
            k: v
            for k, v in body.items()
            if k not in ("singleValueExtendedProperties", "multiValueExtendedProperties", "attachments")
            and k not in kind.readonly
            and not k.startswith("@odata")
        }
        linked = [str(r.get("externalId")) for r in body.get("linkedResources") or [] if r.get("externalId")]
        if linked:
            props[LINKED_KEY] = linked
        if kind.name == "event":
            calendar_graph.on_create(body, props)  # a recurrence makes it a series master
        # the subject: PidTagSubject when set (a contact has no subject field), else the resource's own field
        subject = props.pop(SUBJECT_KEY, None) or body.get("title" if kind.name == "todoTask" else "subject")
        new = NewItem(kind.item_kind, item_class, str(subject) if subject is not None else None, None, flags, fields)
        new.props = props
        return new

    def create_item(self, call: Call) -> GraphResponse:
        kind = self._kind_of(call)
        folder = self._family_folder(call, kind)
        ctype = call.req.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind.name == "message" and ctype == "text/plain":
            new = self._mime_item(call, draft=True)  # v1.0 create from MIME: always a draft
        else:
            new = self._new_item(_json_body(call.req), kind)
        self._check_size(new)
        item = self.store.create_items(folder.id, [new])[0]
        return self._json(201, self._item_json(call, item, kind, entity=True))

    def import_mime(self, call: Call) -> GraphResponse:
        """beta mailFolder importMime: a non-draft message from base64 MIME, as if delivered."""
        if not self.knobs.knobs.graph_import_mime:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        folder = self._folder_by_token(call, call.args["folder"])
        new = self._mime_item(call, draft=False)
        self._check_size(new)
        item = self.store.create_items(folder.id, [new])[0]
        return self._json(201, self._item_json(call, item, KINDS["message"], entity=True))

    def _mime_item(self, call: Call, draft: bool) -> NewItem:
        ctype = call.req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "text/plain":
            raise GraphError(
                415, "UnsupportedMediaType", "MIME content is sent as base64 with Content-Type text/plain."
            )
        try:
            mime = base64.b64decode(b"".join(call.req.body.split()), validate=True)
        except (binascii.Error, ValueError):
            mime = b""
        if not mime:
            raise GraphError(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
        new = NewItem("Message", "IPM.Note", mime=mime, message_flags=mapi.MSGFLAG_UNSENT if draft else 0)
        EwsService._fields_from_mime(new)
        new.props.update(promoted_headers(mime))
        return new

    def _check_size(self, new: NewItem) -> None:
        size = len(new.mime or b"") + sum(int(a.get("size", 0)) for a in new.props.get(_ATTACHMENTS_KEY, []))
        if size > self.knobs.knobs.max_item_bytes:
            raise GraphError(413, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")

    def _items_in(self, call: Call, kind: Kind) -> list[int]:
        accepted = self._ACCEPTED_KINDS[kind.name]
        if kind.name == "message" and "folder" not in call.args:
            root = self.store.distinguished(call.mailbox, "root")
            assert root is not None
            ids: list[int] = []
            for folder in self.store.descendants(root.id):
                ids += self.store.item_ids(folder.id, accepted)
            return sorted(ids)
        return self.store.item_ids(self._family_folder(call, kind).id, accepted)

    def list_items(self, call: Call) -> GraphResponse:
        kind = self._kind_of(call)
        ids = self._items_in(call, kind)
        text = call.req.query.get("$filter")
        if text:
            ext = _EXT_FILTER.match(text)
            linked = _LINKED_FILTER.match(text)
            if ext and kind.ext_props:
                key, ptype = ext_prop_key(_odata_string(ext.group(2)))
                value = _prop_value(ptype, _odata_string(ext.group(3)), ext.group(2))
                if key == FLAGS_KEY:
                    wanted = {it.id for it in map(self.store.item, ids) if it and it.message_flags == int(value)}
                else:
                    wanted = {it.id for it in self.store.find_by_prop(key, value)}
                ids = [i for i in ids if i in wanted]
            elif linked and kind.name == "todoTask":
                external = _odata_string(linked.group(2))
                ids = [i for i in ids if external in ((self.store.item(i) or _NO_ITEM).props.get(LINKED_KEY) or [])]
            else:
                raise GraphError(400, "BadRequest", f"Invalid filter clause: '{text[:80]}' is not supported here.")
        top, skip = _paging(call.req)
        page = [self.store.item(i) for i in ids[skip : skip + top]]
        entries = [self._item_json(call, it, kind) for it in page if it is not None]
        tail = {"message": "messages", "event": "events", "contact": "contacts", "todoTask": "todo/lists/tasks"}
        return self._page(call, entries, len(ids), self._ctx(call, tail[kind.name]), skip, top)

    def get_item(self, call: Call) -> GraphResponse:
        kind = self._kind_of(call)
        item = self._item(call, kind)
        if item.kind not in self._ACCEPTED_KINDS[kind.name]:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return self._json(200, self._item_json(call, item, kind, entity=True))

    def update_item(self, call: Call) -> GraphResponse:
        """PATCH a message: fields and extended properties change, PidTagMessageFlags does not (Exchange)."""
        kind = KINDS["message"]
        item = self._item(call, kind)
        body = _json_body(call.req)
        if self.knobs.knobs.graph_fail_patch:
            raise GraphError(500, "InternalServerError", "The sandbox refuses PATCH (knob graph_fail_patch).")
        if "attachments" in body:
            raise GraphError(400, "ErrorInvalidRequest", "Add attachments with POST .../attachments.")
        _check_properties(body, set(kind.writable), set(kind.readonly), kind.name)
        props = self._ext_props(body, kind)
        props.pop(FLAGS_KEY, None)  # silently ignored after creation, as Exchange does
        flags = item.message_flags
        if "isRead" in body:
            flags = (flags | mapi.MSGFLAG_READ) if body["isRead"] else (flags & ~mapi.MSGFLAG_READ)
        new_fields = message_fields(body)
        replaced = {n[0] for n in new_fields}
        fields = [n for n in item.fields if n[0] not in replaced] + new_fields
        graph_json = dict(item.props.get(GRAPH_JSON_KEY) or {})
        graph_json.update(
            {
                k: v
                for k, v in body.items()
                if k not in ("singleValueExtendedProperties", "multiValueExtendedProperties") and k not in kind.readonly
            }
        )
        props[GRAPH_JSON_KEY] = graph_json
        subject = str(body["subject"]) if "subject" in body else item.subject
        item_class = props.pop(prop_key("String", tag=mapi.PidTagMessageClass.id), None)
        updated = self.store.update_item(
            item.id,
            subject=subject,
            message_flags=flags,
            fields=fields,
            props=props,
            item_class=str(item_class) if item_class else None,
        )
        assert updated is not None
        return self._json(200, self._item_json(call, updated, kind, entity=True))

    def get_mime(self, call: Call) -> GraphResponse:
        item = self._item(call, KINDS["message"])
        mime = self.store.mime(item)
        if mime is None:
            mime = _synthesize_mime(item, fields_to_graph(item) | dict(item.props.get(GRAPH_JSON_KEY) or {}))
        return GraphResponse(200, mime, "text/plain")

    # --- item JSON ---------------------------------------------------------------------------
    def _item_json(self, call: Call, item: Item, kind: Kind, entity: bool = False) -> dict:
        graph = fields_to_graph(item)
        graph.update(item.props.get(GRAPH_JSON_KEY) or {})
        change = base64.b64encode(f"CK{item.id}.{len(item.fields)}.{item.message_flags}".encode()).decode()
        out: dict[str, object] = {}
        if entity:
            tail = {"message": "messages", "event": "events", "contact": "contacts", "todoTask": "todo/lists/tasks"}
            out["@odata.context"] = self._ctx(call, f"{tail[kind.name]}/$entity")
        out["@odata.etag"] = f'W/"{change}"'
        out["id"] = graph_id("I", item.id)
        out["createdDateTime"] = item.created
        out["lastModifiedDateTime"] = item.created
        listed = attachments_mod.attachments(self.store, item)
        has_attachments = attachments_mod.visible(listed)
        if kind.name == "message":
            sent = item.props.get(SUBMIT_KEY) or graph.get("sentDateTime")
            out |= {
                "changeKey": change,
                "categories": graph.get("categories", []),
                "receivedDateTime": _iso(item.props.get(DELIVERY_KEY)) or item.created,  # type: ignore[arg-type]
                # no submit time: Graph answers the creation time, drafts included (see "Create message" in the
                # Graph reference, whose draft has sentDateTime = receivedDateTime)
                "sentDateTime": _iso(sent) if sent else item.created,  # type: ignore[arg-type]
                "hasAttachments": has_attachments,
                "internetMessageId": graph.get("internetMessageId"),
                "subject": item.subject,
                "bodyPreview": _preview(graph.get("body")),
                "importance": str(graph.get("importance", "normal")).lower(),
                "parentFolderId": graph_id("F", item.folder_id),
                "conversationId": graph_id("C", item.id),
                "isDeliveryReceiptRequested": bool(graph.get("isDeliveryReceiptRequested", False)),
                "isReadReceiptRequested": bool(graph.get("isReadReceiptRequested", False)),
                "isRead": item.is_read,
                "isDraft": item.is_draft,
                "webLink": f"https://outlook.office365.com/owa/?ItemID={out['id']}&viewmodel=ReadMessageItem",
                "inferenceClassification": graph.get("inferenceClassification", "focused"),
                "body": graph.get("body") or {"contentType": "text", "content": ""},
                "sender": graph.get("sender") or graph.get("from"),
                "from": graph.get("from"),
                "toRecipients": graph.get("toRecipients", []),
                "ccRecipients": graph.get("ccRecipients", []),
                "bccRecipients": graph.get("bccRecipients", []),
                "replyTo": graph.get("replyTo", []),
                "flag": graph.get("flag") or {"flagStatus": "notFlagged"},
            }
            if graph.get("internetMessageHeaders"):
                out["internetMessageHeaders"] = graph["internetMessageHeaders"]
        elif kind.name == "event":
            out |= {
                "changeKey": change,
                "categories": graph.get("categories", []),
                "subject": item.subject,
                "bodyPreview": _preview(graph.get("body")),
                "body": graph.get("body") or {"contentType": "text", "content": ""},
                "importance": str(graph.get("importance", "normal")).lower(),
                "sensitivity": graph.get("sensitivity", "normal"),
                "isAllDay": bool(graph.get("isAllDay", False)),
                "isCancelled": False,
                "isOrganizer": True,
                "isReminderOn": bool(graph.get("isReminderOn", True)),
                "reminderMinutesBeforeStart": graph.get("reminderMinutesBeforeStart", 15),
                "showAs": graph.get("showAs", "busy"),
                "type": "seriesMaster" if graph.get("recurrence") or _SERIES in item.props else "singleInstance",
                "hasAttachments": has_attachments,
                "start": graph.get("start"),
                "end": graph.get("end"),
                "location": graph.get("location") or {"displayName": ""},
                "locations": graph.get("locations", []),
                "recurrence": graph.get("recurrence"),
                "attendees": [
                    {"type": "required", **a, "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}}
                    for a in graph.get("attendees", [])
                ],
                "organizer": graph.get("organizer") or {"emailAddress": {"address": call.mailbox}},
            }
        elif kind.name == "contact":
            out |= {
                "changeKey": change,
                "categories": graph.get("categories", []),
                "parentFolderId": graph_id("F", item.folder_id),
            }
            out |= {k: v for k, v in graph.items() if k in kind.writable and k not in out and k not in _RELATIONSHIPS}
            out.setdefault("displayName", item.subject or "")
            out.setdefault("emailAddresses", [])
        else:  # todoTask
            out |= {
                "importance": str(graph.get("importance", "normal")).lower(),
                "isReminderOn": bool(graph.get("isReminderOn", False)),
                "status": graph.get("status", "notStarted"),
                "title": item.subject,
                "categories": graph.get("categories", []),
                "hasAttachments": has_attachments,
                "body": graph.get("body") or {"content": "", "contentType": "text"},
            }
            out |= {k: v for k, v in graph.items() if k in kind.writable and k not in out and k not in _RELATIONSHIPS}
        if _prefers_text(call.req) and isinstance(out.get("body"), dict) and out["body"].get("contentType") == "html":
            # Prefer: outlook.body-content-type="text" (Graph message/event reference): the body as text; Exchange
            # keeps both (the MIME's text part), else converts the HTML
            text = next((n[2] for n in item.fields if n[0] == "TextBody" and isinstance(n[2], str)), None)
            content = text if text is not None else mimefields.html_to_text(str(out["body"].get("content") or ""))
            out["body"] = {"contentType": "text", "content": content}
        out = self._select(call, out)
        expand = _expand_props(call.req)
        if "linkedresources" in expand and kind.name == "todoTask":
            out["linkedResources"] = [
                {"id": graph_id("L", item.id, n), **r} for n, r in enumerate(graph.get("linkedResources") or [])
            ]
        for which, multi in (("single", False), ("multi", True)):
            if which not in expand:
                continue
            wanted = expand[which]
            entries = []
            values = dict(item.props)
            if not multi:
                # computed MAPI properties every item has (Exchange answers them like any other)
                values[CLASS_KEY] = item.item_class
                if item.subject is not None:
                    values.setdefault(SUBJECT_KEY, item.subject)
            if kind.name == "message" and not multi:
                values[FLAGS_KEY] = str(item.message_flags)
            for key, value in values.items():
                if key in _PRIVATE or (wanted is not None and key not in wanted):
                    continue
                if multi != isinstance(value, list):
                    continue
                prop_id = prop_id_of(key)
                if prop_id is not None:
                    entries.append({"id": prop_id, "value": [str(v) for v in value] if multi else str(value)})
            if entries:
                out[f"{which}ValueExtendedProperties"] = entries
        if "attachments" in expand:
            out["attachments"] = [self._attachment_view_json(call, item, a) for a in listed]
        return out

    # --- attachments -------------------------------------------------------------------------
    def _attachment_record(self, body: object, limit: int = MAX_ATTACHMENT_POST_BYTES) -> dict:
        if not isinstance(body, dict):
            raise GraphError(400, "RequestBodyRead", "An attachment is a JSON object.")
        odata = str(body.get("@odata.type", "")).lstrip("#").lower()
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if odata == "microsoft.graph.fileattachment":
            allowed = {
                "@odata.type",
                "name",
                "contentType",
                "contentBytes",
                "isInline",
                "contentId",
                "contentLocation",
                "size",
                "id",
                "lastModifiedDateTime",
            }
            _check_properties(body, allowed, set(), "fileAttachment")
            try:
                content = base64.b64decode(str(body.get("contentBytes") or ""), validate=True)
            except (binascii.Error, ValueError):
                raise GraphError(400, "RequestBodyRead", "contentBytes is not valid base64.") from None
            if len(content) > limit:
                raise GraphError(
                    413,
                    "RequestEntityTooLarge",
                    "Attachments over 3 MB must be uploaded through an upload session (createUploadSession).",
                )
            return {
                "type": "file",
                "name": str(body.get("name") or ""),
                "contentType": body.get("contentType") or "application/octet-stream",
                "size": len(content),
                "isInline": bool(body.get("isInline", False)),
                "contentId": body.get("contentId"),
                "blob": self.store.put_blob(content),
                "lastModifiedDateTime": now,
            }
        if odata == "microsoft.graph.itemattachment":
            _check_properties(
                body, {"@odata.type", "name", "item", "isInline", "contentType", "size", "id"}, set(), "itemAttachment"
            )
            item = body.get("item")
            if not isinstance(item, dict):
                raise GraphError(400, "RequestBodyRead", "An itemAttachment needs an 'item'.")
            item_type = str(item.get("@odata.type", "#microsoft.graph.message")).lstrip("#").split(".")[-1]
            if item_type not in KINDS:
                raise GraphError(400, "RequestBodyRead", f"An itemAttachment cannot hold a '{item_type}'.")
            inner = {k: v for k, v in item.items() if k != "@odata.type"}
            KINDS[item_type].to_fields(inner)  # refuses what the item resource would refuse
            _check_properties(inner, set(KINDS[item_type].writable), set(KINDS[item_type].readonly), item_type)
            size = len(json.dumps(item))
            if size > limit:
                raise GraphError(413, "RequestEntityTooLarge", "The item attachment is too large for one request.")
            return {
                "type": "item",
                "name": str(body.get("name") or item.get("subject") or ""),
                "contentType": None,
                "size": size,
                "isInline": bool(body.get("isInline", False)),
                "item": item,
                "lastModifiedDateTime": now,
            }
        raise GraphError(
            400,
            "RequestBodyRead",
            "An attachment's @odata.type must be #microsoft.graph.fileAttachment or itemAttachment.",
        )

    def _attachment_json(self, call: Call, item: Item, index: int, record: dict, content: bool = True) -> dict:
        out: dict[str, object] = {
            "@odata.type": "#microsoft.graph.fileAttachment"
            if record["type"] == "file"
            else "#microsoft.graph.itemAttachment",
            "id": graph_id("A", item.id, index),
            "lastModifiedDateTime": record.get("lastModifiedDateTime"),
            "name": record["name"],
            "contentType": record.get("contentType"),
            "size": record["size"],
            "isInline": record.get("isInline", False),
        }
        if record["type"] == "file":
            out["contentId"] = record.get("contentId")
            out["contentLocation"] = None
            if content:
                out["contentBytes"] = base64.b64encode(self.store.blob(record["blob"])).decode()
        elif content and "item" in call.req.query.get("$expand", ""):
            out["item"] = record["item"]
        return out

    def _add_attachments(self, item: Item, records: list[dict]) -> Item:
        existing = list(item.props.get(_ATTACHMENTS_KEY) or [])
        total = item.size + sum(r["size"] for r in records)
        if total > self.knobs.knobs.max_item_bytes:
            raise GraphError(413, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
        fields = [n for n in item.fields if n[0] != "HasAttachments"] + [["HasAttachments", {}, "true"]]
        updated = self.store.update_item(
            item.id,
            fields=fields,
            props={_ATTACHMENTS_KEY: existing + records},
            size=total,
        )
        assert updated is not None
        return updated

    def _attachment_view_json(
        self, call: Call, item: Item, att: attachments_mod.Attachment, content: bool = True
    ) -> dict:
        """An attachment, stored record or part of the item's MIME (what Exchange made of it), as Graph JSON."""
        if att.record is not None:
            return self._attachment_json(call, item, att.path[0], att.record, content)
        record: dict = {
            "type": att.kind,
            "name": att.name,
            "contentType": att.content_type,
            "size": att.size,
            "isInline": att.is_inline,
            "contentId": att.content_id,
            "lastModifiedDateTime": att.last_modified,
        }
        out = self._attachment_json(call, item, att.path[0], record, content=False)
        if att.kind == "file" and content:
            out["contentBytes"] = base64.b64encode(att.content()).decode()
        return out

    def _attachment(self, call: Call, item: Item) -> attachments_mod.Attachment:
        number, index = parse_id(call.args["attachment"], "A")
        listed = attachments_mod.attachments(self.store, item)
        if number != item.id or index is None or index >= len(listed):
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return listed[index]

    def get_attachment_value(self, call: Call) -> GraphResponse:
        """GET .../attachments/{id}/$value: a file's bytes, or an item attachment's MIME (Graph: "Get the raw
        contents of a file or item attachment")."""
        item = self._item(call, KINDS["message"])
        att = self._attachment(call, item)
        if att.kind == "file":
            return GraphResponse(200, att.content(), att.content_type or "application/octet-stream")
        mime = att.mime
        if mime is None:
            raise GraphError(404, "ErrorItemNotFound", "The attached item has no MIME content.")
        return GraphResponse(200, mime, "text/plain")

    def list_attachments(self, call: Call) -> GraphResponse:
        item = self._item(call, KINDS["message"])
        entries = [self._attachment_view_json(call, item, a) for a in attachments_mod.attachments(self.store, item)]
        return self._page(call, entries, len(entries), self._ctx(call, "messages/attachments"), 0, len(entries) or 1)

    def add_attachment(self, call: Call) -> GraphResponse:
        item = self._item(call, KINDS["message"])
        record = self._attachment_record(_json_body(call.req))
        index = len(attachments_mod.attachments(self.store, item))
        item = self._add_attachments(item, [record])
        body = {"@odata.context": self._ctx(call, "messages/attachments/$entity")}
        body |= self._attachment_json(call, item, index, record, content=False)
        return self._json(201, body)

    def get_attachment(self, call: Call) -> GraphResponse:
        item = self._item(call, KINDS["message"])
        att = self._attachment(call, item)
        body = {"@odata.context": self._ctx(call, "messages/attachments/$entity")}
        body |= self._attachment_view_json(call, item, att)
        return self._json(200, body)

    # --- upload sessions ---------------------------------------------------------------------
    def create_upload_session(self, call: Call) -> GraphResponse:
        item = self._item(call, KINDS["message"])
        body = _json_body(call.req)
        _check_properties(body, {"AttachmentItem"}, set(), "uploadSession")
        spec = body.get("AttachmentItem")
        allowed = {"attachmentType", "name", "size", "contentType", "isInline", "contentId"}
        if not isinstance(spec, dict):
            raise GraphError(400, "RequestBodyRead", "createUploadSession needs an AttachmentItem.")
        _check_properties(spec, allowed, set(), "attachmentItem")
        if spec.get("attachmentType", "file") != "file" or not spec.get("name"):
            raise GraphError(400, "ErrorInvalidRequest", "An upload session takes a file attachment with a name.")
        size = spec.get("size")
        if not isinstance(size, int) or size < 1:
            raise GraphError(
                400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", "The attachment size is missing or 0."
            )
        if size > MAX_UPLOAD_SESSION_BYTES or item.size + size > self.knobs.knobs.max_item_bytes:
            raise GraphError(413, "ErrorMessageSizeExceeded", "The attachment exceeds the maximum supported size.")
        session_id = uuid.uuid4().hex
        token = secrets.token_urlsafe(24)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=UPLOAD_SESSION_LIFETIME_S)
        spool = self.store.state_dir / "uploads"
        spool.mkdir(exist_ok=True)
        with self._sessions_lock:
            self._sessions[session_id] = {
                "token": token,
                "mailbox": call.mailbox,
                "principal": call.req.principal,
                "item_id": item.id,
                "spec": spec,
                "size": size,
                "received": 0,
                "expires": expires,
                "path": spool / session_id,
                "lock": threading.Lock(),
                "version": call.req.version,
            }
        (spool / session_id).write_bytes(b"")
        answer = {
            "@odata.context": f"{call.req.base_url}/{call.req.version}/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": f"{call.req.base_url}/api/v2.0/AttachmentSessions/{session_id}?authtoken={token}",
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "nextExpectedRanges": ["0-"],
        }
        return self._json(201, answer)

    def _upload_chunk(self, session_id: str, req: GraphRequest) -> GraphResponse:
        with self._sessions_lock:
            session = self._sessions.get(session_id)
        if session is None or session["expires"] < dt.datetime.now(dt.UTC):
            raise GraphError(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
        if not secrets.compare_digest(req.query.get("authtoken", ""), session["token"]):
            raise GraphError(401, "InvalidAuthenticationToken", "The upload URL's authtoken is not valid.")
        if req.method != "PUT":
            raise GraphError(405, "Request_BadRequest", "Upload chunks with PUT.")
        if "authorization" in req.headers:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Do not send an Authorization header to a pre-authenticated upload URL.",
            )
        route = Route("PUT", re.compile(""), "upload_chunk", uploads=True)
        call = Call(
            GraphRequest(
                "PUT", session["version"], "", req.query, req.headers, req.body, session["principal"], req.base_url
            ),
            route,
            session["mailbox"],
            {},
            "AttachmentSessions",
        )
        return self._gated(call, lambda: self._store_chunk(call, session_id, session))

    def _store_chunk(self, call: Call, session_id: str, session: dict) -> GraphResponse:
        match = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", call.req.headers.get("content-range", "").strip())
        if not match:
            raise GraphError(400, "InvalidContentRange", "A Content-Range header 'bytes first-last/total' is required.")
        first, last, total = (int(g) for g in match.groups())
        data = call.req.body
        with session["lock"]:
            if total != session["size"]:
                raise GraphError(400, "InvalidContentRange", f"The total size must be {session['size']}.")
            if first != session["received"] or last < first or last >= total:
                raise GraphError(
                    416, "InvalidRange", f"The expected range starts at {session['received']}: nextExpectedRanges."
                )
            if len(data) != last - first + 1:
                raise GraphError(400, "InvalidContentRange", "Content-Range and the body length disagree.")
            if len(data) > MAX_UPLOAD_CHUNK_BYTES:
                raise GraphError(413, "RequestEntityTooLarge", "A chunk may be at most 4 MB.")
            if last + 1 < total and len(data) % UPLOAD_CHUNK_MULTIPLE:
                raise GraphError(
                    400, "InvalidChunkSize", "Every chunk but the last must be a multiple of 320 KiB (327,680 bytes)."
                )
            with open(session["path"], "ab") as fh:
                fh.write(data)
            session["received"] = last + 1
            if session["received"] < total:
                body = {
                    "@odata.context": f"{call.req.base_url}/{call.req.version}/$metadata#microsoft.graph.uploadSession",
                    "expirationDateTime": session["expires"].strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                    "nextExpectedRanges": [f"{session['received']}-"],
                }
                return self._json(200, body)
            content = session["path"].read_bytes()
            session["path"].unlink(missing_ok=True)
        with self._sessions_lock:
            self._sessions.pop(session_id, None)
        spec = session["spec"]
        item = self.store.item(session["item_id"])
        if item is None:
            raise GraphError(404, "ErrorItemNotFound", "The message of this upload session is gone.")
        record = {
            "type": "file",
            "name": str(spec["name"]),
            "contentType": spec.get("contentType") or "application/octet-stream",
            "size": len(content),
            "isInline": bool(spec.get("isInline", False)),
            "contentId": spec.get("contentId"),
            "blob": self.store.put_blob(content),
            "lastModifiedDateTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        index = len(attachments_mod.attachments(self.store, item))
        self._add_attachments(item, [record])
        location = (
            f"{call.req.base_url}/{call.req.version}/users/{quote(session['mailbox'])}/messages/"
            f"{graph_id('I', item.id)}/attachments/{graph_id('A', item.id, index)}"
        )
        return GraphResponse(201, b"", headers=[("Location", location)])


_NO_ITEM = Item(0, 0, "", "", None, 0, 0, None, [], {}, "")


def _preview(body: object) -> str:
    if not isinstance(body, dict):
        return ""
    text = str(body.get("content") or "")
    if str(body.get("contentType", "")).lower() == "html":
        text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:255]


def _synthesize_mime(item: Item, graph: dict) -> bytes:
    """A MIME rendering of an item created from JSON (what GET .../$value answers)."""
    from email.message import EmailMessage

    msg = EmailMessage()
    if item.subject:
        msg["Subject"] = item.subject
    sender = graph.get("from") or {}
    if sender.get("emailAddress", {}).get("address"):
        msg["From"] = sender["emailAddress"]["address"]
    to = [r["emailAddress"].get("address", "") for r in graph.get("toRecipients") or []]
    if to:
        msg["To"] = ", ".join(a for a in to if a)
    body = graph.get("body") or {}
    msg.set_content(str(body.get("content") or ""), subtype="html" if body.get("contentType") == "html" else "plain")
    return msg.as_bytes()
