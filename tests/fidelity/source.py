"""What each item of a source PST should read back as, worked out from the PST itself (core.pst, over
pypff and our NDB layer) by rules written here, independently of core.convert, so a converter fault
shows up as a mismatch. For writer PSTs, `check_truth` compares these expectations with the writer's
ground truth first, so the reader cannot agree with the converter on a wrong value unnoticed."""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import hashlib
import html
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.mapi import (
    MSGFLAG_READ,
    MSGFLAG_UNSENT,
    PidLidLogType,
    PidLidNoteColor,
    PidNameKeywords,
    PidTagAddressType,
    PidTagAttachmentHidden,
    PidTagBody,
    PidTagClientSubmitTime,
    PidTagCreationTime,
    PidTagDisplayName,
    PidTagEmailAddress,
    PidTagFlagStatus,
    PidTagImportance,
    PidTagLastModificationTime,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PidTagRtfCompressed,
    PidTagSenderAddressType,
    PidTagSenderEmailAddress,
    PidTagSenderName,
    PidTagSenderSmtpAddress,
    PidTagSensitivity,
    PidTagSentRepresentingAddressType,
    PidTagSentRepresentingEmailAddress,
    PidTagSentRepresentingName,
    PidTagSentRepresentingSmtpAddress,
    PidTagSmtpAddress,
    PidTagTransportMessageHeaders,
)

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
IMPORTANCE = {0: "low", 1: "normal", 2: "high"}
SENSITIVITY = {0: "normal", 1: "personal", 2: "private", 3: "confidential"}
# Classes created as messages (mail, posts, reports, meeting messages, notes, journal entries).
TYPED_PREFIXES = ("IPM.APPOINTMENT", "IPM.CONTACT", "IPM.ABCHPERSON", "IPM.TASK", "IPM.DISTLIST")


def smtp(value: str | None) -> str | None:
    if value and _EMAIL.match(value) and not value.upper().startswith("IMCEA"):
        return value.lower()
    return None


def words(text: str | None) -> str:
    """Body text as its words: white space and NULs do not count (MIME and servers rewrap lines)."""
    return " ".join((text or "").replace("\x00", "").split())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Recipient:
    kind: str  # to | cc | bcc
    address: str | None  # lower-case SMTP, or None when the PST gives none
    name: str | None


@dataclass
class Expected:
    """One source item, as the fields of the per-field table."""

    stamp: str
    source: str
    where: str
    folder: tuple[str, ...]
    message_class: str
    subject: str | None
    sender: str | None
    sender_name: str | None
    sender_ex: bool
    """The sender is a legacy Exchange address (the importer may resolve it to SMTP through the PST)."""
    recipients: list[Recipient]
    sent: datetime | None
    received: datetime | None
    read: bool
    draft: bool
    importance: str
    sensitivity: str
    categories: list[str]
    followup: int | None
    body: str | None
    attachments: Counter = field(default_factory=Counter)
    """(path, sha256) of every file attachment, embedded messages' ones under their message's name."""
    reference_attachments: int = 0
    note_color: int | None = None
    log_type: str | None = None
    has_html: bool = False
    body_kind: str = "text"
    """Where `body` comes from: PidTagBody ("text"), the HTML body as text ("html"), none in the PST ("none",
    an empty body expected), or an RTF body only ("rtf": not worked out here, see compare.py)."""
    embedded: int = 0
    """Embedded messages (attach method 5) at the top level."""

    @property
    def is_message(self) -> bool:
        return not self.message_class.upper().startswith(TYPED_PREFIXES)

    @property
    def is_mail(self) -> bool:
        """Mail-like (MIME on the wire): what has senders and recipients."""
        cls = self.message_class.upper()
        return self.is_message and not cls.startswith(("IPM.STICKYNOTE", "IPM.ACTIVITY"))


def _party(props: Any, smtp_tag: Any, type_tag: Any, addr_tag: Any, name_tag: Any) -> tuple[str | None, str | None]:
    name = props.str(name_tag)
    found = smtp(props.str(smtp_tag))
    if found is None and (props.str(type_tag) or "").upper() == "SMTP":
        found = smtp(props.str(addr_tag))
    if found is None and not props.str(addr_tag):
        found = smtp(name)  # an address typed as the display name (Outlook 97 one-offs)
    return found, name


def _time(props: Any, tag: Any) -> datetime | None:
    value = props.time(tag)
    return value.astimezone(UTC).replace(microsecond=0) if value is not None else None


