"""The EWS read side: GetItem, FindItem and GetAttachment, answered as Exchange answers them.

`ItemReads` is a mixin of `ews.EwsService`: the operations keep their names (`get_item`,
`find_item`, ...) and the service's dispatch table points at them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from lxml import etree

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
    _paging,
    _sub,
    _xml_bool,
    change_key,
    decode_id,
    encode_id,
    ext_key,
    json_to_element,
    normalise_value,
)
from core.sandbox.server.store import Folder, Item

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


class ItemReads:
    """GetItem, FindItem and GetAttachment over `self.store` (mixed into EwsService)."""

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
