"""Graph's names for what we send: extended-property ids and values, well-known folders, limits.

Every extended-property id is built from its `core.mapi` constant (MS-OXPROPS numbers are never
retyped here): a tag becomes `"{type} 0x{id:04X}"`, a named property `"{type} {guid} Name {name}"`
or `"{type} {guid} Id 0x{lid:04X}"` (Graph "Outlook extended properties overview", id formats).
Values travel as strings: numbers in decimal, booleans `true`/`false`, times ISO 8601 UTC,
binary base64; multi-valued properties go in `multiValueExtendedProperties` as string lists.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from core.mapi import (
    MV_FLAG,
    XPROP_TYPE_NAMES,
    Named,
    PidNamePstImportSourceKey,
    PidNamePstImportSourceKeyHeader,
    PidTagContainerClass,
    PidTagMessageFlags,
    Tag,
)


def property_id(prop: Tag | Named) -> str:
    """The Graph extended-property id string of a MAPI property."""
    ptype = XPROP_TYPE_NAMES.get(prop.type)
    if ptype is None:
        raise ValueError(f"MAPI type 0x{prop.type:04x} cannot be sent over Graph")
    if isinstance(prop, Tag):
        return f"{ptype} 0x{prop.id:04X}"
    guid = "{" + str(prop.guid) + "}"
    if isinstance(prop.key, int):
        return f"{ptype} {guid} Id 0x{prop.key:04X}"
    return f"{ptype} {guid} Name {prop.key}"


def is_multi(prop: Tag | Named) -> bool:
    return bool(prop.type & MV_FLAG)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        v = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def property_value(prop: Tag | Named, value: Any) -> str | list[str]:
    """A payload value in Graph's string form (a list for multi-valued properties)."""
    if is_multi(prop):
        return [_scalar(v) for v in value]
    return _scalar(value)


# The source stamp (DESIGN.md) and the properties the transport itself sets.
STAMP_ID = property_id(PidNamePstImportSourceKey)
# The stamp as Exchange keeps it from our MIME's X-PstImport-SourceKey header (importMime items).
STAMP_HEADER_ID = property_id(PidNamePstImportSourceKeyHeader)
MESSAGE_FLAGS_ID = property_id(PidTagMessageFlags)
CONTAINER_CLASS_ID = property_id(PidTagContainerClass)

# mailFolder well-known names (Graph mailFolder resource, "Use well-known folder names").
WELL_KNOWN_MAIL = {
    "inbox": "inbox",
    "sent": "sentitems",
    "deleted": "deleteditems",
    "drafts": "drafts",
    "outbox": "outbox",
    "junk": "junkemail",
}
MSG_FOLDER_ROOT = "msgfolderroot"
ARCHIVE_MSG_FOLDER_ROOT = "archivemsgfolderroot"
# To Do's list for the mailbox's own Tasks folder (todoTaskList.wellknownListName).
TODO_DEFAULT_LIST = "defaultList"

# Limits (Graph docs: "JSON batching", "Attach large files to Outlook messages", throttling).
BATCH_MAX_REQUESTS = 20
INLINE_ATTACHMENT_MAX = 3 * 1024 * 1024
UPLOAD_CHUNK = 10 * 320 * 1024  # a multiple of 320 KiB, below the 4 MiB a PUT may carry
ATTACHMENT_MAX = 150 * 1024 * 1024
# importMime takes the MIME base64 in one request body, under Graph's 4 MB request limit (so about
# 3 MB of MIME); bigger messages go as JSON with upload sessions.
IMPORT_MIME_MAX_BODY = 4_000_000
MAILBOX_CONCURRENCY = 4
UPLOAD_BUDGET_BYTES = 150 * 1024 * 1024
UPLOAD_BUDGET_WINDOW_S = 300.0
REQUEST_BUDGET = 10_000  # API requests per app and mailbox in REQUEST_BUDGET_WINDOW_S
REQUEST_BUDGET_WINDOW_S = 600.0
DEFAULT_BASE_URL = "https://graph.microsoft.com"
GRAPH_SCOPE_APP = "https://graph.microsoft.com/.default"
GRAPH_SCOPES_DELEGATED = (
    "https://graph.microsoft.com/User.Read",
    "https://graph.microsoft.com/Mail.ReadWrite",
    "https://graph.microsoft.com/Calendars.ReadWrite",
    "https://graph.microsoft.com/Contacts.ReadWrite",
    "https://graph.microsoft.com/Tasks.ReadWrite",
)
