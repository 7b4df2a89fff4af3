"""Damaged PSTs and awkward folder names through a real headless run: nothing lost in silence.

Issue #21 findings 1, 2, 3, 4, 8 and 9, and #19 item 8: items the PST declares but that cannot be
read are counted and named (exit 1, the report never says ok); a re-run imports nothing twice;
unnamed, duplicate and control-character folder names get stable names the report shows; a profile
called john.smith runs, re-runs and verifies; scan says what a damaged or truncated file is.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from helpers import make_profile

from core.mapi import PidTagMessageClass, PidTagSubject
from core.pst.ndb import NdbFile
from core.sandbox.pstwriter import Message, PstWriter
from tests.fuzz.mutants import set_header_field

OUTLOOK97 = "pst2john_97_outlook_pass12345.pst"
DFRWS = "dfrws2009_DFRWS2009-Outlook-Email.pst"
EVIL = "Evil\x1b]0;PWNED\x07\x1b[31mRed"
# What the reader and engine do with damage does not depend on the transport; folder naming does.
READER_ONLY = pytest.mark.ews_only("reading damaged PSTs is the same whatever the transport")


def _json_events(stdout: str) -> list[dict]:
    return [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]


def _report(events: list[dict]) -> dict:
    return json.loads(Path(events[-1]["report_json"]).read_text(encoding="utf-8"))


def _inbox_messages(path: Path) -> tuple[int, list[int]]:
    """(the Inbox's NID, its messages' NIDs) from the node B-tree."""
    from core.pst import open_pst

    with open_pst(path) as pst:
        inbox = next(f for f in pst.folders() if f.role == "inbox")
    with NdbFile(path) as ndb:
        return inbox.node_id, [e.nid for e in ndb.iter_nbt() if e.nid_parent == inbox.node_id and e.nid & 0x1F == 4]


def _zero_messages(path: Path, nids: list[int]) -> None:
    """Zero the property-context block of each message (what a bad sector does to them)."""
    with NdbFile(path) as ndb:
        spans = []
        for nid in nids:
            entry = ndb.nbt_lookup(nid)
            block = ndb.bbt_lookup(entry.bid_data)
            spans.append((block.ib, block.cb))
    data = bytearray(path.read_bytes())
    for ib, cb in spans:
        data[ib : ib + cb] = bytes(cb)
    path.write_bytes(bytes(data))


@READER_ONLY
def test_unreadable_items_exit_1_name_the_folder_and_rerun_imports_nothing_twice(tmp_path, sandbox, cli):
    """Three Inbox items whose blocks are zeroed: exit 1, the Inbox named with 3 unreadable, its row not
    ok; the other 22 arrive; a re-run imports nothing twice and still says what is missing."""
    pst = _named_pst(tmp_path / "damaged.pst", ["Inbox", "Other"], per_folder=(20, 5))
    _inbox, nids = _folder_messages(pst, "Inbox")
    _zero_messages(pst, nids[10:13])
    make_profile(tmp_path, sandbox, [pst])
    p = cli("run", str(tmp_path / "t.yaml"), "--json", timeout=300)
    assert p.returncode == 1, p.stderr[-2000:]
    events = _json_events(p.stdout)
    failed = [e for e in events if e["event"] == "ItemFailed"]
    assert sum(e["count"] for e in failed) == 3 and all(e["source_path"] == ["Inbox"] for e in failed)
    assert all("unreadable" in e["reason"] and "Inbox item" in e["reason"] for e in failed)
    report = _report(events)
    inbox = next(r for r in report["folders"] if r["source_path"] == ["Inbox"])
    assert inbox["pst_items"] == 20 and inbox["unreadable"] == 3 and inbox["stamped_items"] == 17
    assert inbox["status"] != "ok"
    assert report["totals"]["failed"] == 3 and report["totals"]["imported"] == 22
    again = cli("run", str(tmp_path / "t.yaml"), "--headless", timeout=300)
    assert again.returncode == 1
    assert "imported 0, already there 22, failed 3" in again.stdout
    assert again.stdout.count("unreadable") >= 3


@READER_ONLY
def test_items_missing_from_the_index_are_counted_from_the_content_count(tmp_path, sandbox, corpus_dir, cli):
    """A node B-tree page zeroed: the Inbox's own content count (170) says how many cannot be found;
    they are reported as one unreadable part with that number, and the lost index page as damage."""
    pst = tmp_path / "lostindex97.pst"
    shutil.copy(corpus_dir / OUTLOOK97, pst)
    pst.chmod(0o644)
    inbox, nids = _inbox_messages(pst)
    with NdbFile(pst) as ndb:
        # the leaf page of the node B-tree that lists the Inbox's 50th message
        root = ndb._bt_page(ndb.header.nbt_root, 0x81)
        leaf = next(ref for key, ref in list(zip(root.keys, root.rows, strict=True))[::-1] if key <= nids[50])
        on_leaf = [n for n in nids if n in set(ndb._bt_page(leaf, 0x81).keys)]
    data = bytearray(pst.read_bytes())
    data[leaf.ib : leaf.ib + 512] = bytes(512)
    pst.write_bytes(bytes(data))
    make_profile(tmp_path, sandbox, [pst])
    p = cli("run", str(tmp_path / "t.yaml"), "--json", timeout=300)
    assert p.returncode == 1, p.stderr[-2000:]
    report = _report(_json_events(p.stdout))
    row = next(r for r in report["folders"] if r["source_path"] == ["Inbox"])
    assert row["pst_items"] == 170 and row["stamped_items"] == 170 - len(on_leaf)
    assert row["unreadable"] >= len(on_leaf) and row["status"] != "ok"
    reasons = " ".join(f["reason"] for f in report["failures"])
    assert f"content count says 170 item(s), but {len(on_leaf)} cannot be found" in reasons
    assert "their number is unknown" in reasons  # the index page itself, whatever else it listed


def _named_pst(path: Path, names: list[str], per_folder: int | tuple[int, ...] = 5) -> Path:
    """A PST from our writer with top-level folders `names` holding `per_folder` messages each."""
    counts = per_folder if isinstance(per_folder, tuple) else (per_folder,) * len(names)
    with PstWriter(str(path)) as w:
        for name, count in zip(names, counts, strict=True):
            folder = w.add_folder(w.ipm_subtree, name, "IPF.Note")
            for i in range(count):
                w.add_message(folder, Message({PidTagMessageClass: "IPM.Note", PidTagSubject: f"{name!r} {i}"}))
    return path


def _folder_messages(path: Path, name: str) -> tuple[int, list[int]]:
    """(the NID of top-level folder `name`, its messages' NIDs) from the node B-tree."""
    from core.pst import open_pst

    with open_pst(path) as pst:
        folder = next(f for f in pst.folders() if f.path == (name,))
    with NdbFile(path) as ndb:
        return folder.node_id, [e.nid for e in ndb.iter_nbt() if e.nid_parent == folder.node_id and e.nid & 0x1F == 4]


def test_unnamed_folder_imports_under_a_stable_name(tmp_path, sandbox, cli):
    """Folders "Good before", "" and "Good after": all 15 items arrive (exit 0), the unnamed folder as
    "(no name)", which the report shows; a re-run finds them all there."""
    pst = _named_pst(tmp_path / "empty-name.pst", ["Good before", "", "Good after"])
    make_profile(tmp_path, sandbox, [pst])
    p = cli("run", str(tmp_path / "t.yaml"), "--json", timeout=300)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:])
    report = _report(_json_events(p.stdout))
    assert report["totals"]["imported"] == 15
    row = next(r for r in report["folders"] if r["source_path"] == [""])
    assert row["target_path"] == ["empty-name", "(no name)"] and row["stamped_items"] == 5
    assert row["renamed"] == ["'' -> '(no name)': empty name"]
    assert "Renamed folders" in Path(_json_events(p.stdout)[-1]["report_html"]).read_text(encoding="utf-8")
    assert sandbox.folder_tree("alice@sandbox.test")[("empty-name", "(no name)")] == 5
    again = cli("run", str(tmp_path / "t.yaml"), "--headless", timeout=300)
    assert again.returncode == 0 and "imported 0, already there 15, failed 0" in again.stdout


