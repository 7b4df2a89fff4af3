"""The EWS read side: GetItem, FindItem and GetAttachment, answered as Exchange answers them.

`ItemReads` is a mixin of `ews.EwsService`: the operations keep their names (`get_item`,
`find_item`, `get_attachment`) and the service's dispatch table points at them.

What a client reads back is derived the way Exchange derives it, not echoed from the request:

* ItemClass is the item's message class (ItemClass or PidTagMessageClass in the create request),
  and the element is the EWS type of that class ("MessageType objects represent e-mail messages and
  all other items that are not strongly typed", EWS ItemType reference): sticky notes and journal
  entries are `t:Message`.
* DateTimeReceived is PidTagMessageDeliveryTime when the item has one, else the time it was created;
  DateTimeSent is PidTagClientSubmitTime, else the MIME Date header (MS-OXCMAIL 2.2.3.2.2).
* DisplayTo/DisplayCc/DisplayBcc join the recipients' display names with "; " (MS-OXOMSG 2.2.1.7-9);
  HasAttachments is true when some attachment is not inline; Attachments lists every attachment,
  those of a MIME item included (MS-OXCMAIL 2.2.3.4), each with an AttachmentId for GetAttachment.
* Booleans are `true`/`false` and times UTC with whole seconds and "Z", as in ../shared/ews-samples.
* FindItem returns no body formats and no recipient lists, and mailboxes by name only (EWS FindItem
  reference, "Remarks"; exchangelib's `is_complex` fields follow it).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from core.mapi import props as mapi
from core.sandbox.server import attachments as atts
from core.sandbox.server import mimefields
from core.sandbox.server.ewsbase import (
    FLAGS_KEY,
    M,
    OpError,
    Request,
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
    canonical_fields,
    change_key,
    decode_attachment_id,
    decode_id,
    encode_attachment_id,
    encode_id,
    ext_key,
    json_to_element,
    normalise_value,
)
from core.sandbox.server.store import Folder, Item, prop_key

# Element order of ItemType, MessageType and PostItemType in types.xsd: responses must follow it.
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
    "WebClientReadFormQueryString",
    "WebClientEditFormQueryString",
    "ConversationId",
    "UniqueBody",
    "Flag",
    "StoreEntryId",
    "InstanceKey",
    "NormalizedBody",
    "EntityExtractionResult",
    "PolicyTag",
    "ArchiveTag",
    "RetentionDate",
    "Preview",
    "RightsManagementLicenseData",
    "PredictedActionReasons",
    "IsClutter",
    "BlockStatus",
    "HasBlockedImages",
    "TextBody",
    "IconIndex",
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
POST_ITEM_TYPE_ORDER = (
    "ConversationIndex",
    "ConversationTopic",
    "From",
    "InternetMessageId",
    "IsRead",
    "PostedTime",
    "References",
    "Sender",
)
_TYPE_ORDER = {
    "Message": MESSAGE_TYPE_ORDER,
    "MeetingRequest": MESSAGE_TYPE_ORDER,
    "MeetingResponse": MESSAGE_TYPE_ORDER,
    "MeetingCancellation": MESSAGE_TYPE_ORDER,
    "PostItem": POST_ITEM_TYPE_ORDER,
}
# Indexed FieldURIs name one entry of a dictionary element; we answer with the whole element.
_INDEXED = {
    "EmailAddress": "EmailAddresses",
    "PhoneNumber": "PhoneNumbers",
    "ImAddress": "ImAddresses",
    "PhysicalAddress": "PhysicalAddresses",
}
# What FindItem leaves out ("It does not return any of the message body formats or the recipient
# lists", EWS FindItem reference), and the mailboxes it gives by name only.
_NOT_IN_FIND = frozenset(
    {
        "Body",
        "TextBody",
        "UniqueBody",
        "NormalizedBody",
        "Attachments",
        "MimeContent",
        "ToRecipients",
        "CcRecipients",
        "BccRecipients",
        "ReplyTo",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "Members",
    }
)
_NAME_ONLY_IN_FIND = frozenset({"From", "Sender", "ReceivedBy", "ReceivedRepresenting", "Organizer"})
_MESSAGE_KINDS = ("Message", "Item", "MeetingRequest", "MeetingResponse", "MeetingCancellation")

DELIVERY_KEY = prop_key("SystemTime", tag=mapi.PidTagMessageDeliveryTime.id)
SUBMIT_KEY = prop_key("SystemTime", tag=mapi.PidTagClientSubmitTime.id)
CLASS_KEY = prop_key("String", tag=mapi.PidTagMessageClass.id)


def element_of(item: Item) -> str:
    """The EWS element an item is answered as: its typed kind, else the type of its message class."""
    if item.kind not in _MESSAGE_KINDS:
        return item.kind
    cls = item.item_class.upper()
    if cls.startswith("IPM.SCHEDULE.MEETING.REQUEST"):
        return "MeetingRequest"
    if cls.startswith("IPM.SCHEDULE.MEETING.CANCELED"):
        return "MeetingCancellation"
    if cls.startswith("IPM.SCHEDULE.MEETING.RESP"):
        return "MeetingResponse"
    if cls == "IPM.POST" or cls.startswith("IPM.POST."):
        return "PostItem"
    return "Message"


@dataclass
class Shape:
    """What a GetItem/FindItem/GetAttachment request asks for."""

    base: str = "IdOnly"
    names: set[str] = field(default_factory=set)
    ext: list[etree._Element] = field(default_factory=list)
    include_mime: bool = False
    body_type: str = "Best"
    find: bool = False

    @property
    def everything(self) -> bool:
        return self.base in ("Default", "AllProperties")

    def wanted(self, name: str) -> bool:
        if self.find and name in _NOT_IN_FIND:
            return False
        return self.everything or name in self.names


def parse_shape(shape: etree._Element | None, find: bool = False) -> Shape:
    """An ItemShape or AttachmentShape element as a Shape."""
    out = Shape(find=find)
    if shape is None:
        return out
    out.base = shape.findtext(T + "BaseShape") or ("IdOnly" if _local(shape) == "ItemShape" else "Default")
    out.include_mime = _bool(shape.findtext(T + "IncludeMimeContent"))
    out.body_type = shape.findtext(T + "BodyType") or "Best"
    extra = shape.find(T + "AdditionalProperties")
    for uri in extra if extra is not None else []:
        local = _local(uri)
        if local == "ExtendedFieldURI":
            out.ext.append(uri)
        elif local in ("FieldURI", "IndexedFieldURI"):
            name = uri.get("FieldURI", "").split(":")[-1]
            out.names.add(_INDEXED.get(name, name))
    if "MimeContent" in out.names:
        out.include_mime = True
    return out


def _names(node: list | None) -> list[str]:
    """Display names of a recipient list node (Name, else the address)."""
    out = []
    for mailbox in node[2] if node is not None and isinstance(node[2], list) else []:
        values = {c[0]: c[2] for c in mailbox[2] if isinstance(c, list)} if isinstance(mailbox[2], list) else {}
        name = values.get("Name") or values.get("EmailAddress")
        if name:
            out.append(str(name))
    return out


def _name_only(node: list) -> list:
    """A mailbox-valued field as FindItem gives it: the name alone."""
    name, attrs, content = node
    if not isinstance(content, list):
        return node
    boxes = []
    for box in content:
        kept = [c for c in box[2] if isinstance(c, list) and c[0] == "Name"] if isinstance(box[2], list) else []
        boxes.append([box[0], box[1], kept])
    return [name, attrs, boxes]


@dataclass
class _Source:
    """An item to answer with: a store item, or the item of an item attachment (no ItemId)."""

    item: Item
    attachments: Callable[[], list[atts.Attachment]]
    root_id: int | None
    element: str


class ItemReads:
    """GetItem, FindItem and GetAttachment over `self.store` (mixed into EwsService)."""

    # --- one item --------------------------------------------------------------------------------
    def _source(self, item: Item) -> _Source:
        return _Source(item, lambda: atts.attachments(self.store, item), item.id, element_of(item))

    def _attached_source(self, att: atts.Attachment, parent: Item) -> _Source:
        """The item inside an item attachment: from its MIME (promoted as for any MIME item), or the
        fields an EWS ItemAttachment was created with."""
        mime = att.mime
        fields = [canonical_fields(n) for n in att.item_fields]
        subject = mimefields.subject_of(mime) if mime is not None else None
        for node in fields:
            if node[0] == "Subject" and isinstance(node[2], str):
                subject = node[2]
        kind = att.item_kind if mime is None else "Message"
        item_class = next((n[2] for n in fields if n[0] == "ItemClass"), None) or {
            "CalendarItem": "IPM.Appointment",
            "Contact": "IPM.Contact",
            "Task": "IPM.Task",
        }.get(kind, "IPM.Note")
        inner = Item(
            id=parent.id,
            folder_id=parent.folder_id,
            kind=kind,
            item_class=str(item_class),
            subject=subject,
            message_flags=mapi.MSGFLAG_READ,
            size=att.size,
            mime_blob=None,
            stored_fields=fields,
            props={},
            created=att.last_modified or parent.created,
            pending_mime=(lambda m=mime: m) if mime is not None else None,
        )
        return _Source(inner, lambda: atts.children(att), None, element_of(inner))

    def _fields(self, src: _Source, shape: Shape) -> dict[str, list]:
        """Every field the item can answer with, stored and derived, by element name."""
        item = src.item
        # Typed fields only when some are asked for: reading them promotes them from the MIME (see Store).
        stored = [canonical_fields(n) for n in item.fields] if shape.everything or shape.names else []
        out: dict[str, list] = {n[0]: n for n in stored if n[0] not in ("DateTimeSent", "HasAttachments")}
        derived = self._derived(src, {n[0]: n for n in stored}, shape)
        out.update(derived)
        return out

    def _derived(self, src: _Source, stored: dict[str, list], shape: Shape) -> dict[str, list]:
        item = src.item
        out: dict[str, list] = {}
        if src.root_id is not None:
            out["ParentFolderId"] = [
                "ParentFolderId",
                {"Id": encode_id("F", item.folder_id), "ChangeKey": change_key("F", item.folder_id)},
                "",
            ]
        out["ItemClass"] = ["ItemClass", {}, item.item_class]
        if item.subject is not None:
            out["Subject"] = ["Subject", {}, item.subject]
        received = item.props.get(DELIVERY_KEY) or (item.created if src.root_id is not None else None)
        sent = item.props.get(SUBMIT_KEY) or (stored.get("DateTimeSent") or [None, None, None])[2]
        if received is None and src.root_id is None:
            received = sent  # an attached item: what its MIME says
        if received:
            out["DateTimeReceived"] = ["DateTimeReceived", {}, str(received)]
        if sent:
            out["DateTimeSent"] = ["DateTimeSent", {}, str(sent)]
        out["Size"] = ["Size", {}, str(item.size)]
        out["DateTimeCreated"] = ["DateTimeCreated", {}, item.created]
        out["LastModifiedTime"] = ["LastModifiedTime", {}, item.created]
        out["IsSubmitted"] = ["IsSubmitted", {}, "false"]
        out["IsDraft"] = ["IsDraft", {}, _xml_bool(item.is_draft)]
        out["IsAssociated"] = ["IsAssociated", {}, "false"]
        if src.element in _TYPE_ORDER:
            out["IsRead"] = ["IsRead", {}, _xml_bool(item.is_read)]
        for element, recipients in (("DisplayTo", "ToRecipients"), ("DisplayCc", "CcRecipients")):
            out[element] = [element, {}, "; ".join(_names(stored.get(recipients)))]
        if "BccRecipients" in stored:
            out["DisplayBcc"] = ["DisplayBcc", {}, "; ".join(_names(stored.get("BccRecipients")))]
        if shape.wanted("Attachments") or shape.wanted("HasAttachments"):
            listed = src.attachments()
            out["HasAttachments"] = ["HasAttachments", {}, _xml_bool(atts.visible(listed))]
            if listed and shape.wanted("Attachments"):
                out["Attachments"] = ["Attachments", {}, [self._attachment_node(item.id, a) for a in listed]]
        body = stored.get("Body")
        if body is not None and shape.body_type == "Text" and body[1].get("BodyType") == "HTML":
            text = stored.get("TextBody") or ["TextBody", {}, mimefields.html_to_text(str(body[2]))]
            out["Body"] = ["Body", {"BodyType": "Text"}, text[2]]
        if body is not None and "TextBody" not in stored:
            text = body[2] if body[1].get("BodyType") != "HTML" else mimefields.html_to_text(str(body[2]))
            out["TextBody"] = ["TextBody", {"BodyType": "Text"}, text]
        return out

    def _item_xml(self, parent: etree._Element, src: _Source, shape: Shape) -> None:
        item = src.item
        fields = self._fields(src, shape)
        el = _sub(parent, T + src.element)

        def put(name: str) -> None:
            node = fields.get(name)
            if node is None or not shape.wanted(name):
                return
            if shape.find and name in _NAME_ONLY_IN_FIND:
                node = _name_only(node)
            json_to_element(el, node)

        for name in ITEM_TYPE_ORDER:
            if name == "MimeContent":
                if shape.include_mime and not shape.find:
                    if src.root_id is not None:
                        mime = self.store.mime(item)
                    else:
                        mime = item.pending_mime() if item.pending_mime is not None else None
                    if mime is not None:
                        _sub(el, T + "MimeContent", base64.b64encode(mime).decode(), CharacterSet="UTF-8")
            elif name == "ItemId":
                if src.root_id is not None:
                    _sub(el, T + "ItemId", Id=encode_id("I", item.id), ChangeKey=change_key("I", item.id))
            elif name == "ExtendedProperty":
                for uri in shape.ext:
                    self._ext_xml(el, src, fields, uri)
            else:
                put(name)
        done = set(ITEM_TYPE_ORDER)
        order = _TYPE_ORDER.get(src.element)
        if order is not None:
            for name in order:
                put(name)
            done |= set(order)
        # a typed item's own fields, in the order its create request gave them (the schema's)
        for name in [n for n in fields if n not in done]:
            put(name)

    def _ext_value(self, src: _Source, fields: dict[str, list], key: str) -> object:
        """An extended property's value; the computed MAPI properties are derived as the item's fields are."""
        item = src.item
        derived: dict[str, Callable[[], object]] = {
            FLAGS_KEY: lambda: str(item.message_flags),
            CLASS_KEY: lambda: item.item_class,
            prop_key("String", tag=mapi.PidTagSubject.id): lambda: item.subject,
            prop_key("Integer", tag=mapi.PidTagMessageSize.id): lambda: str(item.size),
            prop_key("Boolean", tag=mapi.PidTagHasAttachments.id): lambda: _xml_bool(atts.visible(src.attachments())),
            prop_key("String", tag=mapi.PidTagDisplayTo.id): lambda: (fields.get("DisplayTo") or [0, 0, ""])[2],
            prop_key("String", tag=mapi.PidTagDisplayCc.id): lambda: (fields.get("DisplayCc") or [0, 0, ""])[2],
            DELIVERY_KEY: lambda: (fields.get("DateTimeReceived") or [0, 0, None])[2],
            SUBMIT_KEY: lambda: (fields.get("DateTimeSent") or [0, 0, None])[2],
        }
        if key in derived:
            return derived[key]()
        return item.props.get(key)

    def _ext_xml(self, parent: etree._Element, src: _Source, fields: dict[str, list], uri: etree._Element) -> None:
        try:
            key = ext_key(uri)
        except (ValueError, KeyError):
            return
        value = self._ext_value(src, fields, key)
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

    # --- attachments -------------------------------------------------------------------------------
    @staticmethod
    def _attachment_node(item_id: int, att: atts.Attachment) -> list:
        """An attachment's summary as GetItem lists it (AttachmentType order in types.xsd)."""
        children: list = [["AttachmentId", {"Id": encode_attachment_id(item_id, att.path)}, ""]]
        children.append(["Name", {}, att.name])
        if att.content_type:
            children.append(["ContentType", {}, att.content_type])
        if att.content_id:
            children.append(["ContentId", {}, att.content_id])
        if att.content_location:
            children.append(["ContentLocation", {}, att.content_location])
        children.append(["Size", {}, str(att.size)])
        if att.last_modified:
            children.append(["LastModifiedTime", {}, att.last_modified])
        children.append(["IsInline", {}, _xml_bool(att.is_inline)])
        if att.kind == "file":
            children.append(["IsContactPhoto", {}, _xml_bool(att.is_contact_photo)])
            return ["FileAttachment", {}, children]
        return ["ItemAttachment", {}, children]

    def get_attachment(self, req: Request) -> etree._Element:
        """File attachments with their Content; item attachments with their item, in the shape asked for
        (exchangelib asks IncludeMimeContent and every item field)."""
        shape = parse_shape(req.op.find(M + "AttachmentShape"))
        if not shape.names and not shape.ext:
            shape.base = "Default"
        resp, messages = self._response("GetAttachment")
        for rid in _kids(req.op.find(M + "AttachmentIds")):
            try:
                item_id, path = decode_attachment_id(rid.get("Id", ""))
                item = self.store.item(item_id)
                att = atts.find(self.store, item, path) if item is not None and path else None
                if item is None or att is None:
                    raise OpError("ErrorItemNotFound", "The specified object was not found in the store.")
                folder = self.store.folder(item.folder_id)
                assert folder is not None
                self._check_access(folder.mailbox, req)
            except OpError as err:
                _sub(self._message(messages, "GetAttachment", err), M + "Attachments")  # required, even empty
                continue
            msg = self._message(messages, "GetAttachment")
            node = self._attachment_node(item.id, att)
            el = json_to_element(_sub(msg, M + "Attachments"), node)
            if att.kind == "file":
                _sub(el, T + "Content", base64.b64encode(att.content()).decode())
            else:
                self._item_xml(el, self._attached_source(att, item), shape)
        return resp

    # --- operations --------------------------------------------------------------------------------
    def find_item(self, req: Request) -> etree._Element:
        shape = parse_shape(req.op.find(M + "ItemShape"), find=True)
        offset, limit, from_end = _paging(req.op.find(M + "IndexedPageItemView"))
        restriction = req.op.find(M + "Restriction")
        resp, messages = self._response("FindItem")
        for fid in _kids(req.op.find(M + "ParentFolderIds")):
            try:
                if req.op.get("Traversal") not in ("Shallow", None):
                    raise OpError("ErrorInvalidOperation", "Deep traversal is only allowed on search folders.")
                folder = self.resolve_folder(fid, req)
                found = self._sorted(self._restricted_items(folder, restriction), req.op.find(M + "SortOrder"))
            except OpError as err:
                self._message(messages, "FindItem", err)
                continue
            page, first = _page(found, offset, limit, from_end)
            page = [self.store.item(i) if isinstance(i, int) else i for i in page]
            msg = self._message(messages, "FindItem")
            root = _paged_root(msg, first, len(page), len(found))
            items = _sub(root, T + "Items")
            for item in page:
                if item is not None:
                    self._item_xml(items, self._source(item), shape)
        return resp

    def _sorted(self, found: list[Item] | list[int], order: etree._Element | None) -> list[Item] | list[int]:
        """FindItem's SortOrder: each FieldOrder in turn, the first deciding (items without the field first)."""
        levels = _kids(order)
        if not levels:
            return found
        items = [self.store.item(i) if isinstance(i, int) else i for i in found]
        items = [it for it in items if it is not None]
        for level in reversed(levels):
            path = _kids(level)[0] if _kids(level) else None
            if path is None:
                raise OpError("ErrorInvalidRequest", "A FieldOrder needs a property path.")
            values = {it.id: self._item_value(it, path) for it in items}
            items.sort(
                key=lambda it: (values[it.id] is not None, str(values[it.id] or "").casefold()),
                reverse=level.get("Order", "Ascending") == "Descending",
            )
        return items

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
                    key = ext_key(expr[0])
                    value = normalise_value(expr[0].get("PropertyType", ""), const.get("Value", ""))
                except (ValueError, KeyError):
                    raise OpError("ErrorInvalidRestriction", "The restriction is invalid.") from None
                if key not in (FLAGS_KEY, CLASS_KEY):
                    return self.store.find_by_prop(key, value, folder.id)
        pred = _compile_restriction(expr, self._item_value)
        return [it for it in self.store.items(folder.id) if pred(it)]

    def _item_value(self, item: Item, uri: etree._Element) -> object:
        src = self._source(item)
        if _local(uri) == "ExtendedFieldURI":
            return self._ext_value(src, {}, ext_key(uri))
        name = uri.get("FieldURI", "").split(":")[-1]
        if name == "Subject":
            return item.subject
        if name == "ItemClass":
            return item.item_class
        if name == "IsRead":
            return _xml_bool(item.is_read)
        if name == "IsDraft":
            return _xml_bool(item.is_draft)
        node = self._fields(src, Shape(names={name})).get(name)
        if node is not None and isinstance(node[2], str):
            return node[2]
        return None

    def get_item(self, req: Request) -> etree._Element:
        shape = parse_shape(req.op.find(M + "ItemShape"))
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
            self._item_xml(_sub(msg, M + "Items"), self._source(item), shape)
        return resp
