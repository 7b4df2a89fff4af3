"""The verification summary: per folder, PST against mailbox counts, mismatches first and in red."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL
from core.termsafe import safe
from tui.screens.run import folder_label

COLUMNS = ("Folder", "PST", "Sel", "Imported", "Skip", "Failed", "Mailbox", "Status")
OTHER_COLUMNS_WIDTH = 58  # the columns after Folder, with cell padding and the scrollbar


def load_report(outcome: Any) -> dict[str, Any] | None:
    """The verification report (DESIGN.md JSON) of a run, from the engine's result or its file."""
    result = getattr(outcome, "result", None)
    for candidate in (getattr(result, "report", None), result if isinstance(result, dict) else None):
        if isinstance(candidate, dict) and "folders" in candidate:
            return candidate
    finished = getattr(outcome, "finished", None)
    path = getattr(finished, "report_json", None) or getattr(result, "report_json", None)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None
    return None


def is_mismatch(folder: dict[str, Any]) -> bool:
    return folder.get("status") != "ok"


class SummaryScreen(Screen[int]):
    """Dismisses with the exit code: 0 all verified, 1 failures or mismatches, 130 cancelled."""

    BINDINGS = [Binding("q", "done", "Exit"), Binding("escape", "done", "Exit", show=False)]

    def __init__(self, outcome: Any) -> None:
        super().__init__()
        self.outcome = outcome
        self.report = load_report(outcome)

    def exit_code(self) -> int:
        if getattr(self.outcome, "cancelled", False):
            return EXIT_INTERRUPTED
        if getattr(self.outcome, "error", None):
            return EXIT_PARTIAL
        if getattr(self.outcome, "dry_run", False):
            finished = getattr(self.outcome, "finished", None)
            return EXIT_PARTIAL if finished is None or finished.failed else EXIT_OK
        if self.report is None:
            return EXIT_PARTIAL
        totals = self.report.get("totals", {})
        if (
            totals.get("failed")
            or totals.get("mismatched_folders")
            or any(is_mismatch(f) for f in self.report.get("folders", []))
        ):
            return EXIT_PARTIAL
        return EXIT_OK

    def compose(self) -> ComposeResult:
        yield Static(self._headline(), id="summary-title")
        yield DataTable(id="verify", cursor_type="row", zebra_stripes=True)
        yield Static(self._paths(), id="report-path")
        yield Footer()

    def _headline(self) -> Text:
        if getattr(self.outcome, "error", None):
            return Text(f"The run stopped: {self.outcome.error}", style="bold red")
        if getattr(self.outcome, "dry_run", False):
            f = getattr(self.outcome, "finished", None)
            if f is None:
                return Text("The dry run did not finish.", style="bold red")
            text = Text(f"Dry run: {f.imported} items would be imported, {f.skipped} are already there; ")
            text.append(f"{f.failed} cannot be read", style="bold red" if f.failed else "green")
            text.append("; nothing was uploaded or changed")
            return text
        if self.report is None:
            return Text("No verification report was produced.", style="bold red")
        t = self.report.get("totals", {})
        bad = sum(1 for f in self.report.get("folders", []) if is_mismatch(f))
        text = Text(f"Verification of {self.report.get('mailbox', '?')} ({self.report.get('store', 'mailbox')}): ")
        text.append(f"{t.get('imported', 0)} imported, ")
        text.append(f"{t.get('failed', 0)} failed", style="bold red" if t.get("failed") else "")
        text.append(", ")
        if bad:
            text.append(f"{bad} folder(s) differ from the PST (listed first)", style="bold red")
        else:
            text.append("every folder matches", style="bold green")
        excluded = self.report.get("excluded") or []
        if excluded:
            n = sum(x.get("pst_items", 0) for x in excluded)
            text.append(f"; {len(excluded)} folder(s) with {n} items left out by the profile (listed last)")
        if getattr(self.outcome, "cancelled", False):
            text.append("  (cancelled: re-run the profile to finish)", style="yellow")
        return text

    def _paths(self) -> str:
        finished = getattr(self.outcome, "finished", None)
        html = getattr(finished, "report_html", None) or getattr(
            getattr(self.outcome, "result", None), "report_html", None
        )
        return f"HTML report: {html}" if html else "HTML report: none written"

    def on_mount(self) -> None:
        table = self.query_one("#verify", DataTable)
        folder_width = max(16, self.app.size.width - OTHER_COLUMNS_WIDTH)
        for label in COLUMNS:
            table.add_column(label, key=label.lower(), width=folder_width if label == "Folder" else None)
        folders = list((self.report or {}).get("folders", []))
        folders.sort(key=lambda f: (not is_mismatch(f),))  # stable: mismatches first, else report order
        many = len({f.get("pst") for f in folders}) > 1
        for f in folders:
            bad = is_mismatch(f)
            style = "bold red" if bad else ""
            name = folder_label(str(f.get("pst", "")), f.get("source_path", []), many, folder_width)
            cells = [
                name,
                f.get("pst_items"),
                f.get("selected"),
                f.get("imported"),
                f.get("skipped_existing"),
                f.get("failed"),
                f.get("mailbox_items"),
                f.get("status"),
            ]
            table.add_row(*[Text("" if c is None else safe(c), style=style) for c in cells])
        for x in (self.report or {}).get("excluded", []):
            name = folder_label(str(x.get("pst", "")), x.get("source_path", []), many, folder_width)
            cells = [name, x.get("pst_items"), 0, "", "", "", "", "left out"]
            table.add_row(*[Text("" if c == "" else safe(c), style="dim") for c in cells])
        table.focus()

    def action_done(self) -> None:
        self.dismiss(self.exit_code())
