"""Wire primitives shared by the sandbox's EWS modules: namespaces, faults, ids, XML helpers,
extended-property keys, paging and restrictions.

`ews.py` (the service: envelope, dispatch, folders, CreateItem) and `ewsread.py` (GetItem,
FindItem, GetAttachment: what a client reads back) both build on these.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from core.mapi import props as mapi
from core.sandbox.server.store import prop_key

# --- wire constants (EWS, MS-OXWS*) ---------------------------------------------------------
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
E_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
S = f"{{{SOAP_NS}}}"
M = f"{{{M_NS}}}"
T = f"{{{T_NS}}}"

# DistinguishedPropertySetId names (MS-OXWSXPROP) and the property sets they stand for.
DISTINGUISHED_PROPERTY_SETS = {
    "Meeting": mapi.PSETID_Meeting,
    "Appointment": mapi.PSETID_Appointment,
    "Common": mapi.PSETID_Common,
    "PublicStrings": mapi.PS_PUBLIC_STRINGS,
    "Address": mapi.PSETID_Address,
    "InternetHeaders": mapi.PS_INTERNET_HEADERS,
    "CalendarAssistant": mapi.PSETID_CalendarAssistant,
    "UnifiedMessaging": mapi.PSETID_UnifiedMessaging,
    "Task": mapi.PSETID_Task,
    "Sharing": mapi.PSETID_Sharing,
}
_INT_TYPES = {"Integer", "Short", "Long", "Error", "Currency"}
_ID_MAGIC = b"SBX1"


class EwsFault(Exception):
    """An error answered as a SOAP fault (HTTP 500), as Exchange does for envelope-level failures."""

    def __init__(
        self,
        code: str,
        message: str,
        back_off_ms: int | None = None,
        status: int = 500,
        details: list[tuple[str, str] | tuple[str, str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.back_off_ms = back_off_ms
        self.status = status
        self.details = details or []  # MessageXml children: (t: element, text) or (t: element, text, Name=)


class OpError(Exception):
    """An error answered inside one ResponseMessage (ResponseClass="Error")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


STORE_ERRORS = {
    "folder_exists": "ErrorFolderExists",
    "folder_not_found": "ErrorFolderNotFound",
}


@dataclass(frozen=True)
class Principal:
    """Who authenticated: a mailbox user, or an OAuth application (client credentials)."""

    name: str
    kind: str = "user"  # user | app


# --- ids --------------------------------------------------------------------------------------
def encode_id(kind: str, number: int) -> str:
    return base64.b64encode(_ID_MAGIC + kind.encode() + struct.pack(">Q", number)).decode()


def decode_id(value: str, kind: str) -> int:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise OpError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    if len(raw) != 13 or not raw.startswith(_ID_MAGIC) or raw[4:5] != kind.encode():
        raise OpError("ErrorInvalidIdMalformed", "Id is malformed.")
    return struct.unpack(">Q", raw[5:])[0]


def change_key(kind: str, number: int) -> str:
    return base64.b64encode(b"CK" + kind.encode() + struct.pack(">Q", number)).decode()


def encode_attachment_id(item_id: int, path: tuple[int, ...]) -> str:
    """An AttachmentId: the item and the attachment's index at each level (embedded messages nest)."""
    raw = _ID_MAGIC + b"A" + struct.pack(">QB", item_id, len(path)) + b"".join(struct.pack(">H", i) for i in path)
    return base64.b64encode(raw).decode()


def decode_attachment_id(value: str) -> tuple[int, tuple[int, ...]]:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise OpError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    if len(raw) < 14 or not raw.startswith(_ID_MAGIC) or raw[4:5] != b"A" or len(raw) != 14 + 2 * raw[13]:
        raise OpError("ErrorInvalidIdMalformed", "Id is malformed.")
    item_id, depth = struct.unpack(">QB", raw[5:14])
    return item_id, tuple(struct.unpack(f">{depth}H", raw[14:])) if depth else ()


# --- values as Exchange writes them -------------------------------------------------------------
_EWS_TIME = "%Y-%m-%dT%H:%M:%SZ"


