"""Mail payloads as Graph `message` JSON, with every property that must be set at creation.

Graph creates a JSON message as a draft unless PidTagMessageFlags is in the create request, and
ignores it when set later; so the flags, the delivery and submit times, the follow-up flag, the
categories and our source stamp all go in `singleValueExtendedProperties` /
`multiValueExtendedProperties` of the POST itself.

What a JSON message cannot carry from our MIME (the importMime route, where the tenant has it, keeps
all of it) is in `core.convert.limits.CANNOT_CARRY` (graph-json-one-body, graph-json-embedded, mime).
"""

from __future__ import annotations

import base64
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from core.convert.payload import ExtendedProp, MimePayload, Payload
from core.mapi import (
    SOURCE_KEY_HEADER,
    PidLidTaskDueDate,
    PidLidTaskStartDate,
    PidNameKeywords,
    PidNamePstImportSourceKey,
    PidTagClientSubmitTime,
    PidTagFlagCompleteTime,
    PidTagFlagStatus,
    PidTagMessageFlags,
    PidTagTransportMessageHeaders,
    followupComplete,
    followupFlagged,
    value_fits,
)
from core.transport.graph import wire

_IMPORTANCE = {"low": "low", "normal": "normal", "high": "high"}
# Header block kept in PidTagTransportMessageHeaders at most this long (Exchange's own cap is 64 KB).
MAX_HEADER_BLOCK = 64 * 1024


def extended_properties(payload: Payload, extra: list[ExtendedProp] | None = None, skip: tuple = ()) -> dict[str, list]:
    """`singleValueExtendedProperties` and `multiValueExtendedProperties` for a create request:
    the stamp first, then the converter's properties (but those in `skip`); values that do not fit
    are reported."""
    single: list[dict] = [{"id": wire.STAMP_ID, "value": payload.source_key}]
    multi: list[dict] = []
    seen = {wire.STAMP_ID}
    for ext in [*payload.extended, *(extra or [])]:
        if ext.prop == PidNamePstImportSourceKey or ext.prop in skip:
            continue
        try:
            pid = wire.property_id(ext.prop)
        except ValueError as exc:
            payload.problems.append(f"property not kept: {exc}")
            continue
        if pid in seen:
            continue
        if not value_fits(ext.prop, ext.value):
            payload.problems.append(f"property {pid} not kept: its value does not fit its type")
            continue
        seen.add(pid)
        entry = {"id": pid, "value": wire.property_value(ext.prop, ext.value)}
        (multi if wire.is_multi(ext.prop) else single).append(entry)
    out: dict[str, list] = {"singleValueExtendedProperties": single}
    if multi:
        out["multiValueExtendedProperties"] = multi
    return out


@dataclass
class LargeAttachment:
    """An attachment sent after the create: by upload session when over 3 MB, else by a POST."""

    name: str
    content_type: str
    data: bytes
    is_inline: bool = False
    content_id: str | None = None

    def item(self) -> dict:
        """The `AttachmentItem` of `createUploadSession`."""
        out: dict[str, Any] = {
            "attachmentType": "file",
            "name": self.name,
            "size": len(self.data),
            "contentType": self.content_type,
            "isInline": self.is_inline,
        }
        if self.content_id:
            out["contentId"] = self.content_id
        return out

    def file_attachment(self) -> dict:
        return file_attachment(self.name, self.content_type, self.data, self.is_inline, self.content_id)


def file_attachment(name: str, content_type: str, data: bytes, inline: bool, content_id: str | None) -> dict:
    out: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name or "attachment",
        "contentType": content_type or "application/octet-stream",
        "contentBytes": base64.b64encode(data).decode("ascii"),
        "isInline": bool(inline),
    }
    if content_id:
        out["contentId"] = content_id
    return out


@dataclass
class GraphItem:
    """A create request body, and the attachments that must follow it."""

    body: dict
    later: list[LargeAttachment] = field(default_factory=list)

    def size(self) -> int:
        return len(str(self.body))


def _recipients(msg: EmailMessage, header: str) -> list[dict]:
    values = msg.get_all(header) or []
    out = []
    for name, addr in getaddresses([str(v) for v in values]):
        if not addr and not name:
            continue
        ea: dict[str, str] = {"address": addr} if addr else {}
        if name:
            ea["name"] = name
        out.append({"emailAddress": ea})
    return out


def _address(msg: EmailMessage, header: str) -> dict | None:
    found = _recipients(msg, header)
    return found[0] if found else None


def _header_block(raw: bytes) -> str:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    block = raw[: end if end >= 0 else len(raw)]
    return block[:MAX_HEADER_BLOCK].decode("utf-8", "replace")


