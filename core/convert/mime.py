"""RFC 5322 MIME for mail-like items, built as `MimePart` trees and written by our own serializer
(7-bit headers folded by the email package's SMTP policy, CRLF).

Headers: the item's own transport headers when present (minus the MIME structure headers we
rebuild, with IMCEAEX addresses rewritten), else From/Sender/To/Cc/Bcc/Subject/Date/Message-ID/
In-Reply-To/References/Thread-*/Importance/X-Priority/Sensitivity built from properties.
Structure: multipart/mixed( multipart/related( multipart/alternative(text/plain, text/html),
inline parts...), attachments..., message/rfc822...) with each level only when needed.
Headers are written 7-bit (RFC 2047 / RFC 2231 encoded words); bodies are UTF-8.
Part headers are formatted here and set raw: letting the header registry parse every header
it writes cost more than everything else together, and it mangles Outlook's odd message ids.
`email.message` and its generator are not used: cloning a generator and a policy per part and
writing bodies through StringIO cost more than building the message. Headers that are not
already folded 7-bit text still go through the SMTP policy's header registry and folder, so
the bytes are what `email.generator.BytesGenerator` would write (the tests parse them back with
the `email` package).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import itertools
import mimetypes
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as _policy
from email.charset import Charset
from email.header import Header
from email.headerregistry import Address, Group
from typing import Any, BinaryIO

import pybase64

from core.convert.addresses import (
    AddressResolver,
    Party,
    is_smtp,
    recipient_party,
    representing_party,
    sender_party,
)
from core.convert.body import extract_body
from core.convert.entryid import decode_flat_entry_list, decode_imcea, decode_one_off
from core.convert.extended import sent_time
from core.convert.payload import Mailbox
from core.mapi import (
    ADDRTYPE_EX,
    ATT_MHTML_REF,
    IMPORTANCE_HIGH,
    IMPORTANCE_LOW,
    SENSITIVITY_CONFIDENTIAL,
    SENSITIVITY_PERSONAL,
    SENSITIVITY_PRIVATE,
    PidTagAttachExtension,
    PidTagConversationIndex,
    PidTagConversationTopic,
    PidTagImportance,
    PidTagInReplyToId,
    PidTagInternetMessageId,
    PidTagInternetReferences,
    PidTagReplyRecipientEntries,
    PidTagSensitivity,
    PidTagTransportMessageHeaders,
    afByReference,
    afByReferenceOnly,
    afByWebReference,
    afEmbeddedMessage,
    afNone,
    afStorage,
)

# 7-bit headers (encoded words), CRLF line ends, 78-column folding.
# refold_source="none": headers we set raw (the item's own, and message ids) are written as they are.
POLICY = _policy.SMTP.clone(max_line_length=78, raise_on_defect=False, refold_source="none")
# Headers whose values we never let the header registry re-parse: it drops the tail of
# non-conforming ids such as "<x$@host@domain>", which Outlook writes.
_RAW_HEADERS = {"message-id", "in-reply-to", "references", "resent-message-id"}

# Headers of the original MIME structure; ours replace them.
_STRUCTURE_HEADERS = {
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "content-disposition",
    "content-id",
    "content-description",
    "content-location",
    "content-md5",
}
_ADDRESS_HEADERS = {
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "disposition-notification-to",
    "return-path",
}

MAX_EMBED_DEPTH = 16
# Attachment data is read and base64-encoded this much at a time: a whole number of 57-byte
# groups, so every chunk ends on a 76-column line.
BASE64_CHUNK = 57 * 4096
_UTF8 = Charset("utf-8")
_CRLF = "\r\n"


class MimePart:
    """One MIME entity: header fields in order, then a body that is either encoded bytes with
    CRLF line ends (`body`, a list of chunks), a list of parts (`parts` with a `boundary`:
    multipart), or one message (`parts` without a boundary: message/rfc822).

    Header values are either raw strings (already 7-bit and folded with "\\n" + white space),
    or header objects from the SMTP policy's registry, which folds them when written.
    """

    __slots__ = ("_headers", "body", "parts", "boundary")

    def __init__(self) -> None:
        self._headers: list[tuple[str, Any]] = []
        self.body: list[bytes] = []
        self.parts: list[MimePart] | None = None
        self.boundary: str | None = None

    def set_raw(self, name: str, value: Any) -> None:
        """Add a header whose value is written as it is (lines joined with CRLF)."""
        self._headers.append((name, value))

    def __setitem__(self, name: str, value: Any) -> None:
        """Add a header through the policy's header registry (parsed, later folded), as
        `EmailMessage.__setitem__` does, including its limit on unique headers."""
        max_count = POLICY.header_max_count(name)
        if max_count:
            low = name.lower()
            if sum(1 for k, _ in self._headers if k.lower() == low) >= max_count:
                raise ValueError(f"There may be at most {max_count} {name} headers in a message")
        self._headers.append(POLICY.header_store_parse(name, value))

    def __contains__(self, name: object) -> bool:
        low = str(name).lower()
        return any(k.lower() == low for k, _ in self._headers)

    def __delitem__(self, name: str) -> None:
        low = name.lower()
        self._headers = [(k, v) for k, v in self._headers if k.lower() != low]

    def items(self) -> list[tuple[str, Any]]:
        return list(self._headers)

    def walk(self) -> Iterator[MimePart]:
        """This part and every part below it, embedded messages included."""
        yield self
        for part in self.parts or ():
            yield from part.walk()

    def write(self, out: list[bytes]) -> None:
        """Append this entity's bytes to `out` (what BytesGenerator with POLICY writes)."""
        for name, value in self._headers:
            if isinstance(value, str) and value.isascii():
                out.append(f"{name}: {_CRLF.join(value.splitlines())}\r\n".encode("ascii"))
            else:
                out.append(POLICY.fold_binary(name, value))
        out.append(b"\r\n")
        if self.parts is None:
            out.extend(self.body)
        elif self.boundary is None:
            for part in self.parts:
                part.write(out)
        else:
            delimiter = f"--{self.boundary}".encode("ascii")
            out.append(delimiter + b"\r\n")
            for i, part in enumerate(self.parts):
                if i:
                    out.append(b"\r\n" + delimiter + b"\r\n")
                part.write(out)
            out.append(b"\r\n" + delimiter + b"--\r\n")

    def as_bytes(self) -> bytes:
        out: list[bytes] = []
        self.write(out)
        return b"".join(out)


