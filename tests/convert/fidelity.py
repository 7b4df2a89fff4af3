"""Checks of produced MIME against the source item's properties (shared by the fidelity tests).

Expected values are computed here from the raw properties, independently of core.convert's own
address logic, so a bug there shows up as a mismatch.
"""

from __future__ import annotations

import email
import email.utils
import hashlib
import re
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

from core.mapi import (
    PidTagAddressType,
    PidTagBody,
    PidTagClientSubmitTime,
    PidTagCreationTime,
    PidTagEmailAddress,
    PidTagInternetMessageId,
    PidTagLastModificationTime,
    PidTagMessageDeliveryTime,
    PidTagSenderAddressType,
    PidTagSenderEmailAddress,
    PidTagSenderSmtpAddress,
    PidTagSentRepresentingAddressType,
    PidTagSentRepresentingEmailAddress,
    PidTagSentRepresentingSmtpAddress,
    PidTagSmtpAddress,
    PidTagTransportMessageHeaders,
    afEmbeddedMessage,
)

EX_PATTERN = re.compile(r"IMCEAEX|/o=[^ ,;>]*/(ou|cn)=", re.IGNORECASE)


def raw_header(mime: bytes, name: str) -> str | None:
    """A top-level header exactly as written (unfolded), bypassing the parser's id handling."""
    head = mime.split(b"\r\n\r\n", 1)[0]
    m = re.search(
        rb"^" + name.encode() + rb":[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.MULTILINE | re.IGNORECASE
    )
    return re.sub(rb"\r\n[ \t]+", b" ", m.group(1)).decode("ascii", "replace").strip() if m else None


def parse(mime: bytes) -> EmailMessage:
    return email.message_from_bytes(mime, policy=policy.default)  # type: ignore[return-value]


def norm_text(text: str | None) -> str:
    return " ".join((text or "").replace("\x00", "").split())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def header_addresses(msg: EmailMessage, name: str) -> list[str]:
    """Lower-cased addresses of a header (empty groups, i.e. unresolved names, contribute none)."""
    header = msg.get(name)
    if header is None:
        return []
    out = []
    for group in getattr(header, "groups", ()):
        for addr in group.addresses:
            if addr.addr_spec and addr.addr_spec != "<>":
                out.append(addr.addr_spec.lower())
    return out


def smtp_of(props: Any, smtp_tag: Any, type_tag: Any, addr_tag: Any) -> str | None:
    s = props.str(smtp_tag)
    if s and "@" in s:
        return s.lower()
    if (props.str(type_tag) or "").upper() == "SMTP" and "@" in (props.str(addr_tag) or ""):
        return props.str(addr_tag).lower()
    return None


def uses_transport_headers(item: Any, msg: EmailMessage) -> bool:
    headers = item.props.str(PidTagTransportMessageHeaders)
    return bool(headers) and bool(re.search(r"^(From|Date|Subject):", headers, re.MULTILINE | re.IGNORECASE))


def body_parts(msg: EmailMessage) -> tuple[str | None, str | None]:
    """(text/plain, text/html) of the message's own body (not of attachments)."""
    text = html = None
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        text = plain.get_content()
    rich = msg.get_body(preferencelist=("html",))
    if rich is not None:
        html = rich.get_content()
    return text, html


def attachment_parts(msg: EmailMessage) -> list[EmailMessage]:
    """Every non-body leaf part and message/rfc822 part at this level (inline ones included)."""
    body_ids = set()
    for pref in (("plain",), ("html",)):
        b = msg.get_body(preferencelist=pref)
        if b is not None:
            body_ids.add(id(b))
    out = []

    def walk(part: EmailMessage) -> None:
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            out.append(part)
            return
        if part.is_multipart():
            for sub in part.iter_parts():
                walk(sub)
            return
        if id(part) not in body_ids:
            out.append(part)

    walk(msg)
    return out


