"""`pstimport scan` against the real corpus: counts, paths, roles, errors, readpst cross-check."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from core.pst import open_pst
from core.pst.scan import scan

READABLE_PREFIXES = ("BROKEN_", "NOTPST_")
OST_TOP = "/Root - Mailbox/IPM_SUBTREE"
# readpst exports these classes (census.py's list); it skips tasks, notes, posts, dist lists.
READPST_EXPORTED_PREFIXES = (
    "ipm.note",
    "ipm.contact",
    "report.ipm.note",
    "ipm.activity",
    "ipm.appointment",
    "ipm.schedule.meeting",
)


def readable_files(manifest: dict) -> list[str]:
    return sorted(name for name, e in manifest.items() if e["pypff"].get("open_ok"))


def broken_files(manifest: dict) -> list[str]:
    return sorted(name for name in manifest if name.startswith(READABLE_PREFIXES))


def manifest_ipm_folders(entry: dict) -> dict[tuple[str, ...], int]:
    """The manifest's pypff folders under the IPM subtree: relative path -> item count."""
    folders = entry["pypff"]["folders"]
    nid = entry["pypff"].get("ipm_subtree_nid")
    top = next((f for f in folders if nid is not None and f["nid"] == nid), None)
    if top is None:
        top = next(f for f in folders if f["path"] == OST_TOP)
    prefix = top["path"].rstrip("/")
    out = {}
    for f in folders:
        if f["path"] == top["path"] or f["path"].startswith(prefix + "/"):
            rel = f["path"][len(prefix) :].strip("/")
            out[tuple(rel.split("/")) if rel else ()] = f["items"]
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, timeout=300)


def test_counts_and_paths_match_manifest(corpus_dir: Path, manifest: dict) -> None:
    """For every readable corpus file, scan --json gives the manifest's pypff count for every IPM folder."""
    files = readable_files(manifest)
    assert len(files) >= 25
    proc = run_cli("scan", "--json", *[str(corpus_dir / f) for f in files])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["errors"] == []
    by_path = {Path(e["path"]).name: e for e in result["files"]}
    for name in files:
        expected = manifest_ipm_folders(manifest[name])
        got = {tuple(f["path"]): f["items"] for f in by_path[name]["folders"]}
        assert got == expected, name
        assert by_path[name]["total_items"] == sum(expected.values())


def test_store_facts_match_manifest(corpus_dir: Path, manifest: dict) -> None:
    """Kind, format, encryption, password flag and display name agree with the manifest."""
    result = scan([str(corpus_dir / f) for f in readable_files(manifest)])
    for entry in result["files"]:
        m = manifest[Path(entry["path"]).name]
        assert entry["kind"] == m["pypff"]["content_type"]
        assert entry["format"] == m["header"]["format"].lower()
        assert entry["encryption"] == m["pypff"]["encryption"]
        assert entry["password_protected"] == bool(m["pypff"]["password_protected"])
        assert entry["display_name"] == m["pypff"]["store_display_name"]


def test_broken_files_are_errors_with_one_line(corpus_dir: Path, manifest: dict) -> None:
    """BROKEN_/NOTPST_ files go to errors with a one-line reason, exit 2, no traceback; others still listed."""
    broken = broken_files(manifest)
    assert len(broken) == 4
    good = corpus_dir / "tika_testPST.pst"
    proc = run_cli("scan", "--json", *[str(corpus_dir / f) for f in broken], str(good))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert [Path(e["path"]).name for e in result["files"]] == [good.name]
    assert sorted(Path(e["path"]).name for e in result["errors"]) == broken
    for err in result["errors"]:
        assert err["error"] and "\n" not in err["error"] and len(err["error"]) < 200


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "BROKEN_aspose-net_AddingBulkMessagesWithImprovedPerformance_bad-header-crc.pst",
            "checksum mismatch",
        ),
        ("BROKEN_pstreader-jmcleodfoss_truncated-in-header.bin", "truncated"),
        ("NOTPST_albert_meyers_000_http-301-page.pst", "HTML page"),
        ("NOTPST_aspose-net_Outlook1_is-mbox.pst", "mbox"),
    ],
)
def test_broken_file_reasons_are_specific(corpus_dir: Path, name: str, reason: str) -> None:
    """Each broken file's reason says what is wrong with it, on stderr, in one line."""
    proc = run_cli("scan", str(corpus_dir / name))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and reason in lines[0]


def test_directory_is_searched_by_signature(corpus_dir: Path, tmp_path: Path) -> None:
    """A directory argument finds PSTs by signature, whatever their extension; a *.pst that is not a PST
    is named as such (issue #19 item 8), other files are passed over."""
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "renamed.dat").write_bytes((corpus_dir / "tika_testPST.pst").read_bytes())
    (tmp_path / "mail.pst").write_bytes((corpus_dir / "NOTPST_aspose-net_Outlook1_is-mbox.pst").read_bytes())
    (tmp_path / "Page.PST").write_bytes((corpus_dir / "NOTPST_albert_meyers_000_http-301-page.pst").read_bytes())
    (tmp_path / "notes.txt").write_text("not mail")
    result = scan([str(tmp_path)])
    assert [Path(e["path"]).name for e in result["files"]] == ["renamed.dat"]
    errors = {Path(e["path"]).name: e["error"] for e in result["errors"]}
    assert errors == {
        "Page.PST": "not a PST/OST file (it is an HTML page, perhaps a download that failed)",
        "mail.pst": "not a PST/OST file (it is an mbox mailbox)",
    }


