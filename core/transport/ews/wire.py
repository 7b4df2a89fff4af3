"""CreateItem and FindItem request bodies written directly, sent through exchangelib's own services.

Profiling an import showed exchangelib's item model as the client's main cost: building one
CreateItem of ten small messages took ~15 ms of Python (field cleaning, one `ExtendedProperty`
object per MAPI property, an lxml tree, then its serialisation), and reading back stamps for
verification parsed every registered extended property of every item (~5 ms per item). Here the
SOAP body is written as bytes from the payload, in the schema's element order (types.xsd
ItemType then MessageType), and the answer is read from lxml elements; the envelope, the
session pool, authentication, version negotiation and SOAP faults stay exchangelib's
(`EWSService.wrap` and `_get_response_xml`).

Going through `_get_response_xml` rather than `EWSService._get_elements` also keeps
exchangelib's own retry loop out of uploads: that loop answers ErrorExceededConnectionCount by
shrinking the shared session pool while holding its lock (exchangelib 5.6), which deadlocks when
every session is checked out. Busy answers surface to the engine's limiter instead.
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from exchangelib.services import CreateItem, FindItem
from exchangelib.util import MNS, TNS, create_element, safe_xml_value
from lxml import etree
from oauthlib.oauth2 import TokenExpiredError

from core.convert.payload import MimePayload, Payload
from core.mapi import MV_FLAG, XPROP_TYPE_NAMES, Named, PidNamePstImportSourceKey, PidTagMessageClass, PropType, Tag
from core.transport.ews import props

# EWS element names this module writes or reads (types.xsd / messages.xsd).
T_ITEM_ID = f"{{{TNS}}}ItemId"
T_EXTENDED_PROPERTY = f"{{{TNS}}}ExtendedProperty"
T_EXTENDED_FIELD_URI = f"{{{TNS}}}ExtendedFieldURI"
T_VALUE = f"{{{TNS}}}Value"
T_ITEMS = f"{{{TNS}}}Items"
M_ROOT_FOLDER = f"{{{MNS}}}RootFolder"
M_ITEMS = f"{{{MNS}}}Items"

IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}
SENSITIVITY = {"normal": "Normal", "personal": "Personal", "private": "Private", "confidential": "Confidential"}
# A token that expires between two requests is renewed by exchangelib (post_ratelimited), which then
# re-raises; the request is simply sent again, as exchangelib's own retry loop would.
TOKEN_RETRIES = 3
# MIME is base64-encoded in slices of this many bytes (a multiple of 3, so the pieces join into one
# valid base64 text): no second whole copy of an item exists while the request is written.
B64_SLICE = 3 * 64 * 1024
# Small pieces of a request are joined into chunks of about this size before they are sent.
SEND_CHUNK = 64 * 1024
# Times as EWS xs:dateTime in UTC.
_EWS_TIME = "%Y-%m-%dT%H:%M:%SZ"
_SURROGATES = re.compile("[\ud800-\udfff]")


def _text(value: str) -> str:
    """Element text: characters XML 1.0 cannot carry replaced (as exchangelib does), then escaped."""
    return escape(_SURROGATES.sub("?", safe_xml_value(value)))


def _scalar(ptype: int, value: object) -> str:
    """One extended property value as EWS writes it (MS-OXWSXPROP; xs:boolean, xs:dateTime, base64)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bytes):
        if ptype == PropType.PT_CLSID and len(value) == 16:
            return str(uuid.UUID(bytes_le=value))  # MAPI keeps GUIDs little-endian; EWS wants the text form
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        v = value if value.tzinfo is None else value.astimezone(UTC)
        return v.strftime(_EWS_TIME)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    return str(value)