def _attachments(item: Any, prefix: str, out: Counter, depth: int = 0) -> int:
    """File attachments by (path, sha256), embedded messages descended into; returns how many attachments
    hold no data (references to files outside the PST)."""
    references = 0
    typed_calendar = item.message_class.upper().startswith("IPM.APPOINTMENT")
    for att in item.attachments:
        name = att.filename or att.display_name or ""
        if att.is_embedded_message:
            if typed_calendar and att.props.get(PidTagAttachmentHidden, False):
                continue  # a recurrence exception's data (the calendar's), not an attachment Outlook shows
            inner = att.embedded
            if inner is not None and depth < 16:
                references += _attachments(inner, f"{prefix}{name}/", out, depth + 1)
            continue
        data = att.read()
        if not data:
            references += 1 if att.size or att.method in (2, 3, 4, 7) else 0
            continue
        out[(f"{prefix}{name}", sha(data))] += 1
    return references


def expected_items(path: Path) -> list[Expected]:
    """Every readable ordinary item of a PST, as it should read back."""
    from core.pst import open_pst

    out: list[Expected] = []
    with open_pst(path) as pst:
        store = (pst.info.record_key or b"").hex()
        for folder in pst.folders():
            for item in pst.items(folder):
                if not hasattr(item, "props"):
                    continue
                out.append(_expected(item, store, path.name, tuple(folder.path)))
    return out


def _expected(item: Any, store: str, source: str, folder: tuple[str, ...]) -> Expected:
    p = item.props
    sender, sender_name = _party(
        p,
        PidTagSentRepresentingSmtpAddress,
        PidTagSentRepresentingAddressType,
        PidTagSentRepresentingEmailAddress,
        PidTagSentRepresentingName,
    )
    if sender is None:
        sender, name = _party(
            p, PidTagSenderSmtpAddress, PidTagSenderAddressType, PidTagSenderEmailAddress, PidTagSenderName
        )
        sender_name = sender_name or name
    sender_ex = "EX" in {
        (p.str(PidTagSentRepresentingAddressType) or "").upper(),
        (p.str(PidTagSenderAddressType) or "").upper(),
    }
    recipients = []
    headers = _transport_headers(p.str(PidTagTransportMessageHeaders))
    if item.message_class.upper().startswith("REPORT.") and headers.get("to"):
        # a report's recipient table lists the original message's recipients; it went to its own To
        for kind in ("to", "cc"):
            for name, addr in email.utils.getaddresses(headers.get(kind, [])):
                recipients.append(Recipient(kind, smtp(addr), name or None))
    else:
        for r in item.recipients:
            if r.kind in ("to", "cc", "bcc"):
                address, name = _party(
                    r.props, PidTagSmtpAddress, PidTagAddressType, PidTagEmailAddress, PidTagDisplayName
                )
                recipients.append(Recipient(r.kind, address, name))
    header_date = None
    for value in headers.get("date", []):
        try:
            header_date = email.utils.parsedate_to_datetime(value).astimezone(UTC)
        except (TypeError, ValueError):
            continue
    flags = p.int(PidTagMessageFlags) or 0
    submit, delivery = _time(p, PidTagClientSubmitTime), _time(p, PidTagMessageDeliveryTime)
    created, modified = _time(p, PidTagCreationTime), _time(p, PidTagLastModificationTime)
    keywords = p.get(PidNameKeywords)
    if isinstance(keywords, str):
        categories = [keywords]
    elif isinstance(keywords, list):
        categories = [k for k in keywords if isinstance(k, str) and k]
    else:
        categories = []  # a Keywords property of another type (a writer's fault) is no category
    attachments: Counter = Counter()
    references = _attachments(item, "", attachments)
    body = p.get(PidTagBody)
    body_kind = "text" if isinstance(body, str) and words(body) else None
    if body_kind is None:
        html = item.body_html
        if html:
            body_kind, body = "html", html_text(_decode(html, item.codepage))
        elif p.get(PidTagRtfCompressed) is not None:
            body_kind = "rtf"
        else:
            body_kind, body = "none", ""
    color = p.int(PidLidNoteColor)
    return Expected(
        stamp=f"{store}:{item.node_id}",
        source=source,
        where=item.where,
        folder=folder,
        message_class=item.message_class,
        subject=item.subject,
        sender=sender,
        sender_name=sender_name,
        sender_ex=sender_ex,
        recipients=recipients,
        # never submitted: the Date of its own headers, else the PST's own times, never the import time (#18)
        sent=submit or header_date or created or modified or delivery,
        received=delivery or submit or created or modified,
        read=bool(flags & MSGFLAG_READ),
        draft=bool(flags & MSGFLAG_UNSENT),
        importance=IMPORTANCE.get(p.int(PidTagImportance) if p.int(PidTagImportance) is not None else 1, "normal"),
        sensitivity=SENSITIVITY.get(p.int(PidTagSensitivity) or 0, "normal"),
        categories=categories,
        followup=p.int(PidTagFlagStatus) or None,
        body=words(body) if isinstance(body, str) else None,
        body_kind=body_kind,
        attachments=attachments,
        reference_attachments=references,
        note_color=(color if color is not None else 3)
        if item.message_class.upper().startswith("IPM.STICKYNOTE")
        else None,
        log_type=p.str(PidLidLogType) if item.message_class.upper().startswith("IPM.ACTIVITY") else None,
        has_html=bool(item.body_html),
        embedded=sum(
            1
            for a in item.attachments
            if a.is_embedded_message
            and not (
                item.message_class.upper().startswith("IPM.APPOINTMENT") and a.props.get(PidTagAttachmentHidden, False)
            )
        ),
    )


