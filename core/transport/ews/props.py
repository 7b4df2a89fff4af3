"""MAPI properties as exchangelib `ExtendedProperty` fields, registered on the item classes.

exchangelib serialises only registered fields, so each property the converter sets becomes a
field named after its MAPI constant. Registration edits the item class's field list, so it is
done under one lock and, for the properties we know of, once before any upload thread starts.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC as dt_utc
from datetime import datetime

from exchangelib import CalendarItem, Contact, DistributionList, ExtendedProperty, Message, Task
from exchangelib.ewsdatetime import UTC, EWSDateTime

from core.convert.payload import ExtendedProp, Payload
from core.mapi import XPROP_TYPE_NAMES, Named, PidNamePstImportSourceKey, Tag, value_fits

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
    ptype = XPROP_TYPE_NAMES.get(prop.type)
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


def sendable(payload: Payload) -> Iterator[ExtendedProp]:
    """The payload's extended properties other than the stamp (sent apart) whose value fits their
    type; a misfit is noted in the payload's problems."""
    for ext in payload.extended:
        if ext.prop == PidNamePstImportSourceKey:
            continue
        if not value_fits(ext.prop, ext.value):
            # PSTs written by other tools sometimes store a named property with another type.
            payload.problems.append(f"property {attr_name(ext.prop)} not kept: its value does not fit its type")
            continue
        yield ext
