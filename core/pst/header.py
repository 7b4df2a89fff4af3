"""Sniffing a file's NDB header (MS-PST 2.2.2.6) before pypff sees it.

This gives one-line reasons for files that are not PSTs at all, truncated or corrupt, and
tells PST from OST and ANSI from Unicode; `pstimport scan` finds PSTs by this signature,
not by their extension.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from core.errors import PstError
from core.pst.ndb import format as F
from core.pst.ndb.crc import crc32

CLIENT_MAGIC = {F.CLIENT_MAGIC_PST: "pst", F.CLIENT_MAGIC_OST: "ost", F.CLIENT_MAGIC_PAB: "pab"}
HEADER_SIZE = {"ansi": F.HEADER_SIZE_ANSI, "unicode": F.HEADER_SIZE_UNICODE}
CRYPT_OFFSET = {"ansi": F.HEADER_CRYPT_METHOD_ANSI, "unicode": F.HEADER_CRYPT_METHOD_UNICODE}
CRYPT_METHODS = {F.NDB_CRYPT_NONE: "none", F.NDB_CRYPT_PERMUTE: "compressible", F.NDB_CRYPT_CYCLIC: "high"}


@dataclass(frozen=True, slots=True)
class Header:
    kind: str  # pst | ost
    format: str  # ansi | unicode
    version: int
    encryption: str


def _what_is_it(head: bytes) -> str:
    stripped = head.lstrip()
    lower = stripped[:512].lower()
    if stripped.startswith(b"From "):
        return "not a PST/OST file (it is an mbox mailbox)"
    if lower.startswith((b"<!doctype html", b"<html")) or b"<html" in lower or b"<head" in lower:
        return "not a PST/OST file (it is an HTML page, perhaps a download that failed)"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "not a PST/OST file (it is an OLE compound file, such as an Outlook .msg)"
    if head.startswith(b"PK\x03\x04"):
        return "not a PST/OST file (it is a ZIP archive: extract it first)"
    return "not a PST/OST file (no !BDN signature)"


def is_pst_signature(path: str) -> bool:
    """True when the file starts with the NDB signature of a PST or OST."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(10)
    except OSError:
        return False
    return head[:4] == F.HEADER_MAGIC and head[8:10] in (F.CLIENT_MAGIC_PST, F.CLIENT_MAGIC_OST)


def sniff(path: str) -> Header:
    """Check the header and say what the file is.

    Raises:
        PstError: with a one-line reason (missing, not a PST, truncated, corrupt header, ...).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_SIZE["unicode"])
    except FileNotFoundError:
        raise PstError(path, "no such file") from None
    except IsADirectoryError:
        raise PstError(path, "is a directory, not a PST file") from None
    except OSError as exc:
        raise PstError(path, f"cannot be opened: {exc.strerror or exc}") from None
    if not head:
        raise PstError(path, "is empty")
    if head[:4] != F.HEADER_MAGIC:
        raise PstError(path, _what_is_it(head))
    client = head[8:10]
    kind = CLIENT_MAGIC.get(client)
    if len(head) < 12:
        raise PstError(path, f"truncated: {len(head)} bytes, not even a whole header")
    if kind is None:
        raise PstError(path, f"unknown NDB client signature {client!r}: not a PST or OST")
    if kind == "pab":
        raise PstError(path, "is a personal address book (.pab), not a PST or OST")
    (version,) = struct.unpack_from("<H", head, 10)
    if F.NDB_VERSION_ANSI <= version <= F.NDB_VERSION_ANSI_MAX:
        fmt = "ansi"
    elif version >= F.NDB_VERSION_UNICODE:
        fmt = "unicode"
    else:
        raise PstError(path, f"unknown file format version {version}")
    if len(head) < HEADER_SIZE[fmt]:
        raise PstError(path, f"truncated: {len(head)} bytes, but a {fmt.upper()} header alone is {HEADER_SIZE[fmt]}")
    (stored_crc,) = struct.unpack_from("<I", head, F.HEADER_CRC_PARTIAL_FIELD)
    start = F.HEADER_CRC_PARTIAL_OFFSET
    if crc32(head[start : start + F.HEADER_CRC_PARTIAL_SIZE]) != stored_crc:
        raise PstError(path, "corrupt header: checksum mismatch (the file is damaged; try scanpst.exe on it)")
    crypt = CRYPT_METHODS.get(head[CRYPT_OFFSET[fmt]])
    if crypt is None:
        raise PstError(path, f"unknown encryption method {head[CRYPT_OFFSET[fmt]]}")
    return Header(kind=kind, format=fmt, version=version, encryption=crypt)
