"""The messaging layer of a PST, write side ([MS-PST] 2.4): store, named properties, folders,
messages, recipients and attachments.

Messages are written as soon as they are added (streaming); a folder's property context and
its hierarchy/contents tables are written when the file is closed, because they carry counts.

    with PstWriter(path, display_name="Sample") as pst:
        inbox = pst.add_folder(pst.ipm_subtree, "Inbox", "IPF.Note")
        pst.add_message(inbox, Message(props={PidTagSubject: "Hi", ...}))
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.mapi import (
    MAPI_FOLDER,
    MAPI_MAILUSER,
    MAPI_MESSAGE,
    MSGFLAG_ASSOCIATED,
    MSGFLAG_HASATTACH,
    MSGFLAG_READ,
    NAMEID_BUCKET_COUNT,
    NAMEID_FIRST_PROP_ID,
    NAMEID_GUID_PS_MAPI,
    NAMEID_GUID_PS_PUBLIC_STRINGS,
    NAMEID_GUID_STREAM_BASE,
    PS_MAPI,
    PS_PUBLIC_STRINGS,
    Named,
    PidLidCommonEnd,
    PidLidCommonStart,
    PidLidFlagRequest,
    PidLidPrivate,
    PidLidReminderSet,
    PidLidReminderTime,
    PidNameKeywords,
    PidTag7BitDisplayName,
    PidTagAdditionalRenEntryIds,
    PidTagAddressType,
    PidTagAssociatedContentCount,
    PidTagAttachDataBinary,
    PidTagAttachDataObject,
    PidTagAttachFilename,
    PidTagAttachLongFilename,
    PidTagAttachMethod,
    PidTagAttachNumber,
    PidTagAttachSize,
    PidTagClientSubmitTime,
    PidTagContainerClass,
    PidTagContentCount,
    PidTagContentUnreadCount,
    PidTagConversationIndex,
    PidTagConversationTopic,
    PidTagDisplayCc,
    PidTagDisplayName,
    PidTagDisplayTo,
    PidTagDisplayType,
    PidTagEmailAddress,
    PidTagEntryId,
    PidTagFinderEntryId,
    PidTagImportance,
    PidTagIpmAppointmentEntryId,
    PidTagIpmContactEntryId,
    PidTagIpmDraftsEntryId,
    PidTagIpmJournalEntryId,
    PidTagIpmNoteEntryId,
    PidTagIpmOutboxEntryId,
    PidTagIpmSentMailEntryId,
    PidTagIpmSubtreeEntryId,
    PidTagIpmTaskEntryId,
    PidTagIpmWastebasketEntryId,
    PidTagItemTemporaryFlags,
    PidTagLastModificationTime,
    PidTagMessageCcMe,
    PidTagMessageClass,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PidTagMessageSize,
    PidTagMessageStatus,
    PidTagMessageToMe,
    PidTagNameidBucketBase,
    PidTagNameidBucketCount,
    PidTagNameidStreamEntry,
    PidTagNameidStreamGuid,
    PidTagNameidStreamString,
    PidTagObjectType,
    PidTagPstHiddenCount,
    PidTagPstHiddenUnread,
    PidTagRecipientDisplayName,
    PidTagRecipientEntryId,
    PidTagRecipientFlags,
    PidTagRecipientTrackStatus,
    PidTagRecipientType,
    PidTagRecordKey,
    PidTagRenderingPosition,
    PidTagReplChangenum,
    PidTagReplCopiedfromItemid,
    PidTagReplCopiedfromVersionhistory,
    PidTagReplFlags,
    PidTagReplItemid,
    PidTagReplVersionHistory,
    PidTagResponsibility,
    PidTagRowid,
    PidTagSearchKey,
    PidTagSecureSubmitFlags,
    PidTagSendRichInfo,
    PidTagSensitivity,
    PidTagSentRepresentingName,
    PidTagSmtpAddress,
    PidTagSubfolders,
    PidTagSubject,
    PidTagValidFolderMask,
    Tag,
)
from core.mapi.types import PropType
from core.pst.ndb.crc import crc32
from core.pst.ndb.format import (
    NDB_CRYPT_NONE,
    NID_ASSOC_CONTENTS_TABLE_TEMPLATE,
    NID_ATTACHMENT_TABLE,
    NID_CONTENTS_TABLE_TEMPLATE,
    NID_HIERARCHY_TABLE_TEMPLATE,
    NID_MESSAGE_STORE,
    NID_NAME_TO_ID_MAP,
    NID_RECIPIENT_TABLE,
    NID_ROOT_FOLDER,
    NID_SEARCH_ACTIVITY_LIST,
    NID_SEARCH_CONTENTS_TABLE_TEMPLATE,
    NID_SEARCH_DOMAIN_OBJECT,
    NID_SEARCH_GATHERER_FOLDER_QUEUE,
    NID_SEARCH_GATHERER_QUEUE,
    NID_SEARCH_MANAGEMENT_QUEUE,
    NID_TYPE_ASSOC_CONTENTS_TABLE,
    NID_TYPE_ASSOC_MESSAGE,
    NID_TYPE_ATTACHMENT,
    NID_TYPE_CONTENTS_TABLE,
    NID_TYPE_HIERARCHY_TABLE,
    NID_TYPE_NORMAL_FOLDER,
    NID_TYPE_NORMAL_MESSAGE,
)

from .ltp import SubnodeSink, TableBuilder, build_pc
from .ndb import NdbWriter

SUBNODE_NID_INDEX_BASE = 0x400
# PidTagValidFolderMask bits (MS-OXCSTOR 2.2.2.1.1.x): subtree, inbox, outbox, wastebasket,
# sent mail, and finder are valid in a PST we write.
FOLDER_IPM_SUBTREE_VALID = 0x01
FOLDER_IPM_INBOX_VALID = 0x02
FOLDER_IPM_OUTBOX_VALID = 0x04
FOLDER_IPM_WASTEBASKET_VALID = 0x08
FOLDER_IPM_SENTMAIL_VALID = 0x10
FOLDER_FINDER_VALID = 0x80
STORE_DISPLAY_NAME_DEFAULT = "Personal Folders"
IPM_SUBTREE_NAME = "Top of Personal Folders"
SEARCH_ROOT_NAME = "Search Root"

# Table columns: the templates' required columns (MS-PST 2.4.4.4.1, 2.4.4.5.1, 2.4.4.6.1,
# 2.4.5.3.1, 2.4.6.1.1) and a few more; cells a row lacks stay absent.
REPL_COLUMNS = [PidTagReplItemid, PidTagReplChangenum, PidTagReplVersionHistory, PidTagReplFlags]
HIERARCHY_COLUMNS = [
    *REPL_COLUMNS,
    PidTagDisplayName,
    PidTagContentCount,
    PidTagContentUnreadCount,
    PidTagSubfolders,
    PidTagContainerClass,
    PidTagPstHiddenCount,
    PidTagPstHiddenUnread,
]
CONTENTS_COLUMNS = [
    PidTagImportance,
    PidTagMessageClass,
    PidTagSensitivity,
    PidTagSubject,
    PidTagClientSubmitTime,
    PidTagSentRepresentingName,
    PidTagConversationTopic,
    PidTagConversationIndex,
    PidTagDisplayCc,
    PidTagDisplayTo,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PidTagMessageSize,
    PidTagMessageStatus,
    PidTagLastModificationTime,
    PidTagMessageToMe,
    PidTagMessageCcMe,
    *REPL_COLUMNS,
    PidTagReplCopiedfromVersionhistory,
    PidTagReplCopiedfromItemid,
    PidTagItemTemporaryFlags,
    PidTagSecureSubmitFlags,
]
ASSOCIATED_COLUMNS = [PidTagMessageClass, PidTagMessageFlags, PidTagMessageStatus, PidTagDisplayName, PidTagSubject]
RECIPIENT_COLUMNS = [
    PidTagRecipientType,
    PidTagResponsibility,
    PidTagRecordKey,
    PidTagObjectType,
    PidTagEntryId,
    PidTagDisplayName,
    PidTagAddressType,
    PidTagEmailAddress,
    PidTagSearchKey,
    PidTagDisplayType,
    PidTag7BitDisplayName,
    PidTagSmtpAddress,
    PidTagSendRichInfo,
    PidTagRecipientTrackStatus,
    PidTagRecipientFlags,
    PidTagRecipientEntryId,
    PidTagRecipientDisplayName,
    PidTagRowid,
]
ATTACHMENT_COLUMNS = [
    PidTagAttachSize,
    PidTagAttachFilename,
    PidTagAttachLongFilename,
    PidTagAttachMethod,
    PidTagRenderingPosition,
]

PropKeyT = Tag | Named | int
# Registered in every file, as Outlook does for a new store, so the name-to-id map is never empty.
COMMON_NAMED_PROPS = (
    PidNameKeywords,
    PidLidFlagRequest,
    PidLidReminderSet,
    PidLidReminderTime,
    PidLidCommonStart,
    PidLidCommonEnd,
    PidLidPrivate,
)


@dataclass
class Attachment:
    """An attachment to write: by value (`data` or a `stream`) or an embedded `message`."""

    props: dict[PropKeyT, Any] = field(default_factory=dict)
    data: bytes | None = None
    stream: tuple[int, Callable[[], Iterable[bytes]]] | None = None  # (size, chunk factory)
    message: Message | None = None


@dataclass
class Message:
    """A message to write: properties, recipient rows and attachments."""

    props: dict[PropKeyT, Any] = field(default_factory=dict)
    recipients: list[dict[PropKeyT, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class FolderHandle:
    """A folder being written; its property context and tables are written on close."""

    nid: int
    name: str
    parent: FolderHandle | None
    container_class: str | None = None
    extra: dict[PropKeyT, Any] = field(default_factory=dict)
    children: list[FolderHandle] = field(default_factory=list)
    contents: TableBuilder | None = None
    contents_sub: SubnodeSink | None = None
    associated: TableBuilder | None = None
    associated_sub: SubnodeSink | None = None
    count: int = 0
    unread: int = 0
    associated_count: int = 0


def entry_id(store_uid: bytes, nid: int) -> bytes:
    """A PST entry id (MS-PST 2.4.3.2): rgbFlags, the store's provider UID, the NID."""
    return b"\0\0\0\0" + store_uid + struct.pack("<I", nid)