@lru_cache(maxsize=1024)
def field_uri(prop: Tag | Named) -> str:
    """The `ExtendedFieldURI` element of `prop` (what exchangelib's ExtendedProperty writes)."""
    ptype = XPROP_TYPE_NAMES.get(prop.type)
    if ptype is None:
        raise ValueError(f"MAPI type 0x{prop.type:04x} cannot be sent over EWS")
    if isinstance(prop, Tag):
        attrs = f"PropertyTag={quoteattr(hex(prop.id))}"
    else:
        attrs = f"PropertySetId={quoteattr(str(uuid.UUID(str(prop.guid))))} "
        if isinstance(prop.key, int):
            attrs += f"PropertyId={quoteattr(str(prop.key))}"
        else:
            attrs += f"PropertyName={quoteattr(prop.key)}"
    return f"<t:ExtendedFieldURI {attrs} PropertyType={quoteattr(ptype)}/>"


def extended_property(prop: Tag | Named, value: object) -> str:
    """A whole `ExtendedProperty` element; raises ValueError for a type EWS cannot carry."""
    uri = field_uri(prop)
    if prop.type & MV_FLAG:
        single = prop.type & ~MV_FLAG
        values = "".join(f"<t:Value>{_scalar(single, v)}</t:Value>" for v in value)  # type: ignore[attr-defined]
        return f"<t:ExtendedProperty>{uri}<t:Values>{values}</t:Values></t:ExtendedProperty>"
    return f"<t:ExtendedProperty>{uri}<t:Value>{_scalar(prop.type, value)}</t:Value></t:ExtendedProperty>"


def _extended(payload: Payload) -> str:
    out = [extended_property(PidNamePstImportSourceKey, payload.source_key)]
    for ext in props.sendable(payload):
        if ext.prop == PidTagMessageClass:
            continue  # written as t:ItemClass: one property set once
        try:
            out.append(extended_property(ext.prop, ext.value))
        except ValueError as exc:
            payload.problems.append(f"property not kept: {exc}")
    return "".join(out)


