"""The run journal: one SQLite file per profile, mailbox, store and server, in WAL mode.

The journal is a cache of what the server holds, never more: the same profile pointed at another
server (or a new one at the same address) gets a journal of its own (`server_journal_path`), and at
the start of a run each folder whose item count on the server is below what the journal says was
imported there is looked up by stamp again (the engine's `recover`), so what went missing is sent.

Each item's source stamp has a state: `sending` (written and committed before the request
leaves, so a crash leaves it there), `done` (the server answered with an item id) or `failed`
(the reason kept for the report; tried again on the next run). An item with no row was never
sent. On start, `sending` rows are settled by looking their stamps up on the server.

A recurring series is created first and its exceptions applied after ("steps", see
core/transport/base.py): `series` records that a created item still needs its steps (complete=0)
or has them all (complete=1), `series_steps` each step started or done, so a run stopped
mid-series completes it on resume and applies no step twice.

WAL with synchronous=NORMAL survives a killed process (kill -9): a committed transaction is in
the WAL file, which the next open replays. It is not meant to survive a power cut mid-write;
the stamp lookup covers that case as well, since no state is trusted blindly after a crash.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS items (
    stamp TEXT PRIMARY KEY,
    folder_id TEXT NOT NULL,
    source_path TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sending', 'done', 'failed')),
    item_id TEXT,
    size INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_folder ON items (folder_id, state);
CREATE TABLE IF NOT EXISTS folders (
    folder_id TEXT PRIMARY KEY,
    scanned REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + """
