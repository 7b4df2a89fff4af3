"""The drop folder (`pstimport watch DIR --profile TEMPLATE.yaml`): end-user self-service.

Users drop PSTs into a share. Each scan of the folder:

1. **Stability.** A file is taken only once it is completely written: its size and mtime
   have not changed for `settle` seconds over at least two scans, no local process holds it
   open for writing (psutil), and it takes a non-blocking lock (a writer holding one keeps it).
2. **Identity.** Its SHA-256 is the key in the SQLite state, so a file is never imported
   twice, even if it is dropped again under another name, or the watcher restarts.
3. **Mailbox.** A rule maps the file to a mailbox: the name of the sub-folder it was dropped
   in (`alice@contoso.com/backup.pst`), or a file-name pattern with a template.
4. **Check.** The PST is opened with our reader; one that cannot be read goes to failed/.
5. **Import.** An `Importer` does the work: the engine (`EngineImporter`) or an upload for
   the Import Service (`UploadImporter`).
6. **Done.** The file moves to `done/` or `failed/` (keeping its sub-folder) with a
   per-file report `<name>.report.json` beside it.

Crash safety: the state row is written before each step; after a restart a file whose import
was under way is imported again, which importers must make harmless (the engine skips items
already there by their source stamp; the upload resumes or skips committed blobs). A file
whose state says done but which is still in the folder is moved to done/ without importing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.errors import Interrupted, PstImportError, UserError

log = logging.getLogger(__name__)

DONE_DIR = "done"
FAILED_DIR = "failed"
STATE_DIR = ".pstimport"
MAX_ATTEMPTS = 3
_ADDRESS_RE = re.compile(r"^[^@\s/\\]+@[^@\s/\\]+\.[^@\s/\\]+$")
_TEMP_NAME_RE = re.compile(r"(?i)^(~\$|\.)|\.(tmp|part|partial|crdownload|filepart)$")


# ----------------------------------------------------------------------------- mailbox rules


@dataclass(frozen=True)
class MailboxRule:
    """How a dropped file finds its mailbox.

    `subfolder`: the first folder under the drop folder is the address (`alice@contoso.com/x.pst`).
    `pattern`: `pattern` (a regex, matched against the file name, case-insensitive) with a named
    group `mailbox`, or with other named groups filled into `template` (`{user}@contoso.com`).
    """

    kind: str = "subfolder"
    pattern: str | None = None
    template: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("subfolder", "pattern"):
            raise UserError(f"mailbox rule must be subfolder or pattern, not {self.kind!r}")
        if self.kind == "pattern":
            if not self.pattern:
                raise UserError("the pattern rule needs --pattern")
            try:
                rx = re.compile(self.pattern, re.IGNORECASE)
            except re.error as exc:
                raise UserError(f"--pattern {self.pattern!r}: {exc}") from None
            if "mailbox" not in rx.groupindex and not self.template:
                raise UserError("--pattern needs a (?P<mailbox>...) group, or --mailbox-template with its groups")

    def mailbox_for(self, relative: Path) -> str:
        """The address for a file at `relative` (to the drop folder).

        Raises:
            UserError: no address can be derived, or it is not an email address.
        """
        if self.kind == "subfolder":
            if len(relative.parts) < 2:
                raise UserError(f"{relative}: drop the PST in a sub-folder named after the mailbox "
                                "(e.g. alice@contoso.com/)")  # fmt: skip
            address = relative.parts[0]
        else:
            m = re.fullmatch(self.pattern or "", relative.name, re.IGNORECASE)
            if not m:
                raise UserError(f"{relative.name}: the file name does not match the pattern {self.pattern!r}")
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            try:
                address = self.template.format(**groups) if self.template else groups["mailbox"]
            except (KeyError, IndexError, ValueError) as exc:
                raise UserError(f"{relative.name}: mailbox template {self.template!r} needs {exc}") from None
        address = address.strip()
        if not _ADDRESS_RE.match(address):
            raise UserError(f"{relative}: {address!r} is not a mailbox address")
        return address


# ----------------------------------------------------------------------------- import interface


@dataclass(frozen=True)
class ImportRequest:
    """One dropped PST to import into `mailbox`."""

    path: Path
    relative: Path
    mailbox: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ImportOutcome:
    """What an importer did. `ok=False` sends the file to failed/ with `reason`."""

    ok: bool
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Importer(Protocol):
    """The import step. Must be idempotent: after a crash the same request may come again."""

    name: str

    def import_pst(self, request: ImportRequest, cancel: threading.Event) -> ImportOutcome: ...


class EngineImporter:
    """Imports with the engine (`core.engine.build_plan` then `core.engine.run`); the template profile
    gives the connection, destination, filters and performance, the dropped file its source and mailbox.

    The secret comes the way the engine's own `run` gets it (keyring, or PSTIMPORT_PASSWORD and the
    like for a service), looked up once when the watcher starts. The engine's journal and the source
    stamps make a repeated request (after a crash) import nothing twice.
    """

    name = "engine"

    def __init__(self, template: Any, *, transport_factory: Callable[[Any], Callable[[], Any]] | None = None) -> None:
        self.template = template
        if transport_factory is None:
            from core.engine.connect import transport_factory as default_factory

            transport_factory = default_factory
        self._factory = transport_factory
        # Look the secret up now, not at the first drop hours later: a missing one fails the start.
        self._factory(self.template)

    @staticmethod
    def available() -> bool:
        try:
            import core.engine as engine
        except ImportError:
            return False
        return callable(getattr(engine, "run", None)) and callable(getattr(engine, "build_plan", None))

    def profile_for(self, request: ImportRequest) -> Any:
        """The template with this file as its only source and this mailbox."""
        from core.profile.model import Source

        first = self.template.sources[0] if self.template.sources else None
        source = Source(path=str(request.path))
        if first is not None:  # the template's first source carries the code page and folder filters
            source = Source(path=str(request.path), codepage=first.codepage, include=list(first.include),
                            exclude=list(first.exclude))  # fmt: skip
        profile = self.template.model_copy(
            update={"mailbox": request.mailbox, "sources": [source], "name": f"{self.template.name}-drop"}
        )
        return profile

    def import_pst(self, request: ImportRequest, cancel: threading.Event) -> ImportOutcome:
        from core.engine import build_plan, run

        profile = self.profile_for(request)
        try:
            plan = build_plan(profile, transport_factory=self._factory(profile))
            result = run(plan, lambda _event: None, cancel)
        except PstImportError as exc:
            return ImportOutcome(False, str(exc))
        details = {"imported": result.imported, "skipped_existing": result.skipped, "failed": result.failed,
                   "report": result.report_json, "failures": [f"{'/'.join(f.source_path)}: {f.subject}: {f.reason}"
                                                              for f in result.failures[:20]]}  # fmt: skip
        if result.interrupted:
            raise Interrupted(f"{request.relative}: interrupted; it is imported again on the next start")
        if result.failed:
            return ImportOutcome(False, f"{result.failed} item(s) failed to import (see the report)", details)
        mismatched = (result.report or {}).get("totals", {}).get("mismatched_folders", 0)
        if mismatched:
            return ImportOutcome(False, f"{mismatched} folder(s) differ between PST and mailbox", details)
        return ImportOutcome(True, None, details)


class UploadImporter:
    """Uploads the PST for Microsoft's Import Service under `<prefix>/<mailbox>/<file name>`, and keeps
    a mapping CSV of everything uploaded (store and root from the template) for the admin's import job."""

    name = "upload"

    def __init__(self, sas: Any, mapping_csv: Path, *, prefix: str = "dropfolder", store: str = "mailbox",
                 root: str = "pst-name", folder: str | None = None, threads: int = 4) -> None:  # fmt: skip
        from core.importservice.blobstore import Container
        from core.importservice.sas import check_sas

        check_sas(sas, ["upload"])
        self.sas = sas
        self.store = Container(sas)
        self.mapping_csv = mapping_csv
        self.prefix = (sas.folder + prefix.strip("/")).strip("/")
        self.destination = {"store": store, "root": root, "folder": folder}
        self.threads = threads
        self._uploaded: list[Any] = self._load_jobs()
        self._lock = threading.Lock()

    def blob_for(self, request: ImportRequest) -> str:
        name = f"{request.mailbox}/{request.relative.name}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def import_pst(self, request: ImportRequest, cancel: threading.Event) -> ImportOutcome:
        from core.importservice.mapping import ImportJob, validate_job, write_mapping

        job = ImportJob(request.mailbox, self.blob_for(request), request.path, size=request.size,
                        **self.destination)  # fmt: skip
        try:
            validate_job(job, str(request.relative))
            result = self.store.upload(request.path, job.blob, threads=self.threads, cancel=cancel)
        except Interrupted:
            raise
        except PstImportError as exc:
            return ImportOutcome(False, str(exc))
        with self._lock:
            self._uploaded = [j for j in self._uploaded if j.blob != job.blob] + [job]
            self._save_jobs()
            write_mapping(self._uploaded, self.mapping_csv, inspect_psts=False)
        details = {"blob": result.blob, "md5": result.md5_hex, "verified": result.verified,
                   "skipped_existing": result.skipped, "mapping": str(self.mapping_csv)}  # fmt: skip
        return ImportOutcome(True, None, details)

    @property
    def _jobs_file(self) -> Path:
        return self.mapping_csv.with_name(self.mapping_csv.name + ".jobs.json")

    def _load_jobs(self) -> list[Any]:
        """The uploads of earlier runs, so the mapping CSV keeps listing them after a restart."""
        from core.importservice.mapping import ImportJob

        try:
            data = json.loads(self._jobs_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise UserError(f"{self._jobs_file}: unreadable ({exc})") from None
        return [ImportJob(**{**d, "local_path": None}) for d in data]

    def _save_jobs(self) -> None:
        data = [{k: v for k, v in vars(j).items() if k != "local_path"} for j in self._uploaded]
        tmp = self._jobs_file.with_name(self._jobs_file.name + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self._jobs_file)


# ----------------------------------------------------------------------------- persistent state


class WatchState:
    """The watcher's memory, in SQLite: one row per file content (SHA-256) and mailbox, so the same
    PST dropped again for the same mailbox is recognised, while one PST meant for two people is not."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS files (
        sha256 TEXT NOT NULL,
        mailbox TEXT NOT NULL,  -- '' when no mailbox could be derived
        relative TEXT NOT NULL,
        size INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('importing', 'done', 'failed')),
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_seen TEXT NOT NULL,
        finished TEXT,
        details TEXT,
        PRIMARY KEY (sha256, mailbox)
    );
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(self.SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get(self, sha256: str, mailbox: str | None) -> dict[str, Any] | None:
        cur = self._db.execute("SELECT * FROM files WHERE sha256 = ? AND mailbox = ?", (sha256, mailbox or ""))
        row = cur.fetchone()
        return dict(zip([c[0] for c in cur.description], row, strict=True)) if row else None

    def begin(self, request: ImportRequest) -> int:
        """Mark the file as being imported; returns the attempt number."""
        now = _now()
        self._db.execute(
            "INSERT INTO files (sha256, relative, mailbox, size, status, attempts, first_seen) "
            "VALUES (?, ?, ?, ?, 'importing', 1, ?) "
            "ON CONFLICT(sha256, mailbox) DO UPDATE SET attempts = attempts + 1, status = 'importing', "
            "relative = excluded.relative",
            (request.sha256, str(request.relative), request.mailbox, request.size, now),
        )
        return int(self.get(request.sha256, request.mailbox)["attempts"])  # type: ignore[index]

    def finish(self, sha256: str, relative: Path, size: int, mailbox: str | None, ok: bool,
               reason: str | None, details: dict[str, Any]) -> None:  # fmt: skip
        self._db.execute(
            "INSERT INTO files (sha256, relative, mailbox, size, status, reason, attempts, first_seen, finished, "
            "details) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT(sha256, mailbox) DO UPDATE SET status = "
            "excluded.status, reason = excluded.reason, finished = excluded.finished, details = excluded.details",
            (sha256, str(relative), mailbox or "", size, "done" if ok else "failed", reason, _now(), _now(),
             json.dumps(details, default=str)),
        )  # fmt: skip

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM files", ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        cur = self._db.execute(sql + " ORDER BY first_seen, relative", args)
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- stability


def open_for_writing(paths: set[Path]) -> set[Path]:
    """Which of `paths` some local process holds open for writing (what psutil can see)."""
    if not paths:
        return set()
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return set()
    wanted = {str(p.resolve()) for p in paths}
    busy: set[str] = set()
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.info["pid"] == me:
            continue
        try:
            for f in proc.open_files():
                if f.path in wanted and getattr(f, "mode", "r") != "r":
                    busy.add(f.path)
        except (psutil.Error, OSError):
            continue
    return {p for p in paths if str(p.resolve()) in busy}


def is_locked(path: Path) -> bool:
    """True when another holder has a lock on the file (flock or POSIX record lock), as a writer
    copying over SMB or a cooperating program does while writing."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        for lock in (fcntl.flock, fcntl.lockf):
            try:
                lock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                lock(fd, fcntl.LOCK_UN)
            except OSError:
                return True
        return False
    finally:
        os.close(fd)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float
    scans: int = 1


# ----------------------------------------------------------------------------- the watcher


@dataclass
class FileResult:
    """What happened to one dropped file in a scan."""

    relative: str
    status: str  # done | failed | duplicate
    mailbox: str | None
    reason: str | None
    moved_to: str


class Watcher:
    """Watches `folder`; `scan()` processes what is ready, `run()` loops until cancelled."""

    def __init__(
        self,
        folder: Path,
        rule: MailboxRule,
        importer: Importer,
        *,
        state_path: Path | None = None,
        settle: float = 10.0,
        suffixes: tuple[str, ...] = (".pst",),
        check_pst: Callable[[Path], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not folder.is_dir():
            raise UserError(f"{folder}: not a folder")
        self.folder = folder
        self.rule = rule
        self.importer = importer
        self.settle = settle
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.check_pst = check_pst or check_readable
        self.clock = clock
        self.state = WatchState(state_path or folder / STATE_DIR / "watch.sqlite")
        self._seen: dict[Path, _Seen] = {}

    def close(self) -> None:
        self.state.close()

    # -- discovery

    def _candidates(self) -> Iterator[Path]:
        skip = {self.folder / DONE_DIR, self.folder / FAILED_DIR, self.folder / STATE_DIR}
        for dirpath, dirnames, filenames in os.walk(self.folder):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if here / d not in skip and not d.startswith("."))
            for name in sorted(filenames):
                if _TEMP_NAME_RE.search(name) or not name.lower().endswith(self.suffixes):
                    continue
                yield here / name

    def ready(self) -> list[Path]:
        """Files whose size and mtime held still for `settle` seconds across two scans, unlocked."""
        now = self.clock()
        current: dict[Path, _Seen] = {}
        stable: list[Path] = []
        for path in self._candidates():
            try:
                st = path.stat()
            except OSError:
                continue
            prev = self._seen.get(path)
            if prev and prev.size == st.st_size and prev.mtime_ns == st.st_mtime_ns:
                prev.scans += 1
                current[path] = prev
                if prev.scans >= 2 and now - prev.since >= self.settle:
                    stable.append(path)
            else:
                current[path] = _Seen(st.st_size, st.st_mtime_ns, now)
        self._seen = current
        busy = open_for_writing(set(stable))
        ready = [p for p in stable if p not in busy and not is_locked(p)]
        for p in set(stable) - set(ready):
            log.info("%s: still open for writing or locked; waiting", p)
        return ready

    # -- processing

    def scan(self, cancel: threading.Event | None = None) -> list[FileResult]:
        """One pass: process every ready file. One bad file never stops the others."""
        cancel = cancel or threading.Event()
        results = []
        for path in self.ready():
            if cancel.is_set():
                break
            try:
                results.append(self._process(path, cancel))
            except PstImportError as exc:
                log.error("%s: %s", path, exc)
            self._seen.pop(path, None)
        return results

    def run(self, cancel: threading.Event, interval: float = 5.0,
            on_result: Callable[[FileResult], None] | None = None) -> None:  # fmt: skip
        """Scan every `interval` seconds until `cancel` is set."""
        while not cancel.is_set():
            for result in self.scan(cancel):
                if on_result:
                    on_result(result)
            cancel.wait(interval)

    def _process(self, path: Path, cancel: threading.Event) -> FileResult:
        relative = path.relative_to(self.folder)
        size = path.stat().st_size
        digest = sha256_file(path)
        try:
            mailbox = self.rule.mailbox_for(relative)
        except UserError as exc:
            return self._fail(path, relative, digest, size, None, str(exc), {})
        known = self.state.get(digest, mailbox)
        if known and known["status"] == "done":
            reason = f"already imported into {mailbox} on {known['finished']} (same content as {known['relative']})"
            report = {"status": "duplicate", "reason": reason}
            return self._move(path, relative, DONE_DIR, digest, size, mailbox, "duplicate", reason, report)
        request = ImportRequest(path, relative, mailbox, digest, size)
        attempt = self.state.begin(request)
        if attempt > MAX_ATTEMPTS:
            return self._fail(path, relative, digest, size, mailbox,
                              f"gave up after {MAX_ATTEMPTS} attempts that did not finish", {})  # fmt: skip
        try:
            self.check_pst(path)
        except PstImportError as exc:
            return self._fail(path, relative, digest, size, mailbox, str(exc), {})
        started = _now()
        try:
            outcome = self.importer.import_pst(request, cancel)
        except Interrupted:
            raise  # stopping is not failing: the file stays, and is imported on the next start
        except PstImportError as exc:
            outcome = ImportOutcome(False, str(exc))
        details = {"importer": self.importer.name, "started": started, "finished": _now(), **outcome.details}
        if not outcome.ok:
            return self._fail(path, relative, digest, size, mailbox, outcome.reason or "import failed", details)
        self.state.finish(digest, relative, size, mailbox, True, None, details)
        return self._move(path, relative, DONE_DIR, digest, size, mailbox, "done", None, details)

    def _fail(self, path: Path, relative: Path, digest: str, size: int, mailbox: str | None, reason: str,
              details: dict[str, Any]) -> FileResult:  # fmt: skip
        self.state.finish(digest, relative, size, mailbox, False, reason, details)
        return self._move(path, relative, FAILED_DIR, digest, size, mailbox, "failed", reason, details)

    def _move(self, path: Path, relative: Path, where: str, digest: str, size: int, mailbox: str | None,
              status: str, reason: str | None, details: dict[str, Any]) -> FileResult:  # fmt: skip
        target = self.folder / where / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # an earlier file of the same name: keep both
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            target = target.with_name(f"{target.stem}.{stamp}{target.suffix}")
        os.replace(path, target)
        report = {"file": str(relative), "status": status, "mailbox": mailbox, "reason": reason,
                  "sha256": digest, "size": size, "moved_to": str(target.relative_to(self.folder)),
                  "when": _now(), **{k: v for k, v in details.items() if k not in ("status", "reason")}}  # fmt: skip
        tmp = target.with_name(target.name + ".report.json.tmp")
        tmp.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(target.with_name(target.name + ".report.json"))
        level = logging.INFO if status != "failed" else logging.WARNING
        log.log(level, "%s: %s%s", relative, status, f" ({reason})" if reason else "")
        return FileResult(str(relative), status, mailbox, reason, str(target.relative_to(self.folder)))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while data := fh.read(chunk):
            h.update(data)
    return h.hexdigest()


def check_readable(path: Path) -> None:
    """Open the PST with our reader and walk its folders; raises PstError with the reason if it cannot."""
    from core.pst import open_pst

    with open_pst(path) as pst:
        _ = pst.info
        for _folder in pst.folders():
            pass


@contextlib.contextmanager
def watcher(*args: Any, **kwargs: Any) -> Iterator[Watcher]:
    """A Watcher that closes its state on exit."""
    w = Watcher(*args, **kwargs)
    try:
        yield w
    finally:
        w.close()
