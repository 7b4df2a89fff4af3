"""The batch screen (`pstimport batch` on a terminal), driven with Textual's Pilot over a real batch
against the sandbox: a row per mailbox, the failing one shown as such, folders on demand."""

from __future__ import annotations

import pytest
from fleet import DENIED, Fleet
from textual.widgets import DataTable

from core.batch import BatchOptions, load_mapping, load_template, run_batch
from tui.screens.batch import BatchApp, BatchScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_batch_screen_rows_failure_and_folders(fleet: Fleet) -> None:
    """Eleven rows (ten mailboxes, one also into its archive; user02's two roots share a row); the mailbox
    refusing impersonation ends 'failed' with its reason; f shows the highlighted mailbox's folders;
    q returns the batch result once done."""
    template, _notes = load_template(fleet.template)
    rows = load_mapping(fleet.csv)

    def runner(on_event, cancel):  # noqa: ANN001, ANN202
        return run_batch(template, rows, BatchOptions(parallel_mailboxes=4), on_event, cancel)

    app = BatchApp(runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BatchScreen)
        for _ in range(1200):
            if screen.result is not None:
                break
            await pilot.pause(0.1)
        assert screen.result is not None and screen.result.exit_code == 1
        screen.refresh_view()
        table = screen.query_one("#mailboxes", DataTable)
        assert table.row_count == 11
        denied = table.get_row(f"{DENIED}|mailbox")
        assert str(denied[-1]) == "failed" and "imperson" in str(denied[0]).lower()
        ok = table.get_row("user01@sandbox.test|mailbox")
        assert str(ok[-1]) == "ok" and ok[3] == "5"
        two = table.get_row("user02@sandbox.test|mailbox")  # its pst-name run and its store-root run
        assert str(two[-1]) == "ok" and (two[2], two[3]) == ("10", "10")
        assert "11 of 12 mailbox run(s) ok" in str(screen.query_one("#batch-status").render())
        folders = screen.query_one("#folders", DataTable)
        assert not folders.display
        await pilot.press("f")
        assert folders.display and screen.highlighted() == "user01@sandbox.test|mailbox"
        labels = [str(folders.get_row_at(i)[0]) for i in range(folders.row_count)]
        assert labels == ["pst00.pst: Inbox -> pst00/Inbox", "pst00.pst: Inbox/Scale 0001 -> pst00/Inbox/Scale 0001"]
        await pilot.press("q")
    assert app.return_value is screen.result
