"""The EWS transport over exchangelib (the only package that imports it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests.adapters
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    SHALLOW,
    Account,
    Configuration,
    Credentials,
    FailFast,
    Identity,
    OAuth2Credentials,
)
from exchangelib import errors as ex
from exchangelib.autodiscover import Autodiscovery
from exchangelib.autodiscover.protocol import AutodiscoverProtocol
from exchangelib.folders import (
    ArchiveDeletedItems,
    ArchiveMsgFolderRoot,
    Calendar,
    Contacts,
    DeletedItems,
    Drafts,
    Folder,
    FolderCollection,
    Inbox,
    Journal,
    JunkEmail,
    MsgFolderRoot,
    Notes,
    Outbox,
    SentItems,
    Tasks,
)
from exchangelib.folders.base import BaseFolder
from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter, Protocol

from core.convert.extended import ALL_EXTENDED_PROPS
from core.convert.payload import Appointment, MimePayload, Payload
from core.errors import ConnectError, TransportError
from core.transport import tls
from core.transport.base import CreateOutcome, FolderHandle, ServerInfo, StoreKind, Transport, distinct_ids
from core.transport.deadline import request_timeout
from core.transport.ews import calendar, props, wire
from core.transport.ews.auth import MsalTokenSource, OAuthSettings
from core.transport.ews.errors import (
    DEFAULT_BACK_OFF,
    TOO_LARGE_CODES,
    TRANSIENT_CODES,
    RequestRefused,
    RequestTooLarge,
    connect_error,
    upload_error,
)
from core.transport.ews.items import build_item, item_class
from core.transport.ews.refusal import HTTP_FORBIDDEN, EwsRefused, is_ews_endpoint, refusal_error, refused_upload

log = logging.getLogger(__name__)
# exchangelib warns on every busy answer ("Decreasing session pool size"); we report throttling
# ourselves, through events, so its messages are only shown with --debug.
if logging.getLogger().level > logging.DEBUG:
    # Its errors are ours to report too, and they quote whole requests (item contents) in the log.
    logging.getLogger("exchangelib").setLevel(logging.CRITICAL)

# EWS distinguished folder ids (MS-OXWSCDATA DistinguishedFolderIdNameType) and exchangelib's classes.
_DISTINGUISHED = {
    "msgfolderroot": MsgFolderRoot,
    "archivemsgfolderroot": ArchiveMsgFolderRoot,
    "inbox": Inbox,
    "sentitems": SentItems,
    "deleteditems": DeletedItems,
    "drafts": Drafts,
    "outbox": Outbox,
    "junkemail": JunkEmail,
    "calendar": Calendar,
    "contacts": Contacts,
    "tasks": Tasks,
    "notes": Notes,
    "journal": Journal,
    "archivedeleteditems": ArchiveDeletedItems,
}
# What GetFolder answers when a store has no such folder (or no archive at all).
_NO_SUCH_FOLDER = tuple(
    getattr(ex, n)
    for n in (
        "ErrorFolderNotFound",
        "ErrorItemNotFound",
        "ErrorInvalidOperation",
        "ErrorArchiveMailboxNotEnabled",
    )
    if hasattr(ex, n)
)
# Page size for FindItem when listing stamps.
FIND_PAGE = 500
# How many stamps one restriction looks up.
STAMPS_PER_QUERY = 50


HTTP_PAYLOAD_TOO_LARGE = 413
# HTTP answers to an EWS request that refuse it without a SOAP answer, whatever exchangelib would make
# of them (a 400 that closes the connection looks to it like a busy server): the request is refused.
# Not 401 (the sign-in handshake), 403 (exchangelib reads access and throttling answers), 407, 408
# (a timeout), 413 (too large, above) or 429 (busy).
HTTP_REFUSALS = frozenset({400, 404, 405, 411, 414, 415, 422, 431})


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during (exchangelib wraps what it meets while
    it guesses the server version in a TransportError)."""
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in out and len(out) < 8:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def _transient_connect_reason(exc: BaseException) -> tuple[str, float] | None:
    """(why, back-off seconds) when a failed connect attempt is worth another try (the server busy,
    an HTTP 5xx, a dropped connection, a timeout); None when it is not (refused, unknown host, TLS,
    credentials, no such mailbox...)."""
    for one in _chain(exc):
        if isinstance(one, ex.ErrorServerBusy) and str(one).startswith("The server cannot service"):
            return "the server is busy (ErrorServerBusy)", min(one.back_off or DEFAULT_BACK_OFF, 30.0)
    text = " ".join(str(one) for one in _chain(exc)).lower()
    if any(w in text for w in ("refused", "name or service", "resolve", "no route", "certificate")):
        return None
    for needle, reason in (
        ("remotedisconnected", "the server closed the connection"),
        ("connection aborted", "the server closed the connection"),
        ("caused by closed connection", "the server closed the connection"),
        ("connection reset", "the server reset the connection"),
        ("http 503", "the server is unavailable (HTTP 503)"),
        ("http 5", "the server answered HTTP 5xx"),
        ("read timed out", "no answer in time (a request timed out)"),
        ("timed out", "no answer in time (a request timed out)"),
        ("serverbusy", "the server is busy (ErrorServerBusy)"),
        ("cannot service this request", "the server is busy (ErrorServerBusy)"),
    ):
        if needle in text:
            return reason, DEFAULT_BACK_OFF if "busy" in reason else 0.0
    if any(isinstance(one, ex.ErrorInternalServerTransientError | ex.ErrorTooManyObjectsOpened) for one in _chain(exc)):
        return f"the server reported a transient error ({type(exc).__name__})", 0.0
    if any(isinstance(one, ex.ErrorTimeoutExpired | requests.exceptions.Timeout) for one in _chain(exc)):
        return "no answer in time (a request timed out)", 0.0
    return None


