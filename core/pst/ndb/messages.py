"""Messages, recipients, attachments and embedded messages read straight from the LTP layer.

A message node ([MS-PST] 2.4.5) is a property context whose subnode tree holds the
recipient table (NID_RECIPIENT_TABLE), the attachment table (NID_ATTACHMENT_TABLE), one
subnode per attachment (a PC, NID_TYPE_ATTACHMENT) and the large property values. An
embedded message (attach method 5) is a subnode of its attachment's subnode tree; that
subnode's data is the embedded message's PC and its own subnode tree holds the embedded
message's tables, attachments and large values, so `RawMessage` works the same at any depth.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

from core.mapi.props import (
    PidTagAttachDataBinary,
    PidTagAttachDataObject,
    PidTagAttachMethod,
    afEmbeddedMessage,
)

from . import format as F
from .errors import NdbError
from .ltp import PropertyContext, RawProp, TableContext
from .nodes import Node, cached_property

__all__ = ["RawMessage", "RawAttachment"]

_DATA_BINARY = (PidTagAttachDataBinary.id, PidTagAttachDataBinary.type)


@contextmanager
def _where(where: str) -> Iterator[None]:
    """Prefix NdbErrors raised inside with the message/attachment path they concern."""
    try:
        yield
    except NdbError as e:
        if e.reason.startswith(where):
            raise
        raise NdbError(f"{where}: {e.reason}", e.path) from None


class RawMessage:
    """A message's property context, recipient rows and attachments, as raw stored bytes.

    `where` names the message in error messages, e.g. "message 0x200024" or
    "message 0x200024 > attachment 0 > embedded message".
    """

    def __init__(self, node: Node, where: str | None = None) -> None:
        self.node = node
        self.nid = node.nid
        self.where = where or f"message 0x{node.nid:X}"

    @cached_property
    def _pc(self) -> PropertyContext:
        # Read when first needed: a caller after the attachments only never parses the message's own.
        with _where(self.where):
            return PropertyContext(self.node)

    def __repr__(self) -> str:
        return f"RawMessage({self.where})"

    @cached_property
    def props(self) -> dict[int, RawProp]:
        """The message's properties, keyed by property id; large values read whole."""
        with _where(self.where):
            return self._pc.props()

    @cached_property
    def recipients(self) -> list[dict[int, RawProp]]:
        """Rows of the recipient table, each {prop_id: RawProp} of the cells that exist."""
        with _where(f"{self.where} recipient table"):
            sub = self.node.subnode(F.NID_RECIPIENT_TABLE)
            return [] if sub is None else list(TableContext(sub).rows())

    @cached_property
    def attachment_nids(self) -> list[int]:
        """Subnode NIDs of the attachments, in attachment-table order."""
        with _where(f"{self.where} attachment table"):
            sub = self.node.subnode(F.NID_ATTACHMENT_TABLE)
            return [] if sub is None else TableContext(sub).row_ids()

    @cached_property
    def attachments(self) -> list[RawAttachment]:
        """The attachments, in attachment-table order; each reads its PC when created."""
        return [RawAttachment(self, nid, i) for i, nid in enumerate(self.attachment_nids)]

    def embedded_path(self, indexes: Sequence[int]) -> RawMessage:
        """The message reached by following embedded attachments: `[0, 2]` is attachment
        2 of the message embedded in attachment 0 of this one.

        Raises:
            NdbError: an index is out of range or names an attachment that is not a message.
        """
        msg = self
        for i in indexes:
            atts = msg.attachments
            if not 0 <= i < len(atts):
                raise NdbError(f"{msg.where}: no attachment {i} (it has {len(atts)})", self.node.db.path)
            inner = atts[i].embedded()
            if inner is None:
                raise NdbError(f"{atts[i].where}: not an embedded message", self.node.db.path)
            msg = inner
        return msg


