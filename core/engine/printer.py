"""Headless progress output: a live per-folder table on a terminal, plain lines otherwise, or JSON lines."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from core.cells import cell_width, clip_right, fit_path, pad
from core.events import (
    Connected,
    Connecting,
    Event,
    FolderFinished,
    FolderPlanned,
    FolderStarted,
    ItemFailed,
    ItemImported,
    ItemSkipped,
    Progress,
    RunFinished,
    RunStarted,
    Throttled,
)
from core.termsafe import safe

REDRAW_SECONDS = 0.2
PLAIN_PROGRESS_SECONDS = 5.0
# A connect slower than this is reported when it ends, like one that needed several attempts.
SLOW_CONNECT_SECONDS = 5.0


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class JsonPrinter:
    """One JSON object per event (`Event.to_json`). `broken` once the reader closed our output."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.broken = False

    def __call__(self, event: Event) -> None:
        if self.broken:
            return
        try:
            self.out.write(event.to_json() + "\n")
            if isinstance(event, (RunFinished, FolderFinished, Throttled, ItemFailed)):
                self.out.flush()
        except BrokenPipeError:
            self.broken = True
            raise


class FolderRow:
    """One folder's line in a progress table: its counts and its state (also used by the batch view)."""

    __slots__ = ("label", "planned", "imported", "skipped", "failed", "state")

    def __init__(self, label: str, planned: int) -> None:
        self.label, self.planned = label, planned
        self.imported = self.skipped = self.failed = 0
        self.state = "waiting"


def clip_left(label: str, width: int) -> str:
    """`label` in exactly `width` terminal cells (CJK names count double, so columns stay aligned): padded,
    or cut in its middle where it has a folder path, keeping the folder's own name (what matters)."""
    if cell_width(label) > width and "/" in label:
        head, sep, path = label.rpartition(": ")
        if sep and cell_width(head) + 2 < width // 2:
            label = f"{head}: {fit_path(path.split('/'), width - cell_width(head) - 2)}"
        else:
            label = fit_path(label.split("/"), width)
    return pad(label, width)