def test_duplicate_and_control_character_names(tmp_path, sandbox, cli):
    """Siblings "Inbox", "INBOX" and a name with terminal escapes: three mailbox folders with stable
    names; no raw escape reaches the terminal from scan or the headless run."""
    pst = _named_pst(tmp_path / "names.pst", ["Inbox", "INBOX", EVIL], per_folder=2)
    make_profile(tmp_path, sandbox, [pst])
    scan = cli("scan", str(pst))
    assert scan.returncode == 0 and "\x1b" not in scan.stdout and "\x07" not in scan.stdout
    assert "Evil\\x1b]0;PWNED\\x07\\x1b[31mRed" in scan.stdout
    p = cli("run", str(tmp_path / "t.yaml"), "--headless", timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "\x1b" not in p.stdout + p.stderr and "\x07" not in p.stdout + p.stderr
    tree = sandbox.folder_tree("alice@sandbox.test")
    assert tree[("names", "Inbox")] == 2 and tree[("names", "INBOX (2)")] == 2
    assert tree[("names", "Evil\\x1b]0;PWNED\\x07\\x1b[31mRed")] == 2


@READER_ONLY
def test_profile_named_with_a_dot_runs_reruns_and_verifies(tmp_path, sandbox, corpus_dir, cli):
    """name: john.smith: run, re-run and verify each end (no hang) and keep their own report files."""
    pst = tmp_path / "tika.pst"
    shutil.copy(corpus_dir / "tika_testPST.pst", pst)
    make_profile(tmp_path, sandbox, [pst], name="john.smith")
    for args in (("run", "--headless"), ("run", "--headless"), ("verify",)):
        p = cli(args[0], str(tmp_path / "john.smith.yaml"), *args[1:], timeout=120)
        assert p.returncode == 0, (args, p.stdout[-1500:], p.stderr[-1500:])
    reports = sorted(x.name for x in (tmp_path / "reports").glob("*.json"))
    assert len(reports) == 3 and all(name.startswith("john.smith-") for name in reports), reports


@READER_ONLY
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            lambda d: set_header_field(d, "ibFileEof", 0),
            "damaged header: it says the file is 0 bytes, but it is 779,264",
        ),
        (lambda d: set_header_field(d, "BREFNBT.bid", struct.unpack_from("<Q", d, 216)[0] + 8), "root page"),
    ],
    ids=["file-end-zeroed", "nbt-root-renamed"],
)
def test_damaged_header_is_read_past_and_said(make, says, tmp_path, sandbox, corpus_dir, cli):
    """Issue #21 findings 2 and 9: a header field changed with its CRC fixed; scan --json gives the 13
    items with a warning (exit 1, no traceback), and the run imports all 13."""
    pst = tmp_path / "hdr.pst"
    pst.write_bytes(make((corpus_dir / DFRWS).read_bytes()))
    scan = cli("scan", "--json", str(pst))
    assert scan.returncode == 1 and "Traceback" not in scan.stderr, scan.stderr
    census = json.loads(scan.stdout)["files"][0]
    assert census["total_items"] == 13 and any(says in w for w in census["warnings"]), census["warnings"]
    make_profile(tmp_path, sandbox, [pst])
    p = cli("run", str(tmp_path / "t.yaml"), "--json", timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert _report(_json_events(p.stdout))["totals"]["imported"] == 13


def test_truncated_and_not_a_pst_say_so(tmp_path, corpus_dir, cli):
    """#19 item 8: a truncated PST says "truncated" with both sizes, not "unable to open file"."""
    data = (corpus_dir / DFRWS).read_bytes()
    cut = tmp_path / "cut.pst"
    cut.write_bytes(data[:600])
    p = cli("scan", str(cut))
    assert p.returncode == 2
    assert "truncated: the header says the file is 779,264 bytes, but it is 600" in p.stderr, p.stderr
    assert "unable to open" not in p.stderr
