"""The item model the PST reader produces and everything downstream consumes.

Nothing here touches pypff: these are plain objects. An `Item` is a MAPI property bag plus
its recipient rows and attachments; an embedded message is an `Item` of its own, reached
through `Attachment.embedded`. Attachment data is a stream (`Attachment.open()`), so a
20 MB attachment is never held in memory by the reader.

Property bags are keyed by property id (`int`, e.g. 0x0037) for tagged properties and by
`(property set GUID, LID or name)` for named properties. Look values up with the
`core.mapi` constants: `item.props.get(PidTagSubject)`, `item.props.get(PidNameKeywords)`.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Literal

from core.mapi import (
    MAPI_BCC,
    MAPI_CC,
    MAPI_ORIG,
    MAPI_TO,
    Named,
    PidTagAddressType,
    PidTagAttachContentId,
    PidTagAttachContentLocation,
    PidTagAttachFilename,
    PidTagAttachFlags,
    PidTagAttachLongFilename,
    PidTagAttachmentHidden,
    PidTagAttachMethod,
    PidTagAttachMimeTag,
    PidTagAttachSize,
    PidTagBody,
    PidTagDisplayName,
    PidTagEmailAddress,
    PidTagHtml,
    PidTagMessageClass,
    PidTagMessageFlags,
    PidTagRecipientType,
    PidTagRtfCompressed,
    PidTagSmtpAddress,
    PidTagSubject,
    Tag,
)

PropKey = int | tuple[uuid.UUID, int | str]

Role = Literal[
    "inbox",
    "sent",
    "deleted",
    "drafts",
    "outbox",
    "junk",
    "calendar",
    "contacts",
    "tasks",
    "notes",
    "journal",
]
ROLES: tuple[str, ...] = (
    "inbox",
    "sent",
    "deleted",
    "drafts",
    "outbox",
    "junk",
    "calendar",
    "contacts",
    "tasks",
    "notes",
    "journal",
)


def key_of(prop: Tag | Named | PropKey) -> PropKey:
    """The bag key of a `core.mapi` constant (or a key already)."""
    if isinstance(prop, Tag):
        return prop.id
    if isinstance(prop, Named):
        return (prop.guid, prop.key)
    return prop


@dataclass(slots=True)
class PropValue:
    """One property as stored: its type as found in the file (not the canonical one) and value.

    Values are decoded to Python: int, bool, float, str, bytes, datetime (UTC-aware),
    uuid.UUID, or a list of those for multi-valued types. A value that could not be
    decoded is kept as raw bytes with `error` set.
    """

    type: int
    value: Any
    error: str | None = None


# A stored value not decoded yet: (stored type, raw bytes or None, code page for 8-bit strings).
RawValue = tuple[int, "bytes | None", str]


def _decode_raw(raw: RawValue) -> PropValue:
    from core.pst.values import decode  # values imports this module for PropValue

    return decode(*raw)


class PropertyBag(Mapping[PropKey, PropValue]):
    """A read-only mapping of property key to `PropValue`, with typed helpers.

    The reader hands over stored values undecoded (`RawValue`): each is decoded on first access
    and kept, so an item's hundred-odd properties cost only the few the consumer reads. Keys,
    order and length are known from the start; values and `errors()` are what eager decoding gives.
    """

    __slots__ = ("_values",)

    def __init__(self, values: dict[PropKey, PropValue | RawValue] | None = None) -> None:
        self._values: dict[PropKey, PropValue | RawValue] = values if values is not None else {}

    def _value(self, key: PropKey) -> PropValue | None:
        pv = self._values.get(key)
        if type(pv) is tuple:
            pv = self._values[key] = _decode_raw(pv)
        return pv  # type: ignore[return-value]

    def __getitem__(self, key: Tag | Named | PropKey) -> PropValue:
        k = key_of(key)
        pv = self._value(k)
        if pv is None:
            raise KeyError(k)
        return pv

    def __contains__(self, key: object) -> bool:
        try:
            return key_of(key) in self._values  # type: ignore[arg-type]
        except TypeError:
            return False

    def __iter__(self) -> Iterator[PropKey]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Tag | Named | PropKey, default: Any = None) -> Any:  # type: ignore[override]
        """The decoded value of `key`, or `default` when absent or undecodable."""
        pv = self._value(key_of(key))
        if pv is None or pv.error is not None:
            return default
        return pv.value

    def str(self, key: Tag | Named | PropKey) -> str | None:
        value = self.get(key)
        return value if isinstance(value, str) else None

    def int(self, key: Tag | Named | PropKey) -> int | None:
        value = self.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def bytes(self, key: Tag | Named | PropKey) -> bytes | None:
        value = self.get(key)
        return value if isinstance(value, bytes) else None

    def time(self, key: Tag | Named | PropKey) -> datetime | None:
        value = self.get(key)
        return value if isinstance(value, datetime) else None

    def errors(self) -> dict[PropKey, str]:
        """The properties that were present but could not be decoded, with the reason."""
        return {k: pv.error for k in list(self._values) if (pv := self._value(k)) is not None and pv.error is not None}


RECIPIENT_KINDS = {MAPI_ORIG: "from", MAPI_TO: "to", MAPI_CC: "cc", MAPI_BCC: "bcc"}


@dataclass(slots=True)
class Recipient:
    """One row of a message's recipient table."""

    props: PropertyBag

    @property
    def display_name(self) -> str | None:
        return self.props.str(PidTagDisplayName)

    @property
    def address_type(self) -> str | None:
        return self.props.str(PidTagAddressType)

    @property
    def email_address(self) -> str | None:
        return self.props.str(PidTagEmailAddress)

    @property
    def smtp_address(self) -> str | None:
        """PidTagSmtpAddress when present, else the address itself when its type is SMTP."""
        smtp = self.props.str(PidTagSmtpAddress)
        if smtp:
            return smtp
        if (self.address_type or "").upper() == "SMTP":
            return self.email_address
        return None

    @property
    def recipient_type(self) -> int:
        return (self.props.int(PidTagRecipientType) or MAPI_TO) & 0x0FFFFFFF

    @property
    def kind(self) -> str:
        """'to', 'cc', 'bcc' or 'from' (MAPI_ORIG)."""
        return RECIPIENT_KINDS.get(self.recipient_type, "to")


