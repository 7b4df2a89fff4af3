"""Rules that span fields or look outside the document: the second half of profile validation.

`check_profile` runs on a `Profile` whose types are already valid, loaded or built in code
(the wizard), and returns `Problem`s that name a key path. `core.profile.io` adds the file
and line. Secrets written into a document are caught earlier, on the raw YAML data, by
`find_secrets`, so that they are refused before anything else looks at them.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core import online as eo
from core.profile.globs import GlobError, compile_glob
from core.profile.model import Profile

# Exchange's default EWS throttling policy allows 10 concurrent connections per user
# (EWSMaxConcurrency); Graph allows 4 concurrent requests per app per mailbox.
EWS_CONCURRENCY_BUDGET = 10
GRAPH_CONCURRENCY_BUDGET = 4
# Microsoft Graph JSON batching holds at most 20 requests.
GRAPH_MAX_BATCH = 20

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_ADDRESS = re.compile(r"^[^@\s<>\"',;:]+@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$")

Path_ = tuple  # a key path: ("sources", 0, "include", 1)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in a profile.

    `str(problem)` is the one-line form `FILE:LINE: key.path: message`.
    """

    path: Path_
    message: str
    severity: str = "error"  # "error" or "warning"
    kind: str = "invalid"  # "invalid", "missing-file", "secret", "syntax", "unknown-key", ...
    file: str | None = None
    line: int | None = None
    line_path: Path_ | None = None  # where to point when `path` itself is not in the document

    @property
    def key_path(self) -> str:
        """`path` written as in the document: `sources[0].include[1]`, or `(root)`."""
        return format_path(self.path)

    def located(self, file: str | None, line: int | None) -> Problem:
        """A copy naming the file and line."""
        return replace(self, file=file, line=line)

    def __str__(self) -> str:
        where = self.file or "<profile>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {self.key_path}: {prefix}{self.message}"


def format_path(path: Path_) -> str:
    """("sources", 0, "path") -> "sources[0].path"; () -> "(root)"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


# ----- secrets written into the document -------------------------------------------------------

SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "sas",
        "sas_token",
        "sas_url",
        "sas_key",
        "api_key",
        "apikey",
        "private_key",
        "certificate_password",
        "key_password",
        "credentials",
    }
)
_SECRET_SUFFIXES = ("_password", "_secret", "_token", "_passphrase", "_sas")
NOT_SECRET_KEYS = frozenset({"cache_password"})
_SAS_SIGNATURE = re.compile(r"[?&]sig=[^&\s]+", re.IGNORECASE)

WHERE_SECRETS_GO = (
    "secrets never go in a profile: the password or client secret lives in the OS keyring "
    "(`pstimport profile set-secret PROFILE.yaml`), or comes at run time from --password-stdin "
    "or PSTIMPORT_PASSWORD / PSTIMPORT_CLIENT_SECRET; remove this"
)


def is_secret_key(key: Any) -> bool:
    """Whether a key name says its value is a secret (password, client_secret, token, sas...)."""
    if not isinstance(key, str):
        return False
    k = key.strip().lower().replace("-", "_")
    if k in NOT_SECRET_KEYS:
        return False
    return k in SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


def find_secrets(data: Any, path: Path_ = ()) -> Iterator[Problem]:
    """Every secret-looking key, SAS signature or password-bearing URL in a raw YAML document.

    The messages never repeat the secret.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            sub = (*path, key)
            if is_secret_key(key) and value not in (None, "", [], {}):
                yield Problem(sub, WHERE_SECRETS_GO, kind="secret")
            elif is_secret_key(key):
                yield Problem(
                    sub, "a secret key has no place in a profile, even empty; " + WHERE_SECRETS_GO, kind="secret"
                )
            else:
                yield from find_secrets(value, sub)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from find_secrets(value, (*path, i))
    elif isinstance(data, str):
        if _SAS_SIGNATURE.search(data):
            yield Problem(path, "looks like a SAS URL with its signature (sig=...); " + WHERE_SECRETS_GO, kind="secret")
        elif "://" in data:
            try:
                has_password = urlsplit(data.strip()).password is not None
            except ValueError:
                has_password = False
            if has_password:
                yield Problem(
                    path, "this URL carries a password (user:password@host); " + WHERE_SECRETS_GO, kind="secret"
                )


