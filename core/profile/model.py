"""The profile schema, version 1 (DESIGN.md "Profile, YAML, version 1"), as typed models.

Each field's docstring is its documentation (`use_attribute_docstrings`), shown by the wizard
and by `pstimport profile show --help`. The models check types and single-value bounds; rules
that span fields or touch the file system live in `core.profile.checks`, so they can report
precise key paths and run on a profile built in code (the wizard) as well as on a loaded one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

from core.online import default_transport, impersonation_default

# Version 2 (pstimport for the 2027 Exchange Online): a profile that does not say `transport` gets
# Graph for Exchange Online, and one that does not say `impersonation` gets the rule of
# `core.online.impersonation_default`. Version 1 documents meant ews and false there, and are
# migrated to say so (core.profile.migrate), so a saved profile keeps its meaning.
PROFILE_VERSION = 2

TARGETS = ("exchange-online", "on-premises")
TRANSPORTS = ("ews", "graph")
DISCOVERIES = ("autodiscover", "direct")
AUTH_METHODS = ("password", "oauth-app", "oauth-device")
STORES = ("mailbox", "archive")
ROOTS = ("pst-name", "store-root", "folder")
ITEM_TYPES = ("mail", "calendar", "contacts", "tasks", "notes", "journal")

Target = Literal["exchange-online", "on-premises"]
Transport = Literal["ews", "graph"]
Discovery = Literal["autodiscover", "direct"]
AuthMethod = Literal["password", "oauth-app", "oauth-device"]
Store = Literal["mailbox", "archive"]
Root = Literal["pst-name", "store-root", "folder"]
ItemType = Literal["mail", "calendar", "contacts", "tasks", "notes", "journal"]
Keyring = Literal["system", "encrypted-file"]
KEYRINGS = ("system", "encrypted-file")


def _as_date(value: Any) -> Any:
    """Accept a YAML date or an ISO `YYYY-MM-DD` string; refuse timestamps and other text."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"must be a date like 2016-01-31, not a timestamp ({value.isoformat()})")
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not a date: {value!r} (write it as YYYY-MM-DD, e.g. 2016-01-31)") from None
    return value


Date = Annotated[dt.date, BeforeValidator(_as_date)]


class _Model(BaseModel):
    # strict: YAML already types its scalars, so "4" for a number is a mistake worth naming
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, use_attribute_docstrings=True)


class Auth(_Model):
    """How pstimport signs in. The secret itself is never here: it lives in the OS keyring."""

    method: AuthMethod = "password"
    """`password` (NTLM/Basic, on-premises), `oauth-app` (app-only, client secret or certificate)
    or `oauth-device` (delegated sign-in with a device code, for Exchange Online)."""
    username: str | None = None
    """The account that signs in (`password`), or the sign-in hint (`oauth-device`). With
    impersonation it is a service account, not the mailbox owner."""
    cache_password: bool = True
    """Keep the password or client secret in a keyring (see `keyring`). When false it is asked
    for on every run (or given with --password-stdin or an environment variable)."""
    keyring: Keyring = "system"
    """Which keyring holds it when `cache_password` is true: `system`, the OS's own (Secret
    Service, KWallet, macOS Keychain, Windows Credential Locker), or `encrypted-file`, an
    AES-encrypted file with a password of its own (for SSH sessions and servers without an OS
    keyring; PSTIMPORT_KEYRING_PASSWORD or a prompt unlocks it). PSTIMPORT_KEYRING overrides it."""
    tenant_id: str | None = None
    """The Entra ID (Azure AD) tenant, a GUID or a domain such as contoso.onmicrosoft.com.
    Required for `oauth-app`; for `oauth-device` it defaults to `organizations`."""
    client_id: str | None = None
    """The application (client) ID of the app registration, a GUID. Required for OAuth."""
    certificate: str | None = None
    """For `oauth-app` with a certificate instead of a client secret: path to a PEM file holding
    the private key and certificate (relative to the profile's folder)."""


