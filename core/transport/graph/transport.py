"""The Microsoft Graph transport: one mailbox in Exchange Online over Graph's Outlook resources.

Folders: mail, notes and journal folders are `mailFolders` (their container class set at creation);
calendars, contact folders and To Do lists are Graph's own collections. Calendars and To Do lists
cannot be nested in Graph, so one below another folder is named by its path ("Matt Backup - Calendar");
contact folders nest below contact folders only.

Mail: by beta `importMime` where the tenant has it (setting `import_mime: auto`, probed once per
transport: a 400/403/404 to the first import means "not available", logged once, and JSON is used
for the session) and the base64 MIME fits one request (about 3 MB of MIME). importMime keeps the
whole MIME (multipart/alternative, attachments, embedded messages) and makes non-draft items, but
takes no extended properties; so the stamp travels in the MIME as the `X-PstImport-SourceKey`
header, which Exchange promotes to a PS_INTERNET_HEADERS named property (findable by `$filter` from
the moment the item exists), and a PATCH then sets the DESIGN stamp property, read state,
importance, categories, follow-up flag and the converter's extended properties. An item found by
its header alone (a crash between import and PATCH) counts as imported and gets its stamp then.
Caveat, not verifiable against the sandbox: Exchange promotes an X- header only when the mailbox
already knows that named property; every lookup by stamp names it (in `$filter`/`$expand`), which
is expected to register it before the first import (the engine scans each new folder first).

Otherwise mail goes as JSON messages (non-draft, with flags, times and the stamp in the create
request; see mail.py for what JSON cannot carry). Imports go one per request (a text/plain body in
`$batch` would have to be base64 again); their PATCHes and the JSON creates go in `$batch` requests
of up to 20; attachments that do not fit inline follow the create (upload sessions above 3 MB).
Typed items per typed.py. Every request is paced per mailbox (pacing.py).

The archive mailbox is out of Graph's reach: the preflight says so and names the routes that work
(EWS while the tenant allows it, else the PST Import Service; core.online.archive_advice).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from core import online
from core.convert.payload import (
    Appointment,
    Contact,
    DistributionList,
    JournalEntry,
    MimePayload,
    Note,
    Payload,
    Task,
)
from core.convert.typed import note_organizer
from core.errors import ConnectError, ServerBusy, TransportError
from core.mapi import SOURCE_KEY_HEADER
from core.transport import tls
from core.transport.base import CreateOutcome, FolderHandle, ServerInfo, StoreKind, Transport, distinct_ids
from core.transport.graph import mail, wire
from core.transport.graph.client import GraphClient, GraphError
from core.transport.graph.mail import GraphItem, LargeAttachment, message_json
from core.transport.graph.pacing import pacer_for
from core.transport.graph.typed import contact_json, event_json, occurrence_patch, task_json, untyped_message_json
from core.transport.oauth import MsalTokenSource, OAuthSettings, keyring_token_cache, token_cache_key

log = logging.getLogger(__name__)

GRAPH_VERSION = "v1.0"
BETA = "beta"
# Requests in one $batch carry at most this much JSON (Graph refuses request bodies over 4 MB).
BATCH_BODY_BUDGET = 3 * 1024 * 1024
# A create this large goes alone (it would crowd a $batch).
ALONE_ABOVE = 1024 * 1024
STAMP_LOOKUPS_PER_BATCH = wire.BATCH_MAX_REQUESTS
LIST_PAGE = 500
BUSY_RETRIES_AFTER_CREATE = 20
RETRY_PATCH_SECONDS = 0.5
# A PATCH after importMime that fails otherwise than busy is sent again this often (PATCH is idempotent).
PATCH_ERROR_RETRIES = 3
IMPORT_MIME_MODES = ("auto", "never")
# The application name our To Do tasks carry in linkedResources (To Do has no extended properties in v1.0).
LINKED_APP = "pstimport"
_KIND_BY_CLASS = (
    ("IPF.Appointment", "calendar"),
    ("IPF.Contact", "contacts"),
    ("IPF.Task", "tasks"),
)
_PERMISSION_HINT = (
    "give the app the Mail.ReadWrite, Calendars.ReadWrite, Contacts.ReadWrite and Tasks.ReadWrite "
    "permissions (application permissions need admin consent)"
)


@dataclass(frozen=True)
class GraphFolder:
    """Where a folder's items live in Graph: its kind and the path of its collection."""

    kind: str  # mail | calendar | contacts | tasks
    id: str
    collection: str  # e.g. "mailFolders/{id}/messages"
    version: str = GRAPH_VERSION


@dataclass
class GraphSettings:
    """Everything the Graph transport needs, from a profile plus the secret."""

    mailbox: str
    store: StoreKind = "mailbox"
    method: str = "oauth-app"  # oauth-app | oauth-device
    username: str | None = None
    secret: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    certificate: Path | None = None
    base_url: str = wire.DEFAULT_BASE_URL
    verify_tls: bool = True
    ca_bundle: Path | None = None
    show_device_code: Callable[[str], None] | None = None
    import_mime: str = "auto"  # auto: beta importMime where the tenant has it; never: JSON messages only
    profile_path: str | None = None  # the profile's file, named in advice (the Import Service plan command)


def _folder_kind(container_class: str | None) -> str:
    for prefix, kind in _KIND_BY_CLASS:
        if container_class and container_class.startswith(prefix):
            return kind
    return "mail"


