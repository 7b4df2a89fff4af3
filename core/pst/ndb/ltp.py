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


# The same rule as one set lookup (MV types are never fixed-size, so never inline), and for table cells
# the bytes a fixed-size cell keeps (PT_UNSPECIFIED and PT_NULL: 4), both per type without a call.
_INLINE_TYPES = frozenset(t for t in (*_FIXED_SIZES, PropType.PT_UNSPECIFIED, PropType.PT_NULL) if _inline(t))
_CELL_SIZES = {int(t): n for t, n in _FIXED_SIZES.items()} | {PropType.PT_UNSPECIFIED: 4, PropType.PT_NULL: 4}
_PC_RECORD = struct.Struct("<HHI")  # BTH record of a PC: property id (key), wPropType, dwValueHnid
_U32 = struct.Struct("<I")
_TC_SCHEMAS_KEPT = 64  # distinct table layouts remembered per file (NodeDatabase.tc_schemas)
_new_prop = tuple.__new__  # RawProp(...) without NamedTuple's Python-level __new__


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
        # the whole rgibAlloc array in one C call (a memoryview cast would need an aligned offset)
        offsets = list(struct.unpack_from(f"<{c_alloc + 1}H", data, ib_hnpm + 4))
        self._blocks[index] = cached = (data, offsets)
        return cached

    def get(self, hid: int) -> bytes:
        """The bytes of heap allocation `hid` (HID 0 is the empty value)."""
        if hid == 0:
            return b""
        if hid & F.NID_TYPE_MASK != F.NID_TYPE_HID:
            raise self._err(f"0x{hid:X} is not a HID")
        index = (hid >> F.HID_INDEX_SHIFT) & F.HID_INDEX_MASK
        block = hid >> F.HID_BLOCK_SHIFT
        data, offsets = self._blocks.get(block) or self._block(block)
        if not 0 < index < len(offsets):
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
        cb_key, cb_ent, leaves = self.bth_leaves(hid)

        def records() -> Iterator[tuple[bytes, bytes]]:
            size = cb_key + cb_ent
            for data in leaves:
                for off in range(0, len(data) - size + 1, size):
                    yield data[off : off + cb_key], data[off + cb_key : off + size]

        return cb_key, cb_ent, records()

    def bth_leaves(self, hid: int) -> tuple[int, int, Iterator[bytes]]:
        """cbKey, cbEnt and the leaf allocations of the BTH at `hid`, in key order: each holds
        whole records of cbKey + cbEnt bytes (trailing bytes short of a record are not one)."""
        hdr = self.get(hid)
        if len(hdr) < 8:
            raise self._err(f"BTH header at HID 0x{hid:X} is truncated")
        b_type, cb_key, cb_ent, levels, hid_root = struct.unpack_from("<BBBBI", hdr)
        if b_type != F.bTypeBTH:
            raise self._err(f"expected a BTH header at HID 0x{hid:X}, found type 0x{b_type:02X}")
        return cb_key, cb_ent, self._bth_walk(hid_root, levels, cb_key)

    def _bth_walk(self, hid: int, level: int, cb_key: int) -> Iterator[bytes]:
        if hid == 0:
            return
        data = self.get(hid)
        if level == 0:
            yield data
        else:
            size = cb_key + 4
            for off in range(0, len(data) - size + 1, size):
                (child,) = struct.unpack_from("<I", data, off + cb_key)
                yield from self._bth_walk(child, level - 1, cb_key)


