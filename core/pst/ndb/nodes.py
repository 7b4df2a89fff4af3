"""The NDB layer of [MS-PST] (section 2.2): header, B-trees, blocks, nodes and subnodes.

`NodeDatabase` reads a PST/OST (Unicode or ANSI) through one file handle: it looks up
BBT/NBT entries by walking the B-tree pages (a fixed number of decoded pages are cached, nothing
is loaded whole), reads blocks with their trailer and CRC checked and their payload decoded
(adjacent blocks of a node in one read, up to MAX_RUN_BYTES),
expands XBLOCK/XXBLOCK data trees and SLBLOCK/SIBLOCK subnode trees, and streams a node's
data (`Node.open()`). Not thread-safe: give each thread its own `NodeDatabase`.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, BinaryIO, Generic, TypeVar

from . import format as F
from .crc import crc32
from .crypt import decode_block, permute_decode
from .errors import NdbError

__all__ = [
    "BRef",
    "BBTEntry",
    "NBTEntry",
    "Header",
    "Node",
    "NodeDatabase",
    "NodeStream",
    "read_header",
]

# Decoded B-tree pages kept (an LRU): a 1 GB PST has ~2,000 BBT leaves; the B-tree's upper levels
# and the leaves in current use fit, and the cache stays under ~1 MB whatever the file's size.
_PAGE_CACHE_SIZE = 256
_RECENT_BBT_LEAVES = 4  # BBT leaves tried after the last one before walking from the root
# The most bytes one read of adjacent blocks asks for (the bound on what a stream holds at once).
MAX_RUN_BYTES = 256 * 1024
_ALIGN_MASK = F.BLOCK_ALIGNMENT - 1
_BID_KEY_MASK = ~F.BID_RESERVED_BIT
# read_block reads this many bytes around a block (from _WINDOW_BEFORE bytes before it) and
# serves blocks inside from them: measured on the 1 GB scale PST, 8 KiB with 2 KiB before saved
# most system calls (63,000 -> 23,000) for the fewest extra bytes.
_WINDOW = 8 * 1024
_WINDOW_BEFORE = 2 * 1024
_zlib_crc32 = zlib.crc32
_PREAD = getattr(os, "pread", None)  # not on Windows: seek and read there
_MAX_TREE_DEPTH = 16  # deeper B-trees or data trees than this mean a corrupt (cyclic) file

_CRYPT_NAMES = {
    F.NDB_CRYPT_NONE: "none",
    F.NDB_CRYPT_PERMUTE: "compressible",
    F.NDB_CRYPT_CYCLIC: "high",
}


@dataclass(frozen=True, slots=True)
class BRef:
    """A block or page reference (2.2.2.4): its id and its byte offset in the file."""

    bid: int
    ib: int


@dataclass(frozen=True, slots=True)
class BBTEntry:
    """A leaf entry of the block B-tree (2.2.2.7.7.3)."""

    bid: int
    ib: int
    cb: int  # bytes of data in the block, trailer and padding excluded
    cref: int


@dataclass(frozen=True, slots=True)
class NBTEntry:
    """A leaf entry of the node B-tree (2.2.2.7.7.4)."""

    nid: int
    bid_data: int
    bid_sub: int
    nid_parent: int


@dataclass(frozen=True, slots=True)
class Header:
    """The decoded file header (2.2.2.6); field names follow the corpus manifest."""

    file_size: int
    client_magic: str  # "SM" (PST) or "SO" (OST)
    wVer: int
    wVerClient: int
    crypt_method: int  # bCryptMethod
    declared_eof: int  # ROOT.ibFileEof
    nbt_root: BRef
    bbt_root: BRef
    crc_partial: int
    crc_full: int | None  # Unicode only

    @property
    def kind(self) -> str:
        """ "PST" or "OST"."""
        return "OST" if self.client_magic == "SO" else "PST"

    @property
    def unicode(self) -> bool:
        return self.wVer >= F.NDB_VERSION_UNICODE

    @property
    def format(self) -> str:
        """ "Unicode" or "ANSI"."""
        return "Unicode" if self.unicode else "ANSI"

    @property
    def crypt_name(self) -> str:
        """ "none", "compressible" (permute) or "high" (cyclic), as Outlook names them."""
        return _CRYPT_NAMES.get(self.crypt_method, f"0x{self.crypt_method:02X}")

    @property
    def truncated(self) -> bool:
        """True when the file is shorter than the header says."""
        return self.file_size < self.declared_eof


def read_header(fh: BinaryIO, file_size: int) -> Header:
    """Read and check the header at the start of `fh`.

    Raises:
        NdbError: not a PST/OST, truncated, unknown version or crypt method, or bad CRC.
    """
    fh.seek(0)
    raw = fh.read(F.HEADER_SIZE_UNICODE)
    if len(raw) < 4 or raw[:4] != F.HEADER_MAGIC:
        raise NdbError("not a PST/OST file (no !BDN signature at offset 0)")
    if len(raw) < F.HEADER_SIZE_ANSI:
        raise NdbError(f"truncated header: the file has only {len(raw)} bytes")
    client_magic = raw[8:10]
    if client_magic not in (F.CLIENT_MAGIC_PST, F.CLIENT_MAGIC_OST):
        raise NdbError(f"unknown wMagicClient {client_magic!r} in the header")
    w_ver, w_ver_client = struct.unpack_from("<HH", raw, 10)
    if w_ver == F.NDB_VERSION_UNICODE_4K:
        raise NdbError("OST with 4 KiB pages (wVer 36, Outlook 2013+) is not supported")
    unicode = w_ver >= F.NDB_VERSION_UNICODE
    if not unicode and w_ver not in (F.NDB_VERSION_ANSI, F.NDB_VERSION_ANSI_MAX):
        raise NdbError(f"unknown file format version wVer={w_ver}")
    if unicode and len(raw) < F.HEADER_SIZE_UNICODE:
        raise NdbError(f"truncated header: the file has only {len(raw)} bytes")
    (crc_partial,) = struct.unpack_from("<I", raw, F.HEADER_CRC_PARTIAL_FIELD)
    start = F.HEADER_CRC_PARTIAL_OFFSET
    if crc32(raw[start : start + F.HEADER_CRC_PARTIAL_SIZE]) != crc_partial:
        raise NdbError("header CRC mismatch (dwCRCPartial): the header is corrupt")
    crc_full = None
    if unicode:
        # ROOT at 180; bCryptMethod at 513; dwCRCFull at 524.
        eof, nbt_bid, nbt_ib, bbt_bid, bbt_ib = struct.unpack_from("<Q24xQQQQ", raw, 184)
        crypt = raw[F.HEADER_CRYPT_METHOD_UNICODE]
        (crc_full,) = struct.unpack_from("<I", raw, 524)
        if crc32(raw[start : start + F.HEADER_CRC_FULL_SIZE]) != crc_full:
            raise NdbError("header CRC mismatch (dwCRCFull): the header is corrupt")
    else:
        # ANSI ROOT at 164; bCryptMethod at 461.
        eof, nbt_bid, nbt_ib, bbt_bid, bbt_ib = struct.unpack_from("<I12xIIII", raw, 168)
        crypt = raw[F.HEADER_CRYPT_METHOD_ANSI]
    if crypt not in _CRYPT_NAMES:
        raise NdbError(f"unsupported bCryptMethod 0x{crypt:02X} in the header")
    return Header(
        file_size=file_size,
        client_magic=client_magic.decode("ascii"),
        wVer=w_ver,
        wVerClient=w_ver_client,
        crypt_method=crypt,
        declared_eof=eof,
        nbt_root=BRef(nbt_bid, nbt_ib),
        bbt_root=BRef(bbt_bid, bbt_ib),
        crc_partial=crc_partial,
        crc_full=crc_full,
    )


_T = TypeVar("_T")


class cached_property(Generic[_T]):  # noqa: N801 - a drop-in for functools.cached_property
    """functools.cached_property without its per-class lock (Python 3.11 takes an RLock on every
    first access; a reader touches ~10 such properties per message). Not thread-safe, like the
    objects that use it: the value is computed on first access and stored in the instance."""

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, cls: type | None = None) -> _T:
        if obj is None:
            return self  # type: ignore[return-value]
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


def _bid_key(bid: int) -> int:
    # Bit 0 of a BID is reserved; some writers set it in references, so never compare it.
    return bid & _BID_KEY_MASK


@lru_cache(maxsize=16)
def _padded(fmt: struct.Struct, size: int) -> struct.Struct:
    """`fmt` followed by pad bytes up to `size` (an entry of cbEnt bytes: its fields, then padding)."""
    return struct.Struct(fmt.format + "x" * (size - fmt.size))


class _BtPage:
    """A decoded B-tree page: its entries' keys in page order and, per entry, the child BRef
    (intermediate page) or the leaf entry's fields as a tuple (BBTENTRY/NBTENTRY, padding last)."""

    __slots__ = ("ptype", "level", "keys", "rows", "lo", "hi", "index")

    def __init__(self, ptype: int, level: int, keys: list[int], rows: list) -> None:  # type: ignore[type-arg]
        self.ptype = ptype
        self.level = level
        self.keys = keys
        self.rows = rows
        # The key range (empty: lo > hi) and, for a leaf whose keys are sorted (a sound page), key ->
        # entry: a dict keeps the last entry of a repeated key, the one bisect_right finds, in one probe.
        self.lo, self.hi = (keys[0], keys[-1]) if keys else (1, 0)
        ordered = level == 0 and all(a <= b for a, b in zip(keys, keys[1:], strict=False))
        self.index = dict(zip(keys, rows, strict=True)) if ordered else None

    def find(self, key: int) -> tuple | None:  # type: ignore[type-arg]
        """The leaf entry with `key` (the last one, as a walk finds it), or None."""
        if self.index is not None:
            return self.index.get(key)
        i = bisect.bisect_right(self.keys, key)
        return self.rows[i - 1] if i and self.keys[i - 1] == key else None