@dataclass(slots=True)
class Attachment:
    """One attachment. By-value data is read through `open()`; embedded messages via `embedded`."""

    props: PropertyBag
    index: int
    size: int
    """Size of the attachment data in bytes (the data stream, not PidTagAttachSize)."""
    _opener: Callable[[], BinaryIO] | None = field(default=None, repr=False)
    _embedded: Callable[[], Item] | None = field(default=None, repr=False)

    @property
    def method(self) -> int:
        return self.props.int(PidTagAttachMethod) or 0

    @property
    def filename(self) -> str | None:
        return self.props.str(PidTagAttachLongFilename) or self.props.str(PidTagAttachFilename)

    @property
    def display_name(self) -> str | None:
        return self.props.str(PidTagDisplayName)

    @property
    def mime_tag(self) -> str | None:
        return self.props.str(PidTagAttachMimeTag)

    @property
    def content_id(self) -> str | None:
        return self.props.str(PidTagAttachContentId)

    @property
    def content_location(self) -> str | None:
        return self.props.str(PidTagAttachContentLocation)

    @property
    def flags(self) -> int:
        return self.props.int(PidTagAttachFlags) or 0

    @property
    def hidden(self) -> bool:
        return bool(self.props.get(PidTagAttachmentHidden, False))

    @property
    def declared_size(self) -> int | None:
        return self.props.int(PidTagAttachSize)

    @property
    def is_embedded_message(self) -> bool:
        return self._embedded is not None

    def open(self) -> BinaryIO:
        """A stream of the attachment's data. Valid while the PST is open, on the reader's thread."""
        if self._opener is None:
            return io.BytesIO(b"")
        return self._opener()

    def read(self) -> bytes:
        """All of the data at once; for small attachments and tests."""
        with self.open() as stream:
            return stream.read()

    @property
    def embedded(self) -> Item | None:
        """The embedded message (attach method 5) as an Item, read on demand."""
        return self._embedded() if self._embedded is not None else None