@dataclass(slots=True)
class MimeResult:
    mime: bytes
    problems: list[str] = field(default_factory=list)
    sent: datetime | None = None
    attachment_count: int = 0


def item_date(item: Any) -> datetime | None:
    """The item's Date header (see `core.convert.extended.sent_time`)."""
    return sent_time(item)


def _mailbox_header(mailboxes: list[Mailbox]) -> list[Address | Group]:
    out: list[Address | Group] = []
    for mb in mailboxes:
        if mb.email and is_smtp(mb.email):
            try:
                out.append(Address(display_name=_clean_name(mb.name or ""), addr_spec=mb.email))
                continue
            except (ValueError, IndexError, TypeError):
                pass
        # unresolved (or unparseable): the display name alone, as an empty group, never a fake address
        name = _clean_name(mb.name or mb.original or "unknown")
        out.append(Group(display_name=name, addresses=()))
    return out


_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")


def _phrase(name: str) -> str:
    """A display name as an RFC 5322 phrase: atoms, a quoted string, or RFC 2047 encoded words."""
    if not name.isascii():
        # one encoded word: parsers insert a space between split words inside a phrase
        # (what Header(name, "utf-8").encode(maxlinelen=0) writes, without its formatter)
        return _UTF8.header_encode(name)
    if _ATOM_PHRASE.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _address_list(mailboxes: list[Mailbox]) -> str | None:
    """The raw (folded, 7-bit) value of an address header; None when one address needs the
    header registry's handling (non-ASCII local part)."""
    parts: list[str] = []
    for mb in mailboxes:
        if mb.email and is_smtp(mb.email):
            if not mb.email.isascii() or any(c in mb.email for c in '"\\'):
                return None
            name = _clean_name(mb.name or "")
            parts.append(f"{_phrase(name)} <{mb.email}>" if name and name != mb.email else mb.email)
        else:
            # unresolved: the display name alone, as an empty group, never a made-up address
            parts.append(f"{_phrase(_clean_name(mb.name or mb.original or 'unknown'))}:;")
    return ",\n ".join(parts)


