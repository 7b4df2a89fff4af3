"""End-to-end imports into the sandbox, over EWS (unpatched exchangelib) and over Graph (the `transport` fixture)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from helpers import ALICE, run_profile, stamped_items

from core.events import FolderFinished, ItemImported, ItemSkipped, RunFinished, RunStarted, Throttled
from core.pst import open_pst

TIKA = "tika_testPST.pst"
NESTED = "process-pst_four_nesting_levels.pst"


def _pst(corpus_dir: Path, name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copy(corpus_dir / name, dst)
    return dst


def _expected(pst_path: Path) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """stamp -> (PST folder path, subject) for every readable item."""
    out = {}
    with open_pst(pst_path) as pst:
        key = pst.info.record_key.hex()
        for folder in pst.folders():
            for it in pst.items(folder):
                out[f"{key}:{it.node_id}"] = (folder.path, getattr(it, "subject", None))
    return out


def test_corpus_pst_imports_once_with_stamps_and_green_report(corpus_dir, tmp_path, sandbox, profile_for):
    """A corpus PST lands item by item in the right folders, each with its stamp, and verifies green."""
    pst = _pst(corpus_dir, TIKA, tmp_path)
    events: list = []
    result = run_profile(profile_for([pst]), events=events)
    expected = _expected(pst)
    assert result.exit_code == 0, result.failures
    assert result.imported == len(expected) == 7
    found = stamped_items(sandbox)
    assert set(found) == set(expected)
    for stamp, (path, subject) in expected.items():
        (item,) = found[stamp]
        folder = sandbox.store.folder(item.folder_id)
        assert sandbox.store.folder_path(folder)[-len(path) - 1 :] == ["tika_testPST", *path]
        assert item.subject == subject
    report = json.loads(Path(result.report_json).read_text())
    assert report["totals"]["mismatched_folders"] == 0
    assert all(f["status"] == "ok" for f in report["folders"])
    assert {"profile", "mailbox", "store", "started", "finished", "folders", "failures", "totals"} <= set(report)
    html = Path(result.report_html).read_text()
    assert "All folders verified" in html and "<style>" in html
    kinds = [type(e) for e in events]
    assert kinds.index(RunStarted) < kinds.index(ItemImported) < kinds.index(RunFinished)
    assert sum(isinstance(e, ItemImported) for e in events) == 7
    assert any(isinstance(e, FolderFinished) and e.imported == 7 for e in events)


def test_rerun_imports_nothing_new(corpus_dir, tmp_path, sandbox, profile_for):
    """Running a finished profile again creates nothing and reports every item as already there."""
    pst = _pst(corpus_dir, NESTED, tmp_path)
    profile = profile_for([pst])
    first = run_profile(profile)
    before = stamped_items(sandbox)
    events: list = []
    second = run_profile(profile, events=events)
    assert first.imported > 0
    assert second.imported == 0 and second.skipped == first.imported
    assert stamped_items(sandbox).keys() == before.keys()
    assert all(len(v) == 1 for v in stamped_items(sandbox).values())
    assert sum(isinstance(e, ItemSkipped) and e.reason == "already imported" for e in events) == first.imported
    assert second.exit_code == 0


def test_deleted_journal_still_creates_no_duplicates(corpus_dir, tmp_path, sandbox, profile_for):
    """With the journal gone, the stamps already in the mailbox stop every re-send."""
    pst = _pst(corpus_dir, NESTED, tmp_path)
    profile = profile_for([pst])
    first = run_profile(profile)
    for f in (tmp_path / "state" / "journals").iterdir():
        f.unlink()
    second = run_profile(profile)
    assert second.imported == 0 and second.skipped == first.imported
    assert all(len(v) == 1 for v in stamped_items(sandbox).values())
    assert second.report["totals"]["duplicates"] == 0


def test_store_root_maps_non_english_folders_by_role(corpus_dir, tmp_path, sandbox, profile_for):
    """With root store-root, the French 'Éléments supprimés' goes into the mailbox's own Deleted Items."""
    pst = _pst(corpus_dir, TIKA, tmp_path)
    with open_pst(pst) as f:
        roles = {folder.path: folder.role for folder in f.folders()}
    assert roles.get(("Éléments supprimés",)) == "deleted"
    result = run_profile(profile_for([pst], root="store-root"))
    assert result.exit_code == 0
    targets = {tuple(r["source_path"]): r["target_path"] for r in result.report["folders"]}
    assert targets[("Éléments supprimés",)] == ["Deleted Items"]
    assert sandbox.folder(ALICE, "Éléments supprimés") is None  # no new folder beside it


