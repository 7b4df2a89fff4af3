"""Read-only access to PST/OST internals where pypff cannot go ([MS-PST] NDB and LTP layers).

Pure Python, Unicode and ANSI files, every bCryptMethod. Nothing is loaded whole: B-tree
pages are walked per lookup (a few are cached), blocks are read when needed, and
attachment data is streamed block by block.

API
---
``NdbFile(path)`` -- open a file (a context manager; raises `NdbError` with a one-line reason
for a file that is not a PST/OST, is truncated, or has a corrupt header).

- ``.header -> Header``: ``kind`` ("PST"/"OST"), ``format`` ("Unicode"/"ANSI"), ``wVer``,
  ``wVerClient``, ``client_magic``, ``crypt_method`` (bCryptMethod) and ``crypt_name``
  ("none"/"compressible"/"high"), ``declared_eof``, ``file_size``, ``truncated``.
- ``.message(nid) -> RawMessage``: an ordinary or associated message node by its NID
  (pypff's ``item.identifier``).
- ``.node(nid) -> Node``, ``.pc(nid) -> PropertyContext``, ``.tc(nid) -> TableContext``:
  lower-level access to any top-level node (folders, the name-to-id map, ...).

``RawMessage``

- ``.props: dict[int, RawProp]`` keyed by property id. ``RawProp(prop_id, prop_type, value)``
  where ``value`` is raw bytes: the 4-byte little-endian inline value for fixed types of at
  most 4 bytes (PT_SHORT, PT_LONG, PT_FLOAT, PT_ERROR, PT_BOOLEAN, and PT_UNSPECIFIED/PT_NULL),
  8 bytes for 8-byte fixed types, and the stored bytes for strings (UTF-16LE for PT_UNICODE,
  undecoded 8-bit for PT_STRING8), binaries, GUIDs and multi-valued types.
- ``.recipients: list[dict[int, RawProp]]``: recipient-table rows, only the cells that exist.
- ``.attachments: list[RawAttachment]`` in attachment-table order.
- ``.embedded_path([i, j, ...]) -> RawMessage``: follow embedded messages by attachment index.
- ``.nid``, ``.where`` (a readable path for error messages), ``.node``.

``RawAttachment``

- ``.props: dict[int, RawProp]``: the attachment's PC without PidTagAttachDataBinary.
- ``.has_data``, ``.data_size: int`` and ``.open_data() -> BinaryIO`` (seekable, streamed):
  PidTagAttachDataBinary, or for an OLE attachment (method 6) its stored PT_OBJECT data,
  as pypff's ``read_buffer`` gives it. (A PT_OBJECT stays in ``props`` as its raw 8 bytes,
  subnode NID and size.)
- ``.method``: PidTagAttachMethod or None.
- ``.embedded() -> RawMessage | None``: for attach method 5, the embedded message, read from
  the subnode named by PidTagAttachDataObject; works at any nesting depth.

Errors: every failure is an `NdbError` whose message is one line naming the structure
(node, block, page, header field) and, for message parts, the path to it.
Not thread-safe: open one `NdbFile` per thread.
"""

from __future__ import annotations

from .errors import NdbError
from .ltp import PropertyContext, RawProp, TableContext
from .messages import RawAttachment, RawMessage
from .nodes import Header, Node, NodeDatabase

__all__ = [
    "NdbFile",
    "NdbError",
    "Header",
    "Node",
    "RawProp",
    "RawMessage",
    "RawAttachment",
    "PropertyContext",
    "TableContext",
]


class NdbFile(NodeDatabase):
    """A PST/OST file opened for reading its nodes, messages and attachments."""

    def __enter__(self) -> NdbFile:
        return self

    def message(self, nid: int) -> RawMessage:
        """The message node `nid` (ordinary or folder-associated).

        Raises:
            NdbError: no such node. (A property context that cannot be read raises when the
            message's properties are first used: reading only its attachments never parses it.)
        """
        e = self.nbt_lookup(nid)
        if e is None:
            raise NdbError(f"message 0x{nid:X} is not in the node B-tree", self.path)
        return RawMessage(Node(self, e.nid, e.bid_data, e.bid_sub))

    def pc(self, nid: int) -> PropertyContext:
        """The property context of top-level node `nid` (a folder, the store, ...)."""
        return PropertyContext(self.node(nid))

    def tc(self, nid: int) -> TableContext:
        """The table context of top-level node `nid` (a hierarchy or contents table, ...)."""
        return TableContext(self.node(nid))
