"""Step 6: the profile exactly as it will be written, its file name, then Save or Save & Start."""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Button, Input, Static

from tui.screens.base import StepScreen, field_row

SAVE, START = "save", "start"


class YamlView(VerticalScroll, can_focus=True):
    """The profile's YAML in a box of its own that scrolls (Tab to it, then ↑ ↓ PgUp PgDn)."""


class ReviewScreen(StepScreen):
    step = 5
    key = "review"
    title_text = "Review: the profile as it will be saved (no secrets in it)"

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
        with YamlView(id="yaml-box") as box:
            box.border_title = "the profile (Tab here to scroll it with ↑ ↓ PgUp PgDn)"
            yield Static("", id="yaml")

    def extra_buttons(self) -> ComposeResult:
        yield Button("Save (^s)", id="save", compact=True)

    def next_label(self) -> str:
        if self.state.route == "importservice":
            return "Save & write Import Service run (^r)"
        return "Save & Start (^r)"

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._preview()

    @on(Input.Changed)
    def _preview(self) -> None:
        self.save()
        path = self.state.profile_path()
        exists = " (it exists: saving asks first)" if path.exists() and str(path) != self.state.saved_path else ""
        self.query_one("#file", Static).update(f"Saved as {path}{exists}")
        try:
            text = self._yaml(path)
        except Exception as exc:  # a value the model refuses: shown, and Save will say why
            text = f"# cannot build the profile yet: {exc}"
        self.yaml_text = text
        self.query_one("#yaml", Static).update(Syntax(text, "yaml", theme="ansi_dark", word_wrap=True))

    def _yaml(self, path: Path) -> str:
        from core.profile.io import adopt_document, dumps_profile

        profile = self.state.to_profile()
        if path.exists():
            adopt_document(profile, path)
        return dumps_profile(profile)

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
            event.prevent_default()  # Textual would call StepScreen's handler too
            self.action_save_profile()

    def action_next(self) -> None:
        self.action_save_and_start()

    # ----- writing ----------------------------------------------------------------------------------

    def _write(self, then_start: bool) -> None:
        """Check, ask before replacing a file this session did not write, then save (and start)."""
        self.save()
        errors = self.validate()
        if errors:
            self.show_message("\n".join(errors), error=True)
            self.app.bell()
            return
        path = self.state.profile_path()
        if path.exists() and str(path) != self.state.saved_path:
            from tui.modals.confirm import ConfirmModal

            self.app.push_screen(
                ConfirmModal(
                    f"Replace {path.name}?",
                    f"{path} exists. Its comments and key order are kept, and only what the wizard "
                    "changed is rewritten. Choose No to give the profile another name.",
                    yes="Replace",
                    no="No",
                    danger=False,
                ),
                lambda yes: self._written(then_start) if yes else self._not_replaced(),
            )
            return
        self._written(then_start)

    def _not_replaced(self) -> None:
        self.show_message("Not saved: change the profile name (or folder) and save again")
        self.query_one("#name", Input).focus()

    def _written(self, then_start: bool) -> None:
        from core.profile.io import adopt_document, save_profile
        from tui import services

        profile = self.state.to_profile()
        path = self.state.profile_path()
        try:
            # The secret first: the profile then says what was really done with it.
            note = services.store_secret(self.state, profile)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                adopt_document(profile, path)
            written = save_profile(profile, path)
        except Exception as exc:  # noqa: BLE001 - shown in the message line; nothing was written
            self.show_message(f"Not saved: {services.explain(exc)}", error=True)
            self.app.bell()
            return
        self.state.saved_path = str(written)
        self.app.saved_profile = profile  # type: ignore[attr-defined]
        self.show_message(f"Saved {written}" + (f"; {note}" if note else ""))
        self._preview()
        if then_start and self.state.route == "importservice":
            self._write_import_service_run(profile, written)
        elif then_start:
            self.dismiss(START)

    def _write_import_service_run(self, profile, written: Path) -> None:  # noqa: ANN001 - a core Profile
        """The archive's Import Service route (chosen on step 3): the run for these PSTs, not an import."""
        from core.importservice.plan import plan_for_profile
        from tui import services

        try:
            plan = plan_for_profile(profile, self.state.plan_dir(), storage_host=self.state.storage_host)
        except Exception as exc:  # noqa: BLE001 - shown in the message line
            self.show_message(f"Saved {written}; the Import Service run was not written: {services.explain(exc)}",
                              error=True)  # fmt: skip
            self.app.bell()
            return
        self.app.import_service_plan = plan  # type: ignore[attr-defined]
        lines = [f"Saved {written}.", *plan.summary_lines(), *(f"Note: {w}" for w in plan.warnings)]
        self.show_message("\n".join(lines))

    def action_save_profile(self) -> None:
        self._write(then_start=False)

    def action_save_and_start(self) -> None:
        self._write(then_start=True)