_RECIPIENT_HEADERS = {"to": "To", "cc": "Cc", "bcc": "Bcc"}


def _unaddressed(header: str, shown: str) -> str:
    """The item's problem line for a recipient shown by name only (an empty group: no address to give)."""
    return (
        f"{_RECIPIENT_HEADERS[header.lower()]} recipient {shown!r} has no SMTP address: kept by name in the "
        "header, not as a recipient (core/convert/limits.py)"
    )


def _set_addresses(msg: MimePart, name: str, mailboxes: list[Mailbox], problems: list[str]) -> None:
    if name.lower() in _RECIPIENT_HEADERS:
        problems += [
            _unaddressed(name, _clean_name(mb.name or mb.original or "unknown"))
            for mb in mailboxes
            if not (mb.email and is_smtp(mb.email))
        ]
    raw = _address_list(mailboxes)
    if raw is not None:
        msg.set_raw(name, raw)
    else:
        _set(msg, name, _mailbox_header(mailboxes), problems)


def _set_text(msg: MimePart, name: str, value: str, problems: list[str]) -> None:
    """An unstructured header (Subject, Thread-Topic): raw when ASCII, else RFC 2047 words."""
    if value.isascii():
        _set(msg, name, value, problems, raw=True)
    else:
        msg.set_raw(name, Header(value, "utf-8", header_name=name).encode(maxlinelen=76, linesep="\n"))


def _clean_name(name: str) -> str:
    return " ".join(name.replace("\x00", "").split())


def _set(msg: MimePart, name: str, value: Any, problems: list[str], raw: bool = False) -> None:
    """Add a header. `raw` (or an id header) keeps an ASCII value exactly as given."""
    try:
        if isinstance(value, str) and (raw or name.lower() in _RAW_HEADERS) and value.isascii():
            if "\n" not in value and len(value) + len(name) > 76:
                value = _fold_words(value)
            msg.set_raw(name, value)
            return
        if isinstance(value, str):
            value = re.sub(r"\r?\n(?=[ \t])", "", value)  # unfold (RFC 5322 2.2.3)
        msg[name] = value
    except Exception as e:  # the header registry and folder raise assorted errors on odd values
        if name in msg:
            del msg[name]
        if not isinstance(value, str):
            problems.append(f"header {name} could not be written: {e}")
            return
        try:
            msg[name] = _encode_words(name, re.sub(r"\r?\n(?=[ \t])", "", value))
        except Exception as e2:  # noqa: BLE001
            problems.append(f"header {name} could not be written: {e2}")


def _fold_words(value: str) -> str:
    """Fold a long ASCII value at spaces (the continuation lines start with a space)."""
    lines: list[str] = []
    line = ""
    for word in value.split(" "):
        if line and len(line) + 1 + len(word) > 76:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n ".join(lines)


def _encode_words(name: str, value: str) -> str:
    """An ASCII form of a header value: RFC 2047 encoded words (display names only, for address
    headers); the email package's own folder trips on some 8-bit leftovers in stored headers."""
    from email.header import Header

    value = value.replace("\ufffd", "?")
    if name.lower() in _ADDRESS_HEADERS:
        return ", ".join(
            email.utils.formataddr((n, a), charset="utf-8") for n, a in email.utils.getaddresses([value]) if a
        )
    return Header(value, "utf-8").encode()


