"""Keeping secrets out of every stream: logs at any level (`--debug` included), errors and tracebacks.

What is masked, wherever it appears in a text:
- HTTP credentials: the value after `Basic`, `Bearer`, `NTLM`, `Negotiate` or `Digest` (exchangelib
  logs its request headers at DEBUG, so a Basic header is the password in base64, and an NTLM
  authenticate message can be cracked offline), and any NTLM message in base64 (pyspnego logs
  them); `Cookie`/`Set-Cookie` values (session cookies);
- OAuth material: JSON Web Tokens, and the values of fields such as `access_token`,
  `refresh_token`, `client_secret`, `client_assertion`, `password`, `device_code` in JSON, dict
  reprs, form bodies and query strings;
- SAS signatures (`sig=`) and other pre-authenticated URL parts (`tempauth=`, `token=`, a
  `user:password@` in a URL);
- every secret value this process was given (`register_secret`: the profile's password or client
  secret, a SAS signature, the tokens msal hands out), verbatim, in whatever text it turns up.

`install()` puts this on every log record (a record factory sees each record of every logger,
before any handler) and on the handlers' formatted output (tracebacks); `scrub` serves the error
printers.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse

MASK = "***"
# A secret shorter than this is not masked verbatim (it would mask ordinary words).
MIN_SECRET_LENGTH = 6

_AUTH_SCHEME = re.compile(r"(?i)\b(Basic|Bearer|NTLM|Negotiate|Digest)(\s+|%20|\+)(?!\*\*\*)([A-Za-z0-9+/=._~%-]{6,})")
# After a scheme word, an ordinary word ("Basic authentication") is prose, not a credential.
_WORD = re.compile(r"[A-Z]?[a-z-]+")
# NTLM messages in base64 wherever they appear (pyspnego logs each "NTLM step output" at DEBUG).
_NTLMSSP = re.compile(r"TlRMTVNTUA[A-Za-z0-9+/=]*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SECRET_FIELDS = (
    "access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|passwd|"
    "device_code|user_code|secret|tempauth|token|sig|signature|authorization|proxy-authorization"
)
# `name: value`, `"name": "value"`, `'name': 'value'`, `name=value` (also percent-encoded `%3D`).
_FIELD = re.compile(
    r"(?i)(?<![A-Za-z0-9_])([\"']?(?:" + _SECRET_FIELDS + r")[\"']?\s*(?::|=|%3D|%253D)\s*[\"']?)"
    r"(?!\*\*\*|(?:Basic|Bearer|NTLM|Negotiate|Digest)\s)([^\"'&\s,;}<>]+)"
)
_COOKIE = re.compile(r"(?i)((?:set-)?cookie[\"']?\s*:\s*[\"']?)(?!\*\*\*)[^\"'\r\n]+")
_URL_CREDENTIALS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"'<>]+:)(?!\*\*\*@)[^@\s/\"'<>]+@")

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def register_secret(value: str | None) -> None:
    """Mask `value` verbatim (and URL-encoded) in everything scrubbed from now on."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.add(value)
        quoted = urllib.parse.quote(value, safe="")
        if quoted != value:
            _secrets.add(quoted)


def scrub(text: object) -> str:
    """`text` with every credential, token, signature and registered secret masked."""
    out = str(text)
    if _secrets:
        with _lock:
            known = sorted(_secrets, key=len, reverse=True)
        for secret in known:
            if secret in out:
                out = out.replace(secret, MASK)
    out = _AUTH_SCHEME.sub(lambda m: m.group(0) if _WORD.fullmatch(m.group(3)) else m.group(1) + m.group(2) + MASK, out)
    out = _NTLMSSP.sub("NTLMSSP" + MASK, out)
    out = _JWT.sub(MASK, out)
    out = _COOKIE.sub(lambda m: m.group(1) + MASK, out)
    out = _FIELD.sub(lambda m: m.group(1) + MASK, out)
    return _URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK + "@", out)


class ScrubbingFormatter(logging.Formatter):
    """Wraps a handler's formatter: the whole formatted record, traceback included, is scrubbed."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return scrub(self.inner.format(record))


def scrub_handlers(logger: logging.Logger | None = None) -> None:
    """Give every handler of `logger` (default: the root logger) a scrubbing formatter."""
    for handler in (logger or logging.getLogger()).handlers:
        if not isinstance(handler.formatter, ScrubbingFormatter):
            handler.setFormatter(ScrubbingFormatter(handler.formatter))


def install() -> None:
    """Scrub every log record of the process from now on, and the root logger's handlers' output.

    Idempotent. Call it again after adding handlers to the root logger.
    """
    global _installed
    with _lock:
        first = not _installed
        _installed = True
    if first:
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                text = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is logging's problem, not ours
                return record
            clean = scrub(text)
            if clean != text:
                record.msg, record.args = clean, None
            return record

        logging.setLogRecordFactory(factory)
    scrub_handlers()
