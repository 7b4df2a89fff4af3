"""The run screen with more folders than fit, long and CJK names: the active folder stays in view."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from core import events as ev
from tui.app import make_app
from tui.screens.run import fit_path, folder_label
from tui.state import WizardState

pytestmark = pytest.mark.anyio

PST = "Matt Backup 2016.pst"
LONG = ("Projects", "Customers", "Contoso Ltd — framework agreement renewal negotiations 2016")
CJK = ("受信トレイ", "プロジェクト資料")


def folders(n: int = 26) -> list[tuple[str, ...]]:
    """`n` folders of a PST as a technician meets them: roles, a deep one with a long name, a Japanese one."""
    names = [("Inbox",), ("Sent Items",), LONG, CJK] + [("Archive", f"{2000 + i}") for i in range(n - 4)]
    return names[:n]


def events_until(active: int, n: int = 26) -> list[ev.Event]:
    """A run's events up to folder `active` (0-based) being imported: the ones before it done."""
    out: list[ev.Event] = [ev.FolderPlanned(PST, p, ("Matt Backup 2016", *p), 5, 5000) for p in folders(n)]
    out.append(ev.RunStarted("matt-backup", "matt@example.test", "mailbox", False, n, 5 * n, 5000 * n))
    for i, p in enumerate(folders(n)[: active + 1]):
        out.append(ev.FolderStarted(PST, p, ("Matt Backup 2016", *p)))
        for _ in range(5 if i < active else 2):
            out.append(ev.ItemImported(PST, p, 1000))
        if i < active:
            out.append(ev.FolderFinished(PST, p, 5, 0, 0))
    return out


def replay(events):
    def run(on_event, cancel):
        aggregate = on_event.__self__
        now = [0.0]
        aggregate.clock = lambda: now[0]
        for e in events:
            now[0] += 0.01
            on_event(e)
        aggregate.replayed = True  # read by `settled`
        cancel.wait(30)

    return run


def demo_profile():
    from core.profile.model import Profile

    return Profile.new(
        name="matt-backup",
        mailbox="matt@example.test",
        sources=[PST],
        target="on-premises",
        ews_url="http://127.0.0.1:1/EWS/Exchange.asmx",
        username="svc",
    )


async def settled(pilot) -> None:
    """Wait until the replay is over and the screen has drawn it (a few refreshes), however loaded the machine."""
    for _ in range(200):
        await pilot.pause(0.05)
        if getattr(pilot.app.screen.aggregate, "replayed", False):
            break
    for _ in range(3):  # the table scrolls after its rows settle: let every scroll and refresh finish
        await pilot.pause(0.3)
        await pilot.wait_for_scheduled_animations()


def many_folders_app(active: int):
    return make_app(WizardState(), start="run", profile=demo_profile(), runner=replay(events_until(active)))


async def test_the_active_folder_stays_in_view(workdir):
    """With 26 folders at 80×24 and the 23rd being imported, the table's cursor is on it and it is on screen."""
    app = many_folders_app(22)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        table = app.screen.query_one("#folders")
        assert table.row_count == 26
        assert table.cursor_row == 22
        top = table.scroll_offset.y
        visible = table.size.height - 1  # less the header
        assert top <= 22 < top + visible, (top, visible)
        assert str(table.get_row_at(22)[-1]) == "running"
        app.screen.cancel_event.set()


@pytest.mark.parametrize(
    ("parts", "width", "shown"),
    [
        (("Inbox",), 20, "Inbox"),
        (LONG, 40, LONG[-1][:39] + "…"),  # the leaf alone is too long: its start
        (("Projects", "2016", "Q3", "Customers"), 22, "Projects/…/Customers"),
        (CJK, 12, "プロジェク…"),  # cut by cells: each of these characters is two wide
        (CJK, 18, "…/プロジェクト資料"),
        (CJK, 17, "プロジェクト資料"),
    ],
)
def test_folder_names_keep_the_leaf_and_fit_their_cells(parts, width, shown):
    """Long folder paths keep the folder's own name (cutting the middle, or its end), in terminal cells."""
    text = fit_path(parts, width)
    assert cell_len(text) <= width
    assert text == shown


def test_several_psts_keep_the_folder_name_before_the_pst_name():
    """With several PSTs the PST's name is shortened before the folder's own name is."""
    label = folder_label("/srv/psts/A very long PST file name from 2016.pst", ("Inbox", "Invoices"), True, 30)
    assert label.endswith("Inbox/Invoices") and cell_len(label) <= 30