def test_folder_root_and_second_pst_with_same_name(corpus_dir, tmp_path, sandbox, profile_for):
    """Root folder puts the tree under the given path; two PSTs of one name get distinct pst-name folders."""
    a = _pst(corpus_dir, NESTED, tmp_path)
    (tmp_path / "copy").mkdir()
    b = tmp_path / "copy" / NESTED
    shutil.copy(corpus_dir / TIKA, b)  # a different PST under the same file name
    result = run_profile(profile_for([a, b]))
    assert result.exit_code == 0, result.failures
    stem = Path(NESTED).stem
    assert sandbox.folder(ALICE, stem) is not None and sandbox.folder(ALICE, f"{stem} (2)") is not None
    again = run_profile(profile_for([a, b]))
    assert again.imported == 0  # re-runs reuse their folders
    r2 = run_profile(profile_for([a], name="f", root="folder", folder="Imported/2016"))
    assert r2.exit_code == 0
    assert sandbox.folder(ALICE, "Imported/2016") is not None
    assert all(r["target_path"][:2] == ["Imported", "2016"] for r in r2.report["folders"])


@pytest.mark.ews_only("Graph cannot reach the archive mailbox; tests/transport_graph checks the preflight says so")
def test_archive_destination(corpus_dir, tmp_path, sandbox, profile_for):
    """store: archive puts the items in the archive, not the primary mailbox."""
    pst = _pst(corpus_dir, TIKA, tmp_path)
    result = run_profile(profile_for([pst], store="archive"))
    assert result.exit_code == 0
    assert sandbox.folder(ALICE, "tika_testPST", archive=True) is not None
    assert sandbox.folder(ALICE, "tika_testPST") is None
    assert len(sandbox.items(ALICE, "tika_testPST", archive=True)) == 7


@pytest.mark.ews_only("Autodiscover finds EWS endpoints; Graph has one endpoint")
def test_autodiscover(corpus_dir, tmp_path, sandbox, profile_for, monkeypatch):
    """discovery: autodiscover finds the EWS URL through SOAP Autodiscover (GetUserSettings)."""
    monkeypatch.setenv("PSTIMPORT_AUTODISCOVER_URL", sandbox.autodiscover_url)
    pst = _pst(corpus_dir, TIKA, tmp_path)
    profile = profile_for([pst], direct=False)
    assert profile.connection.discovery == "autodiscover" and profile.connection.ews_url is None
    result = run_profile(profile)
    assert result.exit_code == 0 and result.imported == 7


@pytest.mark.ews_only("impersonation is EWS's; Graph app-only tokens reach every mailbox the app may")
def test_impersonation(corpus_dir, tmp_path, sandbox, profile_for):
    """A service account with the impersonation right imports into alice's mailbox."""
    pst = _pst(corpus_dir, TIKA, tmp_path)
    result = run_profile(profile_for([pst], username="svc@sandbox.test", impersonation=True))
    assert result.exit_code == 0
    assert len(sandbox.items(ALICE, "tika_testPST")) == 7


def test_dry_run_uploads_nothing(corpus_dir, tmp_path, sandbox, profile_for):
    """A dry run converts every item and reports them, with nothing created on the server."""
    pst = _pst(corpus_dir, TIKA, tmp_path)
    result = run_profile(profile_for([pst]), dry_run=True)
    assert result.would_import == 7 and result.bytes > 0
    assert stamped_items(sandbox) == {}
    assert sandbox.folder(ALICE, "tika_testPST") is None


