"""The wizard's plain-Python parts: tick rules to globs, path completion, the run aggregate, the example path."""

from __future__ import annotations

import pytest

from core import events as ev
from core.profile.model import Source
from tests.tui.record_run import load
from tui.progress import DONE, FAILED, RunAggregate
from tui.screens.destination import example_target
from tui.selection import FolderInfo, PstChoice, escape_name
from tui.widgets.path_input import complete_path


def choice(*paths: tuple[str, ...]) -> PstChoice:
    folders = [FolderInfo((), 0, None, None)] + [FolderInfo(p, 1, None, None) for p in paths]
    c = PstChoice("x.pst", None, "pst", "unicode", 100, folders)
    c.checked = {f.path for f in folders}
    return c


@pytest.mark.parametrize("untick", [("A*b",), ("we[ir]d", "c?d"), ("a/b",), ("Back\\slash",)])
def test_globs_select_exactly_the_ticked_folders_even_with_special_names(untick):
    """Folder names with glob characters are escaped, so the profile's globs select exactly what is ticked."""
    c = choice(("A*b",), ("Ab",), ("we[ir]d",), ("we[ir]d", "c?d"), ("we[ir]d", "cxd"), ("a/b",), ("Back\\slash",))
    c.set_checked(untick, False)
    include, exclude = c.globs()
    src = Source(path="x.pst", include=include, exclude=exclude)
    for f in c.folders[1:]:
        assert src.selects(f.path) == (f.path in c.checked), (f.path, exclude)


def test_reopening_a_profile_restores_the_ticks():
    """apply_globs (opening a saved profile) gives back the ticks the globs were made from."""
    c = choice(("Inbox",), ("Inbox", "Old"), ("Inbox", "New"), ("Sent",))
    c.set_checked(("Inbox",), False)
    c.set_checked(("Inbox", "New"), True)
    include, exclude = c.globs()
    again = choice(("Inbox",), ("Inbox", "Old"), ("Inbox", "New"), ("Sent",))
    again.apply_globs(include, exclude)
    assert again.checked == c.checked


def test_escape_name_round_trips_through_core_globs():
    """An escaped name matches itself and nothing else."""
    src = Source(path="x.pst", include=[escape_name("Q*1 [draft]")])
    assert src.selects(("Q*1 [draft]",)) and not src.selects(("Qx1 d",))


def test_complete_path_offers_folders_and_pst_files_only(tmp_path):
    """Completion extends a prefix to a folder (with a slash) or a .pst/.ost file, never to other files."""
    (tmp_path / "Archives").mkdir()
    (tmp_path / "Archive 2016.pst").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    (tmp_path / "mail.OST").write_bytes(b"")
    assert complete_path(str(tmp_path / "Archive ")) == str(tmp_path / "Archive 2016.pst")
    assert complete_path(str(tmp_path / "Archives")) is None  # complete already; a slash comes from the folder list
    assert complete_path(str(tmp_path / "Archivess")) is None
    assert complete_path(str(tmp_path / "no")) is None
    assert complete_path(str(tmp_path / "ma")) == str(tmp_path / "mail.OST")
    first = complete_path(str(tmp_path) + "/Archi")
    assert first in (str(tmp_path / "Archive 2016.pst"), str(tmp_path / "Archives") + "/")


def test_aggregate_folds_a_recorded_run():
    """Replaying a real run's events gives per-folder counts that match its verification report."""
    events, report = load()
    agg = RunAggregate()
    for e in events:
        agg.apply(e)
    snap = agg.snapshot()
    assert snap.finished is not None
    by_path = {r.source_path: r for r in snap.rows}
    for f in report["folders"]:
        row = by_path[tuple(f["source_path"])]
        assert row.imported == f["imported"] and row.failed == f["failed"]
        assert row.state in (DONE, FAILED)
    assert snap.items_done == sum(r.imported + r.skipped + r.failed for r in snap.rows)
    assert snap.failures_total == report["totals"]["failed"] == len(snap.failures)


def test_aggregate_shows_throttling_for_the_back_off_only():
    """A Throttled event shows until its back-off has passed, then the state clears."""
    now = [0.0]
    agg = RunAggregate(clock=lambda: now[0])
    agg.apply(ev.Throttled(back_off_seconds=2.0, concurrency=2, reason="ErrorServerBusy"))
    assert "backing off 2.0s, 2 threads" in agg.snapshot().throttle
    now[0] = 2.5
    assert agg.snapshot().throttle is None


