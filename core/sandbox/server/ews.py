"""The EWS front end: SOAP requests in, SOAP responses out, shaped like Exchange 2019's.

`EwsService.handle(body, principal)` parses one envelope, applies ExchangeImpersonation,
dispatches to the operation and returns (HTTP status, response bytes). Operations the
sandbox does not implement get an `ErrorInvalidOperation` fault. Envelopes follow the
genuine samples in ../shared/ews-samples: `s:`/`m:`/`t:` prefixes, an `h:ServerVersionInfo`
header, faults with `e:ResponseCode`.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from core.mapi import props as mapi
from core.sandbox.server import mimefields
from core.sandbox.server.knobs import Knobs, KnobState
from core.sandbox.server.schema import RequestSchema, SchemaViolation
from core.sandbox.server.store import Folder, Item, NewItem, Store, StoreError, prop_key

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

# What the server says it is (ServerVersionInfo): build numbers and schema version per flavour.
# exchangelib maps V2017_07_11 (on-premises 2016/2019) and V2018_01_08 (Exchange Online) to its
# Exchange2016 API version.
FLAVOURS: dict[str, dict[str, str]] = {
    "exchange2016": {
        "MajorVersion": "15",
        "MinorVersion": "1",
        "MajorBuildNumber": "2507",
        "MinorBuildNumber": "6",
        "Version": "V2017_07_11",
    },  # Exchange 2016 CU23
    "exchange2019": {
        "MajorVersion": "15",
        "MinorVersion": "2",
        "MajorBuildNumber": "1544",
        "MinorBuildNumber": "4",
        "Version": "V2017_07_11",
    },  # Exchange 2019 CU14
    "exchange-online": {
        "MajorVersion": "15",
        "MinorVersion": "20",
        "MajorBuildNumber": "8769",
        "MinorBuildNumber": "21",
        "Version": "V2018_01_08",
    },
}
DEFAULT_FLAVOUR = "exchange2019"

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

# Item kinds (CreateItem element names) and their default message class and folder.
ITEM_KINDS = {
    "Item": ("IPM", "drafts"),
    "Message": ("IPM.Note", "drafts"),
    "PostItem": ("IPM.Post", "drafts"),
    "CalendarItem": ("IPM.Appointment", "calendar"),
    "Contact": ("IPM.Contact", "contacts"),
    "DistributionList": ("IPM.DistList", "contacts"),
    "Task": ("IPM.Task", "tasks"),
}

# Element order of ItemType and MessageType in types.xsd: responses must follow it.
ITEM_TYPE_ORDER = (
    "MimeContent",
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Subject",
    "Sensitivity",
    "Body",
    "Attachments",
    "DateTimeReceived",
    "Size",
    "Categories",
    "Importance",
    "InReplyTo",
    "IsSubmitted",
    "IsDraft",
    "IsFromMe",
    "IsResend",
    "IsUnmodified",
    "InternetMessageHeaders",
    "DateTimeSent",
    "DateTimeCreated",
    "ResponseObjects",
    "ReminderDueBy",
    "ReminderIsSet",
    "ReminderNextTime",
    "ReminderMinutesBeforeStart",
    "DisplayCc",
    "DisplayTo",
    "DisplayBcc",
    "HasAttachments",
    "ExtendedProperty",
    "Culture",
    "EffectiveRights",
    "LastModifiedName",
    "LastModifiedTime",
    "IsAssociated",
)
MESSAGE_TYPE_ORDER = (
    "Sender",
    "ToRecipients",
    "CcRecipients",
    "BccRecipients",
    "IsReadReceiptRequested",
    "IsDeliveryReceiptRequested",
    "ConversationIndex",
    "ConversationTopic",
    "From",
    "InternetMessageId",
    "IsRead",
    "IsResponseRequested",
    "References",
    "ReplyTo",
    "ReceivedBy",
    "ReceivedRepresenting",
)
_COMPUTED = {
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Subject",
    "DateTimeReceived",
    "Size",
    "IsDraft",
    "DateTimeCreated",
    "IsAssociated",
    "IsRead",
}
# Indexed FieldURIs name one entry of a dictionary element; we answer with the whole element.
_INDEXED = {
    "EmailAddress": "EmailAddresses",
    "PhoneNumber": "PhoneNumbers",
    "ImAddress": "ImAddresses",
    "PhysicalAddress": "PhysicalAddresses",
}
EFFECTIVE_RIGHTS = (
    "CreateAssociated",
    "CreateContents",
    "CreateHierarchy",
    "Delete",
    "Modify",
    "Read",
    "ViewPrivateItems",
)
_DEFAULT_FOLDER_FIELDS = {"DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}
_ALL_FOLDER_FIELDS = _DEFAULT_FOLDER_FIELDS | {
    "ParentFolderId",
    "FolderClass",
    "EffectiveRights",
    "DistinguishedFolderId",
}
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


class EwsService:
    """Dispatches EWS operations onto a Store."""

    def __init__(
        self,
        store: Store,
        knobs: KnobState | None = None,
        schema: RequestSchema | None = None,
        flavour: str = DEFAULT_FLAVOUR,
    ) -> None:
        self.server_version = FLAVOURS[flavour]
        self.store = store
        self.knobs = knobs or KnobState(Knobs())
        self.schema = schema
        self.operations: dict[str, Callable[[Request], etree._Element]] = {
            "ConvertId": self.convert_id,
            "GetFolder": self.get_folder,
            "FindFolder": self.find_folder,
            "CreateFolder": self.create_folder,
            "CreateItem": self.create_item,
            "FindItem": self.find_item,
            "GetItem": self.get_item,
            "ResolveNames": self.resolve_names,
        }

    # --- envelope ----------------------------------------------------------------------------
    def handle(self, body: bytes, principal: Principal, host_url: str = "") -> tuple[int, bytes]:
        """Answer one EWS request body. Returns (HTTP status, response envelope)."""
        try:
            try:
                # huge_tree: a 35 MB item is one 47 MB base64 text node, over libxml2's default cap.
                root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
            except etree.XMLSyntaxError as exc:
                raise EwsFault("ErrorSchemaValidation", f"The request failed schema validation: {exc}.") from None
            if root.tag != S + "Envelope" or root.find(S + "Body") is None:
                raise EwsFault("ErrorInvalidRequest", "The request is invalid.")
            ops = [c for c in root.find(S + "Body") if isinstance(c.tag, str)]
            if len(ops) != 1:
                raise EwsFault("ErrorInvalidRequest", "The request is invalid.")
            op = ops[0]
            name = _local(op)
            if self.schema is not None:
                self._check_schema(root)
            handler = self.operations.get(name)
            if handler is None or etree.QName(op).namespace != M_NS:
                # Not ErrorInvalidRequest: clients (exchangelib) read that as "wrong schema version" and
                # retry with every older version.
                raise EwsFault("ErrorInvalidOperation", f"The operation {name} is not supported by this server.")
            mailbox = self._effective_mailbox(root.find(S + "Header"), principal)
            response = handler(Request(op, principal, mailbox, host_url))
            return 200, self.envelope(response)
        except EwsFault as fault:
            return fault.status, self.fault(fault)

    def _check_schema(self, root: etree._Element) -> None:
        header = root.find(S + "Header")
        parts = [c for c in header if isinstance(c.tag, str)] if header is not None else []
        parts += [c for c in root.find(S + "Body") if isinstance(c.tag, str)]
        for part in parts:
            if etree.QName(part).namespace not in (T_NS, M_NS):
                continue  # e.g. WS-Addressing headers: not EWS's to judge
            try:
                self.schema.check(part)
            except SchemaViolation as err:
                message = f"The request failed schema validation: {err.violation}"
                raise EwsFault(
                    "ErrorSchemaValidation",
                    message,
                    details=[
                        ("LineNumber", str(err.line)),
                        ("LinePosition", str(err.position)),
                        ("Violation", err.violation),
                    ],
                ) from None

    def _effective_mailbox(self, header: etree._Element | None, principal: Principal) -> str:
        imp = header.find(T + "ExchangeImpersonation") if header is not None else None
        if imp is None:
            if principal.kind == "app":
                raise EwsFault(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
                )
            return principal.name
        sid = imp.find(T + "ConnectingSID")
        target_el = None
        if sid is not None:
            for tag in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                target_el = sid.find(T + tag)
                if target_el is not None:
                    break
        if target_el is None or not (target_el.text or "").strip():
            raise EwsFault("ErrorInvalidExchangeImpersonationHeaderData", "The impersonation header data is invalid.")
        target = target_el.text.strip().lower()
        if self.store.user(target) is None:
            raise EwsFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        if target != principal.name.lower() and not self.store.can_impersonate(principal.name, target):
            raise EwsFault(
                "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user."
            )
        return target

    def envelope(self, response: etree._Element) -> bytes:
        root = etree.Element(S + "Envelope", nsmap={"s": SOAP_NS})
        header = etree.SubElement(root, S + "Header")
        etree.SubElement(
            header, T + "ServerVersionInfo", self.server_version, nsmap={"h": T_NS, "xsd": XSD_NS, "xsi": XSI_NS}
        )
        body = etree.SubElement(root, S + "Body", nsmap={"xsi": XSI_NS, "xsd": XSD_NS})
        body.append(response)
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")

    @staticmethod
    def fault(fault: EwsFault) -> bytes:
        """A SOAP fault shaped like Exchange's (see Fault-ErrorServerBusy-BackOffMilliseconds.xml)."""
        root = etree.Element(S + "Envelope", nsmap={"s": SOAP_NS})
        body = etree.SubElement(root, S + "Body")
        f = etree.SubElement(body, S + "Fault")
        code = etree.SubElement(f, "faultcode", nsmap={"a": T_NS})
        code.text = f"a:{fault.code}"
        string = etree.SubElement(f, "faultstring")
        string.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
        string.text = fault.message
        detail = etree.SubElement(f, "detail")
        rc = etree.SubElement(detail, f"{{{E_NS}}}ResponseCode", nsmap={"e": E_NS})
        rc.text = fault.code
        msg = etree.SubElement(detail, f"{{{E_NS}}}Message", nsmap={"e": E_NS})
        msg.text = fault.message
        if fault.back_off_ms is not None or fault.details:
            xml = etree.SubElement(detail, T + "MessageXml", nsmap={"t": T_NS})
            if fault.back_off_ms is not None:
                _sub(xml, T + "Value", str(fault.back_off_ms), Name="BackOffMilliseconds")
            for name, text, *attr in fault.details:
                _sub(xml, T + name, text, Name=attr[0] if attr else None)
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")

    @staticmethod
    def _response(op: str) -> tuple[etree._Element, etree._Element]:
        resp = etree.Element(M + f"{op}Response", nsmap={"m": M_NS, "t": T_NS})
        return resp, etree.SubElement(resp, M + "ResponseMessages")

    @staticmethod
    def _message(
        messages: etree._Element, op: str, error: OpError | None = None, response_class: str | None = None
    ) -> etree._Element:
        msg = etree.SubElement(messages, M + f"{op}ResponseMessage")
        if error is None:
            msg.set("ResponseClass", response_class or "Success")
            _sub(msg, M + "ResponseCode", "NoError")
        else:
            msg.set("ResponseClass", response_class or "Error")
            _sub(msg, M + "MessageText", error.message)
            _sub(msg, M + "ResponseCode", error.code)
            _sub(msg, M + "DescriptiveLinkKey", "0")
        return msg

    # --- folder ids ----------------------------------------------------------------------------
    def resolve_folder(self, el: etree._Element, req: Request) -> Folder:
        name = _local(el)
        if name == "DistinguishedFolderId":
            mailbox_el = el.find(f"{T}Mailbox/{T}EmailAddress")
            mailbox = (mailbox_el.text or "").strip().lower() if mailbox_el is not None else req.mailbox
            if self.store.user(mailbox) is None:
                raise OpError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
            self._check_access(mailbox, req)
            folder = self.store.distinguished(mailbox, el.get("Id", ""))
            if folder is None:
                raise OpError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            return folder
        if name == "FolderId":
            folder = self.store.folder(decode_id(el.get("Id", ""), "F"))
            if folder is None:
                raise OpError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            self._check_access(folder.mailbox, req)
            return folder
        raise OpError("ErrorInvalidOperation", f"{name} is not supported by this server.")

    def _check_access(self, mailbox: str, req: Request) -> None:
        if mailbox != req.mailbox.lower():
            raise OpError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    # --- operations ----------------------------------------------------------------------------
    def convert_id(self, req: Request) -> etree._Element:
        # exchangelib's version probe sends Mailbox="DUMMY"; it only needs the ServerVersionInfo header.
        resp, messages = self._response("ConvertId")
        for alt in _kids(req.op.find(M + "SourceIds")):
            if "@" not in alt.get("Mailbox", ""):
                self._message(
                    messages, "ConvertId", OpError("ErrorInvalidSmtpAddress", "The SMTP address format is invalid.")
                )
            else:
                self._message(messages, "ConvertId", OpError("ErrorInvalidIdMalformed", "Id is malformed."))
        return resp

    def _folder_shape(self, op: etree._Element) -> set[str]:
        shape = op.find(M + "FolderShape")
        base = shape.findtext(T + "BaseShape") if shape is not None else "Default"
        fields = set(
            _ALL_FOLDER_FIELDS if base == "AllProperties" else _DEFAULT_FOLDER_FIELDS if base == "Default" else set()
        )
        extra = shape.find(T + "AdditionalProperties") if shape is not None else None
        for uri in extra if extra is not None else []:
            if _local(uri) == "FieldURI":
                fields.add(uri.get("FieldURI", "").split(":")[-1])
        return fields

    def _folder_xml(self, parent: etree._Element, folder: Folder, fields: set[str]) -> None:
        cls = folder.folder_class or ""
        element = (
            "CalendarFolder"
            if cls.startswith("IPF.Appointment")
            else "ContactsFolder"
            if cls.startswith("IPF.Contact")
            else "TasksFolder"
            if cls.startswith("IPF.Task")
            else "Folder"
        )
        el = _sub(parent, T + element)
        _sub(el, T + "FolderId", Id=encode_id("F", folder.id), ChangeKey=change_key("F", folder.id))
        if "ParentFolderId" in fields and folder.parent_id is not None:
            _sub(
                el,
                T + "ParentFolderId",
                Id=encode_id("F", folder.parent_id),
                ChangeKey=change_key("F", folder.parent_id),
            )
        if "FolderClass" in fields and folder.folder_class:
            _sub(el, T + "FolderClass", folder.folder_class)
        if "DisplayName" in fields:
            _sub(el, T + "DisplayName", folder.display_name)
        total, unread = self.store.count_items(folder.id)
        if "TotalCount" in fields:
            _sub(el, T + "TotalCount", str(total))
        if "ChildFolderCount" in fields:
            _sub(el, T + "ChildFolderCount", str(len(self.store.children(folder.id))))
        if "EffectiveRights" in fields:
            rights = _sub(el, T + "EffectiveRights")
            for right in EFFECTIVE_RIGHTS:
                _sub(rights, T + right, "true")
        if "DistinguishedFolderId" in fields and folder.distinguished:
            _sub(el, T + "DistinguishedFolderId", folder.distinguished)
        if "UnreadCount" in fields and element in ("Folder", "TasksFolder"):
            _sub(el, T + "UnreadCount", str(unread))

    def get_folder(self, req: Request) -> etree._Element:
        fields = self._folder_shape(req.op)
        resp, messages = self._response("GetFolder")
        for fid in _kids(req.op.find(M + "FolderIds")):
            try:
                folder = self.resolve_folder(fid, req)
            except OpError as err:
                _sub(self._message(messages, "GetFolder", err), M + "Folders")
                continue
            msg = self._message(messages, "GetFolder")
            self._folder_xml(_sub(msg, M + "Folders"), folder, fields)
        return resp

    def find_folder(self, req: Request) -> etree._Element:
        fields = self._folder_shape(req.op)
        deep = req.op.get("Traversal") == "Deep"
        offset, limit, from_end = _paging(req.op.find(M + "IndexedPageFolderView"))
        restriction = req.op.find(M + "Restriction")
        resp, messages = self._response("FindFolder")
        for fid in _kids(req.op.find(M + "ParentFolderIds")):
            try:
                parent = self.resolve_folder(fid, req)
                found = self.store.descendants(parent.id) if deep else self.store.children(parent.id)
                if restriction is not None and len(restriction):
                    pred = _compile_restriction(restriction[0], self._folder_value)
                    found = [f for f in found if pred(f)]
            except OpError as err:
                self._message(messages, "FindFolder", err)
                continue
            page, first = _page(found, offset, limit, from_end)
            msg = self._message(messages, "FindFolder")
            root = _sub(
                msg,
                M + "RootFolder",
                IndexedPagingOffset=str(first + len(page)),
                TotalItemsInView=str(len(found)),
                IncludesLastItemInRange=_xml_bool(first + len(page) >= len(found)),
            )
            folders = _sub(root, T + "Folders")
            for folder in page:
                self._folder_xml(folders, folder, fields)
        return resp

    def _folder_value(self, folder: Folder, uri: etree._Element) -> object:
        name = uri.get("FieldURI", "").split(":")[-1]
        if _local(uri) == "FieldURI" and name == "DisplayName":
            return folder.display_name
        if _local(uri) == "FieldURI" and name == "FolderClass":
            return folder.folder_class
        raise OpError("ErrorUnsupportedPathForQuery", "The property path is not supported for this query.")

    def create_folder(self, req: Request) -> etree._Element:
        resp, messages = self._response("CreateFolder")
        parent_el = req.op.find(M + "ParentFolderId")
        try:
            parent: Folder | None = self.resolve_folder(parent_el[0], req)
        except OpError as err:
            parent, parent_error = None, err
        for folder_el in _kids(req.op.find(M + "Folders")):
            try:
                if parent is None:
                    raise parent_error
                name = folder_el.findtext(T + "DisplayName")
                if not name:
                    raise OpError("ErrorInvalidFolderId", "A folder must have a display name.")
                # A typed folder gets its class; a plain t:Folder without FolderClass gets none (no
                # PidTagContainerClass), so clients that want a mail folder must say IPF.Note.
                default_class = {
                    "CalendarFolder": "IPF.Appointment",
                    "ContactsFolder": "IPF.Contact",
                    "TasksFolder": "IPF.Task",
                }.get(_local(folder_el))
                folder_class = folder_el.findtext(T + "FolderClass") or default_class
                folder = self.store.create_folder(parent.id, name, folder_class)
            except StoreError as err:
                _sub(self._message(messages, "CreateFolder", OpError(STORE_ERRORS[err.code], str(err))), M + "Folders")
                continue
            except OpError as err:
                _sub(self._message(messages, "CreateFolder", err), M + "Folders")
                continue
            msg = self._message(messages, "CreateFolder")
            out = _sub(_sub(msg, M + "Folders"), T + _local(folder_el))
            _sub(out, T + "FolderId", Id=encode_id("F", folder.id), ChangeKey=change_key("F", folder.id))
        return resp

    def create_item(self, req: Request) -> etree._Element:
        resp, messages = self._response("CreateItem")
        disposition = req.op.get("MessageDisposition")
        saved_el = req.op.find(M + "SavedItemFolderId")
        target: Folder | None = None
        target_error: OpError | None = None
        if saved_el is not None and len(saved_el):
            try:
                target = self.resolve_folder(saved_el[0], req)
            except OpError as err:
                target_error = err
        limit = self.knobs.knobs.max_item_bytes
        # Parse every item first; then store the good ones of each folder in one durable transaction.
        results: list[tuple[str, NewItem | OpError, Folder | None]] = []
        for item_el in _kids(req.op.find(M + "Items")):
            kind = _local(item_el)
            try:
                if target_error is not None:
                    raise target_error
                new = self._parse_item(item_el, kind, disposition, limit)
                if self.knobs.draw_item():
                    raise OpError("ErrorItemSave", "The item could not be saved.")
                folder = target
                if folder is None:
                    default = (
                        "sentitems" if disposition == "SendAndSaveCopy" else ITEM_KINDS.get(kind, ("", "drafts"))[1]
                    )
                    folder = self.store.distinguished(req.mailbox, default)
                results.append((kind, new, folder))
            except OpError as err:
                results.append((kind, err, None))
        by_folder: dict[int, list[NewItem]] = {}
        for _kind, new, folder in results:
            if isinstance(new, NewItem) and folder is not None and disposition != "SendOnly":
                by_folder.setdefault(folder.id, []).append(new)
        created: dict[int, Item] = {}
        for folder_id, news in by_folder.items():
            for new, item in zip(news, self.store.create_items(folder_id, news), strict=True):
                created[id(new)] = item
        for kind, new, _folder in results:
            if isinstance(new, OpError):
                _sub(self._message(messages, "CreateItem", new), M + "Items")
                continue
            if disposition in ("SendOnly", "SendAndSaveCopy"):
                self.store.record_sent(req.mailbox, new.subject)
            msg = self._message(messages, "CreateItem")
            items = _sub(msg, M + "Items")
            item = created.get(id(new))
            if item is not None:
                out = _sub(items, T + kind)
                _sub(out, T + "ItemId", Id=encode_id("I", item.id), ChangeKey=change_key("I", item.id))
        return resp

    def _parse_item(self, el: etree._Element, kind: str, disposition: str | None, limit: int) -> NewItem:
        if kind not in ITEM_KINDS:
            raise OpError("ErrorInvalidItemForOperation", f"{kind} items cannot be created by this server.")
        item_class, _folder = ITEM_KINDS[kind]
        new = NewItem(kind=kind, item_class=item_class)
        is_read: bool | None = None
        for child in el:
            if not isinstance(child.tag, str):
                continue
            name = _local(child)
            if name == "MimeContent":
                try:
                    new.mime = base64.b64decode((child.text or "").encode(), validate=False)
                except (binascii.Error, ValueError):
                    raise OpError(
                        "ErrorMimeContentConversionFailed", "Unable to convert MIME content to a store object."
                    ) from None
            elif name == "ExtendedProperty":
                key, value = parse_extended_property(child)
                new.props[key] = value
            else:
                new.fields.append(element_to_json(child))
                if name == "ItemClass":
                    new.item_class = child.text or item_class
                elif name == "Subject":
                    new.subject = child.text or ""
                elif name == "IsRead":
                    is_read = _bool(child.text)
        if new.mime is not None and kind in ("Message", "PostItem", "Item"):
            # The store promotes Body, From, To... from the MIME when the item's fields are first read.
            new.promote_mime = True
            if new.subject is None:
                new.subject = mimefields.subject_of(new.mime)
        size = len(new.mime or b"") + sum(len(str(f)) for f in new.fields)
        if size > limit:
            raise OpError("ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
        if kind in ("Message", "PostItem", "Item"):
            if kind == "Message" and disposition is None:
                raise OpError("ErrorMessageDispositionRequired", "MessageDisposition attribute is required.")
            flags_value = new.props.pop(FLAGS_KEY, None)
            if flags_value is not None:
                flags = int(flags_value)  # PidTagMessageFlags is settable only in the creating request
            elif disposition == "SendAndSaveCopy":
                flags = mapi.MSGFLAG_READ
            else:
                flags = mapi.MSGFLAG_UNSENT  # Exchange: a message saved by a client is a draft
            if is_read is not None:
                flags = (flags | mapi.MSGFLAG_READ) if is_read else (flags & ~mapi.MSGFLAG_READ)
            new.message_flags = flags
        else:
            new.message_flags = mapi.MSGFLAG_READ
        return new

    @staticmethod
    def _fields_from_mime(new: NewItem) -> None:
        """What Exchange promotes from MIME headers and body into item properties, unless the request set them."""
        if new.mime is None:
            return
        if new.subject is None:
            new.subject = mimefields.subject_of(new.mime)
        mimefields.promote(new.mime, new.fields)

    # --- items out -------------------------------------------------------------------------------
    def _item_shape(self, op: etree._Element) -> tuple[str, set[str], list[etree._Element], bool]:
        shape = op.find(M + "ItemShape")
        base = shape.findtext(T + "BaseShape") if shape is not None else "IdOnly"
        include_mime = _bool(shape.findtext(T + "IncludeMimeContent")) if shape is not None else False
        names: set[str] = set()
        ext: list[etree._Element] = []
        extra = shape.find(T + "AdditionalProperties") if shape is not None else None
        for uri in extra if extra is not None else []:
            local = _local(uri)
            if local == "ExtendedFieldURI":
                ext.append(uri)
            elif local in ("FieldURI", "IndexedFieldURI"):
                name = uri.get("FieldURI", "").split(":")[-1]
                names.add(_INDEXED.get(name, name))
        if "MimeContent" in names:
            include_mime = True
        return base or "IdOnly", names, ext, include_mime

    def _item_xml(
        self,
        parent: etree._Element,
        item: Item,
        base: str,
        names: set[str],
        ext: list[etree._Element],
        include_mime: bool,
    ) -> None:
        everything = base in ("Default", "AllProperties")
        # Typed fields only when some are asked for: reading them promotes them from the MIME (see Store).
        stored = {node[0]: node for node in item.fields} if everything or names else {}

        def wanted(name: str) -> bool:
            return everything or name in names

        computed: dict[str, Callable[[etree._Element], None]] = {
            "ItemId": lambda el: _sub(el, T + "ItemId", Id=encode_id("I", item.id), ChangeKey=change_key("I", item.id)),
            "ParentFolderId": lambda el: _sub(
                el, T + "ParentFolderId", Id=encode_id("F", item.folder_id), ChangeKey=change_key("F", item.folder_id)
            ),
            "ItemClass": lambda el: _sub(el, T + "ItemClass", item.item_class),
            "Subject": lambda el: _sub(el, T + "Subject", item.subject) if item.subject is not None else None,
            "DateTimeReceived": lambda el: _sub(el, T + "DateTimeReceived", item.created),
            "Size": lambda el: _sub(el, T + "Size", str(item.size)),
            "IsDraft": lambda el: _sub(el, T + "IsDraft", _xml_bool(item.is_draft)),
            "DateTimeCreated": lambda el: _sub(el, T + "DateTimeCreated", item.created),
            "IsAssociated": lambda el: _sub(el, T + "IsAssociated", "false"),
            "IsRead": lambda el: _sub(el, T + "IsRead", _xml_bool(item.is_read)),
        }
        el = _sub(parent, T + item.kind)
        for name in ITEM_TYPE_ORDER:
            if name == "MimeContent":
                mime = self.store.mime(item) if include_mime else None
                if mime is not None:
                    _sub(el, T + "MimeContent", base64.b64encode(mime).decode(), CharacterSet="UTF-8")
            elif name == "ItemId":
                computed[name](el)
            elif name == "ExtendedProperty":
                for uri in ext:
                    self._ext_xml(el, item, uri)
            elif name in computed and wanted(name):
                computed[name](el)
            elif name in stored and wanted(name):
                json_to_element(el, stored[name])
        rest = [n for n in stored if n not in ITEM_TYPE_ORDER]
        if item.kind == "Message":
            order = [n for n in MESSAGE_TYPE_ORDER if n in rest or n == "IsRead"]
            order += [n for n in rest if n not in MESSAGE_TYPE_ORDER]
        else:
            order = rest
        for name in order:
            if not wanted(name):
                continue
            if item.kind == "Message" and name == "IsRead":
                computed[name](el)
            elif name in stored:
                json_to_element(el, stored[name])

    def _ext_xml(self, parent: etree._Element, item: Item, uri: etree._Element) -> None:
        try:
            key = ext_key(uri)
        except (ValueError, KeyError):
            return
        value: object = str(item.message_flags) if key == FLAGS_KEY else item.props.get(key)
        if value is None:
            return
        prop = _sub(parent, T + "ExtendedProperty")
        prop.append(etree.fromstring(etree.tostring(uri)))
        if isinstance(value, list):
            values = _sub(prop, T + "Values")
            for v in value:
                _sub(values, T + "Value", str(v))
        else:
            _sub(prop, T + "Value", str(value))

    def find_item(self, req: Request) -> etree._Element:
        base, names, ext, _mime = self._item_shape(req.op)
        offset, limit, from_end = _paging(req.op.find(M + "IndexedPageItemView"))
        restriction = req.op.find(M + "Restriction")
        resp, messages = self._response("FindItem")
        for fid in _kids(req.op.find(M + "ParentFolderIds")):
            try:
                if req.op.get("Traversal") not in ("Shallow", None):
                    raise OpError("ErrorInvalidOperation", "Deep traversal is only allowed on search folders.")
                folder = self.resolve_folder(fid, req)
                found = self._restricted_items(folder, restriction)
            except OpError as err:
                self._message(messages, "FindItem", err)
                continue
            page, first = _page(found, offset, limit, from_end)
            page = [self.store.item(i) if isinstance(i, int) else i for i in page]
            msg = self._message(messages, "FindItem")
            root = _sub(
                msg,
                M + "RootFolder",
                IndexedPagingOffset=str(first + len(page)),
                TotalItemsInView=str(len(found)),
                IncludesLastItemInRange=_xml_bool(first + len(page) >= len(found)),
            )
            items = _sub(root, T + "Items")
            for item in page:
                if item is not None:
                    self._item_xml(items, item, base, names, ext, False)
        return resp

    def _restricted_items(self, folder: Folder, restriction: etree._Element | None) -> list[Item] | list[int]:
        """The matching items, or for no restriction just their ids (loaded page by page)."""
        if restriction is None or not len(restriction):
            return self.store.item_ids(folder.id)
        expr = restriction[0]
        # The source-stamp lookup: answer it from the property index instead of scanning the folder.
        if _local(expr) == "IsEqualTo" and expr[0].tag == T + "ExtendedFieldURI":
            const = expr.find(f"{T}FieldURIOrConstant/{T}Constant")
            if const is not None:
                try:
                    value = normalise_value(expr[0].get("PropertyType", ""), const.get("Value", ""))
                    return self.store.find_by_prop(ext_key(expr[0]), value, folder.id)
                except (ValueError, KeyError):
                    raise OpError("ErrorInvalidRestriction", "The restriction is invalid.") from None
        pred = _compile_restriction(expr, self._item_value)
        return [it for it in self.store.items(folder.id) if pred(it)]

    def _item_value(self, item: Item, uri: etree._Element) -> object:
        if _local(uri) == "ExtendedFieldURI":
            key = ext_key(uri)
            return str(item.message_flags) if key == FLAGS_KEY else item.props.get(key)
        name = uri.get("FieldURI", "").split(":")[-1]
        if name == "Subject":
            return item.subject
        if name == "ItemClass":
            return item.item_class
        if name == "IsRead":
            return _xml_bool(item.is_read)
        if name == "IsDraft":
            return _xml_bool(item.is_draft)
        for node in item.fields:
            if node[0] == name and isinstance(node[2], str):
                return node[2]
        return None

    def get_item(self, req: Request) -> etree._Element:
        base, names, ext, include_mime = self._item_shape(req.op)
        resp, messages = self._response("GetItem")
        for iid in _kids(req.op.find(M + "ItemIds")):
            try:
                item = self.store.item(decode_id(iid.get("Id", ""), "I"))
                if item is None:
                    raise OpError("ErrorItemNotFound", "The specified object was not found in the store.")
                folder = self.store.folder(item.folder_id)
                assert folder is not None
                self._check_access(folder.mailbox, req)
            except OpError as err:
                _sub(self._message(messages, "GetItem", err), M + "Items")
                continue
            msg = self._message(messages, "GetItem")
            self._item_xml(_sub(msg, M + "Items"), item, base, names, ext, include_mime)
        return resp

    def resolve_names(self, req: Request) -> etree._Element:
        full = _bool(req.op.get("ReturnFullContactData"))
        entry = (req.op.findtext(M + "UnresolvedEntry") or "").strip()
        query = entry.lower().removeprefix("smtp:")
        matches = []
        for user in self.store.users():
            local = user.address.split("@")[0]
            words = user.display_name.lower().split()
            if (
                query == user.address
                or local.startswith(query)
                or user.display_name.lower().startswith(query)
                or any(w.startswith(query) for w in words)
            ):
                matches.append(user)
        exact = [u for u in matches if u.address == query]
        matches = exact or matches
        resp, messages = self._response("ResolveNames")
        if not query or not matches:
            self._message(messages, "ResolveNames", OpError("ErrorNameResolutionNoResults", "No results were found."))
            return resp
        if len(matches) > 1:
            msg = self._message(
                messages,
                "ResolveNames",
                OpError("ErrorNameResolutionMultipleResults", "Multiple results were found."),
                "Warning",
            )
        else:
            msg = self._message(messages, "ResolveNames")
        rs = _sub(msg, M + "ResolutionSet", TotalItemsInView=str(len(matches)), IncludesLastItemInRange="true")
        for user in matches:
            res = _sub(rs, T + "Resolution")
            mb = _sub(res, T + "Mailbox")
            _sub(mb, T + "Name", user.display_name)
            _sub(mb, T + "EmailAddress", user.address)
            _sub(mb, T + "RoutingType", "SMTP")
            _sub(mb, T + "MailboxType", "Mailbox")
            if full:
                contact = _sub(res, T + "Contact")
                _sub(contact, T + "DisplayName", user.display_name)
                addrs = _sub(contact, T + "EmailAddresses")
                _sub(addrs, T + "Entry", f"SMTP:{user.address}", Key="EmailAddress1")
                _sub(contact, T + "ContactSource", "ActiveDirectory")
        return resp


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
