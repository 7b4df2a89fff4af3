"""`run_batch`: many mailboxes at once, each through the engine's own `run()`.

Exchange throttles per mailbox (EWSMaxConcurrency, budgets), so a migration goes fast by running
mailboxes side by side. Each mailbox gets a plain engine run: its own journal (per profile name,
mailbox and store, exactly what `pstimport run` would use, so a batch resumes like a run), its own
adaptive limiter (its throttle state) and its own EWS session pool. What they share is one
`ConnectionCap`: every request to the server, from any mailbox, holds one of `max_connections`
slots, which bounds what this machine asks of the server and of its own sockets.

A mailbox's rows with different stores or roots are separate runs, done one after the other by
the same worker, so a mailbox never has two runs (or two writers of one journal) at once.
"""

from __future__ import annotations

import io
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.batch.events import BatchFinished, BatchStarted, MailboxEvent, MailboxFinished, MailboxQueued, MailboxStarted
from core.batch.mapping import BatchRow
from core.batch.shard import shard_of
from core.batch.template import unit_profile
from core.engine.limiter import ByteBudget
from core.engine.run import BYTES_IN_FLIGHT, MB
from core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USER, PstImportError
from core.events import Event
from core.profile.model import Profile
from core.transport.base import FolderHandle, ServerInfo, Transport

log = logging.getLogger(__name__)

# Payload bytes read ahead or in flight across every mailbox of a batch: four single runs' worth
# (core.engine.run.BYTES_IN_FLIGHT), enough to keep 16 mailboxes of ordinary mail busy.
BATCH_BYTES_IN_FLIGHT = 4 * BYTES_IN_FLIGHT


class ConnectionCap:
    """At most `limit` requests in flight across every mailbox of the batch."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._sem = threading.BoundedSemaphore(self.limit)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def __enter__(self) -> ConnectionCap:
        self._sem.acquire()
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.in_flight -= 1
        self._sem.release()


class CappedTransport(Transport):
    """A transport whose every server call holds a slot of the batch's `ConnectionCap`.

    It overrides every method of `Transport` (tests/batch checks): one left to the base class would
    quietly answer the base's default (no series steps: a calendar's exceptions never applied).
    """

    def __init__(self, inner: Transport, cap: ConnectionCap) -> None:
        self.inner = inner
        self.cap = cap

    @property
    def max_item_bytes(self) -> int:  # type: ignore[override]
        return self.inner.max_item_bytes

    @property
    def endpoint(self) -> str:  # type: ignore[override]
        return self.inner.endpoint

    def sign_in(self) -> None:
        self.inner.sign_in()

    def connect(self) -> ServerInfo:
        self.inner.connect_deadline = self.connect_deadline
        with self.cap:
            return self.inner.connect()

    def store_root(self) -> FolderHandle:
        with self.cap:
            return self.inner.store_root()

    def well_known(self, role: str) -> FolderHandle | None:
        with self.cap:
            return self.inner.well_known(role)

    def ensure_folder(self, parent: FolderHandle, name: str, container_class: str | None) -> FolderHandle:
        with self.cap:
            return self.inner.ensure_folder(parent, name, container_class)

    def find_folder(self, parent: FolderHandle, name: str, container_class: str | None = None) -> FolderHandle | None:
        with self.cap:
            return self.inner.find_folder(parent, name, container_class)

    def create_items(self, folder: FolderHandle, payloads: Sequence[Any]) -> list:
        with self.cap:
            return self.inner.create_items(folder, payloads)

    def count_and_stamps(self, folder: FolderHandle) -> tuple[int, dict[str, list[str]]]:
        with self.cap:
            return self.inner.count_and_stamps(folder)

    def series_steps(self, payload: Any) -> list[str]:
        return self.inner.series_steps(payload)  # from the payload alone: no request

    def apply_series_step(self, folder: FolderHandle, item_id: str, payload: Any, step: str) -> None:
        with self.cap:
            self.inner.apply_series_step(folder, item_id, payload, step)

    def count_items(self, folder: FolderHandle) -> int:
        with self.cap:
            return self.inner.count_items(folder)

    def find_stamps(self, folder: FolderHandle, stamps: Collection[str] | None = None) -> dict[str, list[str]]:
        with self.cap:
            return self.inner.find_stamps(folder, stamps)

    def resolve_name(self, name: str) -> list[str]:
        with self.cap:
            return self.inner.resolve_name(name)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Unit:
    """One engine run: one mailbox, one store and root, its PSTs."""

    rows: list[BatchRow]

    @property
    def mailbox(self) -> str:
        return self.rows[0].mailbox

    @property
    def store(self) -> str:
        return self.rows[0].store

    @property
    def psts(self) -> tuple[str, ...]:
        return tuple(str(r.path) for r in self.rows)


@dataclass
class UnitOutcome:
    unit: Unit
    status: str = "not-started"
    exit_code: int = EXIT_OK
    error: str | None = None
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    selected: int = 0
    mismatched_folders: int = 0
    duplicates: int = 0
    throttled: int = 0
    seconds: float = 0.0
    report_json: str | None = None
    report_html: str | None = None


@dataclass
class BatchOptions:
    parallel_mailboxes: int = 4
    max_connections: int = 32
    shard: tuple[int, int] | None = None
    dry_run: bool = False
    """Preflight every mailbox (sign in, check, count what would be imported and what is there);
    nothing is created or uploaded."""
    offline_check: bool = False
    """No server: read and convert every mailbox's selected items, to find unreadable ones."""
    report_dir: Path | None = None
    """Where the index report goes (per-mailbox reports in sub-folders); default the template's."""
    mapping: str | None = None
    """The CSV's path, for the index report."""