@dataclass
class EwsSettings:
    """Everything the EWS transport needs, taken from a profile plus the secret."""

    mailbox: str
    store: StoreKind = "mailbox"
    discovery: str = "direct"  # or autodiscover
    ews_url: str | None = None
    autodiscover_url: str | None = None
    """An Autodiscover endpoint to ask first (instead of DNS-derived ones), e.g. for a lab."""
    method: str = "password"
    username: str | None = None
    secret: str | None = None
    auth_type: str | None = None  # NTLM | basic | None (ask the server)
    tenant_id: str | None = None
    client_id: str | None = None
    certificate: Path | None = None
    impersonation: bool = False
    verify_tls: bool = True
    ca_bundle: Path | None = None
    max_connections: int = 4
    show_device_code: Any = None
    """Called with the device-code sign-in instructions (URL and code); default: print them."""
    target: str = "on-premises"
    """`exchange-online` or `on-premises`: how an EWS refusal (HTTP 403) is explained."""
    profile_path: str | None = None
    """The profile's file, named in advice (the Import Service plan command)."""


class MsalCredentials(OAuth2Credentials):
    """exchangelib OAuth credentials whose tokens come from msal, also when they expire mid-import.

    No client secret is given to exchangelib, so it never refreshes against its hard-wired
    login.microsoftonline.com; on TokenExpiredError it calls `refresh`, which asks msal (which
    uses its cache, the refresh token or the client credential, at the configured authority).
    """

    def __init__(self, source: MsalTokenSource, **kwargs: Any) -> None:
        super().__init__(client_secret="", **kwargs)
        self._source = source

    def refresh(self, session: Any) -> None:
        self.access_token = self._source.token()

    def session_params(self) -> dict:
        # exchangelib drops the app-only token whenever it retires a session, then would fetch a
        # new one itself from login.microsoftonline.com; give it msal's instead.
        if self.access_token is None:
            self.access_token = self._source.token()
        return super().session_params()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


class OwnCredentials(Credentials):
    """Username and password that compare by identity, so each transport gets its own exchangelib
    Protocol. exchangelib shares one Protocol (one session pool of `max_connections`) between equal
    credentials on one endpoint, so the mailboxes a service account impersonates in a batch would
    all squeeze through the first one's pool and lose their own throttling state."""

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _closes(response: Any) -> bool:
    """Whether the server closes the connection after this answer."""
    return (response.headers.get("Connection") or "").lower() == "close"


