"""Shared Access Signature (SAS) URLs: parse, check before use, and redact.

A SAS URL is a secret: whoever holds its signature (`sig`) can write to the
container. So the signature never leaves this process in clear text: every
message, log line and report goes through `redact()`, and `SasUrl`'s repr hides it.

The checks run before any network call, so a bad token fails in a second with one
plain line ("the SAS expired on ...", "missing write permission ...") instead of a
403 from Azure half-way through a 40 GB upload.

Field names follow "Create a service SAS" / "Create an account SAS" in the Azure
Storage REST reference (learn.microsoft.com/rest/api/storageservices/create-service-sas).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import logging
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.errors import UserError

# SAS query fields (Azure Storage REST API, "Create a service SAS").
SAS_VERSION = "sv"  # signedVersion
SAS_RESOURCE = "sr"  # signedResource: c container, b blob, bs snapshot, bv version, d directory
SAS_PERMISSIONS = "sp"  # signedPermissions
SAS_START = "st"  # signedStart
SAS_EXPIRY = "se"  # signedExpiry
SAS_SIGNATURE = "sig"  # signature (the secret)
SAS_IDENTIFIER = "si"  # signedIdentifier: a stored access policy on the container
SAS_PROTOCOL = "spr"  # signedProtocol: https or https,http
SAS_IP = "sip"  # signedIp
# Account SAS only ("Create an account SAS").
SAS_SERVICES = "ss"  # signedServices: b blob, f file, q queue, t table
SAS_RESOURCE_TYPES = "srt"  # signedResourceTypes: s service, c container, o object

RESOURCE_CONTAINER = "c"
RESOURCE_BLOB = "b"
BLOB_LEVEL_RESOURCES = {"b", "bs", "bv"}

# Permission letters the checks care about, in the order Azure requires them in `sp`.
PERM_READ = "r"
PERM_WRITE = "w"
PERM_DELETE = "d"
PERM_LIST = "l"

# What each tool operation needs, and why, for the error message.
NEEDS: dict[str, dict[str, str]] = {
    "upload": {PERM_WRITE: "write (w), needed to upload"},
    "import": {PERM_READ: "read (r), needed by the import service to read the PSTs"},
    "list": {PERM_LIST: "list (l), needed to list the container"},
    "cleanup": {
        PERM_LIST: "list (l), needed to find old PSTs",
        PERM_DELETE: "delete (d), needed to clean up",
    },
}

# Storage service versions from 2012-02-12 (the first with today's SAS format, and the one
# Microsoft's PST Import Service still hands out) to the newest the installed SDK knows.
_OLD_VERSIONS = {
    "2012-02-12", "2013-08-15", "2014-02-14", "2015-02-21", "2015-04-05", "2015-07-08",
    "2015-12-11", "2016-05-31", "2017-04-17", "2017-07-29", "2017-11-09", "2018-03-28",
    "2018-11-09",
}  # fmt: skip


def _sdk_versions() -> set[str]:
    try:
        from azure.storage.blob._serialize import _SUPPORTED_API_VERSIONS  # the SDK's own list
    except ImportError:  # pragma: no cover - SDK layout changed
        return set()
    return set(_SUPPORTED_API_VERSIONS)


KNOWN_VERSIONS = frozenset(_OLD_VERSIONS | _sdk_versions())
FIRST_VERSION = "2012-02-12"

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# `sig=` at a field boundary, also percent-encoded once or twice (a URL inside a URL).
_SIG_RE = re.compile(r"(?i)((?:(?<![A-Za-z0-9_])|(?<=%26)|(?<=%3F))sig(?:=|%3D|%253D))(?:(?!%26)[^&\s\"'<>])*")


class SasError(UserError):
    """A SAS URL is malformed or does not allow what we are about to do. Never holds the signature."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


def redact(text: object) -> str:
    """Return `text` with every SAS signature value replaced by `REDACTED`.

    Works on whole URLs, on query strings and on free text that embeds them (log lines,
    exception messages), in plain or percent-encoded form (`sig%3D...`).
    """
    return _SIG_RE.sub(r"\1REDACTED", str(text))


_redaction_installed = False