class RawAttachment:
    """An attachment object's properties and data.

    PidTagAttachDataBinary is left out of `props`: read it with `open_data()` (streamed
    through the data tree) and size it with `data_size`.
    """

    def __init__(self, message: RawMessage, nid: int, index: int) -> None:
        self.message = message
        self.nid = nid
        self.index = index
        self.where = f"{message.where} > attachment {index}"
        with _where(self.where):
            node = message.node.subnode(nid)
            if node is None:
                raise NdbError(f"its subnode 0x{nid:X} is missing", message.node.db.path)
            self.node = node
            self._pc = PropertyContext(node)

    def __repr__(self) -> str:
        return f"RawAttachment({self.where})"

    @cached_property
    def props(self) -> dict[int, RawProp]:
        """The attachment's properties keyed by id, without PidTagAttachDataBinary."""
        with _where(self.where):
            return self._pc.props(exclude=(_DATA_BINARY,))

    @cached_property
    def _data_ref(self) -> tuple[str, int] | None:
        """Where the attachment's data lives: ("hnid", HNID of PidTagAttachDataBinary), or
        ("subnode", NID) for the PT_OBJECT storage of an OLE attachment (method 6)."""
        entry = self._pc.entries.get(PidTagAttachDataBinary.id)
        if entry is None:
            return None
        if entry[0] == PidTagAttachDataBinary.type:
            return ("hnid", entry[1])
        if entry[0] == PidTagAttachDataObject.type and self.method != afEmbeddedMessage:
            return ("subnode", self._object_nid(entry[1]))
        return None

    def _object_nid(self, hnid: int) -> int:
        # A PT_OBJECT value in a PC points to 8 heap bytes: the object's subnode NID and size.
        ref = self._pc.heap.get_hnid(hnid)
        if len(ref) < 4:
            raise NdbError("PidTagAttachDataObject is truncated", self.node.db.path)
        return struct.unpack_from("<I", ref)[0]

    def _object_node(self, nid: int) -> Node:
        node = self.node.subnode(nid)
        if node is None:
            raise NdbError(f"attached object subnode 0x{nid:X} is missing", self.node.db.path)
        return node

    @property
    def has_data(self) -> bool:
        """Whether the attachment carries data: PidTagAttachDataBinary, or an OLE object."""
        return self._data_ref is not None

    @cached_property
    def data_size(self) -> int:
        """Size in bytes of the attachment data (0 when absent)."""
        with _where(self.where):
            ref = self._data_ref
            if ref is None:
                return 0
            if ref[0] == "hnid":
                return self._pc.heap.hnid_size(ref[1])
            return self._object_node(ref[1]).size

    def open_data(self) -> BinaryIO:
        """A seekable stream over the attachment data (empty when absent).

        For by-value attachments this is PidTagAttachDataBinary; for OLE attachments
        (method 6) the stored object (an OLE compound file), as pypff returns it.
        """
        with _where(self.where):
            ref = self._data_ref
            if ref is None:
                return io.BytesIO(b"")
            if ref[0] == "hnid":
                return self._pc.heap.open_hnid(ref[1], f"{self.where} data")[1]
            return self._object_node(ref[1]).open(f"{self.where} data")  # type: ignore[return-value]

    @property
    def method(self) -> int | None:
        """PidTagAttachMethod, or None when the attachment has none."""
        entry = self._pc.entries.get(PidTagAttachMethod.id)
        return None if entry is None else entry[1]

    def embedded(self) -> RawMessage | None:
        """The embedded message of an attach-method-5 attachment, else None.

        Raises:
            NdbError: the attachment says it embeds a message but its subnode is unreadable.
        """
        entry = self._pc.entries.get(PidTagAttachDataObject.id)
        if entry is None or entry[0] != PidTagAttachDataObject.type or self.method != afEmbeddedMessage:
            return None
        with _where(self.where):
            nid = self._object_nid(entry[1])
            node = self.node.subnode(nid)
            if node is None:
                raise NdbError(f"embedded message subnode 0x{nid:X} is missing", self.node.db.path)
        return RawMessage(node, f"{self.where} > embedded message")
