"""The sandbox mailbox store: users, mailboxes (primary and archive), folders, items.

Transport-neutral on purpose: the EWS front end (and later a Graph front end) translate
their wire shapes into these calls. It lives in SQLite (WAL) plus content blobs on disk.
`create_items` writes every blob and commits before it returns, so anything a front end has
acknowledged survives a kill -9 of the server (the data is in the OS, and the WAL is replayed
on the next open). Surviving a power cut as well needs `fsync=True`: every blob and directory
fsynced and synchronous=FULL. That is off by default: under a busy disk each fsync waits for
the file system's journal, which made the sandbox, not the client, the limit of the import
benchmark (1 thread at 50 ms latency: 41% of the ideal with fsync, 70% without).
Content up to INLINE_BLOB_BYTES (nearly every message) is a row of the `blobs` table written in
the items' own transaction, not a file: creating one file per item (open, write, rename) cost
~0.35 ms of system time each on a busy disk, a third of the sandbox's time per batch.

Extended properties are keyed by a canonical string made by `prop_key`:
`tag:0x0e07:Integer`, `{guid}:name:PstImportSourceKey:String` or `{guid}:id:0x8005:String`
(the type names are EWS's MapiPropertyTypeType names).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from core.mapi.props import MSGFLAG_READ, MSGFLAG_UNSENT, PS_INTERNET_HEADERS
from core.sandbox.server import mimefields
from core.sandbox.server.ntlm import md4

# Well-known folders of a primary mailbox: (distinguished id, display name, container class, parent id).
PRIMARY_FOLDERS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("root", "", None, None),
    ("msgfolderroot", "Top of Information Store", "IPF.Note", "root"),
    ("inbox", "Inbox", "IPF.Note", "msgfolderroot"),
    ("drafts", "Drafts", "IPF.Note", "msgfolderroot"),
    ("sentitems", "Sent Items", "IPF.Note", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "IPF.Note", "msgfolderroot"),
    ("outbox", "Outbox", "IPF.Note", "msgfolderroot"),
    ("junkemail", "Junk Email", "IPF.Note", "msgfolderroot"),
    ("archive", "Archive", "IPF.Note", "msgfolderroot"),
    ("calendar", "Calendar", "IPF.Appointment", "msgfolderroot"),
    ("contacts", "Contacts", "IPF.Contact", "msgfolderroot"),
    ("tasks", "Tasks", "IPF.Task", "msgfolderroot"),
    ("notes", "Notes", "IPF.StickyNote", "msgfolderroot"),
    ("journal", "Journal", "IPF.Journal", "msgfolderroot"),
    ("conversationhistory", "Conversation History", "IPF.Note", "msgfolderroot"),
    ("syncissues", "Sync Issues", "IPF.Note", "msgfolderroot"),
    ("conflicts", "Conflicts", "IPF.Note", "syncissues"),
    ("localfailures", "Local Failures", "IPF.Note", "syncissues"),
    ("serverfailures", "Server Failures", "IPF.Note", "syncissues"),
    ("recoverableitemsroot", "Recoverable Items", None, "root"),
    ("recoverableitemsdeletions", "Deletions", None, "recoverableitemsroot"),
    ("recoverableitemsversions", "Versions", None, "recoverableitemsroot"),
    ("recoverableitemspurges", "Purges", None, "recoverableitemsroot"),
    ("searchfolders", "Finder", None, "root"),
)

# Well-known folders of an archive mailbox (the "In-Place Archive").
ARCHIVE_FOLDERS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("archiveroot", "", None, None),
    ("archivemsgfolderroot", "Top of Information Store", "IPF.Note", "archiveroot"),
    ("archivedeleteditems", "Deleted Items", "IPF.Note", "archivemsgfolderroot"),
    ("archiveinbox", "Inbox", "IPF.Note", "archivemsgfolderroot"),
    ("archiverecoverableitemsroot", "Recoverable Items", None, "archiveroot"),
    ("archiverecoverableitemsdeletions", "Deletions", None, "archiverecoverableitemsroot"),
    ("archiverecoverableitemsversions", "Versions", None, "archiverecoverableitemsroot"),
    ("archiverecoverableitemspurges", "Purges", None, "archiverecoverableitemsroot"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    address TEXT PRIMARY KEY,            -- lower-case SMTP address
    display_name TEXT NOT NULL,
    pw_hash TEXT NOT NULL,               -- pbkdf2_sha256$iterations$salt$hash (Basic, OAuth password grant)
    nt_hash TEXT NOT NULL,               -- MD4 of the UTF-16LE password: what NTLMv2 verification needs
    impersonate_all INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS grants (      -- who may impersonate whom, besides impersonate_all
    actor TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (actor, target)
);
CREATE TABLE IF NOT EXISTS apps (        -- OAuth client-credential applications
    client_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stores (
    id INTEGER PRIMARY KEY, mailbox TEXT NOT NULL, kind TEXT NOT NULL, guid TEXT NOT NULL,
    UNIQUE (mailbox, kind)
);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY, store_id INTEGER NOT NULL, parent_id INTEGER,
    display_name TEXT NOT NULL, folder_class TEXT, distinguished TEXT,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS folders_parent ON folders (parent_id);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, folder_id INTEGER NOT NULL, kind TEXT NOT NULL,
    item_class TEXT NOT NULL, subject TEXT, message_flags INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL, mime_blob TEXT, fields TEXT NOT NULL, created TEXT NOT NULL,
    mime_pending INTEGER NOT NULL DEFAULT 0  -- 1: the fields promoted from the MIME are not in `fields` yet
);
CREATE INDEX IF NOT EXISTS items_folder ON items (folder_id);
CREATE TABLE IF NOT EXISTS item_props (
    item_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (item_id, key)
);
CREATE INDEX IF NOT EXISTS item_props_lookup ON item_props (key, value);
CREATE TABLE IF NOT EXISTS blobs (       -- content up to INLINE_BLOB_BYTES, by its SHA-256; bigger is a file
    name TEXT PRIMARY KEY, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (        -- messages "sent" (never delivered anywhere)
    id INTEGER PRIMARY KEY, mailbox TEXT NOT NULL, subject TEXT, created TEXT NOT NULL
);
"""


