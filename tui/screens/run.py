"""The run screen: overall progress with ETA and throttle state, a live per-folder table, failures.

The engine runs in a worker thread and folds its events into a `RunAggregate` (no message per
item); a timer redraws from a snapshot eight times a second, touching only rows that changed.
Cancel asks first, then sets the engine's cancel event, so requests in flight finish cleanly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState

from tui.progress import DONE, FAILED, RUNNING, FolderRow, RunAggregate, Snapshot, format_eta
from tui.selection import human_size

REFRESH_HZ = 8
COLUMNS = (
    ("folder", "Folder"),
    ("selected", "Sel"),
    ("imported", "Imp"),
    ("skipped", "Skip"),
    ("failed", "Fail"),
    ("mb", "MB"),
    ("rate", "Rate/s"),
    ("state", "State"),
)
# Fixed widths: re-measuring a column on every update costs a pass over all rows (see tests/bench/bench_tui.py).
WIDTHS = {"selected": 6, "imported": 6, "skipped": 5, "failed": 5, "mb": 7, "rate": 6, "state": 7}
OTHER_COLUMNS_WIDTH = sum(WIDTHS.values()) + 2 * len(COLUMNS) + 2  # with cell padding and the scrollbar
STATE_STYLE = {RUNNING: "bold yellow", DONE: "green", FAILED: "bold red"}


@dataclass
class RunOutcome:
    """What the run screen hands to the summary."""

    finished: Any  # core.events.RunFinished, or None when the engine stopped without one
    result: Any  # whatever the engine returned
    error: str | None
    cancelled: bool
    dry_run: bool = False


def fit_left(text: str, width: int) -> str:
    """`text`, or its end after "…" when it is wider than `width` cells (a folder's own name matters most)."""
    if cell_len(text) <= width:
        return text
    out = ""
    for ch in reversed(text):
        if cell_len(ch + out) > width - 1:
            break
        out = ch + out
    return "…" + out


def folder_label(pst: str, source_path: tuple[str, ...] | list[str], many_psts: bool, width: int = 1000) -> str:
    """The folder's path (its end when too long), after a PST name shortened first when there are several."""
    name = "/".join(source_path) or "(top of PST)"
    if many_psts:
        stem = pst.rsplit("/", 1)[-1].removesuffix(".pst").removesuffix(".ost")
        room = max(width - cell_len(name) - 2, 6)
        if cell_len(stem) > room:
            stem = stem[: room - 1] + "…"
        name = f"{stem}: {name}"
    return fit_left(name, width)


class RunScreen(Screen[RunOutcome]):
    BINDINGS = [
        Binding("c", "cancel", "Cancel run"),
        Binding("f", "toggle_failures", "Failures"),
        Binding("enter", "summary", "Summary", show=False),
        Binding("s", "summary", "Summary"),
    ]

    def __init__(
        self, profile: Any, runner: Any, *, cancel: threading.Event | None = None, dry_run: bool = False
    ) -> None:
        """`runner(on_event, cancel)` runs the engine (see `tui.services.profile_runner`)."""
        super().__init__()
        self.profile = profile
        self.runner = runner
        self.dry_run = dry_run
        self.aggregate = RunAggregate()
        self.cancel_event = cancel or threading.Event()
        self.outcome: RunOutcome | None = None
        self._versions: dict[str, int] = {}
        self._shown: dict[str, tuple] = {}  # the cells on screen, so a frame touches only what changed
        self.folder_width = 24
        self.throttle_shown: list[str] = []  # what the throttle line said, for the tests
        self._shown_failures = 0

    def compose(self) -> ComposeResult:
        name = getattr(self.profile, "name", "?")
        mailbox = getattr(self.profile, "mailbox", "?")
        store = getattr(getattr(self.profile, "destination", None), "store", "mailbox")
        dry = "  (dry run: nothing is uploaded)" if self.dry_run else ""
        yield Static(f"Importing [b]{name}[/b] into {mailbox} ({store}){dry}", id="run-title")
        with Vertical(id="overall"):
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Static("Starting…", id="overall-text")
            yield Static("", id="throttle")
        table: DataTable = DataTable(id="folders", cursor_type="row", zebra_stripes=True)
        yield table
        with Vertical(id="failures-panel"):
            yield Static("Failures: none", id="failures-title")
            yield DataTable(id="failures", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#folders", DataTable)
        folder_width = self.folder_width = max(16, self.app.size.width - OTHER_COLUMNS_WIDTH)
        for key, label in COLUMNS:
            table.add_column(label, key=key, width=WIDTHS.get(key, folder_width))
        failures = self.query_one("#failures", DataTable)
        failures.add_column("Folder", key="folder")
        failures.add_column("Subject", key="subject", width=24)
        failures.add_column("Reason", key="reason")
        self.query_one("#failures-panel").display = False
        self.set_interval(1 / REFRESH_HZ, self.refresh_view)
        self.start_engine()
        table.focus()

    def on_unmount(self) -> None:
        # The screen is going away (the app quits): let the engine stop after its requests in flight.
        if self.outcome is None:
            self.cancel_event.set()

    # ----- the engine ------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine")
    def start_engine(self) -> Any:
        return self.runner(self.aggregate.apply, self.cancel_event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine":
            return
        if event.state == WorkerState.SUCCESS:
            self._finish(event.worker.result, None)
        elif event.state == WorkerState.ERROR:
            from tui import services

            self._finish(None, services.explain(event.worker.error))

    def _finish(self, result: Any, error: str | None) -> None:
        self.refresh_view()
        snap = self.aggregate.snapshot()
        self.outcome = RunOutcome(snap.finished, result, error, self.cancel_event.is_set(), self.dry_run)
        text = self.query_one("#overall-text", Static)
        if error:
            text.update(Text(f"The run stopped: {error}", style="bold red"))
        else:
            state = "Cancelled" if self.cancel_event.is_set() else "Finished"
            text.update(
                Text.assemble(
                    (f"{state}. ", "bold green"), self._overall_line(snap), "  Press s for the verification summary."
                )
            )

    # ----- drawing ---------------------------------------------------------------------------------------

    def _overall_line(self, s: Snapshot) -> str:
        total = f"/{s.items_total}" if s.items_total else ""
        size = f"{human_size(s.bytes_done)}" + (f" of {human_size(s.bytes_total)}" if s.bytes_total else "")
        threads = f", {s.concurrency} threads" if s.concurrency else ""
        return f"{s.items_done}{total} items, {size}, {s.rate:.0f} items/s, ETA {format_eta(s.eta)}{threads}"

    def refresh_view(self) -> None:
        snap = self.aggregate.snapshot()
        bar = self.query_one("#bar", ProgressBar)
        if snap.items_total:
            bar.update(total=snap.items_total, progress=min(snap.items_done, snap.items_total))
        if self.outcome is None:
            self.query_one("#overall-text", Static).update(self._overall_line(snap))
        throttle = self.query_one("#throttle", Static)
        if snap.throttle:
            self.throttle_shown.append(snap.throttle)
            throttle.update(Text(f"Throttled: {snap.throttle}", style="bold yellow"))
        elif not self.cancel_event.is_set():
            throttle.update(Text("Throttle: none", style="dim"))
        self._draw_rows(snap)
        self._draw_failures(snap)

    def _draw_rows(self, snap: Snapshot) -> None:
        table = self.query_one("#folders", DataTable)
        many = len({r.pst for r in snap.rows}) > 1
        for row in snap.rows:
            key = row.key
            if self._versions.get(key) == row.version and row.state != RUNNING:
                continue  # unchanged since the last frame (running rows change rate every frame)
            cells = self._cells(row, snap.now, many, self.folder_width)
            shown = self._shown.get(key)
            if shown is None:
                table.add_row(*cells, key=key)
            else:
                for (col, _), value, old in zip(COLUMNS, cells, shown, strict=True):
                    if str(value) != str(old) or (isinstance(value, Text) and value.style != old.style):
                        table.update_cell(key, col, value)
            self._shown[key] = cells
            self._versions[key] = row.version

    @staticmethod
    def _cells(row: FolderRow, now: float, many: bool, width: int) -> tuple:
        state = Text(row.state, style=STATE_STYLE.get(row.state, "dim"))
        failed = Text(str(row.failed), style="bold red") if row.failed else "0"
        return (
            folder_label(row.pst, row.source_path, many, width),
            str(row.selected),
            str(row.imported),
            str(row.skipped),
            failed,
            f"{row.bytes_done / 1048576:.1f}",
            f"{row.rate(now):.0f}",
            state,
        )

    def _draw_failures(self, snap: Snapshot) -> None:
        if snap.failures_total == self._shown_failures:
            return
        table = self.query_one("#failures", DataTable)
        for f in snap.failures[self._shown_failures :]:
            table.add_row("/".join(f.source_path), f.subject or "(no subject)", f.reason)
        self._shown_failures = len(snap.failures)
        more = snap.failures_total - len(snap.failures)
        self.query_one("#failures-title", Static).update(
            Text(
                f"Failures: {snap.failures_total}"
                + (f" ({more} more in the report)" if more > 0 else "")
                + "  (f hides)",
                style="bold red",
            )
        )
        self.query_one("#failures-panel").display = True

    # ----- actions -------------------------------------------------------------------------------------

    def action_toggle_failures(self) -> None:
        panel = self.query_one("#failures-panel")
        panel.display = not panel.display

    @property
    def running(self) -> bool:
        return self.outcome is None

    def action_cancel(self) -> None:
        if self.outcome is not None or self.cancel_event.is_set():
            return
        from tui.modals.confirm import ConfirmModal

        def answer(yes: bool | None) -> None:
            if yes:
                self.cancel_event.set()
                self.query_one("#throttle", Static).update(
                    Text("Cancelling: finishing the requests in flight…", style="bold yellow")
                )

        self.app.push_screen(
            ConfirmModal(
                "Cancel the run?",
                "Requests in flight finish; the rest stays for a re-run, which skips what is already imported.",
                yes="Cancel run",
                no="Keep going",
            ),
            answer,
        )

    def action_summary(self) -> None:
        if self.outcome is not None:
            self.dismiss(self.outcome)
