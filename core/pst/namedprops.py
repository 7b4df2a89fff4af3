"""The name-to-id map (MS-PST 2.4.7): which named property each NPID (0x8000+) stands for.

pypff exposes the map's property context but its `name_to_id_map_entry` objects carry no
data, so we parse the three raw streams ourselves.
"""

from __future__ import annotations

import struct
import uuid

from core.mapi import (
    NAMEID_FIRST_PROP_ID,
    NAMEID_GUID_PS_MAPI,
    NAMEID_GUID_PS_PUBLIC_STRINGS,
    NAMEID_GUID_STREAM_BASE,
    PS_MAPI,
    PS_PUBLIC_STRINGS,
    PidTagNameidStreamEntry,
    PidTagNameidStreamGuid,
    PidTagNameidStreamString,
)

NamedKey = tuple[uuid.UUID, int | str]


def parse_name_to_id_map(streams: dict[int, bytes]) -> dict[int, NamedKey]:
    """Map NPID -> (property set GUID, LID or name) from the map's raw streams, keyed by property id."""
    guid_stream = streams.get(PidTagNameidStreamGuid.id) or b""
    entry_stream = streams.get(PidTagNameidStreamEntry.id) or b""
    string_stream = streams.get(PidTagNameidStreamString.id) or b""
    guids = [uuid.UUID(bytes_le=guid_stream[i : i + 16]) for i in range(0, len(guid_stream) - 15, 16)]
    result: dict[int, NamedKey] = {}
    for off in range(0, len(entry_stream) - 7, 8):
        dw_prop, packed, prop_idx = struct.unpack_from("<IHH", entry_stream, off)
        is_string = packed & 1
        w_guid = packed >> 1
        if w_guid == NAMEID_GUID_PS_MAPI:
            guid = PS_MAPI
        elif w_guid == NAMEID_GUID_PS_PUBLIC_STRINGS:
            guid = PS_PUBLIC_STRINGS
        elif w_guid >= NAMEID_GUID_STREAM_BASE and w_guid - NAMEID_GUID_STREAM_BASE < len(guids):
            guid = guids[w_guid - NAMEID_GUID_STREAM_BASE]
        else:
            continue  # damaged entry: the property stays keyed by its NPID
        key: int | str
        if is_string:
            if dw_prop + 4 > len(string_stream):
                continue
            (length,) = struct.unpack_from("<I", string_stream, dw_prop)
            key = string_stream[dw_prop + 4 : dw_prop + 4 + length].decode("utf-16-le", errors="replace")
        else:
            key = dw_prop
        result[NAMEID_FIRST_PROP_ID + prop_idx] = (guid, key)
    return result
