"""Property types (MS-OXCDATA 2.11.1) and helpers to split a property tag."""

from datetime import datetime
from enum import IntEnum
from typing import Any

__all__ = [
    "PropType",
    "MV_FLAG",
    "XPROP_TYPE_NAMES",
    "value_fits",
    "prop_id",
    "prop_type",
    "make_tag",
]

MV_FLAG = 0x1000  # MS-OXCDATA 2.11.1: multi-valued bit of a property type


class PropType(IntEnum):
    """MS-OXCDATA 2.11.1 property data types."""

    PT_UNSPECIFIED = 0x0000
    PT_NULL = 0x0001
    PT_SHORT = 0x0002
    PT_LONG = 0x0003
    PT_FLOAT = 0x0004
    PT_DOUBLE = 0x0005
    PT_CURRENCY = 0x0006
    PT_APPTIME = 0x0007
    PT_ERROR = 0x000A
    PT_BOOLEAN = 0x000B
    PT_OBJECT = 0x000D
    PT_I8 = 0x0014
    PT_STRING8 = 0x001E
    PT_UNICODE = 0x001F
    PT_SYSTIME = 0x0040
    PT_CLSID = 0x0048
    PT_SVREID = 0x00FB
    PT_SRESTRICT = 0x00FD
    PT_ACTIONS = 0x00FE
    PT_BINARY = 0x0102
    PT_MV_SHORT = 0x1002
    PT_MV_LONG = 0x1003
    PT_MV_FLOAT = 0x1004
    PT_MV_DOUBLE = 0x1005
    PT_MV_CURRENCY = 0x1006
    PT_MV_APPTIME = 0x1007
    PT_MV_I8 = 0x1014
    PT_MV_STRING8 = 0x101E
    PT_MV_UNICODE = 0x101F
    PT_MV_SYSTIME = 0x1040
    PT_MV_CLSID = 0x1048
    PT_MV_BINARY = 0x1102


def prop_id(tag: int) -> int:
    """The 16-bit property id of a 32-bit property tag."""
    return (tag >> 16) & 0xFFFF


def prop_type(tag: int) -> int:
    """The 16-bit property type of a 32-bit property tag."""
    return tag & 0xFFFF


def make_tag(pid: int, ptype: int) -> int:
    """A 32-bit property tag from an id and a type."""
    return ((pid & 0xFFFF) << 16) | (ptype & 0xFFFF)


# Extended property type names by MAPI type (MS-OXWSXPROP MapiPropertyTypeType), as EWS writes them in
# ExtendedFieldURI/@PropertyType and Graph in singleValueExtendedProperty ids ("Integer 0x0E07").
XPROP_TYPE_NAMES: dict[int, str] = {
    PropType.PT_SHORT: "Short",
    PropType.PT_LONG: "Integer",
    PropType.PT_FLOAT: "Float",
    PropType.PT_DOUBLE: "Double",
    PropType.PT_CURRENCY: "Currency",
    PropType.PT_APPTIME: "ApplicationTime",
    PropType.PT_BOOLEAN: "Boolean",
    PropType.PT_I8: "Long",
    PropType.PT_STRING8: "String",
    PropType.PT_UNICODE: "String",
    PropType.PT_SYSTIME: "SystemTime",
    PropType.PT_CLSID: "CLSID",
    PropType.PT_BINARY: "Binary",
    PropType.PT_MV_SHORT: "ShortArray",
    PropType.PT_MV_LONG: "IntegerArray",
    PropType.PT_MV_I8: "LongArray",
    PropType.PT_MV_STRING8: "StringArray",
    PropType.PT_MV_UNICODE: "StringArray",
    PropType.PT_MV_SYSTIME: "SystemTimeArray",
    PropType.PT_MV_BINARY: "BinaryArray",
    PropType.PT_MV_CLSID: "CLSIDArray",
}


# The Python values each MAPI type is sent from (PSTs written by other tools sometimes store a
# named property with another type than its definition: such a value is not sent).
_PY_TYPES: dict[int, tuple[type, ...]] = {
    PropType.PT_SHORT: (int,),
    PropType.PT_LONG: (int,),
    PropType.PT_I8: (int,),
    PropType.PT_FLOAT: (float, int),
    PropType.PT_DOUBLE: (float, int),
    PropType.PT_APPTIME: (float, int),
    PropType.PT_CURRENCY: (int,),
    PropType.PT_BOOLEAN: (bool,),
    PropType.PT_STRING8: (str,),
    PropType.PT_UNICODE: (str,),
    PropType.PT_SYSTIME: (datetime,),
    PropType.PT_BINARY: (bytes,),
    PropType.PT_CLSID: (bytes, str),
}


def value_fits(prop: Any, value: object) -> bool:
    """Whether `value` can be sent as the MAPI type of `prop` (a Tag or Named)."""
    ptype = prop.type
    if ptype & MV_FLAG:
        return isinstance(value, (list, tuple)) and all(_scalar_fits(ptype & ~MV_FLAG, v) for v in value)
    return _scalar_fits(ptype, value)


def _scalar_fits(ptype: int, value: object) -> bool:
    kinds = _PY_TYPES.get(ptype)
    if kinds is None:
        return False
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)