@dataclass
class BatchResult:
    outcomes: list[UnitOutcome] = field(default_factory=list)
    skipped_other_shards: int = 0
    interrupted: bool = False
    started: datetime | None = None
    finished: datetime | None = None
    seconds: float = 0.0
    peak_connections: int = 0
    index: dict | None = None
    index_json: str | None = None
    index_html: str | None = None

    @property
    def imported(self) -> int:
        return sum(o.imported for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """DESIGN.md's codes: 130 interrupted; 2 when every mailbox failed on a user error (a bad
        template password fails them all alike); 1 when some mailbox failed or differs; else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        codes = [o.exit_code for o in self.outcomes]
        if codes and all(c == EXIT_USER for c in codes):
            return EXIT_USER
        return EXIT_PARTIAL if any(codes) else EXIT_OK


def plan_units(rows: Sequence[BatchRow], shard: tuple[int, int] | None = None) -> tuple[list[list[Unit]], int]:
    """Group rows into mailboxes (each a list of units, CSV order) and keep this shard's.

    Returns:
        The mailboxes' units, and how many rows belong to other shards.
    """
    by_mailbox: dict[str, dict[tuple, Unit]] = {}
    other = 0
    for row in rows:
        if shard is not None and shard_of(row.mailbox, shard[1]) != shard[0]:
            other += 1
            continue
        units = by_mailbox.setdefault(row.mailbox.lower(), {})
        unit = units.get(row.unit_key)
        if unit is None:
            units[row.unit_key] = Unit([row])
        else:
            unit.rows.append(row)
    return [list(u.values()) for u in by_mailbox.values()], other


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", text).strip("_") or "x"


class _Batch:
    def __init__(
        self,
        template: Profile,
        mailboxes: list[list[Unit]],
        options: BatchOptions,
        on_event: Callable[[Event], None],
        cancel: threading.Event,
        make_transport: Callable[[Profile], Callable[[], Transport]] | None,
    ) -> None:
        self.template = template
        self.mailboxes = mailboxes
        self.options = options
        self.cancel = cancel
        self.cap = ConnectionCap(options.max_connections)
        # One bound on payload bytes read ahead or in flight for all mailboxes, so memory does not
        # grow with --parallel-mailboxes (each run alone would have its own BYTES_IN_FLIGHT).
        self.budget = ByteBudget(max(BATCH_BYTES_IN_FLIGHT, template.performance.batch_megabytes * MB))
        self.make_transport = make_transport
        self._on_event = on_event
        self._emit_lock = threading.Lock()
        self.report_dir = options.report_dir or template.report_dir()

    def emit(self, event: Event) -> None:
        with self._emit_lock:
            try:
                self._on_event(event)
            except Exception:  # noqa: BLE001 - a display failing must not break the import
                log.exception("batch event handler failed")

    def run_unit(self, unit: Unit) -> UnitOutcome:
        from core.engine import build_plan, run

        out = UnitOutcome(unit)
        if self.cancel.is_set():
            return out
        mailbox, store = unit.mailbox, unit.store
        self.emit(MailboxStarted(mailbox, store, unit.psts))
        t0 = time.monotonic()

        def tagged(event: Event) -> None:
            self.emit(MailboxEvent(mailbox, store, event))

        try:
            profile = unit_profile(self.template, unit.rows)
            factory = None
            if not self.options.offline_check:
                assert self.make_transport is not None
                make = self.make_transport(profile)
                cap = self.cap

                def factory() -> Transport:
                    return CappedTransport(make(), cap)

            plan = build_plan(profile, dry_run=self.options.offline_check, transport_factory=factory)
            plan.byte_budget = self.budget
            sub = _slug(mailbox.lower()) + ("-archive" if store == "archive" else "")
            plan.report_dir = self.report_dir / sub
            engine = run
            if self.options.dry_run:
                from core.engine.preflight import preflight

                engine = preflight
                plan.dry_run = True
            result = engine(plan, tagged, self.cancel)
        except PstImportError as exc:
            out.status, out.exit_code, out.error = "failed", exc.exit_code, str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one mailbox's run must not stop the others
            log.exception("batch: %s failed", mailbox)
            out.status, out.exit_code = "failed", EXIT_PARTIAL
            out.error = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
        else:
            out.imported = (
                result.would_import if self.options.dry_run or self.options.offline_check else result.imported
            )
            out.skipped, out.failed, out.throttled = result.skipped, result.failed, result.throttled
            out.report_json, out.report_html = result.report_json, result.report_html
            if result.report:
                totals = result.report["totals"]
                out.selected = totals.get("selected", 0)
                out.mismatched_folders = totals.get("mismatched_folders", 0)
                out.duplicates = totals.get("duplicates", 0)
            else:
                out.selected = sum(st.selected for st in result.folders)
            out.exit_code = result.exit_code
            out.status = {EXIT_OK: "ok", EXIT_INTERRUPTED: "interrupted"}.get(result.exit_code, "partial")
        out.seconds = round(time.monotonic() - t0, 2)
        self.emit(
            MailboxFinished(
                mailbox,
                store,
                out.status,
                out.exit_code,
                out.imported,
                out.skipped,
                out.failed,
                out.error,
                out.report_json,
                out.report_html,
            )
        )
        return out

    def run(self, skipped_other: int) -> BatchResult:
        result = BatchResult(skipped_other_shards=skipped_other, started=datetime.now(UTC))
        t0 = time.monotonic()
        shard = self.options.shard
        parallel = max(1, min(self.options.parallel_mailboxes, len(self.mailboxes) or 1))
        self.emit(
            BatchStarted(
                name=self.template.name,
                mailboxes=len(self.mailboxes),
                psts=sum(len(u.rows) for units in self.mailboxes for u in units),
                shard=f"{shard[0]}/{shard[1]}" if shard else None,
                parallel_mailboxes=parallel,
                max_connections=self.cap.limit,
                dry_run=self.options.dry_run or self.options.offline_check,
                skipped_other_shards=skipped_other,
            )
        )
        outcomes: dict[int, list[UnitOutcome]] = {}
        for units in self.mailboxes:
            for u in units:
                self.emit(MailboxQueued(u.mailbox, u.store, u.psts))
        work: queue.Queue[int] = queue.Queue()
        for i in range(len(self.mailboxes)):
            work.put(i)

        def worker() -> None:
            while True:
                try:
                    i = work.get_nowait()
                except queue.Empty:
                    return
                outcomes[i] = [self.run_unit(u) for u in self.mailboxes[i]]

        threads = [threading.Thread(target=worker, name=f"batch-{n}", daemon=True) for n in range(parallel)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
        for i, units in enumerate(self.mailboxes):
            result.outcomes.extend(outcomes.get(i) or [UnitOutcome(u) for u in units])
        result.interrupted = self.cancel.is_set()
        for o in result.outcomes:
            if result.interrupted and o.status == "not-started":
                o.exit_code = EXIT_INTERRUPTED
        result.finished = datetime.now(UTC)
        result.seconds = round(time.monotonic() - t0, 2)
        result.peak_connections = self.cap.peak
        from core.batch.report import build_index, write_index

        result.index = build_index(self.template, self.options, result)
        j, h = write_index(result.index, self.report_dir)
        result.index_json, result.index_html = str(j), str(h)
        ok = sum(1 for o in result.outcomes if o.status == "ok")
        self.emit(
            BatchFinished(
                mailboxes=len(result.outcomes),
                ok=ok,
                not_ok=len(result.outcomes) - ok,
                imported=result.imported,
                skipped=sum(o.skipped for o in result.outcomes),
                failed=sum(o.failed for o in result.outcomes),
                interrupted=result.interrupted,
                exit_code=result.exit_code,
                seconds=result.seconds,
                items_per_second=round(result.imported / result.seconds, 1) if result.seconds else 0.0,
                index_json=result.index_json,
                index_html=result.index_html,
            )
        )
        return result


def secret_stdin_factory(
    template: Profile, *, stdin: io.TextIOBase | None = None, interactive: bool | None = None
) -> Callable[[Profile], Callable[[], Transport]]:
    """Transport factories for each mailbox's profile, with the template's secret looked up once.

    The secret (password or client secret) is found now, as for a single run (stdin,
    environment, keyring, or a prompt), and handed to each mailbox's factory in memory only.
    """
    from core.engine.connect import transport_factory
    from core.profile.secrets import lookup_secret, primary_secret

    kind = primary_secret(template)
    secret: str | None = None
    if kind in ("password", "client_secret"):
        found = lookup_secret(template, stdin=stdin, interactive=interactive)
        secret = found.value if found else None

    def for_profile(profile: Profile) -> Callable[[], Transport]:
        given = io.StringIO(secret + "\n") if secret is not None else None
        return transport_factory(profile, stdin=given, interactive=False)

    return for_profile


def run_batch(
    template: Profile,
    rows: Sequence[BatchRow],
    options: BatchOptions,
    on_event: Callable[[Event], None],
    cancel: threading.Event | None = None,
    make_transport: Callable[[Profile], Callable[[], Transport]] | None = None,
) -> BatchResult:
    """Import every row of this shard, `options.parallel_mailboxes` mailboxes at a time.

    Args:
        template: the profile whose connection and settings every mailbox uses.
        rows: from `core.batch.mapping.load_mapping`.
        on_event: called (one call at a time) with batch events and the tagged engine events.
        cancel: set it to stop: runs in progress stop as `pstimport run` does; no new one starts.
        make_transport: profile -> transport factory; default `secret_stdin_factory(template)`.

    Returns:
        Per-mailbox outcomes, and the index report (also written to disk).

    Raises:
        SecretError: the template's secret cannot be found.
    """
    # An empty shard is not an error: a small CSV split over many machines leaves some idle.
    mailboxes, other = plan_units(rows, options.shard)
    if make_transport is None and not options.offline_check:
        make_transport = secret_stdin_factory(template)
    batch = _Batch(template, mailboxes, options, on_event, cancel or threading.Event(), make_transport)
    return batch.run(other)
