"""The first screen of `pstimport`: start a new profile, or open a saved one."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from tui.widgets.path_input import PathSuggester

INTRO = (
    "[b]pstimport[/b]: import Outlook PST/OST files into Exchange mailboxes (Exchange Online or "
    "on-premises), folder by folder, with a verification report.\n\n"
    "A profile holds the connection, the PSTs and the options. It is saved as YAML in profiles/ "
    "and can be run again, also headless: pstimport run PROFILE --headless"
)


class WelcomeScreen(Screen[tuple[str, str]]):
    """Dismisses with ("new", "") or ("open", path)."""

    # The path field has the focus, so typing a path never races a one-letter key; Ctrl+N is "Next"
    # everywhere in the wizard, and here it starts a new profile.
    BINDINGS = [
        Binding("ctrl+n", "new", "New profile", priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="welcome"):
            yield Static(INTRO, id="intro")
            yield Button("New profile (^n)", id="new", variant="primary", compact=True)
            yield Label("Or open a saved profile (type its path, Enter):")
            yield Input(
                placeholder="profiles/NAME.yaml",
                suggester=PathSuggester((".yaml", ".yml")),
                compact=True,
                id="open-path",
            )
            yield Static(self._saved(), id="saved", classes="hint")
            yield Static("", id="message")
        yield Footer()

    def _saved(self) -> str:
        found = sorted(Path("profiles").glob("*.yaml"))[:5]
        if not found:
            return "No profiles in ./profiles yet."
        return "In ./profiles: " + ", ".join(p.name for p in found)

    def on_mount(self) -> None:
        self.query_one("#open-path", Input).focus()

    def action_new(self) -> None:
        self.dismiss(("new", ""))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "new":
            self.dismiss(("new", ""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        error = self.app.open_profile_error(path)  # type: ignore[attr-defined]
        if error:
            msg = self.query_one("#message", Static)
            msg.update(error)
            msg.add_class("error")
            return
        self.dismiss(("open", path))