def _adapter_for(
    settings: EwsSettings, deadline: Callable[[], float | None] = lambda: None
) -> type[requests.adapters.HTTPAdapter]:
    """The HTTP adapter for exchangelib (its documented `BaseProtocol.HTTP_ADAPTER_CLS` hook).

    - TLS by `core.transport.tls`'s rule (verify_tls, ca_bundle, REQUESTS_CA_BUNDLE);
    - while connecting (`deadline()` set), each request's timeout cut to what is left of the
      connect time (`core.transport.deadline`; exchangelib waits 120 s);
    - an HTTP 413 surfaced as such (exchangelib would report it as a busy server when the answer
      also closes the connection);
    - an HTTP 403 from the EWS endpoint as an `EwsRefused` (exchangelib reports it as "Unknown
      failure in response"; see refusal.py).
    """
    verify = tls.verify_for(settings.verify_tls, settings.ca_bundle)
    base = NoVerifyHTTPAdapter if verify is False else requests.adapters.HTTPAdapter

    class PstImportAdapter(base):  # type: ignore[misc, valid-type]
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["verify"] = verify  # core.transport.tls's rule, whatever requests took from the environment
            limit = deadline()
            if limit is not None:
                timeout = kwargs.get("timeout")
                default = timeout if isinstance(timeout, (int, float)) else BaseProtocol.TIMEOUT
                kwargs["timeout"] = request_timeout(limit, default)
            response = super().send(request, *args, **kwargs)
            if response.status_code == HTTP_PAYLOAD_TOO_LARGE:
                response.close()
                size = len(request.body or b"")
                raise RequestTooLarge(f"HTTP 413: the server refused a request of {size // 1024} KB as too large")
            if response.status_code == HTTP_FORBIDDEN and is_ews_endpoint(request.url or ""):
                response.close()
                raise EwsRefused(request.url)
            if response.status_code in HTTP_REFUSALS and is_ews_endpoint(request.url or ""):
                # Only EWS requests: Autodiscover probes expect 4xx answers and go on to the next URL.
                if _closes(response):
                    # Refused and the connection closed: sent once more, on a new connection (this
                    # session's only one is gone), before it is believed. A refused request was not
                    # carried out, so this is safe; it is what gets past a server that refuses the
                    # request after a large one on a kept-alive connection (gromox: DEVIATION_KEEPALIVE).
                    response.close()
                    response = super().send(request, *args, **kwargs)
                if response.status_code in HTTP_REFUSALS:
                    status, reason = response.status_code, response.reason or ""
                    response.close()
                    raise RequestRefused(status, reason)
            return response

    return PstImportAdapter


def _keep_pool(protocol: Any) -> None:
    """Stop exchangelib from shrinking its session pool; our limiter paces every worker instead.

    exchangelib 5.6 answers ErrorServerBusy and ErrorExceededConnectionCount by taking a session
    out of the shared pool (`Protocol.decrease_poolsize`), which waits for a free session while it
    holds the pool lock: with every session checked out by upload threads, and those threads
    needing the lock to get or grow the pool, the import hangs. Refusing as exchangelib does at
    its minimum size makes it raise the fault to us (it already does so under FailFast), where it
    becomes our ServerBusy and the adaptive limiter backs off.
    """

    def refuse() -> None:
        raise ex.SessionPoolMinSizeReached("pstimport paces requests itself")

    protocol.decrease_poolsize = refuse