# Element names types.xsd declares xs:boolean / xs:dateTime (extracted from ../shared/ews-schema/types.xsd):
# what a request stored verbatim ("1", "2019-01-01T10:00:00.1234567+02:00") is answered in Exchange's form.
BOOLEAN_ELEMENTS = frozenset(
    (
        "AddBlankTargetToLinks",
        "AllowNewTimeProposal",
        "AtAllMention",
        "AttachmentIsFolder",
        "BccRecipient",
        "BlockExternalImages",
        "BlockStatus",
        "CanCreateItems",
        "CanCreateSubFolders",
        "CanDelete",
        "CanRenameOrMove",
        "ConvertHtmlCodePageToUTF8",
        "CreateAssociated",
        "CreateContents",
        "CreateHierarchy",
        "Delete",
        "DoNotForwardMeeting",
        "EditAllowed",
        "EnableAlwaysDelete",
        "Enabled",
        "EnabledStatus",
        "ExportAllowed",
        "ExtractAllowed",
        "FilterHtmlContent",
        "ForwardAllowed",
        "GlobalAtAllMention",
        "GlobalHasAttachments",
        "GlobalHasIrm",
        "GlobalMentionedMe",
        "HasAttachment",
        "HasAttachments",
        "HasBeenProcessed",
        "HasBlockedImages",
        "HasEndTimeChanged",
        "HasIrm",
        "HasLocationChanged",
        "HasPicture",
        "HasQuota",
        "HasStartTimeChanged",
        "HiddenRecipient",
        "HidePresenceAndProfile",
        "IncludeMimeContent",
        "InviteFree",
        "IsAllDayEvent",
        "IsApprovalRequest",
        "IsArchive",
        "IsAssociated",
        "IsAutoTagged",
        "IsAutoUpdateDisabled",
        "IsAutomaticForward",
        "IsAutomaticReply",
        "IsCancelled",
        "IsClutter",
        "IsComplete",
        "IsContactPhoto",
        "IsDeepTraversal",
        "IsDefault",
        "IsDelegated",
        "IsDeletable",
        "IsDeliveryReceiptRequested",
        "IsDraft",
        "IsEnabled",
        "IsEncrypted",
        "IsExternalMailbox",
        "IsFolderContact",
        "IsFolderOwner",
        "IsFolderVisible",
        "IsFromMe",
        "IsHidden",
        "IsInError",
        "IsInline",
        "IsInlined",
        "IsManagedFoldersRoot",
        "IsMandatory",
        "IsMeeting",
        "IsMeetingRequest",
        "IsMeetingResponse",
        "IsMembershipGroup",
        "IsMentioned",
        "IsMessengerEnabled",
        "IsNDR",
        "IsNotSupported",
        "IsOccurrencePresent",
        "IsOnlineMeeting",
        "IsOrganizer",
        "IsOrganizerOptional",
        "IsOrganizerReminder",
        "IsOutOfDate",
        "IsOwner",
        "IsPartiallyIndexed",
        "IsPendingOutbound",
        "IsPermanentFailure",
        "IsPermissionControlled",
        "IsPrivate",
        "IsQuickContact",
        "IsRead",
        "IsReadReceipt",
        "IsReadReceiptRequested",
        "IsRecurring",
        "IsRequired",
        "IsResend",
        "IsResponseRequested",
        "IsSigned",
        "IsSpecificMessageReply",
        "IsSubmitted",
        "IsTeamTask",
        "IsUndecidedApprovalRequest",
        "IsUnmodified",
        "IsVisible",
        "IsVoicemail",
        "IsWritable",
        "KeyInsightsOnly",
        "MapiSendRichInfo",
        "MarkAsRead",
        "MeetingRequestWasSent",
        "MentionedMe",
        "MobileIMEnabled",
        "Modify",
        "ModifyRecipientsAllowed",
        "MoreEvents",
        "MoreResultsAvailable",
        "MustDisplayComment",
        "NotInBirthdayCalendar",
        "NotSentToMe",
        "OptedInto",
        "Ordered",
        "PermanentDelete",
        "PrintAllowed",
        "ProcessRightAway",
        "ProgrammaticAccessAllowed",
        "Read",
        "ReceiveCopiesOfMeetingMessages",
        "ReminderIsSet",
        "ReplyAllAllowed",
        "ReplyAllowed",
        "RequiresToken",
        "ResolveAvailability",
        "ReturnSuggestionHints",
        "SentCcMe",
        "SentOnlyToMe",
        "SentToMe",
        "SentToOrCcMe",
        "StopProcessingRules",
        "Success",
        "SuggestLocation",
        "SupportGroupFeeds",
        "SupportsSharedFolders",
        "SuppressReadReceipts",
        "SyncEnabled",
        "UnifiedInbox",
        "UseCollapsibleGroups",
        "ViewPrivateItems",
    )
)

