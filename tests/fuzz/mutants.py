"""Seeded mutants of real PST files: what damage looks like in the field, made on purpose.

Kinds (each a function of the source bytes and a `random.Random`):
- `zero_page`: one 512-byte page zeroed (a bad sector);
- `zero_block`: one block of the block B-tree zeroed where it lies (a message part, a table, a
  folder's properties...), which CRCs then catch;
- `bit_flips`: 1-16 random bits flipped past the header;
- `truncate`: the file cut short, anywhere from inside the header to near its end;
- `header_field`: one field of the header (file end, B-tree roots, allocation totals, crypt
  method, next ids...) set to another value, with the header's CRCs fixed so the change is believed.

`REPRODUCTIONS` are the exact cases of issue #21.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from core.pst.ndb.crc import crc32

PAGE = 512
KINDS = ("zero_page", "zero_block", "bit_flips", "truncate", "header_field")


@dataclass(frozen=True)
class Mutant:
    source: str
    kind: str
    seed: int
    detail: str
    data: bytes

    @property
    def name(self) -> str:
        stem = self.source.rsplit(".", 1)[0][:40]
        return f"{stem}__{self.kind}_{self.seed}.pst"


def _unicode(data: bytes) -> bool:
    return struct.unpack_from("<H", data, 10)[0] >= 23


# (name, offset, size) of the header fields worth changing, per format (MS-PST 2.2.2.6).
_FIELDS_UNICODE = (
    ("bidNextP", 32, 8),
    ("dwUnique", 40, 4),
    ("rgnid[normal folder]", 44 + 4 * 2, 4),
    ("ibFileEof", 184, 8),
    ("ibAMapLast", 192, 8),
    ("cbAMapFree", 200, 8),
    ("cbPMapFree", 208, 8),
    ("BREFNBT.bid", 216, 8),
    ("BREFNBT.ib", 224, 8),
    ("BREFBBT.bid", 232, 8),
    ("BREFBBT.ib", 240, 8),
    ("fAMapValid", 248, 1),
    ("bCryptMethod", 513, 1),
    ("bidNextB", 516, 8),
)
_FIELDS_ANSI = (
    ("bidNextB", 24, 4),
    ("bidNextP", 28, 4),
    ("dwUnique", 32, 4),
    ("rgnid[normal folder]", 36 + 4 * 2, 4),
    ("ibFileEof", 168, 4),
    ("ibAMapLast", 172, 4),
    ("cbAMapFree", 176, 4),
    ("cbPMapFree", 180, 4),
    ("BREFNBT.bid", 184, 4),
    ("BREFNBT.ib", 188, 4),
    ("BREFBBT.bid", 192, 4),
    ("BREFBBT.ib", 196, 4),
    ("fAMapValid", 200, 1),
    ("bCryptMethod", 461, 1),
)


def fix_header_crcs(buf: bytearray) -> None:
    """Recompute dwCRCPartial (and dwCRCFull for Unicode) after a header edit."""
    struct.pack_into("<I", buf, 4, crc32(bytes(buf[8 : 8 + 471])))
    if _unicode(bytes(buf[:12])):
        struct.pack_into("<I", buf, 524, crc32(bytes(buf[8 : 8 + 516])))


def set_header_field(data: bytes, field: str, value: int) -> bytes:
    """`data` with header field `field` set to `value`, CRCs fixed."""
    fields = _FIELDS_UNICODE if _unicode(data) else _FIELDS_ANSI
    _name, offset, size = next(f for f in fields if f[0] == field)
    buf = bytearray(data)
    buf[offset : offset + size] = (value % (1 << (8 * size))).to_bytes(size, "little")
    fix_header_crcs(buf)
    return bytes(buf)


def _header_end(data: bytes) -> int:
    return 564 if _unicode(data) else 512


def zero_page(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    pages = len(data) // PAGE
    page = rng.randrange(2, max(pages, 3))
    buf = bytearray(data)
    buf[page * PAGE : (page + 1) * PAGE] = bytes(PAGE)
    return bytes(buf), f"page {page} (offset {page * PAGE}) zeroed"


def _blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(bid, offset, size) of every block the block B-tree lists, read with our NDB layer."""
    import os
    import tempfile

    from core.pst.ndb import NdbFile

    fd, path = tempfile.mkstemp(suffix=".pst")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        with NdbFile(path) as ndb:
            out: list[tuple[int, int, int]] = []

            def walk(ref: object, depth: int) -> None:
                page = ndb._bt_page(ref, 0x80)  # ptypeBBT
                if page.level == 0:
                    out.extend((row[0], row[1], row[2]) for row in page.rows)
                elif depth < 8:
                    for child in page.rows:
                        walk(child, depth + 1)

            walk(ndb.header.bbt_root, 0)
            return out
    finally:
        os.unlink(path)