def _rewrite_header_addresses(
    value: str, resolver: AddressResolver | None, unaddressed: list[str] | None = None
) -> tuple[str, bool]:
    """Replace IMCEAEX addresses (and bare legacy DNs) in one address header value; the display names
    of those nothing resolves (left as empty groups) are added to `unaddressed`."""
    if "imcea" not in value.lower() and "/o=" not in value.lower():
        return value, False
    pairs = email.utils.getaddresses([value])
    parts: list[str] = []
    for name, addr in pairs:
        dn: str | None = None
        if addr.upper().startswith("IMCEA"):
            dec = decode_imcea(addr)
            if dec and dec[0] == ADDRTYPE_EX:
                dn = dec[1]
            elif dec and is_smtp(dec[1]):
                parts.append(email.utils.formataddr((name, dec[1])))
                continue
        elif addr.lower().startswith("/o="):
            dn = addr
        if dn is not None:
            mb = resolver.resolve_dn(dn, name or None) if resolver is not None else Mailbox(name, None, "EX", dn)
            if mb.email:
                parts.append(email.utils.formataddr((name, mb.email)))
            else:
                display = _clean_name(mb.name or name or "unknown").replace('"', "")
                parts.append(f'"{display}":;' if not re.fullmatch(r"[\w .-]+", display) else f"{display}:;")
                if unaddressed is not None:
                    unaddressed.append(display)
        elif addr:
            parts.append(email.utils.formataddr((name, addr)))
    return ", ".join(parts), True


def _has_address(value: str) -> bool:
    """Whether an address header's value holds at least one address (not empty, not only a group name)."""
    try:
        return any(addr and "@" in addr for _, addr in email.utils.getaddresses([" ".join(value.split())]))
    except Exception:  # noqa: BLE001 - an unparseable value is kept as it is
        return True


def _parse_transport_headers(text: str) -> list[tuple[str, str]]:
    """Unfolded (name, value) pairs of raw RFC 5322 headers, in order."""
    out: list[tuple[str, str]] = []
    for line in re.split(r"\r?\n", text):
        if not line.strip():
            if out:
                break  # end of the header block
            continue
        if line[0] in " \t" and out:
            name, value = out[-1]
            out[-1] = (name, value + "\n" + line)
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name.strip() or not name.isascii():
            continue
        out.append((name.strip(), value.strip()))
    return out