class Base64Of:
    """Raw bytes to be written base64-encoded into the request (only when the request is written)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


Piece = bytes | Base64Of


def mime_message(payload: MimePayload) -> list[Piece]:
    """A `t:Message` created from MIME, with the stamp and extended properties, as pieces of the request."""
    head = ["<t:Message><t:MimeContent>"]
    rest = ["</t:MimeContent>"]
    if payload.message_class and payload.message_class != "IPM.Note":
        # the class as t:ItemClass, not PidTagMessageClass (see `typed_item`), which `_extended` leaves out
        rest.append(f"<t:ItemClass>{_text(payload.message_class)}</t:ItemClass>")
    if payload.subject is not None:
        rest.append(f"<t:Subject>{_text(payload.subject)}</t:Subject>")
    rest.append(f"<t:Sensitivity>{SENSITIVITY.get(payload.sensitivity, 'Normal')}</t:Sensitivity>")
    if payload.categories:
        names = "".join(f"<t:String>{_text(c)}</t:String>" for c in payload.categories)
        rest.append(f"<t:Categories>{names}</t:Categories>")
    rest.append(f"<t:Importance>{IMPORTANCE.get(payload.importance, 'Normal')}</t:Importance>")
    rest.append(_extended(payload))
    rest.append(f"<t:IsRead>{'true' if payload.is_read else 'false'}</t:IsRead></t:Message>")
    return [
        "".join(head).encode(),
        Base64Of(payload.mime),
        "".join(rest).encode("utf-8", "replace"),
    ]


def folder_id(folder: Any) -> str:
    """A `t:FolderId` for an exchangelib folder."""
    change_key = f" ChangeKey={quoteattr(folder.changekey)}" if getattr(folder, "changekey", None) else ""
    return f"<t:FolderId Id={quoteattr(folder.id)}{change_key}/>"


class StreamedBody:
    """A request body written while it is sent: MIME is base64-encoded one slice at a time.

    requests sends an object with `__len__` and `__iter__` with that Content-Length (not
    chunked) and iterates it into the socket; it iterates it again for a resend (NTLM's second
    leg, exchangelib's retries). So an item in flight costs its MIME and one slice of base64,
    not its MIME plus a whole base64 copy in a request buffer: with four threads and large
    attachments that copy was most of the importer's peak memory.
    """

    __slots__ = ("pieces", "_length")

    def __init__(self, pieces: Sequence[Piece]) -> None:
        self.pieces = tuple(pieces)
        self._length = sum(4 * math.ceil(len(p.data) / 3) if isinstance(p, Base64Of) else len(p) for p in self.pieces)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        pending: list[bytes] = []  # small pieces are sent together, not one system call each
        size = 0
        for piece in self.pieces:
            if isinstance(piece, Base64Of):
                if pending:
                    yield b"".join(pending)
                    pending, size = [], 0
                view = memoryview(piece.data)
                for i in range(0, len(view), B64_SLICE):
                    yield base64.b64encode(view[i : i + B64_SLICE])
            else:
                pending.append(piece)
                size += len(piece)
                if size >= SEND_CHUNK:
                    yield b"".join(pending)
                    pending, size = [], 0
        if pending:
            yield b"".join(pending)

    def __bytes__(self) -> bytes:
        return b"".join(self)

    def __repr__(self) -> str:  # what exchangelib's debug log shows instead of the body
        return f"<request body, {self._length} bytes>"


class _WholeBody:
    """A requests response whose `iter_content` yields the body read whole."""

    __slots__ = ("content",)

    def __init__(self, response: Any) -> None:
        self.content = response.content

    def iter_content(self, *_: Any, **__: Any) -> Iterable[bytes]:
        return iter((self.content,))


class _RawBody:
    """Mixin for an exchangelib service whose SOAP body is given as pieces (`parts`).

    The body is a `StreamedBody`, written into the socket as it is sent, so a batch costs its MIME
    and nothing more, not the three or four copies that building a tree and serialising it took:
    what bounds the importer's peak memory.
    """

    SERVICE_NAME: str
    parts: Sequence[Piece] = ()

    def wrap(self, content: Any, api_version: str | None = None) -> bytes:
        # exchangelib writes the envelope and headers (version, impersonation, time zone) around a
        # placeholder element, which the prepared body replaces.
        marker = f"<m:{self.SERVICE_NAME}/>".encode()
        envelope = super().wrap(content=create_element(f"m:{self.SERVICE_NAME}"), api_version=api_version)  # type: ignore[misc]
        head, found, tail = envelope.partition(marker)
        if not found:
            raise RuntimeError(f"exchangelib wrote an unexpected {self.SERVICE_NAME} envelope")
        return StreamedBody((head, *self.parts, tail))  # type: ignore[return-value]

    @classmethod
    def _get_soap_parts(cls, response: Any) -> Any:
        # exchangelib parses `response.iter_content()`, which for an answer already read yields it one
        # byte at a time (requests' default chunk size): ~0.3 ms of Python per response. One chunk instead.
        return super()._get_soap_parts(response=_WholeBody(response))  # type: ignore[misc]

    def send(self, parts: Sequence[Piece]) -> list:
        """POST the body; the response messages (lxml), or raise exchangelib's error for a SOAP fault."""
        self.parts = parts
        try:
            for attempt in range(TOKEN_RETRIES):
                try:
                    return list(self._get_response_xml(payload=None))  # type: ignore[attr-defined]
                except TokenExpiredError:
                    if attempt == TOKEN_RETRIES - 1:
                        raise
            raise AssertionError("unreachable")
        finally:
            self.parts = ()


class RawCreateItem(_RawBody, CreateItem):
    pass


class RawFindItem(_RawBody, FindItem):
    pass


def create_items(account: Any, folder: Any, items: Iterable[bytes | list[Piece]]) -> list:
    """Send one CreateItem (SaveOnly) of prepared items; per item an ItemId string or an exception instance."""
    parts: list[Piece] = [
        b'<m:CreateItem MessageDisposition="SaveOnly" SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>',
        folder_id(folder).encode(),
        b"</m:SavedItemFolderId><m:Items>",
    ]
    for it in items:
        if isinstance(it, bytes):
            parts.append(it)
        else:
            parts.extend(it)
    parts.append(b"</m:Items></m:CreateItem>")
    service = RawCreateItem(account=account)
    messages = service.send(parts)
    del parts
    out: list = []
    for message in messages:
        container = service._get_element_container(message=message, name=M_ITEMS)
        if isinstance(container, Exception):
            out.append(container)
            continue
        item_id = None
        for item in container if not isinstance(container, bool) else ():
            el = item.find(T_ITEM_ID)
            if el is not None:
                item_id = el.get("Id")
                break
        out.append(item_id if item_id else RuntimeError("the server answered without an item id"))
    return out


def typed_item(item: Any, version: Any, item_class: str | None = None) -> bytes:
    """An exchangelib item (calendar, contact, task...) serialised as exchangelib would inside CreateItem,
    with `t:ItemClass` when given: exchangelib treats ItemClass as read-only and never writes it, but
    EWS takes it on create (ItemType in types.xsd; the EWS Managed API sets it for sticky notes), and it
    is what gromox honours too, which ignores PidTagMessageClass sent as an extended property."""
    el = item.to_xml(version=version)
    if item_class:
        cls = create_element("t:ItemClass")
        cls.text = safe_xml_value(item_class)
        # ItemType order: MimeContent, ItemId, ParentFolderId, ItemClass, Subject, ...
        first = el[0] if len(el) else None
        at = 1 if first is not None and etree.QName(first).localname == "MimeContent" else 0
        el.insert(at, cls)
    return etree.tostring(el)


def find_stamps(
    account: Any, folder: Any, stamps: Sequence[str] | None, page_size: int, totals: list[int] | None = None
) -> Iterable[tuple[str, str]]:
    """(stamp, item id) of the items in `folder` carrying our stamp (every such item, or those in `stamps`).

    `totals` gets the first page's TotalItemsInView: without `stamps` (no restriction), how many
    items the folder holds, which spares verification a GetFolder per folder.
    """
    uri = field_uri(PidNamePstImportSourceKey)
    shape = (
        "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
        f"<t:AdditionalProperties>{uri}</t:AdditionalProperties></m:ItemShape>"
    )
    restriction = ""
    if stamps is not None:
        tests = "".join(
            f"<t:IsEqualTo>{uri}<t:FieldURIOrConstant><t:Constant Value={quoteattr(safe_xml_value(s))}/>"
            "</t:FieldURIOrConstant></t:IsEqualTo>"
            for s in stamps
        )
        restriction = f"<m:Restriction>{tests if len(stamps) == 1 else f'<t:Or>{tests}</t:Or>'}</m:Restriction>"
    parent = f"<m:ParentFolderIds>{folder_id(folder)}</m:ParentFolderIds>"
    offset = 0
    while True:
        view = f'<m:IndexedPageItemView MaxEntriesReturned="{page_size}" Offset="{offset}" BasePoint="Beginning"/>'
        body = f'<m:FindItem Traversal="Shallow">{shape}{view}{restriction}{parent}</m:FindItem>'
        service = RawFindItem(account=account)
        messages = service.send([body.encode("utf-8", "replace")])
        last = True
        for message in messages:
            root = service._get_element_container(message=message, name=M_ROOT_FOLDER)
            if isinstance(root, Exception):
                raise root
            items = root.find(T_ITEMS)
            if totals is not None and offset == 0 and root.get("TotalItemsInView") is not None:
                totals.append(int(root.get("TotalItemsInView")))
            count = 0
            for item in items if items is not None else ():
                count += 1
                item_id = item.find(T_ITEM_ID)
                for prop in item.iter(T_EXTENDED_PROPERTY):
                    value = prop.findtext(T_VALUE)
                    if value and item_id is not None:
                        yield value, item_id.get("Id")
            last = root.get("IncludesLastItemInRange", "true") == "true"
            offset += count
            if count == 0:
                last = True
        if last:
            return