DATETIME_ELEMENTS = frozenset(
    (
        "AppointmentReplyTime",
        "ApprovalDecisionTime",
        "AssignedTime",
        "Birthday",
        "ClientEventTimeLocal",
        "ClientEventTimeUtc",
        "CompleteDate",
        "ConversationLastSyncTime",
        "CreatedTime",
        "CreationTime",
        "Date",
        "DateTime",
        "DateTimeCreated",
        "DateTimeReceived",
        "DateTimeSent",
        "DateTimeStamp",
        "DueDate",
        "End",
        "EndDateTime",
        "EndTime",
        "EndTimeUtc",
        "EndWallClock",
        "ExpirationDateTime",
        "GlobalLastDeliveryTime",
        "LastAttemptTime",
        "LastContactedDate",
        "LastDeliveryTime",
        "LastModifiedTime",
        "LastResponseTime",
        "LastSync",
        "OccurrenceDate",
        "OriginalStart",
        "PostedTime",
        "ProposedEnd",
        "ProposedStart",
        "PsaLastChanged",
        "ReceivedTime",
        "RecurrenceId",
        "ReminderDueBy",
        "ReminderNextTime",
        "RetentionDate",
        "SentTime",
        "Start",
        "StartDate",
        "StartDateTime",
        "StartTime",
        "StartTimeUtc",
        "StartWallClock",
        "SubmitTime",
        "SubmittedTime",
        "TimeStamp",
        "TokenRefreshLastAttempted",
        "TokenRefreshLastCompleted",
        "TrialExpirationDate",
        "WeddingAnniversary",
    )
)


def ews_datetime(text: str) -> str:
    """An xs:dateTime with a zone, as Exchange writes it: UTC, whole seconds, "Z" (see the samples in
    ../shared/ews-samples, e.g. msdocs/getitem-operation-email-message-03). Text without a zone (a
    wall-clock time in the request's TimeZoneContext) or not a date-time is returned as it is."""
    value = text.strip()
    if "T" not in value:
        return text
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return text
    if when.tzinfo is None:
        return text
    return when.astimezone(dt.UTC).strftime(_EWS_TIME)


def utc_datetime(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime(_EWS_TIME)


def canonical_fields(node: list) -> list:
    """A stored field ([name, attrs, text | children]) with its booleans and date-times, at any depth,
    in the form Exchange answers with (`true`/`false`; UTC, whole seconds, "Z")."""
    name, attrs, content = node
    if isinstance(content, list):
        return [name, attrs, [canonical_fields(child) for child in content]]
    if name in BOOLEAN_ELEMENTS and content.strip().lower() in ("true", "false", "1", "0"):
        return [name, attrs, _xml_bool(_bool(content))]
    if name in DATETIME_ELEMENTS:
        return [name, attrs, ews_datetime(content)]
    return node


# --- XML helpers -------------------------------------------------------------------------------
def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def _kids(el: etree._Element | None) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)] if el is not None else []


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def _xml_bool(value: bool) -> str:
    return "true" if value else "false"


def element_to_json(el: etree._Element) -> list:
    """An item child element as [name, attrs, text | children], for storing typed fields."""
    children = [element_to_json(c) for c in el if isinstance(c.tag, str)]
    return [_local(el), dict(el.attrib), children if children else (el.text or "")]


def json_to_element(parent: etree._Element, node: list) -> etree._Element:
    name, attrs, content = node
    el = etree.SubElement(parent, T + name, attrs)
    if isinstance(content, list):
        for child in content:
            json_to_element(el, child)
    else:
        el.text = content
    return el


# --- extended properties ----------------------------------------------------------------------
def ext_key(uri: etree._Element) -> str:
    """The store key of an `ExtendedFieldURI`."""
    return _ext_key(tuple(uri.attrib.items()))


@lru_cache(maxsize=4096)
def _ext_key(attrs: tuple[tuple[str, str], ...]) -> str:
    # Cached: an import sends the same few properties with every item (~0.3 ms per batch of ten).
    a = dict(attrs)
    ptype = a.get("PropertyType", "")
    if "PropertyTag" in a:
        return prop_key(ptype, tag=int(a["PropertyTag"], 0))
    if "DistinguishedPropertySetId" in a:
        pset: uuid.UUID | str = DISTINGUISHED_PROPERTY_SETS[a["DistinguishedPropertySetId"]]
    else:
        pset = a.get("PropertySetId", "")
    if "PropertyName" in a:
        return prop_key(ptype, property_set=pset, name=a["PropertyName"])
    return prop_key(ptype, property_set=pset, lid=int(a.get("PropertyId", "0"), 0))


def normalise_value(ptype: str, text: str) -> str:
    """A property value in a canonical text form, so equal values compare equal."""
    base = ptype.removesuffix("Array")
    text = text.strip() if base != "String" else text
    if base in _INT_TYPES:
        return str(int(text))
    if base == "Boolean":
        return _xml_bool(_bool(text))
    if base == "SystemTime":
        return ews_datetime(text)
    return text