def _quote(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


class GraphTransport(Transport):
    """A mailbox reached over Microsoft Graph (Exchange Online)."""

    max_item_bytes = wire.ATTACHMENT_MAX

    def __init__(self, settings: GraphSettings, token_source: MsalTokenSource | None = None) -> None:
        self.settings = settings
        self._token_source = token_source
        self.client: GraphClient | None = None
        self._user = quote(settings.mailbox, safe="@.")
        self._root: FolderHandle | None = None
        self._folder_lock = threading.Lock()
        # One lock per well-known role and per (parent, name): folders are set up from several threads,
        # and two of them must not create the same folder, nor look the same role up twice.
        self._name_locks: dict[tuple[str, str], threading.Lock] = {}
        self._well_known: dict[str, FolderHandle | None] = {}
        # importMime: None until the first import answers (the probe), then whether the tenant has it.
        self._import_mime: bool | None = None if settings.import_mime != "never" else False
        self._probe_lock = threading.Lock()
        # The PATCH each imported item still needs, by stamp: an item found by its header after a lost
        # answer gets all of it, not only the stamp.
        self._pending_patch: dict[str, dict] = {}
        self._first_token: dict | None = None
        self._patch_lock = threading.Lock()

    # ----- connect ------------------------------------------------------------------------

    def _tokens(self) -> MsalTokenSource:
        s = self.settings
        if self._token_source is None:
            if s.method not in ("oauth-app", "oauth-device"):
                raise ConnectError(
                    "transport: graph signs in with OAuth: set connection.auth.method to oauth-app or oauth-device"
                )
            if not s.client_id:
                raise ConnectError("transport: graph needs connection.auth.client_id (the app registration's id)")
            load = save = None
            if s.method == "oauth-device":
                load, save = keyring_token_cache(token_cache_key(s.tenant_id, s.client_id, s.username or s.mailbox))
            self._token_source = MsalTokenSource(
                OAuthSettings(
                    method=s.method,
                    tenant_id=s.tenant_id,
                    client_id=s.client_id,
                    client_secret=s.secret if s.certificate is None else None,
                    certificate=s.certificate,
                    certificate_password=s.secret if s.certificate is not None else None,
                    username=s.username,
                    verify=self._verify(),
                    app_scopes=(wire.GRAPH_SCOPE_APP,),
                    delegated_scopes=wire.GRAPH_SCOPES_DELEGATED,
                ),
                cache_load=load,
                cache_save=save,
                show_device_code=s.show_device_code,
            )
        return self._token_source

    def _verify(self) -> bool | str:
        return tls.verify_for(self.settings.verify_tls, self.settings.ca_bundle)

    @property
    def endpoint(self) -> str:
        return self.settings.base_url

    def sign_in(self) -> None:
        """Get the first token now (a device-code sign-in waits for the user here)."""
        if self.settings.store != "archive" and self._first_token is None:
            self._first_token = self._tokens().token()  # ConnectError with msal's reason when it fails

    def connect(self) -> ServerInfo:
        """Preflight: sign in, the mailbox exists and is reachable with these rights, folders creatable.

        Once: `core.engine.connect.connect_transport` retries a `ConnectError` marked `transient`
        (Graph busy or HTTP 5xx, a dropped connection, a timeout)."""
        s = self.settings
        if s.store == "archive":
            # Before any sign-in: Graph's mail API has no archive (its import/export API has it in beta only).
            raise ConnectError(
                f"Microsoft Graph cannot reach the archive mailbox of {s.mailbox}: "
                + online.archive_advice(s.profile_path)
            )
        tokens = self._tokens()
        first = self._first_token or tokens.token()  # ConnectError with msal's reason when the sign-in fails
        self._first_token = first
        if self.client is not None:  # a failed attempt's client
            self.client.close()
        self.client = GraphClient(
            s.base_url,
            tokens.token,
            pacer_for(s.base_url, s.mailbox),
            verify=self._verify(),
            first_token=first,
        )
        self.client.deadline = lambda: self.connect_deadline
        where = self.client.root
        try:
            self.client.get(f"users/{self._user}", params={"$select": "id,mail,userPrincipalName"})
            root = self.client.get(f"users/{self._user}/mailFolders/{wire.MSG_FOLDER_ROOT}")
        except GraphError as exc:
            if exc.status >= 500:
                raise ConnectError(f"{where}: Graph answered {exc}", transient=True) from None
            raise self._connect_error(exc, where) from None
        except ServerBusy as exc:
            raise ConnectError(
                f"{where}: Graph is busy for {s.mailbox} ({exc})",
                transient=True,
                back_off_seconds=min(exc.back_off_seconds, 30.0),
            ) from None
        except TransportError as exc:
            transient = _network_transient(exc)
            raise ConnectError(
                f"{where}: {transient}" if transient else _network_reason(exc, where), transient=bool(transient)
            ) from None
        missing = _missing_permissions(first.get("access_token", ""))
        if missing:
            raise ConnectError(f"{where}: the token lacks {missing}: {_PERMISSION_HINT}")
        self._root = self._mail_handle(root, ())
        return ServerInfo(
            url=where,
            version=f"Microsoft Graph {GRAPH_VERSION}",
            mailbox=s.mailbox,
            store=s.store,
            can_create_folders=True,
            notes=("archive: not reachable over Graph (EWS while the tenant allows it, else the PST Import Service)",),
        )

    def _connect_error(self, exc: GraphError, where: str) -> ConnectError:
        s = self.settings
        who = s.username or s.client_id or "this account"
        if exc.status == 401:
            fix = (
                "check the tenant, client id and secret/certificate"
                if s.method == "oauth-app"
                else "sign in again (the cached sign-in was refused)"
            )
            return ConnectError(f"{where}: Graph refused the token for {who} (HTTP 401 {exc.code}): {fix}")
        if exc.status == 403:
            if s.method == "oauth-device":
                fix = (
                    f"the signed-in user needs FullAccess on {s.mailbox} (Add-MailboxPermission) "
                    "and the app the "
                    "delegated Mail.ReadWrite.Shared permission"
                )
            else:
                fix = _PERMISSION_HINT + ", and check any application access policy limiting the mailboxes"
            return ConnectError(f"{where}: {who} may not open {s.mailbox} (HTTP 403 {exc.code}): {fix}")
        if exc.status == 404:
            return ConnectError(
                f"{where}: there is no mailbox {s.mailbox} (HTTP 404 {exc.code}): "
                "check the mailbox address, and "
                "that the user has an Exchange Online licence"
            )
        return ConnectError(f"{where}: {exc}")

    def _c(self) -> GraphClient:
        if self.client is None:
            raise TransportError("the Graph transport is not connected")
        return self.client

    # ----- folders ------------------------------------------------------------------------

    def _mail_handle(self, folder: dict, path: tuple[str, ...], container_class: str | None = None) -> FolderHandle:
        fid = folder["id"]
        return FolderHandle(
            id=fid,
            path=path,
            display_name=folder.get("displayName") or "",
            container_class=container_class,
            native=GraphFolder("mail", fid, f"users/{self._user}/mailFolders/{fid}/messages"),
        )

    def _kind_handle(self, kind: str, fid: str, name: str, path: tuple[str, ...]) -> FolderHandle:
        u = self._user
        if kind == "calendar":
            native = GraphFolder(kind, fid, f"users/{u}/calendars/{fid}/events")
            cls = "IPF.Appointment"
        elif kind == "contacts":
            coll = f"users/{u}/contacts" if fid == "contacts" else f"users/{u}/contactFolders/{fid}/contacts"
            native = GraphFolder(kind, fid, coll)
            cls = "IPF.Contact"
        else:
            native = GraphFolder(kind, fid, f"users/{u}/todo/lists/{fid}/tasks")
            cls = "IPF.Task"
        return FolderHandle(id=fid, path=path, display_name=name, container_class=cls, native=native)

    def store_root(self) -> FolderHandle:
        if self._root is None:
            root = self._c().get(f"users/{self._user}/mailFolders/{wire.MSG_FOLDER_ROOT}")
            self._root = self._mail_handle(root, ())
        return self._root

    def well_known(self, role: str) -> FolderHandle | None:
        with self._name_lock("@role", role):
            if role not in self._well_known:
                self._well_known[role] = self._find_well_known(role)
            return self._well_known[role]

    def _name_lock(self, parent_id: str, name: str) -> threading.Lock:
        with self._folder_lock:
            return self._name_locks.setdefault((parent_id, name.casefold()), threading.Lock())

    def _find_well_known(self, role: str) -> FolderHandle | None:
        c, u = self._c(), self._user
        name = wire.WELL_KNOWN_MAIL.get(role)
        if name is not None:
            folder = c.get(f"users/{u}/mailFolders/{name}")
            return self._mail_handle(folder, (folder.get("displayName") or role,), "IPF.Note")
        if role == "calendar":
            cal = c.get(f"users/{u}/calendar")
            return self._kind_handle(
                "calendar", cal["id"], cal.get("name") or "Calendar", (cal.get("name") or "Calendar",)
            )
        if role == "contacts":
            # Graph has no well-known name for the default contact folder; its collection is /contacts.
            return self._kind_handle("contacts", "contacts", "Contacts", ("Contacts",))
        if role == "tasks":
            for lst in c.pages(f"users/{u}/todo/lists"):
                if lst.get("wellknownListName") == wire.TODO_DEFAULT_LIST:
                    name = lst.get("displayName") or "Tasks"
                    return self._kind_handle("tasks", lst["id"], name, (name,))
            return None
        return None  # notes, journal: no Graph name; the engine makes a folder of that name

    def ensure_folder(self, parent: FolderHandle, name: str, container_class: str | None) -> FolderHandle:
        kind = _folder_kind(container_class)
        with self._name_lock(parent.id, name):
            if self._is_default_contacts(parent):
                # Graph names no id for the default contact folder: its children go through /contactFolders.
                return self._ensure_contact_child(parent, name, container_class)
            found = self._find_child(parent, name, container_class)
            if found is not None:
                return found
            body: dict[str, Any] = {"displayName": name}
            if container_class and container_class != "IPF.Note":
                # The class set in the create makes it a calendar, contact, task, note... folder.
                body["singleValueExtendedProperties"] = [{"id": wire.CONTAINER_CLASS_ID, "value": container_class}]
            try:
                created = self._c().post(f"users/{self._user}/mailFolders/{parent.id}/childFolders", body)
            except GraphError as exc:
                if exc.status == 409:  # created meanwhile, or our own create whose answer was lost
                    found = self._find_child(parent, name, container_class)
                    if found is not None:
                        return found
                raise
            return replace(self._handle_for(kind, created, (*parent.path, name), container_class), item_count=0)

    def find_folder(self, parent: FolderHandle, name: str, container_class: str | None = None) -> FolderHandle | None:
        if self._is_default_contacts(parent):
            kind = _folder_kind(container_class)
            for f in self._c().pages(f"users/{self._user}/contactFolders", params={"$top": str(LIST_PAGE)}):
                if (f.get("displayName") or "").casefold() == name.casefold():
                    return self._handle_for(kind, f, (*parent.path, name), container_class)
            return None
        return self._find_child(parent, name, container_class)

    def _handle_for(self, kind: str, folder: dict, path: tuple[str, ...], container_class: str | None) -> FolderHandle:
        if kind == "mail":
            return self._mail_handle(folder, path, container_class)
        return self._kind_handle(kind, folder["id"], folder.get("displayName") or path[-1], path)

    @staticmethod
    def _is_default_contacts(folder: FolderHandle) -> bool:
        native = folder.native
        return isinstance(native, GraphFolder) and native.kind == "contacts" and native.id == "contacts"

    def _find_child(self, parent: FolderHandle, name: str, container_class: str | None) -> FolderHandle | None:
        """The child of `parent` called `name` (any kind: Exchange folders share one id space)."""
        params = {"$filter": f"displayName eq {_quote(name)}", "$top": str(LIST_PAGE)}
        for child in self._c().pages(f"users/{self._user}/mailFolders/{parent.id}/childFolders", params=params):
            if (child.get("displayName") or "").casefold() == name.casefold():
                return self._handle_for(_folder_kind(container_class), child, (*parent.path, name), container_class)
        return None

    def _ensure_contact_child(self, parent: FolderHandle, name: str, container_class: str | None) -> FolderHandle:
        coll = f"users/{self._user}/contactFolders"
        kind = _folder_kind(container_class)
        for f in self._c().pages(coll, params={"$top": str(LIST_PAGE)}):
            if (f.get("displayName") or "").casefold() == name.casefold():
                return self._handle_for(kind, f, (*parent.path, name), container_class)
        created = self._c().post(coll, {"displayName": name})
        return self._handle_for(kind, created, (*parent.path, name), container_class)

    # ----- items --------------------------------------------------------------------------

    def _build(self, folder: GraphFolder, payload: Payload) -> tuple[str, GraphItem]:
        """(collection to POST to, request) for one payload in `folder`.

        Events, contacts and tasks exist only in folders of their kind over Graph; message-like items
        (mail, meeting messages, notes, journal entries, distribution lists) go into any folder
        through mailFolders/{id}/messages, folders of every kind sharing one id space.
        """
        typed = {Appointment: "calendar", Contact: "contacts", Task: "tasks"}
        for cls, kind in typed.items():
            if isinstance(payload, cls) and folder.kind == kind:
                build = {"calendar": event_json, "contacts": contact_json, "tasks": task_json}[kind]
                item = build(payload)  # type: ignore[operator]
                if kind == "calendar":
                    note_organizer(payload, self.settings.mailbox)  # type: ignore[arg-type]
                if kind == "tasks":
                    # To Do tasks take no extended properties in v1.0: the stamp is a linkedResource.
                    item.body.pop("singleValueExtendedProperties", None)
                    item.body.pop("multiValueExtendedProperties", None)
                    item.body["linkedResources"] = [
                        {
                            "applicationName": LINKED_APP,
                            "externalId": payload.source_key,
                            "displayName": "PST source",
                        }
                    ]
                return folder.collection, item
        if isinstance(payload, MimePayload):
            item = message_json(payload)
        elif isinstance(payload, (Note, JournalEntry, DistributionList, Appointment, Contact, Task)):
            item = untyped_message_json(payload)
        else:
            raise TypeError(f"unknown payload type {type(payload).__name__}")
        if folder.id == "contacts":
            raise ValueError(f"Graph gives no id for the default Contacts folder to put a {payload.message_class} in")
        return f"users/{self._user}/mailFolders/{folder.id}/messages", item

    def create_items(self, folder: FolderHandle, payloads: Sequence[Payload]) -> list[CreateOutcome]:
        native: GraphFolder = folder.native
        out: list[CreateOutcome] = []
        small: list[tuple[Payload, str, GraphItem, int]] = []
        alone: list[tuple[Payload, str, GraphItem]] = []
        imports = [p for p in payloads if self._importable(native, p)]
        if imports:
            fallback = {p.source_key for p in self._import_items(folder, imports, out)}
            sent = {p.source_key for p in imports} - fallback
            payloads = [p for p in payloads if p.source_key not in sent]
        for p in payloads:
            try:
                coll, item = self._build(native, p)
            except Exception as exc:
                out.append(
                    CreateOutcome(p.source_key, error=f"cannot build the Graph item: {type(exc).__name__}: {exc}")
                )
                continue
            size = len(json.dumps(item.body, separators=(",", ":")))
            if item.later or size > ALONE_ABOVE or len(payloads) == 1:
                alone.append((p, coll, item))
            else:
                small.append((p, coll, item, size))
        for chunk in self._chunks(small):
            out.extend(self._guarded(folder, out, [e[0] for e in chunk], lambda ch=chunk: self._send_batch(ch)))
        for p, coll, item in alone:
            out.extend(self._guarded(folder, out, [p], lambda p=p, c=coll, i=item: [self._create_one(p, c, i)]))
        return self._retry_time_zones(folder, payloads, out)

    # ----- importMime --------------------------------------------------------------------

    def _importable(self, folder: GraphFolder, payload: Payload) -> bool:
        """Whether a payload goes by importMime: mail (not a draft, which must stay one) whose base64
        fits one request, while the tenant is not known to lack the API."""
        return (
            self._import_mime is not False
            and isinstance(payload, MimePayload)
            and not payload.is_draft
            and folder.id != "contacts"
            and mail.can_stamp_header(payload.source_key)
            and mail.import_body_size(payload) <= wire.IMPORT_MIME_MAX_BODY
        )

    def _import_items(
        self, folder: FolderHandle, payloads: list[MimePayload], out: list[CreateOutcome]
    ) -> list[MimePayload]:
        """Import each payload's MIME, then PATCH what MIME cannot carry; outcomes go to `out`.
        Returns the payloads importMime did not take (nothing was created): they go as JSON."""
        fallback: list[MimePayload] = []
        created: list[tuple[MimePayload, str]] = []
        for p in payloads:
            if self._import_mime is False:
                fallback.append(p)
                continue
            got = self._guarded(folder, out, [p], lambda p=p: self._import_one(folder, p, created))
            if got:
                out.extend(got)
            else:
                fallback.append(p)
        if created:
            self._patch_imported(created)
        return fallback

    def _import_one(
        self, folder: FolderHandle, payload: MimePayload, created: list[tuple[MimePayload, str]]
    ) -> list[CreateOutcome]:
        """One `importMime`; [] when it was refused (nothing created). The first one is the probe:
        the others wait for its answer, and a 400/403/404 to it turns importMime off for the session."""
        probing = self._import_mime is None
        with self._probe_lock if probing else nullcontext():
            if self._import_mime is False:
                return []
            body = mail.mime_for_import(payload)
            with self._patch_lock:
                self._pending_patch[payload.source_key] = mail.import_patch(payload)
            try:
                answer = (
                    self._c()
                    .send(
                        "POST",
                        f"users/{self._user}/mailFolders/{folder.id}/importMime",
                        content=body,
                        headers={"Content-Type": "text/plain"},
                        version=BETA,
                    )
                    .json()
                )
            except GraphError as exc:
                if not 400 <= exc.status < 500 or exc.status in (401, 429):
                    raise  # unknown outcome: found later by its header stamp, and PATCHed then
                with self._patch_lock:
                    self._pending_patch.pop(payload.source_key, None)
                if self._import_mime is None and exc.status in (400, 403, 404, 405):
                    self._import_mime = False
                    log.warning(
                        "importMime is not available for %s (%s): mail is created as JSON messages for this session",
                        self.settings.mailbox,
                        exc,
                    )
                else:
                    log.info("importMime refused %s (%s): created as JSON", payload.source_key, exc)
                return []
            self._import_mime = True
        item_id = str(answer.get("id", ""))
        created.append((payload, item_id))
        return [CreateOutcome(payload.source_key, item_id=item_id)]

    def _patch_imported(self, created: list[tuple[MimePayload, str]]) -> None:
        """The PATCHes after importMime, in `$batch`es; never raises (the items exist)."""
        with self._patch_lock:
            entries = [
                (p.source_key, item_id, self._pending_patch.get(p.source_key) or mail.import_patch(p), p)
                for p, item_id in created
            ]
        self._patch(entries)

    def _patch(self, entries: list[tuple[str, str, dict, MimePayload | None]]) -> list[str]:
        """PATCH imported messages: (stamp, item id, body, payload or None). Busy answers are waited
        out; a 400 is retried with the minimal PATCH (stamp, read state, flag, categories); what still
        fails is reported on the payload and logged. Returns the stamps whose PATCH failed."""
        failed: list[str] = []
        for i in range(0, len(entries), wire.BATCH_MAX_REQUESTS):
            failed += self._patch_batch(entries[i : i + wire.BATCH_MAX_REQUESTS])
        return failed

    def _patch_batch(self, todo: list[tuple[str, str, dict, MimePayload | None]]) -> list[str]:
        c = self._c()
        errors = 0
        last = ""
        minimal_sent: set[str] = set()
        for _round in range(BUSY_RETRIES_AFTER_CREATE):
            requests = [
                {"method": "PATCH", "url": f"users/{self._user}/messages/{item_id}", "body": body}
                for _s, item_id, body, _p in todo
            ]
            try:
                answers = c.batch(requests)
            except ServerBusy as exc:
                time.sleep(exc.back_off_seconds)
                continue
            except TransportError as exc:
                errors += 1
                last = str(exc)
                if errors > PATCH_ERROR_RETRIES:
                    break
                time.sleep(RETRY_PATCH_SECONDS * errors)
                continue
            again: list[tuple[str, str, dict, MimePayload | None]] = []
            wait = 0.0
            for entry, answer in zip(todo, answers, strict=True):
                stamp, item_id, _body, payload = entry
                err = answer.error
                if err is None:
                    with self._patch_lock:
                        self._pending_patch.pop(stamp, None)
                elif isinstance(err, ServerBusy):
                    again.append(entry)
                    wait = max(wait, err.back_off_seconds)
                elif getattr(err, "status", 0) == 400 and payload is not None and stamp not in minimal_sent:
                    minimal_sent.add(stamp)
                    payload.problems.append(
                        f"extended properties not kept (the server refused them after importMime: {err})"
                    )
                    again.append((stamp, item_id, mail.import_patch(payload, minimal=True), payload))
                elif getattr(err, "unknown_outcome", False) and errors < PATCH_ERROR_RETRIES:
                    errors += 1
                    again.append(entry)
                else:
                    self._patch_failed(entry, str(err))
            todo = again
            if not todo:
                return []
            if wait:
                time.sleep(wait)
        for entry in todo:
            self._patch_failed(entry, last or "the server stayed busy")
        return [e[0] for e in todo]

    def _patch_failed(self, entry: tuple[str, str, dict, MimePayload | None], reason: str) -> None:
        stamp, _item_id, _body, payload = entry
        text = (
            "imported by importMime, but its stamp property, read state, flag and categories could "
            f"not be set ({reason}); it is found by its {SOURCE_KEY_HEADER} header"
        )
        if payload is not None:
            payload.problems.append(text)
        log.warning("%s %s: %s", self.settings.mailbox, stamp, text)

    def _complete_header_only(self, found: dict[str, list[str]]) -> None:
        """Items found by their header stamp only (imported, then the PATCH was lost): they count as
        imported (never sent again) and get their PATCH now; from another run, only the stamp is
        known, so their read state, flag and categories may be missing, which is logged."""
        entries = []
        for stamp, ids in found.items():
            with self._patch_lock:
                body = self._pending_patch.get(stamp)
            if body is None:
                body = mail.stamp_patch(stamp)
                log.warning(
                    "%s: item %s was imported (importMime) before an interruption and found by its %s "
                    "header; its stamp is set now, its read state, flag and categories may be missing",
                    self.settings.mailbox,
                    stamp,
                    SOURCE_KEY_HEADER,
                )
            entries += [(stamp, item_id, body, None) for item_id in ids]
        self._patch(entries)

    def _retry_time_zones(
        self, folder: FolderHandle, payloads: Sequence[Payload], out: list[CreateOutcome]
    ) -> list[CreateOutcome]:
        """Events refused for their time zone name (one the server does not know) go again in UTC."""
        by_key = {p.source_key: p for p in payloads}
        for i, o in enumerate(out):
            p = by_key.get(o.source_key)
            if o.ok or not isinstance(p, Appointment) or "TimeZone" not in (o.error or ""):
                continue
            zone = p.start_timezone.key_name if p.start_timezone else None
            item = event_json(p, utc_only=True)
            p.problems.append(f"time zone {zone!r} unknown to the server: times kept in UTC")
            coll = folder.native.collection
            out[i] = self._guarded(folder, out, [p], lambda p=p, i=item, c=coll: [self._create_one(p, c, i)])[0]
        return out

    def _guarded(
        self,
        folder: FolderHandle,
        done: list[CreateOutcome],
        payloads: list[Payload],
        send: Callable[[], list[CreateOutcome]],
    ) -> list[CreateOutcome]:
        """`send()`, but once this call has created anything, a failure may no longer be raised (the
        engine would send the created items again): it is reported per item instead, after looking
        up by stamp the items whose outcome is unknown."""
        try:
            return send()
        except TransportError as exc:
            if not any(o.ok for o in done):
                raise
            out = []
            wait = exc.back_off_seconds if isinstance(exc, ServerBusy) else 0.0
            for p in payloads:
                if getattr(exc, "unknown_outcome", False):
                    try:
                        ids = self.find_stamps(folder, [p.source_key]).get(p.source_key)
                    except TransportError:
                        ids = None
                    if ids:
                        out.append(CreateOutcome(p.source_key, item_id=ids[0]))
                        continue
                out.append(CreateOutcome(p.source_key, error=str(exc), transient=True, back_off=wait))
            return out

    @staticmethod
    def _chunks(
        small: list[tuple[Payload, str, GraphItem, int]],
    ) -> list[list[tuple[Payload, str, GraphItem, int]]]:
        """Groups for `$batch`: at most 20 requests and BATCH_BODY_BUDGET bytes of JSON each."""
        chunks: list[list[tuple[Payload, str, GraphItem, int]]] = []
        group: list[tuple[Payload, str, GraphItem, int]] = []
        used = 0
        for entry in small:
            if group and (len(group) >= wire.BATCH_MAX_REQUESTS or used + entry[3] > BATCH_BODY_BUDGET):
                chunks.append(group)
                group, used = [], 0
            group.append(entry)
            used += entry[3]
        if group:
            chunks.append(group)
        return chunks

    def _send_batch(self, chunk: list[tuple[Payload, str, GraphItem, int]]) -> list[CreateOutcome]:
        try:
            answers = self._c().batch(
                [{"method": "POST", "url": coll, "body": item.body} for _p, coll, item, _s in chunk]
            )
        except TransportError as exc:
            if not getattr(exc, "permanent", False):
                raise
            # The $batch itself was refused (nothing in it was created): halve it until the request
            # that makes it fail stands alone, so only that item fails, with Graph's reason.
            if len(chunk) == 1:
                return [self._failed(chunk[0][0], exc)]
            half = len(chunk) // 2
            return self._send_batch(chunk[:half]) + self._send_batch(chunk[half:])
        out: list[CreateOutcome] = []
        busy: list[ServerBusy] = []
        for (payload, _coll, _item, _size), answer in zip(chunk, answers, strict=True):
            if answer.error is None:
                out.append(CreateOutcome(payload.source_key, item_id=str((answer.body or {}).get("id", ""))))
            elif isinstance(answer.error, ServerBusy):
                # Throttled inside the batch: nothing was created; the engine waits as asked and resends.
                busy.append(answer.error)
                out.append(
                    CreateOutcome(
                        payload.source_key,
                        error=str(answer.error),
                        transient=True,
                        back_off=answer.error.back_off_seconds,
                    )
                )
            else:
                out.append(self._failed(payload, answer.error))
        if busy and len(busy) == len(chunk):
            raise ServerBusy(str(busy[0]), max(b.back_off_seconds for b in busy))
        return out

    @staticmethod
    def _failed(payload: Payload, error: TransportError) -> CreateOutcome:
        return CreateOutcome(
            payload.source_key,
            error=str(error),
            transient=bool(getattr(error, "transient", False)) and not getattr(error, "permanent", False),
            too_large=bool(getattr(error, "too_large", False)),
        )

    def _create_one(self, payload: Payload, coll: str, item: GraphItem) -> CreateOutcome:
        """One item by itself, then the attachments that could not go inline.

        An item with attachments to follow is looked up by stamp first: a run that created it and was
        then stopped, or whose attachment was refused, must not create it again.
        """
        c = self._c()
        if item.later:
            existing = self._stamps_in(coll, [payload.source_key]).get(payload.source_key)
            if existing:
                return CreateOutcome(payload.source_key, item_id=existing[0])
        try:
            created = c.post(coll, item.body)
        except GraphError as exc:
            if exc.permanent:
                return self._failed(payload, exc)
            raise
        item_id = str(created.get("id", ""))
        refused = []
        for att in item.later:
            try:
                self._attach(coll, item_id, att)
            except TransportError as exc:
                if getattr(exc, "too_large", False):
                    refused.append(f"{att.name!r} ({len(att.data) // 2**20} MB)")
                else:
                    payload.problems.append(f"attachment {att.name!r} not kept: {exc}")
        if refused:
            return CreateOutcome(
                payload.source_key,
                error=f"the server refused attachment {', '.join(refused)} as too large; "
                "the item was imported without it",
                too_large=True,
            )
        return CreateOutcome(payload.source_key, item_id=item_id)

    def _attach(self, coll: str, item_id: str, att: LargeAttachment) -> None:
        """One attachment after the create: a POST under 3 MB, else an upload session."""
        c = self._c()
        base = f"{coll}/{item_id}/attachments"
        for busy in range(BUSY_RETRIES_AFTER_CREATE):
            # The item exists now: a busy answer must be waited out here, never handed to the engine
            # (which would create the item again).
            try:
                if len(att.data) < wire.INLINE_ATTACHMENT_MAX:
                    c.post(base, att.file_attachment())
                else:
                    session = c.post(f"{base}/createUploadSession", {"AttachmentItem": att.item()})
                    c.upload(session["uploadUrl"], att.data, wire.UPLOAD_CHUNK)
                return
            except ServerBusy as exc:
                if busy == BUSY_RETRIES_AFTER_CREATE - 1:
                    raise GraphError(429, "TooManyRequests", str(exc)) from None
                time.sleep(exc.back_off_seconds)

    # ----- counts and stamps --------------------------------------------------------------

    def count_items(self, folder: FolderHandle) -> int:
        """The folder's totalItemCount (any folder by id: calendars, contact folders and To Do lists
        share the mail folders' id space), or `$count` of the default Contacts collection."""
        native: GraphFolder = folder.native
        c = self._c()
        if native.id != "contacts":
            got = c.get(f"users/{self._user}/mailFolders/{native.id}", params={"$select": "totalItemCount"})
            return int(got.get("totalItemCount") or 0)
        got = c.get(native.collection, params={"$count": "true", "$top": "1", "$select": "id"})
        if "@odata.count" in got:
            return int(got["@odata.count"])
        return sum(1 for _ in c.pages(native.collection, params={"$select": "id", "$top": str(LIST_PAGE)}))

    def _collections(self, native: GraphFolder) -> list[str]:
        """Where a folder's items are listed: its own kind's collection, plus its messages for a calendar,
        contact or task folder (meeting messages, distribution lists... live there too)."""
        own = [native.collection]
        if native.kind != "mail" and native.id != "contacts":
            own.append(f"users/{self._user}/mailFolders/{native.id}/messages")
        return own

    @staticmethod
    def _stamp_filter(collection: str, stamp: str, prop_id: str = wire.STAMP_ID) -> str:
        if collection.endswith("/tasks"):
            return f"linkedResources/any(r: r/externalId eq {_quote(stamp)})"
        return f"singleValueExtendedProperties/Any(ep: ep/id eq {_quote(prop_id)} and ep/value eq {_quote(stamp)})"

    def find_stamps(self, folder: FolderHandle, stamps: Collection[str] | None = None) -> dict[str, list[str]]:
        native: GraphFolder = folder.native
        pairs: list[tuple[str, str]] = []
        for coll in self._collections(native):
            pairs.extend((stamp, i) for stamp, ids in self._stamps_in(coll, stamps).items() for i in ids)
        return distinct_ids(pairs)

    def _stamps_in(self, coll: str, stamps: Collection[str] | None) -> dict[str, list[str]]:
        """Stamp -> item ids in one collection. Messages are also looked up by the header stamp of
        importMime (for the stamps the property does not find); those are completed on the way."""
        c = self._c()
        found: dict[str, list[str]] = {}
        headers_too = coll.endswith("/messages")
        if stamps is None:
            if coll.endswith("/tasks"):
                return self._stamped_tasks(coll)
            ids = f"id eq {_quote(wire.STAMP_ID)}"
            if headers_too:
                ids += f" or id eq {_quote(wire.STAMP_HEADER_ID)}"
            params = {
                "$select": "id",
                "$expand": f"singleValueExtendedProperties($filter={ids})",
                "$top": str(LIST_PAGE),
            }
            header_only: dict[str, list[str]] = {}
            for it in c.pages(coll, params=params):
                values = {
                    str(ep.get("id", "")).casefold(): ep.get("value")
                    for ep in it.get("singleValueExtendedProperties") or []
                }
                stamp = values.get(wire.STAMP_ID.casefold())
                by_header = values.get(wire.STAMP_HEADER_ID.casefold())
                if stamp:
                    found.setdefault(stamp, []).append(it["id"])
                elif by_header and headers_too:
                    found.setdefault(by_header, []).append(it["id"])
                    header_only.setdefault(by_header, []).append(it["id"])
            if header_only:
                self._complete_header_only(header_only)
            return found
        wanted = list(dict.fromkeys(stamps))
        found = self._lookup(coll, wanted, wire.STAMP_ID)
        missing = [s for s in wanted if s not in found]
        if headers_too and missing:
            by_header = self._lookup(coll, missing, wire.STAMP_HEADER_ID)
            if by_header:
                self._complete_header_only(by_header)
                found.update(by_header)
        return found

    def _lookup(self, coll: str, wanted: list[str], prop_id: str) -> dict[str, list[str]]:
        """Stamp -> ids of the items whose `prop_id` has that value, in `$batch`es of lookups."""
        c = self._c()
        found: dict[str, list[str]] = {}
        for i in range(0, len(wanted), STAMP_LOOKUPS_PER_BATCH):
            chunk = wanted[i : i + STAMP_LOOKUPS_PER_BATCH]
            requests = []
            for stamp in chunk:
                query = f"$filter={quote(self._stamp_filter(coll, stamp, prop_id), safe='')}&$select=id"
                requests.append({"method": "GET", "url": f"/{coll}?{query}"})
            for stamp, answer in zip(chunk, c.batch(requests), strict=True):
                if answer.error is not None:
                    raise answer.error
                ids = [v["id"] for v in (answer.body or {}).get("value", [])]
                if ids:
                    found[stamp] = ids
        return found

    def _stamped_tasks(self, coll: str) -> dict[str, list[str]]:
        """Every task of a To Do list carrying our linkedResource: stamp -> task ids."""
        c = self._c()
        found: dict[str, list[str]] = {}
        params = {"$select": "id", "$expand": "linkedResources", "$top": str(LIST_PAGE)}
        try:
            for it in c.pages(coll, params=params):
                for r in it.get("linkedResources") or []:
                    if r.get("applicationName") == LINKED_APP and r.get("externalId"):
                        found.setdefault(r["externalId"], []).append(it["id"])
        except GraphError as exc:
            if exc.status != 400:
                raise
            # A server that cannot expand linkedResources: an empty list has nothing to find; a
            # list with tasks cannot be checked, so it is not guessed at.
            if next(iter(c.pages(coll, params={"$select": "id", "$top": "1"})), None) is None:
                return {}
            raise
        return found

    # ----- recurring series --------------------------------------------------------------

    def series_steps(self, payload: Payload) -> list[str]:
        """A series' exceptions to apply after its creation, as over EWS: `mod:N` (and `att:N`, its
        attachments, each under 3 MB: a bigger one is reported), then `del:N` from the highest."""
        if not isinstance(payload, Appointment) or payload.recurrence is None or payload.recurrence.calendar_type:
            return []
        steps = []
        for e in sorted((e for e in payload.exceptions if e.index is not None), key=lambda e: e.index or 0):
            steps.append(f"mod:{e.index}")
            if e.attachments:
                steps.append(f"att:{e.index}")
        return steps + [f"del:{n}" for n in sorted(set(payload.deleted_indexes), reverse=True)]

    def apply_series_step(self, folder: FolderHandle, item_id: str, payload: Payload, step: str) -> None:
        """Find the occurrence among the series' instances by its original start, then PATCH or DELETE
        it, unless it is already an exception (PATCH) or gone (DELETE)."""
        native: GraphFolder = folder.native
        if native.kind != "calendar" or not isinstance(payload, Appointment):
            return  # not created as an event: there is no series to complete
        kind, _, n = step.partition(":")
        index = int(n)
        e = next((x for x in payload.exceptions if x.index == index), None)
        if kind in ("mod", "att"):
            if e is None:
                return
            original, lo, hi = e.original_start, min(e.original_start, e.start), max(e.original_start, e.end)
        else:
            original = next(
                (d for d, i in zip(payload.deleted_occurrences, payload.deleted_indexes, strict=False) if i == index),
                None,
            )
            if original is None:
                return
            lo = hi = original
        c = self._c()
        window = {
            "startDateTime": (lo - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": (hi + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "$select": "id,type,originalStart,start,end",
            "$top": str(LIST_PAGE),
        }
        found = None
        for inst in c.pages(f"{native.collection}/{item_id}/instances", params=window):
            when = inst.get("originalStart")
            if when and abs((_instant(when) - original).total_seconds()) < 60:
                found = inst
                break
        if kind == "del":
            if found is not None:
                c.send("DELETE", f"{native.collection}/{found['id']}")
            return
        if found is None:
            err = TransportError(f"{step}: occurrence of {original:%Y-%m-%d %H:%M} UTC not found in the series")
            err.permanent = True  # type: ignore[attr-defined]
            raise err
        if kind == "att":
            assert e is not None
            path = f"{native.collection}/{found['id']}/attachments"
            have = {a.get("name") for a in c.pages(path, params={"$select": "name"})}
            for att in e.attachments:
                if att.name not in have:
                    c.post(
                        path,
                        LargeAttachment(
                            att.name, att.content_type, att.data, att.inline, att.content_id
                        ).file_attachment(),
                    )
            return
        if found.get("type") == "exception":
            return  # modified already
        body = occurrence_patch(payload, index)
        if body is not None:
            c.send("PATCH", f"{native.collection}/{found['id']}", json_body=body)

    def resolve_name(self, name: str) -> list[str]:
        """Not offered over Graph without directory permissions: addresses are kept as the PST has them."""
        return []

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


_NOT_TRANSIENT = ("refused", "name or service", "nodename", "resolution", "no route", "certificate", "ssl")


def _network_transient(exc: TransportError) -> str | None:
    """Why a request failed, when another try may work (a dropped connection, a timeout); None for a
    refused connection, an unknown host or a TLS failure, which another try does not mend."""
    cause = getattr(exc, "cause", None)
    low = str(cause or exc).lower()
    if any(w in low for w in _NOT_TRANSIENT):
        return None
    if isinstance(cause, httpx.TimeoutException) or "timed out" in low or "timeout" in low:
        return f"a request timed out ({type(cause).__name__ if cause else 'timeout'})"
    if getattr(exc, "transient", False):
        return f"the connection was lost ({type(cause).__name__ if cause else 'network error'})"
    return None


def _instant(text: str) -> datetime:
    """A Graph date-time (an `originalStart`, UTC) as an aware datetime."""
    value = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00")))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _network_reason(exc: TransportError, where: str) -> str:
    cause = getattr(exc, "cause", None)
    text = str(cause or exc)
    low = text.lower()
    if "certificate" in low or "ssl" in low:
        return (
            f"{where}: the TLS certificate was not accepted ({text[:200]}): "
            "set ca_bundle to your CA's PEM file, "
            "or verify_tls: false for a lab server you trust"
        )
    return f"{where}: cannot reach the server ({text[:200]}): check the host name, port, proxy and firewall"


# Permissions that allow creating mail items (app roles or delegated scopes of a Graph token).
_MAIL_WRITE = ("Mail.ReadWrite", "Mail.ReadWrite.All", "Mail.ReadWrite.Shared")


def _missing_permissions(token: str) -> str | None:
    """The permission a JWT access token visibly lacks; None when it has it or cannot be read
    (Graph tokens are JWTs; anything else is left to the server to judge)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    granted = set(claims.get("roles") or []) | set(str(claims.get("scp") or "").split())
    if not granted:
        return None
    if not granted & set(_MAIL_WRITE):
        return "the Mail.ReadWrite permission"
    return None
