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
import datetime as dt
from collections.abc import Callable

from lxml import etree

from core.mapi import props as mapi
from core.sandbox.server import attachments, calendar, mimefields
from core.sandbox.server.calendar_ews import CalendarOps
from core.sandbox.server.ewsbase import (  # noqa: F401 - re-exported: the service's public names
    DISTINGUISHED_PROPERTY_SETS,
    E_NS,
    FLAGS_KEY,
    M_NS,
    SOAP_NS,
    STORE_ERRORS,
    T_NS,
    XSD_NS,
    XSI_NS,
    EwsFault,
    M,
    OpError,
    Principal,
    Request,
    S,
    T,
    _bool,
    _compile_restriction,
    _kids,
    _local,
    _page,
    _paged_root,
    _paging,
    _sub,
    _xml_bool,
    change_key,
    decode_id,
    element_to_json,
    encode_id,
    ext_key,
    json_to_element,
    normalise_value,
    parse_extended_property,
    utc_datetime,
)
from core.sandbox.server.ewsdelete import ItemDeletes
from core.sandbox.server.ewsread import CLASS_KEY, ItemReads
from core.sandbox.server.knobs import Knobs, KnobState
from core.sandbox.server.schema import RequestSchema, SchemaViolation
from core.sandbox.server.store import Folder, Item, NewItem, Store, StoreError

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


# What a client may not set on CreateItem (the EWS reference marks each "read-only"; exchangelib's
# `is_read_only` fields are the same list): answered with ErrorInvalidPropertySet, never stored.
READ_ONLY_ON_CREATE = frozenset(
    {
        "ItemId",
        "ParentFolderId",
        "DateTimeReceived",
        "Size",
        "IsSubmitted",
        "IsDraft",
        "IsFromMe",
        "IsResend",
        "IsUnmodified",
        "InternetMessageHeaders",
        "DateTimeSent",
        "DateTimeCreated",
        "ResponseObjects",
        "DisplayCc",
        "DisplayTo",
        "DisplayBcc",
        "HasAttachments",
        "EffectiveRights",
        "LastModifiedName",
        "LastModifiedTime",
        "IsAssociated",
        "WebClientReadFormQueryString",
        "WebClientEditFormQueryString",
        "ConversationId",
        "UniqueBody",
        "TextBody",
        "ConversationIndex",
        "ConversationTopic",
        "ReceivedBy",
        "ReceivedRepresenting",
    }
)

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