def install_log_redaction() -> None:
    """Redact SAS signatures in every log record of the process, from any logger.

    urllib3 logs each request line ("PUT /acct/c/x.pst?...&sig=... HTTP/1.1") at DEBUG, and
    a logger's filter does not apply to its children, so the record factory is the one place
    that sees every record. Idempotent.
    """
    global _redaction_installed
    if _redaction_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is logging's problem, not ours
            return record
        if "sig" in text.lower():
            record.msg, record.args = redact(text), None
        return record

    logging.setLogRecordFactory(factory)
    _redaction_installed = True


@dataclass(frozen=True)
class SasUrl:
    """A parsed SAS URL. `url` and `signature` are kept out of repr so they cannot leak into logs."""

    url: str = field(repr=False)
    scheme: str
    host: str
    account: str
    container: str
    path: str  # what follows the container, without leading '/': a blob name or a folder prefix
    version: str | None
    resource: str | None
    permissions: str | None
    start: dt.datetime | None
    expiry: dt.datetime | None
    signature: str | None = field(repr=False)
    identifier: str | None
    protocol: str | None
    services: str | None
    resource_types: str | None
    path_style: bool  # Azurite and IP endpoints put the account in the path

    @property
    def is_account_sas(self) -> bool:
        """True for an account SAS (has `ss`/`srt`, no `sr`)."""
        return self.resource is None and (self.services is not None or self.resource_types is not None)

    @property
    def account_url(self) -> str:
        """Scheme, host and (for path-style endpoints) the account: what BlobServiceClient wants."""
        base = f"{self.scheme}://{self.host}"
        return f"{base}/{self.account}" if self.path_style else base

    @property
    def container_url(self) -> str:
        """The container's URL with the SAS query, for ContainerClient.from_container_url. Secret."""
        query = urllib.parse.urlsplit(self.url).query
        return f"{self.account_url}/{urllib.parse.quote(self.container)}?{query}"

    @property
    def credential(self) -> str:
        """The SAS query string alone (the SDK's `credential=`). Secret."""
        return urllib.parse.urlsplit(self.url).query

    @property
    def folder(self) -> str:
        """The folder prefix inside the container given by the URL ('' or 'a/b/')."""
        if not self.path:
            return ""
        return self.path.rstrip("/") + "/"

    @property
    def redacted(self) -> str:
        """The URL with the signature replaced, fit for messages."""
        return redact(self.url)

    def __str__(self) -> str:
        return self.redacted


