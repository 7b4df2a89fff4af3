"""Which folder is the Inbox, the Calendar, ...: from the store's entry ids, never from names.

Sources, as Outlook writes them (MS-OXOSFLD 2.2, MS-OXCSTOR, MS-PST 2.4.3):
- the message store: PidTagIpmSubtreeEntryId, PidTagIpmWastebasketEntryId (deleted),
  PidTagIpmSentMailEntryId, PidTagIpmOutboxEntryId;
- the root folder and the Inbox: PidTagIpmAppointmentEntryId (calendar), ...ContactEntryId,
  ...JournalEntryId, ...NoteEntryId, ...TaskEntryId, ...DraftsEntryId, and
  PidTagAdditionalRenEntryIds, whose fifth value is the Junk E-mail folder;
- the Inbox is the receive folder. A PST keeps no receive-folder table, but Outlook stores
  the special-folder entry ids above on exactly two folders, the root and the Inbox, so the
  IPM folder that carries them is the Inbox.

A PST entry id is 24 bytes: flags, the store's provider UID, then the folder's NID. An OST
(Exchange cache) uses 46-byte long-term folder ids whose last 8 bytes are a 6-byte GLOBCNT
and padding; each OST folder keeps its own id in property 0x67F4 (last 6 bytes: the GLOBCNT).
An OST's store carries no sent/deleted/outbox ids; Exchange creates a mailbox's first folders
in its logon order (MS-OXCSTOR 2.2.1.1.3: IPM subtree, then Deleted Items, Inbox, Outbox,
Sent Items in consecutive ids), so those are taken relative to the IPM subtree, and only when
the Inbox found above sits exactly where that order puts it.

Some exports carry Exchange long-term ids inside a PST, which name no PST folder; for those,
a role nobody has yet goes to the only top-level folder of the matching container class.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.mapi import (
    PidTagAdditionalRenEntryIds,
    PidTagIpmAppointmentEntryId,
    PidTagIpmContactEntryId,
    PidTagIpmDraftsEntryId,
    PidTagIpmJournalEntryId,
    PidTagIpmNoteEntryId,
    PidTagIpmOutboxEntryId,
    PidTagIpmSentMailEntryId,
    PidTagIpmTaskEntryId,
    PidTagIpmWastebasketEntryId,
)

PST_ENTRY_ID_SIZE = 24
OST_FOLDER_ENTRY_ID_SIZE = 46
# Index of the Junk E-mail folder in PidTagAdditionalRenEntryIds (MS-OXOSFLD 2.2.4).
ADDITIONAL_REN_JUNK_INDEX = 4
# Offsets of the logon folders after the IPM subtree in a new Exchange mailbox (see above).
EXCHANGE_LOGON_ORDER = {1: "deleted", 2: "inbox", 3: "outbox", 4: "sent"}

STORE_ROLE_PROPS = {
    PidTagIpmWastebasketEntryId.id: "deleted",
    PidTagIpmSentMailEntryId.id: "sent",
    PidTagIpmOutboxEntryId.id: "outbox",
}
FOLDER_ROLE_PROPS = {
    PidTagIpmAppointmentEntryId.id: "calendar",
    PidTagIpmContactEntryId.id: "contacts",
    PidTagIpmJournalEntryId.id: "journal",
    PidTagIpmNoteEntryId.id: "notes",
    PidTagIpmTaskEntryId.id: "tasks",
    PidTagIpmDraftsEntryId.id: "drafts",
}
SPECIAL_FOLDER_PROPS = frozenset(FOLDER_ROLE_PROPS)
# Fallback only (see PstFile._roles_by_container_class): folder classes of MS-OXOSFLD 2.2.7.
ROLE_BY_CONTAINER_CLASS = {
    "IPF.Appointment": "calendar",
    "IPF.Contact": "contacts",
    "IPF.Task": "tasks",
    "IPF.StickyNote": "notes",
    "IPF.Journal": "journal",
}


def folder_key(entry_id: bytes | None) -> int | None:
    """The key an entry id names: the NID for a PST id, the GLOBCNT for an OST long-term id."""
    if not entry_id:
        return None
    if len(entry_id) == PST_ENTRY_ID_SIZE:
        return int.from_bytes(entry_id[20:24], "little")
    if len(entry_id) == OST_FOLDER_ENTRY_ID_SIZE:
        return int.from_bytes(entry_id[38:44], "big")
    return None


def ost_folder_key(own_id: bytes | None) -> int | None:
    """The GLOBCNT of an OST folder from its own id property (0x67F4)."""
    if not own_id or len(own_id) < 6:
        return None
    return int.from_bytes(own_id[-6:], "big")


def roles_from_ids(store: Mapping[int, object], special_holders: list[Mapping[int, object]]) -> dict[int, str]:
    """Folder key -> role, from the store's props and the props of the folders holding special ids."""
    roles: dict[int, str] = {}
    for pid, role in STORE_ROLE_PROPS.items():
        key = folder_key(store.get(pid))  # type: ignore[arg-type]
        if key is not None:
            roles.setdefault(key, role)
    for props in special_holders:
        for pid, role in FOLDER_ROLE_PROPS.items():
            key = folder_key(props.get(pid))  # type: ignore[arg-type]
            if key is not None:
                roles.setdefault(key, role)
        ren = props.get(PidTagAdditionalRenEntryIds.id)
        if isinstance(ren, list) and len(ren) > ADDITIONAL_REN_JUNK_INDEX:
            key = folder_key(ren[ADDITIONAL_REN_JUNK_INDEX])
            if key is not None:
                roles.setdefault(key, "junk")
    return roles
