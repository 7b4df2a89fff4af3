"""Our MIME serializer (core.convert.mime.MimePart) against the email package's own generator."""

from __future__ import annotations

import base64
import io
from email.generator import BytesGenerator
from email.message import EmailMessage, MIMEPart

import pytest

from core.convert.mime import POLICY, MimePart, _base64_body


class _Trickle(io.RawIOBase):
    """A raw stream that returns at most `step` bytes per read, as block-wise PST streams do."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_base64_body_survives_short_reads() -> None:
    """Chunked base64 gives the stdlib's 76-column lines (CRLF) even when reads stop mid-line."""
    data = bytes(range(256)) * 3001 + b"tail"
    for step in (1000, 8192, 57 * 4096 + 5):
        got = b"".join(_base64_body(_Trickle(data, step)))
        assert got == base64.encodebytes(data).replace(b"\n", b"\r\n")
    assert _base64_body(io.BytesIO(b"")) == []


def _ours() -> MimePart:
    inner = MimePart()
    inner["Subject"] = "Grüße aus Köln, a long subject that the folder has to wrap over two lines at least"
    inner.set_raw("Message-ID", "<odd$@id@host>")
    text = MimePart()
    text.set_raw("Content-Type", 'text/plain; charset="utf-8"')
    text.body = [b"hello\r\n"]
    inner.set_raw("Content-Type", text.items()[0][1])
    inner.body = text.body
    rfc822 = MimePart()
    rfc822.set_raw("Content-Type", "message/rfc822")
    rfc822.parts = [inner]
    att = MimePart()
    att.set_raw("Content-Type", 'application/octet-stream; name="a.bin"')
    att.set_raw("Content-Transfer-Encoding", "base64")
    att.body = [base64.encodebytes(b"\x00" * 100).replace(b"\n", b"\r\n")]
    top = MimePart()
    top.set_raw("From", "Ann <ann@example.com>")
    top["To"] = "Bob Bäcker <bob@example.com>, carol@example.com"
    top["Date"] = "Fri, 21 Nov 2025 10:00:00 +0000"
    top.set_raw("Thread-Topic", "folded\n continuation")
    top.set_raw("Content-Type", 'multipart/mixed; boundary="=_b1"')
    top.set_raw("MIME-Version", "1.0")
    top.boundary, top.parts = "=_b1", [att, rfc822]
    return top


def _theirs() -> EmailMessage:
    inner = EmailMessage(policy=POLICY)
    inner["Subject"] = "Grüße aus Köln, a long subject that the folder has to wrap over two lines at least"
    inner.set_raw("Message-ID", "<odd$@id@host>")
    inner.set_raw("Content-Type", 'text/plain; charset="utf-8"')
    inner.set_payload("hello\n")
    rfc822 = MIMEPart(policy=POLICY)
    rfc822.set_raw("Content-Type", "message/rfc822")
    rfc822.set_payload([inner])
    att = MIMEPart(policy=POLICY)
    att.set_raw("Content-Type", 'application/octet-stream; name="a.bin"')
    att.set_raw("Content-Transfer-Encoding", "base64")
    att.set_payload(base64.encodebytes(b"\x00" * 100).decode("ascii"))
    top = EmailMessage(policy=POLICY)
    top.set_raw("From", "Ann <ann@example.com>")
    top["To"] = "Bob Bäcker <bob@example.com>, carol@example.com"
    top["Date"] = "Fri, 21 Nov 2025 10:00:00 +0000"
    top.set_raw("Thread-Topic", "folded\n continuation")
    top.set_raw("Content-Type", 'multipart/mixed; boundary="=_b1"')
    top.set_raw("MIME-Version", "1.0")
    top.set_payload([att, rfc822])
    return top


def test_serializer_writes_what_the_email_generator_writes() -> None:
    """Raw and registry headers (folded, RFC 2047), multipart and message/rfc822 nesting: the
    bytes equal BytesGenerator's under the same policy."""
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=POLICY).flatten(_theirs())
    assert _ours().as_bytes() == out.getvalue()


def test_unique_header_limit_as_email_message() -> None:
    """A second Subject through the registry is refused, as EmailMessage refuses it."""
    part = MimePart()
    part["Subject"] = "one"
    with pytest.raises(ValueError):
        part["Subject"] = "two"
    del part["subject"]
    assert "Subject" not in part