CREATE TABLE IF NOT EXISTS series (
    stamp TEXT PRIMARY KEY,
    item_id TEXT,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS series_steps (
    stamp TEXT NOT NULL,
    step TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('started', 'done')),
    PRIMARY KEY (stamp, step)
);
"""
)

STATE_ENV = "PSTIMPORT_STATE_DIR"
# Rows per multi-row INSERT (well under SQLite's limit of 32766 bound parameters).
ROWS_PER_STATEMENT = 500


def state_dir() -> Path:
    """Where journals live: $PSTIMPORT_STATE_DIR, else $XDG_STATE_HOME/pstimport, else ~/.local/state/pstimport."""
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pstimport"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", text).strip("_") or "x"


def journal_path(profile_name: str, mailbox: str, store: str, directory: Path | None = None) -> Path:
    """The journal file of a profile, mailbox and store."""
    d = directory or state_dir() / "journals"
    return d / f"{_slug(profile_name)}--{_slug(mailbox.lower())}--{store}.sqlite"


def server_key(url: str) -> str:
    """A server's identity for journal names: its endpoint without scheme case, default port or query,
    e.g. 'mail.example.com/ews/exchange.asmx' (what one mailbox on one server is reached by)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (parts.scheme.lower(), port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{host}{parts.path.rstrip('/').lower()}" or url.strip().lower()


def server_journal_path(base: Path, server_url: str) -> Path:
    """The journal of `base` (a `journal_path`) for one server: its name gets the server's host and a
    short hash of its identity, so two servers never share what each was sent."""
    key = server_key(server_url)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    host = _slug(key.split("/", 1)[0])[:40]
    return base.with_name(f"{base.stem}--{host}-{digest}{base.suffix}")


class Journal:
    """Thread-safe access to one journal file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _upsert(self, head: str, tail: str, rows: list[tuple]) -> None:
        """`head` VALUES (...), (...) `tail` for all `rows` in one transaction.

        A batch's rows go in one multi-row statement, not one statement per row: every statement
        lets go of the GIL and must win it back, which an upload thread waits for while the reader
        converts (up to the 5 ms switch interval each time); this was ~2 ms per batch.
        """
        if not rows:
            return
        one = "(" + ", ".join("?" * len(rows[0])) + ")"
        statements = [
            (f"{head} VALUES {', '.join([one] * len(chunk))} {tail}", [v for row in chunk for v in row])
            for chunk in (rows[i : i + ROWS_PER_STATEMENT] for i in range(0, len(rows), ROWS_PER_STATEMENT))
        ]
        with self._lock:
            if len(statements) == 1:  # a single statement is its own transaction
                self._db.execute(*statements[0])
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    self._db.execute(*statement)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # ----- item states --------------------------------------------------------------------

    def mark_sending(self, folder_id: str, source_path: str, stamps: list[tuple[str, int]]) -> None:
        """Record that these (stamp, size) are about to be sent; committed before the request."""
        now = time.time()
        self._upsert(
            "INSERT INTO items (stamp, folder_id, source_path, state, size, updated)",
            "ON CONFLICT(stamp) DO UPDATE SET state='sending', folder_id=excluded.folder_id, "
            "source_path=excluded.source_path, size=excluded.size, reason=NULL, updated=excluded.updated",
            [(s, folder_id, source_path, "sending", size, now) for s, size in stamps],
        )

    def mark_done(
        self, done: list[tuple[str, str | None]], folder_id: str | None = None, source_path: str = ""
    ) -> None:
        """(stamp, item id) pairs the server holds. Rows are created when missing (found by a scan)."""
        now = time.time()
        self._upsert(
            "INSERT INTO items (stamp, folder_id, source_path, state, item_id, updated)",
            "ON CONFLICT(stamp) DO UPDATE SET state='done', item_id=excluded.item_id, reason=NULL, "
            "updated=excluded.updated",
            [(s, folder_id or "", source_path, "done", item_id, now) for s, item_id in done],
        )

    def mark_failed(self, failed: list[tuple[str, str]]) -> None:
        now = time.time()
        self._write(
            "UPDATE items SET state='failed', reason=?, updated=? WHERE stamp=?",
            [(reason, now, s) for s, reason in failed],
        )

    def forget(self, stamps: list[str]) -> None:
        """Back to 'never sent' (a lookup showed the server does not hold them)."""
        self._write("DELETE FROM items WHERE stamp=?", [(s,) for s in stamps])

    def in_flight(self) -> dict[str, list[str]]:
        """Stamps left in 'sending' by an interrupted run, by folder id."""
        with self._lock:
            rows = self._db.execute("SELECT folder_id, stamp FROM items WHERE state='sending'").fetchall()
        out: dict[str, list[str]] = {}
        for folder_id, stamp in rows:
            out.setdefault(folder_id, []).append(stamp)
        return out

    def done_in(self, folder_id: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT stamp FROM items WHERE folder_id=? AND state='done'", (folder_id,))
            return {r[0] for r in rows}

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [(key, value)])

    def count(self, folder_id: str, state: str, prefix: str = "") -> int:
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM items WHERE folder_id=? AND state=? AND stamp LIKE ?",
                (folder_id, state, prefix.replace("%", "") + "%"),
            ).fetchone()[0]

    # ----- folders ------------------------------------------------------------------------

    def knows_folder(self, folder_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM folders WHERE folder_id=?", (folder_id,)).fetchone() is not None

    def remember_folder(self, folder_id: str) -> None:
        self._write("INSERT OR REPLACE INTO folders (folder_id, scanned) VALUES (?, ?)", [(folder_id, time.time())])

    # ----- recurring series (steps after the create) ------------------------------------------

    def series_open(self, stamp: str, item_id: str | None) -> None:
        """A created item whose steps are about to be applied."""
        self._write(
            "INSERT INTO series (stamp, item_id, complete) VALUES (?, ?, 0) "
            "ON CONFLICT(stamp) DO UPDATE SET item_id=excluded.item_id",
            [(stamp, item_id)],
        )

    def series_complete(self, stamp: str) -> None:
        """Every step of the item is applied (or it has none)."""
        self._write(
            "INSERT INTO series (stamp, complete) VALUES (?, 1) ON CONFLICT(stamp) DO UPDATE SET complete=1",
            [(stamp,)],
        )

    def series_completed(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT stamp FROM series WHERE complete=1")}

    def step_started(self, stamp: str, step: str) -> None:
        self._write(
            "INSERT INTO series_steps (stamp, step, state) VALUES (?, ?, 'started') ON CONFLICT DO NOTHING",
            [(stamp, step)],
        )

    def step_done(self, stamp: str, step: str) -> None:
        self._write(
            "INSERT INTO series_steps (stamp, step, state) VALUES (?, ?, 'done') "
            "ON CONFLICT(stamp, step) DO UPDATE SET state='done'",
            [(stamp, step)],
        )

    def steps_done(self, stamp: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT step FROM series_steps WHERE stamp=? AND state='done'", (stamp,))
            return {r[0] for r in rows}

    def item_id(self, stamp: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT item_id FROM items WHERE stamp=?", (stamp,)).fetchone()
        return row[0] if row else None