class NodeDatabase:
    """Read-only access to the NDB layer of one PST/OST file.

    Args:
        path: the file to open.

    Raises:
        NdbError: the file cannot be opened or its header is not a readable PST/OST.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._fh: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise NdbError(f"cannot open: {e.strerror or e}", self.path) from None
        try:
            size = os.fstat(self._fh.fileno()).st_size
            self.header = read_header(self._fh, size)
        except NdbError as e:
            self._fh.close()
            e.path = self.path
            raise
        h = self.header
        self.unicode = h.unicode
        self.crypt_method = h.crypt_method
        if self.unicode:
            self._page_trailer = struct.Struct("<BBHIQ")  # ptype, ptypeRepeat, wSig, dwCRC, bid
            self._block_trailer = struct.Struct("<HHIQ")  # cb, wSig, dwCRC, bid
            self._entries_size = F.BTPAGE_ENTRIES_SIZE_UNICODE
            self._id = struct.Struct("<Q")
        else:
            self._page_trailer = struct.Struct("<BBHII")  # ptype, ptypeRepeat, wSig, bid, dwCRC
            self._block_trailer = struct.Struct("<HHII")  # cb, wSig, bid, dwCRC
            self._entries_size = F.BTPAGE_ENTRIES_SIZE_ANSI
            self._id = struct.Struct("<I")
        # entry layouts (2.2.2.7.7.2-4); each cbEnt is checked against them per page
        self._btentry = struct.Struct("<QQQ" if self.unicode else "<III")  # btkey, BREF(bid, ib)
        self._bbtentry = struct.Struct("<QQHH" if self.unicode else "<IIHH")  # BREF, cb, cRef
        self._nbtentry = struct.Struct("<QQQI" if self.unicode else "<IIII")  # nid, bidData, bidSub, nidParent
        self._bt_pages: OrderedDict[int, _BtPage] = OrderedDict()
        self._last_bbt_leaf: _BtPage | None = None
        self._last_nbt_leaf: _BtPage | None = None
        # the BBT leaves reached before the last one, latest first: a message's blocks come from a
        # few places in the file (its PC and tables, its attachments' data, its body)
        self._recent_bbt_leaves: list[_BtPage] = []
        self._fd = self._fh.fileno()
        self._window, self._window_ib = b"", 0  # the last read_block window: its bytes and offset
        # table-context column layouts decoded once per file (core.pst.ndb.ltp.TableContext)
        self.tc_schemas: dict[bytes, Any] = {}
        # I/O accounting, so tests and benchmarks can prove that reads stay bounded.
        self.bytes_read = 0
        self.reads = 0
        self.largest_read = 0
        # Damage met and read past (a header naming its B-tree roots wrongly), for the reader to report.
        self.notes: list[str] = []

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the file. Streams opened from it stop working."""
        self._fh.close()

    def __enter__(self) -> NodeDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw I/O ----------------------------------------------------------------------
    def _pread(self, ib: int, size: int, what: str | int, partial: bool = False) -> bytes:
        """`size` bytes at offset `ib` in one system call; with `partial`, fewer at the end of file.

        `what` names the structure for the error; an int is a block id (formatted only on error).
        """
        if _PREAD is not None:
            data = _PREAD(self._fd, size, ib)
        else:
            self._fh.seek(ib)
            data = self._fh.read(size)
        self.bytes_read += len(data)
        self.reads += 1
        if len(data) > self.largest_read:
            self.largest_read = len(data)
        if len(data) != size and not partial:
            if isinstance(what, int):
                what = f"block 0x{what:X}"
            raise NdbError(f"{what} at offset {ib} lies beyond the end of the file (truncated?)", self.path)
        return data

    def _err(self, reason: str) -> NdbError:
        return NdbError(reason, self.path)

    # -- pages and B-trees (2.2.2.7) --------------------------------------------------
    def _page(self, ref: BRef, ptype: int) -> bytes:
        """A B-tree page, its trailer and CRC checked (uncached: `_bt_page` caches it decoded)."""
        what = f"{F.PageType(ptype).name} page 0x{ref.bid:X}"
        page = self._pread(ref.ib, F.PAGE_SIZE, what)
        tsize = self._page_trailer.size
        if self.unicode:
            p_type, p_repeat, _sig, p_crc, p_bid = self._page_trailer.unpack_from(page, F.PAGE_SIZE - tsize)
        else:
            p_type, p_repeat, _sig, p_bid, p_crc = self._page_trailer.unpack_from(page, F.PAGE_SIZE - tsize)
        if p_type != ptype or p_repeat != ptype:
            raise self._err(f"{what} at offset {ref.ib}: page type 0x{p_type:02X}, expected 0x{ptype:02X}")
        if crc32(page[: F.PAGE_SIZE - tsize]) != p_crc:
            raise self._err(f"{what} at offset {ref.ib}: CRC mismatch")
        if _bid_key(p_bid) != _bid_key(ref.bid):
            if ref is self.header.nbt_root or ref is self.header.bbt_root:
                # The header names the root page by a wrong id, but the page at its offset is a
                # whole page of the right tree: the header is what is damaged. Read on, and say so.
                self.notes.append(
                    f"the header names the {F.PageType(ptype).name} root page 0x{ref.bid:X}, but the page at "
                    f"offset {ref.ib} is 0x{p_bid:X} (the header is damaged; the page was used)"
                )
            else:
                raise self._err(f"{what} at offset {ref.ib}: its trailer names page 0x{p_bid:X}")
        return page

    def _bt_page(self, ref: BRef, ptype: int) -> _BtPage:
        """The B-tree page at `ref`, decoded once into sorted keys and tuples and kept in a
        fixed-size LRU (a lookup then costs a bisect per level, not a struct unpack per probe)."""
        cache = self._bt_pages
        page = cache.get(ref.ib)
        if page is not None:
            if page.ptype == ptype:
                cache.move_to_end(ref.ib)
                return page
            del cache[ref.ib]  # the same offset read as another tree's page: check it afresh
        raw = self._page(ref, ptype)
        c_ent, _c_max, cb_ent, c_level = struct.unpack_from("<BBBB", raw, self._entries_size)
        if c_ent * cb_ent > self._entries_size:
            raise self._err(f"{F.PageType(ptype).name} page 0x{ref.bid:X}: {c_ent} entries do not fit")
        nbt = ptype == F.PageType.ptypeNBT
        # a Unicode NBT entry's NID field is 8 bytes, of which only the low 4 are the NID
        mask = 0xFFFFFFFF if nbt else _BID_KEY_MASK
        fmt = self._btentry if c_level else self._nbtentry if nbt else self._bbtentry
        if cb_ent < fmt.size:
            raise self._err(f"{F.PageType(ptype).name} page 0x{ref.bid:X}: entries of {cb_ent} bytes")
        # all entries in one C call: the entry layout padded to cbEnt, over the cEnt entries
        rows = list(_padded(fmt, cb_ent).iter_unpack(raw[: c_ent * cb_ent]))
        keys = [r[0] & mask for r in rows]
        if c_level:
            page = _BtPage(ptype, c_level, keys, [BRef(r[1], r[2]) for r in rows])
        else:
            page = _BtPage(ptype, 0, keys, rows)
        cache[ref.ib] = page
        if len(cache) > _PAGE_CACHE_SIZE:
            cache.popitem(last=False)
        return page

    def _bt_find(self, ptype: int, key: int) -> tuple | None:
        """The leaf entry (a tuple of its fields) whose key is `key`, or None.

        The last leaf each tree reached is tried first: a node's blocks and the items of a
        folder have ascending ids, so most lookups land in the leaf the previous one used.
        """
        nbt = ptype == F.PageType.ptypeNBT
        leaf = self._last_nbt_leaf if nbt else self._last_bbt_leaf
        if leaf is not None and leaf.lo <= key <= leaf.hi:
            return leaf.find(key)
        if not nbt:
            for leaf in self._recent_bbt_leaves:
                if leaf.lo <= key <= leaf.hi:
                    self._use_bbt_leaf(leaf)
                    return leaf.find(key)
        ref = self.header.nbt_root if nbt else self.header.bbt_root
        for _ in range(_MAX_TREE_DEPTH):
            page = self._bt_page(ref, ptype)
            i = bisect.bisect_right(page.keys, key)  # the last entry whose key is <= key
            if i == 0:
                return None
            if page.level == 0:
                if nbt:
                    self._last_nbt_leaf = page
                else:
                    self._use_bbt_leaf(page)
                return page.rows[i - 1] if page.keys[i - 1] == key else None
            ref = page.rows[i - 1]
        raise self._err(f"{F.PageType(ptype).name} is deeper than {_MAX_TREE_DEPTH} levels (corrupt)")

    def _use_bbt_leaf(self, leaf: _BtPage) -> None:
        last = self._last_bbt_leaf
        if last is leaf:
            return
        recent = self._recent_bbt_leaves
        if leaf in recent:
            recent.remove(leaf)
        if last is not None:
            recent.insert(0, last)
            del recent[_RECENT_BBT_LEAVES:]
        self._last_bbt_leaf = leaf

    def _bbt(self, bid: int) -> tuple[int, int]:
        """(ib, cb) of block `bid` from the block B-tree."""
        key = bid & _BID_KEY_MASK
        leaf = self._last_bbt_leaf  # _bt_find's first try, inline: most lookups end here
        if leaf is not None and leaf.lo <= key <= leaf.hi and leaf.index is not None:
            entry = leaf.index.get(key)
        else:
            entry = self._bt_find(F.PageType.ptypeBBT, key)
        if entry is None:
            raise self._err(f"block 0x{bid:X} is not in the block B-tree")
        return entry[1], entry[2]

    def bbt_lookup(self, bid: int) -> BBTEntry:
        """The block B-tree entry of `bid`.

        Raises:
            NdbError: no such block.
        """
        entry = self._bt_find(F.PageType.ptypeBBT, _bid_key(bid))
        if entry is None:
            raise self._err(f"block 0x{bid:X} is not in the block B-tree")
        return BBTEntry(entry[0], entry[1], entry[2], entry[3])

    def nbt_lookup(self, nid: int) -> NBTEntry | None:
        """The node B-tree entry of the top-level node `nid`, or None."""
        entry = self._bt_find(F.PageType.ptypeNBT, nid & 0xFFFFFFFF)
        if entry is None:
            return None
        return NBTEntry(entry[0] & 0xFFFFFFFF, entry[1], entry[2], entry[3])

    def iter_nbt(self) -> Iterator[NBTEntry]:
        """Every entry of the node B-tree, in NID order (walks all NBT pages once)."""
        yield from self._iter_nbt(self.header.nbt_root, 0)

    def iter_nbt_tolerant(self, damaged: list[str]) -> Iterator[NBTEntry]:
        """Like `iter_nbt`, but a page below the root that cannot be read is described in `damaged`
        and skipped, so the rest of the tree is still listed.

        Raises:
            NdbError: the root page itself cannot be read.
        """
        yield from self._iter_nbt(self.header.nbt_root, 0, damaged)

    def _iter_nbt(self, ref: BRef, depth: int, damaged: list[str] | None = None) -> Iterator[NBTEntry]:
        """The leaf entries below `ref`; with `damaged`, a child page that cannot be read is noted there
        and skipped, without it the error propagates."""
        if depth > _MAX_TREE_DEPTH:
            raise self._err(f"the node B-tree is deeper than {_MAX_TREE_DEPTH} levels (corrupt)")
        page = self._bt_page(ref, F.PageType.ptypeNBT)
        if page.level == 0:
            for nid, bid_data, bid_sub, parent, *_pad in page.rows:
                yield NBTEntry(nid & 0xFFFFFFFF, bid_data, bid_sub, parent)
            return
        if damaged is None:
            for child in list(page.rows):
                yield from self._iter_nbt(child, depth + 1)
            return
        for key, child in zip(page.keys, list(page.rows), strict=True):
            try:
                yield from self._iter_nbt(child, depth + 1, damaged)
            except NdbError as exc:
                damaged.append(f"node B-tree page for NIDs from 0x{key:X} unreadable: {exc.reason}")

    # -- blocks (2.2.2.8) -------------------------------------------------------------
    def _stored(self, raw: bytes, off: int, bid: int, ib: int, cb: int) -> memoryview:
        """The stored (still encoded) payload of the block at `raw[off:]`, trailer and CRC checked."""
        tsize = self._block_trailer.size
        end = off + ((cb + tsize + _ALIGN_MASK) & ~_ALIGN_MASK)
        if self.unicode:
            t_cb, _sig, t_crc, t_bid = self._block_trailer.unpack_from(raw, end - tsize)
        else:
            t_cb, _sig, t_bid, t_crc = self._block_trailer.unpack_from(raw, end - tsize)
        if t_cb != cb or (t_bid ^ bid) & _BID_KEY_MASK:
            raise self._err(f"block 0x{bid:X} at offset {ib}: its trailer does not match the block B-tree")
        data = memoryview(raw)[off : off + cb]
        # crc32() inline: zlib's CRC-32 inverted around, the spec's raw CRC (see .crc)
        if _zlib_crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF != t_crc:
            raise self._err(f"block 0x{bid:X} at offset {ib}: CRC mismatch")
        return data

    def read_block(self, bid: int) -> bytes:
        """The payload of block `bid`: trailer and CRC checked, data blocks decoded.

        Raises:
            NdbError: missing block, bad trailer or CRC mismatch.
        """
        ib, cb = self._bbt(bid)
        total = (cb + self._block_trailer.size + _ALIGN_MASK) & ~_ALIGN_MASK
        raw, off = self._window, ib - self._window_ib
        if off < 0 or off + total > len(raw):
            # A message's small blocks (its PC, subnode block, tables, attachment PCs) lie close
            # together in files written in one go: read a window around the block, so the next
            # ones are sliced from it (a third of the system calls on the writer's scale PSTs).
            start = max(0, ib - _WINDOW_BEFORE)
            raw = self._pread(start, max(ib + total, start + _WINDOW) - start, bid, partial=True)
            off = ib - start
            if off + total > len(raw):
                raise self._err(f"block 0x{bid:X} at offset {ib} lies beyond the end of the file (truncated?)")
            self._window, self._window_ib = raw, start
        data = self._stored(raw, off, bid, ib, cb)
        if bid & F.BID_INTERNAL_BIT or self.crypt_method == F.NDB_CRYPT_NONE:
            return raw[off : off + cb]
        return decode_block(data, self.crypt_method, bid)

    def read_run(self, bids: list[int], start: int, want: int) -> list[bytes | memoryview]:
        """Decoded payloads of the data blocks `bids[start:]` that hold the next `want` bytes
        (at least one block), read with one system call while they lie back to back in the
        file, as a writer lays out a node's blocks; never more than MAX_RUN_BYTES at once.

        Raises:
            NdbError: as `read_block`, for the first block; later blocks that fail are left
            for the next call, so an error is raised where block-by-block reading raises it.
        """
        # One pass per block with everything in locals: a 1 GB PST streams ~130,000 blocks, so the
        # per-block checks (BBT entry, trailer, CRC) are kept but cost no method calls of their own.
        tsize = self._block_trailer.size
        bbt = self._bbt
        ib0, cb = bbt(bids[start])
        spans = [(bids[start], ib0, cb)]
        end = ib0 + ((cb + tsize + _ALIGN_MASK) & ~_ALIGN_MASK)
        limit = ib0 + MAX_RUN_BYTES
        got = cb
        i = start + 1
        n = len(bids)
        while got < want and i < n:
            bid = bids[i]
            try:
                ib, cb = bbt(bid)
            except NdbError:
                break
            stop = end + ((cb + tsize + _ALIGN_MASK) & ~_ALIGN_MASK)
            if ib != end or stop > limit:
                break
            spans.append((bid, ib, cb))
            end = stop
            got += cb
            i += 1
        raw = self._pread(ib0, end - ib0, spans[0][0], partial=True)
        size = len(raw)
        view = memoryview(raw)
        unpack = self._block_trailer.unpack_from
        unicode = self.unicode
        out: list[bytes | memoryview] = []
        for bid, ib, cb in spans:
            off = ib - ib0
            stop = off + ((cb + tsize + _ALIGN_MASK) & ~_ALIGN_MASK)
            if stop > size:
                if out:
                    break
                raise self._err(f"block 0x{bid:X} at offset {ib} lies beyond the end of the file (truncated?)")
            if unicode:
                t_cb, _sig, t_crc, t_bid = unpack(raw, stop - tsize)
            else:
                t_cb, _sig, t_bid, t_crc = unpack(raw, stop - tsize)
            data = view[off : off + cb]
            if t_cb != cb or (t_bid ^ bid) & _BID_KEY_MASK or _zlib_crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF != t_crc:
                if out:
                    break
                self._stored(raw, off, bid, ib, cb)  # raises the error that names what is wrong
            out.append(data)
        method = self.crypt_method
        if method == F.NDB_CRYPT_NONE:
            return out
        if method == F.NDB_CRYPT_PERMUTE and len(out) > 1 and not any(s[0] & F.BID_INTERNAL_BIT for s in spans):
            # one translate over the run (trailers included, they are not used again)
            plain = memoryview(permute_decode(raw))
            return [plain[ib - ib0 : ib - ib0 + cb] for _bid, ib, cb in spans[: len(out)]]
        return [
            view if bid & F.BID_INTERNAL_BIT else decode_block(view, method, bid)
            for (bid, _ib, _cb), view in zip(spans, out, strict=False)
        ]

    def iter_blocks(self, bids: list[int]) -> Iterator[bytes | memoryview]:
        """The decoded payloads of `bids` in order, read in runs of adjacent blocks."""
        i = 0
        while i < len(bids):
            run = self.read_run(bids, i, MAX_RUN_BYTES)
            yield from run
            i += len(run)

    def _xblock(self, bid: int, level: int) -> tuple[int, list[int]]:
        data = self.read_block(bid)
        btype, c_level, c_ent, lcb_total = struct.unpack_from("<BBHI", data)
        if btype != F.BTYPE_XBLOCK or c_level != level:
            raise self._err(f"block 0x{bid:X}: expected an XBLOCK of level {level}")
        n = self._id.size
        if 8 + c_ent * n > len(data):
            raise self._err(f"block 0x{bid:X}: {c_ent} block ids do not fit")
        bids = list(struct.unpack_from(f"<{c_ent}{self._id.format[1]}", data, 8))
        return lcb_total, bids

    def data_tree(self, bid: int) -> tuple[int, list[int]]:
        """Total size and the leaf data-block ids of the data tree rooted at `bid`."""
        if bid == 0:
            return 0, []
        if not bid & F.BID_INTERNAL_BIT:
            return self._bbt(bid)[1], [bid]
        data = self.read_block(bid)
        btype, c_level = data[0], data[1]
        if btype != F.BTYPE_XBLOCK or c_level not in (F.XBLOCK_LEVEL, F.XXBLOCK_LEVEL):
            raise self._err(f"block 0x{bid:X}: not an XBLOCK/XXBLOCK (btype {btype}, level {c_level})")
        total, bids = self._xblock(bid, c_level)
        if c_level == F.XXBLOCK_LEVEL:
            leaves: list[int] = []
            for child in bids:
                leaves.extend(self._xblock(child, F.XBLOCK_LEVEL)[1])
            bids = leaves
        return total, bids

    # -- subnodes (2.2.2.8.3.3) -------------------------------------------------------
    def subnode_tree(self, bid_sub: int) -> dict[int, tuple[int, int]]:
        """The subnodes under `bid_sub`: NID -> (bidData, bidSub)."""
        out: dict[int, tuple[int, int]] = {}
        if bid_sub:
            self._walk_subnodes(bid_sub, out, 0)
        return out

    def _walk_subnodes(self, bid: int, out: dict[int, tuple[int, int]], depth: int) -> None:
        if depth > _MAX_TREE_DEPTH:
            raise self._err(f"subnode tree at block 0x{bid:X} is too deep (corrupt)")
        data = self.read_block(bid)
        btype, c_level, c_ent = struct.unpack_from("<BBH", data)
        if btype != F.BTYPE_SLBLOCK:
            raise self._err(f"block 0x{bid:X}: expected an SLBLOCK/SIBLOCK, found btype {btype}")
        c = self._id.format[1]
        head = 8 if self.unicode else 4  # Unicode has 4 bytes of padding
        per_entry = self._id.size * (3 if c_level == F.SLBLOCK_LEVEL else 2)
        if head + c_ent * per_entry > len(data):
            raise self._err(f"block 0x{bid:X}: {c_ent} subnode entries do not fit")
        if c_level == F.SLBLOCK_LEVEL:
            entries = struct.iter_unpack("<" + c * 3, data[head : head + c_ent * per_entry])
            out.update({nid & 0xFFFFFFFF: (bid_data, bid_sub) for nid, bid_data, bid_sub in entries})
        elif c_level == F.SIBLOCK_LEVEL:
            for _nid, child in struct.iter_unpack("<" + c * 2, data[head : head + c_ent * per_entry]):
                self._walk_subnodes(child, out, depth + 1)
        else:
            raise self._err(f"block 0x{bid:X}: subnode block level {c_level}")

    # -- nodes ------------------------------------------------------------------------
    def node(self, nid: int) -> Node:
        """The top-level node `nid`.

        Raises:
            NdbError: no such node.
        """
        e = self.nbt_lookup(nid)
        if e is None:
            raise self._err(f"node 0x{nid:X} is not in the node B-tree")
        return Node(self, e.nid, e.bid_data, e.bid_sub)