class LiveArea:
    """Where a human printer writes: lines that stay, and on a TTY a block redrawn in place below them."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self._drawn = 0

    def line(self, text: str) -> None:
        """A line that stays, written where the block was (the next `draw` puts it back below)."""
        self.erase()
        self.out.write(safe(text) + "\n")  # folder names and subjects come from the PST: no raw escapes
        self.out.flush()

    def draw(self, lines: list[str], width: int, keep: bool = False) -> None:
        """Replace the block with `lines`, each cut to `width`; with `keep` it stays on screen for good."""
        self.erase()
        self.out.write("\n".join(clip_right(safe(line), width) for line in lines) + "\n")
        self.out.flush()
        self._drawn = 0 if keep else len(lines)

    def erase(self) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0


class HumanPrinter:
    """Plain lines (not a TTY) or a live table redrawn in place (TTY)."""

    def __init__(self, out: TextIO = sys.stdout, live: bool | None = None) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self.area = LiveArea(out, self.live)
        self.rows: dict[tuple, FolderRow] = {}
        self.progress: Progress | None = None
        self.throttled = 0
        self._last_draw = 0.0
        self._last_plain = 0.0
        self._lock = threading.Lock()
        self.dry_run = False
        self.broken = False  # the reader closed our output

    def __call__(self, event: Event) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                self._handle(event)
            except BrokenPipeError:  # `| head` closed our output: the engine stops the run
                self.broken = True
                raise

    def _key(self, pst: str, path: tuple[str, ...]) -> tuple:
        return (pst, tuple(path))

    def _line(self, text: str) -> None:
        self.area.line(text)

    def _handle(self, e: Event) -> None:
        if isinstance(e, Connecting):
            # Silent while connecting goes well; a retry or a slow answer is shown as it happens.
            if e.waiting:
                self._line(
                    f"connecting to {e.endpoint}: waiting for an answer "
                    f"({e.elapsed_seconds:.0f} s of {e.timeout_seconds:g} s)"
                )
            elif e.attempt > 1:
                self._line(
                    f"connecting to {e.endpoint}: attempt {e.attempt} ({e.elapsed_seconds:.0f} s of "
                    f"{e.timeout_seconds:g} s) after: {e.last_error}"
                )
        elif isinstance(e, Connected):
            if e.attempts > 1 or e.elapsed_seconds >= SLOW_CONNECT_SECONDS:
                self._line(
                    f"connected to {e.endpoint} ({e.version}) after {e.attempts} attempt(s), {e.elapsed_seconds:.0f} s"
                )
        elif isinstance(e, FolderPlanned):
            # The table shows where it is in the PST (the target is in the plain lines and the report).
            label = safe(f"{e.pst}: {'/'.join(e.source_path) or '(top)'}")
            self.rows[self._key(e.pst, e.source_path)] = FolderRow(label, e.items_selected)
        elif isinstance(e, RunStarted):
            self.dry_run = e.dry_run
            what = "dry run (nothing is uploaded)" if e.dry_run else f"importing into {e.mailbox} ({e.store})"
            self._line(f"{e.profile}: {what}: {e.folders} folders, {e.items_selected} items")
        elif isinstance(e, FolderStarted):
            row = self.rows.get(self._key(e.pst, e.source_path))
            if row:
                row.state = "reading"
            if not self.live:
                self._line(
                    f"folder {e.pst}: {'/'.join(e.source_path) or '(top)'} -> {'/'.join(e.target_path) or '(top)'}"
                )
        elif isinstance(e, ItemImported):
            row = self.rows.get(self._key(e.pst, e.source_path))
            if row:
                row.imported += 1
        elif isinstance(e, ItemSkipped):
            row = self.rows.get(self._key(e.pst, e.source_path))
            if row:
                row.skipped += 1
        elif isinstance(e, ItemFailed):
            row = self.rows.get(self._key(e.pst, e.source_path))
            if row:
                row.failed += e.count
            subject = f" {e.subject!r}" if e.subject else ""
            self._line(f"failed: {e.pst}: {'/'.join(e.source_path) or '(top)'}{subject}: {e.reason}")
        elif isinstance(e, Throttled):
            self.throttled += 1
            if not self.live and self.throttled in (1, 10, 100, 1000):
                self._line(
                    f"server busy: backing off {e.back_off_seconds:.1f}s, {e.concurrency} thread(s) "
                    f"({self.throttled} so far)"
                )
        elif isinstance(e, FolderFinished):
            row = self.rows.get(self._key(e.pst, e.source_path))
            if row:
                row.state = "done"
            if not self.live:
                verb = "would import" if self.dry_run else "imported"
                self._line(
                    f"done   {e.pst}: {'/'.join(e.source_path) or '(top)'}: {verb} {e.imported}, "
                    f"already there {e.skipped}, failed {e.failed}"
                )
        elif isinstance(e, Progress):
            self.progress = e
            now = time.monotonic()
            if self.live and now - self._last_draw >= REDRAW_SECONDS:
                self._draw()
                self._last_draw = now
            elif not self.live and now - self._last_plain >= PLAIN_PROGRESS_SECONDS:
                self._last_plain = now
                self._line(self._summary(e))
        elif isinstance(e, RunFinished):
            if self.live:
                self._draw(keep=True)
            verb = "would import" if self.dry_run else "imported"
            self.out.write(
                f"{'interrupted' if e.interrupted else 'finished'}: {verb} {e.imported}, already there "
                f"{e.skipped}, failed {e.failed}"
                + (f", server busy {self.throttled}x" if self.throttled else "")
                + "\n"
            )
            if self.dry_run and self.progress is not None and self.progress.bytes_done:
                self.out.write(f"would upload {self.progress.bytes_done / 1048576:.1f} MB; nothing was sent\n")
            elif self.dry_run:
                self.out.write("dry run: nothing was uploaded or changed\n")
            for problem in e.problems:
                self.out.write(f"note: {safe(problem)}\n")
            if not e.interrupted and not self.dry_run and e.imported == 0 and e.failed == 0:
                self.out.write("nothing new to import: every selected item is already in the mailbox\n")
            if e.report_html:
                self.out.write(f"report: {e.report_html}\n        {e.report_json}\n")
            if e.interrupted:
                self.out.write("run the same command again to resume\n")
            self.out.flush()

    @staticmethod
    def _summary(p: Progress) -> str:
        return (
            f"progress {p.items_done}/{p.items_total} items, {p.bytes_done / 1048576:.1f} MB, "
            f"{p.items_per_second:.1f} items/s, ETA {_fmt_eta(p.eta_seconds)}, {p.concurrency} thread(s)"
        )

    def _draw(self, keep: bool = False) -> None:
        width = shutil.get_terminal_size((100, 24)).columns
        height = shutil.get_terminal_size((100, 24)).lines
        lines = [f"{'folder':<{max(width - 40, 20)}} {'items':>7} {'done':>7} {'skip':>6} {'fail':>5}  state"]
        rows = list(self.rows.values())
        active = [r for r in rows if r.state == "reading"] + [r for r in rows if r.state != "reading"]
        for r in active[: max(height - 4, 3)]:
            label = clip_left(r.label, max(width - 40, 20))
            lines.append(f"{label} {r.planned:>7} {r.imported:>7} {r.skipped:>6} {r.failed:>5}  {r.state}")
        if self.progress:
            lines.append(self._summary(self.progress))
        self.area.draw(lines, width, keep)
