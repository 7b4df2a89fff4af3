"""What Exchange promotes from a MIME item into item properties (Body, From, To, Cc, DateTimeSent...).

Shared by the EWS and Graph front ends and by the store, which promotes lazily: an item created
from MIME is stored with the fields its request set, and the promoted ones are worked out the first
time its fields are read. Parsing every message's MIME at creation was the largest part of the
sandbox's CPU per CreateItem in the import benchmark, and an import never reads those fields back.

Messages are parsed with the compat32 policy and decoded here: the default policy's header objects
cost ~1 ms per message.
"""

from __future__ import annotations

import datetime as dt
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import html as htmllib
import re

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BODY_TYPES = {("text", "plain"), ("text", "html"), ("multipart", "related"), ("multipart", "alternative")}


def _decode_header(value: object) -> str:
    """A header as text: unfolded, RFC 2047 encoded words decoded (what the default policy gives)."""
    text = _FOLD.sub("", str(value))
    if "=?" in text:
        try:
            chunks = email.header.decode_header(text)
        except Exception:  # a broken encoded word: keep the raw text
            return text
        try:
            text = str(email.header.make_header(chunks))
        except Exception:  # bytes that are not in their declared charset: replaced, not refused
            text = "".join(_decode_chunk(b, cs) for b, cs in chunks)
    return text