class Node:
    """A node (top-level or subnode): a data stream plus an optional subnode tree."""

    def __init__(self, db: NodeDatabase, nid: int, bid_data: int, bid_sub: int) -> None:
        self.db = db
        self.nid = nid
        self.bid_data = bid_data
        self.bid_sub = bid_sub

    def __repr__(self) -> str:
        return f"Node(nid=0x{self.nid:X}, bid_data=0x{self.bid_data:X}, bid_sub=0x{self.bid_sub:X})"

    @cached_property
    def _tree(self) -> tuple[int, list[int]]:
        return self.db.data_tree(self.bid_data)

    @property
    def size(self) -> int:
        """Total bytes of the node's data."""
        return self._tree[0]

    def blocks(self) -> Iterator[bytes]:
        """The node's data, one decoded data block at a time (a table reads its rows this way)."""
        for block in self.db.iter_blocks(self._tree[1]):
            yield bytes(block)

    def block_ids(self) -> list[int]:
        """The ids of the leaf data blocks, in order."""
        return list(self._tree[1])

    def data(self) -> bytes:
        """The whole data of the node (for small nodes; use `open()` for big ones)."""
        return b"".join(self.db.iter_blocks(self._tree[1]))

    def open(self, what: str | None = None) -> NodeStream:
        """A seekable binary stream over the node's data, read block by block.

        `what` names the data in errors raised while reading (default: the node id).
        """
        return NodeStream(self.db, self._tree[1], self._tree[0], what or f"node 0x{self.nid:X}")

    @cached_property
    def subnodes(self) -> dict[int, tuple[int, int]]:
        """The node's subnode tree: NID -> (bidData, bidSub)."""
        return self.db.subnode_tree(self.bid_sub)

    def subnode(self, nid: int) -> Node | None:
        """The subnode `nid` of this node, or None."""
        ref = self.subnodes.get(nid & 0xFFFFFFFF)
        if ref is None:
            return None
        return Node(self.db, nid & 0xFFFFFFFF, ref[0], ref[1])


