"""Decoding of stored property values (MS-PST 2.3.3.x, MS-OXCDATA 2.11) into Python values.

Both the pypff path and the NDB path hand us `(type, raw bytes)`; this is the one place that
turns them into `int`, `str`, `datetime`, ... so the two paths agree by construction.
"""

from __future__ import annotations

import struct
import uuid
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


def _decode_single(ptype: int, data: bytes, codepage: str) -> object:
    if ptype == PropType.PT_UNICODE:
        if len(data) % 2:
            data = data[:-1]
        return data.decode("utf-16-le", errors="replace").rstrip("\x00")
    if ptype == PropType.PT_STRING8:
        return data.decode(codepage, errors="replace").rstrip("\x00")
    if ptype in (
        PropType.PT_BINARY,
        PropType.PT_OBJECT,
        PropType.PT_SVREID,
        PropType.PT_SRESTRICT,
        PropType.PT_ACTIONS,
        PropType.PT_UNSPECIFIED,
    ):
        return bytes(data)
    if ptype == PropType.PT_BOOLEAN:
        return any(data[:2])
    size = _FIXED_SIZES.get(PropType(ptype)) if ptype in PropType._value2member_map_ else None
    if size is None:
        return bytes(data)
    if ptype == PropType.PT_CLSID:
        return uuid.UUID(bytes_le=bytes(data[:16]))
    if len(data) < size:
        # 4-byte inline slots hold PT_SHORT too; anything else short is damage
        if ptype == PropType.PT_SHORT and len(data) >= 2:
            return struct.unpack_from("<h", data)[0]
        raise ValueError(f"{len(data)} bytes for a {size}-byte value")
    if ptype == PropType.PT_SHORT:
        return struct.unpack_from("<h", data)[0]
    if ptype in (PropType.PT_LONG, PropType.PT_ERROR):
        return struct.unpack_from("<i" if ptype == PropType.PT_LONG else "<I", data)[0]
    if ptype == PropType.PT_FLOAT:
        return struct.unpack_from("<f", data)[0]
    if ptype == PropType.PT_DOUBLE:
        return struct.unpack_from("<d", data)[0]
    if ptype == PropType.PT_APPTIME:
        days = struct.unpack_from("<d", data)[0]
        try:
            return _OLE_EPOCH + timedelta(days=days)
        except OverflowError:
            return None
    if ptype in (PropType.PT_I8, PropType.PT_CURRENCY):
        return struct.unpack_from("<q", data)[0]
    if ptype == PropType.PT_SYSTIME:
        return filetime_to_datetime(struct.unpack_from("<q", data)[0])
    return bytes(data)


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
