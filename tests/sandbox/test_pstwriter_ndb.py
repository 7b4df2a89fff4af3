"""The writer's NDB layer checked structure by structure against [MS-PST] 2.2, independently of any reader:
header CRCs, B-tree pages, block trailers, and allocation maps that account for every byte."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

PAGE = 512
AMAP_FIRST = 0x4400
AMAP_COVERAGE = 253_952
PTYPE_BBT, PTYPE_NBT, PTYPE_FMAP, PTYPE_PMAP, PTYPE_AMAP, PTYPE_FPMAP, PTYPE_DL = range(0x80, 0x87)


def crc(data: bytes) -> int:
    """MS-PST 5.3 CRC (raw CRC-32, computed here independently of core.pst.ndb.crc)."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def sig(ib: int, bid: int) -> int:
    ib ^= bid
    return ((ib >> 16) ^ ib) & 0xFFFF


def map_pages(index: int) -> list[int]:
    pages = [PTYPE_AMAP]
    if index % 8 == 0:
        pages.append(PTYPE_PMAP)
    if index >= 128 and (index - 128) % 496 == 0:
        pages.append(PTYPE_FMAP)
    if index >= 8192 and (index - 8192) % (496 * 64) == 0:
        pages.append(PTYPE_FPMAP)
    return pages


