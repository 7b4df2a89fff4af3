"""Step 3: mailbox or archive, and where under it the PST's folders go (with a worked example)."""

from __future__ import annotations

import os

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Input, Select, Static

from core.online import EWS_RETIRED, ews_retired
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

    BINDINGS = [Binding("ctrl+p", "import_service", "Import Service", priority=True, show=False)]

    def form(self) -> ComposeResult:
        s = self.state
        yield field_row("Store", Select(STORES, value=s.store, allow_blank=False, compact=True, id="store"))
        yield field_row("Put PST folders", Select(ROOTS, value=s.root, allow_blank=False, compact=True, id="root"))
        yield field_row(
            "Folder", Input(s.folder, placeholder="e.g. Imported/2016", compact=True, id="folder"), id="folder-row"
        )
        yield Static("", id="example")
        yield Static("", id="route", classes="hint")

    def extra_buttons(self) -> ComposeResult:
        yield Button("Import Service… (^p)", id="import-service", compact=True)

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
        self._sync_route()

    # ----- an archive in Exchange Online: the routes that reach it ------------------------------

    def _online_archive(self) -> bool:
        return self.state.target == "exchange-online" and self.query_one("#store", Select).value == "archive"

    def _sync_route(self) -> None:
        s = self.state
        route = self.query_one("#route", Static)
        button = self.query_one("#import-service", Button)
        online_archive = self._online_archive()
        route.display = button.display = online_archive
        if not online_archive:
            return
        if s.route == "importservice":
            route.update(
                f"Import Service: the last step writes the run for these PSTs (uploads to {s.storage_host}) "
                "instead of importing. Ctrl+P changes it."
            )
        elif s.transport == "graph" or ews_retired():
            route.update(
                "Microsoft Graph cannot reach an online archive. Ctrl+P: the PST Import Service for these PSTs "
                f"(mapping with IsArchive, script, upload command); or go Back and choose EWS, which works only "
                f"while the tenant allow-lists the app (until {EWS_RETIRED:%Y-%m-%d})."
            )
        else:
            route.update(
                f"EWS reaches the archive while the tenant allow-lists the app (until {EWS_RETIRED:%Y-%m-%d}). "
                "Ctrl+P: the PST Import Service instead."
            )

    def action_import_service(self) -> None:
        if not self._online_archive():
            return
        from tui.modals.importservice import ImportServiceModal

        self.save()
        self.app.push_screen(ImportServiceModal(self.state.mailbox, self.state.storage_host), self._route_chosen)

    def _route_chosen(self, host: str | None) -> None:
        if host is None:
            return
        self.state.route = "importservice"
        self.state.storage_host = host
        self._sync_route()
        self.show_message("")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "import-service":
            event.stop()
            event.prevent_default()  # Textual would call StepScreen's handler too
            self.action_import_service()
            return
        super().on_button_pressed(event)

    def validate(self) -> list[str]:
        s = self.state
        if s.target == "exchange-online" and s.store == "archive" and s.route != "importservice":
            if s.transport == "graph":
                return [
                    "store: Microsoft Graph cannot reach an online archive: press Ctrl+P for the PST Import "
                    "Service, or go Back and choose EWS (only if the tenant allow-lists the app)"
                ]
        return super().validate()

    def save(self) -> None:
        s = self.state
        s.store = str(self.query_one("#store", Select).value)
        if s.store != "archive" or s.target != "exchange-online":
            s.route = "engine"  # the Import Service route is for an Exchange Online archive
        s.root = str(self.query_one("#root", Select).value)
        s.folder = self.query_one("#folder", Input).value.strip()
