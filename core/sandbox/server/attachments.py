"""The attachments of a sandbox item, as Exchange keeps them, for both front ends.

Exchange converts a message created from MIME into MAPI: every MIME part that is not the body
becomes an attachment (MS-OXCMAIL 2.2.3.4): a file attachment, or for message/rfc822 an embedded
message, whose own parts are attachments again. A typed create request (EWS `t:Attachments`,
Graph `attachments`) adds attachment records, kept in the item's `ATTACHMENTS_KEY` property.
`attachments(store, item)` gives both, MIME-born ones first, each with a `path` (its index at each
level from the top item) by which GetAttachment and Graph's attachment URLs find it again.

Content is read only when asked for: a GetItem lists attachments without decoding them.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import email.utils
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.sandbox.server import mimefields

# Name kept from when only the Graph front end stored attachment records (existing state dirs read on).
ATTACHMENTS_KEY = "sandbox:graph-attachments"


@dataclass
class Attachment:
    """One attachment of an item (or of an embedded message, at any depth)."""

    path: tuple[int, ...]
    kind: str  # "file" | "item"
    name: str
    content_type: str | None
    size: int
    last_modified: str
    content_id: str | None = None
    content_location: str | None = None
    is_inline: bool = False
    is_contact_photo: bool = False
    record: dict | None = None
    """The stored record (typed create requests); None for what the MIME holds."""
    _content: Callable[[], bytes] = field(default=lambda: b"", repr=False)

    def content(self) -> bytes:
        """A file's bytes, or an embedded message's MIME (b"" for an item given as fields only)."""
        return self._content()

    @property
    def mime(self) -> bytes | None:
        """An item attachment's MIME, if it has one."""
        if self.kind != "item":
            return None
        data = self._content()
        return data or None

    @property
    def item_fields(self) -> list:
        """An item attachment's EWS-shaped fields when it was created from fields (EWS ItemAttachment
        without MimeContent), else []."""
        return list((self.record or {}).get("ews") or [])

    @property
    def item_kind(self) -> str:
        """The EWS element of an item attachment's item (Message unless the record says otherwise)."""
        return str((self.record or {}).get("ewsKind") or "Message")


def _param(part: email.message.Message, name: str, header: str = "content-type") -> str | None:
    value = part.get_param(name, header=header)
    if value is None:
        return None
    return str(email.utils.collapse_rfc2231_value(value))


def _filename(part: email.message.Message) -> str | None:
    raw = part.get_filename() or _param(part, "name")
    if raw is None:
        return None
    return mimefields._decode_header(raw)  # noqa: SLF001 - RFC 2047 words in names, as Exchange decodes them


def _body_parts(msg: email.message.Message) -> set[int]:
    """ids of the parts Exchange takes as the body: the best HTML and the best plain text part
    (`EmailMessage.get_body` for each), and the multiparts that only hold them."""
    out: set[int] = set()
    for preference in (("html",), ("plain",)):
        best = len(preference)
        body = None
        for rank, part in mimefields._find_body(msg, preference):  # noqa: SLF001 - one definition of "the body"
            if rank < best:
                best, body = rank, part
        if body is not None:
            out.add(id(body))
    return out