def check_item(item: Any, mime: bytes, depth: int = 0) -> list[str]:
    """Every mismatch between an item and its MIME, as human lines (empty when faithful)."""
    errors: list[str] = []
    msg = parse(mime)
    where = item.where + (f" [embedded depth {depth}]" if depth else "")
    transport = uses_transport_headers(item, msg)
    p = item.props

    # subject
    if item.subject is not None and norm_text(str(msg.get("subject", ""))) != norm_text(item.subject):
        if not transport:
            errors.append(f"{where}: subject {msg.get('subject')!r} != {item.subject!r}")

    # sender
    if not transport:
        expected_from = smtp_of(
            p, PidTagSentRepresentingSmtpAddress, PidTagSentRepresentingAddressType, PidTagSentRepresentingEmailAddress
        ) or smtp_of(p, PidTagSenderSmtpAddress, PidTagSenderAddressType, PidTagSenderEmailAddress)
        got = header_addresses(msg, "from")
        if expected_from and got != [expected_from]:
            errors.append(f"{where}: From {got} != {expected_from!r}")

    # recipients and their kinds
    by_kind: dict[str, set[str]] = {"to": set(), "cc": set(), "bcc": set()}
    # a report's recipient table lists the original message's recipients, not the report's
    for r in item.recipients if not item.message_class.upper().startswith("REPORT.") else ():
        if r.kind not in by_kind:
            continue
        addr = smtp_of(r.props, PidTagSmtpAddress, PidTagAddressType, PidTagEmailAddress)
        if addr:
            by_kind[r.kind].add(addr)
    if transport:
        got_all = set(header_addresses(msg, "to") + header_addresses(msg, "cc") + header_addresses(msg, "bcc"))
        missing = (by_kind["to"] | by_kind["cc"] | by_kind["bcc"]) - got_all
        if missing:
            errors.append(f"{where}: recipients missing from the kept headers: {sorted(missing)}")
    else:
        for kind in ("to", "cc", "bcc"):
            got = set(header_addresses(msg, kind))
            if not by_kind[kind] <= got:
                errors.append(f"{where}: {kind} {sorted(got)} lacks {sorted(by_kind[kind] - got)}")

    # no EX address (legacy DN or IMCEAEX) in any address header: resolved, or a display name only
    for name in ("from", "sender", "to", "cc", "bcc", "reply-to"):
        for value in msg.get_all(name, []):
            if EX_PATTERN.search(str(value)):
                errors.append(f"{where}: {name} keeps an EX address: {str(value)[:120]}")

    # date
    if transport:
        if msg.get("date") is None:
            errors.append(f"{where}: Date missing")
    else:
        # never submitted: the PST's own creation/modification time, never the import time (issue #18)
        when = (
            p.time(PidTagClientSubmitTime)
            or p.time(PidTagCreationTime)
            or p.time(PidTagLastModificationTime)
            or p.time(PidTagMessageDeliveryTime)
        )
        date_header = msg.get("date")
        if when is not None:
            if date_header is None or date_header.datetime is None:
                errors.append(f"{where}: Date missing")
            elif abs(date_header.datetime - when) > timedelta(seconds=1):
                errors.append(f"{where}: Date {date_header.datetime} != {when}")

    # Message-ID
    mid = p.str(PidTagInternetMessageId)
    got_mid = raw_header(mime, "Message-ID")
    if mid and not (transport and got_mid) and got_mid != mid.strip():
        errors.append(f"{where}: Message-ID {got_mid!r} != {mid!r}")

    # body
    text, html = body_parts(msg)
    source_text = p.get(PidTagBody)
    if isinstance(source_text, str) and norm_text(source_text):
        if norm_text(text) != norm_text(source_text):
            errors.append(f"{where}: text body differs ({norm_text(text)[:60]!r} vs {norm_text(source_text)[:60]!r})")
    if item.body_html and not html:
        errors.append(f"{where}: HTML body lost")
    for part_text in (text, html):
        if part_text and part_text.lstrip().startswith("{\\rtf"):
            errors.append(f"{where}: body is RTF source")

    # attachments, recursively for embedded messages
    parts = attachment_parts(msg)
    files = {}
    embedded = []
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            embedded.append(part)
        else:
            files.setdefault(part.get_filename(), []).append(sha(part.get_payload(decode=True) or b""))
    src_embedded = []
    for att in item.attachments:
        if att.method == afEmbeddedMessage or att.is_embedded_message:
            src_embedded.append(att)
            continue
        data = att.read()
        if not data:
            continue
        name = att.filename or att.display_name
        if name is None:
            if not any(sha(data) in v for v in files.values()):
                errors.append(f"{where}: unnamed attachment {att.index} ({len(data)} bytes) missing")
            continue
        clean = re.sub(r"[\x00-\x1f\\/]", "_", name).strip()
        if sha(data) not in files.get(clean, []):
            errors.append(f"{where}: attachment {name!r} missing or altered (have {sorted(map(str, files))[:5]})")
    if len(embedded) != len(src_embedded):
        errors.append(f"{where}: {len(embedded)} embedded messages, source has {len(src_embedded)}")
    else:
        for att, part in zip(src_embedded, embedded, strict=True):
            inner_item = att.embedded
            inner_bytes = part.get_payload(0).as_bytes(policy=policy.SMTP)
            errors.extend(check_item(inner_item, inner_bytes, depth + 1))
    return errors


def leaf_attachment_hashes(msg: EmailMessage, skip: frozenset[str] = frozenset()) -> set[str]:
    """SHA-256 of every file attachment in a message, descending into message/rfc822 parts.
    Parts named in `skip` are left out (readpst exports the RTF body as "rtf-body.rtf")."""
    out: set[str] = set()
    for part in attachment_parts(msg):
        if part.get_content_type() == "message/rfc822":
            out |= leaf_attachment_hashes(part.get_payload(0), skip)
        elif part.get_filename() in skip:
            continue
        else:
            data = part.get_payload(decode=True)
            if data:
                out.add(sha(data))
    return out


def without_props(item: Any, *props: Any) -> Any:
    """A copy of a real item with some properties removed (e.g. to leave only its RTF body)."""
    from core.pst.model import Item, PropertyBag, key_of

    drop = {key_of(p) for p in props}
    values = {k: v for k, v in item.props._values.items() if k not in drop}  # noqa: SLF001
    return Item(
        node_id=item.node_id,
        folder_path=item.folder_path,
        props=PropertyBag(values),
        recipients=item.recipients,
        attachments=item.attachments,
        associated=item.associated,
        embedded_path=item.embedded_path,
        problems=list(item.problems),
        codepage=item.codepage,
    )


def corpus_items(path: Any) -> list[Any]:
    """Every readable ordinary item of a corpus file (attachments stay readable while open)."""
    from core.pst import open_pst

    out = []
    with open_pst(path) as pst:
        for folder in pst.folders():
            out.extend(i for i in pst.items(folder) if hasattr(i, "props"))
    return out
