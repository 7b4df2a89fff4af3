"""The NDB layer of a Unicode PST, write side ([MS-PST] 2.2): file layout, blocks, trees, maps.

The writer is append-only: blocks go to the end of the file as they are produced, so memory
stays flat whatever the file size. Only the B-tree entries are kept (as packed arrays, 24-32
bytes per block or node). On `close()` the NBT and BBT pages, the allocation maps (AMap,
PMap, FMap, FPMap), the density list and the header are written.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from core.pst.ndb.crc import crc32
from core.pst.ndb.crypt import encode_block
from core.pst.ndb.format import (
    BBTENTRY_SIZE_UNICODE,
    BID_INTERNAL_BIT,
    BLOCK_ALIGNMENT,
    BLOCK_TRAILER_SIZE_UNICODE,
    BTENTRY_SIZE_UNICODE,
    BTPAGE_ENTRIES_SIZE_UNICODE,
    BTYPE_SLBLOCK,
    BTYPE_XBLOCK,
    CLIENT_MAGIC_PST,
    HEADER_CRC_FULL_SIZE,
    HEADER_CRC_PARTIAL_OFFSET,
    HEADER_CRC_PARTIAL_SIZE,
    HEADER_MAGIC,
    MAX_BLOCK_DATA_UNICODE,
    NBTENTRY_SIZE_UNICODE,
    NDB_CLIENT_VERSION,
    NDB_CRYPT_NONE,
    NDB_SENTINEL,
    NDB_VERSION_UNICODE,
    NID_TYPE_ASSOC_MESSAGE,
    NID_TYPE_NORMAL_MESSAGE,
    NID_TYPE_SEARCH_FOLDER,
    PAGE_SIZE,
    SIBLOCK_LEVEL,
    SLBLOCK_LEVEL,
    XBLOCK_LEVEL,
    XXBLOCK_LEVEL,
    PageType,
)

# File layout (2.2.2.7): the density list page sits at 0x4200, the first AMap at 0x4400, and
# every AMap maps the 253,952 bytes that start with itself. A PMap follows every 8th AMap.
# The header holds the first 128 bytes of FMap (one byte per AMap) and of FPMap (one bit
# per PMap), so FMap pages start at AMap 128 (then every 496 AMaps), FPMap pages at AMap
# 8192 (2 GB; then every 496 * 8 PMaps).
DLIST_OFFSET = 0x4200
AMAP_FIRST_OFFSET = 0x4400
AMAP_COVERAGE = 496 * 8 * 64
PMAP_EVERY = 8
FMAP_FIRST = 128
FMAP_EVERY = 496
FPMAP_FIRST = 128 * 8 * PMAP_EVERY
FPMAP_EVERY = 496 * 8 * PMAP_EVERY
SLOT = BLOCK_ALIGNMENT
SLOTS_PER_AMAP = AMAP_COVERAGE // SLOT

XBLOCK_MAX_BIDS = (MAX_BLOCK_DATA_UNICODE - 8) // 8  # 1021 child BIDs per XBLOCK / XXBLOCK
SLENTRY_SIZE = 24
SIENTRY_SIZE = 16
SLBLOCK_MAX = (MAX_BLOCK_DATA_UNICODE - 8) // SLENTRY_SIZE
SIBLOCK_MAX = (MAX_BLOCK_DATA_UNICODE - 8) // SIENTRY_SIZE
BT_LEAF_MAX_BBT = BTPAGE_ENTRIES_SIZE_UNICODE // BBTENTRY_SIZE_UNICODE  # 20
BT_LEAF_MAX_NBT = BTPAGE_ENTRIES_SIZE_UNICODE // NBTENTRY_SIZE_UNICODE  # 15
BT_INTERMEDIATE_MAX = BTPAGE_ENTRIES_SIZE_UNICODE // BTENTRY_SIZE_UNICODE  # 20
MAX_BTREE_LEVELS = 8  # far beyond any real file; a guard against runaway recursion
BLOCK_CREF = 2  # the BBT counts its own reference plus the parent's, as Outlook writes it
PAGE_DATA = PAGE_SIZE - 16
NID_INDEX_BASE = 0x400  # rgnid[] values start at 0x400 in a new file (2.2.2.6)
# Outlook starts some NID types higher (MS-PST 3.2, sample header): search folders at 0x4000,
# associated messages at 0x8000, normal messages at 0x10000.
NID_INDEX_FIRST = {NID_TYPE_SEARCH_FOLDER: 0x4000, NID_TYPE_ASSOC_MESSAGE: 0x8000, NID_TYPE_NORMAL_MESSAGE: 0x10000}
VALID_AMAP2 = 0x02

_BLOCK_TRAILER = struct.Struct("<HHIQ")
_PAGE_TRAILER = struct.Struct("<BBHIQ")


def compute_sig(ib: int, bid: int) -> int:
    """[MS-PST] 5.5 ComputeSig: the 16-bit signature of a block or page trailer."""
    ib ^= bid
    return ((ib >> 16) ^ ib) & 0xFFFF


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def amap_offset(index: int) -> int:
    """File offset of the AMap page with this index."""
    return AMAP_FIRST_OFFSET + index * AMAP_COVERAGE


def reserved_pages(index: int) -> list[PageType]:
    """The map pages at the start of AMap section `index`, in file order."""
    pages = [PageType.ptypeAMap]
    if index % PMAP_EVERY == 0:
        pages.append(PageType.ptypePMap)
    if index >= FMAP_FIRST and (index - FMAP_FIRST) % FMAP_EVERY == 0:
        pages.append(PageType.ptypeFMap)
    if index >= FPMAP_FIRST and (index - FPMAP_FIRST) % FPMAP_EVERY == 0:
        pages.append(PageType.ptypeFPMap)
    return pages


class NdbWriter:
    """Appends blocks to a new Unicode PST and writes its B-trees, maps and header on close.

    Args:
        f: a new, empty binary file opened for writing and reading ("w+b").
        crypt_method: bCryptMethod for data blocks (none by default, or permute).
    """

    def __init__(self, f: BinaryIO, crypt_method: int = NDB_CRYPT_NONE) -> None:
        self.f = f
        self.crypt_method = crypt_method
        self._pos = amap_offset(0) + PAGE_SIZE * len(reserved_pages(0))
        self._holes: list[tuple[int, int]] = []  # free (offset, size) ranges left in the data
        self._next_block_bid = 4
        self._next_page_bid = 4
        # BBT entries, in BID order because BIDs are handed out as blocks are appended: block i
        # has BID 4 * (i + 1), plus the internal bit. 7 bytes a block (ib in 64-byte units).
        self._bbt_internal = bytearray()
        self._bbt_ib64 = array("I")  # 4 bytes: up to 256 GB in 64-byte units
        self._bbt_cb = array("H")
        # NBT entries (sorted on close).
        self._nbt_nid = array("Q")
        self._nbt_data = array("Q")
        self._nbt_sub = array("Q")
        self._nbt_parent = array("I")
        self.next_nid_index = [NID_INDEX_BASE] * 32
        for nid_type, first in NID_INDEX_FIRST.items():
            self.next_nid_index[nid_type] = first
        self.unique = 1
        self.f.seek(0)
        self.f.truncate(0)

    # -- allocation ------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Where the next block goes: the file's current data size."""
        return self._pos

    def _alloc(self, size: int, align: int = SLOT) -> int:
        """Reserve `size` bytes at the end of the data, never across an AMap section."""
        pos = _align(self._pos, align)
        index = (pos - AMAP_FIRST_OFFSET) // AMAP_COVERAGE
        maps_end = amap_offset(index) + PAGE_SIZE * len(reserved_pages(index))
        if pos < maps_end:  # landed on a section's map pages: go past them
            pos = _align(maps_end, align)
        section_end = amap_offset(index + 1)
        if pos + size > section_end:
            nxt = section_end + PAGE_SIZE * len(reserved_pages(index + 1))
            if section_end > self._pos:
                self._holes.append((self._pos, section_end - self._pos))
            pos = _align(nxt, align)
            self._pos = nxt
        if pos > self._pos:
            gap_start = self._pos
            index_gap = (gap_start - AMAP_FIRST_OFFSET) // AMAP_COVERAGE
            maps_gap_end = amap_offset(index_gap) + PAGE_SIZE * len(reserved_pages(index_gap))
            if gap_start < maps_gap_end:  # the map pages themselves are not free space
                gap_start = maps_gap_end
            if pos > gap_start:
                self._holes.append((gap_start, pos - gap_start))
        self._pos = pos + size
        return pos

    # -- blocks ----------------------------------------------------------------------
    def write_block(self, data: bytes | bytearray | memoryview, internal: bool = False) -> int:
        """Append one block (data, padding, trailer) and return its BID."""
        cb = len(data)
        if cb > MAX_BLOCK_DATA_UNICODE:
            raise ValueError(f"block of {cb} bytes exceeds {MAX_BLOCK_DATA_UNICODE}")
        bid = self._next_block_bid | (BID_INTERNAL_BIT if internal else 0)
        self._next_block_bid += 4
        if not internal and self.crypt_method != NDB_CRYPT_NONE:
            data = encode_block(data, self.crypt_method, bid)
        total = _align(cb + BLOCK_TRAILER_SIZE_UNICODE, SLOT)
        ib = self._alloc(total)
        pad = total - cb - BLOCK_TRAILER_SIZE_UNICODE
        trailer = _BLOCK_TRAILER.pack(cb, compute_sig(ib, bid), crc32(data), bid)
        f = self.f
        if f.tell() != ib:
            f.seek(ib)
        f.write(data)
        if pad:
            f.write(b"\0" * pad)
        f.write(trailer)
        self._bbt_internal.append(BID_INTERNAL_BIT if internal else 0)
        self._bbt_ib64.append(ib // SLOT)
        self._bbt_cb.append(cb)
        return bid

    def write_stream(self, chunks: Iterable[bytes]) -> tuple[int, int]:
        """Write a byte stream as a data tree (2.2.2.8.3.2); returns (root BID, total size).

        Chunks of any size are re-cut into 8,176-byte blocks; an XBLOCK or XXBLOCK is added when
        the data needs more than one block. An empty stream is one empty block.
        """
        return self.write_block_list(_recut(chunks))

    def write_block_list(self, blocks: Iterable[bytes]) -> tuple[int, int]:
        """Write pre-cut blocks (each at most 8,176 bytes) as one data tree, in order."""
        bids = array("Q")
        sizes = array("Q")
        total = 0
        for data in blocks:
            bids.append(self.write_block(data))
            sizes.append(len(data))
            total += len(data)
        if not bids:
            return self.write_block(b""), 0
        if len(bids) == 1:
            return bids[0], total
        # XBLOCKs over runs of 1021 data blocks, then one XXBLOCK over the XBLOCKs if needed.
        xbids = array("Q")
        xsizes = array("Q")
        for start in range(0, len(bids), XBLOCK_MAX_BIDS):
            run = bids[start : start + XBLOCK_MAX_BIDS]
            lcb = sum(sizes[start : start + XBLOCK_MAX_BIDS])
            xbids.append(self._write_xblock(XBLOCK_LEVEL, run, lcb))
            xsizes.append(lcb)
        if len(xbids) == 1:
            return xbids[0], total
        if len(xbids) > XBLOCK_MAX_BIDS:
            raise ValueError("data tree too large for one XXBLOCK (over 8.5 GB)")
        return self._write_xblock(XXBLOCK_LEVEL, xbids, total), total

    def _write_xblock(self, level: int, bids: array, lcb_total: int) -> int:
        head = struct.pack("<BBHI", BTYPE_XBLOCK, level, len(bids), lcb_total)
        return self.write_block(head + bids.tobytes(), internal=True)

    def write_subnodes(self, entries: list[tuple[int, int, int]]) -> int:
        """Write a subnode tree (SLBLOCK, or SIBLOCK over SLBLOCKs) and return its BID.

        `entries` are (nid, bidData, bidSub) triples; they are sorted by NID here.
        """
        if not entries:
            return 0
        entries = sorted(entries)
        sl_bids: list[tuple[int, int]] = []
        for start in range(0, len(entries), SLBLOCK_MAX):
            run = entries[start : start + SLBLOCK_MAX]
            body = bytearray(struct.pack("<BBHI", BTYPE_SLBLOCK, SLBLOCK_LEVEL, len(run), 0))
            for nid, bid_data, bid_sub in run:
                body += struct.pack("<QQQ", nid, bid_data, bid_sub)
            sl_bids.append((run[0][0], self.write_block(body, internal=True)))
        if len(sl_bids) == 1:
            return sl_bids[0][1]
        if len(sl_bids) > SIBLOCK_MAX:
            raise ValueError("too many subnodes for one SIBLOCK")
        body = bytearray(struct.pack("<BBHI", BTYPE_SLBLOCK, SIBLOCK_LEVEL, len(sl_bids), 0))
        for nid, bid in sl_bids:
            body += struct.pack("<QQ", nid, bid)
        return self.write_block(body, internal=True)

    # -- nodes -----------------------------------------------------------------------
    def new_nid(self, nid_type: int) -> int:
        """Allocate the next NID of a type (tracked in the header's rgnid[])."""
        index = self.next_nid_index[nid_type]
        self.next_nid_index[nid_type] = index + 1
        return (index << 5) | nid_type

    def reserve_nid(self, nid: int) -> None:
        """Note a fixed NID so that rgnid[] stays above it."""
        t, index = nid & 0x1F, nid >> 5
        if index >= self.next_nid_index[t]:
            self.next_nid_index[t] = index + 1

    def add_node(self, nid: int, bid_data: int, bid_sub: int, parent: int) -> None:
        """Record a top-level node for the NBT."""
        self._nbt_nid.append(nid)
        self._nbt_data.append(bid_data)
        self._nbt_sub.append(bid_sub)
        self._nbt_parent.append(parent)

    # -- pages and close -------------------------------------------------------------
    def _write_page(self, payload: bytes, ptype: int, ib: int | None = None, bid: int | None = None) -> tuple[int, int]:
        if len(payload) != PAGE_DATA:
            raise ValueError("page payload must be 496 bytes")
        if ib is None:
            ib = self._alloc(PAGE_SIZE, PAGE_SIZE)
        if bid is None:
            bid = self._next_page_bid
            self._next_page_bid += 4
        is_map = ptype in (PageType.ptypeAMap, PageType.ptypePMap, PageType.ptypeFMap, PageType.ptypeFPMap)
        sig = 0 if is_map else compute_sig(ib, bid)
        self.f.seek(ib)
        self.f.write(payload)
        self.f.write(_PAGE_TRAILER.pack(ptype, ptype, sig, crc32(payload), bid))
        return bid, ib

    def _write_btree(
        self, ptype: int, leaf_entries: Iterator[tuple[int, bytes]], leaf_max: int, cb_ent: int
    ) -> tuple[int, int, int]:
        """Write a B-tree bottom-up; returns (root bid, root ib, depth)."""
        level_refs: list[tuple[int, int, int]] = []  # (first key, bid, ib) of the level below
        run: list[tuple[int, bytes]] = []

        def flush_leaf() -> None:
            body = b"".join(e for _, e in run)
            payload = body.ljust(BTPAGE_ENTRIES_SIZE_UNICODE, b"\0") + struct.pack(
                "<BBBBI", len(run), leaf_max, cb_ent, 0, 0
            )
            bid, ib = self._write_page(payload, ptype)
            level_refs.append((run[0][0], bid, ib))
            run.clear()

        for key, entry in leaf_entries:
            run.append((key, entry))
            if len(run) == leaf_max:
                flush_leaf()
        if run or not level_refs:
            if not run:  # an empty tree is one empty leaf page
                payload = bytes(BTPAGE_ENTRIES_SIZE_UNICODE) + struct.pack("<BBBBI", 0, leaf_max, cb_ent, 0, 0)
                bid, ib = self._write_page(payload, ptype)
                return bid, ib, 0
            flush_leaf()
        level = 0
        while len(level_refs) > 1:
            level += 1
            if level > MAX_BTREE_LEVELS:
                raise ValueError("B-tree too deep")
            upper: list[tuple[int, int, int]] = []
            for start in range(0, len(level_refs), BT_INTERMEDIATE_MAX):
                chunk = level_refs[start : start + BT_INTERMEDIATE_MAX]
                body = b"".join(struct.pack("<QQQ", k, b, i) for k, b, i in chunk)
                payload = body.ljust(BTPAGE_ENTRIES_SIZE_UNICODE, b"\0") + struct.pack(
                    "<BBBBI", len(chunk), BT_INTERMEDIATE_MAX, BTENTRY_SIZE_UNICODE, level, 0
                )
                bid, ib = self._write_page(payload, ptype)
                upper.append((chunk[0][0], bid, ib))
            level_refs = upper
        _, bid, ib = level_refs[0]
        return bid, ib, level

    def close(self, header_extra: dict[str, int] | None = None) -> dict[str, int]:
        """Write the NBT, BBT, maps and header; returns a summary (sizes and tree depths)."""
        order = sorted(range(len(self._nbt_nid)), key=self._nbt_nid.__getitem__)
        nids = [self._nbt_nid[i] for i in order]
        if len(set(nids)) != len(nids):
            raise ValueError("duplicate NID in the node B-tree")

        def nbt_entries() -> Iterator[tuple[int, bytes]]:
            for i in order:
                nid = self._nbt_nid[i]
                yield nid, struct.pack("<QQQII", nid, self._nbt_data[i], self._nbt_sub[i], self._nbt_parent[i], 0)

        nbt_bid, nbt_ib, nbt_depth = self._write_btree(
            PageType.ptypeNBT, nbt_entries(), BT_LEAF_MAX_NBT, NBTENTRY_SIZE_UNICODE
        )

        def bbt_entries() -> Iterator[tuple[int, bytes]]:
            for i, (flag, ib64, cb) in enumerate(zip(self._bbt_internal, self._bbt_ib64, self._bbt_cb, strict=True)):
                bid = (4 * (i + 1)) | flag
                yield bid, struct.pack("<QQHHI", bid, ib64 * SLOT, cb, BLOCK_CREF, 0)

        # Page BIDs of the BBT must be known before its pages are laid out, but the BBT lists
        # blocks only, so writing it after the NBT needs no fix-up.
        bbt_bid, bbt_ib, bbt_depth = self._write_btree(
            PageType.ptypeBBT, bbt_entries(), BT_LEAF_MAX_BBT, BBTENTRY_SIZE_UNICODE
        )
        # The file ends at the end of the last AMap section that holds data, so every byte
        # after the last allocation up to there is free space the maps account for.
        eof = self._pos
        last_index = (eof - 1 - AMAP_FIRST_OFFSET) // AMAP_COVERAGE
        file_end = amap_offset(last_index + 1)
        if file_end > eof:
            self._holes.append((eof, file_end - eof))
        amap_free = self._write_maps(last_index)
        self._write_dlist(last_index)
        self.f.seek(file_end - 1)
        self.f.write(b"\0")
        self._write_header(file_end, amap_offset(last_index), amap_free, nbt_bid, nbt_ib, bbt_bid, bbt_ib)
        self.f.flush()
        return {
            "file_size": file_end,
            "nbt_depth": nbt_depth,
            "bbt_depth": bbt_depth,
            "nodes": len(nids),
            "blocks": len(self._bbt_cb),
        }

    def _write_maps(self, last_index: int) -> int:
        """Write every AMap (and PMap/FMap/FPMap) page; returns the free bytes they map."""
        holes: list[tuple[int, int]] = []
        for off, size in sorted(self._holes):  # merge touching holes into one free run
            if holes and holes[-1][0] + holes[-1][1] == off:
                holes[-1] = (holes[-1][0], holes[-1][1] + size)
            else:
                holes.append((off, size))
        hi = 0
        free_total = 0
        fmap_bytes: list[int] = []
        for index in range(last_index + 1):
            start = amap_offset(index)
            end = start + AMAP_COVERAGE
            bits = bytearray(b"\xff" * (SLOTS_PER_AMAP // 8))
            longest = 0
            while hi < len(holes) and holes[hi][0] < end:
                off, size = holes[hi]
                if off + size <= start:
                    hi += 1
                    continue
                first = max(off, start)
                last = min(off + size, end)
                s0 = (first - start + SLOT - 1) // SLOT
                s1 = (last - start) // SLOT
                for s in range(s0, s1):
                    bits[s >> 3] &= ~(0x80 >> (s & 7)) & 0xFF
                free_total += max(0, s1 - s0) * SLOT
                longest = max(longest, s1 - s0)
                if off + size > end:
                    break
                hi += 1
            fmap_bytes.append(min(longest, 0xFF))
            pages = reserved_pages(index)
            ib = start
            for ptype in pages:
                if ptype == PageType.ptypeAMap:
                    payload = bytes(bits)
                elif ptype == PageType.ptypeFMap:
                    payload = bytes(PAGE_DATA)  # filled below, once every AMap's free run is known
                else:  # PMap and FPMap are deprecated: all pages "in use", nothing to find
                    payload = b"\xff" * PAGE_DATA
                self._write_page(payload, ptype, ib=ib, bid=ib)
                ib += PAGE_SIZE
        # FMap pages carry the longest free run of the AMaps they cover; fill them now.
        for index in range(FMAP_FIRST, last_index + 1, FMAP_EVERY):
            pages = reserved_pages(index)
            ib = amap_offset(index) + PAGE_SIZE * pages.index(PageType.ptypeFMap)
            covered = fmap_bytes[index : index + FMAP_EVERY]
            payload = bytes(covered).ljust(PAGE_DATA, b"\0")
            self._write_page(payload, PageType.ptypeFMap, ib=ib, bid=ib)
        return free_total

    def _write_dlist(self, last_index: int) -> None:
        """The density list (2.2.2.7.4): empty, since the writer leaves no reusable space."""
        payload = struct.pack("<BBHI", 0, 0, 0, last_index).ljust(PAGE_DATA, b"\0")
        self._write_page(payload, PageType.ptypeDL, ib=DLIST_OFFSET, bid=DLIST_OFFSET)

    def _write_header(
        self, eof: int, amap_last: int, amap_free: int, nbt_bid: int, nbt_ib: int, bbt_bid: int, bbt_ib: int
    ) -> None:
        h = bytearray(564)
        h[0:4] = HEADER_MAGIC
        h[8:10] = CLIENT_MAGIC_PST
        struct.pack_into("<HHBB", h, 10, NDB_VERSION_UNICODE, NDB_CLIENT_VERSION, 1, 1)
        struct.pack_into("<II", h, 16, 0, 0)
        struct.pack_into("<Q", h, 24, 0)  # bidUnused
        struct.pack_into("<Q", h, 32, self._next_page_bid)  # bidNextP
        struct.pack_into("<I", h, 40, self.unique)
        for i, index in enumerate(self.next_nid_index):
            struct.pack_into("<I", h, 44 + 4 * i, index)
        struct.pack_into("<Q", h, 172, 0)
        # ROOT (2.2.2.5)
        struct.pack_into(
            "<IQQQQQQQQBBH",
            h,
            180,
            0,
            eof,
            amap_last,
            amap_free,
            0,
            nbt_bid,
            nbt_ib,
            bbt_bid,
            bbt_ib,
            VALID_AMAP2,
            0,
            0,
        )
        struct.pack_into("<I", h, 252, 0)  # dwAlign
        h[256:384] = b"\xff" * 128  # rgbFM: deprecated, MUST be 0xFF
        h[384:512] = b"\xff" * 128  # rgbFP: deprecated, MUST be 0xFF
        h[512] = NDB_SENTINEL
        h[513] = self.crypt_method
        struct.pack_into("<Q", h, 516, self._next_block_bid)  # bidNextB
        partial = crc32(bytes(h[HEADER_CRC_PARTIAL_OFFSET : HEADER_CRC_PARTIAL_OFFSET + HEADER_CRC_PARTIAL_SIZE]))
        struct.pack_into("<I", h, 4, partial)
        full = crc32(bytes(h[HEADER_CRC_PARTIAL_OFFSET : HEADER_CRC_PARTIAL_OFFSET + HEADER_CRC_FULL_SIZE]))
        struct.pack_into("<I", h, 524, full)
        self.f.seek(0)
        self.f.write(h)


def _recut(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut a stream of chunks into full 8,176-byte blocks (the last may be short)."""
    buf = bytearray()
    size = MAX_BLOCK_DATA_UNICODE
    for chunk in chunks:
        if not buf and len(chunk) >= size:
            mv = memoryview(chunk)
            whole = len(chunk) // size * size
            for off in range(0, whole, size):
                yield bytes(mv[off : off + size])
            buf += mv[whole:]
            continue
        buf += chunk
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)
