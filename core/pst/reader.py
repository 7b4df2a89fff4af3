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
from dataclasses import dataclass
from typing import Any

import pypff

from core.errors import PstError
from core.mapi import (
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
from core.pst.ndb.format import (
    NID_MESSAGE_STORE,
    NID_NAME_TO_ID_MAP,
    NID_TYPE_CONTENTS_TABLE,
    NID_TYPE_NORMAL_FOLDER,
    NID_TYPE_NORMAL_MESSAGE,
    make_nid,
)
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
# Deeper folder chains than this in the node B-tree mean a loop (a damaged parent id).
MAX_FOLDER_DEPTH = 512
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
    except (OSError, MemoryError) as exc:  # pypff raises IOError; MemoryError for some damage
        yield (-1, 0, None, _pff_reason(exc))
        return
    for record_set in record_sets:
        for entry in record_set.entries:
            try:
                pid, ptype = entry.entry_type, entry.value_type
            except (OSError, MemoryError) as exc:
                yield (-1, 0, None, _pff_reason(exc))
                continue
            if pid in skip:
                continue
            try:
                data = entry.data
            except (OSError, MemoryError) as exc:
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


@dataclass(frozen=True, slots=True)
class _Refused:
    """An item the PST library refused while listing a folder (`PstFile.items` reads it directly)."""

    reason: str


@dataclass(frozen=True, slots=True)
class _NbtView:
    """What one pass over the node B-tree found (see `PstFile._nbt_view`)."""

    counts: dict[int, tuple[int, int]]
    """Parent NID -> (ordinary, associated) messages whose node names it as parent."""
    folders: dict[int, int]
    """Normal folder NID -> its parent's NID."""
    damaged: tuple[str, ...]
    """The pages of the tree that could not be read."""


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
        self._ndb_error: str | None = None  # why the NDB layer cannot read this file, if it cannot
        self._view: _NbtView | None = None
        self._view_error: str | None = None
        self._view_done = False
        self._parents: dict[int, int] = {}  # folder NID -> its parent's, as the tree was read
        self.notes: list[str] = []
        """Damage found and read past, for the file as a whole (scan warnings, run reports)."""
        self.losses: list[str] = []
        """Damage that may hide items or folders no folder's count accounts for (their number is
        unknown): a run reports each as a failure, so it cannot end as a success."""
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
        self._check_size()
        codepage = self._requested_codepage or "cp1252"
        try:
            self._open_pff(codepage)
        except PstError as exc:
            # The PST library refuses the file: read it through the NDB layer alone if that can.
            if self._ndb_file() is None or self._nbt_view() is None:
                raise PstError(self.path, self._damaged(exc.reason)) from None
            self.notes.append(f"the PST library cannot open it ({exc.reason}); read through the file's own index")
        if self._pff is not None and self._header.format == "ansi" and self._requested_codepage is None:
            detected = self._detect_codepage()
            if detected and detected != codepage:
                self._pff.close()
                self._open_pff(detected)
                codepage = detected
        self.codepage = codepage
        self._named = self._read_named_map()
        self._store = self._read_store_props()
        self.info = self._read_store_info()

    def _check_size(self) -> None:
        """Compare the header's file size with the real one, and note a difference."""
        declared, size = self._declared_size(), os.path.getsize(self.path)
        if declared is None or declared == size:
            return
        if declared > size:
            self.notes.append(
                f"truncated: the header says the file is {declared:,} bytes, but it is {size:,} "
                "(a copy or download that stopped early?); what lies beyond cannot be read"
            )
        else:
            self.notes.append(f"damaged header: it says the file is {declared:,} bytes, but it is {size:,}")

    def _declared_size(self) -> int | None:
        """The file size the header declares (ibFileEof), or None."""
        try:
            with open(self.path, "rb") as fh:
                from core.pst.ndb.nodes import read_header

                return read_header(fh, os.fstat(fh.fileno()).st_size).declared_eof
        except Exception:  # noqa: BLE001 - the header is checked elsewhere; here only its size matters
            return None

    def _damaged(self, cause: str) -> str:
        """The one-line reason for a file that cannot be read, with its sizes when it is short."""
        declared, size = self._declared_size(), os.path.getsize(self.path)
        index = f"; its index: {self._ndb_error or self._view_error}" if self._ndb_error or self._view_error else ""
        if declared is not None and declared > size:
            return (
                f"truncated: the header says the file is {declared:,} bytes, but it is {size:,} "
                "(a copy or download that stopped early?), and what is left cannot be read; copy it again "
                "from where it came"
            )
        cause = cause.replace("unable to open file", "the PST library refuses it")
        return (
            f"damaged: the file cannot be read ({cause}{index}); run scanpst.exe (the Inbox Repair Tool) "
            "on a copy, then import the repaired copy"
        )

    def _open_pff(self, codepage: str) -> None:
        pff = pypff.file()
        try:
            pff.set_ascii_codepage(codepage)
        except (OSError, ValueError, TypeError) as exc:
            raise PstError(self.path, f"code page {codepage!r} is not supported by the PST reader") from exc
        try:
            pff.open(self.path)
        except (OSError, ValueError, MemoryError) as exc:
            reason = _pff_reason(exc).replace(f": {self.path}", "").replace(self.path, "the file")
            raise PstError(self.path, reason) from exc
        self._pff = pff

    def close(self) -> None:
        if self._pff is not None:
            try:
                self._pff.close()
            except (OSError, MemoryError):
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
            except (OSError, MemoryError):
                pass
        return codepage_from_properties(seen)

    def _read_named_map(self) -> dict[int, tuple[Any, int | str]]:
        wanted = {PidTagNameidStreamGuid.id, PidTagNameidStreamEntry.id, PidTagNameidStreamString.id}
        try:
            if self._pff is None:
                raise OSError("the PST library is not reading this file")
            nmap = self._pff.name_to_id_map
            if nmap is None:
                return {}
            streams = {pid: data for pid, _t, data, err in _entries(nmap) if pid in wanted and data and not err}
        except (OSError, MemoryError) as exc:
            streams = self._ndb_props(NID_NAME_TO_ID_MAP, wanted)
            if streams is None:
                self.notes.append(f"named-property map unreadable ({_pff_reason(exc)}): named properties stay numeric")
                return {}
        return parse_name_to_id_map(streams)

    def _ndb_props(self, nid: int, wanted: set[int] | None = None) -> dict[int, bytes] | None:
        """Raw property values of top-level node `nid` read through the NDB layer, or None."""
        ndb = self._ndb_file()
        if ndb is None:
            return None
        try:
            return {pid: raw.value for pid, raw in ndb.pc(nid).props().items() if wanted is None or pid in wanted}
        except Exception:  # noqa: BLE001 - the NDB layer's errors are one line; None says "unreadable"
            return None

    def _read_store_props(self) -> PropertyBag:
        try:
            if self._pff is None:
                raise OSError("the PST library is not reading this file")
            store = self._pff.message_store
            return self._bag(store, codepage=self.codepage)[0]
        except (OSError, MemoryError) as exc:
            ndb = self._ndb_file()
            try:
                if ndb is None:
                    raise PstError(self.path, self._ndb_error or "no NDB layer")
                raw = ndb.pc(NID_MESSAGE_STORE).props()
            except Exception as inner:  # noqa: BLE001 - both readers failed: the file is damaged
                raise PstError(
                    self.path, self._damaged(f"its message store is unreadable: {_pff_reason(exc)}; {inner}")
                ) from None
            if self._pff is not None:
                self.notes.append(f"message store read through the file's own index ({_pff_reason(exc)})")
            return self.bag_from_raw(raw, self.codepage)

    def _read_store_info(self) -> StoreInfo:
        store = self._store
        pff = self._pff
        kind = _CONTENT_TYPE.get(self._safe(lambda: pff.content_type) if pff else None, self._header.kind)
        password = store.int(PidTagPstPassword)
        record_key = store.bytes(PidTagRecordKey) or b""
        return StoreInfo(
            path=self.path,
            kind=kind,  # type: ignore[arg-type]
            format=self._header.format,  # type: ignore[arg-type]
            encryption=_ENCRYPTION.get(
                self._safe(lambda: pff.encryption_type) if pff else None, self._header.encryption
            ),
            # a PST password is only its CRC-32 in the store; an OST carries 0xFFFFFFFF there
            password_protected=bool(password) and kind == "pst",
            display_name=store.str(PidTagDisplayName) or None,
            record_key=record_key,
            size=(self._safe(lambda: pff.size) if pff else None) or os.path.getsize(self.path),
            codepage=self.codepage if self._header.format == "ansi" else None,
        )

    @staticmethod
    def _safe(fn: Any) -> Any:
        try:
            return fn()
        except (OSError, MemoryError):  # libpff reports some damaged structures as out of memory
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
        except (OSError, MemoryError) as exc:
            # The node B-tree still lists them: folders() finds and reads them directly.
            log.debug("%s: sub-folders of %r unreadable: %s", self.path, self._safe(lambda: folder.name), exc)
            return []

    def folders(self) -> Iterator[Folder]:
        """The folders of the visible tree in pre-order (a parent before its children); the top has path ().

        The tree is the PST library's, checked against the file's node B-tree: a folder the library
        cannot reach (a damaged hierarchy table, a sub-tree it cannot open) is found there and read
        through the NDB layer (`Folder.read_directly`), and every folder's `item_count` is the
        larger of its own content count and its messages in the node B-tree.

        Raises:
            PstError: neither the PST library nor the node B-tree gives a folder tree.
        """
        view = self._nbt_view()
        tree, pff_error = self._pff_tree()
        top = self._ipm_nid(view, tree)
        if view is not None and top is not None:
            if tree and tree[0][3] != top:
                self.notes.append(
                    "the PST library does not reach the top of the folder tree; the tree was read through "
                    "the file's own index"
                )
                tree = []
            tree = self._with_ndb_folders(tree, view, top)
        if not tree:
            why = "; ".join(w for w in (pff_error, self._view_error or self._ndb_error) if w)
            raise PstError(self.path, self._damaged(f"its folder tree cannot be read: {why or 'no folders'}"))
        roles = self._roles(tree)
        counts = view.counts if view is not None else None
        # Big folders (ordinary and associated items together) are listed from the node B-tree.
        big = {nid for _path, _h, _props, nid in tree if sum((counts or {}).get(nid, (0, 0))) > NDB_FOLDER_ITEMS}
        self._ndb_folders = big
        for path, handle, props, nid in tree:
            if counts is not None:
                item_count, associated_count = counts.get(nid, (0, 0))
            else:
                item_count = self._safe(lambda f=handle: f.number_of_sub_messages) or 0
                associated_count = self._count_associated(handle)
            if nid & NID_TYPE_MASK == NID_TYPE_NORMAL_FOLDER:  # a search folder's count is its search result
                item_count = max(item_count, props.int(PidTagContentCount) or 0)
            subfolders = self._safe(lambda f=handle: f.number_of_sub_folders) if handle is not None else None
            info = Folder(
                path=path,
                node_id=nid,
                display_name=path[-1] if path else (props.str(PidTagDisplayName) or ""),
                container_class=self._container_class(props),
                role=roles.get(self._role_key(nid, props)) if path else None,
                item_count=item_count,
                associated_count=associated_count,
                subfolder_count=subfolders if subfolders is not None else sum(1 for p, *_ in tree if p[:-1] == path),
                read_directly=handle is None,
                parent_id=self._parents.get(nid, 0) if path else 0,
            )
            self._folders[nid] = (info, handle)
            yield info

    def _pff_tree(self) -> tuple[list[tuple[tuple[str, ...], Any, PropertyBag, int]], str | None]:
        """(path, pypff folder, properties, NID) for each folder the PST library reaches, in pre-order;
        with why it reaches none."""
        if self._pff is None:
            return [], "the PST library cannot open the file"
        try:
            top = self._ipm_top()
        except (PstError, OSError, MemoryError) as exc:
            return [], _pff_reason(exc) if not isinstance(exc, PstError) else exc.reason
        tree: list[tuple[tuple[str, ...], Any, PropertyBag, int]] = []

        def walk(folder: Any, path: tuple[str, ...], depth: int, parent: int) -> None:
            props, _ = self._bag(folder, self.codepage)
            nid = self._safe(lambda: folder.identifier) or 0
            tree.append((path, folder, props, nid))
            self._parents[nid] = parent
            if depth >= MAX_FOLDER_DEPTH:
                where = "/".join(path)
                self.notes.append(f"folder tree deeper than {MAX_FOLDER_DEPTH} levels at {where}; not descending")
                return
            for sub in self._subfolders(folder):
                name = self._safe(lambda s=sub: s.name) or ""
                walk(sub, path + (name,), depth + 1, nid)

        walk(top, (), 0, 0)
        return tree, None

    def _ipm_nid(self, view: _NbtView | None, tree: list) -> int | None:
        """The NID of the top of the visible tree (the IPM subtree), from the store's own record,
        else where the PST library found it, else from the names of an OST's layout."""
        if view is None:
            return None
        key = role_rules.folder_key(self._store.bytes(PidTagIpmSubtreeEntryId))
        if key is not None and key in view.folders:
            return key
        if tree and tree[0][3] in view.folders:
            return tree[0][3]
        names = {nid: self._ndb_folder_name(nid) for nid in view.folders}
        for nid, parent in view.folders.items():
            if names.get(nid) == OST_IPM_SUBTREE and names.get(parent) == OST_MAILBOX_ROOT:
                return nid
        from core.pst.ndb.format import NID_ROOT_FOLDER

        return NID_ROOT_FOLDER if NID_ROOT_FOLDER in view.folders else None

    def _ndb_folder_props(self, nid: int) -> PropertyBag | None:
        ndb = self._ndb_file()
        if ndb is None:
            return None
        try:
            return self.bag_from_raw(ndb.pc(nid).props(), self.codepage)
        except Exception:  # noqa: BLE001 - the NDB layer's errors are one line; None says "unreadable"
            return None

    def _ndb_folder_name(self, nid: int) -> str | None:
        props = self._ndb_folder_props(nid)
        return props.str(PidTagDisplayName) if props is not None else None

    def _with_ndb_folders(
        self, tree: list[tuple[tuple[str, ...], Any, PropertyBag, int]], view: _NbtView, top: int
    ) -> list[tuple[tuple[str, ...], Any, PropertyBag, int]]:
        """`tree` plus the folders under `top` that the node B-tree lists and the PST library missed."""
        known = {nid: path for path, _h, _p, nid in tree}
        if not tree:
            props = self._ndb_folder_props(top)
            if props is None:
                self.notes.append(f"the top folder's properties (node 0x{top:X}) are unreadable")
            tree = [((), None, props or PropertyBag(), top)]
            known = {top: ()}
        children: dict[int, list[int]] = {}
        for nid, parent in view.folders.items():
            if nid != parent:
                children.setdefault(parent, []).append(nid)
        added = 0
        stack = [(top, 0)]
        seen = {top}
        while stack:
            nid, depth = stack.pop()
            if depth >= MAX_FOLDER_DEPTH:
                continue
            for child in sorted(children.get(nid, ()), reverse=True):
                if child in seen:
                    continue
                seen.add(child)
                stack.append((child, depth + 1))
                if child in known:
                    continue
                props = self._ndb_folder_props(child)
                name = props.str(PidTagDisplayName) if props is not None else None
                if name is None:
                    name = f"Unreadable folder {child:#x}"
                    self.notes.append(f"folder node 0x{child:X}: its properties are unreadable; named {name!r}")
                path = (*known[nid], name)
                known[child] = path
                self._parents[child] = nid
                tree.append((path, None, props or PropertyBag(), child))
                added += 1
        if added:
            self.notes.append(
                f"{added} folder(s) the PST library could not reach were found in the file's node index and "
                "read directly"
            )
        return tree

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

    def _roles(self, tree: list[tuple[tuple[str, ...], Any, PropertyBag, int]]) -> dict[int, str]:
        store = {pid: self._store.get(pid) for pid in role_rules.STORE_ROLE_PROPS}
        holders = [props for path, _f, props, _nid in tree if path and self._holds_special_ids(props)]
        root = self._safe(lambda: self._pff.root_folder) if self._pff is not None else None
        if root is not None:
            root_props, _ = self._bag(root, self.codepage)
        else:
            from core.pst.ndb.format import NID_ROOT_FOLDER

            root_props = self._ndb_folder_props(NID_ROOT_FOLDER) or PropertyBag()
        mapping = role_rules.roles_from_ids(store, [self._raw_props(p) for p in [root_props, *holders]])
        inbox_keys = []
        for path, _folder, props, nid in tree:
            if path and self._holds_special_ids(props):
                key = self._role_key(nid, props)
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
        self, tree: list[tuple[tuple[str, ...], Any, PropertyBag, int]], mapping: dict[int, str]
    ) -> None:
        """Fallback for stores whose special-folder ids do not resolve (e.g. exports that copied
        Exchange long-term ids): a role still unassigned goes to the only top-level folder of its
        container class."""
        taken = set(mapping.values())
        by_class: dict[str, list[int]] = {}
        for path, _folder, props, nid in tree:
            cls = self._container_class(props)
            if len(path) == 1 and cls in role_rules.ROLE_BY_CONTAINER_CLASS:
                key = self._role_key(nid, props)
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

    def _nbt_view(self) -> _NbtView | None:
        """What the node B-tree holds, from one pass over it (pages it cannot read are skipped and
        noted): each folder's parent, and each parent's (ordinary, associated) message counts.
        None when the NDB layer cannot read the tree at all (`_view_error` says why)."""
        if self._view_done:
            return self._view
        self._view_done = True
        ndb = self._ndb_file()
        if ndb is None:
            self._view_error = self._ndb_error
            return None
        counts: dict[int, list[int]] = {}
        folders: dict[int, int] = {}
        damaged: list[str] = []
        try:
            for entry in ndb.iter_nbt_tolerant(damaged):
                kind = entry.nid & NID_TYPE_MASK
                if kind == NID_TYPE_NORMAL_FOLDER:
                    folders[entry.nid] = entry.nid_parent
                elif entry.nid != entry.nid_parent and kind in (NID_TYPE_NORMAL_MESSAGE, NID_TYPE_ASSOC_MESSAGE):
                    c = counts.get(entry.nid_parent)
                    if c is None:
                        c = counts[entry.nid_parent] = [0, 0]
                    c[0 if kind == NID_TYPE_NORMAL_MESSAGE else 1] += 1
        except Exception as exc:  # noqa: BLE001 - the tree's root is unreadable: the PST library lists alone
            self._view_error = f"node B-tree unreadable: {exc}"
            log.debug("%s: %s", self.path, self._view_error)
            return None
        for where in damaged:
            self.losses.append(
                f"part of the file's node index is unreadable ({where}): the items and folders it lists "
                "cannot be found, and their number is unknown"
            )
        self.notes.extend(dict.fromkeys(ndb.notes))
        self._view = _NbtView({nid: (c[0], c[1]) for nid, c in counts.items()}, folders, tuple(damaged))
        return self._view

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
        """The PST library's handle of `folder`, or None for a folder read directly."""
        entry = self._folders.get(folder.node_id)
        if entry is None:
            for _ in self.folders():
                pass
            entry = self._folders.get(folder.node_id)
        if entry is None:
            raise PstError(self.path, f"folder {'/'.join(folder.path)!r} not found")
        return entry[1]

    def items(self, folder: Folder, associated: bool = False) -> Iterator[Item | UnreadableItem]:
        """The items of a folder, one at a time; unreadable ones come as `UnreadableItem`.

        Nothing is dropped in silence: the ordinary items come to `folder.item_count` in all (the
        PST's own count). The PST library lists them; what it cannot list or read is taken from the
        node B-tree and read through the NDB layer; what neither can find or read comes as
        `UnreadableItem`s, the last one standing for every declared item not found at all.
        """
        handle = self._pff_folder(folder)
        if associated:
            if handle is None or folder.node_id in self._ndb_folders:
                yield from self._ndb_items(folder, handle, True)
            else:
                for msg in self._associated_handles(handle):
                    yield self._item_or_unreadable(msg, folder.path, associated=True)
            return
        view = self._nbt_view()
        seen: set[int] = set()
        found = 0
        trouble: str | None = None  # why the PST library's listing fell short
        if handle is None or folder.node_id in self._ndb_folders:
            listing: Iterator[Item | UnreadableItem] = self._ndb_items(folder, handle, False)
        else:
            listing = self._pff_items(folder, handle, keep_refusals=view is None)
        refusals: list[str] = []
        for item in listing:
            if isinstance(item, _Refused):  # the PST library could not give this one: read directly below
                refusals.append(item.reason)
                continue
            if isinstance(item, str):  # the PST library's reason for what it could not give
                trouble = item
                continue
            found += item.count if isinstance(item, UnreadableItem) else 1
            if item.node_id:
                seen.add(item.node_id)
            yield item
        in_tree = view.counts.get(folder.node_id, (0, 0))[0] if view is not None else 0
        if view is not None and len(seen) < in_tree:
            # The node B-tree lists messages of this folder the library did not give: read them directly.
            direct = 0
            # An item the library refused is noted on the item; a listing that failed, once for the folder.
            note = f"read directly: the PST library refused it ({refusals[0]})" if refusals else None
            for item in self._ndb_items(folder, handle, False, skip=seen):
                found += item.count if isinstance(item, UnreadableItem) else 1
                if isinstance(item, Item):
                    direct += 1
                    if note:
                        item.problems.append(note)
                if item.node_id:
                    seen.add(item.node_id)
                yield item
            if direct and not refusals:
                self.notes.append(
                    f"{'/'.join(folder.path) or '(top)'}: {direct} item(s) the PST library could not list were "
                    "read directly from the file's node index" + (f" ({trouble})" if trouble else "")
                )
        if found < folder.item_count:
            missing = folder.item_count - found
            reason = (
                f"the folder's content count says {folder.item_count} item(s), but {missing} cannot be found in "
                "the file (its index is damaged"
                + (f"; the PST library: {trouble}" if trouble else "")
                + (f"; {self._view_error}" if self._view_error else "")
                + ")"
            )
            yield UnreadableItem(node_id=0, folder_path=folder.path, reason=reason, count=missing)

    def _pff_items(self, folder: Folder, handle: Any, keep_refusals: bool) -> Iterator[Any]:
        """The folder's messages as the PST library lists them. With `keep_refusals` false, what it
        refuses is left out (a `_Refused` with its reason stands in): `items` reads those from the
        node B-tree. A `str` says why the listing itself failed."""
        try:
            count = handle.number_of_sub_messages
        except (OSError, MemoryError) as exc:  # e.g. a damaged contents table
            yield f"the folder's contents table cannot be read: {_pff_reason(exc)}"
            return
        read_nids: set[int] = set()
        refused: list[str] = []
        for i in range(count or 0):
            try:
                msg = handle.get_sub_message(i)
            except (OSError, MemoryError) as exc:
                if keep_refusals:
                    refused.append(_pff_reason(exc))
                else:
                    yield _Refused(_pff_reason(exc))
                continue
            item = self._item_or_unreadable(msg, folder.path)
            if isinstance(item, UnreadableItem) and not item.node_id and not keep_refusals:
                yield _Refused(item.reason)
                continue
            read_nids.add(item.node_id)
            yield item
        if refused:
            yield from self._refused_items(folder, read_nids, refused)

    def _ndb_items(
        self,
        folder: Folder,
        handle: Any,
        associated: bool,
        skip: set[int] | frozenset[int] = frozenset(),
    ) -> Iterator[Item | UnreadableItem]:
        """The messages whose node names the folder as parent, from the node B-tree in NID order
        (pypff's own order: its sub-item k is the folder's k-th child node there), each read through
        the NDB layer; one the NDB layer cannot read is tried with pypff. `skip`: NIDs already given."""
        ndb = self._ndb_file()
        if ndb is None:
            return
        want = NID_TYPE_ASSOC_MESSAGE if associated else NID_TYPE_NORMAL_MESSAGE
        damaged: list[str] = []  # reported once, by _nbt_view
        index = -1  # the child's index among the folder's sub-items in pypff
        try:
            for entry in ndb.iter_nbt_tolerant(damaged):
                if entry.nid_parent != folder.node_id or entry.nid == folder.node_id:
                    continue
                index += 1
                if entry.nid & NID_TYPE_MASK != want or entry.nid in skip:
                    continue
                yield self._ndb_item(ndb, entry, index, handle, folder.path, associated)
        except Exception as exc:  # noqa: BLE001 - the tree's root is unreadable: items() counts what is missing
            log.debug("%s: %s: node B-tree unreadable: %s", self.path, "/".join(folder.path), exc)

    def _ndb_item(
        self, ndb: Any, entry: Any, index: int, handle: Any, path: tuple[str, ...], associated: bool
    ) -> Item | UnreadableItem:
        nid = entry.nid
        try:
            raw = RawMessage(Node(ndb, nid, entry.bid_data, entry.bid_sub))
            item = self._item_from_raw(raw, nid, path, (), associated=associated)
        except Exception as exc:  # noqa: BLE001 - the NDB layer's errors are one line
            msg = self._pff_sub_item(handle, index, nid) if handle is not None else None
            if msg is None:
                return UnreadableItem(node_id=nid, folder_path=path, reason=str(exc), associated=associated)
            log.debug("%s: item %d read by the PST library: %s", self.path, nid, exc)
            return self._item_or_unreadable(msg, path, associated)
        rtf = item.props.bytes(PidTagRtfCompressed)
        if rtf and handle is not None:  # libpff decompresses RTF in C: reach the same node through pypff
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
        except (OSError, MemoryError) as exc:
            return UnreadableItem(node_id=nid, folder_path=path, reason=_pff_reason(exc), associated=associated)

    def _item(self, msg: Any, nid: int, path: tuple[str, ...], associated: bool) -> Item:
        props, problems = self._bag(msg, self.codepage)
        recipients: list[Recipient] = []
        try:
            rtable = getattr(msg, "recipients", None)  # plain pypff.item objects have none
        except (OSError, MemoryError) as exc:
            rtable = None
            problems.append(f"recipients unreadable: {_pff_reason(exc)}")
        if rtable is not None:
            try:
                for record_set in rtable.record_sets:
                    bag, probs = self._bag_of_record_set(record_set)
                    recipients.append(Recipient(bag))
                    problems.extend(probs)
            except (OSError, MemoryError) as exc:
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
            except (OSError, MemoryError) as exc:
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
        """The NDB layer on this file, or None when it cannot read it (`_ndb_error` says why)."""
        if self._ndb is None and self._ndb_error is None:
            from core.pst.ndb import NdbError, NdbFile

            try:
                self._ndb = NdbFile(self.path)
            except NdbError as exc:
                self._ndb_error = exc.reason
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