class MimeBuilder:
    """Builds the MIME of one item (recursively for embedded messages)."""

    def __init__(self, resolver: AddressResolver | None) -> None:
        self.resolver = resolver

    def _resolve(self, party: Any) -> Mailbox | None:
        if party is None:
            return None
        if self.resolver is not None:
            return self.resolver.resolve(party)
        # no resolver: the item's own SMTP hints only
        if party.smtp_hints:
            return Mailbox(party.name, party.smtp_hints[0])
        if is_smtp(party.address) and not party.is_ex:
            return Mailbox(party.name, party.address)
        return Mailbox(party.name or party.address, None, party.address_type, party.address)

    def build(self, item: Any, depth: int = 0, headers_only: bool = False) -> tuple[MimePart, list[str]]:
        problems: list[str] = []
        msg = MimePart()
        headers = item.props.str(PidTagTransportMessageHeaders)
        used_transport = False
        if headers:
            used_transport = self._transport_headers(msg, item, headers, problems)
        if not used_transport:
            self._property_headers(msg, item, problems)
        if not headers_only:
            self._body_and_attachments(msg, item, depth, problems)
        return msg, problems

    # --- headers ---------------------------------------------------------------------------
    def _transport_headers(self, msg: MimePart, item: Any, text: str, problems: list[str]) -> bool:
        pairs = _parse_transport_headers(text)
        names = {n.lower() for n, _ in pairs}
        if "from" not in names and "subject" not in names and "date" not in names:
            return False  # not a usable header block (some writers store junk here)
        from_props = {"from", "to", "cc"} & {n.lower() for n, v in pairs if not _has_address(v)}
        for name, value in pairs:
            low = name.lower()
            if low in _STRUCTURE_HEADERS or low in from_props:
                continue
            rewritten = False
            if low in _ADDRESS_HEADERS:
                unfolded = " ".join(value.split("\n"))
                unaddressed: list[str] = []
                new, rewritten = _rewrite_header_addresses(unfolded, self.resolver, unaddressed)
                if low in _RECIPIENT_HEADERS:
                    problems += [_unaddressed(low, shown) for shown in unaddressed]
                if rewritten and low == "return-path":
                    new = f"<{new.split('<')[-1].rstrip('>')}>" if "@" in new and ":;" not in new else "<>"
                if rewritten:
                    value = new
            _set(msg, name, value, problems, raw=not rewritten)
        if from_props:
            # A kept header without an address (some writers store "From: " for unsent items) says less than
            # the item's own sender and recipient properties: those are written instead.
            self._addresses_from_props(msg, item, from_props, problems)
        if "message-id" not in names:
            mid = item.props.str(PidTagInternetMessageId)
            if mid:
                _set(msg, "Message-ID", mid.strip(), problems)
        if "subject" not in names and item.subject:
            _set_text(msg, "Subject", _clean_subject(item.subject), problems)
        if "date" not in names:
            when = item_date(item)
            if when:
                _set(msg, "Date", email.utils.format_datetime(when), problems, raw=True)
        # a Bcc row of the recipient table is never in received headers; keep it
        bcc = [r for r in item.recipients if r.kind == "bcc"]
        if bcc and "bcc" not in names:
            mbs = [m for m in (self._resolve(recipient_party(r, item.codepage or "cp1252")) for r in bcc) if m]
            if mbs:
                _set_addresses(msg, "Bcc", mbs, problems)
        return True

    def _addresses_from_props(
        self, msg: MimePart, item: Any, which: set[str], problems: list[str], sender_header: bool = False
    ) -> None:
        """From (and Sender when it differs), To, Cc, Bcc from the item's properties, for the headers in `which`."""
        if "from" in which:
            sender = self._resolve(sender_party(item))
            representing = self._resolve(representing_party(item))
            if (
                representing is not None
                and not representing.email
                and sender is not None
                and sender.email
                and _clean_name(representing.name or "").casefold() == _clean_name(sender.name or "").casefold()
            ):
                # the same person sending for themselves: the sender row has the address the other lacks
                representing = sender
            author = representing or sender
            if author is not None:
                _set_addresses(msg, "From", [author], problems)
            if sender_header and sender is not None and representing is not None and not _same(sender, representing):
                _set_addresses(msg, "Sender", [sender], problems)
        cp = item.codepage or "cp1252"
        by_kind: dict[str, list[Mailbox]] = {"to": [], "cc": [], "bcc": []}
        for r in item.recipients:
            kind = r.kind
            if kind not in by_kind or kind not in which:
                continue
            mb = self._resolve(recipient_party(r, cp))
            if mb is not None:
                by_kind[kind].append(mb)
        for kind, header in (("to", "To"), ("cc", "Cc"), ("bcc", "Bcc")):
            if by_kind[kind]:
                _set_addresses(msg, header, by_kind[kind], problems)

    def _property_headers(self, msg: MimePart, item: Any, problems: list[str]) -> None:
        p = item.props
        self._addresses_from_props(msg, item, {"from", "to", "cc", "bcc"}, problems, sender_header=True)
        reply_to = self._reply_to(item)
        if reply_to:
            _set_addresses(msg, "Reply-To", reply_to, problems)
        if item.subject is not None:
            _set_text(msg, "Subject", _clean_subject(item.subject), problems)
        when = item_date(item)
        if when is not None:
            _set(msg, "Date", email.utils.format_datetime(when), problems, raw=True)
        mid = p.str(PidTagInternetMessageId)
        if mid:
            _set(msg, "Message-ID", mid.strip(), problems)
        irt = p.str(PidTagInReplyToId)
        if irt:
            _set(msg, "In-Reply-To", irt.strip(), problems)
        refs = p.str(PidTagInternetReferences)
        if refs:
            _set(msg, "References", " ".join(refs.split()), problems)
        topic = p.str(PidTagConversationTopic)
        if topic:
            _set_text(msg, "Thread-Topic", _clean_subject(topic), problems)
        index = p.bytes(PidTagConversationIndex)
        if index:
            _set(msg, "Thread-Index", base64.b64encode(index).decode("ascii"), problems, raw=True)
        importance = p.int(PidTagImportance)
        if importance == IMPORTANCE_HIGH:
            _set(msg, "Importance", "high", problems, raw=True)
            _set(msg, "X-Priority", "1", problems, raw=True)
        elif importance == IMPORTANCE_LOW:
            _set(msg, "Importance", "low", problems, raw=True)
            _set(msg, "X-Priority", "5", problems, raw=True)
        sensitivity = p.int(PidTagSensitivity)
        label = {
            SENSITIVITY_PERSONAL: "Personal",
            SENSITIVITY_PRIVATE: "Private",
            SENSITIVITY_CONFIDENTIAL: "Company-Confidential",
        }.get(sensitivity or 0)
        if label:
            _set(msg, "Sensitivity", label, problems, raw=True)

    def _reply_to(self, item: Any) -> list[Mailbox]:
        """Reply-To from PidTagReplyRecipientEntries (one-off entry ids; MS-OXOMSG 2.2.1.45)."""
        out: list[Mailbox] = []
        for entry_id in decode_flat_entry_list(item.props.bytes(PidTagReplyRecipientEntries)):
            one = decode_one_off(entry_id)
            if one is None:
                continue
            party = Party(
                one.display_name,
                one.address_type,
                one.address,
                [one.address] if one.address_type.upper() == "SMTP" and is_smtp(one.address) else [],
                one.address if one.address_type.upper() == ADDRTYPE_EX else None,
            )
            mb = self._resolve(party)
            if mb is not None:
                out.append(mb)
        return out

    # --- body and attachments ----------------------------------------------------------------
    def _body_and_attachments(self, msg: MimePart, item: Any, depth: int, problems: list[str]) -> None:
        body, body_problems = extract_body(item)
        problems.extend(body_problems)
        html = body.html
        inline: list[MimePart] = []
        files: list[MimePart] = []
        for att in item.attachments:
            try:
                part, is_inline = self._attachment(att, item, html, depth, problems)
            except Exception as e:  # one attachment never sinks the item
                problems.append(f"attachment {att.index} ({_att_name(att)!r}) could not be read: {e}")
                continue
            if part is None:
                continue
            (inline if is_inline else files).append(part)

        if body.text is not None and html is not None:
            content = _multipart("alternative", [_text_part(body.text, "plain"), _text_part(html, "html")])
        elif html is not None:
            content = _text_part(html, "html")
        else:
            content = _text_part(body.text or "", "plain")

        if inline:
            content = _multipart("related", [content, *inline])
        if files:
            content = _multipart("mixed", [content, *files])
        # graft the content's headers and body onto the message
        for name, value in content.items():
            msg.set_raw(name, value)
        msg.body, msg.parts, msg.boundary = content.body, content.parts, content.boundary
        if "MIME-Version" not in msg:
            msg.set_raw("MIME-Version", "1.0")

    def _attachment(
        self, att: Any, item: Any, html: str | None, depth: int, problems: list[str]
    ) -> tuple[MimePart | None, bool]:
        method = att.method
        name = _att_name(att)
        if method == afEmbeddedMessage or att.is_embedded_message:
            if depth >= MAX_EMBED_DEPTH:
                problems.append(f"embedded message {name!r} nested deeper than {MAX_EMBED_DEPTH}; left out")
                return None, False
            inner_item = att.embedded
            if inner_item is None:
                problems.append(f"embedded message {name!r} could not be read; left out")
                return None, False
            inner, inner_problems = self.build(inner_item, depth + 1)
            problems.extend(f"in embedded message {name!r}: {p}" for p in inner_problems)
            part = MimePart()
            part.set_raw("Content-Type", "message/rfc822")
            part.set_raw("Content-Disposition", "attachment" + _param("filename", _safe_filename(name)))
            part.parts = [inner]
            return part, False
        if method in (afByReference, afByReferenceOnly, afByWebReference):
            body = _base64_body(att.open()) if att.size else []
            if not body:
                problems.append(f"reference attachment {name!r} points outside the PST; not imported")
                return None, False
        elif method == afNone and not att.size:
            return None, False
        else:
            body = _base64_body(att.open())
            if method == afStorage:
                problems.append(f"OLE attachment {name!r} kept as a file")
        ctype = _content_type(att, name)
        maintype, _, subtype = ctype.partition("/")
        cid = (att.content_id or "").strip().strip("<>") or None
        is_inline = bool(
            html is not None and cid and (f"cid:{cid}".lower() in html.lower() or att.flags & ATT_MHTML_REF)
        )
        if not is_inline and html is not None and att.content_location and att.content_location in html:
            is_inline = True
        if maintype in ("multipart", "message") or not subtype:
            maintype, subtype = "application", "octet-stream"  # bytes of a file, not our structure
        filename = _safe_filename(name)
        part = MimePart()
        part.set_raw("Content-Type", f"{maintype}/{subtype}" + _param("name", filename))
        part.set_raw("Content-Transfer-Encoding", "base64")
        part.set_raw("Content-Disposition", ("inline" if is_inline else "attachment") + _param("filename", filename))
        if cid:
            part.set_raw("Content-ID", f"<{cid}>")
        if is_inline and att.content_location and not cid:
            part.set_raw("Content-Location", att.content_location)
        part.body = body
        return part, is_inline