def parse_extended_property(el: etree._Element) -> tuple[str, object]:
    uri = el.find(T + "ExtendedFieldURI")
    if uri is None:
        raise OpError("ErrorInvalidExtendedProperty", "The extended property attribute combination is invalid.")
    try:
        key = ext_key(uri)
    except (ValueError, KeyError):
        raise OpError(
            "ErrorInvalidExtendedProperty", "The extended property attribute combination is invalid."
        ) from None
    ptype = uri.get("PropertyType", "")
    try:
        value = el.find(T + "Value")
        if value is not None:
            return key, normalise_value(ptype, value.text or "")
        values = el.find(T + "Values")
        return key, [normalise_value(ptype, v.text or "") for v in values] if values is not None else ""
    except ValueError:
        raise OpError(
            "ErrorInvalidExtendedPropertyValue", "The extended property value is inconsistent with its type."
        ) from None


FLAGS_KEY = prop_key("Integer", tag=mapi.PidTagMessageFlags.id)


# --- the service --------------------------------------------------------------------------------
@dataclass
class Request:
    """One parsed EWS request with the mailbox it acts on."""

    op: etree._Element
    principal: Principal
    mailbox: str  # the effective mailbox: the impersonated one, or the caller's own
    host_url: str


# --- paging and restrictions ------------------------------------------------------------------
def _paging(view: etree._Element | None) -> tuple[int, int | None, bool]:
    if view is None:
        return 0, None, False
    limit = view.get("MaxEntriesReturned")
    return int(view.get("Offset", "0")), int(limit) if limit else None, view.get("BasePoint") == "End"


def _page(found: list, offset: int, limit: int | None, from_end: bool) -> tuple[list, int]:
    total = len(found)
    if from_end:
        end = max(total - offset, 0)
        start = max(end - limit, 0) if limit is not None else 0
        return found[start:end], start
    end = total if limit is None else offset + limit
    return found[offset:end], min(offset, total)


def _paged_root(msg: etree._Element, first: int, shown: int, total: int) -> etree._Element:
    """The m:RootFolder of a FindItem/FindFolder answer: where the next page starts, how many match,
    and whether this page reaches the last of them."""
    return _sub(
        msg,
        M + "RootFolder",
        IndexedPagingOffset=str(first + shown),
        TotalItemsInView=str(total),
        IncludesLastItemInRange=_xml_bool(first + shown >= total),
    )


_COMPARISONS = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a is not None and a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a is not None and a >= b,
    "IsLessThan": lambda a, b: a is not None and a < b,
    "IsLessThanOrEqualTo": lambda a, b: a is not None and a <= b,
}


def _compile_restriction(expr: etree._Element, value_of: Callable[[object, etree._Element], object]):
    """A predicate for one SearchExpression (And, Or, Not, comparisons, Exists, Contains)."""
    name = _local(expr)
    if name in ("And", "Or"):
        parts = [_compile_restriction(c, value_of) for c in expr]
        return (lambda x: all(p(x) for p in parts)) if name == "And" else (lambda x: any(p(x) for p in parts))
    if name == "Not":
        inner = _compile_restriction(expr[0], value_of)
        return lambda x: not inner(x)
    path = expr[0]
    if name == "Exists":
        return lambda x: value_of(x, path) is not None
    if name == "Contains":
        const = expr.find(T + "Constant").get("Value") or ""
        ignore_case = "IgnoreCase" in (expr.get("ContainmentComparison") or "")
        mode = expr.get("ContainmentMode", "Substring")

        def contains(x):
            value = value_of(x, path)
            if value is None:
                return False
            a, b = (str(value).lower(), const.lower()) if ignore_case else (str(value), const)
            return {"FullString": a == b, "Prefixed": a.startswith(b)}.get(mode, b in a)

        return contains
    if name in _COMPARISONS:
        const_el = expr.find(f"{T}FieldURIOrConstant/{T}Constant")
        if const_el is None:
            raise OpError("ErrorInvalidRestriction", "The restriction is invalid.")
        const = const_el.get("Value", "")
        if _local(path) == "ExtendedFieldURI":
            const = normalise_value(path.get("PropertyType", ""), const)
        elif const.lower() in ("true", "false"):
            const = const.lower()
        compare = _COMPARISONS[name]
        return lambda x: compare(value_of(x, path), const)
    raise OpError("ErrorInvalidRestriction", f"The restriction {name} is not supported.")
