"""Names from a PST reach the TUI as plain text: Rich markup is not interpreted and control characters
(terminal escapes) are shown escaped, in the PST tree and in the run screen's tables (issue #21 finding 8)."""

from __future__ import annotations

from rich.text import Text

from tui.progress import FolderRow
from tui.screens.run import RunScreen
from tui.selection import PstChoice
from tui.widgets.pst_tree import PstTree

NASTY = "[bold]Evil[/bold]\x1b]0;PWNED\x07\x1b[31m[@click=app.quit]x[/]"
SHOWN = "[bold]Evil[/bold]\\x1b]0;PWNED\\x07\\x1b[31m[@click=app.quit]x[/]"


def test_pst_tree_label_is_plain_and_escaped() -> None:
    """The tree's label for a folder named with markup and escapes shows exactly those characters, escaped."""
    census = {
        "path": "/tmp/x\x1b[2J.pst",
        "display_name": "Store\x07",
        "folders": [{"path": [], "items": 0}, {"path": [NASTY], "items": 3, "role": None}],
    }
    choice = PstChoice.from_census(census)
    label = PstTree._label(None, choice, (NASTY,))  # type: ignore[arg-type]
    top = PstTree._label(None, choice, ())  # type: ignore[arg-type]
    assert isinstance(label, Text) and SHOWN in label.plain and "\x1b" not in label.plain
    assert "\x1b" not in top.plain and "\x07" not in top.plain and "x\\x1b[2J.pst" in top.plain


def test_run_screen_cells_are_plain_and_escaped() -> None:
    """The run screen's folder cell is a Text (no markup parsing) with the escapes shown."""
    row = FolderRow(pst="a.pst", source_path=("Inbox", NASTY), target_path=("a", "Inbox", NASTY))
    cell = RunScreen._cells(row, 0.0, False, 200)[0]
    assert isinstance(cell, Text) and cell.plain.endswith(SHOWN) and "\x1b" not in cell.plain
