"""The LTP layer of a PST, write side ([MS-PST] 2.3): heap-on-node, BTH, PC and TC.

A node's content is built in memory (a heap is at most a few MB even for a 100,000-row
table) and handed to the NDB writer as a list of heap pages. Values too large for the heap
(over 3,580 bytes) become subnodes, written at once as data trees.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterable

from core.mapi.types import MV_FLAG, PropType
from core.pst.ndb.format import (
    HN_SIGNATURE,
    HNBITMAPHDR_SIZE,
    HNHDR_SIZE,
    HNPAGEHDR_SIZE,
    MAX_BLOCK_DATA_UNICODE,
    NID_TYPE_LTP,
    TC_ROW_ID,
    TC_ROW_VER,
    TCI_1B,
    TCI_2B,
    TCI_4B,
    TCI_BM,
    bTypeBTH,
    bTypePC,
    bTypeTC,
)

from .ndb import NdbWriter

HN_MAX_ALLOC = 3580  # largest heap allocation (2.3.1.5); bigger values go to subnodes
HN_MAX_ALLOCS_PER_PAGE = 2047  # hidIndex is 11 bits, 1-based
BTH_HEADER = struct.Struct("<BBBBI")
FILL_LEVEL_STEPS = (3584, 2560, 2048, 1792, 1536, 1280, 1024, 768, 512, 256, 128, 64, 32, 16, 8)

_FIXED_SIZE = {
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


def _fill_level(free: int) -> int:
    for level, threshold in enumerate(FILL_LEVEL_STEPS):
        if free >= threshold:
            return level
    return 0xF


class Heap:
    """A heap-on-node (2.3.1) under construction: allocations packed into 8 KB pages."""

    def __init__(self, client_sig: int) -> None:
        self.client_sig = client_sig
        self.root = 0
        # Per page: the allocations back to back, and where each one ends (compact, so a
        # 100,000-row table's heap costs its bytes, not a Python object per cell).
        self._data: list[bytearray] = [bytearray()]
        self._ends: list[array] = [array("H")]

    @staticmethod
    def _header_size(page: int) -> int:
        if page == 0:
            return HNHDR_SIZE
        return HNBITMAPHDR_SIZE if page % 128 == 8 else HNPAGEHDR_SIZE

    def alloc(self, data: bytes) -> int:
        """Store `data` (at most 3,580 bytes) and return its HID."""
        size = len(data)
        if size > HN_MAX_ALLOC:
            raise ValueError(f"heap allocation of {size} bytes exceeds {HN_MAX_ALLOC}")
        page = len(self._data) - 1
        n = len(self._ends[page]) + 1
        # header + data + alignment byte + HNPAGEMAP (cAlloc, cFree, n + 1 offsets)
        need = self._header_size(page) + len(self._data[page]) + size + 1 + 4 + 2 * (n + 1)
        if n > HN_MAX_ALLOCS_PER_PAGE or need > MAX_BLOCK_DATA_UNICODE:
            self._data.append(bytearray())
            self._ends.append(array("H"))
            page += 1
        buf = self._data[page]
        buf += data
        ends = self._ends[page]
        ends.append(len(buf))
        return (page << 16) | (len(ends) << 5)

    def pages(self) -> list[bytes]:
        """Serialize: one bytes object per heap page (each becomes one data block)."""
        out: list[bytearray] = []
        fills = []
        for p, (data, ends) in enumerate(zip(self._data, self._ends, strict=True)):
            hsize = self._header_size(p)
            offsets = [hsize, *(hsize + e for e in ends)]
            ib_map = offsets[-1] + (offsets[-1] & 1)
            body = bytearray(hsize)
            body += data
            body += b"\0" * (ib_map - len(body))
            body += struct.pack("<HH", len(ends), 0)
            body += struct.pack(f"<{len(offsets)}H", *offsets)
            fills.append(_fill_level(MAX_BLOCK_DATA_UNICODE - len(body)))
            if p == 0:
                struct.pack_into("<HBBI", body, 0, ib_map, HN_SIGNATURE, self.client_sig, self.root)
            else:
                struct.pack_into("<H", body, 0, ib_map)
            out.append(body)
        # rgbFillLevel: 4 bits per page, page 0..7 in the HNHDR, then 128 per bitmap page.
        first = bytearray(4)
        for p in range(min(8, len(fills))):
            first[p // 2] |= fills[p] << (4 * (p % 2))
        out[0][8:12] = first
        for p in range(8, len(out), 128):
            bm = bytearray(64)
            for q in range(p, min(p + 128, len(fills))):
                k = q - p
                bm[k // 2] |= fills[q] << (4 * (k % 2))
            out[p][2:66] = bm
        return [bytes(b) for b in out]


def build_bth(heap: Heap, key_size: int, ent_size: int, records: Iterable[tuple[bytes, bytes]]) -> int:
    """Build a BTH (2.3.2) from records sorted by key; returns the HID of its BTHHEADER."""
    per_leaf = HN_MAX_ALLOC // (key_size + ent_size)
    level_refs: list[tuple[bytes, int]] = []
    run: list[bytes] = []
    first_key = b""
    for key, data in records:
        if not run:
            first_key = key
        run.append(key + data)
        if len(run) == per_leaf:
            level_refs.append((first_key, heap.alloc(b"".join(run))))
            run = []
    if run:
        level_refs.append((first_key, heap.alloc(b"".join(run))))
    levels = 0
    if not level_refs:
        return heap.alloc(BTH_HEADER.pack(bTypeBTH, key_size, ent_size, 0, 0))
    per_index = HN_MAX_ALLOC // (key_size + 4)
    while len(level_refs) > 1:
        levels += 1
        upper = []
        for start in range(0, len(level_refs), per_index):
            chunk = level_refs[start : start + per_index]
            body = b"".join(k + struct.pack("<I", h) for k, h in chunk)
            upper.append((chunk[0][0], heap.alloc(body)))
        level_refs = upper
    return heap.alloc(BTH_HEADER.pack(bTypeBTH, key_size, ent_size, levels, level_refs[0][1]))


# -- property values -----------------------------------------------------------------
def encode_value(ptype: int, value: object) -> bytes:
    """The stored bytes of a property value of type `ptype` (variable or 8-byte types)."""
    if ptype == PropType.PT_UNICODE:
        return str(value).encode("utf-16-le")
    if ptype == PropType.PT_STRING8:
        return value if isinstance(value, bytes) else str(value).encode("cp1252")
    if ptype in (PropType.PT_BINARY, PropType.PT_OBJECT):
        return bytes(value)  # type: ignore[arg-type]
    if ptype == PropType.PT_CLSID:
        return bytes(value)  # type: ignore[arg-type]
    if ptype in (PropType.PT_SYSTIME, PropType.PT_I8, PropType.PT_CURRENCY):
        return struct.pack("<q", int(value))  # type: ignore[call-overload]
    if ptype in (PropType.PT_DOUBLE, PropType.PT_APPTIME):
        return struct.pack("<d", float(value))  # type: ignore[arg-type]
    if ptype & MV_FLAG:
        base = ptype & ~MV_FLAG
        items = list(value)  # type: ignore[call-overload]
        if base in (PropType.PT_UNICODE, PropType.PT_STRING8, PropType.PT_BINARY):
            blobs = [encode_value(base, v) for v in items]
            offsets = []
            pos = 4 + 4 * len(blobs)
            for b in blobs:
                offsets.append(pos)
                pos += len(b)
            return struct.pack(f"<I{len(blobs)}I", len(blobs), *offsets) + b"".join(blobs)
        if base == PropType.PT_LONG:
            return struct.pack(f"<{len(items)}i", *items)
        if base == PropType.PT_SHORT:
            return struct.pack(f"<{len(items)}h", *items)
        if base in (PropType.PT_SYSTIME, PropType.PT_I8):
            return struct.pack(f"<{len(items)}q", *items)
        if base == PropType.PT_DOUBLE:
            return struct.pack(f"<{len(items)}d", *items)
        if base == PropType.PT_CLSID:
            return b"".join(bytes(v) for v in items)
    raise ValueError(f"unsupported property type 0x{ptype:04X}")


def inline_value(ptype: int, value: object) -> bytes:
    """The 4 inline bytes of a value of 1, 2 or 4 bytes (PC dwValueHnid, TC cells)."""
    if ptype == PropType.PT_BOOLEAN:
        return struct.pack("<I", 1 if value else 0)
    if ptype == PropType.PT_SHORT:
        return struct.pack("<hH", int(value), 0)  # type: ignore[call-overload]
    if ptype == PropType.PT_FLOAT:
        return struct.pack("<f", float(value))  # type: ignore[arg-type]
    return struct.pack("<I", int(value) & 0xFFFFFFFF)  # type: ignore[call-overload]


class SubnodeSink:
    """Collects the subnodes of one node: (nid, bidData, bidSub), written as they come."""

    def __init__(self, ndb: NdbWriter, new_nid: Callable[[int], int]) -> None:
        self.ndb = ndb
        self.new_nid = new_nid
        self.entries: list[tuple[int, int, int]] = []

    def add_stream(self, data: bytes | Iterable[bytes], nid: int | None = None) -> int:
        """Write a value as a data tree in a new LTP subnode; returns the subnode's NID."""
        chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
        bid, _ = self.ndb.write_stream(chunks)
        nid = nid if nid is not None else self.new_nid(NID_TYPE_LTP)
        self.entries.append((nid, bid, 0))
        return nid

    def add_node(self, nid: int, bid_data: int, bid_sub: int) -> None:
        self.entries.append((nid, bid_data, bid_sub))

    def write(self) -> int:
        """Write the subnode tree; returns its BID (0 when there are no subnodes)."""
        return self.ndb.write_subnodes(self.entries)