def _parts(msg: EmailMessage) -> tuple[str | None, str | None, list[LargeAttachment]]:
    """(html body, text body, attachments) of a parsed message."""
    html = text = None
    atts: list[LargeAttachment] = []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        ctype = part.get_content_type()
        if part.is_multipart() and ctype != "message/rfc822":
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        cid = (part.get("Content-ID") or "").strip().strip("<>") or None
        if ctype == "message/rfc822":
            inner = part.get_payload(0) if part.is_multipart() else part.get_payload()
            data = (
                inner.as_bytes(policy=email.policy.SMTP) if hasattr(inner, "as_bytes") else bytes(str(inner), "utf-8")
            )
            subject = inner.get("Subject", "") if hasattr(inner, "get") else ""
            name = filename or f"{(str(subject) or 'message').strip()[:100]}.eml"
            atts.append(LargeAttachment(name, "message/rfc822", data))
            continue
        is_body = disposition != "attachment" and not filename and ctype in ("text/html", "text/plain")
        if is_body:
            try:
                content = part.get_content()
            except (LookupError, ValueError):
                content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
            if ctype == "text/html" and html is None:
                html = content
            elif ctype == "text/plain" and text is None:
                text = content
            continue
        data = part.get_payload(decode=True) or b""
        inline = disposition == "inline" or (cid is not None and disposition != "attachment")
        atts.append(LargeAttachment(filename or "attachment", ctype, data, inline, cid))
    # A message/rfc822 part is walked into as well: drop what belongs to an embedded message.
    return html, text, atts


