"""Step 4: choose PST files (or scan folders for them), then tick folders in a tree."""

from __future__ import annotations

import sys

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from tui.screens.base import StepScreen, field_row
from tui.selection import PstChoice, human_size, selection_totals
from tui.widgets.path_input import PathInput
from tui.widgets.pst_tree import PstTree


class SourcesScreen(StepScreen):
    step = 3
    key = "sources"
    title_text = "PSTs: add files or scan folders, then tick what to import"

    BINDINGS = [
        Binding("ctrl+o", "focus_path", "Path", priority=True),
        Binding("ctrl+l", "outlook", "Outlook's PSTs", priority=True),
    ]

    HINT = "Enter adds it, and the next path can follow · → completes · ↓ goes to the tree"

    def form(self) -> ComposeResult:
        # select_on_focus off: a key typed in the tree and handed over must not be replaced by the next one
        yield field_row("File or folder", PathInput(compact=True, id="path", select_on_focus=False))
        yield Static(self.HINT, id="scan-status", classes="hint")
        yield PstTree(id="tree")
        yield Static("", id="totals")

    def on_mount(self) -> None:
        tree = self.query_one(PstTree)
        for choice in self.state.sources:
            tree.add_choice(choice)
        self._totals()
        self.query_one("#path", Input).focus()

    def action_focus_path(self) -> None:
        self.query_one("#path", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "outlook":  # only Windows has Outlook profiles to read
            return sys.platform == "win32"
        return True

    def action_outlook(self) -> None:
        from tui import services

        paths = services.outlook_pst_paths()
        if not paths:
            self.show_message("No PST/OST files found in this account's Outlook profiles or folders", error=True)
            return
        self.query_one("#scan-status", Static).update("Reading the PSTs of Outlook's profiles…")
        self.add_paths(*paths)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "path":
            return None  # StepScreen's own handler (Textual calls it too) moves to the next field
        event.stop()
        event.prevent_default()  # not StepScreen's: the path field keeps the focus
        text = event.value.strip()
        if not text:
            if self.query_one(PstTree).choices:
                self.query_one(PstTree).focus()
            return
        self.query_one("#scan-status", Static).update(f"Reading {text}…")
        self.add_paths(text)

    def on_key(self, event: events.Key) -> None:
        # Down from the path field goes to the tree, as Tab does.
        if event.key == "down" and self.focused is self.query_one("#path", Input):
            event.stop()
            self.query_one(PstTree).focus()

    def on_pst_tree_typed_ahead(self, event: PstTree.TypedAhead) -> None:
        """Typing in the tree is the start of another path: it goes to the path field, never to the tree."""
        field = self.query_one("#path", Input)
        field.focus()
        field.cursor_position = len(field.value)
        field.insert_text_at_cursor(event.character)

    @work(thread=True, exclusive=True, exit_on_error=False, group="scan")
    def add_paths(self, text: str, *more: str) -> tuple[list[PstChoice], list[tuple[str, str]], str]:
        import os

        from tui import services

        paths = [services.expand_path(t) for t in (text, *more)]
        missing = [
            (t, "no such file or folder") for t, p in zip((text, *more), paths, strict=True) if not os.path.exists(p)
        ]
        choices, errors = services.scan_paths([p for p in paths if os.path.exists(p)])
        if len(paths) == 1 and os.path.isdir(paths[0]) and not choices and not errors:
            errors = [(text, "no PST or OST files in this folder")]
        label = text if not more else f"{len(paths)} Outlook data files"
        return choices, missing + errors, label

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "scan":
            return
        status = self.query_one("#scan-status", Static)
        if event.state == WorkerState.ERROR:
            from tui import services

            self.show_message(f"Could not read: {services.explain(event.worker.error)}", error=True)
            status.update("")
        elif event.state == WorkerState.SUCCESS:
            choices, errors, text = event.worker.result
            tree = self.query_one(PstTree)
            known = {c.path for c in tree.choices}
            added = [c for c in choices if c.path not in known]
            for choice in added:
                tree.add_choice(choice)
            if errors:
                lines = [f"{path}: {why}" for path, why in errors[:4]]
                if len(errors) > 4:
                    lines.append(f"… and {len(errors) - 4} more unreadable files")
                self.show_message("Not added (unreadable):\n" + "\n".join(lines), error=True)
            else:
                self.show_message("")
            status.update(f"Added {len(added)} PST file(s) from {text}" if added else self.HINT)
            if added:
                # The field keeps the focus, emptied for the next path: what is typed next must not
                # land in the tree as keys.
                self.query_one("#path", Input).value = ""
            self._totals()

    def on_pst_tree_selection_changed(self, event: PstTree.SelectionChanged) -> None:
        self._totals()

    def _totals(self) -> None:
        tree = self.query_one(PstTree)
        files, items, size = selection_totals(tree.choices)
        self.query_one("#totals", Static).update(
            f"Selected: {files} of {len(tree.choices)} PST(s), {items} items, ~{human_size(size)}"
        )

    def save(self) -> None:
        self.state.sources = list(self.query_one(PstTree).choices)

    def validate(self) -> list[str]:
        if not self.state.sources:
            return ["No PST chosen: type the path of a .pst/.ost file or of a folder to scan, then press Enter"]
        if not any(c.any_selected for c in self.state.sources):
            return ["No folder ticked: tick a PST or some of its folders with the space bar (+ ticks all)"]
        return super().validate()