class NameToIdMap:
    """The named property map (2.4.7): assigns property ids 0x8000+ as names are first used."""

    def __init__(self) -> None:
        self._ids: dict[tuple[uuid.UUID, int | str], int] = {}
        self._entries: list[tuple[uuid.UUID, int | str]] = []
        self._guids: list[uuid.UUID] = []

    def prop_id(self, named: Named) -> int:
        key = (named.guid, named.key)
        found = self._ids.get(key)
        if found is None:
            found = NAMEID_FIRST_PROP_ID + len(self._entries)
            if found > 0xFFFE:
                raise ValueError("too many named properties")
            self._ids[key] = found
            self._entries.append(key)
            if named.guid not in (PS_MAPI, PS_PUBLIC_STRINGS) and named.guid not in self._guids:
                self._guids.append(named.guid)
        return found

    def _wguid(self, guid: uuid.UUID) -> int:
        if guid == PS_MAPI:
            return NAMEID_GUID_PS_MAPI
        if guid == PS_PUBLIC_STRINGS:
            return NAMEID_GUID_PS_PUBLIC_STRINGS
        return NAMEID_GUID_STREAM_BASE + self._guids.index(guid)

    def props(self) -> dict[int, Any]:
        """The map's property context: bucket count, the three streams and the hash buckets."""
        guid_stream = b"".join(g.bytes_le for g in self._guids)
        entries = bytearray()
        strings = bytearray()
        buckets: list[bytearray] = [bytearray() for _ in range(NAMEID_BUCKET_COUNT)]
        for idx, (guid, key) in enumerate(self._entries):
            wguid = self._wguid(guid)
            if isinstance(key, str):
                name = key.encode("utf-16-le")
                offset = len(strings)
                strings += struct.pack("<I", len(name)) + name
                strings += b"\0" * (-len(strings) % 4)
                flags = (wguid << 1) | 1
                entries += struct.pack("<IHH", offset, flags, idx)
                hash_value = crc32(name)
            else:
                flags = wguid << 1
                entries += struct.pack("<IHH", key, flags, idx)
                hash_value = key
            bucket = (hash_value ^ flags) % NAMEID_BUCKET_COUNT
            buckets[bucket] += struct.pack("<IHH", hash_value, flags, idx)
        out: dict[int, Any] = {
            PidTagNameidBucketCount.tag: NAMEID_BUCKET_COUNT,
            PidTagNameidStreamGuid.tag: guid_stream,
            PidTagNameidStreamEntry.tag: bytes(entries),
            PidTagNameidStreamString.tag: bytes(strings),
        }
        for i, b in enumerate(buckets):
            out[((PidTagNameidBucketBase.id + i) << 16) | PropType.PT_BINARY] = bytes(b)
        return out