class Connection(_Model):
    """Where the mailbox lives and how to reach it."""

    target: Target
    """`exchange-online` (Microsoft 365) or `on-premises` (Exchange Server 2013 and later)."""
    transport: Transport = "ews"
    """`graph` (Microsoft Graph; Exchange Online only) or `ews` (Exchange Web Services). When left out:
    graph for Exchange Online, ews on-premises. EWS into Exchange Online needs the app on the tenant's
    EWSAllowedAppIDs list and ends on 2027-04-01."""
    discovery: Discovery = "autodiscover"
    """`autodiscover` finds the EWS endpoint from the mailbox address; `direct` uses `ews_url`."""
    ews_url: str | None = None
    """The EWS endpoint, e.g. https://mail.example.com/EWS/Exchange.asmx. Required with
    `discovery: direct`."""
    auth: Auth = Field(default_factory=Auth)
    """How to sign in."""
    impersonation: bool = False
    """EWS: act as the mailbox owner through Exchange impersonation (ApplicationImpersonation role, or an
    app's full_access_as_app), instead of as `auth.username` itself. When left out: on for `oauth-app`
    and whenever `auth.username` is not the mailbox itself (a service account); off when the mailbox's
    owner signs in. Required for `oauth-app` over EWS; Graph does not use it."""
    verify_tls: bool = True
    """Check the server's TLS certificate. Turn off only for a lab server you trust."""
    ca_bundle: str | None = None
    """A PEM file of CA certificates to trust in addition to the system's (relative to the
    profile's folder), for servers with an internal CA."""
    timeout_seconds: int = Field(default=60, ge=5, le=3600)
    """How long connecting may take in all, sign-in excepted: the preflight, and its retries when
    the server is busy, drops the connection or answers HTTP 5xx (each request waits at most 30 s).
    After that pstimport gives up with exit code 75 (try again later)."""


class Destination(_Model):
    """Where in the mailbox the PST's folders go."""

    store: Store = "mailbox"
    """`mailbox` (the primary mailbox) or `archive` (its online/in-place archive)."""
    root: Root = "pst-name"
    """`pst-name`: under a folder named after the PST file; `store-root`: merged into the top of
    the store (Inbox into Inbox); `folder`: under `folder`."""
    folder: str | None = None
    """With `root: folder`, the folder path to import under, e.g. "Imported/2016"."""


class Source(_Model):
    """One PST or OST file to import."""

    path: str
    """The PST/OST file; a relative path is relative to the profile's folder."""
    include: list[str] = Field(default_factory=list)
    """Folder path globs to import, e.g. "Inbox/**"; empty means every folder. Paths are folder
    names joined by "/" from the top of the PST; `*` matches within one name, `**` any depth
    (including none), `?` one character; matching ignores case; `\\` escapes a special character."""
    exclude: list[str] = Field(default_factory=list)
    """Folder path globs to leave out; they win over `include`."""
    codepage: str | None = None
    """For ANSI PSTs, the code page of their text (cp1252, cp932...), when the store's own
    code page is missing or wrong."""

    def selects(self, folder_path: Sequence[str]) -> bool:
        """Whether the folder at `folder_path` (names from the top of the PST) is imported."""
        from core.profile.globs import compile_glob

        if self.include and not any(compile_glob(g).matches(folder_path) for g in self.include):
            return False
        return not any(compile_glob(g).matches(folder_path) for g in self.exclude)


class Filters(_Model):
    """Which items to import."""

    item_types: list[ItemType] = Field(default_factory=lambda: list(ITEM_TYPES))
    """Kinds of item to import: mail, calendar, contacts, tasks, notes, journal."""
    after: Date | None = None
    """Import only items dated on or after this day (YYYY-MM-DD)."""
    before: Date | None = None
    """Import only items dated before this day (YYYY-MM-DD); the day itself is left out."""

    def accepts_date(self, when: dt.date | dt.datetime | None) -> bool:
        """Whether an item dated `when` passes `after`/`before`. Undated items always pass."""
        if when is None:
            return True
        day = when.date() if isinstance(when, dt.datetime) else when
        if self.after is not None and day < self.after:
            return False
        return not (self.before is not None and day >= self.before)