def _parse_time(name: str, value: str) -> dt.datetime:
    """Parse a SAS time. Azure writes ISO 8601 UTC (`2024-05-01T10:00:00Z`, also date-only
    `2024-05-01`); hand-made tokens carry offsets (`+02:00`) or no zone. No zone means UTC,
    which is what Azure assumes."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            parsed = dt.datetime.fromisoformat(text)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?", text):
            text = text[:-1] + "+00:00" if text.endswith("Z") else text
            # Python wants at most 6 fractional digits; Azure may send 7.
            text = re.sub(r"(\.\d{6})\d+", r"\1", text)
            parsed = dt.datetime.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError:
        raise SasError(f"SAS field {name}={value!r} is not a valid time (expected e.g. 2024-05-01T10:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host == "localhost"


def parse_sas(url: str) -> SasUrl:
    """Parse a blob or container SAS URL.

    Raises:
        SasError: the URL is not an http(s) URL with an account and a container, or a
            SAS field is repeated or unparseable. The message never shows the signature.
    """
    install_log_redaction()
    text = (url or "").strip()
    if not text:
        raise SasError("no SAS URL given")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SasError(f"not an http(s) URL: {redact(text)[:80]!r}")
    host = parts.hostname
    netloc_host = parts.netloc.rsplit("@", 1)[-1]  # keep the port
    segments = [urllib.parse.unquote(s) for s in parts.path.split("/")[1:]]
    path_style = _is_ip(host)
    if path_style:
        if not segments or not segments[0]:
            raise SasError(f"{redact(text)}: no storage account in the URL path")
        account, segments = segments[0], segments[1:]
    else:
        account = host.split(".", 1)[0]
    if not segments or not segments[0]:
        raise SasError(f"{redact(text)}: no container in the URL (expected .../CONTAINER?sv=...)")
    container, rest = segments[0], "/".join(segments[1:])

    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    for key, values in query.items():
        if len(values) > 1:
            raise SasError(f"SAS field {key} appears {len(values)} times")
    q = {k: v[0] for k, v in query.items()}
    start = _parse_time(SAS_START, q[SAS_START]) if q.get(SAS_START) else None
    expiry = _parse_time(SAS_EXPIRY, q[SAS_EXPIRY]) if q.get(SAS_EXPIRY) else None
    return SasUrl(
        url=text,
        scheme=parts.scheme,
        host=netloc_host,
        account=account,
        container=container,
        path=rest,
        version=q.get(SAS_VERSION) or None,
        resource=q.get(SAS_RESOURCE) or None,
        permissions=q.get(SAS_PERMISSIONS) if SAS_PERMISSIONS in q else None,
        start=start,
        expiry=expiry,
        signature=q.get(SAS_SIGNATURE) or None,
        identifier=q.get(SAS_IDENTIFIER) or None,
        protocol=q.get(SAS_PROTOCOL) or None,
        services=q.get(SAS_SERVICES) or None,
        resource_types=q.get(SAS_RESOURCE_TYPES) or None,
        path_style=path_style,
    )


def _when(moment: dt.datetime, now: dt.datetime) -> str:
    delta = moment - now
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        span = f"{int(seconds)} s"
    elif seconds < 7200:
        span = f"{int(seconds // 60)} min"
    elif seconds < 172800:
        span = f"{seconds / 3600:.1f} h"
    else:
        span = f"{int(seconds // 86400)} days"
    rel = f"in {span}" if delta.total_seconds() > 0 else f"{span} ago"
    return f"{moment.strftime('%Y-%m-%d %H:%M:%S')} UTC ({rel})"


@dataclass(frozen=True)
class SasCheck:
    """The outcome of `check_sas`: what is fine but worth saying (the errors were raised)."""

    warnings: tuple[str, ...]


def check_sas(
    sas: SasUrl,
    operations: Iterable[str],
    *,
    target: str = "container",
    now: dt.datetime | None = None,
    clock_skew: dt.timedelta = dt.timedelta(minutes=5),
) -> SasCheck:
    """Check that `sas` allows every operation in `operations` on `target`, before any network call.

    Args:
        sas: the parsed URL.
        operations: names from `NEEDS` ("upload", "import", "list", "cleanup").
        target: "container" (we will write or list many blobs under it) or "blob" (one blob).
        now: the current time (UTC); tests pass a fixed one.
        clock_skew: how far our clock may be off from Azure's before "not yet valid" is an error.

    Returns:
        The warnings: things we cannot check here (a stored access policy) or that only
        degrade the run (no read permission, so no resume).

    Raises:
        SasError: all problems found, in one line, separated by "; ".
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    ops = list(operations)
    unknown_ops = [op for op in ops if op not in NEEDS]
    if unknown_ops:
        raise ValueError(f"unknown SAS operation(s): {unknown_ops}")
    problems: list[str] = []
    warnings: list[str] = []
    where = sas.redacted

    # Transport: a SAS over plain http can be sniffed and replayed.
    if sas.scheme == "http" and not _is_loopback(sas.host.rsplit(":", 1)[0].strip("[]")):
        problems.append(
            "the URL uses http, not https: a SAS must only travel over https (http is allowed "
            "only for a local emulator on 127.0.0.1)"
        )
    if sas.protocol and sas.protocol not in ("https", "https,http"):
        problems.append(f"spr={sas.protocol!r} is not a valid protocol (https or https,http)")
    elif sas.protocol == "https" and sas.scheme == "http":
        problems.append("the token is https-only (spr=https) but the URL uses http")

    if not sas.signature:
        problems.append("no signature (sig): this is not a SAS URL, or the query was cut off when it was copied")
    else:
        try:
            raw = base64.b64decode(urllib.parse.unquote(sas.signature), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:  # HMAC-SHA256
            problems.append(
                "the signature (sig) is malformed (not the base64 of an HMAC-SHA256); "
                "was the URL truncated or re-encoded?"
            )

    if not sas.version:
        problems.append("no service version (sv)")
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", sas.version) or sas.version < FIRST_VERSION:
        problems.append(f"unknown storage service version sv={sas.version!r}")
    elif sas.version not in KNOWN_VERSIONS:
        if sas.version > max(KNOWN_VERSIONS):
            warnings.append(
                f"service version sv={sas.version} is newer than this tool knows; "
                "if Azure rejects it, update azure-storage-blob"
            )
        else:
            problems.append(f"unknown storage service version sv={sas.version!r}")

    policy = sas.identifier is not None
    # Times: with a stored access policy (si) they may live in the policy, not the URL.
    if sas.expiry is None:
        if policy:
            warnings.append(f"expiry comes from stored access policy {sas.identifier!r} and cannot be checked here")
        else:
            problems.append("no expiry time (se)")
    elif sas.expiry <= now:
        problems.append(f"the SAS expired on {_when(sas.expiry, now)}; ask for a new SAS URL")
    elif sas.expiry - now < dt.timedelta(hours=1):
        warnings.append(f"the SAS expires soon: {_when(sas.expiry, now)}")
    if sas.start is not None and sas.start > now + clock_skew:
        problems.append(f"the SAS is not valid yet: it starts on {_when(sas.start, now)}")
    if sas.start is not None and sas.expiry is not None and sas.start >= sas.expiry:
        problems.append("the SAS start time (st) is not before its expiry (se)")

    # Scope: what the token was signed for, against what we are about to do with it.
    if sas.is_account_sas:
        if sas.services is not None and "b" not in sas.services:
            problems.append(f"account SAS for services ss={sas.services!r} does not include blob (b)")
        types = sas.resource_types or ""
        if target == "container" and any(op in ("list", "cleanup") for op in ops) and "c" not in types:
            problems.append("account SAS without container resource type (srt has no 'c'): it cannot list blobs")
        if any(op in ("upload", "import", "cleanup") for op in ops) and "o" not in types:
            problems.append("account SAS without object resource type (srt has no 'o'): it cannot read or write blobs")
    elif sas.resource is None:
        if policy:
            warnings.append(f"resource type comes from stored access policy {sas.identifier!r}")
        else:
            problems.append("no signed resource (sr): expected sr=c for a container SAS")
    elif sas.resource in BLOB_LEVEL_RESOURCES:
        if target == "container":
            problems.append(
                f"this is a blob-level token (sr={sas.resource}) used on a container: it "
                "only grants access to one blob; ask for a container SAS (sr=c)"
            )
        elif not sas.path:
            problems.append(f"this is a blob-level token (sr={sas.resource}) but the URL names no blob")
    elif sas.resource == RESOURCE_CONTAINER:
        if target == "container" and re.search(r"(?i)\.(pst|ost)$", sas.path):
            problems.append(
                f"this container-level token (sr=c) is used on a blob URL "
                f"(.../{sas.container}/{sas.path}); give the container URL (optionally "
                "with a folder), not a file's URL"
            )
        if target == "blob" and not sas.path:
            problems.append("a blob URL was expected here, but the URL names only the container")
    elif sas.resource == "d":
        warnings.append("directory-scoped SAS (sr=d): only blobs under that directory are reachable")
    else:
        problems.append(f"unknown signed resource sr={sas.resource!r} (expected c for a container)")

    # Permissions.
    perms = sas.permissions
    if perms is None:
        if policy:
            warnings.append(f"permissions come from stored access policy {sas.identifier!r} and cannot be checked here")
        else:
            problems.append("no permissions (sp)")
    else:
        bad = sorted(set(perms) - set("racwdxyltfmeiop"))
        if bad:
            problems.append(f"sp={perms!r} has unknown permission letter(s) {''.join(bad)!r}")
        for op in ops:
            for letter, why in NEEDS[op].items():
                if letter not in perms:
                    problems.append(f"missing {why} (sp={perms})")
        if "upload" in ops and PERM_READ not in perms:
            warnings.append(
                "no read permission: an interrupted upload restarts from the beginning and "
                "the upload cannot be verified afterwards"
            )

    if problems:
        # One line, de-duplicated, in the order found.
        seen: list[str] = []
        for p in problems:
            if p not in seen:
                seen.append(p)
        raise SasError(f"{where}: " + "; ".join(seen))
    return SasCheck(warnings=tuple(redact(w) for w in warnings))
