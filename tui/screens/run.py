"""The run screen: overall progress with ETA and throttle state, a live per-folder table, failures.

The engine runs in a worker thread and folds its events into a `RunAggregate` (no message per
item); a timer redraws from a snapshot eight times a second, touching only rows that changed.
Cancel asks first, then sets the engine's cancel event, so requests in flight finish cleanly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState

from core.cells import cell_width, clip_right, fit_path
from core.termsafe import safe
from tui.progress import DONE, FAILED, NOT_RUN, RUNNING, STOPPED, FolderRow, RunAggregate, Snapshot, format_eta
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
WIDTHS = {"selected": 6, "imported": 6, "skipped": 5, "failed": 5, "mb": 7, "rate": 6, "state": 8}
OTHER_COLUMNS_WIDTH = sum(WIDTHS.values()) + 2 * len(COLUMNS) + 2  # with cell padding and the scrollbar
STATE_STYLE = {RUNNING: "bold yellow", DONE: "green", FAILED: "bold red", STOPPED: "yellow", NOT_RUN: "dim"}


@dataclass
class RunOutcome:
    """What the run screen hands to the summary."""

    finished: Any  # core.events.RunFinished, or None when the engine stopped without one
    result: Any  # whatever the engine returned
    error: str | None
    cancelled: bool
    dry_run: bool = False


def fit_right(text: str, width: int) -> str:
    """`text`, or its start and "…" when it is wider than `width` terminal cells."""
    return clip_right(text, width)


def folder_label(pst: str, source_path: tuple[str, ...] | list[str], many_psts: bool, width: int = 1000) -> str:
    """The folder's path in `width` cells (see `fit_path`), after the PST's name when there are several."""
    if not many_psts:
        return fit_path(source_path, width)
    stem = pst.rsplit("/", 1)[-1].removesuffix(".pst").removesuffix(".ost")
    room = max(width - min(cell_width("/".join(source_path) or "(top of PST)"), width // 2) - 2, 6)
    stem = clip_right(stem, room)
    return f"{stem}: {fit_path(source_path, max(width - cell_width(stem) - 2, 4))}"


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
        self._opened = 0.0
        self._user_moved = 0.0  # when the user last moved the table's cursor (then it stops following)
        self._auto_row: int | None = None

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
        import time

        self._opened = time.monotonic()
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
        self.aggregate.settle()
        self.refresh_view()
        snap = self.aggregate.snapshot()
        cancelled = self.cancel_event.is_set()
        self.outcome = RunOutcome(snap.finished, result, error, cancelled, self.dry_run)
        self.refresh_bindings()
        text = self.query_one("#overall-text", Static)
        throttle = self.query_one("#throttle", Static)
        if error:
            text.update(Text(f"The run stopped: {error}", style="bold red"))
            throttle.update(Text("Press s for the summary.", style="dim"))
        else:
            state = "Cancelled" if cancelled else "Finished"
            style = "bold yellow" if cancelled else "bold green"
            text.update(Text.assemble((f"{state}. ", style), self._overall_line(snap)))
            if cancelled:
                throttle.update(
                    Text("Stopped after the requests in flight. Re-run the profile to import the rest. s: summary")
                )
            else:
                throttle.update(Text("Press s for the verification summary.", style="bold"))

    # ----- drawing ---------------------------------------------------------------------------------------

    def _overall_line(self, s: Snapshot) -> str:
        total = f"/{s.items_total}" if s.items_total else ""
        size = f"{human_size(s.bytes_done)}" + (f" of {human_size(s.bytes_total)}" if s.bytes_total else "")
        threads = f", {s.concurrency} threads" if s.concurrency else ""
        return f"{s.items_done}{total} items, {size}, {s.rate:.0f} items/s, ETA {format_eta(s.eta)}{threads}"

    def _connecting_line(self, s: Snapshot) -> str:
        """Before the run starts: where it is connecting, the attempt, and the seconds waited (ticking)."""
        import time

        c = s.connecting
        waited = time.monotonic() - self._opened
        if c is None:
            return f"Starting… {waited:.0f} s"
        line = f"Connecting to {c.endpoint}… {waited:.0f} s (gives up after {c.timeout_seconds:.0f} s)"
        if c.attempt > 1:
            line += f", attempt {c.attempt}" + (f": {c.last_error}" if c.last_error else "")
        return line

    def refresh_view(self) -> None:
        snap = self.aggregate.snapshot()
        bar = self.query_one("#bar", ProgressBar)
        if snap.items_total:
            bar.update(total=snap.items_total, progress=min(snap.items_done, snap.items_total))
        if self.outcome is None:
            line = self._connecting_line(snap) if snap.started is None else self._overall_line(snap)
            self.query_one("#overall-text", Static).update(line)
        throttle = self.query_one("#throttle", Static)
        if self.outcome is not None:
            pass  # the line says how the run ended (see _finish)
        elif snap.throttle:
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
        self._follow(table, snap)

    def _follow(self, table: DataTable, snap: Snapshot) -> None:
        """Keep the folders being worked on in view: the cursor goes to the first running folder, unless
        the user moved it in the last few seconds (then they are reading something)."""
        import time

        if time.monotonic() - self._user_moved < 5 or self.outcome is not None:
            return
        running = [r.key for r in snap.rows if r.state == RUNNING]
        if not running:
            return
        try:
            index = table.get_row_index(running[0])
        except Exception:  # noqa: BLE001 - not drawn yet
            return
        if table.cursor_row != index:
            self._auto_row = index  # the highlight this causes is ours, not the user's
            table.move_cursor(row=index, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        import time

        if event.data_table.id != "folders":
            return
        if event.cursor_row == self._auto_row:
            self._auto_row = None
            return
        if self._auto_row is None and self._user_moved == 0.0 and event.cursor_row == 0:
            return  # the table's own first highlight
        self._user_moved = time.monotonic()

    @staticmethod
    def _cells(row: FolderRow, now: float, many: bool, width: int) -> tuple:
        state = Text(row.state, style=STATE_STYLE.get(row.state, "dim"))
        failed = Text(str(row.failed), style="bold red") if row.failed else "0"
        return (
            # Text, not markup, with control characters escaped: folder names come from the PST.
            Text(folder_label(safe(row.pst), tuple(safe(p) for p in row.source_path), many, width)),
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
            table.add_row(*(Text(safe(c)) for c in ("/".join(f.source_path), f.subject or "(no subject)", f.reason)))
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The footer offers what can be done now: Cancel while it runs, the summary once it has ended.
        if action == "cancel":
            return self.outcome is None and not self.cancel_event.is_set()
        if action == "summary":
            return self.outcome is not None
        return True

    def action_cancel(self) -> None:
        if self.outcome is not None or self.cancel_event.is_set():
            return
        from tui.modals.confirm import ConfirmModal

        def answer(yes: bool | None) -> None:
            if yes:
                self.cancel_event.set()
                self.refresh_bindings()
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
