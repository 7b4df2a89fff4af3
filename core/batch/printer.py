"""Headless batch progress: a live per-mailbox table on a terminal (per folder with `folders=True`),
plain lines otherwise, or JSON lines tagged with the mailbox."""

from __future__ import annotations

import io
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from core.batch.events import BatchFinished, BatchStarted, MailboxEvent, MailboxFinished, MailboxQueued, MailboxStarted
from core.engine.printer import FolderRow, LiveArea, clip_left
from core.events import (
    Event,
    FolderFinished,
    FolderPlanned,
    FolderStarted,
    ItemFailed,
    ItemImported,
    ItemSkipped,
    Progress,
    RunStarted,
    Throttled,
)
from core.termsafe import safe

REDRAW_SECONDS = 0.25
_BAD = ("failed", "partial", "interrupted")
PLAIN_PROGRESS_SECONDS = 10.0


class BatchJsonPrinter:
    """One JSON object per event; engine events carry `mailbox` and `store`."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = event.to_json() + "\n"
        with self._lock:
            self.out.write(line)
            inner = event.inner if isinstance(event, MailboxEvent) else event
            if not isinstance(inner, (ItemImported, ItemSkipped, Progress, FolderPlanned)):
                self.out.flush()


class _Mailbox:
    __slots__ = ("label", "psts", "state", "planned", "imported", "skipped", "failed", "rate", "throttled",
                 "concurrency", "error", "folders", "started", "base")  # fmt: skip

    def __init__(self, label: str, psts: int) -> None:
        self.label, self.psts = label, psts
        self.state = "queued"
        self.planned = self.imported = self.skipped = self.failed = self.throttled = self.concurrency = 0
        self.rate = 0.0
        self.error: str | None = None
        self.folders: dict[tuple, FolderRow] = {}
        self.started = 0.0
        # Counts of this mailbox and store's earlier runs (another root), which its later ones add to.
        self.base = (0, 0, 0, 0)


class BatchHumanPrinter:
    """A live table (TTY), or plain lines: each mailbox's start and end, failures, a periodic total."""

    def __init__(self, out: TextIO = sys.stdout, live: bool | None = None, folders: bool = False) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self.area = LiveArea(out, self.live)
        self.folders = folders
        self.rows: dict[tuple[str, str], _Mailbox] = {}
        self.started: BatchStarted | None = None
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._last_plain = time.monotonic()
        self._t0 = time.monotonic()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._handle(event)

    @staticmethod
    def _label(mailbox: str, store: str) -> str:
        return mailbox if store == "mailbox" else f"{mailbox} (archive)"

    def _line(self, text: str) -> None:
        self.area.line(text)

    def _handle(self, e: Event) -> None:
        if isinstance(e, BatchStarted):
            self.started = e
            shard = f", shard {e.shard}" if e.shard else ""
            other = f" ({e.skipped_other_shards} rows belong to other shards)" if e.skipped_other_shards else ""
            what = "dry run (nothing is uploaded)" if e.dry_run else "importing"
            self._line(
                f"batch {e.name}: {what}: {e.mailboxes} mailbox(es), {e.psts} PST(s){shard}{other}; "
                f"{e.parallel_mailboxes} at a time, at most {e.max_connections} connections"
            )
        elif isinstance(e, MailboxQueued):
            self.rows[(e.mailbox, e.store)] = _Mailbox(self._label(e.mailbox, e.store), len(e.psts))
        elif isinstance(e, MailboxStarted):
            row = self.rows.get((e.mailbox, e.store))
            if row:
                row.base = (row.planned, row.imported, row.skipped, row.failed)
                if row.state not in _BAD:
                    row.state = "connecting"
                row.started = time.monotonic()
            if not self.live:
                self._line(f"start  {self._label(e.mailbox, e.store)}: {len(e.psts)} PST(s)")
        elif isinstance(e, MailboxEvent):
            self._engine(e)
        elif isinstance(e, MailboxFinished):
            self._finished(e)
        elif isinstance(e, BatchFinished):
            self._batch_finished(e)

    def _engine(self, me: MailboxEvent) -> None:
        row = self.rows.get((me.mailbox, me.store))
        if row is None:
            return
        e = me.inner
        if isinstance(e, FolderPlanned):
            label = safe(f"{e.pst}: {'/'.join(e.source_path) or '(top)'} -> {'/'.join(e.target_path) or '(top)'}")
            row.folders[(e.pst, tuple(e.source_path))] = FolderRow(label, e.items_selected)
        elif isinstance(e, RunStarted):
            row.planned = row.base[0] + e.items_selected
            if row.state not in _BAD:
                row.state = "importing"
        elif isinstance(e, FolderStarted):
            f = row.folders.get((e.pst, tuple(e.source_path)))
            if f:
                f.state = "reading"
            if self.folders and not self.live:
                self._line(f"folder {row.label}: {e.pst}: {'/'.join(e.source_path) or '(top)'}")
        elif isinstance(e, ItemImported):
            row.imported += 1
            f = row.folders.get((e.pst, tuple(e.source_path)))
            if f:
                f.imported += 1
        elif isinstance(e, ItemSkipped):
            row.skipped += 1
            f = row.folders.get((e.pst, tuple(e.source_path)))
            if f:
                f.skipped += 1
        elif isinstance(e, ItemFailed):
            row.failed += e.count
            f = row.folders.get((e.pst, tuple(e.source_path)))
            if f:
                f.failed += e.count
            subject = f" {e.subject!r}" if e.subject else ""
            self._line(f"failed: {row.label}: {e.pst}: {'/'.join(e.source_path) or '(top)'}{subject}: {e.reason}")
        elif isinstance(e, Throttled):
            row.throttled += 1
            row.concurrency = e.concurrency
        elif isinstance(e, FolderFinished):
            f = row.folders.get((e.pst, tuple(e.source_path)))
            if f:
                f.state = "done"
            if self.folders and not self.live:
                self._line(
                    f"done   {row.label}: {e.pst}: {'/'.join(e.source_path) or '(top)'}: imported {e.imported}, "
                    f"already there {e.skipped}, failed {e.failed}"
                )
        elif isinstance(e, Progress):
            row.rate, row.concurrency = e.items_per_second, e.concurrency
            if e.items_done >= e.items_total and row.state == "importing":
                row.state = "verifying"
            self._tick()

    def _finished(self, e: MailboxFinished) -> None:
        row = self.rows.get((e.mailbox, e.store))
        if row:
            if row.state not in _BAD:  # a mailbox's worst run shows
                row.state, row.error = e.status, e.error
            row.imported, row.skipped, row.failed = (
                b + n for b, n in zip(row.base[1:], (e.imported, e.skipped, e.failed), strict=True)
            )
        label = self._label(e.mailbox, e.store)
        if e.error:
            self._line(f"{e.status:<6} {label}: {e.error}")
        else:
            report = f"; report {e.report_html}" if e.report_html else ""
            verb = "would import" if self.started is not None and self.started.dry_run else "imported"
            self._line(
                f"{e.status:<6} {label}: {verb} {e.imported}, already there {e.skipped}, failed {e.failed}{report}"
            )

    def _batch_finished(self, e: BatchFinished) -> None:
        if self.live:
            self._draw(keep=True)
        state = "interrupted" if e.interrupted else "finished"
        verb = "would import" if self.started is not None and self.started.dry_run else "imported"
        self.out.write(
            f"batch {state}: {e.ok} of {e.mailboxes} mailbox run(s) ok; {verb} {e.imported}, already there "
            f"{e.skipped}, failed {e.failed}; {e.items_per_second:.1f} items/s over {e.seconds:.0f} s\n"
        )
        bad = [r for r in self.rows.values() if r.state not in ("ok",)]
        for r in bad:
            self.out.write(safe(f"  {r.state}: {r.label}" + (f": {r.error}" if r.error else "")) + "\n")
        if e.index_html:
            self.out.write(f"index: {e.index_html}\n       {e.index_json}\n")
        if e.interrupted:
            self.out.write("run the same command again to resume\n")
        self.out.flush()

    def _tick(self) -> None:
        now = time.monotonic()
        if self.live and now - self._last_draw >= REDRAW_SECONDS:
            self._draw()
            self._last_draw = now
        elif not self.live and now - self._last_plain >= PLAIN_PROGRESS_SECONDS:
            self._last_plain = now
            self._line(self._summary())

    def _summary(self) -> str:
        rows = list(self.rows.values())
        done = sum(1 for r in rows if r.state in ("ok", "partial", "failed", "interrupted"))
        active = sum(1 for r in rows if r.state in ("connecting", "importing", "verifying"))
        imported = sum(r.imported for r in rows)
        rate = sum(r.rate for r in rows if r.state in ("importing", "verifying"))
        return (
            f"progress {done}/{len(rows)} mailboxes done, {active} running; imported {imported}, "
            f"{rate:.1f} items/s now, {int(time.monotonic() - self._t0)} s"
        )

    def _draw(self, keep: bool = False) -> None:
        size = shutil.get_terminal_size((110, 30))
        width, height = size.columns, size.lines
        name_w = max(width - 58, 20)
        lines = [f"{'mailbox':<{name_w}} {'PSTs':>4} {'items':>7} {'done':>7} {'skip':>6} {'fail':>5} {'/s':>6}"
                 f" {'busy':>4}  state"]  # fmt: skip
        order = {"importing": 0, "verifying": 0, "connecting": 1, "failed": 2, "partial": 2, "queued": 3}
        rows = sorted(self.rows.values(), key=lambda r: order.get(r.state, 4))
        budget = max(height - 3, 4)
        for r in rows:
            if len(lines) > budget:
                break
            label = clip_left(r.label, name_w)
            lines.append(
                f"{label:<{name_w}} {r.psts:>4} {r.planned:>7} {r.imported:>7} {r.skipped:>6} {r.failed:>5} "
                f"{r.rate:>6.1f} {r.throttled:>4}  {r.state}"
            )
            if self.folders and r.state in ("importing", "verifying"):
                for f in r.folders.values():
                    if len(lines) > budget:
                        break
                    fl = "  " + f.label
                    fl = fl if len(fl) <= name_w else "  …" + fl[-(name_w - 3) :]
                    lines.append(
                        f"{fl:<{name_w}} {'':>4} {f.planned:>7} {f.imported:>7} {f.skipped:>6} {f.failed:>5} "
                        f"{'':>6} {'':>4}  {f.state}"
                    )
        hidden = len(rows) - sum(1 for line in lines[1:] if not line.startswith("  "))
        if hidden > 0:
            lines.append(f"… and {hidden} more mailbox(es)")
        lines.append(self._summary())
        self.area.draw(lines, width, keep)


