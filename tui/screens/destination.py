"""Step 3: mailbox or archive, and where under it the PST's folders go (with a worked example)."""

from __future__ import annotations

import os

from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Select, Static

from tui.screens.base import StepScreen, field_row

STORES = [("Primary mailbox", "mailbox"), ("Online archive", "archive")]
ROOTS = [
    ("A folder named after the PST", "pst-name"),
    ("Merged into the top of the store", "store-root"),
    ("Under a folder I name", "folder"),
]


def example_target(store: str, root: str, folder: str, pst_path: str) -> str:
    """Where the Inbox of `pst_path` lands, as the user would see it in Outlook."""
    top = "Archive" if store == "archive" else "Mailbox"
    pst_name = os.path.splitext(os.path.basename(pst_path))[0] or "Backup"
    if root == "store-root":
        parts = [top, "Inbox"]
    elif root == "folder":
        parts = [top, *[p for p in (folder or "…").split("/") if p], "Inbox"]
    else:
        parts = [top, pst_name, "Inbox"]
    return " / ".join(parts)


class DestinationScreen(StepScreen):
    step = 2
    key = "destination"
    title_text = "Destination: where in the mailbox the PST's folders go"

    def form(self) -> ComposeResult:
        s = self.state
        yield field_row("Store", Select(STORES, value=s.store, allow_blank=False, compact=True, id="store"))
        yield field_row("Put PST folders", Select(ROOTS, value=s.root, allow_blank=False, compact=True, id="root"))
        yield field_row(
            "Folder", Input(s.folder, placeholder="e.g. Imported/2016", compact=True, id="folder"), id="folder-row"
        )
        yield Static("", id="example")

    def on_mount(self) -> None:
        self.query_one("#store", Select).focus()
        self._sync()

    @on(Select.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self._sync()

    def _sync(self) -> None:
        root = str(self.query_one("#root", Select).value)
        self.query_one("#folder-row").display = root == "folder"
        pst = self.state.sources[0].path if self.state.sources else "Matt Backup.pst"
        where = example_target(
            str(self.query_one("#store", Select).value), root, self.query_one("#folder", Input).value.strip(), pst
        )
        name = os.path.basename(pst)
        self.query_one("#example", Static).update(f"Example: the Inbox of {name} lands in\n  {where}")

    def save(self) -> None:
        s = self.state
        s.store = str(self.query_one("#store", Select).value)
        s.root = str(self.query_one("#root", Select).value)
        s.folder = self.query_one("#folder", Input).value.strip()