class AddressRewriting(_Model):
    """Turn legacy Exchange addresses (EX/X500) in old PSTs into SMTP addresses."""

    enabled: bool = True
    """Rewrite addresses at all."""
    contacts: bool = True
    """Look addresses up in the PST's own contacts."""
    gal: bool = True
    """Look names up in the server's address list (GAL)."""
    recipient_collection: bool = True
    """Learn EX-to-SMTP pairs from the PST's own messages (sender and recipient properties)."""
    map_file: str | None = None
    """A CSV of `legacy address,smtp address` pairs, checked first (relative to the profile's folder)."""


class Performance(_Model):
    """How hard to push the server."""

    max_threads: int = Field(default=4, ge=1, le=32)
    """Concurrent requests to the server, 1 to 32. Exchange's default EWS throttling allows about
    10 per user; above that expect ErrorServerBusy and back-off."""
    batch_items: int = Field(default=10, ge=1, le=100)
    """Items per create request, 1 to 100 (20 at most for Graph, whose JSON batches hold 20)."""
    batch_megabytes: int = Field(default=16, ge=1, le=100)
    """Largest create request in megabytes, 1 to 100; a bigger item travels alone."""


class Report(_Model):
    """Where the verification report goes."""

    directory: str = "reports"
    """Folder for the JSON and HTML reports (relative to the profile's folder)."""