class PstWriter:
    """Writes a Unicode PST: the store, the root and IPM subtree, folders and messages.

    Args:
        path: the file to create (overwritten).
        display_name: the store's display name.
        store_uid: the store's 16-byte provider UID (PidTagRecordKey); entry ids embed it.
        crypt_method: NDB_CRYPT_NONE (default) or NDB_CRYPT_PERMUTE.
    """

    def __init__(
        self,
        path: str,
        display_name: str = STORE_DISPLAY_NAME_DEFAULT,
        store_uid: bytes = b"\x11" * 16,
        crypt_method: int = NDB_CRYPT_NONE,
    ) -> None:
        self.path = path
        self._file = open(path, "w+b")  # noqa: SIM115 - closed in close()
        self.ndb = NdbWriter(self._file, crypt_method)
        self.display_name = display_name
        self.store_uid = store_uid
        self.names = NameToIdMap()
        for named in COMMON_NAMED_PROPS:  # readers (libpff) refuse a map without entries
            self.names.prop_id(named)
        for nid in (NID_ROOT_FOLDER,):
            self.ndb.reserve_nid(nid)
        self.root = FolderHandle(NID_ROOT_FOLDER, "", None)
        self._init_contents(self.root)
        self.ipm_subtree = self.add_folder(self.root, IPM_SUBTREE_NAME)
        self.search_root = self.add_folder(self.root, SEARCH_ROOT_NAME)
        self.store_extra: dict[PropKeyT, Any] = {}
        self.summary: dict[str, int] = {}
        self._closed = False

    def __enter__(self) -> PstWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()

    # -- ids -------------------------------------------------------------------------
    def entry_id(self, folder: FolderHandle) -> bytes:
        """The entry id of a folder in this store."""
        return entry_id(self.store_uid, folder.nid)

    def tag_of(self, key: PropKeyT) -> int:
        """The 32-bit tag to store a property under, assigning named property ids as needed."""
        if isinstance(key, Tag):
            return key.tag
        if isinstance(key, Named):
            return (self.names.prop_id(key) << 16) | key.type
        return int(key)

    def resolve(self, props: dict[PropKeyT, Any]) -> dict[int, Any]:
        """{Tag|Named|int: value} to {tag: value}, dropping None values."""
        return {self.tag_of(k): v for k, v in props.items() if v is not None}

    # -- folders ---------------------------------------------------------------------
    def _init_contents(self, folder: FolderHandle) -> None:
        folder.contents = TableBuilder(c.tag for c in CONTENTS_COLUMNS)
        folder.contents_sub = SubnodeSink(self.ndb, _subnode_allocator())
        folder.associated = TableBuilder(c.tag for c in ASSOCIATED_COLUMNS)
        folder.associated_sub = SubnodeSink(self.ndb, _subnode_allocator())

    def add_folder(
        self,
        parent: FolderHandle,
        name: str,
        container_class: str | None = None,
        extra: dict[PropKeyT, Any] | None = None,
    ) -> FolderHandle:
        """Create a folder under `parent`; names need not be unique."""
        folder = FolderHandle(
            self.ndb.new_nid(NID_TYPE_NORMAL_FOLDER), name, parent, container_class, dict(extra or {})
        )
        self._init_contents(folder)
        parent.children.append(folder)
        return folder

    # -- messages --------------------------------------------------------------------
    def add_message(self, folder: FolderHandle, message: Message, associated: bool = False) -> int:
        """Write a message into `folder` now; returns its NID.

        `associated` makes it a folder-associated (FAI) item: hidden, listed in the folder's
        associated contents table (views, rules, configuration), not in its item count.
        """
        if folder.contents is None:
            raise ValueError(f"folder {folder.name!r} is finished; no more messages can go into it")
        if associated:
            message.props.setdefault(PidTagMessageFlags, 0)
            message.props[PidTagMessageFlags] |= MSGFLAG_ASSOCIATED
        nid = self.ndb.new_nid(NID_TYPE_ASSOC_MESSAGE if associated else NID_TYPE_NORMAL_MESSAGE)
        bid, bid_sub, props = self._write_message(message, _subnode_allocator())
        self.ndb.add_node(nid, bid, bid_sub, folder.nid)
        if associated:
            assert folder.associated is not None and folder.associated_sub is not None
            folder.associated.add_row(nid, props, folder.associated_sub)
            folder.associated_count += 1
            return nid
        assert folder.contents is not None and folder.contents_sub is not None
        folder.contents.add_row(nid, props, folder.contents_sub)
        folder.count += 1
        if not props.get(PidTagMessageFlags.tag, 0) & MSGFLAG_READ:
            folder.unread += 1
        return nid

    def _write_message(self, message: Message, alloc: Callable[[int], int]) -> tuple[int, int, dict[int, Any]]:
        sub = SubnodeSink(self.ndb, alloc)
        props = self.resolve(message.props)
        size = 0
        if message.recipients:
            # Recipients keep all their properties in the table row (2.4.5.2), so the
            # message's table has the template's columns plus any other the rows use.
            rows = []
            for i, row in enumerate(message.recipients):
                values = self.resolve(row)
                values.setdefault(PidTagRowid.tag, i)
                values.setdefault(PidTagObjectType.tag, MAPI_MAILUSER)
                rows.append(values)
            columns = {c.tag for c in RECIPIENT_COLUMNS}.union(*(r.keys() for r in rows))
            table = TableBuilder(columns)
            tsub = SubnodeSink(self.ndb, alloc)
            for i, values in enumerate(rows):
                table.add_row(i, values, tsub)
            bid, _ = self.ndb.write_block_list(table.pages(tsub))
            sub.add_node(NID_RECIPIENT_TABLE, bid, tsub.write())
        if message.attachments:
            table = TableBuilder(c.tag for c in ATTACHMENT_COLUMNS)
            tsub = SubnodeSink(self.ndb, alloc)
            for number, att in enumerate(message.attachments):
                att_nid = alloc(NID_TYPE_ATTACHMENT)
                asub = SubnodeSink(self.ndb, alloc)
                aprops = self.resolve(att.props)
                aprops[PidTagAttachNumber.tag] = number
                streams = None
                if att.message is not None:
                    emb_nid = alloc(NID_TYPE_NORMAL_MESSAGE)
                    ebid, ebsub, eprops = self._write_message(att.message, alloc)
                    asub.add_node(emb_nid, ebid, ebsub)
                    esize = int(eprops.get(PidTagMessageSize.tag, 0))
                    aprops[PidTagAttachDataObject.tag] = (emb_nid, esize)
                    aprops.setdefault(PidTagAttachSize.tag, esize)
                elif att.stream is not None:
                    ssize, factory = att.stream
                    streams = {PidTagAttachDataBinary.tag: (ssize, factory())}
                    aprops[PidTagAttachSize.tag] = ssize
                elif att.data is not None:
                    aprops[PidTagAttachDataBinary.tag] = att.data
                    aprops[PidTagAttachSize.tag] = len(att.data)
                size += int(aprops.get(PidTagAttachSize.tag, 0))
                pages = build_pc(aprops, asub, streams)
                abid, _ = self.ndb.write_block_list(pages)
                sub.add_node(att_nid, abid, asub.write())
                table.add_row(att_nid, aprops, tsub)
            bid, _ = self.ndb.write_block_list(table.pages(tsub))
            sub.add_node(NID_ATTACHMENT_TABLE, bid, tsub.write())
            props[PidTagMessageFlags.tag] = props.get(PidTagMessageFlags.tag, 0) | MSGFLAG_HASATTACH
        for value in props.values():
            if isinstance(value, (bytes, str)):
                size += len(value) * (2 if isinstance(value, str) else 1)
        props.setdefault(PidTagMessageSize.tag, size + 256)
        props.setdefault(PidTagObjectType.tag, MAPI_MESSAGE)
        bid = self.ndb.write_block_list(build_pc(props, sub))[0]
        return bid, sub.write(), props

    # -- close -----------------------------------------------------------------------
    def close(self) -> dict[str, int]:
        """Write folders, the store, the name map and the NDB structures; close the file."""
        if self._closed:
            return self.summary
        self._write_folder(self.root)
        self._write_store()
        self._write_internal_nodes()
        self._write_pc_node(NID_NAME_TO_ID_MAP, self.names.props(), 0)
        self.summary = self.ndb.close()
        self._file.close()
        self._closed = True
        return self.summary

    def _write_pc_node(self, nid: int, props: dict[int, Any], parent: int) -> None:
        sub = SubnodeSink(self.ndb, _subnode_allocator())
        bid, _ = self.ndb.write_block_list(build_pc(props, sub))
        self.ndb.add_node(nid, bid, sub.write(), parent)
        self.ndb.reserve_nid(nid)

    def _write_table_node(self, nid: int, table: TableBuilder, sub: SubnodeSink | None = None) -> None:
        sub = sub or SubnodeSink(self.ndb, _subnode_allocator())
        bid, _ = self.ndb.write_block_list(table.pages(sub))
        self.ndb.add_node(nid, bid, sub.write(), 0)
        self.ndb.reserve_nid(nid)

    def finish_contents(self, folder: FolderHandle) -> None:
        """Write the folder's contents and associated tables now and free their rows.

        Call it when no more messages go into the folder, so that a many-GB file holds only
        the tables of the folders still being filled (memory stays flat). Adding a message
        to the folder afterwards raises ValueError. `close()` calls it for every folder.
        """
        if folder.contents is None:
            return
        index = folder.nid >> 5
        self._write_table_node((index << 5) | NID_TYPE_CONTENTS_TABLE, folder.contents, folder.contents_sub)
        assert folder.associated is not None
        self._write_table_node((index << 5) | NID_TYPE_ASSOC_CONTENTS_TABLE, folder.associated, folder.associated_sub)
        folder.contents = folder.associated = None
        folder.contents_sub = folder.associated_sub = None

    def _write_folder(self, folder: FolderHandle) -> None:
        for child in folder.children:
            self._write_folder(child)
        hierarchy = TableBuilder(c.tag for c in HIERARCHY_COLUMNS)
        hsub = SubnodeSink(self.ndb, _subnode_allocator())
        for child in folder.children:
            hierarchy.add_row(
                child.nid,
                self.resolve(
                    {
                        PidTagDisplayName: child.name,
                        PidTagContentCount: child.count,
                        PidTagContentUnreadCount: child.unread,
                        PidTagSubfolders: bool(child.children),
                        PidTagContainerClass: child.container_class,
                    }
                ),
                hsub,
            )
        index = folder.nid >> 5
        self._write_table_node((index << 5) | NID_TYPE_HIERARCHY_TABLE, hierarchy, hsub)
        self.finish_contents(folder)
        props: dict[PropKeyT, Any] = {
            PidTagDisplayName: folder.name,
            PidTagContentCount: folder.count,
            PidTagContentUnreadCount: folder.unread,
            PidTagSubfolders: bool(folder.children),
            PidTagAssociatedContentCount: folder.associated_count,
            PidTagObjectType: MAPI_FOLDER,
        }
        if folder.container_class:
            props[PidTagContainerClass] = folder.container_class
        props.update(folder.extra)
        parent = folder.parent.nid if folder.parent is not None else folder.nid
        self._write_pc_node(folder.nid, self.resolve(props), parent)

    def _write_store(self) -> None:
        props: dict[PropKeyT, Any] = {
            PidTagRecordKey: self.store_uid,
            PidTagDisplayName: self.display_name,
            PidTagIpmSubtreeEntryId: self.entry_id(self.ipm_subtree),
            PidTagFinderEntryId: self.entry_id(self.search_root),
            PidTagValidFolderMask: (
                FOLDER_IPM_SUBTREE_VALID
                | FOLDER_IPM_INBOX_VALID
                | FOLDER_IPM_OUTBOX_VALID
                | FOLDER_IPM_WASTEBASKET_VALID
                | FOLDER_IPM_SENTMAIL_VALID
                | FOLDER_FINDER_VALID
            ),
        }
        props.update(self.store_extra)
        self._write_pc_node(NID_MESSAGE_STORE, self.resolve(props), 0)

    def _write_internal_nodes(self) -> None:
        """Templates and search nodes every PST has (2.7.1), empty as in a new file."""
        for nid, columns in (
            (NID_HIERARCHY_TABLE_TEMPLATE, HIERARCHY_COLUMNS),
            (NID_CONTENTS_TABLE_TEMPLATE, CONTENTS_COLUMNS),
            (NID_ASSOC_CONTENTS_TABLE_TEMPLATE, ASSOCIATED_COLUMNS),
            (NID_SEARCH_CONTENTS_TABLE_TEMPLATE, CONTENTS_COLUMNS),
            (NID_ATTACHMENT_TABLE, ATTACHMENT_COLUMNS),
            (NID_RECIPIENT_TABLE, RECIPIENT_COLUMNS),
        ):
            self._write_table_node(nid, TableBuilder(c.tag for c in columns))
        # Search queues and lists start empty. Outlook writes such nodes with no data block at
        # all (bidData 0, as in the corpus files it made), and writes no folder templates
        # (0xA1, 0xC1) or gatherer descriptor in a new file, so neither do we.
        for nid in (
            NID_SEARCH_MANAGEMENT_QUEUE,
            NID_SEARCH_ACTIVITY_LIST,
            NID_SEARCH_DOMAIN_OBJECT,
            NID_SEARCH_GATHERER_QUEUE,
            NID_SEARCH_GATHERER_FOLDER_QUEUE,
        ):
            self.ndb.add_node(nid, 0, 0, 0)
            self.ndb.reserve_nid(nid)