class PropertyContext:
    """A property context (2.3.3): property id -> (type, dwValueHnid), values on demand."""

    def __init__(self, node: Node) -> None:
        self.heap = Heap(node)
        if self.heap.client_sig != F.bTypePC:
            raise self.heap._err(f"not a property context (bClientSig 0x{self.heap.client_sig:02X})")
        cb_key, cb_ent, leaves = self.heap.bth_leaves(self.heap.user_root)
        if cb_key != F.PC_KEY_SIZE or cb_ent != F.PC_DATA_SIZE:
            raise self.heap._err(f"property context BTH has cbKey {cb_key}, cbEnt {cb_ent}")
        self.entries: dict[int, tuple[int, int]] = {}
        size = _PC_RECORD.size
        for data in leaves:
            whole = len(data) - len(data) % size
            # a later record with the same id replaces the value and keeps the first one's place
            self.entries.update({pid: (ptype, value) for pid, ptype, value in _PC_RECORD.iter_unpack(data[:whole])})

    def raw(self, prop_id: int) -> RawProp:
        """The property `prop_id` as a RawProp (large values are read whole)."""
        prop_type, value = self.entries[prop_id]
        if prop_type in _INLINE_TYPES:
            return RawProp(prop_id, prop_type, _U32.pack(value))
        return RawProp(prop_id, prop_type, self.heap.get_hnid(value))

    def props(self, exclude: tuple[tuple[int, int], ...] = ()) -> dict[int, RawProp]:
        """All properties keyed by id, except the (id, type) pairs in `exclude`."""
        heap = self.heap
        get, get_hnid, pack = heap.get, heap.get_hnid, _U32.pack
        blocks = heap._blocks
        out: dict[int, RawProp] = {}
        for pid, (ptype, value) in self.entries.items():
            if exclude and (pid, ptype) in exclude:
                continue
            if ptype in _INLINE_TYPES:
                data = pack(value)
            elif value & F.NID_TYPE_MASK:
                data = get_hnid(value)  # a subnode
            else:
                # Heap.get inline for an allocation of a heap block already read (most values);
                # anything else, or anything out of range, takes Heap.get and its errors.
                cached = blocks.get(value >> F.HID_BLOCK_SHIFT) if value else None
                if cached is not None:
                    index = (value >> F.HID_INDEX_SHIFT) & F.HID_INDEX_MASK
                    block, offsets = cached
                    if 0 < index < len(offsets) and offsets[index - 1] <= offsets[index] <= len(block):
                        data = block[offsets[index - 1] : offsets[index]]
                    else:
                        data = get(value)
                else:
                    data = get(value)
            out[pid] = _new_prop(RawProp, (pid, ptype, data))
        return out


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
        descs = F.TCINFO_HEADER_SIZE + c_cols * F.TCOLDESC_SIZE
        # Every recipient (attachment) table of a file has the same layout: decode each layout once.
        schemas = node.db.tc_schemas
        key = info[2:10] + info[F.TCINFO_HEADER_SIZE : descs]
        schema = schemas.get(key)
        if schema is None:
            schema = self._schema(info[F.TCINFO_HEADER_SIZE : descs])
            if len(schemas) >= _TC_SCHEMAS_KEPT:
                schemas.clear()
            schemas[key] = schema
        self.columns: list[TableColumn] = list(schema[0])
        # Per column, what decode_row needs without attribute look-ups: (id, type, first byte, end of
        # the bytes kept or -1 for an HNID cell, the cell's own end, existence byte, existence mask).
        self._plan: list[tuple[int, int, int, int, int, int, int]] = schema[1]

    def _schema(self, descs: bytes) -> tuple[list[TableColumn], list[tuple[int, int, int, int, int, int, int]]]:
        columns, plan = [], []
        for tag, ib, cb, bit in struct.iter_unpack("<IHBB", descs):
            col = TableColumn(tag >> 16, tag & 0xFFFF, ib, cb, bit)
            if ib + cb > self.ceb_offset or bit // 8 >= self.row_size - self.ceb_offset:
                raise self.heap._err(f"column 0x{tag:08X} lies outside the row")
            columns.append(col)
            size = _CELL_SIZES.get(col.prop_type) if not col.prop_type & MV_FLAG else None
            # Some writers give a 4-byte type an 8-byte cell: keep the type's own size.
            keep = -1 if size is None else ib + min(size, cb)
            plan.append((col.prop_id, col.prop_type, ib, keep, ib + cb, self.ceb_offset + bit // 8, 0x80 >> bit % 8))
        return columns, plan

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
        size = self.row_size
        if size < 4:  # malformed: each row fails on its own, as struct reports it
            return [struct.unpack_from("<I", row)[0] for row in self.raw_rows()]
        ids: list[int] = []
        for block in self._row_blocks():
            ids.extend(_U32.unpack_from(block, off)[0] for off in range(0, len(block) - size + 1, size))
        return ids

    def rows(self) -> Iterator[dict[int, RawProp]]:
        """Each row as {prop_id: RawProp}, only the cells whose existence bit is set."""
        for row in self.raw_rows():
            yield self.decode_row(row)

    def decode_row(self, row: bytes) -> dict[int, RawProp]:
        out: dict[int, RawProp] = {}
        get_hnid = self.heap.get_hnid
        for pid, ptype, ib, keep, end, ceb_byte, mask in self._plan:
            if not row[ceb_byte] & mask:
                continue
            if keep >= 0:
                value = row[ib:keep]
                if len(value) < 4:
                    value = value.ljust(4, b"\0")
            else:
                cell = row[ib:end]
                (hnid,) = _U32.unpack(cell) if len(cell) == 4 else struct.unpack("<I", cell)
                value = get_hnid(hnid)
            out[pid] = _new_prop(RawProp, (pid, ptype, value))
        return out
