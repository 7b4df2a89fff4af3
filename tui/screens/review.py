"""Step 6: the profile exactly as it will be written, its file name, then Save or Save & Start."""

from __future__ import annotations

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Input, Static

from tui.screens.base import StepScreen, field_row

SAVE, START = "save", "start"


class ReviewScreen(StepScreen):
    step = 5
    key = "review"
    title_text = "Review and save: the profile as it will be written (no secrets in it)"

    BINDINGS = [
        Binding("ctrl+s", "save_profile", "Save", priority=True),
        Binding("ctrl+r", "save_and_start", "Save & Start", priority=True),
        Binding("ctrl+n", "save_and_start", "Save & Start", show=False, priority=True),
    ]

    def form(self) -> ComposeResult:
        s = self.state
        yield field_row("Profile name", Input(s.name or s.default_name(), compact=True, id="name"))
        yield field_row("Folder", Input(s.profile_dir, compact=True, id="profile_dir"))
        yield Static("", id="file", classes="hint")
        yield Static("", id="yaml")

    def extra_buttons(self) -> ComposeResult:
        yield Button("Save (^s)", id="save", compact=True)

    def next_label(self) -> str:
        return "Save & Start (^r)"

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._preview()

    @on(Input.Changed)
    def _preview(self) -> None:
        self.save()
        self.query_one("#file", Static).update(f"Will be written to {self.state.profile_path()}")
        try:
            from core.profile.io import dumps_profile

            text = dumps_profile(self.state.to_profile())
        except Exception as exc:  # a value the model refuses: shown, and Save will say why
            text = f"# cannot build the profile yet: {exc}"
        self.yaml_text = text
        self.query_one("#yaml", Static).update(Syntax(text, "yaml", theme="ansi_dark", word_wrap=True))

    def save(self) -> None:
        self.state.name = self.query_one("#name", Input).value.strip()
        self.state.profile_dir = self.query_one("#profile_dir", Input).value.strip() or "profiles"

    def validate(self) -> list[str]:
        s = self.state
        errors = []
        if not s.sources or not any(c.any_selected for c in s.sources):
            errors.append("sources: no PST selected (go Back to step 4)")
        return errors + super().validate()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            event.stop()
            self.action_save_profile()
        else:
            super().on_button_pressed(event)

    def action_next(self) -> None:
        self.action_save_and_start()

    def _write(self) -> bool:
        self.save()
        errors = self.validate()
        if errors:
            self.show_message("\n".join(errors), error=True)
            self.app.bell()
            return False
        from pathlib import Path

        from core.profile.io import save_profile
        from tui import services

        profile = self.state.to_profile()
        path = self.state.profile_path()
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            written = save_profile(profile, path)
            note = services.store_secret(self.state, profile)
        except Exception as exc:
            self.show_message(f"Not saved: {services.explain(exc)}", error=True)
            return False
        self.app.saved_profile = profile  # type: ignore[attr-defined]
        self.show_message(f"Saved {written}" + (f"; {note}" if note else ""))
        return True

    def action_save_profile(self) -> None:
        if self._write():
            self.app.notify(f"Profile saved: {self.state.profile_path()}", title="Saved")

    def action_save_and_start(self) -> None:
        if self._write():
            self.dismiss(START)
