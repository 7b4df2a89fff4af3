"""Decoding of stored property values (MS-PST 2.3.3.x, MS-OXCDATA 2.11) into Python values.

Both the pypff path and the NDB path hand us `(type, raw bytes)`; this is the one place that
turns them into `int`, `str`, `datetime`, ... so the two paths agree by construction.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from core.mapi import MV_FLAG, PropType
from core.pst.model import PropValue

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_OLE_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_FIXED_SIZES = {
    PropType.PT_SHORT: 2,
    PropType.PT_LONG: 4,
    PropType.PT_FLOAT: 4,
    PropType.PT_DOUBLE: 8,
    PropType.PT_CURRENCY: 8,
    PropType.PT_APPTIME: 8,
    PropType.PT_ERROR: 4,
    PropType.PT_BOOLEAN: 2,
    PropType.PT_I8: 8,
    PropType.PT_SYSTIME: 8,
    PropType.PT_CLSID: 16,
}


def filetime_to_datetime(value: int) -> datetime | None:
    """A FILETIME (100 ns ticks since 1601) as an aware UTC datetime; None for 0 and out-of-range values."""
    if value <= 0 or value >= 0x7FFFFFFFFFFFFFFF:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None


def datetime_to_filetime(value: datetime) -> int:
    """The inverse of `filetime_to_datetime` (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _short(data: bytes, codepage: str) -> object:
    # 4-byte inline slots hold PT_SHORT too, so only too few bytes is damage
    if len(data) < 2:
        raise ValueError(f"{len(data)} bytes for a 2-byte value")
    return _unpack_h(data)[0]


def _fixed(size: int, convert: Callable[[bytes], object]) -> Callable[[bytes, str], object]:
    def decode_fixed(data: bytes, codepage: str) -> object:
        if len(data) < size:
            raise ValueError(f"{len(data)} bytes for a {size}-byte value")
        return convert(data)

    return decode_fixed


def _apptime(data: bytes) -> datetime | None:
    try:
        return _OLE_EPOCH + timedelta(days=_unpack_d(data)[0])
    except OverflowError:
        return None


def _unicode(data: bytes, codepage: str) -> str:
    if len(data) % 2:
        data = data[:-1]
    return data.decode("utf-16-le", errors="replace").rstrip("\x00")


def _string8(data: bytes, codepage: str) -> str:
    return data.decode(codepage, errors="replace").rstrip("\x00")


def _raw(data: bytes, codepage: str) -> bytes:
    return bytes(data)


_unpack_h = struct.Struct("<h").unpack_from
_unpack_i = struct.Struct("<i").unpack_from
_unpack_I = struct.Struct("<I").unpack_from
_unpack_f = struct.Struct("<f").unpack_from
_unpack_d = struct.Struct("<d").unpack_from
_unpack_q = struct.Struct("<q").unpack_from

# One decoder per stored type, keyed by plain int: called for every property of every item,
# so no enum construction or comparison chain per value. Types not listed stay bytes.
_DECODERS: dict[int, Callable[[bytes, str], object]] = {
    int(PropType.PT_UNICODE): _unicode,
    int(PropType.PT_STRING8): _string8,
    int(PropType.PT_BOOLEAN): lambda data, cp: any(data[:2]),
    int(PropType.PT_SHORT): _short,
    int(PropType.PT_LONG): _fixed(4, lambda d: _unpack_i(d)[0]),
    int(PropType.PT_ERROR): _fixed(4, lambda d: _unpack_I(d)[0]),
    int(PropType.PT_FLOAT): _fixed(4, lambda d: _unpack_f(d)[0]),
    int(PropType.PT_DOUBLE): _fixed(8, lambda d: _unpack_d(d)[0]),
    int(PropType.PT_APPTIME): _fixed(8, _apptime),
    int(PropType.PT_I8): _fixed(8, lambda d: _unpack_q(d)[0]),
    int(PropType.PT_CURRENCY): _fixed(8, lambda d: _unpack_q(d)[0]),
    int(PropType.PT_SYSTIME): _fixed(8, lambda d: filetime_to_datetime(_unpack_q(d)[0])),
    # before any size check: a short GUID is reported by uuid itself
    int(PropType.PT_CLSID): lambda data, cp: uuid.UUID(bytes_le=bytes(data[:16])),
}


def _decode_single(ptype: int, data: bytes, codepage: str) -> object:
    return _DECODERS.get(ptype, _raw)(data, codepage)


def _decode_multi(ptype: int, data: bytes, codepage: str) -> list[object]:
    base = ptype & ~MV_FLAG
    fixed = _FIXED_SIZES.get(PropType(base)) if base in PropType._value2member_map_ else None
    if fixed is not None and base != PropType.PT_BOOLEAN:
        return [_decode_single(base, data[i : i + fixed], codepage) for i in range(0, len(data) - fixed + 1, fixed)]
    # variable-size: ulCount, then ulCount offsets, then the values (MS-PST 2.3.3.4.2)
    if len(data) < 4:
        return []
    count = struct.unpack_from("<I", data)[0]
    if count > (len(data) - 4) // 4:
        raise ValueError(f"multi-value count {count} does not fit in {len(data)} bytes")
    offsets = list(struct.unpack_from(f"<{count}I", data, 4)) + [len(data)]
    return [_decode_single(base, data[offsets[i] : offsets[i + 1]], codepage) for i in range(count)]


def decode(ptype: int, data: bytes | None, codepage: str = "cp1252") -> PropValue:
    """Decode one stored value. Never raises: undecodable values keep their bytes and an error."""
    if data is None:
        return PropValue(ptype, None)
    try:
        if ptype & MV_FLAG:
            return PropValue(ptype, _decode_multi(ptype, data, codepage))
        return PropValue(ptype, _decode_single(ptype, data, codepage))
    except (ValueError, struct.error, LookupError) as exc:
        return PropValue(ptype, bytes(data), error=f"type 0x{ptype:04X}: {exc}")