class NodeStream(io.RawIOBase):
    """Read-only, seekable stream over a data tree. Holds at most one run of adjacent blocks
    (MAX_RUN_BYTES) in memory: a read of n bytes fetches the blocks that hold them in one go."""

    def __init__(self, db: NodeDatabase, bids: list[int], size: int, what: str) -> None:
        super().__init__()
        self._db = db
        self._bids = bids
        self._size = size
        self._what = what
        self._pos = 0
        self._starts: list[int] | None = None  # offset of each block, computed on first seek
        self._index = 0  # block holding self._pos when reading sequentially
        self._block_start = 0
        self._block: memoryview | None = None
        self._run: list[bytes | memoryview] = []  # decoded blocks from self._run_start on
        self._run_start = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        if pos != self._pos:
            self._pos = pos
            self._locate()
        return pos

    def _locate(self) -> None:
        if self._starts is None:
            starts, at = [], 0
            for bid in self._bids:
                starts.append(at)
                at += self._db._bbt(bid)[1]
            self._starts = starts
        i = max(0, bisect.bisect_right(self._starts, self._pos) - 1)
        if i != self._index or self._block is None:
            self._index, self._block_start, self._block = i, self._starts[i] if self._starts else 0, None

    def _load(self, want: int) -> bytes | memoryview:
        """Block self._index, from the run in hand or a new run covering `want` bytes."""
        k = self._index - self._run_start
        if 0 <= k < len(self._run):
            return self._run[k]
        self._run = []  # let the old run go before reading the next
        try:
            self._run = self._db.read_run(self._bids, self._index, want)
        except NdbError as e:
            raise NdbError(f"{self._what}: {e.reason}", e.path) from None
        self._run_start = self._index
        return self._run[0]

    def _slices(self, want: int) -> list[memoryview]:
        """Views of the next `want` bytes (fewer only at the end of the data), position advanced."""
        want = min(want, self._size - self._pos)
        parts: list[memoryview] = []
        done = 0
        # the loop runs once per block (~30 per converter read): its state in locals, stored back after
        pos, index, block_start, block = self._pos, self._index, self._block_start, self._block
        count = len(self._bids)
        try:
            while done < want and index < count:
                if block is None:
                    self._index = index
                    block = memoryview(self._load(pos - block_start + want - done))
                off = pos - block_start
                size = len(block)
                if off >= size:
                    block_start += size
                    index += 1
                    block = None
                    continue
                n = min(want - done, size - off)
                parts.append(block[off : off + n])
                done += n
                pos += n
        finally:
            self._pos, self._index, self._block_start, self._block = pos, index, block_start, block
        if done < want:
            raise NdbError(f"{self._what}: data tree holds fewer bytes than its declared size", self._db.path)
        return parts

    def read(self, size: int | None = -1) -> bytes:
        # One copy from the blocks in hand (RawIOBase.read would fill a buffer, then copy it).
        if size is None or size < 0:
            size = self._size - self._pos
        return b"".join(self._slices(size))

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        view = memoryview(b).cast("B")
        done = 0
        for part in self._slices(len(view)):
            view[done : done + len(part)] = part
            done += len(part)
        return done

    def close(self) -> None:
        self._run, self._block = [], None
        super().close()
