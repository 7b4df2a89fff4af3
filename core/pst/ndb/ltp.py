"""The LTP layer of [MS-PST] (section 2.3): heap-on-node, BTH, property and table contexts.

Values come back as raw stored bytes; decoding property types is the caller's business.
Fixed-size values are normalised: a type of at most 4 bytes gives its 4-byte little-endian
inline form (a 1-byte PT_BOOLEAN or 2-byte PT_SHORT table cell is zero-extended), an
8-byte type its 8 bytes. Everything else is the stored variable-size value.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from core.mapi.types import MV_FLAG, PropType

from . import format as F
from .errors import NdbError
from .nodes import Node, NodeStream

__all__ = [
    "RawProp",
    "Heap",
    "PropertyContext",
    "TableContext",
    "TableColumn",
    "fixed_size",
]

# Fixed-size property types and their byte size (MS-OXCDATA 2.11.1).
_FIXED_SIZES = {
    PropType.PT_SHORT: 2,
    PropType.PT_LONG: 4,
    PropType.PT_FLOAT: 4,
    PropType.PT_ERROR: 4,
    PropType.PT_BOOLEAN: 1,
    PropType.PT_DOUBLE: 8,
    PropType.PT_CURRENCY: 8,
    PropType.PT_APPTIME: 8,
    PropType.PT_I8: 8,
    PropType.PT_SYSTIME: 8,
}


def fixed_size(prop_type: int) -> int | None:
    """Byte size of a fixed-size property type, or None for variable-size and MV types."""
    if prop_type & MV_FLAG:
        return None
    return _FIXED_SIZES.get(prop_type)  # type: ignore[call-overload]


def _inline(prop_type: int) -> bool:
    """Whether a PC stores the value in dwValueHnid itself (types of at most 4 bytes)."""
    size = fixed_size(prop_type)
    # PT_UNSPECIFIED and PT_NULL have no data to point to; keep their 4 raw bytes.
    return (size is not None and size <= 4) or prop_type in (PropType.PT_UNSPECIFIED, PropType.PT_NULL)


class RawProp(NamedTuple):
    """One property as stored: id, type and raw bytes (see the module docstring)."""

    prop_id: int
    prop_type: int
    value: bytes


class Heap:
    """A heap-on-node (2.3.1) over a node's data blocks; blocks are read when first used."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._bids = node.block_ids()
        self._blocks: dict[int, tuple[bytes, list[int]]] = {}
        if not self._bids:
            raise self._err("empty node, expected a heap-on-node")
        first = self._block(0)[0]
        if len(first) < F.HNHDR_SIZE:
            raise self._err("heap header is truncated")
        _ib, sig, self.client_sig, self.user_root = struct.unpack_from("<HBBI", first)
        if sig != F.HN_SIGNATURE:
            raise self._err(f"not a heap-on-node (bSig 0x{sig:02X}, expected 0xEC)")

    def _err(self, reason: str) -> NdbError:
        return NdbError(f"node 0x{self.node.nid:X}: {reason}", self.node.db.path)

    def _block(self, index: int) -> tuple[bytes, list[int]]:
        cached = self._blocks.get(index)
        if cached is not None:
            return cached
        if index >= len(self._bids):
            raise self._err(f"heap block {index} does not exist")
        data = self.node.db.read_block(self._bids[index])
        if len(data) < 2:
            raise self._err(f"heap block {index} is truncated")
        (ib_hnpm,) = struct.unpack_from("<H", data)
        if ib_hnpm + 4 > len(data):
            raise self._err(f"heap block {index}: page map offset {ib_hnpm} out of range")
        c_alloc, _c_free = struct.unpack_from("<HH", data, ib_hnpm)
        if ib_hnpm + 4 + 2 * (c_alloc + 1) > len(data):
            raise self._err(f"heap block {index}: page map of {c_alloc} allocations is truncated")
        offsets = list(struct.unpack_from(f"<{c_alloc + 1}H", data, ib_hnpm + 4))
        self._blocks[index] = (data, offsets)
        return data, offsets

    def get(self, hid: int) -> bytes:
        """The bytes of heap allocation `hid` (HID 0 is the empty value)."""
        if hid == 0:
            return b""
        if hid & F.NID_TYPE_MASK != F.NID_TYPE_HID:
            raise self._err(f"0x{hid:X} is not a HID")
        index = (hid >> F.HID_INDEX_SHIFT) & F.HID_INDEX_MASK
        data, offsets = self._block(hid >> F.HID_BLOCK_SHIFT)
        if not 1 <= index < len(offsets):
            raise self._err(f"HID 0x{hid:X} is not allocated")
        start, end = offsets[index - 1], offsets[index]
        if not start <= end <= len(data):
            raise self._err(f"HID 0x{hid:X} lies outside its heap block")
        return data[start:end]

    def get_hnid(self, hnid: int) -> bytes:
        """An HNID's bytes: a heap allocation, or the whole data of a subnode of this node."""
        if hnid & F.NID_TYPE_MASK == F.NID_TYPE_HID:
            return self.get(hnid)
        return self.subnode(hnid).data()

    def open_hnid(self, hnid: int, what: str | None = None) -> tuple[int, BinaryIO]:
        """Size and a stream over an HNID's bytes; a subnode is streamed block by block.

        `what` names the value in errors raised while the stream is read.
        """
        if hnid & F.NID_TYPE_MASK == F.NID_TYPE_HID:
            data = self.get(hnid)
            return len(data), io.BytesIO(data)
        node = self.subnode(hnid)
        stream: NodeStream = node.open(what)
        return node.size, stream  # type: ignore[return-value]

    def hnid_size(self, hnid: int) -> int:
        if hnid & F.NID_TYPE_MASK == F.NID_TYPE_HID:
            return len(self.get(hnid))
        return self.subnode(hnid).size

    def subnode(self, nid: int) -> Node:
        node = self.node.subnode(nid)
        if node is None:
            raise self._err(f"subnode 0x{nid:X} is missing")
        return node

    def bth(self, hid: int) -> tuple[int, int, Iterator[tuple[bytes, bytes]]]:
        """cbKey, cbEnt and the (key, data) leaf records of the BTH (2.3.2) at `hid`."""
        hdr = self.get(hid)
        if len(hdr) < 8:
            raise self._err(f"BTH header at HID 0x{hid:X} is truncated")
        b_type, cb_key, cb_ent, levels, hid_root = struct.unpack_from("<BBBBI", hdr)
        if b_type != F.bTypeBTH:
            raise self._err(f"expected a BTH header at HID 0x{hid:X}, found type 0x{b_type:02X}")
        return cb_key, cb_ent, self._bth_walk(hid_root, levels, cb_key, cb_ent)

    def _bth_walk(self, hid: int, level: int, cb_key: int, cb_ent: int) -> Iterator[tuple[bytes, bytes]]:
        if hid == 0:
            return
        data = self.get(hid)
        if level == 0:
            size = cb_key + cb_ent
            for off in range(0, len(data) - size + 1, size):
                yield data[off : off + cb_key], data[off + cb_key : off + size]
        else:
            size = cb_key + 4
            for off in range(0, len(data) - size + 1, size):
                (child,) = struct.unpack_from("<I", data, off + cb_key)
                yield from self._bth_walk(child, level - 1, cb_key, cb_ent)