def _decode_chunk(data: bytes | str, charset: str | None) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode(charset or "ascii", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _is_attachment(part: email.message.Message) -> bool:
    disposition = part.get("Content-Disposition")
    return disposition is not None and str(disposition).split(";")[0].strip().lower() == "attachment"


def _find_body(part: email.message.Message, preference: tuple[str, ...]):
    """`EmailMessage._find_body` on a compat32 message: (rank, part) candidates for the body."""
    if _is_attachment(part):
        return
    maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
    if maintype == "text":
        if subtype in preference:
            yield preference.index(subtype), part
        return
    if maintype != "multipart" or not part.is_multipart():
        return
    if subtype != "related":
        for sub in part.get_payload():
            yield from _find_body(sub, preference)
        return
    candidate = None
    start = part.get_param("start")
    if start:
        candidate = next((p for p in part.get_payload() if p.get("Content-ID") == start), None)
    if candidate is None:
        subparts = part.get_payload()
        candidate = subparts[0] if subparts else None
    if candidate is not None:
        yield from _find_body(candidate, preference)


def _get_body(msg: email.message.Message) -> email.message.Message | None:
    """The part Exchange shows as the body: HTML before plain text (`EmailMessage.get_body`)."""
    if not (msg.is_multipart() or msg.get_content_maintype() == "text"):
        return None
    preference = ("html", "plain")
    best, body = len(preference), None
    for rank, part in _find_body(msg, preference):
        if rank < best:
            best, body = rank, part
            if rank == 0:
                break
    return body


def _has_attachments(msg: email.message.Message) -> bool:
    """Whether `EmailMessage.iter_attachments` yields anything (top-level parts besides the body)."""
    if not msg.is_multipart() or msg.get_content_subtype() == "alternative":
        return False
    parts = list(msg.get_payload())
    if msg.get_content_subtype() == "related":
        start = msg.get_param("start")
        if start:
            return any(p.get("Content-ID") != start for p in parts) and len(parts) > 1
        return len(parts) > 1
    seen: set[str] = set()
    for part in parts:
        kind = (part.get_content_maintype(), part.get_content_subtype())
        if kind in _BODY_TYPES and not _is_attachment(part) and kind[1] not in seen:
            seen.add(kind[1])
            continue
        return True
    return False


def _part_text(part: email.message.Message) -> str | None:
    try:
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            return None
        return data.decode(part.get_param("charset") or "ascii", "replace")
    except Exception:  # an unknown charset: no body, as the default policy's get_content fails
        return None


def subject_of(mime: bytes) -> str | None:
    """The decoded Subject header of `mime` (headers only: the body is not parsed)."""
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(mime)
    except Exception:  # unparseable MIME: no subject, as a full parse would give
        return None
    value = msg.get("Subject")
    return _decode_header(value) if value is not None else None


def promote(mime: bytes, fields: list) -> None:
    """Add to `fields` ([name, attrs, content] nodes) what Exchange promotes from `mime`, unless already set."""
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
    except Exception:  # unparseable MIME is still stored; Exchange keeps it as an opaque body
        return
    have = {node[0] for node in fields}

    def add(node: list) -> None:
        if node[0] not in have:
            fields.append(node)
            have.add(node[0])

    def header(name: str) -> str | None:
        value = msg.get(name)
        return _decode_header(value) if value is not None else None

    def mailboxes(name: str) -> list[list]:
        values = msg.get_all(name)
        if not values:
            return []
        try:
            addresses = email.utils.getaddresses([str(v) for v in values])
        except Exception:  # a malformed header: leave the property unset
            return []
        out = []
        for display, addr in addresses:
            # An address-less entry (an RFC 5322 group such as "undisclosed-recipients:;") makes no
            # recipient: MS-OXCMAIL 2.2.3.1.1 maps the address elements of a header, and a group
            # without members has none (gromox, an independent implementation, does the same).
            if addr and "@" in addr:
                # MS-OXCMAIL 2.2.3.1.1: without a display name part, the address is the display name
                display = _decode_header(display) if display else addr
                out.append(
                    [
                        "Mailbox",
                        {},
                        [
                            ["Name", {}, display],
                            ["EmailAddress", {}, addr],
                            ["RoutingType", {}, "SMTP"],
                            ["MailboxType", {}, "OneOff"],
                        ],
                    ]
                )
        return out

    date = header("Date")
    if date:
        try:
            sent = email.utils.parsedate_to_datetime(date)
            if sent.tzinfo is not None:
                add(["DateTimeSent", {}, sent.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")])
        except (TypeError, ValueError):
            pass
    body_part = _get_body(msg)
    if body_part is not None:
        text = _part_text(body_part)
        if text is not None:
            kind = "HTML" if body_part.get_content_subtype() == "html" else "Text"
            add(["Body", {"BodyType": kind}, text])
            # TextBody (Exchange 2013+): the plain-text body, converted from HTML when there is no text part
            plain = _plain_body(msg)
            plain_text = _part_text(plain) if plain is not None else None
            if plain_text is None and kind == "HTML":
                plain_text = html_to_text(text)
            if plain_text is not None:
                add(["TextBody", {"BodyType": "Text"}, plain_text])
    add(["HasAttachments", {}, "true" if _has_attachments(msg) else "false"])
    importance = _importance(msg)
    if importance:
        add(["Importance", {}, importance])
    # Sender: the Sender header, else From (MS-OXCMAIL 2.2.3.2.3: PidTagSender* default to the From values)
    sender = mailboxes("Sender") or mailboxes("From")
    if sender:
        add(["Sender", {}, [sender[0]]])
    for name, element in (("To", "ToRecipients"), ("Cc", "CcRecipients"), ("Bcc", "BccRecipients")):
        boxes = mailboxes(name)
        if boxes:
            add([element, {}, boxes])
    author = mailboxes("From")
    if author:
        add(["From", {}, [author[0]]])
    message_id = header("Message-ID")
    if message_id:
        add(["InternetMessageId", {}, message_id.strip()])
    reply_to = mailboxes("Reply-To")
    if reply_to:
        add(["ReplyTo", {}, reply_to])


def _plain_body(msg: email.message.Message) -> email.message.Message | None:
    best, body = 1, None
    for rank, part in _find_body(msg, ("plain",)):
        if rank < best:
            best, body = rank, part
    return body


# MS-OXCMAIL 2.2.3.2.x: Importance, then X-Priority (1-2 high, 4-5 low), give PidTagImportance.
_IMPORTANCE = {"high": "High", "normal": "Normal", "low": "Low"}
_PRIORITY = {"1": "High", "2": "High", "3": "Normal", "4": "Low", "5": "Low"}


def _importance(msg: email.message.Message) -> str | None:
    value = msg.get("Importance")
    if value is not None:
        return _IMPORTANCE.get(str(value).strip().lower())
    priority = msg.get("X-Priority")
    if priority is not None:
        return _PRIORITY.get(str(priority).strip()[:1])
    return None


_BLOCK = re.compile(r"(?is)<(script|style|head)\b.*?</\1\s*>")
_BREAK = re.compile(r"(?i)<(br|/p|/div|/tr|/li|/h[1-6])\b[^>]*>")
_TAG = re.compile(r"(?s)<[^>]*>")


def html_to_text(html: str) -> str:
    """A plain-text rendering of an HTML body (what Exchange gives as TextBody when there is no text
    part): scripts and styles dropped, block ends as line breaks, tags removed, entities decoded."""
    text = _BLOCK.sub("", html)
    text = _BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    return htmllib.unescape(text)