@pytest.mark.parametrize(
    ("store", "root", "folder", "expected"),
    [
        ("mailbox", "pst-name", "", "Mailbox / Matt Backup / Inbox"),
        ("archive", "store-root", "", "Archive / Inbox"),
        ("mailbox", "folder", "Imported/2016", "Mailbox / Imported / 2016 / Inbox"),
    ],
)
def test_destination_example(store, root, folder, expected):
    """The example names the folders the engine's plan uses (the PST's file name without extension)."""
    assert example_target(store, root, folder, "/srv/psts/Matt Backup.pst") == expected


@pytest.mark.parametrize("root,folder", [("pst-name", ""), ("folder", "Imported/2016"), ("store-root", "")])
def test_destination_example_matches_the_engine_plan(corpus_dir, root, folder):
    """Where the example says the Inbox lands is where the engine's plan puts it (real PST, dry-run plan)."""
    from core.engine import build_plan
    from tui import services
    from tui.state import WizardState

    pst = corpus_dir / "pstreader-hughbe_backup_with_rules.pst"
    choices, _ = services.scan_paths([str(pst)])
    state = WizardState(
        mailbox="m@example.com",
        client_id="6731de76-14a6-49ae-97bc-6eba6914391e",
        root=root,
        folder=folder,
        sources=choices,
    )
    plan = build_plan(state.to_profile(), dry_run=True)
    inbox = next(f for s, f in plan.folders if f.source_path == ("Inbox",))
    shown = example_target("mailbox", root, folder, str(pst)).split(" / ")[1:]
    assert list(inbox.target_path) == shown


def test_outlook_locations_and_registry_encoding(tmp_path):
    """Outlook's default data-file folders are searched; the registry's PST path value decodes as Outlook writes it."""
    from core.mapi.props import PR_PST_PATH_W
    from tui.services import decode_registry_path, outlook_pst_paths, registry_value_name

    docs = tmp_path / "me" / "Documents" / "Outlook Files"
    local = tmp_path / "local" / "Microsoft" / "Outlook"
    docs.mkdir(parents=True)
    local.mkdir(parents=True)
    (docs / "archive.pst").write_bytes(b"!BDN")
    (local / "me@example.com.ost").write_bytes(b"!BDN")
    (local / "readme.txt").write_bytes(b"")
    found = outlook_pst_paths(
        {"USERPROFILE": str(tmp_path / "me"), "LOCALAPPDATA": str(tmp_path / "local")}, registry=False
    )
    assert found == [str(docs / "archive.pst"), str(local / "me@example.com.ost")]
    assert registry_value_name(PR_PST_PATH_W) == "001f6700"
    raw = "C:\\Users\\me\\Documents\\Outlook Files\\archive.pst".encode("utf-16-le") + b"\x00\x00"
    assert decode_registry_path(raw) == "C:\\Users\\me\\Documents\\Outlook Files\\archive.pst"


@pytest.mark.parametrize(
    ("version", "said"),
    [
        ("Exchange2016 (15.2.1118.7)", "Exchange Server 2019 (build 15.2.1118.7)"),
        ("Exchange2016 (15.1.2507.6)", "Exchange Server 2016 (build 15.1.2507.6)"),
        ("Exchange2013_SP1 (15.0.1497.2)", "Exchange Server 2013 (build 15.0.1497.2)"),
        ("Exchange2016 (15.20.7000.0)", "Exchange Online (build 15.20.7000.0)"),
        ("Microsoft Graph v1.0", "Microsoft Graph v1.0"),
    ],
)
def test_server_name_comes_from_the_build_not_the_schema(version, said):
    """Test connection names the product by its build (15.2 is Exchange 2019), never "Exchange Exchange2016"."""
    from tui.services import server_name

    assert server_name(version) == said


def test_after_a_tui_run_the_terminal_keeps_a_summary_line_and_the_report_path():
    """What `pstimport`, `pstimport demo` and `pstimport run` print once the full-screen UI has gone."""
    from core.events import RunFinished
    from tui.commands import run_summary
    from tui.screens.run import RunOutcome

    class Result:
        report = {"totals": {"mismatched_folders": 1}}
        report_html = None

    done = RunFinished(40, 2, 1, False, report_json="/r/x.json", report_html="/r/x.html")
    lines = run_summary(RunOutcome(done, Result(), None, False))
    assert lines == [
        "pstimport: finished: imported 40, already there 2, failed 1; 1 folder(s) differ from the PST",
        "pstimport: report: /r/x.html",
    ]
    cancelled = run_summary(RunOutcome(RunFinished(5, 0, 0, True), None, None, True))
    assert cancelled[0].startswith("pstimport: cancelled: imported 5") and "again" in cancelled[-1]
    dry = run_summary(RunOutcome(RunFinished(7, 4, 0, False), None, None, False, dry_run=True))
    assert dry == ["pstimport: dry run: would import 7, already there 4; nothing was uploaded"]
    assert run_summary(None) == []
