"""Decoders for the address-bearing binary values: entry ids (MS-OXCDATA 2.2.5), distribution
list wrapped entry ids (MS-OXOCNTC 2.2.1.2.7), search keys (MS-OXCPRPT) and IMCEAEX addresses.

All decoders return None on anything they do not understand; callers report, never guess.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from core.mapi import (
    EX_ADDRESS_BOOK_PROVIDER_UID,
    MAPI_ONE_OFF_UNICODE,
    ONE_OFF_PROVIDER_UID,
    WRAPPED_ENTRY_ID_PROVIDER_UID,
    WRAPPED_TYPE_MASK,
)


@dataclass(frozen=True, slots=True)
class OneOff:
    """A one-off recipient: display name, address type and address."""

    display_name: str
    address_type: str
    address: str


def _cstr(data: bytes, pos: int, unicode: bool) -> tuple[str, int]:
    if unicode:
        end = pos
        while end + 1 < len(data) and data[end : end + 2] != b"\x00\x00":
            end += 2
        return data[pos:end].decode("utf-16-le", "replace"), end + 2
    end = data.find(b"\x00", pos)
    if end < 0:
        end = len(data)
    return data[pos:end].decode("cp1252", "replace"), end + 1


def decode_one_off(entry_id: bytes | None, codepage: str = "cp1252") -> OneOff | None:
    """Decode a one-off entry id (MS-OXCDATA 2.2.5.1); None if it is not one."""
    if not entry_id or len(entry_id) < 24 or entry_id[4:20] != ONE_OFF_PROVIDER_UID:
        return None
    flags = struct.unpack_from("<H", entry_id, 22)[0]
    unicode = bool(flags & MAPI_ONE_OFF_UNICODE)
    pos = 24
    try:
        name, pos = _cstr(entry_id, pos, unicode)
        atype, pos = _cstr(entry_id, pos, unicode)
        addr, pos = _cstr(entry_id, pos, unicode)
    except (UnicodeDecodeError, struct.error):
        return None
    if not unicode and codepage != "cp1252":
        name = name.encode("cp1252", "replace").decode(codepage, "replace")
    return OneOff(name, atype, addr)


def decode_ex_entry_id(entry_id: bytes | None) -> str | None:
    """The legacy DN (X500 DN) of an address book entry id (MS-OXCDATA 2.2.5.2), or None."""
    if not entry_id or len(entry_id) < 28 or entry_id[4:20] != EX_ADDRESS_BOOK_PROVIDER_UID:
        return None
    end = entry_id.find(b"\x00", 28)
    dn = entry_id[28 : end if end >= 0 else len(entry_id)].decode("ascii", "replace")
    return dn or None


@dataclass(frozen=True, slots=True)
class WrappedEntryId:
    """A distribution list member reference (MS-OXOCNTC 2.2.1.2.7)."""

    type: int
    """WRAPPED_TYPE_*: 0 one-off, 3 contact, 4 personal DL, 5 GAL user, 6 GAL DL."""
    embedded: bytes


def decode_wrapped(entry_id: bytes | None) -> WrappedEntryId | None:
    if not entry_id or len(entry_id) < 21 or entry_id[4:20] != WRAPPED_ENTRY_ID_PROVIDER_UID:
        return None
    return WrappedEntryId(entry_id[20] & WRAPPED_TYPE_MASK, entry_id[21:])


def decode_search_key(key: bytes | None) -> tuple[str, str] | None:
    """A search key ("SMTP:A@B" / "EX:/O=..."; MS-OXCPRPT) as (address type, address)."""
    if not key:
        return None
    text = key.rstrip(b"\x00")
    try:
        s = text.decode("ascii")
    except UnicodeDecodeError:
        return None
    kind, sep, addr = s.partition(":")
    if not sep or not kind.isalpha() or not addr:
        return None
    return kind.upper(), addr


_IMCEA = re.compile(r"^IMCEA(?P<type>[A-Z]+)-(?P<local>.+)@(?P<domain>[^@]+)$", re.IGNORECASE)


def decode_imcea(address: str) -> tuple[str, str] | None:
    """Decode an IMCEA-encapsulated address ("IMCEAEX-_O=ORG_OU=..._CN=X@domain") to
    (address type, original address). `_` stands for `/` and `+XX` for a hex-escaped byte."""
    m = _IMCEA.match(address.strip())
    if not m:
        return None
    local = m.group("local")
    out: list[str] = []
    i = 0
    while i < len(local):
        c = local[i]
        if c == "_":
            out.append("/")
        elif c == "+" and i + 2 < len(local) + 1 and re.fullmatch(r"[0-9A-Fa-f]{2}", local[i + 1 : i + 3] or ""):
            out.append(chr(int(local[i + 1 : i + 3], 16)))
            i += 2
        else:
            out.append(c)
        i += 1
    return m.group("type").upper(), "".join(out)


def is_legacy_dn(address: str | None) -> bool:
    return bool(address) and address.lstrip().upper().startswith("/O=")  # type: ignore[union-attr]


def decode_flat_entry_list(data: bytes | None) -> list[bytes]:
    """The entry ids of a FlatEntryList (MS-OXCDATA 2.3.3), e.g. PidTagReplyRecipientEntries."""
    if not data or len(data) < 8:
        return []
    count, _size = struct.unpack_from("<II", data, 0)
    out: list[bytes] = []
    pos = 8
    for _ in range(min(count, 10000)):
        if pos + 4 > len(data):
            break
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + size > len(data):
            break
        out.append(data[pos : pos + size])
        pos += (size + 3) & ~3  # each FlatEntry is padded to a multiple of 4 bytes
    return out