def _walk(msg: email.message.Message, path: tuple[int, ...], when: str) -> list[Attachment]:
    body = _body_parts(msg)
    out: list[Attachment] = []

    def visit(part: email.message.Message, related_root: bool) -> None:
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            inner_msg = inner[0] if isinstance(inner, list) and inner else None
            data = inner_msg.as_bytes(policy=email.policy.compat32) if inner_msg is not None else b""
            subject = inner_msg.get("Subject") if inner_msg is not None else None
            name = _filename(part) or (mimefields._decode_header(subject) if subject else "")  # noqa: SLF001
            out.append(
                Attachment(
                    path=(*path, len(out)),
                    kind="item",
                    name=name,
                    content_type=None,
                    size=len(data),
                    last_modified=when,
                    _content=lambda d=data: d,
                )
            )
            return
        if part.is_multipart():
            subtype = part.get_content_subtype()
            for sub in part.get_payload():
                visit(sub, related_root=subtype == "related")
            return
        if id(part) in body:
            return
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        cid = (part.get("Content-ID") or "").strip().strip("<>") or None
        location = part.get("Content-Location")
        out.append(
            Attachment(
                path=(*path, len(out)),
                kind="file",
                name=_filename(part) or "",
                content_type=ctype,
                size=len(data),
                last_modified=when,
                content_id=cid,
                content_location=str(location).strip() if location else None,
                # MS-OXCMAIL 2.2.3.4.3: a part of a multipart/related, or one marked inline, is inline
                is_inline=disposition == "inline" or (related_root and disposition != "attachment"),
                _content=lambda d=data: d,
            )
        )

    visit(msg, related_root=False)
    return out


def mime_attachments(mime: bytes, path: tuple[int, ...] = (), when: str = "") -> list[Attachment]:
    """The attachments Exchange makes of a MIME message (none if it cannot be parsed)."""
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
    except Exception:  # noqa: BLE001 - unparseable MIME is kept as an opaque body, without attachments
        return []
    return _walk(msg, path, when)


def _from_record(store: Any, record: dict, path: tuple[int, ...]) -> Attachment:
    kind = "file" if record.get("type") == "file" else "item"
    if kind == "file":
        blob = record.get("blob")

        def content(b: str | None = blob) -> bytes:
            return store.blob(b) if b else b""

    else:
        mime_blob = record.get("mime_blob")

        def content(b: str | None = mime_blob) -> bytes:
            return store.blob(b) if b else b""

    return Attachment(
        path=path,
        kind=kind,
        name=str(record.get("name") or ""),
        content_type=record.get("contentType"),
        size=int(record.get("size") or 0),
        last_modified=str(record.get("lastModifiedDateTime") or ""),
        content_id=record.get("contentId"),
        content_location=record.get("contentLocation"),
        is_inline=bool(record.get("isInline", False)),
        is_contact_photo=bool(record.get("isContactPhoto", False)),
        record=record,
        _content=content,
    )


def attachments(store: Any, item: Any) -> list[Attachment]:
    """Every top-level attachment of a store item: those its MIME holds, then the stored records."""
    out: list[Attachment] = []
    if item.mime_blob is not None:
        out = mime_attachments(store.mime(item) or b"", (), item.created)
    for record in item.props.get(ATTACHMENTS_KEY) or []:
        out.append(_from_record(store, record, (len(out),)))
    return out


def children(att: Attachment) -> list[Attachment]:
    """The attachments of an item attachment's item."""
    if att.kind != "item":
        return []
    mime = att.mime
    if mime is not None:
        return mime_attachments(mime, att.path, att.last_modified)
    nested = ((att.record or {}).get("item") or {}).get("attachments") or []
    return [
        Attachment(
            path=(*att.path, n),
            kind="file",
            name=str(a.get("name") or ""),
            content_type=a.get("contentType"),
            size=len(json.dumps(a)),
            last_modified=att.last_modified,
            is_inline=bool(a.get("isInline", False)),
        )
        for n, a in enumerate(nested)
        if isinstance(a, dict)
    ]


def find(store: Any, item: Any, path: tuple[int, ...]) -> Attachment | None:
    """The attachment at `path` (indices from the top item down through embedded messages)."""
    level = attachments(store, item)
    found: Attachment | None = None
    for depth, index in enumerate(path):
        if index < 0 or index >= len(level):
            return None
        found = level[index]
        if depth < len(path) - 1:
            level = children(found)
    return found


def visible(atts: list[Attachment]) -> bool:
    """Exchange's HasAttachments: true when some attachment is not inline (an HTML body's pictures
    alone do not make a message "have attachments" in Outlook or EWS)."""
    return any(not a.is_inline for a in atts)