def roles_of(path: Path) -> dict[str, str]:
    with open_pst(path) as pst:
        return {"/".join(f.path): f.role for f in pst.folders() if f.role}


def test_roles_french(corpus_dir: Path) -> None:
    """The French PST's wastebasket is found from the store's entry id, not its name."""
    assert roles_of(corpus_dir / "tika_testPST.pst") == {"Éléments supprimés": "deleted"}


def test_roles_japanese(corpus_dir: Path) -> None:
    """Japanese ANSI (cp932) and Unicode PSTs: the deleted items folder is named in Japanese."""
    assert roles_of(corpus_dir / "hiraoka_nonUnicodeCP932.pst") == {"削除済みアイテム": "deleted"}
    assert roles_of(corpus_dir / "ruby-msg_msgInMsg.pst") == {"削除済みアイテム": "deleted"}


def test_roles_ost(corpus_dir: Path) -> None:
    """The OST's well-known folders get their roles from Exchange long-term ids."""
    roles = roles_of(corpus_dir / "aspose-net_SampleOstFile.ost")
    assert roles == {
        "Deleted Items": "deleted",
        "Inbox": "inbox",
        "Outbox": "outbox",
        "Sent Items": "sent",
        "Calendar": "calendar",
        "Contacts": "contacts",
        "Drafts": "drafts",
        "Journal": "journal",
        "Junk E-Mail": "junk",
        "Notes": "notes",
        "Tasks": "tasks",
    }


def test_roles_full_outlook_pst(corpus_dir: Path) -> None:
    """A classic Outlook PST has all eleven roles, junk from PidTagAdditionalRenEntryIds."""
    roles = roles_of(corpus_dir / "pstreader-hughbe_hughbe_Outlook.pst")
    assert sorted(roles.values()) == sorted(
        [
            "deleted",
            "inbox",
            "outbox",
            "sent",
            "calendar",
            "contacts",
            "journal",
            "notes",
            "tasks",
            "drafts",
            "junk",
        ]
    )
    assert roles["Junk E-mail"] == "junk"


def test_codepage_detected_and_overridable(corpus_dir: Path) -> None:
    """cp932 is detected from the items of an ANSI file; --codepage overrides it."""
    path = corpus_dir / "hiraoka_nonUnicodeCP932.pst"
    with open_pst(path) as pst:
        assert pst.info.codepage == "cp932"
    with open_pst(path, codepage="cp1252") as pst:
        assert pst.info.codepage == "cp1252"
        names = ["/".join(f.path) for f in pst.folders()]
    assert "削除済みアイテム" not in names
    proc = run_cli("scan", "--codepage", "no-such-cp", str(path))
    assert proc.returncode == 2 and "unknown code page" in proc.stderr


def readpst_expected(path: Path) -> dict[tuple[str, ...], int]:
    """Per folder, the items readpst is able to export (its classes), associated items included."""
    out: dict[tuple[str, ...], int] = {}
    with open_pst(path) as pst:
        for folder in pst.folders():
            n = 0
            for assoc in (False, True):
                for item in pst.items(folder, associated=assoc):
                    cls = (item.message_class if hasattr(item, "props") else "").lower()
                    if cls == "ipm" or cls.startswith(READPST_EXPORTED_PREFIXES):
                        n += 1
            out[folder.path] = n
    return out


def test_counts_agree_with_live_readpst(corpus_dir: Path, manifest: dict, readpst: str, tmp_path: Path) -> None:
    """Where the manifest shows readpst agreeing, readpst run now exports what our reader predicts, per folder."""
    checked = 0
    for name in readable_files(manifest):
        if not manifest[name].get("comparison", {}).get("agree"):
            continue
        out = tmp_path / name
        out.mkdir()
        subprocess.run(
            [readpst, "-D", "-e", "-j", "0", "-o", str(out), str(corpus_dir / name)],
            capture_output=True,
            check=True,
            timeout=300,
        )
        tops = [p for p in out.iterdir() if p.is_dir()]
        expected = readpst_expected(corpus_dir / name)
        exported = Counter()
        for f in out.rglob("*"):
            if f.is_file():
                exported[f.parent.relative_to(tops[0]).parts if tops else ()] += 1
        assert sum(exported.values()) == sum(expected.values()), name
        if manifest[name]["header"]["format"] != "Unicode":
            checked += 1  # readpst writes ANSI folder names Latin-1-decoded: totals only
            continue
        siblings = Counter(p[:-1] + (p[-1].lower(),) for p in expected if p)
        for path, count in expected.items():
            if path and siblings[path[:-1] + (path[-1].lower(),)] == 1 and "/" not in "".join(path) and count:
                assert exported[path] == count, (name, path)
        checked += 1
    assert checked >= 20