class Profile(_Model):
    """A saved run: one mailbox, its connection, the PSTs and how to import them."""

    version: Literal[2] = PROFILE_VERSION
    """The profile format version; this pstimport writes version 2 and reads versions 1 and 2."""
    name: str
    """A short name for the run, used in reports and journals, e.g. matt-backup."""
    connection: Connection
    """Where the mailbox lives and how to sign in."""
    mailbox: str
    """The mailbox to import into (its primary SMTP address)."""
    destination: Destination = Field(default_factory=Destination)
    """Where in the mailbox the PST's folders go."""
    sources: list[Source] = Field(min_length=1)
    """The PST/OST files to import (at least one)."""
    filters: Filters = Field(default_factory=Filters)
    """Which items to import."""
    address_rewriting: AddressRewriting = Field(default_factory=AddressRewriting)
    """Rewriting of legacy Exchange addresses."""
    performance: Performance = Field(default_factory=Performance)
    """Concurrency and batching."""
    report: Report = Field(default_factory=Report)
    """The verification report."""

    # Where the profile was loaded from, and the document's key order (see core.profile.io).
    _path: Path | None = PrivateAttr(default=None)
    _key_order: dict[tuple, list[str]] = PrivateAttr(default_factory=dict)
    _header: list[str] = PrivateAttr(default_factory=list)
    _comments: Any = PrivateAttr(default=None)  # core.profile.io.Comments of the loaded document
    _warnings: list = PrivateAttr(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _connection_defaults(cls, data: Any) -> Any:
        """Fill in `transport` and `impersonation` when the document leaves them out: their defaults
        depend on other keys (the target; the account and the mailbox), so a plain field default
        cannot say them. They count as set, so a saved profile states its route."""
        if not isinstance(data, dict) or not isinstance(data.get("connection"), dict):
            return data
        conn = data["connection"]
        if "transport" in conn and "impersonation" in conn:
            return data
        conn = dict(conn)
        auth = conn.get("auth") if isinstance(conn.get("auth"), dict) else {}
        if "transport" not in conn:
            conn["transport"] = "ews" if conn.get("ews_url") is not None else default_transport(conn.get("target"))
        if "impersonation" not in conn:
            username, mailbox = auth.get("username"), data.get("mailbox")
            conn["impersonation"] = impersonation_default(
                auth.get("method", "password"),
                username if isinstance(username, str) else None,
                mailbox if isinstance(mailbox, str) else None,
            )
        return {**data, "connection": conn}

    def __eq__(self, other: object) -> bool:
        # Two profiles are equal when they say the same thing, wherever they were loaded from.
        if not isinstance(other, Profile):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    # ----- construction -------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        *,
        name: str,
        mailbox: str,
        sources: Sequence[str | Path],
        target: Target = "exchange-online",
        transport: Transport | None = None,
        ews_url: str | None = None,
        auth_method: AuthMethod | None = None,
        username: str | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        impersonation: bool | None = None,
        **sections: Any,
    ) -> Profile:
        """A fresh profile for the wizard or the demo, with only what was given marked as set.

        `ews_url` implies `discovery: direct` and `transport: ews`; otherwise `transport` defaults to
        graph for Exchange Online and ews on-premises (`core.online.default_transport`), and
        `impersonation` to `core.online.impersonation_default`. `auth_method` defaults to `password`
        on-premises and `oauth-device` for Exchange Online. `sections` may give `destination`, `filters`,
        `address_rewriting`, `performance` or `report` as dicts or models. When saved, values
        equal to their defaults are left out of the file (see `core.profile.io.dumps_profile`).

        Raises:
            pydantic.ValidationError: a value of the wrong type or out of bounds. Cross-field
            rules are checked by `core.profile.check_profile`.
        """
        method = auth_method or ("password" if target == "on-premises" else "oauth-device")
        auth: dict[str, Any] = {"method": method}
        for key, value in (("username", username), ("tenant_id", tenant_id), ("client_id", client_id)):
            if value is not None:
                auth[key] = value
        if transport is None:
            transport = "ews" if ews_url is not None else default_transport(target)
        conn: dict[str, Any] = {"target": target, "transport": transport, "auth": auth}
        if ews_url is not None:
            conn["discovery"] = "direct"
            conn["ews_url"] = ews_url
        if impersonation is None:
            impersonation = impersonation_default(method, username, mailbox)
        conn["impersonation"] = impersonation
        data: dict[str, Any] = {
            "version": PROFILE_VERSION,
            "name": name,
            "connection": conn,
            "mailbox": mailbox,
            "sources": [{"path": str(p)} for p in sources],
        }
        for key, value in sections.items():
            if key not in cls.model_fields or key in data:
                raise TypeError(f"Profile.new() got an unexpected section {key!r}")
            data[key] = value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value
        return cls.model_validate(data)

    # ----- what the engine needs -------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The file this profile was loaded from or last saved to, if any."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are resolved against: the profile's own, or the cwd."""
        return self._path.parent if self._path is not None else Path.cwd()

    @property
    def warnings(self) -> list:
        """Problems worth a warning but not an error, found when the profile was checked."""
        return list(self._warnings)

    def resolve_path(self, value: str | Path) -> Path:
        """An absolute path for a path written in the profile (relative to `base_dir`, `~` expanded)."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).absolute()

    def source_paths(self) -> list[Path]:
        """The absolute paths of the PST/OST files, in profile order."""
        return [self.resolve_path(s.path) for s in self.sources]

    def report_dir(self) -> Path:
        """The absolute folder for verification reports."""
        return self.resolve_path(self.report.directory)

    def certificate_path(self) -> Path | None:
        """The absolute path of the OAuth certificate, if one is set."""
        cert = self.connection.auth.certificate
        return self.resolve_path(cert) if cert else None

    def ca_bundle_path(self) -> Path | None:
        """The absolute path of the extra CA bundle, if one is set."""
        ca = self.connection.ca_bundle
        return self.resolve_path(ca) if ca else None

    def map_file_path(self) -> Path | None:
        """The absolute path of the address map CSV, if one is set."""
        mf = self.address_rewriting.map_file
        return self.resolve_path(mf) if mf else None