class EwsTransport(Transport):
    """A mailbox (or its archive) reached over EWS."""

    def __init__(self, settings: EwsSettings, token_source: MsalTokenSource | None = None) -> None:
        self.settings = settings
        self._token_source = token_source
        self.account: Account | None = None
        self._root: BaseFolder | None = None
        self._url: str | None = None
        self._folder_lock = threading.Lock()
        self._refused: EwsRefused | None = None  # set once the EWS policy refused an upload (HTTP 403)
        self._config: Configuration | None = None
        self._first_token: dict | None = None
        # Child folders of each parent seen, by case-folded name (ensure_folder), and a lock per parent
        # so threads setting up its children list it once.
        self._listings: dict[str, dict[str, FolderHandle]] = {}
        self._listing_locks: dict[str, threading.Lock] = {}
        # Register up front what the converter sets, so no upload thread edits a class's fields.
        props.register_all(list(ALL_EXTENDED_PROPS))

    # ----- connect ------------------------------------------------------------------------

    def _credentials(self) -> Any:
        s = self.settings
        if s.method == "password":
            if not s.username or s.secret is None:
                raise ConnectError("password sign-in needs connection.auth.username and a password")
            return OwnCredentials(s.username, s.secret)
        if self._token_source is None:
            self._token_source = MsalTokenSource(
                OAuthSettings(
                    method=s.method,
                    tenant_id=s.tenant_id,
                    client_id=s.client_id or "",
                    client_secret=s.secret if s.certificate is None else None,
                    certificate=s.certificate,
                    certificate_password=s.secret if s.certificate is not None else None,
                    username=s.username,
                    verify=tls.verify_for(s.verify_tls, s.ca_bundle),
                ),
                cache_load=self._cache_load,
                cache_save=self._cache_save,
                show_device_code=s.show_device_code,
            )
        if self._first_token is None:
            self._first_token = self._token_source.token()
        token = self._first_token  # every attempt of one connect signs in once; msal renews it after
        identity = Identity(primary_smtp_address=s.mailbox) if s.impersonation else None
        return MsalCredentials(
            self._token_source,
            client_id=s.client_id or "",
            tenant_id=s.tenant_id,
            identity=identity,
            access_token=token,
        )

    def _cache_key(self) -> str:
        s = self.settings
        return f"oauth-token-cache:{s.tenant_id or 'organizations'}:{s.client_id}:{(s.username or s.mailbox).lower()}"

    def _cache_load(self) -> str | None:
        """The delegated token cache from the keyring (None when there is no usable keyring)."""
        if self.settings.method != "oauth-device":
            return None
        try:
            from core.profile.secrets import SERVICE, open_keyring

            return open_keyring().get_password(SERVICE, self._cache_key())
        except Exception:  # noqa: BLE001 - no keyring: sign in again next time
            return None

    def _cache_save(self, state: str) -> None:
        if self.settings.method != "oauth-device":
            return
        try:
            from core.profile.secrets import SERVICE, open_keyring

            open_keyring().set_password(SERVICE, self._cache_key(), state)
        except Exception:  # noqa: BLE001
            log.warning("the sign-in could not be kept in the keyring; you will be asked again next run")

    def _auth_type(self) -> str | None:
        if self.settings.method != "password":
            return None
        return {"ntlm": NTLM, "basic": BASIC}.get((self.settings.auth_type or "").lower())

    def _discover(self, credentials: Any) -> str:
        s = self.settings
        try:
            if s.autodiscover_url:
                ad = Autodiscovery(email=s.mailbox, credentials=credentials)
                protocol = AutodiscoverProtocol(
                    config=Configuration(
                        service_endpoint=s.autodiscover_url,
                        credentials=credentials,
                        auth_type=self._auth_type() or NTLM if s.method == "password" else None,
                        retry_policy=FailFast(),
                    )
                )
                response = ad._quick(protocol=protocol)  # the GetUserSettings call exchangelib caches
                return response.ews_url
            ad_response, protocol = Autodiscovery(email=s.mailbox, credentials=credentials).discover()
            return protocol.service_endpoint
        except ex.AutoDiscoverFailed as exc:
            raise connect_error(
                exc, url=s.autodiscover_url, user=s.username, mailbox=s.mailbox, method=s.method, discovery=s.discovery
            ) from None

    @property
    def endpoint(self) -> str:
        s = self.settings
        if self._url or s.ews_url:
            return self._url or s.ews_url or ""
        return f"Autodiscover for {s.mailbox}"

    def sign_in(self) -> None:
        """For OAuth, get the first token now (a device-code sign-in waits for the user here)."""
        if self.settings.method != "password":
            self._credentials()

    def connect(self) -> ServerInfo:
        """Connect and run the preflight, once: `core.engine.connect.connect_transport` retries a
        `ConnectError` marked `transient` (busy, HTTP 5xx, a dropped connection, a timeout)."""
        return self._connect()

    def _connect(self) -> ServerInfo:
        s = self.settings
        BaseProtocol.HTTP_ADAPTER_CLS = _adapter_for(s, lambda: self.connect_deadline)
        url = s.ews_url
        try:
            credentials = self._credentials()
            if s.discovery == "autodiscover" or not url:
                url = self._discover(credentials)
            self._url = url
            config = Configuration(
                service_endpoint=url,
                credentials=credentials,
                auth_type=self._auth_type(),
                retry_policy=FailFast(),
                max_connections=s.max_connections,
            )
            self._config = config
            self.account = Account(
                primary_smtp_address=s.mailbox,
                config=config,
                autodiscover=False,
                access_type=IMPERSONATION if s.impersonation else DELEGATE,
            )
            root = self._open_root()
            version = self.account.protocol.version
            can_create = True
            rights = getattr(root, "effective_rights", None)
            if rights is not None and rights.create_hierarchy is False:
                can_create = False
        except ConnectError:
            raise
        except Exception as exc:  # noqa: BLE001 - every library failure becomes one line here
            self._forget_protocol()
            # Refused by the server's EWS policy (HTTP 403): never transient, named with its fix.
            refused = refusal_error(
                exc,
                online_target=s.target == "exchange-online",
                mailbox=s.mailbox,
                client_id=s.client_id,
                store=s.store,
                profile_path=s.profile_path,
            )
            if refused is not None:
                raise refused from None
            transient = _transient_connect_reason(exc)
            if transient is not None:
                reason, back_off = transient
                where = url or self.endpoint
                raise ConnectError(f"{where}: {reason}", transient=True, back_off_seconds=back_off) from None
            raise connect_error(
                exc, url=url, user=s.username, mailbox=s.mailbox, method=s.method, discovery=s.discovery
            ) from None
        if not can_create:
            raise ConnectError(
                f"{url}: {s.username or 'this account'} may not create folders in {s.mailbox}: "
                "grant FullAccess on the mailbox or use impersonation"
            )
        self._restore_pool()
        build = getattr(version, "build", None)
        return ServerInfo(
            url=url or "",
            version=f"{version.api_version} ({build})",
            mailbox=s.mailbox,
            store=s.store,
            can_create_folders=can_create,
        )

    def _forget_protocol(self) -> None:
        """After a failed attempt: close this attempt's exchangelib Protocol and drop it from
        exchangelib's cache (which keeps a failed one's exception and would raise it again)."""
        config, self._config = self._config, None
        if config is not None:
            try:
                del Protocol[config]
            except KeyError:
                pass
        account, self.account = self.account, None
        if account is not None:
            try:
                account.protocol.close()
            except Exception:  # noqa: BLE001 - best effort
                pass

    def _open_root(self) -> BaseFolder:
        assert self.account is not None
        name = "archivemsgfolderroot" if self.settings.store == "archive" else "msgfolderroot"
        folder = self._distinguished(name)
        if folder is None:
            if self.settings.store == "archive":
                raise ConnectError(
                    f"{self._url}: {self.settings.mailbox} has no archive: enable it "
                    f"(Enable-Mailbox -Archive) or set destination.store: mailbox"
                )
            raise ConnectError(f"{self._url}: cannot open the mailbox {self.settings.mailbox}")
        self._root = folder
        return folder

    def _distinguished(self, name: str) -> BaseFolder | None:
        """A well-known folder by its EWS distinguished id, or None when the store has none."""
        assert self.account is not None
        cls = _DISTINGUISHED[name]
        try:
            root = self.account.archive_root if name.startswith("archive") else self.account.root
            return cls.get_distinguished(root=root)
        except _NO_SUCH_FOLDER:
            return None

    def _upload_error(self, exc: BaseException) -> Exception:
        return upload_error(exc)

    def _restore_pool(self) -> None:
        """Give back sessions exchangelib dropped before `_keep_pool` was in place (during connect)."""
        if self.account is None:
            return
        protocol = self.account.protocol
        _keep_pool(protocol)
        while protocol.session_pool_size < protocol.max_connections:
            try:
                protocol.increase_poolsize()
            except Exception:  # noqa: BLE001 - best effort
                break

    # ----- folders ------------------------------------------------------------------------

    def _handle(self, folder: BaseFolder, path: tuple[str, ...], item_count: int | None = None) -> FolderHandle:
        return FolderHandle(
            id=folder.id,
            path=path,
            display_name=folder.name or "",
            container_class=getattr(folder, "folder_class", None),
            native=folder,
            item_count=item_count,
        )

    def store_root(self) -> FolderHandle:
        if self._root is None:
            self._open_root()
        return self._handle(self._root, ())

    _ROLES = {
        "mailbox": {
            "inbox": "inbox",
            "sent": "sentitems",
            "deleted": "deleteditems",
            "drafts": "drafts",
            "outbox": "outbox",
            "junk": "junkemail",
            "calendar": "calendar",
            "contacts": "contacts",
            "tasks": "tasks",
            "notes": "notes",
            "journal": "journal",
        },
        "archive": {"deleted": "archivedeleteditems"},
    }

    def well_known(self, role: str) -> FolderHandle | None:
        name = self._ROLES[self.settings.store].get(role)
        if name is None:
            return None
        try:
            folder = self._distinguished(name)
        except Exception as exc:  # noqa: BLE001
            raise self._upload_error(exc) from None
        if folder is None:
            return None
        return self._handle(folder, (folder.name or role,), item_count=getattr(folder, "total_count", None))

    def find_folder(self, parent: FolderHandle, name: str, container_class: str | None = None) -> FolderHandle | None:
        try:
            return self._children(parent).get(name.casefold())
        except Exception as exc:  # noqa: BLE001
            raise self._upload_error(exc) from None

    def ensure_folder(self, parent: FolderHandle, name: str, container_class: str | None) -> FolderHandle:
        """Found in the parent's listing (one FindFolder per parent, shared by the threads setting up its
        children), else created. Safe to call again after a lost answer: it finds what it created."""
        assert self.account is not None
        key = name.casefold()
        try:
            found = self._children(parent).get(key)
            if found is not None:
                return found
            # A plain Folder with the PST's container class: Exchange makes IPF.Appointment a
            # calendar, IPF.Contact a contacts folder, and so on.
            folder = Folder(parent=parent.native, name=name, folder_class=container_class or None)
            # exchangelib's save() finds the parent again in its root's folder cache, which is built once; a
            # folder we created while another thread built it (parallel setup of several PSTs' roots) can be
            # missing from it, and the parent then resolves to None. Put the parent there first.
            root = getattr(parent.native, "root", None)
            if root is not None and parent.native.id is not None:
                root.add_folder(parent.native)
            try:
                folder.save()
            except ex.ErrorFolderExists:
                # Created meanwhile (by another run, or by our own request whose answer was lost).
                found = self._children(parent, fresh=True).get(key)
                if found is None:
                    raise
                return found
        except Exception as exc:  # noqa: BLE001
            raise self._upload_error(exc) from None
        handle = self._handle(folder, (*parent.path, name), item_count=0)
        with self._folder_lock:
            self._listings.setdefault(parent.id, {})[key] = handle
        return handle

    def _children(self, parent: FolderHandle, fresh: bool = False) -> dict[str, FolderHandle]:
        """The parent's child folders by case-folded name, listed once per parent (and per `fresh`)."""
        with self._folder_lock:
            lock = self._listing_locks.setdefault(parent.id, threading.Lock())
        with lock:
            with self._folder_lock:
                listing = None if fresh else self._listings.get(parent.id)
            if listing is not None:
                return listing
            listing = {}
            children = FolderCollection(account=self.account, folders=[parent.native]).find_folders(depth=SHALLOW)
            for child in children:
                if isinstance(child, Exception):
                    continue
                handle = self._handle(child, (*parent.path, child.name or ""), item_count=child.total_count)
                listing.setdefault((child.name or "").casefold(), handle)
            with self._folder_lock:
                self._listings[parent.id] = listing
            return listing

    # ----- items --------------------------------------------------------------------------

    def create_items(self, folder: FolderHandle, payloads: Sequence[Payload]) -> list[CreateOutcome]:
        assert self.account is not None
        if self._refused is not None:
            # The server's EWS policy refused us (HTTP 403) during this run: the rest fails with that reason
            # at once, instead of each item asking again (refusal.py).
            raise refused_upload(self._refused)
        built: dict[str, str] = {}  # source key -> why the item could not be built
        bodies: list[bytes | list[wire.Piece]] = []
        sendable = []
        for p in payloads:
            try:
                if isinstance(p, MimePayload):
                    bodies.append(wire.mime_message(p))
                else:
                    item = build_item(self.account, folder.native, p)
                    xml = wire.typed_item(item, self.account.version, item_class(item, p))
                    bodies.append(calendar.with_time_zones(xml, p) if isinstance(p, Appointment) else xml)
                sendable.append(p)
            except Exception as exc:  # noqa: BLE001 - one bad payload fails alone
                built[p.source_key] = f"cannot build the EWS item: {type(exc).__name__}: {exc}"
        results: list = []
        if bodies:
            try:
                results = wire.create_items(self.account, folder.native, bodies)
            except Exception as exc:  # noqa: BLE001
                if isinstance(exc, EwsRefused):
                    self._refused = exc
                raise upload_error(exc) from None
            finally:
                del bodies
        out: list[CreateOutcome] = [CreateOutcome(k, error=v) for k, v in built.items()]
        payloads = sendable
        for payload, result in zip(payloads, results, strict=False):
            if isinstance(result, Exception):
                code = type(result).__name__
                out.append(
                    CreateOutcome(
                        payload.source_key,
                        error=f"{code}: {' '.join(str(result).split())[:300]}",
                        transient=code in TRANSIENT_CODES,
                        too_large=code in TOO_LARGE_CODES,
                    )
                )
            else:
                out.append(CreateOutcome(payload.source_key, item_id=result))
        if len(results) < len(payloads):
            # A short answer: the rest is unknown, which the engine settles by stamp.
            for payload in payloads[len(results) :]:
                out.append(CreateOutcome(payload.source_key, error="no answer for this item", transient=True))
        return out

    def count_items(self, folder: FolderHandle) -> int:
        try:
            for fresh in FolderCollection(account=self.account, folders=[folder.native]).resolve():
                if isinstance(fresh, Exception):
                    raise fresh
                return int(fresh.total_count or 0)
            return 0
        except Exception as exc:  # noqa: BLE001
            raise self._upload_error(exc) from None

    def find_stamps(self, folder: FolderHandle, stamps: Collection[str] | None = None) -> dict[str, list[str]]:
        pairs: list[tuple[str, str]] = []
        try:
            if stamps is None:
                pairs.extend(wire.find_stamps(self.account, folder.native, None, FIND_PAGE))
                return distinct_ids(pairs)
            wanted = list(dict.fromkeys(stamps))
            for i in range(0, len(wanted), STAMPS_PER_QUERY):
                chunk = wanted[i : i + STAMPS_PER_QUERY]
                keep = set(chunk)
                pairs.extend(p for p in wire.find_stamps(self.account, folder.native, chunk, FIND_PAGE) if p[0] in keep)
            return distinct_ids(pairs)
        except Exception as exc:  # noqa: BLE001
            raise self._upload_error(exc) from None

    def count_and_stamps(self, folder: FolderHandle) -> tuple[int, dict[str, list[str]]]:
        """One FindItem: the stamps, and the folder's item count from its TotalItemsInView."""
        totals: list[int] = []
        try:
            found = distinct_ids(wire.find_stamps(self.account, folder.native, None, FIND_PAGE, totals))
        except Exception as exc:  # noqa: BLE001
            raise self._upload_error(exc) from None
        return (totals[0] if totals else self.count_items(folder)), found

    def series_steps(self, payload: Payload) -> list[str]:
        return calendar.step_names(payload) if isinstance(payload, Appointment) else []

    def apply_series_step(self, folder: FolderHandle, item_id: str, payload: Payload, step: str) -> None:
        assert self.account is not None and isinstance(payload, Appointment)
        try:
            calendar.apply_step(self.account, folder.native, item_id, payload, step)
        except calendar.SeriesStepError as exc:
            err = TransportError(str(exc))
            err.permanent = not exc.transient  # type: ignore[attr-defined]
            raise err from None
        except Exception as exc:  # noqa: BLE001 - every library failure becomes ours here
            raise self._upload_error(exc) from None

    def resolve_name(self, name: str) -> list[str]:
        if self.account is None:
            return []
        try:
            results = self.account.protocol.resolve_names([name], return_full_contact_data=False)
        except Exception:  # noqa: BLE001 - a GAL miss must never stop a run
            return []
        found = []
        for r in results or []:
            if isinstance(r, Exception):
                continue
            mb = r[0] if isinstance(r, tuple) else r
            addr = getattr(mb, "email_address", None)
            if addr:
                found.append(addr)
        return found

    def close(self) -> None:
        if self.account is None:
            return
        protocol = self.account.protocol
        try:
            protocol.close()
        except Exception:  # noqa: BLE001
            pass
        # Only this transport's Protocol: other transports of the process (a batch's other
        # mailboxes) keep their sessions. Its credentials are ours alone (compared by identity).
        with Protocol._protocol_cache_lock:
            Protocol._protocol_cache.pop(Protocol._cache_key(protocol.config), None)

    def __enter__(self) -> EwsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unknown(exc: TransportError) -> bool:
    return bool(getattr(exc, "unknown_outcome", False))