# Content up to this size lives in the database (in the transaction that refers to it); bigger in files,
# so a 35 MB attachment does not pass through the WAL.
INLINE_BLOB_BYTES = 1024 * 1024


class StoreError(Exception):
    """A store operation refused: `code` is a neutral reason the front ends map to their errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def prop_key(
    prop_type: str,
    *,
    tag: int | None = None,
    property_set: uuid.UUID | str | None = None,
    name: str | None = None,
    lid: int | None = None,
) -> str:
    """The canonical key of an extended property (see the module docstring)."""
    if tag is not None:
        return f"tag:{tag:#06x}:{prop_type}"
    guid = str(uuid.UUID(str(property_set))).lower()
    if name is not None:
        if guid == str(PS_INTERNET_HEADERS):
            name = name.lower()  # header names are case-insensitive; Exchange keeps them lower-case
        return f"{{{guid}}}:name:{name}:{prop_type}"
    if lid is None:
        raise ValueError("a named property needs a name or an id")
    return f"{{{guid}}}:id:{lid:#06x}:{prop_type}"


@dataclass(frozen=True)
class User:
    address: str
    display_name: str
    impersonate_all: bool


@dataclass(frozen=True)
class Folder:
    id: int
    store_id: int
    mailbox: str
    archive: bool
    parent_id: int | None
    display_name: str
    folder_class: str | None
    distinguished: str | None


@dataclass
class NewItem:
    """An item to create. `fields` is the front end's typed content (JSON-serialisable)."""

    kind: str  # Message, CalendarItem, Contact, Task, DistributionList, Item, ...
    item_class: str
    subject: str | None = None
    mime: bytes | None = None
    message_flags: int = 0
    fields: list = field(default_factory=list)
    props: dict[str, object] = field(default_factory=dict)
    # Promote Body, From, To... from `mime` into the fields (what Exchange does), lazily: when first read.
    promote_mime: bool = False