def _multipart(subtype: str, parts: list[MimePart]) -> MimePart:
    container = MimePart()
    container.boundary = _boundary()
    container.set_raw("Content-Type", f'multipart/{subtype}; boundary="{container.boundary}"')
    container.parts = parts
    return container


# Parts are assembled with raw headers we format here (RFC 2045/2231), because the email
# package re-parses every header set_content() writes, which cost more than all else together.
_boundaries = itertools.count(1)
_BOUNDARY_SALT = os.urandom(6).hex()


def _boundary() -> str:
    """Unique per part and run; base64 and quoted-printable bodies can never contain "=_"."""
    return f"=_pstimport_{_BOUNDARY_SALT}_{next(_boundaries):x}"


_TOKEN_SAFE = re.compile(r"[A-Za-z0-9!#$&+\-.^_`|~]")


def _param(key: str, value: str) -> str:
    """'; key="value"' for plain ASCII, else RFC 2231 'key*0*=utf-8''...' continuations."""
    if value.isascii() and len(value) <= 60 and not re.search(r"[\x00-\x1f\x7f]", value):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'; {key}="{escaped}"'
    encoded = "".join(c if _TOKEN_SAFE.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in value)
    chunks: list[str] = []
    while encoded:
        cut = min(len(encoded), 60)
        while cut < len(encoded) and "%" in encoded[cut - 2 : cut]:
            cut -= 1  # never split a %XX escape
        chunks.append(encoded[:cut])
        encoded = encoded[cut:]
    return "".join(
        f";\n {key}*{i}*=utf-8''{chunk}" if i == 0 else f";\n {key}*{i}*={chunk}" for i, chunk in enumerate(chunks)
    )


