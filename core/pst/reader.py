"""The PST/OST reader: the only code that touches pypff.

Streaming by construction: folders are walked lazily and items are built one at a time, with
attachment data behind streams. A pypff handle belongs to the thread that opened it, so one
`PstFile` is used from one thread.

Where pypff cannot go (embedded messages, items whose property context pypff refuses, and big
folders, whose listing through pypff loads the whole contents table), the NDB/LTP layer in
`core.pst.ndb` reads the same file directly.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import pypff

from core.errors import PstError
from core.mapi import (
    PidTagAssociatedContentCount,
    PidTagAttachDataBinary,
    PidTagAttachMethod,
    PidTagContainerClass,
    PidTagContentCount,
    PidTagDisplayName,
    PidTagInternetCodepage,
    PidTagIpmSubtreeEntryId,
    PidTagMessageCodepage,
    PidTagMessageLocaleId,
    PidTagMessageSize,
    PidTagNameidStreamEntry,
    PidTagNameidStreamGuid,
    PidTagNameidStreamString,
    PidTagPstPassword,
    PidTagRecordKey,
    PidTagRtfCompressed,
    PidTagSubject,
    PropType,
    afEmbeddedMessage,
)
from core.pst import header as pst_header
from core.pst import roles as role_rules
from core.pst.codepages import codepage_from_properties, normalize_codepage
from core.pst.model import (
    Attachment,
    Folder,
    Item,
    PropertyBag,
    PropKey,
    PropValue,
    RawValue,
    Recipient,
    StoreInfo,
    UnreadableItem,
)
from core.pst.namedprops import parse_name_to_id_map
from core.pst.ndb.format import NID_TYPE_CONTENTS_TABLE, NID_TYPE_NORMAL_MESSAGE, make_nid
from core.pst.ndb.messages import RawMessage
from core.pst.ndb.nodes import Node
from core.pst.values import decode

log = logging.getLogger(__name__)

# OST folder property holding the folder's own long-term id (its last 6 bytes are the GLOBCNT).
OST_FOLDER_ID_PROP = 0x67F4
# NID type of a folder-associated (FAI) message (MS-PST 2.2.2.1, NID_TYPE_ASSOC_MESSAGE).
NID_TYPE_MASK = 0x1F
NID_TYPE_ASSOC_MESSAGE = 0x08
# PidTagAttachDataBinary / PidTagAttachDataObject: streamed through Attachment.open(), never loaded.
ATTACHMENT_DATA_PROPS = frozenset({PidTagAttachDataBinary.id})
# Attachments average at least this size (PidTagMessageSize over their count): read them through
# the NDB layer, which streams their data; smaller ones cost less through pypff (measured on the
# corpus and writer scale PSTs: the two meet at about 20 KB).
NDB_ATTACHMENT_BYTES = 32 * 1024
# A folder holding more items than this is listed from the node B-tree and its items read through
# the NDB layer. Asking pypff for a folder's messages (number_of_sub_messages, get_sub_message)
# makes libpff load the folder's whole contents table, ~3.3 KB per item, kept while the folder
# handle lives: 134 MB for the 40,000-item folder of the 4 GB scale PST, against a flat profile of
# ~20 MB. Below this the table costs at most a few MB and pypff's listing stays (its refusals are
# then read directly, see _refused_items); above it nothing grows with the folder.
NDB_FOLDER_ITEMS = 2000
# How many items an ANSI store is sampled for code page properties.
CODEPAGE_SAMPLE_ITEMS = 50
OST_MAILBOX_ROOT = "Root - Mailbox"
OST_IPM_SUBTREE = "IPM_SUBTREE"
_ENCRYPTION = {0: "none", 1: "compressible", 2: "high"}
_CONTENT_TYPE = {0x70: "pst", 0x6F: "ost"}


def open_pst(path: str | os.PathLike[str], codepage: str | None = None) -> PstFile:
    """Open a PST or OST file for reading. Use it as a context manager.

    Args:
        path: the file.
        codepage: for ANSI files, the code page of 8-bit strings (e.g. "cp932"). When None it is
            detected from the items' code page properties, falling back to cp1252.

    Raises:
        PstError: the file is missing, not a PST/OST, truncated or corrupt (a one-line reason).
    """
    pst = PstFile(os.fspath(path), codepage)
    pst.open()
    return pst


def _pff_reason(exc: Exception) -> str:
    """A one-line reason from a libpff error, without its call chain."""
    text = " ".join(str(exc).split())
    # libpff stacks "function: message." clauses; the last one is the root cause.
    parts = [p.strip() for p in re.split(r"(?<=\.)\s+(?=\w+: )", text) if p.strip()]
    cause = parts[-1] if parts else text
    cause = re.sub(r"^[a-z_]+: ", "", cause).rstrip(".")
    return cause or type(exc).__name__


def _entries(obj: Any, skip: frozenset[int] = frozenset()) -> Iterator[tuple[int, int, bytes | None, str | None]]:
    """(property id, type, raw data, error) for every entry of every record set of a pypff object.

    Properties in `skip` are left out without reading their data (an attachment's data is
    streamed instead of loaded with the other properties).
    """
    try:
        record_sets = list(obj.record_sets)
    except (OSError, IOError) as exc:  # noqa: UP024 - pypff raises IOError
        yield (-1, 0, None, _pff_reason(exc))
        return
    for record_set in record_sets:
        for entry in record_set.entries:
            try:
                pid, ptype = entry.entry_type, entry.value_type
            except OSError as exc:
                yield (-1, 0, None, _pff_reason(exc))
                continue
            if pid in skip:
                continue
            try:
                data = entry.data
            except OSError as exc:
                yield (pid, ptype, None, _pff_reason(exc))
                continue
            yield (pid, ptype, data, None)


def _strip_subject_marker(values: dict[PropKey, PropValue | RawValue]) -> None:
    """A PST stores PidTagSubject behind a two-character marker when it has a prefix
    ("\x01" and the prefix length, MS-PST 2.5.3.1.1): remove it, as Outlook does. (The subject
    is decoded here, the other values when first read.)"""
    raw = values.get(PidTagSubject.id)
    if raw is None:
        return
    subject = decode(*raw) if type(raw) is tuple else raw
    values[PidTagSubject.id] = subject
    if isinstance(subject.value, str) and subject.value.startswith("\x01"):
        subject.value = subject.value[2:]


def _pff_rtf(msg: Any, compressed: bytes) -> bytes | None:
    """PidTagRtfCompressed decompressed by libpff (MS-OXRTFCP in C, ~20x the Python decoder), or
    None to decompress in Python. libpff ends its result with a NUL beyond the declared raw size
    and refuses a bad CRC, which Outlook tolerates and the Python path decompresses and reports;
    a result of any other length than raw size + 1 is not trusted."""
    if len(compressed) < 16:
        return None
    raw_size = int.from_bytes(compressed[4:8], "little")
    if raw_size == 0:  # the Python decoder keeps all it decompresses then; libpff cannot match it
        return None
    try:
        rtf = msg.get_rtf_body()
    except (OSError, ValueError, MemoryError):
        return None
    if not isinstance(rtf, bytes) or len(rtf) != raw_size + 1 or rtf[-1] != 0:
        return None
    return rtf[:-1]


class _PffAttachmentStream(io.RawIOBase):
    """A read-only stream over a pypff attachment's data."""

    def __init__(self, attachment: Any, size: int) -> None:
        self._att = attachment
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        self._att.seek_offset(self._pos)
        data = self._att.read_buffer(want)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