@dataclass(frozen=True)
class Item:
    id: int
    folder_id: int
    kind: str
    item_class: str
    subject: str | None
    message_flags: int
    size: int
    mime_blob: str | None
    stored_fields: list
    props: dict[str, object]
    created: str
    # Set while the fields promoted from the MIME are not worked out yet: returns the item's MIME.
    pending_mime: Callable[[], bytes | None] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def fields(self) -> list:
        """The typed fields: those the creating request set, and those promoted from the MIME."""
        if self.pending_mime is None:
            return self.stored_fields
        fields = list(self.stored_fields)
        mime = self.pending_mime()
        if mime is not None:
            mimefields.promote(mime, fields)
        return fields

    @property
    def is_draft(self) -> bool:
        return bool(self.message_flags & MSGFLAG_UNSENT)

    @property
    def is_read(self) -> bool:
        return bool(self.message_flags & MSGFLAG_READ)


PBKDF2_ITERATIONS = 100_000


def hash_secret(secret: str) -> str:
    """A salted PBKDF2-SHA256 hash, so the store keeps no password or client secret in clear."""
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_secret(stored: str, secret: str) -> bool:
    try:
        _scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    again = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(again.hex(), digest)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """The sandbox store in `state_dir` (created if missing). Thread-safe."""

    def __init__(self, state_dir: str | os.PathLike[str], fsync: bool = False) -> None:
        self.state_dir = Path(state_dir)
        self.blob_dir = self.state_dir / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._verified: set[bytes] = set()
        self._db = sqlite3.connect(self.state_dir / "store.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._fsync = fsync
        # OFF: a commit is in the WAL (in the OS) when it returns, so a killed process loses nothing, and
        # nothing is fsynced, not even at checkpoints: under NORMAL each checkpoint's fsync (one per ~40
        # batches, tens of ms on a busy disk, holding the store lock) cost ~1 ms per CreateItem on average.
        # FULL: also on disk at every commit (a power cut loses nothing).
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
        self._db.executescript(_SCHEMA)
        if "mime_pending" not in {r[1] for r in self._db.execute("PRAGMA table_info(items)")}:
            self._db.execute("ALTER TABLE items ADD COLUMN mime_pending INTEGER NOT NULL DEFAULT 0")  # older state

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- users, apps, tokens -----------------------------------------------------------
    def add_user(self, address: str, password: str, display_name: str | None = None, archive: bool = False) -> User:
        """Create (or update the password of) a mailbox user with its well-known folders."""
        address = address.strip().lower()
        if display_name is None:
            local = address.split("@")[0]
            display_name = " ".join(part.capitalize() for part in local.replace("_", ".").split("."))
        with self._lock, self._tx():
            self._db.execute(
                "INSERT INTO users (address, display_name, pw_hash, nt_hash) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (address) DO UPDATE SET pw_hash = excluded.pw_hash, nt_hash = excluded.nt_hash",
                (address, display_name, hash_secret(password), md4(password.encode("utf-16-le")).hex()),
            )
            self._ensure_store(address, "primary", PRIMARY_FOLDERS)
            if archive:
                self._ensure_store(address, "archive", ARCHIVE_FOLDERS)
        user = self.user(address)
        assert user is not None
        return user

    def enable_archive(self, address: str) -> None:
        with self._lock, self._tx():
            self._ensure_store(address.lower(), "archive", ARCHIVE_FOLDERS)

    def has_archive(self, address: str) -> bool:
        return self._store_id(address, "archive") is not None

    def grant_impersonation(self, actor: str, targets: Iterable[str] | None = None) -> None:
        """Let `actor` impersonate `targets`, or every mailbox when `targets` is None."""
        with self._lock, self._tx():
            if targets is None:
                self._db.execute("UPDATE users SET impersonate_all = 1 WHERE address = ?", (actor.lower(),))
            else:
                self._db.executemany(
                    "INSERT OR IGNORE INTO grants (actor, target) VALUES (?, ?)",
                    [(actor.lower(), t.lower()) for t in targets],
                )

    def can_impersonate(self, actor: str, target: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT impersonate_all FROM users WHERE address = ?", (actor.lower(),)).fetchone()
            if row and row[0]:
                return True
            if self._db.execute("SELECT 1 FROM apps WHERE client_id = ?", (actor,)).fetchone():
                return True  # an application granted full_access_as_app
            return bool(
                self._db.execute(
                    "SELECT 1 FROM grants WHERE actor = ? AND target = ?", (actor.lower(), target.lower())
                ).fetchone()
            )

    def user(self, address: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT address, display_name, impersonate_all FROM users WHERE address = ?",
                (address.strip().lower(),),
            ).fetchone()
        return User(row[0], row[1], bool(row[2])) if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                "SELECT address, display_name, impersonate_all FROM users ORDER BY address"
            ).fetchall()
        return [User(r[0], r[1], bool(r[2])) for r in rows]

    def check_password(self, address: str, password: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT pw_hash FROM users WHERE address = ?", (address.strip().lower(),)).fetchone()
        return row is not None and self._verify(row[0], password)

    def nt_hash(self, address: str) -> bytes | None:
        """The user's NT hash (MD4 of the UTF-16LE password), which NTLMv2 verification derives keys from."""
        with self._lock:
            row = self._db.execute("SELECT nt_hash FROM users WHERE address = ?", (address.strip().lower(),)).fetchone()
        return bytes.fromhex(row[0]) if row else None

    def add_app(self, client_id: str, secret: str) -> None:
        """Register an OAuth application (client credentials) allowed to impersonate every mailbox."""
        with self._lock, self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO apps (client_id, secret_hash) VALUES (?, ?)", (client_id, hash_secret(secret))
            )

    def check_app(self, client_id: str, secret: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT secret_hash FROM apps WHERE client_id = ?", (client_id,)).fetchone()
        return row is not None and self._verify(row[0], secret)

    def _verify(self, stored: str, secret: str) -> bool:
        # Basic auth sends the password with every request: remember what already verified, in memory only.
        memo = hashlib.sha256(f"{stored}\0{secret}".encode()).digest()
        if memo in self._verified:
            return True
        if not verify_secret(stored, secret):
            return False
        self._verified.add(memo)
        return True

    def save_token(self, token: str, subject: str, kind: str, expires: float) -> None:
        with self._lock, self._tx():
            self._db.execute(
                "INSERT INTO tokens (token, subject, kind, expires) VALUES (?, ?, ?, ?)",
                (hashlib.sha256(token.encode()).hexdigest(), subject, kind, expires),
            )

    def token(self, token: str) -> tuple[str, str, float] | None:
        """(subject, kind, expires) of a token; only its hash is stored."""
        with self._lock:
            row = self._db.execute(
                "SELECT subject, kind, expires FROM tokens WHERE token = ?",
                (hashlib.sha256(token.encode()).hexdigest(),),
            ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    # --- folders -----------------------------------------------------------------------
    def distinguished(self, mailbox: str, name: str) -> Folder | None:
        """A well-known folder by its distinguished id (`inbox`, `archivemsgfolderroot`...)."""
        kind = "archive" if name.startswith("archive") and name != "archive" else "primary"
        store_id = self._store_id(mailbox, kind)
        if store_id is None:
            return None
        with self._lock:
            row = self._db.execute(
                f"{self._FOLDER_SELECT} WHERE f.store_id = ? AND f.distinguished = ?", (store_id, name)
            ).fetchone()
        return self._folder(row) if row else None

    def folder(self, folder_id: int) -> Folder | None:
        with self._lock:
            row = self._db.execute(f"{self._FOLDER_SELECT} WHERE f.id = ?", (folder_id,)).fetchone()
        return self._folder(row) if row else None

    def children(self, folder_id: int) -> list[Folder]:
        with self._lock:
            rows = self._db.execute(
                f"{self._FOLDER_SELECT} WHERE f.parent_id = ? ORDER BY f.id", (folder_id,)
            ).fetchall()
        return [self._folder(r) for r in rows]

    def descendants(self, folder_id: int) -> list[Folder]:
        """Every folder below `folder_id`, pre-order."""
        out: list[Folder] = []
        for child in self.children(folder_id):
            out.append(child)
            out.extend(self.descendants(child.id))
        return out

    def find_folder(self, parent_id: int, display_name: str) -> Folder | None:
        """A child folder by name; names compare case-insensitively, as in Exchange."""
        for child in self.children(parent_id):
            if child.display_name.casefold() == display_name.casefold():
                return child
        return None

    def folder_path(self, folder: Folder) -> list[str]:
        """Display names from below the store's message root down to `folder`."""
        names: list[str] = []
        current: Folder | None = folder
        while current is not None and current.distinguished not in (
            "root",
            "archiveroot",
            "msgfolderroot",
            "archivemsgfolderroot",
        ):
            names.append(current.display_name)
            current = self.folder(current.parent_id) if current.parent_id else None
        return list(reversed(names))

    def create_folder(self, parent_id: int, display_name: str, folder_class: str | None) -> Folder:
        """Create a folder. Raises StoreError('folder_exists') on a duplicate name."""
        with self._lock:
            parent = self.folder(parent_id)
            if parent is None:
                raise StoreError("folder_not_found", "The specified folder could not be found in the store.")
            if self.find_folder(parent_id, display_name) is not None:
                raise StoreError("folder_exists", "A folder with the specified name already exists.")
            with self._tx():
                cur = self._db.execute(
                    "INSERT INTO folders (store_id, parent_id, display_name, folder_class, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (parent.store_id, parent_id, display_name, folder_class, _now()),
                )
            folder = self.folder(cur.lastrowid)
        assert folder is not None
        return folder

    def count_items(self, folder_id: int) -> tuple[int, int]:
        """(total, unread) items in the folder."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN kind = 'Message' AND message_flags & 1 = 0 "
                "THEN 1 ELSE 0 END), 0) FROM items WHERE folder_id = ?",
                (folder_id,),
            ).fetchone()
        return int(row[0]), int(row[1])

    # --- items -------------------------------------------------------------------------
    def create_items(self, folder_id: int, items: Sequence[NewItem]) -> list[Item]:
        """Create `items` in one folder, durably: blobs are written and the rows committed on return."""
        big = [self._write_blob(it.mime) if it.mime is not None and not _inline(it.mime) else None for it in items]
        if any(big):
            self._sync_dir(self.blob_dir)
        created = _now()
        out: list[Item] = []
        with self._lock, self._tx():
            for it, blob in zip(items, big, strict=True):
                if blob is None and it.mime is not None:
                    blob = self._insert_blob(it.mime)
                fields_json = json.dumps(it.fields)
                size = (len(it.mime) if it.mime is not None else 0) + len(fields_json)
                pending = bool(it.promote_mime and blob)
                cur = self._db.execute(
                    "INSERT INTO items (folder_id, kind, item_class, subject, message_flags, size, mime_blob, "
                    "fields, created, mime_pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        folder_id,
                        it.kind,
                        it.item_class,
                        it.subject,
                        it.message_flags,
                        size,
                        blob,
                        fields_json,
                        created,
                        pending,
                    ),
                )
                props_json = [(k, json.dumps(v)) for k, v in it.props.items()]
                self._db.executemany(
                    "INSERT OR REPLACE INTO item_props (item_id, key, value) VALUES (?, ?, ?)",
                    [(cur.lastrowid, k, v) for k, v in props_json],
                )
                # What `item()` would read back, without reading it back (one query per item less).
                out.append(
                    Item(
                        id=cur.lastrowid,
                        folder_id=folder_id,
                        kind=it.kind,
                        item_class=it.item_class,
                        subject=it.subject,
                        message_flags=it.message_flags,
                        size=size,
                        mime_blob=blob,
                        stored_fields=it.fields,
                        props=dict(it.props),
                        created=created,
                        pending_mime=self._mime_loader(blob) if pending else None,
                    )
                )
        return out

    def record_sent(self, mailbox: str, subject: str | None) -> None:
        with self._lock, self._tx():
            self._db.execute(
                "INSERT INTO sent (mailbox, subject, created) VALUES (?, ?, ?)", (mailbox, subject, _now())
            )

    def sent(self, mailbox: str) -> list[str | None]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT subject FROM sent WHERE mailbox = ?", (mailbox,))]

    def item(self, item_id: int) -> Item | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                return None
            props = {
                r[0]: json.loads(r[1])
                for r in self._db.execute("SELECT key, value FROM item_props WHERE item_id = ?", (item_id,))
            }
        return Item(
            id=row["id"],
            folder_id=row["folder_id"],
            kind=row["kind"],
            item_class=row["item_class"],
            subject=row["subject"],
            message_flags=row["message_flags"],
            size=row["size"],
            mime_blob=row["mime_blob"],
            stored_fields=json.loads(row["fields"]),
            props=props,
            created=row["created"],
            pending_mime=self._mime_loader(row["mime_blob"]) if row["mime_pending"] else None,
        )

    def item_ids(self, folder_id: int, kinds: Sequence[str] | None = None) -> list[int]:
        """Ids of a folder's items, oldest first; only those of `kinds` (store kinds) when given."""
        sql, args = "SELECT id FROM items WHERE folder_id = ?", [folder_id]
        if kinds:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            args += list(kinds)
        with self._lock:
            return [r[0] for r in self._db.execute(sql + " ORDER BY id", args)]

    def items(self, folder_id: int) -> list[Item]:
        """Every item of a folder, oldest first."""
        return [it for it in (self.item(i) for i in self.item_ids(folder_id)) if it is not None]

    def find_by_prop(self, key: str, value: object, folder_id: int | None = None) -> list[Item]:
        """Items whose extended property `key` equals `value` (the source-stamp lookup)."""
        sql = "SELECT p.item_id FROM item_props p JOIN items i ON i.id = p.item_id WHERE p.key = ? AND p.value = ?"
        args: list[object] = [key, json.dumps(value)]
        if folder_id is not None:
            sql += " AND i.folder_id = ?"
            args.append(folder_id)
        with self._lock:
            ids = [r[0] for r in self._db.execute(sql + " ORDER BY p.item_id", args)]
        return [it for it in (self.item(i) for i in ids) if it is not None]

    def delete_item(self, item_id: int) -> None:
        """Remove an item for good (EWS HardDelete): its row and its properties. Its content stays in
        `blobs` (stored by digest, so another item may share it)."""
        with self._lock, self._tx():
            self._db.execute("DELETE FROM item_props WHERE item_id = ?", (item_id,))
            self._db.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def move_item(self, item_id: int, folder_id: int) -> None:
        """Put an item in another folder of its store, keeping its id (SoftDelete, MoveToDeletedItems)."""
        with self._lock, self._tx():
            self._db.execute("UPDATE items SET folder_id = ? WHERE id = ?", (folder_id, item_id))

    def _mime_loader(self, name: str) -> Callable[[], bytes | None]:
        def load() -> bytes | None:
            try:
                return self.blob(name)
            except (OSError, sqlite3.Error):  # the store was closed or the content is gone: nothing to promote
                return None

        return load

    def mime(self, item: Item) -> bytes | None:
        if item.mime_blob is None:
            return None
        return self.blob(item.mime_blob)

    def put_blob(self, data: bytes) -> str:
        """Store content durably (as `create_items` does) and return its name, e.g. an attachment's bytes."""
        if _inline(data):
            with self._lock, self._tx():
                return self._insert_blob(data)
        name = self._write_blob(data)
        self._sync_dir(self.blob_dir)
        return name

    def blob(self, name: str) -> bytes:
        with self._lock:
            row = self._db.execute("SELECT data FROM blobs WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return bytes(row[0])
        return (self.blob_dir / name[:2] / name).read_bytes()

    _UNSET: object = object()

    def update_item(
        self,
        item_id: int,
        *,
        subject: object = _UNSET,
        message_flags: int | None = None,
        fields: list | None = None,
        props: dict[str, object] | None = None,
        size: int | None = None,
        item_class: str | None = None,
    ) -> Item | None:
        """Change an item in one transaction; `props` are added or replaced, the others kept."""
        sets: list[str] = []
        args: list[object] = []
        if item_class is not None:
            sets.append("item_class = ?")
            args.append(item_class)
        if subject is not Store._UNSET:
            sets.append("subject = ?")
            args.append(subject)
        if message_flags is not None:
            sets.append("message_flags = ?")
            args.append(message_flags)
        if fields is not None:
            sets.append("fields = ?, mime_pending = 0")  # given whole, promoted fields included
            args.append(json.dumps(fields))
        if size is not None:
            sets.append("size = ?")
            args.append(size)
        with self._lock, self._tx():
            if sets:
                self._db.execute(f"UPDATE items SET {', '.join(sets)} WHERE id = ?", [*args, item_id])
            if props:
                self._db.executemany(
                    "INSERT OR REPLACE INTO item_props (item_id, key, value) VALUES (?, ?, ?)",
                    [(item_id, k, json.dumps(v)) for k, v in props.items()],
                )
        return self.item(item_id)

    # --- internals ---------------------------------------------------------------------
    _FOLDER_SELECT = (
        "SELECT f.id, f.store_id, s.mailbox, s.kind, f.parent_id, f.display_name, f.folder_class, "
        "f.distinguished FROM folders f JOIN stores s ON s.id = f.store_id"
    )

    @staticmethod
    def _folder(row: sqlite3.Row) -> Folder:
        return Folder(row[0], row[1], row[2], row[3] == "archive", row[4], row[5], row[6], row[7])

    def _store_id(self, mailbox: str, kind: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM stores WHERE mailbox = ? AND kind = ?", (mailbox.strip().lower(), kind)
            ).fetchone()
        return row[0] if row else None

    def _ensure_store(self, mailbox: str, kind: str, layout: Sequence[tuple[str, str, str | None, str | None]]):
        if self._store_id(mailbox, kind) is not None:
            return
        cur = self._db.execute(
            "INSERT INTO stores (mailbox, kind, guid) VALUES (?, ?, ?)", (mailbox, kind, str(uuid.uuid4()))
        )
        store_id = cur.lastrowid
        ids: dict[str, int] = {}
        for dist, name, cls, parent in layout:
            cur = self._db.execute(
                "INSERT INTO folders (store_id, parent_id, display_name, folder_class, distinguished, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (store_id, ids.get(parent) if parent else None, name, cls, dist, _now()),
            )
            ids[dist] = cur.lastrowid

    def _insert_blob(self, data: bytes) -> str:
        """Content as a `blobs` row (inside the caller's transaction); the same content is kept once."""
        name = hashlib.sha256(data).hexdigest()
        self._db.execute("INSERT OR IGNORE INTO blobs (name, data) VALUES (?, ?)", (name, data))
        return name

    def _write_blob(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()
        sub = self.blob_dir / name[:2]
        path = sub / name
        if path.exists():
            return name
        sub.mkdir(exist_ok=True)
        tmp = sub / f".{name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if self._fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._sync_dir(sub)
        return name

    def _sync_dir(self, path: Path) -> None:
        if self._fsync:
            _fsync_dir(path)

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type, exc, tb) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> Store._Tx:
        return Store._Tx(self._db)


def _inline(data: bytes) -> bool:
    return len(data) <= INLINE_BLOB_BYTES


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