# ----- the cross-field rules ---------------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str | None:
    """Why `url` is not a usable http(s) URL, or None if it is."""
    u = url.strip()
    if u != url or any(c.isspace() for c in u):
        return f"not a URL: {url!r} has spaces in it"
    try:
        parts = urlsplit(u)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"not a URL: {url!r} ({exc})"
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        return f"not an http(s) URL: {url!r} (e.g. https://mail.example.com/EWS/Exchange.asmx)"
    return None


def _path_text(profile: Profile) -> str | None:
    return str(profile.path) if profile.path is not None else None


def _check_signature(path: Path_, file: Path, err: Callable[..., None]) -> None:
    """The PST header check `run` makes before anything else, so `validate` refuses what `run` would."""
    if not file.is_file():
        return  # need_file said so already
    from core.errors import PstError
    from core.pst.header import sniff

    try:
        sniff(str(file))
    except PstError as exc:
        err(path, f"{file}: {exc.reason}", kind="bad-file")


def check_profile(profile: Profile, *, check_files: bool = True, check_signatures: bool = False) -> list[Problem]:
    """The rules the types alone cannot express; paths are resolved against `profile.base_dir`.

    Args:
        profile: a profile whose values already have valid types.
        check_files: also check that the files it names exist (sources, certificate, CA bundle,
            address map). `pstimport profile validate --no-check-files` turns this off.
        check_signatures: with `check_files`, also read each source's header as `run` does, so a
            file that is not a PST (or is truncated or damaged) is refused here too.

    Returns:
        Errors and warnings, in document order, without file or line (the loader adds them).
    """
    out: list[Problem] = []

    def err(path: Path_, message: str, kind: str = "invalid", line_path: Path_ | None = None) -> None:
        out.append(Problem(path, message, kind=kind, line_path=line_path))

    def warn(path: Path_, message: str, line_path: Path_ | None = None) -> None:
        out.append(Problem(path, message, severity="warning", kind="advice", line_path=line_path))

    def need_file(path: Path_, value: str, what: str) -> None:
        if not check_files:
            return
        if any(ord(ch) < 32 for ch in value):
            err(path, f"{what} path has a control character in it: {value!r}")
            return
        p = profile.resolve_path(value)
        if not p.exists():
            err(path, f"{what} not found: {p}", kind="missing-file")
        elif not p.is_file():
            err(path, f"{what} is not a file: {p}", kind="missing-file")

    # name
    name = profile.name
    if not name.strip():
        err(("name",), "must not be empty")
    elif any(c in name for c in "/\\") or any(ord(c) < 32 for c in name) or len(name) > 100:
        err(
            ("name",),
            f"{name!r} cannot name report and journal files: use letters, digits, spaces, '-', '_'"
            " or '.', at most 100 characters",
        )

    # connection
    c = profile.connection
    a = c.auth
    online = c.target == "exchange-online"
    if c.transport == "graph" and not online:
        err(
            ("connection", "transport"),
            "graph is only for Exchange Online (target: exchange-online); on-premises Exchange is reached over ews",
        )
    if c.transport == "ews" and online:
        if eo.ews_retired():
            # A warning, not an error: the refusal itself is recognised in the preflight, and a
            # sovereign cloud may keep EWS longer than the worldwide service.
            warn(
                ("connection", "transport"),
                f"Exchange Online turned EWS off for every app on {eo.EWS_RETIRED.isoformat()}: "
                + (
                    eo.archive_advice(_path_text(profile))
                    if profile.destination.store == "archive"
                    else "use transport: graph"
                ),
            )
        else:
            warn(("connection", "transport"), eo.ews_online_notice(a.client_id))
    if c.transport == "graph" and online and profile.destination.store == "archive":
        warn(
            ("destination", "store"),
            "Microsoft Graph cannot reach archive mailboxes, so a run stops in its preflight: "
            + eo.archive_advice(_path_text(profile)),
        )
    if c.transport == "graph" and (c.discovery == "direct" or c.ews_url is not None):
        bad = ("connection", "ews_url") if c.ews_url is not None else ("connection", "discovery")
        err(bad, "discovery and ews_url are for transport: ews; Graph has one endpoint and needs neither")
    elif c.discovery == "direct" and c.ews_url is None:
        err(
            ("connection", "ews_url"),
            "required when discovery is direct (e.g. https://mail.example.com/EWS/Exchange.asmx)",
            line_path=("connection", "discovery"),
        )
    elif c.ews_url is not None and c.discovery == "autodiscover":
        err(
            ("connection", "ews_url"),
            "is ignored with discovery: autodiscover; set discovery: direct to use it, or remove it",
        )
    if c.ews_url is not None:
        why = check_url(c.ews_url)
        if why:
            err(("connection", "ews_url"), why)
        else:
            parts = urlsplit(c.ews_url)
            if parts.scheme.lower() == "http" and not _is_loopback(parts.hostname):
                warn(("connection", "ews_url"), "plain http: credentials and mail cross the network unencrypted")
    if c.ca_bundle is not None:
        need_file(("connection", "ca_bundle"), c.ca_bundle, "CA bundle")
        if not c.verify_tls:
            warn(("connection", "ca_bundle"), "is not used while verify_tls is false")
    if not c.verify_tls:
        warn(
            ("connection", "verify_tls"),
            "false: the server's certificate is not checked, so anyone on the path can pose as the server and "
            "read the password and the mail; for a server with an internal CA set ca_bundle instead",
        )

    # auth
    auth_path = ("connection", "auth")
    if a.method == "password":
        if online:
            err(
                (*auth_path, "method"),
                "Exchange Online no longer accepts passwords for EWS or Graph (Microsoft retired Basic "
                "authentication in 2022); use oauth-app or oauth-device",
            )
        if not a.username:
            err(
                (*auth_path, "username"),
                "required for method: password (DOMAIN\\user or user@domain)",
                line_path=(*auth_path, "method"),
            )
        for key in ("tenant_id", "client_id", "certificate"):
            if getattr(a, key) is not None:
                warn((*auth_path, key), "is only used with OAuth (oauth-app or oauth-device)")
    else:
        if not online:
            warn(
                (*auth_path, "method"),
                "OAuth with on-premises Exchange needs hybrid modern authentication; most servers use password",
            )
        if a.method == "oauth-app" and a.tenant_id is None:
            err(
                (*auth_path, "tenant_id"),
                "required for oauth-app (the directory ID, a GUID, or contoso.onmicrosoft.com)",
                line_path=(*auth_path, "method"),
            )
        if a.client_id is None:
            err(
                (*auth_path, "client_id"),
                f"required for {a.method} (the app registration's application ID)",
                line_path=(*auth_path, "method"),
            )
        elif not _GUID.match(a.client_id):
            err(
                (*auth_path, "client_id"),
                f"not an application ID: {a.client_id!r} (a GUID such as 6731de76-14a6-49ae-97bc-6eba6914391e)",
            )
        if a.tenant_id is not None:
            tenant = a.tenant_id
            shared = tenant.lower() in ("common", "organizations", "consumers")
            if shared and a.method == "oauth-app":
                err((*auth_path, "tenant_id"), f"app-only sign-in needs your own tenant, not {tenant!r}")
            elif not (shared or _GUID.match(tenant) or _DOMAIN.match(tenant)):
                err(
                    (*auth_path, "tenant_id"),
                    f"not a tenant: {tenant!r} (a GUID, or a domain such as contoso.onmicrosoft.com)",
                )
        if a.certificate is not None:
            if a.method != "oauth-app":
                err((*auth_path, "certificate"), "is only used with method: oauth-app")
            else:
                need_file((*auth_path, "certificate"), a.certificate, "certificate")
        if a.method == "oauth-app" and c.transport == "ews" and not c.impersonation:
            err(
                ("connection", "impersonation"),
                "app-only access to EWS acts for no user of its own: set impersonation: true",
                line_path=(*auth_path, "method"),
            )

    # mailbox
    if not _ADDRESS.match(profile.mailbox.strip()) or profile.mailbox != profile.mailbox.strip():
        err(("mailbox",), f"does not look like an email address: {profile.mailbox!r} (e.g. matt@example.com)")

    # destination
    d = profile.destination
    if d.root == "folder":
        if d.folder is None or not d.folder.strip():
            err(
                ("destination", "folder"),
                'required when root is folder (e.g. "Imported/2016")',
                line_path=("destination", "root"),
            )
    elif d.folder is not None:
        err(("destination", "folder"), f"is only used with root: folder (root is {d.root})")
    if d.folder is not None and d.folder.strip():
        names = d.folder.split("/")
        if any(not n.strip() for n in names):
            err(
                ("destination", "folder"),
                f"{d.folder!r} has an empty folder name: write it like Imported/2016,"
                " without a leading, trailing or double '/'",
            )

    # sources
    seen: dict[str, int] = {}
    for i, s in enumerate(profile.sources):
        sp = ("sources", i)
        if not s.path.strip():
            err((*sp, "path"), "must not be empty")
        else:
            need_file((*sp, "path"), s.path, "PST file")
            if check_files and check_signatures:
                _check_signature((*sp, "path"), profile.resolve_path(s.path), err)
            key = str(profile.resolve_path(s.path))
            if key in seen:
                err((*sp, "path"), f"the same file as sources[{seen[key]}]")
            seen.setdefault(key, i)
        for field in ("include", "exclude"):
            for j, pattern in enumerate(getattr(s, field)):
                try:
                    compile_glob(pattern)
                except GlobError as exc:
                    err((*sp, field, j), f"bad folder glob {pattern!r}: {exc}")
        if s.codepage is not None:
            try:
                info = codecs.lookup(s.codepage)
            except (LookupError, ValueError):
                err((*sp, "codepage"), f"unknown code page {s.codepage!r} (e.g. cp1252, cp1251, cp932, cp936)")
            else:
                if not getattr(info, "_is_text_encoding", True):
                    err((*sp, "codepage"), f"{s.codepage!r} is not a text code page")

    # filters
    f = profile.filters
    if not f.item_types:
        err(("filters", "item_types"), "is empty, so nothing would be imported (leave it out to import everything)")
    dup = sorted({t for t in f.item_types if f.item_types.count(t) > 1})
    if dup:
        err(("filters", "item_types"), f"lists {', '.join(dup)} more than once")
    if f.after is not None and f.before is not None and f.after >= f.before:
        err(("filters", "before"), f"{f.before} is not after {f.after} (after), so nothing would be imported")

    # address rewriting
    ar = profile.address_rewriting
    if ar.map_file is not None:
        need_file(("address_rewriting", "map_file"), ar.map_file, "address map")
        if not ar.enabled:
            warn(("address_rewriting", "map_file"), "is not used while enabled is false")

    # performance
    p = profile.performance
    if c.transport == "ews" and p.max_threads > EWS_CONCURRENCY_BUDGET:
        warn(
            ("performance", "max_threads"),
            f"{p.max_threads} is above Exchange's default EWS budget of {EWS_CONCURRENCY_BUDGET} concurrent "
            "requests per user; expect ErrorServerBusy and back-off unless the throttling policy was raised",
        )
    if c.transport == "graph":
        if p.max_threads > GRAPH_CONCURRENCY_BUDGET:
            warn(
                ("performance", "max_threads"),
                f"Graph allows {GRAPH_CONCURRENCY_BUDGET} concurrent requests per mailbox; "
                f"{p.max_threads} will be throttled (HTTP 429)",
            )
        if p.batch_items > GRAPH_MAX_BATCH:
            err(
                ("performance", "batch_items"),
                f"must be at most {GRAPH_MAX_BATCH} with transport: graph (a Graph JSON batch holds "
                f"{GRAPH_MAX_BATCH} requests), got {p.batch_items}",
            )

    # report
    r = profile.report
    if not r.directory.strip():
        err(("report", "directory"), "must not be empty")
    elif check_files and profile.report_dir().exists() and not profile.report_dir().is_dir():
        err(("report", "directory"), f"is a file, not a folder: {profile.report_dir()}")

    return out
