"""MAPI properties as exchangelib `ExtendedProperty` fields, registered on the item classes.

exchangelib serialises only registered fields, so each property the converter sets becomes a
field named after its MAPI constant. Registration edits the item class's field list, so it is
done under one lock and, for the properties we know of, once before any upload thread starts.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC as dt_utc
from datetime import datetime

from exchangelib import CalendarItem, Contact, DistributionList, ExtendedProperty, Message, Task
from exchangelib.ewsdatetime import UTC, EWSDateTime

from core.mapi import Named, PidNamePstImportSourceKey, PropType, Tag

# EWS PropertyType names (MS-OXWSXPROP / Types.xsd MapiPropertyTypeType) by MAPI type.
EWS_PROPERTY_TYPES: dict[int, str] = {
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

ITEM_CLASSES = (Message, CalendarItem, Contact, Task, DistributionList)
_lock = threading.Lock()
_registered: dict[tuple[type, Tag | Named], str] = {}


def attr_name(prop: Tag | Named) -> str:
    """A stable Python attribute name for a property."""
    if isinstance(prop, Tag):
        return f"x_tag_{prop.id:04x}_{prop.type:04x}"
    key = prop.key if isinstance(prop.key, int) else "".join(c if c.isalnum() else "_" for c in prop.key)
    return f"x_named_{prop.guid.hex[:8]}_{key}_{prop.type:04x}"


def property_class(prop: Tag | Named) -> type[ExtendedProperty]:
    """An `ExtendedProperty` subclass describing `prop` on the wire."""
    ptype = EWS_PROPERTY_TYPES.get(prop.type)
    if ptype is None:
        raise ValueError(f"MAPI type 0x{prop.type:04x} cannot be sent over EWS")
    attrs: dict[str, object] = {"property_type": ptype}
    if isinstance(prop, Tag):
        attrs["property_tag"] = prop.id
    else:
        attrs["property_set_id"] = str(uuid.UUID(str(prop.guid)))
        if isinstance(prop.key, int):
            attrs["property_id"] = prop.key
        else:
            attrs["property_name"] = prop.key
    return type(f"Ext_{attr_name(prop)}", (ExtendedProperty,), attrs)


def register(prop: Tag | Named, item_cls: type = Message) -> str:
    """Register `prop` on `item_cls` (once) and return the attribute name to set."""
    key = (item_cls, prop)
    name = _registered.get(key)
    if name is not None:
        return name
    with _lock:
        name = _registered.get(key)
        if name is None:
            name = attr_name(prop)
            item_cls.register(name, property_class(prop))
            _registered[key] = name
    return name


def register_all(props: list[Tag | Named]) -> None:
    """Register the properties we expect on every item class, before threads start."""
    for prop in [PidNamePstImportSourceKey, *props]:
        for cls in ITEM_CLASSES:
            register(prop, cls)


STAMP_ATTR = attr_name(PidNamePstImportSourceKey)


def wire_value(value: object) -> object:
    """A payload value as exchangelib wants it (EWSDateTime for times)."""
    if isinstance(value, datetime):
        v = value if value.tzinfo is None else value.astimezone(dt_utc)
        return EWSDateTime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC)
    if isinstance(value, bool):
        return value
    return value


_SCALAR_CHECKS: dict[int, tuple[type, ...]] = {
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


def value_fits(prop: Tag | Named, value: object) -> bool:
    """Whether `value` can be sent as `prop`'s MAPI type."""
    ptype = prop.type
    if ptype & 0x1000:  # multi-valued
        single = ptype & ~0x1000
        return isinstance(value, (list, tuple)) and all(
            value_fits(type(prop)(*_with_type(prop, single)), v) for v in value
        )
    kinds = _SCALAR_CHECKS.get(ptype)
    if kinds is None:
        return False
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _with_type(prop: Tag | Named, ptype: int) -> tuple:
    if isinstance(prop, Tag):
        return (prop.id, ptype)
    return (prop.guid, prop.key, ptype)