def _base64(data: bytes) -> bytes:
    """Base64 in 76-column CRLF lines (pybase64 wraps lines in C; the stdlib does it per line)."""
    return pybase64.encodebytes(data).replace(b"\n", b"\r\n")


def _base64_body(stream: BinaryIO) -> list[bytes]:
    """The stream's data as base64 lines, read and encoded BASE64_CHUNK bytes at a time, so an
    attachment is never held whole beside its encoding."""
    chunks: list[bytes] = []
    carry = b""
    with stream:
        while data := stream.read(BASE64_CHUNK):
            if carry:
                data = carry + data
            cut = len(data) - len(data) % 57  # a short read must not end a line early
            carry = data[cut:]
            if cut:
                chunks.append(_base64(data[:cut] if carry else data))
    if carry:
        chunks.append(_base64(carry))
    return chunks


def _text_part(text: str, subtype: str) -> MimePart:
    """A text/plain or text/html part in UTF-8: 7bit when it can be, else quoted-printable."""
    text = _normalise_newlines(text)
    part = MimePart()
    part.set_raw("Content-Type", f'text/{subtype}; charset="utf-8"')
    if text.isascii() and max(map(len, text.split("\n"))) <= 900:
        part.set_raw("Content-Transfer-Encoding", "7bit")
        payload = text.encode("ascii")
    else:
        part.set_raw("Content-Transfer-Encoding", "quoted-printable")
        payload = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    if payload and not payload.endswith(b"\n"):
        payload += b"\n"
    part.body = [payload.replace(b"\n", b"\r\n")]
    return part


def _same(a: Mailbox, b: Mailbox) -> bool:
    if a.email and b.email:
        return a.email.lower() == b.email.lower()
    return (a.original or a.name) == (b.original or b.name)


def _clean_subject(subject: str) -> str:
    return subject.replace("\x00", "").replace("\r", " ").replace("\n", " ")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _att_name(att: Any) -> str:
    name = att.filename or att.display_name
    if not name:
        ext = att.props.str(PidTagAttachExtension) or ""
        name = f"attachment{att.index + 1}{ext}"
    return name


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r"[\x00-\x1f\\/]", "_", name).strip() or "attachment"
    return cleaned