def zero_block(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    blocks = _blocks(data)
    bid, ib, cb = blocks[rng.randrange(len(blocks))]
    buf = bytearray(data)
    buf[ib : ib + cb] = bytes(cb)
    return bytes(buf), f"block 0x{bid:X} at {ib} ({cb} bytes) zeroed"


def bit_flips(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    n = rng.choice((1, 1, 2, 4, 8, 16))
    where = []
    for _ in range(n):
        pos = rng.randrange(_header_end(data), len(data))
        buf[pos] ^= 1 << rng.randrange(8)
        where.append(pos)
    return bytes(buf), f"{n} bit(s) flipped at {sorted(where)[:4]}{'...' if n > 4 else ''}"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    choice = rng.random()
    if choice < 0.15:
        size = rng.randrange(1, _header_end(data))
    elif choice < 0.3:
        size = len(data) - rng.randrange(1, PAGE)
    else:
        size = rng.randrange(_header_end(data), len(data))
    return data[:size], f"cut to {size} of {len(data)} bytes"


def header_field(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    fields = _FIELDS_UNICODE if _unicode(data) else _FIELDS_ANSI
    name, offset, size = fields[rng.randrange(len(fields))]
    old = int.from_bytes(data[offset : offset + size], "little")
    how = rng.choice(("zero", "random", "nudge", "page", "beyond"))
    if how == "zero":
        value = 0
    elif how == "random":
        value = rng.getrandbits(8 * size)
    elif how == "nudge":
        value = old + rng.choice((-PAGE, -8, -1, 1, 8, PAGE))
    elif how == "page":
        value = rng.randrange(1, max(len(data) // PAGE, 2)) * PAGE
    else:
        value = len(data) + rng.randrange(1, 1 << 20)
    return set_header_field(data, name, value), f"header {name} {old} -> {value % (1 << (8 * size))} ({how}), CRC fixed"


MUTATORS: dict[str, Callable[[bytes, random.Random], tuple[bytes, str]]] = {
    "zero_page": zero_page,
    "zero_block": zero_block,
    "bit_flips": bit_flips,
    "truncate": truncate,
    "header_field": header_field,
}


def mutant(source: str, data: bytes, kind: str, seed: int) -> Mutant:
    """The mutant of `data` (the file `source`) of `kind` made with `seed`; the same every time."""
    rng = random.Random(f"{source}:{kind}:{seed}")
    out, detail = MUTATORS[kind](data, rng)
    return Mutant(source, kind, seed, detail, out)


def reproductions(read: Callable[[str], bytes]) -> list[Mutant]:
    """Issue #21's own cases: the zeroed page 268 of the Outlook 97 file (finding 1), and the header
    with its file-end field zeroed and the CRC fixed (finding 9)."""
    src = "pst2john_97_outlook_pass12345.pst"
    data = bytearray(read(src))
    data[268 * PAGE : 269 * PAGE] = bytes(PAGE)
    out = [Mutant(src, "zero_page", -268, "issue #21 finding 1: page 268 zeroed", bytes(data))]
    for name in ("dfrws2009_DFRWS2009-Outlook-Email.pst", "tika_testPST.pst"):
        raw = read(name)
        out.append(Mutant(name, "header_field", -9, "issue #21 finding 9: ibFileEof zeroed, CRC fixed",
                          set_header_field(raw, "ibFileEof", 0)))  # fmt: skip
    return out