class PropertyContext:
    """A property context (2.3.3): property id -> (type, dwValueHnid), values on demand."""

    def __init__(self, node: Node) -> None:
        self.heap = Heap(node)
        if self.heap.client_sig != F.bTypePC:
            raise self.heap._err(f"not a property context (bClientSig 0x{self.heap.client_sig:02X})")
        cb_key, cb_ent, records = self.heap.bth(self.heap.user_root)
        if cb_key != F.PC_KEY_SIZE or cb_ent != F.PC_DATA_SIZE:
            raise self.heap._err(f"property context BTH has cbKey {cb_key}, cbEnt {cb_ent}")
        self.entries: dict[int, tuple[int, int]] = {}
        for key, data in records:
            (prop_id,) = struct.unpack("<H", key)
            prop_type, value = struct.unpack("<HI", data)
            self.entries[prop_id] = (prop_type, value)

    def raw(self, prop_id: int) -> RawProp:
        """The property `prop_id` as a RawProp (large values are read whole)."""
        prop_type, value = self.entries[prop_id]
        if _inline(prop_type):
            return RawProp(prop_id, prop_type, struct.pack("<I", value))
        return RawProp(prop_id, prop_type, self.heap.get_hnid(value))

    def props(self, exclude: tuple[tuple[int, int], ...] = ()) -> dict[int, RawProp]:
        """All properties keyed by id, except the (id, type) pairs in `exclude`."""
        return {pid: self.raw(pid) for pid, (ptype, _v) in self.entries.items() if (pid, ptype) not in exclude}


