"""The batch's headless display: a per-mailbox table on a terminal (folders on demand), plain lines
otherwise, and JSON lines tagged with the mailbox."""

from __future__ import annotations

import io
import json

from core.batch.events import BatchFinished, BatchStarted, MailboxEvent, MailboxFinished, MailboxQueued, MailboxStarted
from core.batch.printer import BatchHumanPrinter, BatchJsonPrinter
from core.events import FolderPlanned, FolderStarted, ItemImported, Progress, RunStarted, Throttled

A, B = "ann@example.com", "bob@example.com"


def _feed(printer) -> None:  # noqa: ANN001
    printer(BatchStarted("wave1", 2, 3, None, 2, 8, False))
    printer(MailboxQueued(A, "mailbox", ("/p/a.pst", "/p/b.pst")))
    printer(MailboxQueued(B, "archive", ("/p/c.pst",)))
    printer(MailboxStarted(A, "mailbox", ("/p/a.pst", "/p/b.pst")))
    tag = lambda e: MailboxEvent(A, "mailbox", e)  # noqa: E731
    printer(tag(FolderPlanned("a.pst", ("Inbox",), ("a", "Inbox"), 7, 0)))
    printer(tag(RunStarted("wave1", A, "mailbox", False, 1, 7, 0)))
    printer(tag(FolderStarted("a.pst", ("Inbox",), ("a", "Inbox"))))
    for _ in range(3):
        printer(tag(ItemImported("a.pst", ("Inbox",), 100)))
    printer(tag(Throttled(0.25, 1, "busy")))
    printer(tag(Progress(3, 7, 300, 0, 4.5, 1.0, 1)))


def test_live_table_per_mailbox_and_folders_on_demand() -> None:
    """On a terminal: one row per mailbox with its counts, rate and busy answers; --folders adds
    the folder rows of running mailboxes; queued mailboxes show as queued."""
    out = io.StringIO()
    printer = BatchHumanPrinter(out, live=True)
    _feed(printer)
    printer._draw()
    screen = out.getvalue().split("\x1b[J")[-1]
    row = next(line for line in screen.splitlines() if line.startswith(A))
    assert row.split()[1:] == ["2", "7", "3", "0", "0", "4.5", "1", "importing"]
    assert any(line.startswith(f"{B} (archive)") and line.endswith("queued") for line in screen.splitlines())
    assert "a.pst: Inbox -> a/Inbox" not in screen
    out = io.StringIO()
    printer = BatchHumanPrinter(out, live=True, folders=True)
    _feed(printer)
    printer._draw()
    screen = out.getvalue().split("\x1b[J")[-1]
    folder = next(line for line in screen.splitlines() if "a.pst: Inbox -> a/Inbox" in line)
    assert folder.startswith("  ") and folder.split()[-5:] == ["7", "3", "0", "0", "reading"]


def test_plain_lines_when_not_a_terminal() -> None:
    """Not a TTY: no escape codes; a line per mailbox start and end, failures named, a final summary."""
    out = io.StringIO()
    printer = BatchHumanPrinter(out, live=False)
    _feed(printer)
    printer(MailboxFinished(A, "mailbox", "ok", 0, 7, 0, 0, None, "/r/a.json", "/r/a.html"))
    printer(MailboxStarted(B, "archive", ("/p/c.pst",)))
    printer(MailboxFinished(B, "archive", "failed", 2, 0, 0, 0, "impersonation denied for bob@example.com"))
    printer(BatchFinished(2, 1, 1, 7, 0, 0, False, 1, 2.0, 3.5, "/r/i.json", "/r/i.html"))
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "start  ann@example.com: 2 PST(s)" in text
    assert "ok     ann@example.com: imported 7, already there 0, failed 0; report /r/a.html" in text
    assert "failed bob@example.com (archive): impersonation denied for bob@example.com" in text
    assert "batch finished: 1 of 2 mailbox run(s) ok; imported 7" in text
    assert "  failed: bob@example.com (archive): impersonation denied" in text
    assert "index: /r/i.html" in text


def test_json_lines_tag_engine_events_with_the_mailbox() -> None:
    """--json: every line is one JSON object; engine events keep their fields and gain mailbox/store."""
    out = io.StringIO()
    _feed(BatchJsonPrinter(out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0]["event"] == "BatchStarted" and events[0]["mailboxes"] == 2
    item = next(e for e in events if e["event"] == "ItemImported")
    assert item == {"event": "ItemImported", "mailbox": A, "store": "mailbox", "pst": "a.pst",
                    "source_path": ["Inbox"], "size": 100}  # fmt: skip
    assert {e["event"] for e in events} >= {"MailboxQueued", "MailboxStarted", "Throttled", "Progress"}