class EwsService(CalendarOps, ItemReads, ItemDeletes):
    """Dispatches EWS operations onto a Store (the item reads are in `ewsread.ItemReads`, DeleteItem in
    `ewsdelete.ItemDeletes`)."""

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
            "DeleteItem": self.delete_items,  # occurrences (calendar_ews), else ItemDeletes.delete_item
            "GetAttachment": self.get_attachment,
            "UpdateItem": self.update_item,
            "CreateAttachment": self.create_attachment,  # on occurrences (calendar_ews)
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
            root = _paged_root(msg, first, len(page), len(found))
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
        refuse = self.knobs.knobs.refuse_subject
        if refuse and any(refuse in (el.findtext(T + "Subject") or "") for el in _kids(req.op.find(M + "Items"))):
            raise EwsFault("ErrorSchemaValidation", "The request failed schema validation: the item is invalid.")
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
        records: list[dict] = []
        for child in el:
            if not isinstance(child.tag, str):
                continue
            name = _local(child)
            if name in READ_ONLY_ON_CREATE:
                # Exchange refuses a request that sets a read-only property ("ErrorInvalidPropertySet:
                # Set a read-only property", EWS property-related errors); it never takes the value.
                raise OpError("ErrorInvalidPropertySet", f"Set action is invalid for property {name}.")
            if name == "MimeContent":
                try:
                    new.mime = base64.b64decode((child.text or "").encode(), validate=False)
                except (binascii.Error, ValueError):
                    raise OpError(
                        "ErrorMimeContentConversionFailed", "Unable to convert MIME content to a store object."
                    ) from None
            elif name == "ExtendedProperty":
                key, value = parse_extended_property(child)
                if key == CLASS_KEY:
                    new.item_class = str(value) or item_class  # PidTagMessageClass is the item class
                else:
                    new.props[key] = value
            elif name == "Attachments":
                records.extend(self._attachment_record(a) for a in _kids(child))
            else:
                new.fields.append(element_to_json(child))
                if name == "ItemClass":
                    new.item_class = child.text or item_class
                elif name == "Subject":
                    new.subject = child.text or ""
                elif name == "IsRead":
                    is_read = _bool(child.text)
        if records:
            new.props[attachments.ATTACHMENTS_KEY] = records
        if kind == "CalendarItem":
            try:
                calendar.on_create(new.fields, new.props)  # a Recurrence makes it a series master
            except calendar.CalendarError as err:
                raise OpError(err.code, err.message) from None
        if new.mime is not None and kind in ("Message", "PostItem", "Item"):
            # The store promotes Body, From, To... from the MIME when the item's fields are first read.
            new.promote_mime = True
            if new.subject is None:
                new.subject = mimefields.subject_of(new.mime)
        size = (
            len(new.mime or b"") + sum(len(str(f)) for f in new.fields) + sum(int(r.get("size") or 0) for r in records)
        )
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

    def _attachment_record(self, el: etree._Element) -> dict:
        """A `t:FileAttachment` / `t:ItemAttachment` of a create request as a stored attachment record
        (the content kept as a blob; see attachments.py)."""
        kind = _local(el)
        values = {_local(c): c for c in _kids(el)}

        def text(name: str) -> str | None:
            node = values.get(name)
            return node.text if node is not None and node.text is not None else None

        record: dict = {
            "name": text("Name") or "",
            "contentType": text("ContentType"),
            "contentId": text("ContentId"),
            "contentLocation": text("ContentLocation"),
            "isInline": _bool(text("IsInline")),
            "lastModifiedDateTime": utc_datetime(dt.datetime.now(dt.UTC)),
        }
        if kind == "FileAttachment":
            try:
                content = base64.b64decode((text("Content") or "").encode(), validate=False)
            except (binascii.Error, ValueError):
                raise OpError("ErrorInvalidAttachmentContent", "The attachment content is not valid base64.") from None
            record |= {
                "type": "file",
                "isContactPhoto": _bool(text("IsContactPhoto")),
                "size": len(content),
                "blob": self.store.put_blob(content),
            }
            return record
        if kind != "ItemAttachment":
            raise OpError("ErrorInvalidAttachmentType", f"{kind} attachments cannot be created by this server.")
        inner = next((c for c in _kids(el) if _local(c) in ITEM_KINDS), None)
        if inner is None:
            raise OpError("ErrorInvalidAttachmentType", "An item attachment needs an item.")
        record |= {"type": "item", "ewsKind": _local(inner), "ews": [], "size": 0}
        for child in _kids(inner):
            if _local(child) == "MimeContent":
                try:
                    mime = base64.b64decode((child.text or "").encode(), validate=False)
                except (binascii.Error, ValueError):
                    raise OpError(
                        "ErrorMimeContentConversionFailed", "Unable to convert MIME content to a store object."
                    ) from None
                record["mime_blob"] = self.store.put_blob(mime)
                record["size"] += len(mime)
            else:
                node = element_to_json(child)
                record["ews"].append(node)
                record["size"] += len(str(node))
        return record

    @staticmethod
    def _fields_from_mime(new: NewItem) -> None:
        """What Exchange promotes from MIME headers and body into item properties, unless the request set them."""
        if new.mime is None:
            return
        if new.subject is None:
            new.subject = mimefields.subject_of(new.mime)
        mimefields.promote(new.mime, new.fields)

    # --- items out -------------------------------------------------------------------------------
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