def verify_ndb(path: Path) -> dict[str, int]:
    """Check a Unicode PST's NDB structures; returns counts. Raises AssertionError on any flaw."""
    size = path.stat().st_size
    with open(path, "rb") as fh:

        def read(ib: int, n: int) -> bytes:
            fh.seek(ib)
            data = fh.read(n)
            assert len(data) == n, f"short read at {ib}"
            return data

        h = read(0, 564)
        assert h[0:4] == b"!BDN" and h[8:10] == b"SM"
        assert struct.unpack_from("<H", h, 10)[0] == 23, "Unicode wVer"
        assert struct.unpack_from("<I", h, 4)[0] == crc(h[8 : 8 + 471]), "dwCRCPartial"
        assert struct.unpack_from("<I", h, 524)[0] == crc(h[8 : 8 + 516]), "dwCRCFull"
        assert h[512] == 0x80, "bSentinel"
        eof, amap_last, amap_free = struct.unpack_from("<QQQ", h, 184)
        nbt_bid, nbt_ib, bbt_bid, bbt_ib = struct.unpack_from("<QQQQ", h, 216)
        assert h[248] == 0x02, "fAMapValid = VALID_AMAP2"
        assert eof == size, "ibFileEof is the file size"
        assert (eof - AMAP_FIRST) % AMAP_COVERAGE == 0, "the file grows in whole AMap sections"
        n_amaps = (eof - AMAP_FIRST) // AMAP_COVERAGE
        assert amap_last == AMAP_FIRST + (n_amaps - 1) * AMAP_COVERAGE
        bid_next_b = struct.unpack_from("<Q", h, 516)[0]

        used: list[tuple[int, int, str]] = []  # (ib, size, what)

        def check_page(ib: int, ptype: int, bid: int | None = None) -> bytes:
            page = read(ib, PAGE)
            t, t2, wsig, dcrc, pbid = struct.unpack_from("<BBHIQ", page, 496)
            assert t == t2 == ptype, f"page type at {ib}: {t:#x}/{t2:#x}, expected {ptype:#x}"
            assert dcrc == crc(page[:496]), f"page CRC at {ib}"
            if ptype in (PTYPE_BBT, PTYPE_NBT):
                assert pbid == bid and wsig == sig(ib, pbid), f"BT page trailer at {ib}"
            elif ptype != PTYPE_DL:
                assert wsig == 0 and pbid == ib, f"map page trailer at {ib}"
            return page

        depth = {}

        def walk(
            bid: int, ib: int, ptype: int, leaf_size: int, level_expected: int | None, lo: int, entries: list[bytes]
        ) -> int:
            page = check_page(ib, ptype, bid)
            used.append((ib, PAGE, "btpage"))
            c_ent, c_max, cb_ent, level = page[488], page[489], page[490], page[491]
            assert level_expected is None or level == level_expected
            assert 0 < c_ent <= c_max and cb_ent * c_max <= 488
            keys = [struct.unpack_from("<Q", page, i * cb_ent)[0] for i in range(c_ent)]
            assert keys == sorted(keys) and len(set(keys)) == len(keys) and keys[0] >= lo, "sorted keys"
            if level == 0:
                assert cb_ent == leaf_size
                entries.extend(page[i * cb_ent : (i + 1) * cb_ent] for i in range(c_ent))
                return 0
            assert cb_ent == 24
            for i in range(c_ent):
                key, cbid, cib = struct.unpack_from("<QQQ", page, i * 24)
                walk(cbid, cib, ptype, leaf_size, level - 1, key, entries)
            return level

        bbt: list[bytes] = []
        nbt: list[bytes] = []
        depth["bbt"] = walk(bbt_bid, bbt_ib, PTYPE_BBT, 24, None, 0, bbt)
        depth["nbt"] = walk(nbt_bid, nbt_ib, PTYPE_NBT, 32, None, 0, nbt)
        bids = set()
        for e in bbt:
            bid, ib, cb, cref = struct.unpack_from("<QQHH", e)
            assert bid < bid_next_b, "bidNextB is above every BID"
            total = (cb + 16 + 63) // 64 * 64
            trailer = read(ib + total - 16, 16)
            tcb, tsig, tcrc, tbid = struct.unpack("<HHIQ", trailer)
            assert (tcb, tbid) == (cb, bid) and tsig == sig(ib, bid), f"block trailer of {bid:#x}"
            assert tcrc == crc(read(ib, cb)), f"block CRC of {bid:#x}"
            used.append((ib, total, f"block {bid:#x}"))
            bids.add(bid)
        for e in nbt:
            nid, bid_data, bid_sub = struct.unpack_from("<QQQ", e)
            # bidData 0 is an empty node (Outlook writes the empty search queues so)
            assert bid_data == 0 or bid_data in bids, f"node {nid:#x} data block {bid_data:#x} is in the BBT"
            assert bid_sub == 0 or bid_sub in bids
        # map pages at their intervals, and the density list
        check_page(0x4200, PTYPE_DL)
        for index in range(n_amaps):
            base = AMAP_FIRST + index * AMAP_COVERAGE
            for k, ptype in enumerate(map_pages(index)):
                check_page(base + k * PAGE, ptype)
                used.append((base + k * PAGE, PAGE, f"map {ptype:#x}"))
        # no two structures overlap, none crosses an AMap section
        used.sort()
        for (a, an, aw), (b, _bn, bw) in zip(used, used[1:], strict=False):
            assert a + an <= b, f"{aw} at {a} overlaps {bw} at {b}"
        for ib, n, what in used:
            assert (ib - AMAP_FIRST) // AMAP_COVERAGE == (ib + n - 1 - AMAP_FIRST) // AMAP_COVERAGE, (
                f"{what} spans sections"
            )
        # every AMap bit says exactly whether its 64 bytes are in use
        allocated = bytearray(n_amaps * AMAP_COVERAGE // 64)
        for ib, n, _ in used:
            for s in range((ib - AMAP_FIRST) // 64, (ib + n - AMAP_FIRST) // 64):
                allocated[s] = 1
        free = 0
        for index in range(n_amaps):
            bits = read(AMAP_FIRST + index * AMAP_COVERAGE, 496)
            for s in range(496 * 8):
                bit = (bits[s >> 3] >> (7 - (s & 7))) & 1
                assert bit == allocated[index * 3968 + s], f"AMap {index} slot {s}"
                free += 64 * (1 - bit)
        assert free == amap_free, "cbAMapFree"
    return {"blocks": len(bbt), "nodes": len(nbt), "bbt_depth": depth["bbt"], "nbt_depth": depth["nbt"]}


def test_realistic_ndb_structures(realistic_pst: tuple[Path, dict]) -> None:
    """Realistic files: valid header, B-trees, block trailers; AMaps mark exactly the used space."""
    path, _truth = realistic_pst
    counts = verify_ndb(path)
    assert counts["blocks"] > 1000 and counts["bbt_depth"] >= 1


def test_scale_ndb_structures(scale_pst: tuple[Path, dict]) -> None:
    """Scale files pass the same structural checks."""
    path, _truth = scale_pst
    verify_ndb(path)


def test_verifier_catches_a_corrupt_amap(make_writer_pst, tmp_path: Path) -> None:
    """The structural check is not vacuous: one flipped AMap bit fails it."""
    path, _ = make_writer_pst(1, "scale", items=30)
    bad = tmp_path / "bad.pst"
    data = bytearray(path.read_bytes())
    data[AMAP_FIRST + 200] ^= 0x01
    struct.pack_into("<I", data, AMAP_FIRST + 496 + 4, crc(bytes(data[AMAP_FIRST : AMAP_FIRST + 496])))
    bad.write_bytes(data)
    with pytest.raises(AssertionError, match="AMap 0"):
        verify_ndb(bad)