def _subnode_allocator() -> Callable[[int], int]:
    """NIDs for the subnodes of one top-level node, unique across all its nesting levels
    (readpst looks nested subnodes up in one flat list)."""
    counter = [SUBNODE_NID_INDEX_BASE]

    def alloc(nid_type: int) -> int:
        counter[0] += 1
        return (counter[0] << 5) | nid_type

    return alloc


def special_folder_ids(writer: PstWriter, roles: dict[str, FolderHandle]) -> dict[PropKeyT, Any]:
    """The special-folder entry ids Outlook keeps on the root folder and on the Inbox."""
    props: dict[PropKeyT, Any] = {}
    for role, tag in (
        ("calendar", PidTagIpmAppointmentEntryId),
        ("contacts", PidTagIpmContactEntryId),
        ("journal", PidTagIpmJournalEntryId),
        ("notes", PidTagIpmNoteEntryId),
        ("tasks", PidTagIpmTaskEntryId),
        ("drafts", PidTagIpmDraftsEntryId),
    ):
        if role in roles:
            props[tag] = writer.entry_id(roles[role])
    if "junk" in roles:
        # PidTagAdditionalRenEntryIds: conflicts, sync issues, local failures, server
        # failures, junk (MS-OXOSFLD 2.2.4); only junk exists here, the others stay empty.
        props[PidTagAdditionalRenEntryIds] = [b"", b"", b"", b"", writer.entry_id(roles["junk"])]
    return props


def store_role_ids(writer: PstWriter, roles: dict[str, FolderHandle]) -> dict[PropKeyT, Any]:
    """The store's entry ids of Deleted Items, Sent Items and the Outbox."""
    props: dict[PropKeyT, Any] = {}
    for role, tag in (
        ("deleted", PidTagIpmWastebasketEntryId),
        ("sent", PidTagIpmSentMailEntryId),
        ("outbox", PidTagIpmOutboxEntryId),
    ):
        if role in roles:
            props[tag] = writer.entry_id(roles[role])
    return props
