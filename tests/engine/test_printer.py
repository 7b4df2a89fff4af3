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
    assert "a.pst: Inbox -> a/Inbox" in text
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