def html_text(content: str) -> str:
    """The text of an HTML body as a reader sees it: scripts and styles dropped, tags removed, entities decoded."""
    content = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", content)
    content = re.sub(r"(?i)<(br|/p|/div|/tr|/li)\b[^>]*>", "\n", content)
    return html.unescape(re.sub(r"(?s)<[^>]*>", "", content))


def _decode(data: bytes, codepage: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(codepage or "cp1252", "replace")


def _transport_headers(text: str | None) -> dict[str, list[str]]:
    """From, To, Cc and Date of an item's own transport headers (when they are a real header block: with From,
    Subject or Date, as the converter also requires), lower-case names, unfolded."""
    out: dict[str, list[str]] = {}
    if not text:
        return out
    msg = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text.replace("\r\n", "\n"))
    if not any(msg.get(n) for n in ("From", "Subject", "Date")):
        return out
    for name in ("from", "to", "cc", "date"):
        values = [" ".join(str(v).split()) for v in msg.get_all(name, [])]
        if values:
            out[name] = values
    return out


def check_truth(items: list[Expected], truth: dict) -> list[str]:
    """Where the expectations for a writer PST disagree with the writer's ground truth (should be none)."""
    problems = []
    by_nid = {str(t["nid"]): t for t in truth["items"] if not t.get("associated")}
    for exp in items:
        t = by_nid.get(exp.stamp.rsplit(":", 1)[1])
        if t is None:
            problems.append(f"{exp.where}: not in the truth")
            continue
        pairs = [
            ("class", exp.message_class, t["class"]),
            ("subject", exp.subject, t["subject"]),
            ("folder", list(exp.folder), t["folder"]),
            ("read", exp.read, t["read"]),
            ("categories", exp.categories, t["categories"]),
            (
                "attachments",
                sorted(h for _, h in exp.attachments),
                sorted(a["sha256"] for a in _truth_files(t["attachments"])),
            ),
        ]
        resolvable = [r for r in t["recipients"] if r.get("resolvable") and r.get("smtp")]
        if t["class"] == "IPM.Note" and not exp.message_class.upper().startswith("REPORT."):
            got = sorted((r.kind, r.address) for r in exp.recipients if r.address)
            want = sorted((r["type"], r["smtp"].lower()) for r in resolvable if r.get("address_type") == "SMTP")
            pairs.append(("smtp recipients", [g for g in got if g in want], want))
        if exp.note_color is not None:
            pairs.append(("note colour", exp.note_color, t["extra"].get("color", 3)))
        if exp.log_type is not None:
            pairs.append(("journal type", exp.log_type, t["extra"].get("log_type")))
        for name, ours, theirs in pairs:
            if ours != theirs:
                problems.append(f"{exp.where}: {name} {ours!r} != truth {theirs!r}")
    return problems


def _truth_files(atts: list[dict]) -> list[dict]:
    out = []
    for a in atts:
        if a.get("embedded"):
            out.extend(_truth_files(a["embedded"].get("attachments", [])))
        elif a.get("sha256"):
            out.append(a)
    return out