@dataclass(frozen=True)
class FolderView:
    label: str
    planned: int
    imported: int
    skipped: int
    failed: int
    state: str


@dataclass(frozen=True)
class MailboxView:
    key: str
    label: str
    psts: int
    state: str
    planned: int
    imported: int
    skipped: int
    failed: int
    rate: float
    throttled: int
    error: str | None
    folders: tuple[FolderView, ...]


class BatchAggregate(BatchHumanPrinter):
    """The printer's per-mailbox and per-folder state without its output: what a UI draws from.

    Feed it events from any thread (`__call__`); read `snapshot()` on a timer.
    """

    def __init__(self) -> None:
        super().__init__(io.StringIO(), live=False, folders=False)
        self.finished: BatchFinished | None = None

    def _line(self, text: str) -> None:
        pass

    def _tick(self) -> None:
        pass

    def _batch_finished(self, e: BatchFinished) -> None:
        self.finished = e

    def snapshot(self) -> list[MailboxView]:
        """Every mailbox (and store) in CSV order, with its folders."""
        with self._lock:
            return [
                MailboxView(
                    key=f"{mailbox}|{store}",
                    label=r.label,
                    psts=r.psts,
                    state=r.state,
                    planned=r.planned,
                    imported=r.imported,
                    skipped=r.skipped,
                    failed=r.failed,
                    rate=r.rate if r.state in ("importing", "verifying") else 0.0,
                    throttled=r.throttled,
                    error=r.error,
                    folders=tuple(
                        FolderView(f.label, f.planned, f.imported, f.skipped, f.failed, f.state)
                        for f in r.folders.values()
                    ),
                )
                for (mailbox, store), r in self.rows.items()
            ]

    def summary(self) -> str:
        with self._lock:
            return self._summary()