def value_hnid(heap: Heap, sub: SubnodeSink, data: bytes) -> int:
    """Store a variable-size value in the heap, or in a subnode when it is too big."""
    if len(data) == 0:
        return 0
    if len(data) <= HN_MAX_ALLOC:
        return heap.alloc(data)
    return sub.add_stream(data)


class _Stream:
    """A value to be written from chunks straight into a subnode."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks


def build_pc(
    props: dict[int, object], sub: SubnodeSink, streams: dict[int, tuple[int, Iterable[bytes]]] | None = None
) -> list[bytes]:
    """Build a property context (2.3.3) from {tag: value}; returns its heap pages.

    `streams` maps a tag to (size, chunks) for a value written straight to a subnode without
    being held in memory (attachment data). A PT_OBJECT value is the (nid, size) of an
    embedded object subnode already added to `sub`.
    """
    heap = Heap(bTypePC)
    records: list[tuple[bytes, bytes]] = []
    items = dict(props)
    for tag, (_size, chunks) in (streams or {}).items():
        items[tag] = _Stream(chunks)
    for tag in sorted(items, key=lambda t: (t >> 16, t & 0xFFFF)):
        value = items[tag]
        pid, ptype = tag >> 16, tag & 0xFFFF
        if isinstance(value, _Stream):
            hnid = sub.add_stream(value.chunks)
        elif ptype == PropType.PT_OBJECT:
            nid, size = value  # type: ignore[misc]
            hnid = heap.alloc(struct.pack("<II", nid, size))
        elif ptype in _FIXED_SIZE and _FIXED_SIZE[ptype] <= 4:
            records.append((struct.pack("<H", pid), struct.pack("<H", ptype) + inline_value(ptype, value)))
            continue
        else:
            hnid = value_hnid(heap, sub, encode_value(ptype, value))
        records.append((struct.pack("<H", pid), struct.pack("<HI", ptype, hnid)))
    if len({r[0] for r in records}) != len(records):
        raise ValueError("two values for one property id in a property context")
    heap.root = build_bth(heap, 2, 6, records)
    return heap.pages()


def _column_width(tag: int) -> int:
    t = tag & 0xFFFF
    return _FIXED_SIZE.get(t, 4) if not (t & MV_FLAG) else 4


def _table_layout(columns: frozenset[int]) -> tuple[list[tuple[int, int, int, int]], tuple[int, int, int, int]]:
    """Column layout of a TC row (2.3.4.4): row id and version first, then 8/4-byte, 2-byte and
    1-byte cells, then the cell existence bitmap. Returns ([(tag, ib, cb, iBit)], rgib)."""
    row_id = (TC_ROW_ID << 16) | PropType.PT_LONG
    row_ver = (TC_ROW_VER << 16) | PropType.PT_LONG
    rest = sorted(columns - {row_id, row_ver}, key=lambda t: (-_column_width(t), t))
    groups = (
        [row_id, row_ver] + [t for t in rest if _column_width(t) >= 4],
        [t for t in rest if _column_width(t) == 2],
        [t for t in rest if _column_width(t) == 1],
    )
    layout: list[tuple[int, int, int, int]] = []
    ends = []
    ib = 0
    for group in groups:
        for t in group:
            layout.append((t, ib, _column_width(t), len(layout)))
            ib += _column_width(t)
        ends.append(ib)
    if len(layout) > 255:
        raise ValueError("a table context has at most 255 columns")
    row_size = ends[-1] + (len(layout) + 7) // 8
    return layout, (ends[0], ends[1], ends[2], row_size)


_LAYOUTS: dict[frozenset[int], tuple[list[tuple[int, int, int, int]], tuple[int, int, int, int]]] = {}


class TableBuilder:
    """A table context (2.3.4) filled row by row.

    Args:
        columns: the property tags of the columns (row id and row version are added).
    """

    def __init__(self, columns: Iterable[int]) -> None:
        key = frozenset(int(c) for c in columns)
        layout = _LAYOUTS.get(key)
        if layout is None:
            layout = _LAYOUTS[key] = _table_layout(key)
        self.layout, self.rgib = layout
        self.row_size = self.rgib[TCI_BM]
        self.heap = Heap(bTypeTC)
        self.rows = bytearray()
        self.row_ids = array("I")
        self._by_tag = {t: (o, c, i) for t, o, c, i in self.layout}
        self.rows_per_block = MAX_BLOCK_DATA_UNICODE // self.row_size

    def add_row(self, row_id: int, values: dict[int, object], sub: SubnodeSink) -> None:
        """Append a row; `values` maps column tags to values (missing cells stay absent)."""
        row = bytearray(self.row_size)
        ceb_at = self.rgib[TCI_1B]
        struct.pack_into("<II", row, 0, row_id, 0)
        present = [0, 1]
        for tag, value in values.items():
            slot = self._by_tag.get(int(tag))
            if slot is None or value is None:
                continue
            ib, cb, ibit = slot
            ptype = int(tag) & 0xFFFF
            if ptype in _FIXED_SIZE and not ptype & MV_FLAG:
                if cb == 8:
                    row[ib : ib + 8] = encode_value(ptype, value)
                else:
                    row[ib : ib + cb] = inline_value(ptype, value)[:cb]
            else:
                data = encode_value(ptype, value)
                if not data:
                    continue
                struct.pack_into("<I", row, ib, value_hnid(self.heap, sub, data))
            present.append(ibit)
        for ibit in present:
            row[ceb_at + ibit // 8] |= 0x80 >> (ibit % 8)
        self.rows += row
        self.row_ids.append(row_id)

    def pages(self, sub: SubnodeSink) -> list[bytes]:
        """Finish the table: row index, row matrix, TCINFO; returns the heap pages."""
        n = len(self.row_ids)
        order = sorted(range(n), key=self.row_ids.__getitem__)
        hid_index = build_bth(
            self.heap, 4, 4, ((struct.pack("<I", self.row_ids[i]), struct.pack("<I", i)) for i in order)
        )
        total = len(self.rows)
        if total == 0:
            hnid_rows = 0
        elif total <= HN_MAX_ALLOC:
            hnid_rows = self.heap.alloc(bytes(self.rows))
        else:
            per = self.rows_per_block * self.row_size
            mv = memoryview(self.rows)
            bid, _ = sub.ndb.write_block_list(bytes(mv[o : o + per]) for o in range(0, total, per))
            hnid_rows = sub.new_nid(NID_TYPE_LTP)
            sub.add_node(hnid_rows, bid, 0)
        info = bytearray(struct.pack("<BB4HIII", bTypeTC, len(self.layout), *self.rgib, hid_index, hnid_rows, 0))
        for tag, ib, cb, ibit in sorted(self.layout):
            info += struct.pack("<IHBB", tag, ib, cb, ibit)
        self.heap.root = self.heap.alloc(bytes(info))
        self.rows = bytearray()
        return self.heap.pages()


__all__ = ["Heap", "SubnodeSink", "TableBuilder", "build_bth", "build_pc", "encode_value", "TCI_4B", "TCI_2B", "TCI_BM"]
