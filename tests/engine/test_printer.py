"""The headless printers: plain lines off a terminal, a redrawn table on one, JSON lines."""

from __future__ import annotations

import io
import json

from core.engine.printer import HumanPrinter, JsonPrinter
from core.events import (
    FolderFinished,
    FolderPlanned,
    FolderStarted,
    ItemFailed,
    ItemImported,
    Progress,
    RunFinished,
    RunStarted,
)


def _events():
    return [
        FolderPlanned(
            pst="a.pst", source_path=("Inbox",), target_path=("a", "Inbox"), items_selected=2, bytes_selected=0
        ),
        RunStarted(
            profile="p",
            mailbox="m@x.test",
            store="mailbox",
            dry_run=False,
            folders=1,
            items_selected=2,
            bytes_selected=0,
        ),
        FolderStarted(pst="a.pst", source_path=("Inbox",), target_path=("a", "Inbox")),
        ItemImported(pst="a.pst", source_path=("Inbox",), size=10),
        ItemFailed(pst="a.pst", source_path=("Inbox",), subject="Hello", reason="refused"),
        Progress(
            items_done=2,
            items_total=2,
            bytes_done=10,
            bytes_total=0,
            items_per_second=4.0,
            eta_seconds=0.0,
            concurrency=4,
        ),
        FolderFinished(pst="a.pst", source_path=("Inbox",), imported=1, skipped=0, failed=1),
        RunFinished(imported=1, skipped=0, failed=1, interrupted=False, report_json="r.json", report_html="r.html"),
    ]


def test_plain_lines_name_folders_failures_and_report():
    """Off a terminal: one line per folder start/finish and failure, then totals and the report path."""
    out = io.StringIO()
    p = HumanPrinter(out, live=False)
    for e in _events():
        p(e)
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "failed: a.pst: Inbox 'Hello': refused" in text
    assert "done   a.pst: Inbox: imported 1, already there 0, failed 1" in text
    assert "finished: imported 1, already there 0, failed 1" in text and "report: r.html" in text


def test_live_table_redraws_in_place():
    """On a terminal: a table with the folder row, redrawn with cursor movement, final totals below."""
    out = io.StringIO()
    p = HumanPrinter(out, live=True)
    for e in _events():
        p(e)
    text = out.getvalue()
    assert "a.pst: Inbox " in text  # where in the PST (the target is in the plain lines and the report)
    assert "\x1b[" in text  # moved the cursor back up to redraw
    assert text.rstrip().endswith("r.json")


def test_json_lines_round_trip():
    """--json: each event is one JSON object with its kind in 'event'."""
    out = io.StringIO()
    p = JsonPrinter(out)
    for e in _events():
        p(e)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["event"] for r in rows][-1] == "RunFinished"
    assert rows[3] == {"pst": "a.pst", "source_path": ["Inbox"], "size": 10, "event": "ItemImported"}


def test_live_table_columns_stay_aligned_with_cjk_and_long_names(monkeypatch):
    """Double-width (CJK) folder names and long paths keep the table's columns aligned (counted in terminal
    cells, not characters), and a long path keeps the folder's own name."""
    import os

    from core.cells import cell_width
    from core.events import FolderPlanned

    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=None: os.terminal_size((80, 24)))
    out = io.StringIO()
    p = HumanPrinter(out, live=True)
    paths = [("Inbox",), ("受信トレイ", "プロジェクト資料"), ("Projects", "Customers", "Contoso", "Framework 2016")]
    for path in paths:
        p(FolderPlanned(pst="a.pst", source_path=path, target_path=("a", *path), items_selected=3, bytes_selected=0))
    p._draw(keep=True)
    rows = [line for line in out.getvalue().splitlines() if line.startswith("a.pst")]
    assert len(rows) == 3
    ends = {cell_width(line[: line.index(" 3 ") + 2]) for line in rows}
    assert len(ends) == 1, rows  # the count column starts in the same terminal column on every row
    assert "Framework 2016" in rows[2] and "…" in rows[2]
    assert all(cell_width(line) <= 80 for line in rows)


def test_verify_lines_fit_80_columns_with_long_and_cjk_names():
    """`pstimport verify` prints a table that fits 80 columns, long and CJK folder names included, and lists
    the folders the profile left out with their PST counts."""
    from core.cells import cell_width
    from core.engine.cli import verify_lines

    def row(path, status="ok"):
        return {
            "pst": "Matt Backup.pst",
            "source_path": list(path),
            "target_path": ["Matt Backup", *path],
            "selected": 12,
            "stamped_items": 12,
            "mailbox_items": 12,
            "duplicates": 0,
            "status": status,
        }

    report = {
        "folders": [
            row(("Inbox",)),
            row(("受信トレイ", "プロジェクト資料")),
            row(("Projects", "Customers", "Contoso Ltd framework agreement renewal negotiations 2016")),
        ],
        "excluded": [{"pst": "Matt Backup.pst", "source_path": ["Contacts"], "pst_items": 3}],
        "totals": {"mismatched_folders": 0},
    }
    lines = verify_lines(report, "/srv/reports/r.html", width=80)
    assert all(cell_width(line) <= 80 for line in lines[:-1]), lines
    cols = {cell_width(line[: line.rindex(" 12 ")]) for line in lines[1:4]}
    assert len(cols) == 1, lines  # aligned in terminal cells
    assert lines[4].startswith("left out") and "(3 in the PST)" in lines[4]
    assert "Contoso" in lines[3]
