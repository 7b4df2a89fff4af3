"""The run's state, folded from `core.events` as they arrive (plain Python, thread-safe).

The engine calls `RunAggregate.apply` from its own thread for every event, which costs a dict
lookup and a few additions. The run screen reads `snapshot()` on a timer (a few times per
second) and redraws only the rows that changed, so thousands of items per second cost the UI
nothing more than a handful of cell updates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from core import events as ev

WAITING, RUNNING, DONE, FAILED = "waiting", "running", "done", "failed"
# After a cancel or an error: a folder the run had started but not finished, and one it never reached.
STOPPED, NOT_RUN = "stopped", "not run"
MAX_FAILURES = 1000  # failures kept for the panel; the report holds them all


@dataclass
class FolderRow:
    pst: str
    source_path: tuple[str, ...]
    target_path: tuple[str, ...]
    selected: int = 0
    bytes_selected: int = 0
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_done: int = 0
    state: str = WAITING
    started: float | None = None
    finished: float | None = None
    version: int = 0  # bumped on every change, so the table redraws only changed rows

    @property
    def key(self) -> str:
        return f"{self.pst}\x00{'/'.join(self.source_path)}"

    def rate(self, now: float) -> float:
        """Items per second while the folder runs (or over its whole run once finished)."""
        if self.started is None:
            return 0.0
        end = self.finished or now
        dt = max(end - self.started, 1e-3)
        return (self.imported + self.skipped + self.failed) / dt


@dataclass
class Failure:
    pst: str
    source_path: tuple[str, ...]
    subject: str | None
    reason: str


@dataclass
class Snapshot:
    rows: list[FolderRow]
    failures: list[Failure]
    failures_total: int
    items_done: int
    items_total: int
    bytes_done: int
    bytes_total: int
    rate: float
    eta: float | None
    concurrency: int
    throttle: str | None
    started: RunStartedInfo | None
    finished: ev.RunFinished | None
    now: float
    connecting: ev.Connecting | None = None


@dataclass
class RunStartedInfo:
    profile: str
    mailbox: str
    store: str
    dry_run: bool


@dataclass
class RunAggregate:
    """Everything the run screen shows, kept up to date by `apply`."""

    rows: dict[str, FolderRow] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    failures_total: int = 0
    items_done: int = 0
    items_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    rate: float = 0.0
    eta: float | None = None
    concurrency: int = 0
    throttle: str | None = None
    throttle_until: float = 0.0
    started: RunStartedInfo | None = None
    finished: ev.RunFinished | None = None
    connecting: ev.Connecting | None = None  # until Connected: where, which attempt, the give-up time
    t0: float = field(default_factory=time.monotonic)
    clock: object = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _row(self, pst: str, source_path: tuple[str, ...], target_path: tuple[str, ...] = ()) -> FolderRow:
        key = f"{pst}\x00{'/'.join(source_path)}"
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = FolderRow(pst, tuple(source_path), tuple(target_path))
        return row

    def apply(self, e: ev.Event) -> None:
        """Fold one event in. Safe to call from the engine's thread."""
        now = self.clock()  # type: ignore[operator]
        with self._lock:
            if isinstance(e, ev.ItemImported):
                r = self._row(e.pst, e.source_path)
                r.imported += 1
                r.bytes_done += e.size
                self.bytes_done += e.size
                r.version += 1
            elif isinstance(e, ev.ItemSkipped):
                r = self._row(e.pst, e.source_path)
                r.skipped += 1
                r.version += 1
            elif isinstance(e, ev.ItemFailed):
                r = self._row(e.pst, e.source_path)
                r.failed += e.count  # an unreadable part of a PST stands for several items
                self.failures_total += e.count
                if len(self.failures) < MAX_FAILURES:
                    self.failures.append(Failure(e.pst, tuple(e.source_path), e.subject, e.reason))
                r.version += 1
            elif isinstance(e, ev.Progress):
                self.items_total = e.items_total or self.items_total
                self.bytes_done = max(self.bytes_done, e.bytes_done)
                self.bytes_total = e.bytes_total or self.bytes_total
                self.rate = e.items_per_second
                self.eta = e.eta_seconds
                self.concurrency = e.concurrency
                if self.throttle and now >= self.throttle_until:
                    self.throttle = None
            elif isinstance(e, ev.FolderPlanned):
                r = self._row(e.pst, e.source_path, e.target_path)
                r.target_path = tuple(e.target_path)
                r.selected = e.items_selected
                r.bytes_selected = e.bytes_selected
                r.version += 1
            elif isinstance(e, ev.FolderStarted):
                r = self._row(e.pst, e.source_path, e.target_path)
                r.state = RUNNING
                r.started = now
                r.version += 1
            elif isinstance(e, ev.FolderFinished):
                r = self._row(e.pst, e.source_path)
                r.imported, r.skipped, r.failed = e.imported, e.skipped, e.failed
                r.state = FAILED if e.failed and not e.imported and not e.skipped else DONE
                r.finished = now
                if r.started is None:
                    r.started = now
                r.version += 1
            elif isinstance(e, ev.Throttled):
                self.throttle = f"server busy: backing off {e.back_off_seconds:.1f}s, {e.concurrency} threads"
                self.throttle_until = now + max(e.back_off_seconds, 1.0)
                self.concurrency = e.concurrency
            elif isinstance(e, ev.RunStarted):
                self.started = RunStartedInfo(e.profile, e.mailbox, e.store, e.dry_run)
                self.items_total = e.items_selected
                self.bytes_total = e.bytes_selected
                self.t0 = now
            elif isinstance(e, ev.RunFinished):
                self.finished = e
                self.throttle = None
                self.eta = 0.0
            elif isinstance(e, ev.Connecting):
                self.connecting = e
            elif isinstance(e, ev.Connected):
                self.connecting = None

    def settle(self) -> None:
        """The run has ended (finished, cancelled or failed): folders still running were stopped part
        way, and those never started were not run. The table then says what really happened."""
        with self._lock:
            for r in self.rows.values():
                if r.state == RUNNING:
                    r.state = STOPPED
                    r.version += 1
                elif r.state == WAITING and (self.finished is None or self.finished.interrupted):
                    r.state = NOT_RUN
                    r.version += 1
            self.connecting = None

    def snapshot(self) -> Snapshot:
        """A consistent copy for the UI thread (rows are copied, so the engine can go on)."""
        now = self.clock()  # type: ignore[operator]
        with self._lock:
            if self.throttle and now >= self.throttle_until:
                self.throttle = None
            # Done items are the folders' own counts, which FolderFinished settles to the engine's final
            # figures, so a retried item counted twice along the way does not stay counted twice.
            self.items_done = sum(r.imported + r.skipped + r.failed for r in self.rows.values())
            rate = self.rate
            if not rate and self.items_done:
                rate = self.items_done / max(now - self.t0, 1e-3)
            eta = self.eta
            if eta is None and rate and self.items_total:
                eta = max(self.items_total - self.items_done, 0) / rate
            return Snapshot(
                rows=[replace(r) for r in self.rows.values()],
                failures=list(self.failures),
                failures_total=self.failures_total,
                items_done=self.items_done,
                items_total=self.items_total,
                bytes_done=self.bytes_done,
                bytes_total=self.bytes_total,
                rate=rate,
                eta=eta,
                concurrency=self.concurrency,
                throttle=self.throttle,
                started=self.started,
                finished=self.finished,
                now=now,
                connecting=self.connecting,
            )


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds + 0.5)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