def message_json(payload: MimePayload, inline_budget: int = wire.INLINE_ATTACHMENT_MAX) -> GraphItem:
    """The `message` to POST for a MIME payload, with what cannot travel inline listed for later."""
    msg = email.message_from_bytes(payload.mime, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    html, text, atts = _parts_top(msg)
    body: dict[str, Any] = {
        "subject": payload.subject if payload.subject is not None else str(msg.get("Subject", "") or ""),
        "importance": _IMPORTANCE.get(payload.importance, "normal"),
        "isRead": payload.is_read,
    }
    if html is not None:
        body["body"] = {"contentType": "html", "content": html}
    elif text is not None:
        body["body"] = {"contentType": "text", "content": text}
    for key, header in (("from", "From"), ("sender", "Sender")):
        found = _address(msg, header)
        if found:
            body[key] = found
    for key, header in (
        ("toRecipients", "To"),
        ("ccRecipients", "Cc"),
        ("bccRecipients", "Bcc"),
        ("replyTo", "Reply-To"),
    ):
        found = _recipients(msg, header)
        if found:
            body[key] = found
    mid = (msg.get("Message-ID") or "").strip()
    if mid:
        body["internetMessageId"] = mid
    if payload.categories:
        body["categories"] = list(payload.categories)
    extra = [ExtendedProp(PidTagTransportMessageHeaders, _header_block(payload.mime))]
    if payload.sent is not None:
        # JSON has no Date header: without the submit time Graph gives the creation (import) time as sentDateTime
        extra.append(ExtendedProp(PidTagClientSubmitTime, payload.sent))
    body.update(extended_properties(payload, extra))
    inline, later = split_attachments(atts, inline_budget)
    if inline:
        body["attachments"] = [a.file_attachment() for a in inline]
    return GraphItem(body, later)


def split_attachments(
    atts: list[LargeAttachment], inline_budget: int = wire.INLINE_ATTACHMENT_MAX
) -> tuple[list[LargeAttachment], list[LargeAttachment]]:
    """Attachments small enough to go inline in the create (together under `inline_budget` bytes,
    keeping the request under Graph's 4 MB), and the rest, sent after it."""
    inline: list[LargeAttachment] = []
    later: list[LargeAttachment] = []
    used = 0
    for att in sorted(atts, key=lambda a: len(a.data)):
        encoded = (len(att.data) + 2) // 3 * 4
        if used + encoded <= inline_budget:
            inline.append(att)
            used += encoded
        else:
            later.append(att)
    order = {id(a): i for i, a in enumerate(atts)}
    inline.sort(key=lambda a: order[id(a)])
    later.sort(key=lambda a: order[id(a)])
    return inline, later


def _parts_top(msg: EmailMessage) -> tuple[str | None, str | None, list[LargeAttachment]]:
    """Like `_parts`, but an embedded message is one attachment, not walked into."""
    html = text = None
    atts: list[LargeAttachment] = []
    stack: list[Any] = [msg]
    while stack:
        part = stack.pop(0)
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            if part is msg:
                continue
            inner = part.get_payload(0) if part.is_multipart() else part.get_payload()
            data = inner.as_bytes() if hasattr(inner, "as_bytes") else str(inner).encode("utf-8")
            subject = str(inner.get("Subject", "") or "") if hasattr(inner, "get") else ""
            name = part.get_filename() or f"{(subject or 'message').strip()[:100] or 'message'}.eml"
            atts.append(LargeAttachment(name, "message/rfc822", data))
            continue
        if part.is_multipart():
            stack[0:0] = list(part.iter_parts())
            continue
        h, t, a = _parts(part)
        if h is not None and html is None:
            html = h
        elif t is not None and text is None:
            text = t
        elif h is not None or t is not None:
            # a second body part (e.g. text after an attachment): keep it as a file, not lost
            atts.append(
                LargeAttachment(
                    part.get_filename() or "part.txt",
                    part.get_content_type(),
                    part.get_payload(decode=True) or b"",
                )
            )
        atts.extend(a)
    return html, text, atts


def can_stamp_header(stamp: str) -> bool:
    """Whether a stamp value can travel as a header value as it is (printable ASCII)."""
    return stamp.isascii() and stamp.isprintable() and bool(stamp.strip())


def stamped_mime(mime: bytes, stamp: str) -> bytes:
    """The MIME with our stamp header first in its header block; a copy of that header already
    there (a message that went through an earlier import) is dropped, so only ours is promoted."""
    ends = [i for i in (mime.find(b"\r\n\r\n"), mime.find(b"\n\n")) if i >= 0]
    end = min(ends) if ends else len(mime)
    first = mime.find(b"\n")
    newline = b"\r\n" if first > 0 and mime[first - 1 : first] == b"\r" else b"\n"
    name = SOURCE_KEY_HEADER.lower().encode("ascii")
    kept: list[bytes] = []
    dropping = False
    for line in mime[:end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() == name
        if not dropping:
            kept.append(line)
    ours = SOURCE_KEY_HEADER.encode("ascii") + b": " + stamp.encode("ascii") + newline
    return ours + b"".join(kept) + mime[end:]


def mime_for_import(payload: MimePayload) -> bytes:
    """The request body of `importMime`: the whole MIME with the stamp header, base64."""
    return base64.b64encode(stamped_mime(payload.mime, payload.source_key))


def import_body_size(payload: MimePayload) -> int:
    """Bytes of the `importMime` request body for a payload (base64 of the stamped MIME)."""
    raw = len(payload.mime) + len(SOURCE_KEY_HEADER) + len(payload.source_key) + 4
    return (raw + 2) // 3 * 4


def _graph_time(value: Any) -> dict | None:
    from datetime import datetime

    if not isinstance(value, datetime):
        return None
    return {"dateTime": wire.property_value(PidTagFlagCompleteTime, value).rstrip("Z"), "timeZone": "UTC"}


def followup_flag(payload: Payload) -> tuple[dict | None, tuple]:
    """The Graph `flag` (followupFlag) of a payload, and the extended properties it stands for."""
    props = {ext.prop: ext.value for ext in payload.extended}
    status = props.get(PidTagFlagStatus)
    if status not in (followupFlagged, followupComplete):
        return None, ()
    flag: dict[str, Any] = {"flagStatus": "complete" if status == followupComplete else "flagged"}
    covered: list = [PidTagFlagStatus]
    for key, prop in (
        ("completedDateTime", PidTagFlagCompleteTime),
        ("dueDateTime", PidLidTaskDueDate),
        ("startDateTime", PidLidTaskStartDate),
    ):
        when = _graph_time(props.get(prop))
        if when is not None:
            flag[key] = when
            covered.append(prop)
    return flag, tuple(covered)


def import_patch(payload: MimePayload, minimal: bool = False) -> dict:
    """The PATCH that follows an `importMime`: what MIME cannot carry and Graph lets us set on an
    existing message. The stamp property (so every item carries the DESIGN stamp), read state,
    importance, categories, the follow-up flag, and (unless `minimal`, the retry after a server
    refused the full PATCH) the converter's extended properties. PidTagMessageFlags is left out:
    its unsent bit is write-once (importMime already made the item non-draft) and isRead sets
    the read bit."""
    body: dict[str, Any] = {
        "isRead": payload.is_read,
        "importance": _IMPORTANCE.get(payload.importance, "normal"),
    }
    if payload.categories:
        body["categories"] = list(payload.categories)
    flag, covered = followup_flag(payload)
    if flag is not None:
        body["flag"] = flag
    if minimal:
        body["singleValueExtendedProperties"] = [{"id": wire.STAMP_ID, "value": payload.source_key}]
    else:
        skip = (PidTagMessageFlags, PidNameKeywords, *covered)
        body.update(extended_properties(payload, skip=skip))
    return body


def stamp_patch(stamp: str) -> dict:
    """The PATCH completing an imported item found by its header stamp only (its payload unknown)."""
    return {"singleValueExtendedProperties": [{"id": wire.STAMP_ID, "value": stamp}]}


__all__ = [
    "GraphItem",
    "import_patch",
    "mime_for_import",
    "stamped_mime",
    "LargeAttachment",
    "extended_properties",
    "message_json",
    "split_attachments",
]