class PstFile:
    """An open PST/OST. Build it with `open_pst`."""

    def __init__(self, path: str, codepage: str | None = None) -> None:
        self.path = path
        self._requested_codepage = normalize_codepage(codepage) if codepage else None
        self._pff: Any = None
        self._ndb: Any = None
        self._named: dict[int, tuple[Any, int | str]] = {}
        self._folders: dict[int, tuple[Folder, Any]] = {}
        self._ndb_folders: set[int] = set()  # big folders: listed and read through the NDB layer
        self.info: StoreInfo
        self.codepage = "cp1252"
        self._header: pst_header.Header
        self._store = PropertyBag()

    # -- opening ---------------------------------------------------------------------------

    def __enter__(self) -> PstFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self._header = pst_header.sniff(self.path)  # raises PstError with a precise reason
        codepage = self._requested_codepage or "cp1252"
        self._open_pff(codepage)
        if self._header.format == "ansi" and self._requested_codepage is None:
            detected = self._detect_codepage()
            if detected and detected != codepage:
                self._pff.close()
                self._open_pff(detected)
                codepage = detected
        self.codepage = codepage
        self._named = self._read_named_map()
        self._store = self._read_store_props()
        self.info = self._read_store_info()

    def _open_pff(self, codepage: str) -> None:
        pff = pypff.file()
        try:
            pff.set_ascii_codepage(codepage)
        except (OSError, ValueError, TypeError) as exc:
            raise PstError(self.path, f"code page {codepage!r} is not supported by the PST reader") from exc
        try:
            pff.open(self.path)
        except (OSError, ValueError) as exc:
            raise PstError(self.path, f"cannot be read: {_pff_reason(exc)}") from exc
        self._pff = pff

    def close(self) -> None:
        if self._pff is not None:
            try:
                self._pff.close()
            except OSError:
                pass
            self._pff = None
        if self._ndb is not None:
            self._ndb.close()
            self._ndb = None
        self._folders.clear()

    def _detect_codepage(self) -> str | None:
        """The ANSI code page the items say they were written in, from a sample of items."""
        seen: list[dict[int, Any]] = []
        root = self._pff.root_folder
        stack = [root] if root is not None else []
        while stack and len(seen) < CODEPAGE_SAMPLE_ITEMS:
            folder = stack.pop()
            # sub-items, not sub-messages: asking for those loads the whole contents table
            count = self._safe(lambda f=folder: f.number_of_sub_items) or 0
            for i in range(count):
                if len(seen) >= CODEPAGE_SAMPLE_ITEMS:
                    break
                try:
                    msg = folder.get_sub_item(i)
                except (OSError, MemoryError):
                    continue
                if (self._safe(lambda m=msg: m.identifier) or 0) & NID_TYPE_MASK != NID_TYPE_NORMAL_MESSAGE:
                    continue
                props = {}
                for pid, ptype, data, _err in _entries(msg):
                    if pid in (PidTagMessageCodepage.id, PidTagInternetCodepage.id, PidTagMessageLocaleId.id):
                        props[pid] = decode(ptype, data).value
                seen.append(props)
            try:
                stack.extend(folder.sub_folders)
            except OSError:
                pass
        return codepage_from_properties(seen)

    def _read_named_map(self) -> dict[int, tuple[Any, int | str]]:
        try:
            nmap = self._pff.name_to_id_map
        except OSError as exc:
            log.warning(
                "%s: name-to-id map unreadable (%s); named properties stay numeric",
                self.path,
                _pff_reason(exc),
            )
            return {}
        if nmap is None:
            return {}
        wanted = {PidTagNameidStreamGuid.id, PidTagNameidStreamEntry.id, PidTagNameidStreamString.id}
        streams = {pid: data for pid, _t, data, err in _entries(nmap) if pid in wanted and data and not err}
        return parse_name_to_id_map(streams)

    def _read_store_props(self) -> PropertyBag:
        try:
            store = self._pff.message_store
        except OSError as exc:
            raise PstError(self.path, f"message store unreadable: {_pff_reason(exc)}") from exc
        return self._bag(store, codepage=self.codepage)[0]

    def _read_store_info(self) -> StoreInfo:
        store = self._store
        kind = _CONTENT_TYPE.get(self._safe(lambda: self._pff.content_type), self._header.kind)
        password = store.int(PidTagPstPassword)
        record_key = store.bytes(PidTagRecordKey) or b""
        return StoreInfo(
            path=self.path,
            kind=kind,  # type: ignore[arg-type]
            format=self._header.format,  # type: ignore[arg-type]
            encryption=_ENCRYPTION.get(self._safe(lambda: self._pff.encryption_type), self._header.encryption),
            # a PST password is only its CRC-32 in the store; an OST carries 0xFFFFFFFF there
            password_protected=bool(password) and kind == "pst",
            display_name=store.str(PidTagDisplayName) or None,
            record_key=record_key,
            size=self._safe(lambda: self._pff.size) or os.path.getsize(self.path),
            codepage=self.codepage if self._header.format == "ansi" else None,
        )

    @staticmethod
    def _safe(fn: Any) -> Any:
        try:
            return fn()
        except OSError:
            return None

    # -- property bags ---------------------------------------------------------------------

    def _bag(self, obj: Any, codepage: str, skip: frozenset[int] = frozenset()) -> tuple[PropertyBag, list[str]]:
        values: dict[PropKey, PropValue | RawValue] = {}
        problems: list[str] = []
        named = self._named
        for pid, ptype, data, err in _entries(obj, skip):
            if pid < 0:
                problems.append(f"properties unreadable: {err}")
                continue
            key: PropKey = named.get(pid, pid) if pid >= 0x8000 else pid
            if err is not None:
                values[key] = PropValue(ptype, None, error=err)
                problems.append(f"property 0x{pid:04X} unreadable: {err}")
                continue
            values[key] = (ptype, data, codepage)  # decoded on first access (PropertyBag)
        _strip_subject_marker(values)
        return PropertyBag(values), problems

    def bag_from_raw(self, raw: dict[int, tuple[int, int, bytes]], codepage: str) -> PropertyBag:
        """A PropertyBag from the NDB layer's raw (id, type, bytes) triples."""
        values: dict[PropKey, PropValue | RawValue] = {}
        named = self._named
        for pid, (_, ptype, data) in raw.items():
            if pid == 0 and ptype == PropType.PT_UNSPECIFIED:
                continue  # a null slot some writers leave in the property context (the QUIRK_ file)
            key: PropKey = named.get(pid, pid) if pid >= 0x8000 else pid
            values[key] = (ptype, data, codepage)  # decoded on first access (PropertyBag)
        _strip_subject_marker(values)
        return PropertyBag(values)

    # -- folders ---------------------------------------------------------------------------

    def _ipm_top(self) -> Any:
        """The pypff folder at the top of the visible tree (the IPM subtree)."""
        root = self._pff.root_folder
        if root is None:
            raise PstError(self.path, "the root folder cannot be read")
        store = self._store
        key = role_rules.folder_key(store.bytes(PidTagIpmSubtreeEntryId))
        if key is not None:
            found = self._find_nid(root, key)
            if found is not None:
                return found
        for sub in self._subfolders(root):  # OST layout: Root - Mailbox / IPM_SUBTREE
            if self._safe(lambda s=sub: s.name) == OST_MAILBOX_ROOT:
                for inner in self._subfolders(sub):
                    if self._safe(lambda s=inner: s.name) == OST_IPM_SUBTREE:
                        return inner
        return root  # no IPM subtree marked: show the whole tree rather than nothing

    def _find_nid(self, folder: Any, nid: int, depth: int = 0) -> Any:
        if self._safe(lambda: folder.identifier) == nid:
            return folder
        if depth > 3:  # the IPM subtree sits directly under the root in every known layout
            return None
        for sub in self._subfolders(folder):
            found = self._find_nid(sub, nid, depth + 1)
            if found is not None:
                return found
        return None

    def _subfolders(self, folder: Any) -> list[Any]:
        try:
            return list(folder.sub_folders)
        except OSError as exc:
            log.warning(
                "%s: sub-folders of %r unreadable: %s",
                self.path,
                self._safe(lambda: folder.name),
                _pff_reason(exc),
            )
            return []

    def folders(self) -> Iterator[Folder]:
        """The folders of the visible tree in pre-order; the top has path ()."""
        top = self._ipm_top()
        tree: list[tuple[tuple[str, ...], Any, PropertyBag]] = []

        def walk(folder: Any, path: tuple[str, ...], depth: int) -> None:
            props, _ = self._bag(folder, self.codepage)
            tree.append((path, folder, props))
            if depth >= 512:
                log.warning("%s: folder tree deeper than 512 levels at %s; not descending", self.path, "/".join(path))
                return
            for sub in self._subfolders(folder):
                name = self._safe(lambda s=sub: s.name) or ""
                walk(sub, path + (name,), depth + 1)

        walk(top, (), 0)
        roles = self._roles(tree)
        nids = [self._safe(lambda f=folder: f.identifier) or 0 for _path, folder, _props in tree]
        big = {
            nid
            for nid, (_path, folder, props) in zip(nids, tree, strict=True)
            if self._folder_size(folder, props) > NDB_FOLDER_ITEMS
        }
        # Every folder's counts from one pass over the node B-tree: asking pypff instead loads each
        # folder's contents table and opens each associated item (get_sub_item, ~0.2 ms each) just
        # to count them. {} when the NDB layer cannot read the file: pypff counts then.
        counts = self._nbt_counts(set(nids) - {0})
        self._ndb_folders = big & set(counts)
        for (path, folder, props), nid in zip(tree, nids, strict=True):
            if nid in counts:
                item_count, associated_count = counts[nid]
            else:
                item_count = self._safe(lambda f=folder: f.number_of_sub_messages) or 0
                associated_count = self._count_associated(folder)
            info = Folder(
                path=path,
                node_id=nid,
                display_name=path[-1] if path else (props.str(PidTagDisplayName) or ""),
                container_class=self._container_class(props),
                role=roles.get(self._role_key(nid, props)) if path else None,
                item_count=item_count,
                associated_count=associated_count,
                subfolder_count=self._safe(lambda f=folder: f.number_of_sub_folders) or 0,
            )
            self._folders[nid] = (info, folder)
            yield info

    @staticmethod
    def _container_class(props: PropertyBag) -> str | None:
        value = props.get(PidTagContainerClass)
        if isinstance(value, str) and value and value.isprintable():
            return value
        return None

    def _role_key(self, nid: int, props: PropertyBag) -> int | None:
        if self.info.kind == "ost":
            own = props.get(OST_FOLDER_ID_PROP)
            if isinstance(own, int):  # stored as PT_I8: take back its bytes
                own = own.to_bytes(8, "little", signed=True)
            return role_rules.ost_folder_key(own if isinstance(own, bytes) else None)
        return nid

    def _roles(self, tree: list[tuple[tuple[str, ...], Any, PropertyBag]]) -> dict[int, str]:
        store = {pid: self._store.get(pid) for pid in role_rules.STORE_ROLE_PROPS}
        holders = [props for path, _f, props in tree if path and self._holds_special_ids(props)]
        root_props, _ = self._bag(self._pff.root_folder, self.codepage)
        mapping = role_rules.roles_from_ids(store, [self._raw_props(p) for p in [root_props, *holders]])
        inbox_keys = []
        for path, folder, props in tree:
            if path and self._holds_special_ids(props):
                key = self._role_key(self._safe(lambda f=folder: f.identifier) or 0, props)
                if key is not None:
                    mapping.setdefault(key, "inbox")
                    inbox_keys.append(key)
        self._roles_by_container_class(tree, mapping)
        if self.info.kind == "ost" and tree:
            top_key = self._role_key(0, tree[0][2])
            if top_key is not None and inbox_keys == [top_key + 2]:
                for offset, role in role_rules.EXCHANGE_LOGON_ORDER.items():
                    mapping.setdefault(top_key + offset, role)
        return mapping

    def _roles_by_container_class(
        self, tree: list[tuple[tuple[str, ...], Any, PropertyBag]], mapping: dict[int, str]
    ) -> None:
        """Fallback for stores whose special-folder ids do not resolve (e.g. exports that copied
        Exchange long-term ids): a role still unassigned goes to the only top-level folder of its
        container class."""
        taken = set(mapping.values())
        by_class: dict[str, list[int]] = {}
        for path, folder, props in tree:
            cls = self._container_class(props)
            if len(path) == 1 and cls in role_rules.ROLE_BY_CONTAINER_CLASS:
                key = self._role_key(self._safe(lambda f=folder: f.identifier) or 0, props)
                if key is not None:
                    by_class.setdefault(cls, []).append(key)
        for cls, keys in by_class.items():
            role = role_rules.ROLE_BY_CONTAINER_CLASS[cls]
            if role not in taken and len(keys) == 1 and keys[0] not in mapping:
                mapping[keys[0]] = role

    @staticmethod
    def _raw_props(bag: PropertyBag) -> dict[int, Any]:
        return {k: bag.get(k) for k in bag if isinstance(k, int)}

    @staticmethod
    def _holds_special_ids(props: PropertyBag) -> bool:
        return any(pid in props for pid in role_rules.SPECIAL_FOLDER_PROPS)

    def _folder_size(self, folder: Any, props: PropertyBag) -> int:
        """How many items a folder holds, without asking pypff for its messages: its sub-items
        (libpff's node tree, built at open) or its own content counts, whichever is larger."""
        counted = (props.int(PidTagContentCount) or 0) + (props.int(PidTagAssociatedContentCount) or 0)
        return max(self._safe(lambda: folder.number_of_sub_items) or 0, counted)

    def _nbt_counts(self, parents: set[int]) -> dict[int, tuple[int, int]]:
        """(ordinary, associated) message counts of the folders `parents`, from one pass over the
        node B-tree; {} when the NDB layer cannot read this file (pypff then lists every folder)."""
        counts = {nid: [0, 0] for nid in parents}
        try:
            ndb = self._ndb_file()
            if ndb is None:
                return {}
            for entry in ndb.iter_nbt():
                c = counts.get(entry.nid_parent)
                if c is None or entry.nid == entry.nid_parent:
                    continue
                kind = entry.nid & NID_TYPE_MASK
                if kind == NID_TYPE_NORMAL_MESSAGE:
                    c[0] += 1
                elif kind == NID_TYPE_ASSOC_MESSAGE:
                    c[1] += 1
        except Exception as exc:  # noqa: BLE001 - a damaged node B-tree: pypff lists the folders instead
            log.warning("%s: node B-tree unreadable (%s); big folders are listed by the PST library", self.path, exc)
            return {}
        return {nid: (c[0], c[1]) for nid, c in counts.items()}

    def _count_associated(self, folder: Any) -> int:
        total = self._safe(lambda: folder.number_of_sub_items) or 0
        msgs = self._safe(lambda: folder.number_of_sub_messages) or 0
        subs = self._safe(lambda: folder.number_of_sub_folders) or 0
        if total <= msgs + subs:
            return 0
        return sum(1 for _ in self._associated_handles(folder))

    def _associated_handles(self, folder: Any) -> Iterator[Any]:
        total = self._safe(lambda: folder.number_of_sub_items) or 0
        for k in range(total):
            try:
                item = folder.get_sub_item(k)
            except (OSError, MemoryError) as exc:  # libpff reports some damaged nodes as out of memory
                log.debug("%s: sub-item %d unreadable: %s", self.path, k, exc)  # items() reports ordinary ones
                continue
            nid = self._safe(lambda i=item: i.identifier) if item is not None else None
            if nid is not None and nid & NID_TYPE_MASK == NID_TYPE_ASSOC_MESSAGE:
                yield item

    # -- items -----------------------------------------------------------------------------

    def _pff_folder(self, folder: Folder) -> Any:
        entry = self._folders.get(folder.node_id)
        if entry is None:
            for _ in self.folders():
                pass
            entry = self._folders.get(folder.node_id)
        if entry is None:
            raise PstError(self.path, f"folder {'/'.join(folder.path)!r} not found")
        return entry[1]

    def items(self, folder: Folder, associated: bool = False) -> Iterator[Item | UnreadableItem]:
        """The items of a folder, one at a time. Unreadable ones come as `UnreadableItem`."""
        handle = self._pff_folder(folder)
        if folder.node_id in self._ndb_folders:
            yield from self._ndb_items(folder, handle, associated)
            return
        if associated:
            for msg in self._associated_handles(handle):
                yield self._item_or_unreadable(msg, folder.path, associated=True)
            return
        count = self._safe(lambda: handle.number_of_sub_messages) or 0
        read_nids: set[int] = set()
        refused: list[str] = []
        for i in range(count):
            try:
                msg = handle.get_sub_message(i)
            except OSError as exc:
                refused.append(_pff_reason(exc))
                continue
            item = self._item_or_unreadable(msg, folder.path)
            read_nids.add(item.node_id)
            yield item
        if refused:
            yield from self._refused_items(folder, read_nids, refused)

    def _ndb_items(self, folder: Folder, handle: Any, associated: bool) -> Iterator[Item | UnreadableItem]:
        """The items of a big folder: the nodes whose parent is the folder, from the node B-tree in
        NID order (pypff's own order: its sub-item k is the folder's k-th child node there), each
        read through the NDB layer; one the NDB layer cannot read is tried with pypff."""
        ndb = self._ndb_file()
        want = NID_TYPE_ASSOC_MESSAGE if associated else NID_TYPE_NORMAL_MESSAGE
        entries = ndb.iter_nbt()
        index = -1  # the child's index among the folder's sub-items in pypff
        while True:
            try:
                entry = next(entries)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - the NDB layer's errors are one line
                reason = f"the folder's remaining items cannot be listed: {exc}"
                yield UnreadableItem(node_id=0, folder_path=folder.path, reason=reason, associated=associated)
                return
            if entry.nid_parent != folder.node_id or entry.nid == folder.node_id:
                continue
            index += 1
            if entry.nid & NID_TYPE_MASK == want:
                yield self._ndb_item(ndb, entry, index, handle, folder.path, associated)

    def _ndb_item(
        self, ndb: Any, entry: Any, index: int, handle: Any, path: tuple[str, ...], associated: bool
    ) -> Item | UnreadableItem:
        nid = entry.nid
        try:
            raw = RawMessage(Node(ndb, nid, entry.bid_data, entry.bid_sub))
            item = self._item_from_raw(raw, nid, path, (), associated=associated)
        except Exception as exc:  # noqa: BLE001 - the NDB layer's errors are one line
            msg = self._pff_sub_item(handle, index, nid)
            if msg is None:
                return UnreadableItem(node_id=nid, folder_path=path, reason=str(exc), associated=associated)
            log.debug("%s: item %d read by the PST library: %s", self.path, nid, exc)
            return self._item_or_unreadable(msg, path, associated)
        rtf = item.props.bytes(PidTagRtfCompressed)
        if rtf:  # libpff decompresses RTF in C: reach the same node through pypff when asked
            item._rtf_body = lambda: self._pff_rtf_at(handle, index, nid, rtf)
        return item

    def _pff_sub_item(self, handle: Any, index: int, nid: int) -> Any:
        """pypff's sub-item `index` of a folder if it is node `nid`, else None. (Unlike
        get_sub_message, get_sub_item does not load the folder's contents table.)"""
        try:
            msg = handle.get_sub_item(index)
        except (OSError, MemoryError):  # libpff reports some damaged nodes as out of memory
            return None
        return msg if msg is not None and self._safe(lambda: msg.identifier) == nid else None

    def _pff_rtf_at(self, handle: Any, index: int, nid: int, compressed: bytes) -> bytes | None:
        msg = self._pff_sub_item(handle, index, nid)
        return _pff_rtf(msg, compressed) if msg is not None and hasattr(msg, "get_rtf_body") else None

    def _refused_items(
        self, folder: Folder, read_nids: set[int], reasons: list[str]
    ) -> Iterator[Item | UnreadableItem]:
        """Items pypff refused: found by NID in the folder's contents table and read through the NDB layer."""
        missing: list[int] = []
        ndb = self._ndb_file()
        if ndb is not None:
            try:
                table = ndb.tc(make_nid(NID_TYPE_CONTENTS_TABLE, folder.node_id >> 5))
                missing = [nid for nid in table.row_ids() if nid not in read_nids]
            except Exception as exc:  # noqa: BLE001 - the table is damaged too: report without NIDs
                log.warning("%s: contents table of %r unreadable: %s", self.path, "/".join(folder.path), exc)
        for index, reason in enumerate(reasons):
            nid = missing[index] if len(missing) == len(reasons) else 0
            if not nid:
                yield UnreadableItem(node_id=0, folder_path=folder.path, reason=reason)
                continue
            try:
                item = self._item_from_raw(ndb.message(nid), nid, folder.path, ())
            except Exception as exc:  # noqa: BLE001 - the NDB layer's errors are one line
                yield UnreadableItem(node_id=nid, folder_path=folder.path, reason=f"{reason}; direct read: {exc}")
                continue
            item.problems.append(f"read directly: the PST library refused it ({reason})")
            yield item

    def _item_or_unreadable(self, msg: Any, path: tuple[str, ...], associated: bool = False) -> Item | UnreadableItem:
        nid = self._safe(lambda: msg.identifier) or 0
        try:
            return self._item(msg, nid, path, associated)
        except OSError as exc:
            return UnreadableItem(node_id=nid, folder_path=path, reason=_pff_reason(exc), associated=associated)

    def _item(self, msg: Any, nid: int, path: tuple[str, ...], associated: bool) -> Item:
        props, problems = self._bag(msg, self.codepage)
        recipients: list[Recipient] = []
        try:
            rtable = getattr(msg, "recipients", None)  # plain pypff.item objects have none
        except OSError as exc:
            rtable = None
            problems.append(f"recipients unreadable: {_pff_reason(exc)}")
        if rtable is not None:
            try:
                for record_set in rtable.record_sets:
                    bag, probs = self._bag_of_record_set(record_set)
                    recipients.append(Recipient(bag))
                    problems.extend(probs)
            except OSError as exc:
                problems.append(f"recipients unreadable: {_pff_reason(exc)}")
        count = self._safe(lambda: getattr(msg, "number_of_attachments", 0)) or 0
        attachments: list[Attachment] | None = []
        if count:
            size = props.int(PidTagMessageSize)
            big = size is None or size >= NDB_ATTACHMENT_BYTES * count
            attachments = self._ndb_attachments(nid, path, count) if big else None
        if attachments is None:
            attachments = self._pff_attachments(msg, nid, path, count, problems)
        rtf = props.bytes(PidTagRtfCompressed)
        return Item(
            node_id=nid,
            folder_path=path,
            props=props,
            recipients=recipients,
            attachments=attachments,
            associated=associated,
            problems=problems,
            codepage=self._item_codepage(props),
            _rtf_body=(lambda: _pff_rtf(msg, rtf)) if rtf and hasattr(msg, "get_rtf_body") else None,
        )

    def _ndb_attachments(self, nid: int, path: tuple[str, ...], count: int) -> list[Attachment] | None:
        """The attachments of message `nid` through the NDB layer, or None to use pypff's.

        pypff's get_attachment() reads and keeps the whole attachment data before it returns
        (about 2 ms per 350 KB attachment, more than readpst spends on the whole item); the NDB
        layer reads the attachment's property context only and streams the data on open(), but
        costs more per attachment, so it is used for messages whose attachments are big.
        """
        ndb = self._ndb_file()
        if ndb is None:
            return None
        try:
            raw = ndb.message(nid).attachments
            if len(raw) != count:  # the two readers disagree: trust the library
                return None
            return self._raw_attachments(raw, nid, path, ())
        except Exception as exc:  # noqa: BLE001 - any NDB failure: pypff reads it instead
            log.debug("%s: attachments of item %d read by pypff: %s", self.path, nid, exc)
            return None

    def _pff_attachments(
        self, msg: Any, nid: int, path: tuple[str, ...], count: int, problems: list[str]
    ) -> list[Attachment]:
        attachments: list[Attachment] = []
        for index in range(count):
            try:
                att = msg.get_attachment(index)
                attachments.append(self._attachment(att, nid, (index,), path))
            except OSError as exc:
                problems.append(f"attachment {index} unreadable: {_pff_reason(exc)}")
        return attachments

    def _item_codepage(self, props: PropertyBag) -> str | None:
        return self.codepage if self.info.format == "ansi" else None

    def _bag_of_record_set(self, record_set: Any) -> tuple[PropertyBag, list[str]]:
        class _One:  # adapt one record set to the record_sets shape _entries walks
            record_sets = (record_set,)

        return self._bag(_One, self.codepage)

    def _attachment(
        self, att: Any, message_nid: int, att_path: tuple[int, ...], folder_path: tuple[str, ...]
    ) -> Attachment:
        props, _problems = self._bag(att, self.codepage, skip=ATTACHMENT_DATA_PROPS)
        size = self._safe(lambda: att.size) or 0
        method = props.int(PidTagAttachMethod) or 0
        if method == afEmbeddedMessage:
            return Attachment(
                props=props,
                index=att_path[-1],
                size=size,
                _embedded=lambda: self._embedded(message_nid, att_path, folder_path),
            )
        return Attachment(
            props=props,
            index=att_path[-1],
            size=size,
            _opener=lambda: io.BufferedReader(_PffAttachmentStream(att, size), 1 << 16),
        )

    # -- embedded messages (through the NDB layer) -----------------------------------------

    def _ndb_file(self) -> Any:
        if self._ndb is None:
            try:
                from core.pst.ndb import NdbFile
            except ImportError:
                return None
            self._ndb = NdbFile(self.path)
        return self._ndb

    def _embedded(self, message_nid: int, att_path: tuple[int, ...], folder_path: tuple[str, ...]) -> Item:
        ndb = self._ndb_file()
        if ndb is None:
            raise PstError(self.path, "embedded messages need the NDB layer, which is not available")
        raw = ndb.message(message_nid)
        for index in att_path:
            embedded = raw.attachments[index].embedded()
            if embedded is None:
                raise PstError(self.path, f"attachment {index} of item {message_nid} is not an embedded message")
            raw = embedded
        return self._item_from_raw(raw, message_nid, folder_path, att_path)

    def _item_from_raw(
        self, raw: Any, nid: int, folder_path: tuple[str, ...], att_path: tuple[int, ...], associated: bool = False
    ) -> Item:
        codepage = self.codepage
        props = self.bag_from_raw(raw.props, codepage)
        recipients = [Recipient(self.bag_from_raw(row, codepage)) for row in raw.recipients]
        return Item(
            node_id=nid,
            folder_path=folder_path,
            props=props,
            recipients=recipients,
            attachments=self._raw_attachments(raw.attachments, nid, folder_path, att_path),
            associated=associated,
            embedded_path=att_path,
            codepage=codepage if self.info.format == "ansi" else None,
        )

    def _raw_attachments(
        self, raw_atts: list[Any], nid: int, folder_path: tuple[str, ...], att_path: tuple[int, ...]
    ) -> list[Attachment]:
        """`Attachment`s over the NDB layer's attachments of message `nid` (at `att_path` below it)."""
        attachments = []
        for index, raw_att in enumerate(raw_atts):
            aprops = self.bag_from_raw(raw_att.props, self.codepage)
            path = att_path + (index,)
            if (aprops.int(PidTagAttachMethod) or 0) == afEmbeddedMessage:
                attachments.append(
                    Attachment(
                        props=aprops,
                        index=index,
                        size=raw_att.data_size,
                        _embedded=lambda p=path: self._embedded(nid, p, folder_path),
                    )
                )
            else:
                attachments.append(
                    Attachment(props=aprops, index=index, size=raw_att.data_size, _opener=raw_att.open_data)
                )
        return attachments


__all__ = ["PstFile", "open_pst"]
