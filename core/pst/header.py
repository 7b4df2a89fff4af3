"""Sniffing a file's NDB header (MS-PST 2.2.2.6) before pypff sees it.

This gives one-line reasons for files that are not PSTs at all, truncated or corrupt, and
tells PST from OST and ANSI from Unicode; `pstimport scan` finds PSTs by this signature,
not by their extension.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from core.errors import PstError

MAGIC = b"!BDN"
CLIENT_MAGIC = {b"SM": "pst", b"SO": "ost", b"AB": "pab"}
# wVer values (MS-PST 2.2.2.6): 14/15 ANSI, 23 Unicode, 36 Unicode with 4 KiB pages (OST 2013)
ANSI_VERSIONS = (14, 15)
UNICODE_MIN_VERSION = 23
HEADER_SIZE = {"ansi": 512, "unicode": 564}
CRYPT_OFFSET = {"ansi": 461, "unicode": 513}
CRC_PARTIAL_OFFSET, CRC_PARTIAL_START, CRC_PARTIAL_LENGTH = 4, 8, 471
CRYPT_METHODS = {0: "none", 1: "compressible", 2: "high"}


@dataclass(frozen=True, slots=True)
class Header:
    kind: str  # pst | ost
    format: str  # ansi | unicode
    version: int
    encryption: str


def ms_pst_crc(data: bytes) -> int:
    """The CRC-32 of MS-PST 5.3: the usual polynomial, seeded with 0 and not inverted at the end."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


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
    return head[:4] == MAGIC and head[8:10] in (b"SM", b"SO")


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
    if head[:4] != MAGIC:
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
    if version in ANSI_VERSIONS:
        fmt = "ansi"
    elif version >= UNICODE_MIN_VERSION:
        fmt = "unicode"
    else:
        raise PstError(path, f"unknown file format version {version}")
    if len(head) < HEADER_SIZE[fmt]:
        raise PstError(path, f"truncated: {len(head)} bytes, but a {fmt.upper()} header alone is {HEADER_SIZE[fmt]}")
    (stored_crc,) = struct.unpack_from("<I", head, CRC_PARTIAL_OFFSET)
    if ms_pst_crc(head[CRC_PARTIAL_START : CRC_PARTIAL_START + CRC_PARTIAL_LENGTH]) != stored_crc:
        raise PstError(path, "corrupt header: checksum mismatch (the file is damaged; try scanpst.exe on it)")
    crypt = CRYPT_METHODS.get(head[CRYPT_OFFSET[fmt]])
    if crypt is None:
        raise PstError(path, f"unknown encryption method {head[CRYPT_OFFSET[fmt]]}")
    return Header(kind=kind, format=fmt, version=version, encryption=crypt)