def test_faults_mid_run_still_exactly_once(tmp_path, sandbox, profile_for, transport):
    """20% busy, 5% drops, 2% HTTP 503 and a concurrency limit under max_threads: every item once.

    Fewer items over Graph: its Retry-After is in whole seconds, so each of the faults (about a
    quarter of its ~3 requests per item) pauses every worker for at least a second, as it should;
    300 items took 170-270 s of waiting for the same proof, 40 take 15-40 s."""
    from core.sandbox.pstwriter.content import generate

    items = 40 if transport == "graph" else 300
    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=7, mode="scale", items=items, mix="small")
    profile = profile_for([pst], threads=4, batch=5)
    events: list = []

    class Sink(list):
        def append(self, e):  # faults start once the upload has begun
            if isinstance(e, ItemImported) and not any(isinstance(x, ItemImported) for x in self):
                sandbox.set_knobs(
                    busy_rate=0.2, drop_rate=0.05, error_rate=0.02, max_concurrency=2, back_off_ms=20, seed=3
                )
            super().append(e)

    events = Sink()
    result = run_profile(profile, events=events)
    sandbox.set_knobs(busy_rate=0, drop_rate=0, error_rate=0, max_concurrency=0)
    found = stamped_items(sandbox)
    truth = json.loads(Path(str(pst) + ".truth.json").read_text())
    assert len(found) == len(truth["items"]) == items
    assert all(len(v) == 1 for v in found.values()), "a duplicate was created"
    assert result.failed == 0 and result.exit_code == 0
    assert result.report["totals"]["throttled"] > 0
    assert any(isinstance(e, Throttled) for e in events)


def test_cancel_records_in_flight_and_resumes(tmp_path, sandbox, profile_for):
    """Setting cancel stops the run (interrupted, exit 130); the next run completes with no duplicates."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=8, mode="scale", items=200, mix="small")
    profile = profile_for([pst], threads=2, batch=5)
    sandbox.set_knobs(latency_ms=20)
    cancel = threading.Event()
    seen = []

    def on_event(e):
        seen.append(e)
        if isinstance(e, ItemImported) and sum(isinstance(x, ItemImported) for x in seen) == 30:
            cancel.set()

    from core.engine import build_plan, run
    from core.engine.connect import transport_factory

    first = run(build_plan(profile, transport_factory=transport_factory(profile, interactive=False)), on_event, cancel)
    assert first.interrupted and first.exit_code == 130
    assert 30 <= first.imported < 200
    sandbox.set_knobs(latency_ms=0)
    second = run_profile(profile)
    found = stamped_items(sandbox)
    assert len(found) == 200 and all(len(v) == 1 for v in found.values())
    assert second.imported + first.imported == 200


def test_progress_events_are_paced(corpus_dir, tmp_path, sandbox, profile_for):
    """Progress goes out a few times a second, not in a loop once the reader has finished."""
    import time

    from core.events import Progress

    pst = _pst(corpus_dir, TIKA, tmp_path)
    events: list = []
    start = time.monotonic()
    result = run_profile(profile_for([pst]), events=events)
    elapsed = time.monotonic() - start
    assert result.exit_code == 0
    progress = sum(isinstance(e, Progress) for e in events)
    # 4 per second while running, plus a few at folder and run boundaries (the spin emitted thousands)
    assert 1 <= progress <= 4 * elapsed + 10


def test_items_over_the_server_limits_are_skipped_and_reported(tmp_path, sandbox, profile_for):
    """Items over the item size limit, and requests over the request limit, fail alone and are reported."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "realistic.pst"
    generate(str(pst), seed=4, mode="realistic")
    truth = [t for t in json.loads(Path(str(pst) + ".truth.json").read_text())["items"] if not t.get("associated")]
    sandbox.set_knobs(max_item_bytes=4 * 1024 * 1024, max_request_bytes=12 * 1024 * 1024)
    result = run_profile(profile_for([pst], batch=10))
    reasons = [f.reason for f in result.failures]
    assert result.failed == 2, reasons  # the 9 MB and the 21 MB attachment
    assert all("too large for the server" in r for r in reasons)
    assert {f.subject for f in result.failures} == {"Large attachment 9 MB", "Large attachment 21 MB"}
    if sandbox.test_transport == "graph":
        # Graph creates the message, then uploads the attachment: the message stays, without it.
        assert all("imported without it" in r for r in reasons)
        assert len(stamped_items(sandbox)) == len(truth)
    else:
        assert len(stamped_items(sandbox)) == len(truth) - 2
    assert result.exit_code == 1
    assert len(result.report["failures"]) == 2