@dataclass(frozen=True, slots=True)
class TableColumn:
    """A TCOLDESC (2.3.4.2)."""

    prop_id: int
    prop_type: int
    ib_data: int
    cb_data: int
    i_bit: int


class TableContext:
    """A table context (2.3.4): columns, and rows read from the row matrix on demand."""

    def __init__(self, node: Node) -> None:
        self.heap = heap = Heap(node)
        if heap.client_sig != F.bTypeTC:
            raise heap._err(f"not a table context (bClientSig 0x{heap.client_sig:02X})")
        info = heap.get(heap.user_root)
        if len(info) < F.TCINFO_HEADER_SIZE:
            raise heap._err("TCINFO is truncated")
        b_type, c_cols, *rgib = struct.unpack_from("<BB4H", info)
        self.hid_row_index, self.hnid_rows = struct.unpack_from("<II", info, 10)
        if b_type != F.bTypeTC or len(info) < F.TCINFO_HEADER_SIZE + c_cols * F.TCOLDESC_SIZE:
            raise heap._err("TCINFO is malformed")
        self.row_size = rgib[F.TCI_BM]
        self.ceb_offset = rgib[F.TCI_1B]
        self.columns: list[TableColumn] = []
        for i in range(c_cols):
            tag, ib, cb, bit = struct.unpack_from("<IHBB", info, F.TCINFO_HEADER_SIZE + i * F.TCOLDESC_SIZE)
            col = TableColumn(tag >> 16, tag & 0xFFFF, ib, cb, bit)
            if ib + cb > self.ceb_offset or bit // 8 >= self.row_size - self.ceb_offset:
                raise heap._err(f"column 0x{tag:08X} lies outside the row")
            self.columns.append(col)

    def _row_blocks(self) -> Iterator[bytes]:
        if self.hnid_rows == 0 or self.row_size == 0:
            return
        if self.hnid_rows & F.NID_TYPE_MASK == F.NID_TYPE_HID:
            yield self.heap.get(self.hnid_rows)
        else:
            # Rows never span blocks: each block of the subnode holds whole rows (2.3.4.4).
            yield from self.heap.subnode(self.hnid_rows).blocks()

    def raw_rows(self) -> Iterator[bytes]:
        """Each row of the row matrix, as its raw bytes."""
        size = self.row_size
        for block in self._row_blocks():
            for off in range(0, len(block) - size + 1, size):
                yield block[off : off + size]

    def row_ids(self) -> list[int]:
        """dwRowID of each row (for the attachment table: the attachment's subnode NID)."""
        return [struct.unpack_from("<I", row)[0] for row in self.raw_rows()]

    def rows(self) -> Iterator[dict[int, RawProp]]:
        """Each row as {prop_id: RawProp}, only the cells whose existence bit is set."""
        for row in self.raw_rows():
            yield self.decode_row(row)

    def decode_row(self, row: bytes) -> dict[int, RawProp]:
        ceb = row[self.ceb_offset :]
        out: dict[int, RawProp] = {}
        for col in self.columns:
            if not ceb[col.i_bit // 8] & (0x80 >> (col.i_bit % 8)):
                continue
            cell = row[col.ib_data : col.ib_data + col.cb_data]
            size = fixed_size(col.prop_type)
            if size is None and col.prop_type in (PropType.PT_UNSPECIFIED, PropType.PT_NULL):
                size = 4
            if size is not None:
                # Some writers give a 4-byte type an 8-byte cell: keep the type's own size.
                value = cell[:size].ljust(4, b"\0")
            else:
                (hnid,) = struct.unpack("<I", cell)
                value = self.heap.get_hnid(hnid)
            out[col.prop_id] = RawProp(col.prop_id, col.prop_type, value)
        return out