def _content_type(att: Any, name: str) -> str:
    tag = (att.mime_tag or "").strip().lower()
    if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", tag):
        return tag
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _as_bytes(msg: MimePart) -> bytes:
    return msg.as_bytes()


_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[ \t]")


def _smime_entity(item: Any) -> bytes | None:
    """For S/MIME items (IPM.Note.SMIME*, MS-OXOSMIME 2.1.3): the signed or encrypted MIME entity
    that Outlook keeps as the item's single attachment, ready to be the message body byte for
    byte (a rebuilt body would break the signature). None for anything else."""
    if not item.message_class.upper().startswith("IPM.NOTE.SMIME"):
        return None
    atts = [a for a in item.attachments if not a.is_embedded_message]
    if len(atts) != 1:
        return None
    att = atts[0]
    data = att.read()
    if not data:
        return None
    if _HEADER_LINE.match(data):  # clear-signed: the whole multipart/signed entity, headers included
        return data if b"\r\n" in data[:4096] else data.replace(b"\n", b"\r\n")
    tag = (att.mime_tag or "application/pkcs7-mime").strip().lower()
    if "pkcs7-mime" not in tag:
        return None
    head = (
        'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
    )
    return head.encode("ascii") + _base64(data)


def build_mime(item: Any, resolver: AddressResolver | None = None) -> MimeResult:
    """The MIME bytes of a mail-like item, with the problems met on the way."""
    builder = MimeBuilder(resolver)
    early: list[str] = []
    try:
        entity = _smime_entity(item)
    except Exception as e:  # noqa: BLE001 - unreadable: convert it as ordinary mail below
        entity = None
        early.append(f"S/MIME content could not be read ({e}); imported as ordinary mail")
    if entity is not None:
        msg, problems = builder.build(item, headers_only=True)
        head = _as_bytes(msg).split(b"\r\n\r\n", 1)[0].strip()
        data = (head + b"\r\n" if head else b"") + b"MIME-Version: 1.0\r\n" + entity
        return MimeResult(mime=data, problems=problems, sent=item_date(item), attachment_count=1)
    msg, problems = builder.build(item)
    problems[:0] = early
    try:
        data = _as_bytes(msg)
    except Exception:  # noqa: BLE001 - a header the generator cannot fold: re-encode just that one
        _repair_headers(msg, problems)
        try:
            data = _as_bytes(msg)
        except Exception as e:  # still not: rebuild without the transport headers
            data = None
            error = e
    if data is None:
        e = error
        problems.append(f"original transport headers could not be kept ({e}); rebuilt from properties")
        fallback = _without_transport_headers(item)
        msg, more = builder.build(fallback)
        problems.extend(more)
        data = _as_bytes(msg)
    return MimeResult(mime=data, problems=problems, sent=item_date(item), attachment_count=len(item.attachments))


def _repair_headers(msg: MimePart, problems: list[str]) -> None:
    """Replace each header the folder cannot write with an encoded-word form of its text
    (in the message and every embedded message)."""
    for part in msg.walk():
        _repair_part(part, problems)


def _repair_part(msg: Any, problems: list[str]) -> None:
    items = list(msg.items())
    bad = []
    for name, value in items:
        try:
            POLICY.fold_binary(name, value)
        except Exception:  # noqa: BLE001
            bad.append(name)
    if not bad:
        return
    for name in set(bad):
        del msg[name]
    for name, value in items:
        if name in bad:
            try:
                msg[name] = _encode_words(name, str(value))
            except Exception as e:  # noqa: BLE001
                problems.append(f"header {name} could not be written: {e}")


def _without_transport_headers(item: Any) -> Any:
    import dataclasses

    from core.pst.model import PropertyBag, key_of

    values = {k: v for k, v in item.props._values.items() if k != key_of(PidTagTransportMessageHeaders)}  # noqa: SLF001
    # replace() keeps every other field, the reader's C RTF decompressor among them.
    return dataclasses.replace(item, props=PropertyBag(values), problems=list(item.problems))
