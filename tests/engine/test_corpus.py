"""Every readable corpus PST, and realistic writer PSTs, import into the mailbox and the archive."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import ALICE, drafts, run_profile, source_drafts, stamped_items

from core.pst import open_pst
from core.pst.model import UnreadableItem
from tests.conftest import CORPUS


def _readable() -> list[str]:
    if not (CORPUS / "manifest.json").is_file():
        return []
    names = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".pst", ".ost", ".bin"))
    return [n for n in names if not n.startswith(("BROKEN_", "NOTPST_"))]


def _expected(pst: Path) -> tuple[set[str], int]:
    """The stamps of every readable item, and how many items cannot be read at all."""
    stamps, unreadable = set(), 0
    with open_pst(pst) as f:
        key = f.info.record_key.hex()
        for folder in f.folders():
            for it in f.items(folder):
                if isinstance(it, UnreadableItem):
                    unreadable += 1
                else:
                    stamps.add(f"{key}:{it.node_id}")
    return stamps, unreadable


def _archive_needs_ews(sandbox, store: str) -> None:
    if store == "archive" and sandbox.test_transport == "graph":
        pytest.skip("Graph cannot reach the archive mailbox (tests/transport_graph checks the preflight says so)")


@pytest.mark.parametrize("store", ["mailbox", "archive"])
@pytest.mark.parametrize("name", _readable())
def test_corpus_file_imports_and_verifies(name, store, corpus_dir, tmp_path, sandbox, profile_for):
    """Each readable corpus file: every readable item lands once with its stamp, no item is a draft unless it
    was one in the PST, and the report is green."""
    _archive_needs_ews(sandbox, store)
    pst = tmp_path / name
    shutil.copy(corpus_dir / name, pst)
    expected, unreadable = _expected(pst)
    result = run_profile(profile_for([pst], store=store))
    found = stamped_items(sandbox)
    assert set(found) == expected
    assert all(len(v) == 1 for v in found.values())
    assert drafts(sandbox) <= source_drafts(pst)  # nothing becomes a draft by accident
    assert result.failed == unreadable, [f.reason for f in result.failures]
    assert result.report["totals"]["mismatched_folders"] == 0
    root = sandbox.folder(ALICE, pst.stem, archive=store == "archive")
    assert root is not None
    if expected:
        assert sandbox.folder(ALICE, pst.stem, archive=store != "archive") is None


@pytest.mark.parametrize("store", ["mailbox", "archive"])
def test_realistic_writer_pst(store, tmp_path, sandbox, profile_for):
    """A realistic writer PST (calendar, contacts, tasks, notes, large attachments...) matches its ground truth,
    and no item is a draft unless it was one in the PST."""
    from core.sandbox.pstwriter.content import generate

    _archive_needs_ews(sandbox, store)
    pst = tmp_path / "realistic.pst"
    generate(str(pst), seed=4, mode="realistic")
    truth = json.loads(Path(str(pst) + ".truth.json").read_text())
    truth["items"] = [t for t in truth["items"] if not t.get("associated")]  # hidden FAI items stay behind
    result = run_profile(profile_for([pst], store=store))
    assert result.failed == 0, [f.reason for f in result.failures]
    assert result.exit_code == 0
    found = stamped_items(sandbox)
    assert len(found) == len(truth["items"]) and all(len(v) == 1 for v in found.values())
    assert drafts(sandbox) <= source_drafts(pst)
    # Spot check: each item's subject and folder as the truth says.
    by_subject = {}
    for items in found.values():
        it = items[0]
        by_subject[it.subject] = sandbox.store.folder_path(sandbox.store.folder(it.folder_id))
    for t in truth["items"]:
        if t.get("subject") in by_subject:
            assert by_subject[t["subject"]][-len(t["folder"]) :] == t["folder"], t["subject"]