@dataclass(slots=True)
class Item:
    """A message-like object from a PST: a property bag, recipients and attachments."""

    node_id: int
    """The item's NID in the PST (for embedded messages, the attachment's subnode id)."""
    folder_path: tuple[str, ...]
    props: PropertyBag
    recipients: list[Recipient]
    attachments: list[Attachment]
    associated: bool = False
    """True for a folder-associated (hidden, FAI) item."""
    embedded_path: tuple[int, ...] = ()
    """For an embedded message: the attachment indexes from the top item down to it."""
    problems: list[str] = field(default_factory=list)
    """What could not be read (a body, an attachment, a property) while the rest could."""
    codepage: str | None = None
    """The code page used for the item's 8-bit strings (ANSI PSTs or PT_STRING8 values)."""
    _rtf_body: Callable[[], bytes | None] | None = field(default=None, repr=False, compare=False)

    def rtf_body(self) -> bytes | None:
        """PidTagRtfCompressed decompressed by the PST library (C), or None when it cannot give it
        exactly (no RTF, a bad CRC, an item read through the NDB layer): then decompress
        `rtf_compressed` instead. Called on the reader's thread, like attachment streams."""
        return self._rtf_body() if self._rtf_body is not None else None

    @property
    def subject(self) -> str | None:
        return self.props.str(PidTagSubject)

    @property
    def message_class(self) -> str:
        return self.props.str(PidTagMessageClass) or "IPM.Note"

    @property
    def message_flags(self) -> int:
        return self.props.int(PidTagMessageFlags) or 0

    @property
    def body_text(self) -> str | None:
        return self.props.str(PidTagBody)

    @property
    def body_html(self) -> bytes | None:
        """The HTML body as stored (bytes, in the item's internet code page)."""
        value = self.props.get(PidTagHtml)
        if isinstance(value, str):
            return value.encode("utf-8")
        return value if isinstance(value, bytes) else None

    @property
    def rtf_compressed(self) -> bytes | None:
        return self.props.bytes(PidTagRtfCompressed)

    @property
    def where(self) -> str:
        """A short human description for error messages: folder, node id and subject."""
        folder = "/".join(self.folder_path) or "(top)"
        subj = self.subject
        return f"{folder} item {self.node_id}" + (f" ({subj!r})" if subj else "")


@dataclass(frozen=True, slots=True)
class UnreadableItem:
    """An item the reader could not read at all. It stands in the stream where the item was."""

    node_id: int
    folder_path: tuple[str, ...]
    reason: str
    associated: bool = False
    count: int = 1
    """How many items this stands for: more than one when the folder declares items that cannot
    be found in the file at all (`node_id` is then 0)."""

    @property
    def where(self) -> str:
        folder = "/".join(self.folder_path) or "(top)"
        if self.count != 1 or not self.node_id:
            return f"{folder}: {self.count} item(s)"
        return f"{folder} item {self.node_id}"


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder of the visible tree (the IPM subtree); `path` is relative to its top."""

    path: tuple[str, ...]
    node_id: int
    display_name: str
    container_class: str | None
    role: str | None
    item_count: int
    """The ordinary items the folder holds by the PST's own records: the larger of its content
    count (PidTagContentCount) and its messages in the node B-tree. `PstFile.items` yields this
    many, readable or not."""
    associated_count: int
    subfolder_count: int
    read_directly: bool = False
    """Found and read through the NDB layer because the PST library could not reach it."""
    parent_id: int = 0
    """The node id of the folder above it (0 for the top): tells apart sibling folders of one name."""


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What a PST/OST says about itself."""

    path: str
    kind: Literal["pst", "ost"]
    format: Literal["unicode", "ansi"]
    encryption: Literal["none", "compressible", "high"]
    password_protected: bool
    """A PST password is only a CRC-32 in the store; readers ignore it. Reported, never enforced."""
    display_name: str | None
    record_key: bytes
    size: int
    codepage: str | None
    """For ANSI files: the code page used for 8-bit strings."""
