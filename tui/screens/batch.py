"""The batch screen (`pstimport batch` on a terminal): one row per mailbox, its folders on demand.

The batch runs in a worker thread and folds its events into a `core.batch.printer.BatchAggregate`;
a timer redraws from a snapshot four times a second, touching only cells that changed. `f` shows
the folders of the highlighted mailbox; `c` cancels (requests in flight finish; a re-run resumes).
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from core.batch.printer import BatchAggregate, MailboxView
from core.termsafe import safe

REFRESH_HZ = 4
COLUMNS = (("mailbox", "Mailbox"), ("psts", "PSTs"), ("items", "Items"), ("imported", "Imp"), ("skipped", "Skip"),
           ("failed", "Fail"), ("rate", "Rate/s"), ("busy", "Busy"), ("state", "State"))  # fmt: skip
FOLDER_COLUMNS = (("folder", "Folder"), ("items", "Items"), ("imported", "Imp"), ("skipped", "Skip"),
                  ("failed", "Fail"), ("state", "State"))  # fmt: skip
STATE_STYLE = {"ok": "green", "failed": "bold red", "partial": "bold red", "interrupted": "bold yellow",
               "importing": "bold yellow", "verifying": "yellow", "connecting": "yellow"}  # fmt: skip


class BatchScreen(Screen[Any]):
    DEFAULT_CSS = """
    BatchScreen #mailboxes { height: 1fr; }
    BatchScreen #folders { height: 1fr; display: none; }
    BatchScreen #batch-status { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding("f", "toggle_folders", "Folders"),
        Binding("c", "cancel", "Cancel"),
        Binding("q", "quit_when_done", "Quit"),
    ]

    def __init__(self, runner: Any, cancel: threading.Event | None = None, title: str = "Batch import") -> None:
        """`runner(on_event, cancel)` runs the batch (`core.batch.run_batch`) and returns its result."""
        super().__init__()
        self.runner = runner
        self.cancel_event = cancel or threading.Event()
        self.aggregate = BatchAggregate()
        self.result: Any = None
        self.error: str | None = None
        self.title_text = title
        self._shown: dict[str, tuple] = {}
        self._folders_of: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="batch-title")
        yield Static("Starting…", id="batch-status")
        yield DataTable(id="mailboxes", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="folders", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#mailboxes", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        folders = self.query_one("#folders", DataTable)
        for key, label in FOLDER_COLUMNS:
            folders.add_column(label, key=key)
        self.set_interval(1 / REFRESH_HZ, self.refresh_view)
        self.start_batch()
        table.focus()

    def on_unmount(self) -> None:
        if self.result is None:
            self.cancel_event.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="batch")
    def start_batch(self) -> Any:
        return self.runner(self.aggregate, self.cancel_event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "batch":
            return
        if event.state == WorkerState.SUCCESS:
            self.result = event.worker.result
            self.refresh_view()
        elif event.state == WorkerState.ERROR:
            self.error = f"{type(event.worker.error).__name__}: {event.worker.error}"
            self.refresh_view()

    # ----- drawing -------------------------------------------------------------------------------------

    def refresh_view(self) -> None:
        views = self.aggregate.snapshot()
        status = self.query_one("#batch-status", Static)
        done = self.aggregate.finished
        if self.error:
            status.update(Text(f"The batch stopped: {self.error}", style="bold red"))
        elif done is not None:
            verdict = "Cancelled" if done.interrupted else "Finished"
            style = "bold green" if done.not_ok == 0 and not done.interrupted else "bold red"
            status.update(
                Text.assemble(
                    (f"{verdict}: {done.ok} of {done.mailboxes} mailbox run(s) ok. ", style),
                    f"Imported {done.imported}, failed {done.failed}; index {done.index_html}  (q quits)",
                )
            )
        else:
            status.update(self.aggregate.summary())
        table = self.query_one("#mailboxes", DataTable)
        for v in views:
            cells = self._cells(v)
            shown = self._shown.get(v.key)
            if shown is None:
                table.add_row(*cells, key=v.key)
            elif shown != cells:
                for (col, _), new, old in zip(COLUMNS, cells, shown, strict=True):
                    if new != old:
                        table.update_cell(v.key, col, new)
            self._shown[v.key] = cells
        if self.query_one("#folders", DataTable).display:
            self._draw_folders(views)

    @staticmethod
    def _cells(v: MailboxView) -> tuple:
        state = Text(v.state, style=STATE_STYLE.get(v.state, "dim"))
        label = v.label + (f"  ({v.error})" if v.error else "")
        return (label, str(v.psts), str(v.planned), str(v.imported), str(v.skipped), str(v.failed),
                f"{v.rate:.1f}", str(v.throttled), state)  # fmt: skip

    def highlighted(self) -> str | None:
        """The key of the mailbox row under the cursor."""
        table = self.query_one("#mailboxes", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _draw_folders(self, views: list[MailboxView]) -> None:
        key = self.highlighted()
        view = next((v for v in views if v.key == key), None)
        table = self.query_one("#folders", DataTable)
        table.clear()
        self._folders_of = key
        if view is None:
            return
        for f in view.folders:
            table.add_row(Text(safe(f.label)), str(f.planned), str(f.imported), str(f.skipped), str(f.failed), f.state)

    # ----- actions -------------------------------------------------------------------------------------

    def action_toggle_folders(self) -> None:
        folders = self.query_one("#folders", DataTable)
        folders.display = not folders.display
        if folders.display:
            self._draw_folders(self.aggregate.snapshot())

    def action_cancel(self) -> None:
        if self.result is not None or self.cancel_event.is_set():
            return
        self.cancel_event.set()
        self.query_one("#batch-status", Static).update(
            Text("Cancelling: finishing the requests in flight…", style="bold yellow")
        )

    def action_quit_when_done(self) -> None:
        if self.result is not None or self.error is not None:
            self.app.exit(self.result)


class BatchApp(App[Any]):
    """A one-screen app around `BatchScreen`."""

    def __init__(self, runner: Any, cancel: threading.Event | None = None, title: str = "Batch import") -> None:
        super().__init__()
        self.screen_factory = lambda: BatchScreen(runner, cancel, title)

    def on_mount(self) -> None:
        self.push_screen(self.screen_factory())
