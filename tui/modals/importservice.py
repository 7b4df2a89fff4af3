"""The Import Service route for an Exchange Online archive, chosen from the destination step.

Graph cannot reach an online archive and EWS only works while the tenant allow-lists the app (and
never from 2027-04-01), so the wizard offers Microsoft's PST Import Service for the same PSTs,
mailbox and folders: this dialog takes the storage account the PSTs will be uploaded to, and the
wizard's last step then writes the run (mapping CSV with IsArchive, the Exchange Online script, the
upload command; core.importservice.plan) instead of starting an import.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from core.importservice.plan import check_storage_host
from core.online import EWS_RETIRED


class ImportServiceModal(ModalScreen[str | None]):
    """Dismisses with the storage host when the Import Service is chosen, None for Cancel (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, mailbox: str, storage_host: str = "") -> None:
        super().__init__()
        self.mailbox = mailbox or "the mailbox"
        self.storage_host = storage_host

    def compose(self) -> ComposeResult:
        with Vertical(id="import-dialog"):
            yield Static("Into the online archive with the PST Import Service", id="question")
            yield Static(
                f"Microsoft Graph cannot reach {self.mailbox}'s archive, and EWS works only while the tenant "
                f"allow-lists the app (until {EWS_RETIRED:%Y-%m-%d}). The Import Service takes the same PSTs "
                "from your Azure storage: the wizard's last step writes the run (mapping with IsArchive, "
                "the Exchange Online script, the upload command) instead of importing.",
                id="detail",
            )
            with Horizontal(classes="field"):
                yield Label("Storage host", classes="field-label")
                yield Input(
                    self.storage_host, placeholder="ACCOUNT.blob.core.windows.net", compact=True, id="storage_host"
                )
            yield Static("", id="host-problem", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Use the Import Service (Enter)", id="use", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#storage_host", Input).focus()
        self.query_one("#host-problem", Static).display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._use()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "use":
            self._use()
        else:
            self.dismiss(None)

    def _use(self) -> None:
        host = self.query_one("#storage_host", Input).value.strip()
        problem = check_storage_host(host)
        note = self.query_one("#host-problem", Static)
        if problem:
            note.update(problem)
            note.display = True
            self.app.bell()
            return
        self.dismiss(host)

    def action_cancel(self) -> None:
        self.dismiss(None)
