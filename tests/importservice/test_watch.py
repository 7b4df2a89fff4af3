"""The drop folder: mailbox rules, file stability, SQLite state, done/failed moves, restarts.

The end-to-end test uses the Import Service upload as the import step, against Azurite: the
engine (the other import step) does not exist yet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.errors import PstError, UserError
from core.importservice.sas import parse_sas
from core.importservice.watch import (
    ImportOutcome,
    MailboxRule,
    UploadImporter,
    Watcher,
    is_locked,
    open_for_writing,
)
from tests.need import missing

from .conftest import CORPUS

GOOD = ["pst2john_2003_no-encryption_quickquick.pst", "enron-edrm_sample_32-bit.pst",
        "pstreader-hughbe_hughbe_Outlook.pst"]  # fmt: skip
BROKEN = "BROKEN_aspose-net_AddingBulkMessagesWithImprovedPerformance_bad-header-crc.pst"


def _need_corpus() -> None:
    if not all((CORPUS / n).exists() for n in [*GOOD, BROKEN]):
        missing("corpus", f"PST corpus missing at {CORPUS}")


class Recorder:
    """An import step that records requests (for tests of the watcher's own logic)."""

    name = "recorder"

    def __init__(self, fail: set[str] | None = None) -> None:
        self.requests = []
        self.fail = fail or set()

    def import_pst(self, request, cancel):
        self.requests.append(request)
        if request.relative.name in self.fail:
            return ImportOutcome(False, "the server said no")
        return ImportOutcome(True, None, {"imported": 1})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def no_check(path: Path) -> None:
    if path.read_bytes()[:4] != b"!BDN":
        raise PstError(str(path), "not a PST file")


# ----------------------------------------------------------------------------- rules


def test_subfolder_rule():
    """The first sub-folder names the mailbox; a file at the top, or a non-address folder, is refused."""
    rule = MailboxRule()
    assert rule.mailbox_for(Path("alice@contoso.com/old/backup.pst")) == "alice@contoso.com"
    with pytest.raises(UserError, match="sub-folder named after the mailbox"):
        rule.mailbox_for(Path("backup.pst"))
    with pytest.raises(UserError, match="is not a mailbox address"):
        rule.mailbox_for(Path("alice/backup.pst"))


def test_pattern_rules():
    """A (?P<mailbox>) group, or groups filled into a template, give the mailbox; a non-match is refused."""
    direct = MailboxRule("pattern", r"(?P<mailbox>[^_]+@[^_]+)_.*\.pst")
    assert direct.mailbox_for(Path("bob@contoso.com_2016.PST")) == "bob@contoso.com"
    templ = MailboxRule("pattern", r"(?P<user>[a-z.]+)-(?P<year>\d{4})\.pst", "{user}@contoso.com")
    assert templ.mailbox_for(Path("sub/carol.smith-2019.pst")) == "carol.smith@contoso.com"
    with pytest.raises(UserError, match="does not match the pattern"):
        templ.mailbox_for(Path("random.pst"))
    with pytest.raises(UserError, match="needs a \\(\\?P<mailbox>"):
        MailboxRule("pattern", r".*\.pst")
    with pytest.raises(UserError, match="--pattern"):
        MailboxRule("pattern", r"(unclosed")


# ----------------------------------------------------------------------------- stability


def test_file_must_hold_still_for_settle_time(tmp_path):
    """A file is ready only after two scans with unchanged size/mtime and `settle` seconds passed."""
    (tmp_path / "a@contoso.com").mkdir()
    f = tmp_path / "a@contoso.com" / "x.pst"
    f.write_bytes(b"!BDN" + b"1" * 100)
    clock = Clock()
    w = Watcher(tmp_path, MailboxRule(), Recorder(), settle=30, check_pst=no_check, clock=clock)
    assert w.ready() == []  # first sight
    clock.now += 10
    assert w.ready() == []  # unchanged, but not settled
    with f.open("ab") as fh:
        fh.write(b"more")  # still growing: the clock starts again
    clock.now += 25
    assert w.ready() == []
    clock.now += 25
    assert w.ready() == []  # settled 25 s only since the growth was seen
    clock.now += 10
    assert w.ready() == [f]
    w.close()


def test_open_for_writing_and_locked_files_are_not_ready(tmp_path):
    """A file another process holds open for writing, or holds a lock on, is never ready."""
    f = tmp_path / "w.pst"
    f.write_bytes(b"!BDN")
    holder = subprocess.Popen([sys.executable, "-c", f"f=open({str(f)!r},'ab'); import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not open_for_writing({f}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_for_writing({f}) == {f}
    finally:
        holder.communicate(b"", timeout=10)
    assert open_for_writing({f}) == set()

    g = tmp_path / "l.pst"
    g.write_bytes(b"!BDN")
    locker = subprocess.Popen([sys.executable, "-c", "import fcntl,sys; f=open(sys.argv[1],'rb+'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()", str(g)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert locker.stdout.readline().strip() == b"locked"
        assert is_locked(g)
    finally:
        locker.communicate(b"", timeout=10)
    assert not is_locked(g)


def test_temp_and_sorted_folders_are_ignored(tmp_path):
    """done/, failed/, the state folder and partial-copy names (~$x, .part, .tmp) are never picked up."""
    for rel in ["done/a@contoso.com/x.pst", "failed/x.pst", ".pstimport/y.pst", "a@contoso.com/~$x.pst",
                "a@contoso.com/x.pst.part", "a@contoso.com/notes.txt", "a@contoso.com/real.pst"]:  # fmt: skip
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"!BDN")
    w = Watcher(tmp_path, MailboxRule(), Recorder(), settle=0, check_pst=no_check)
    w.ready()
    assert w.ready() == [tmp_path / "a@contoso.com" / "real.pst"]
    w.close()


def test_reports_state_and_duplicates(tmp_path):
    """Good files go to done/ with a report, a refused import to failed/ with its reason, and the same
    content dropped again later is recognised from the SQLite state and not imported twice."""
    box = tmp_path / "a@contoso.com"
    box.mkdir()
    (box / "one.pst").write_bytes(b"!BDN one")
    (box / "two.pst").write_bytes(b"!BDN two")
    rec = Recorder(fail={"two.pst"})
    w = Watcher(tmp_path, MailboxRule(), rec, settle=0, check_pst=no_check)
    w.scan()
    results = {r.relative: r for r in w.scan()}
    assert results["a@contoso.com/one.pst"].status == "done"
    assert results["a@contoso.com/two.pst"].status == "failed"
    report = json.loads((tmp_path / "failed" / "a@contoso.com" / "two.pst.report.json").read_text())
    assert report["reason"] == "the server said no" and report["mailbox"] == "a@contoso.com"
    assert (tmp_path / "done" / "a@contoso.com" / "one.pst").exists()
    w.close()
    # Restart; the same content comes back under another name.
    (box / "copy of one.pst").write_bytes(b"!BDN one")
    w = Watcher(tmp_path, MailboxRule(), rec, settle=0, check_pst=no_check)
    w.scan()
    (dup,) = w.scan()
    assert dup.status == "duplicate" and "already imported" in dup.reason
    assert [r.relative.name for r in rec.requests] == ["one.pst", "two.pst"]
    w.close()


# ----------------------------------------------------------------------------- end to end


class Crash(BaseException):
    """Stands for the process dying (power cut, kill -9) in the middle of an import."""


class CrashOn:
    """Wraps the real importer; the process 'dies' right after it imported the named file."""

    def __init__(self, inner, name: str) -> None:
        self.inner, self.name_to_crash, self.name = inner, name, inner.name

    def import_pst(self, request, cancel):
        outcome = self.inner.import_pst(request, cancel)
        if request.relative.name == self.name_to_crash:
            raise Crash()
        return outcome


def test_drop_folder_end_to_end_with_upload(azurite, container, tmp_path):
    """Several PSTs dropped (one still being written, one broken, one without a mailbox): each good PST is
    uploaded exactly once under its mailbox, the broken one lands in failed/ with a reason, a crash and
    restart mid-way changes nothing, and the mapping CSV lists each good PST once with the right mailbox."""
    _need_corpus()
    drop = tmp_path / "drop"
    for who, src, name in [("alice@contoso.com", GOOD[0], "Alice.pst"), ("bob@contoso.com", GOOD[1], "Bob 2016.pst"),
                           ("carol@contoso.com", BROKEN, "broken.pst")]:  # fmt: skip
        (drop / who).mkdir(parents=True)
        shutil.copy(CORPUS / src, drop / who / name)
    shutil.copy(CORPUS / GOOD[0], drop / "nobody.pst")
    # Dave's PST is still being copied: a writer holds it open and has written half of it.
    (drop / "dave@contoso.com").mkdir()
    growing = drop / "dave@contoso.com" / "Dave.pst"
    data = (CORPUS / GOOD[2]).read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys; d=open(sys.argv[1],'rb').read(); f=open(sys.argv[2],'wb'); "
         "f.write(d[:len(d)//2]); f.flush(); print('half', flush=True); sys.stdin.readline(); "
         "f.write(d[len(d)//2:]); f.close()", str(CORPUS / GOOD[2]), str(growing)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert writer.stdout.readline().strip() == b"half"

    sas = parse_sas(azurite.container_sas(container, "racwl"))
    mapping = tmp_path / "mapping.csv"
    client = azurite.service.get_container_client(container)

    def blobs() -> list[str]:
        return sorted(b.name for b in client.list_blobs())

    # First run: the process dies right after Bob's upload, before his file is moved.
    w = Watcher(drop, MailboxRule(), CrashOn(UploadImporter(sas, mapping), "Bob 2016.pst"), settle=0)
    w.scan()
    with pytest.raises(Crash):
        w.scan()
    w.close()
    assert (drop / "bob@contoso.com" / "Bob 2016.pst").exists()  # not moved: the crash came first
    after_crash = blobs()
    assert "dropfolder/bob@contoso.com/Bob 2016.pst" in after_crash

    # Restart: fresh objects, same folder and state.
    w = Watcher(drop, MailboxRule(), UploadImporter(sas, mapping), settle=0)
    results = w.scan() + w.scan()
    by_name = {Path(r.relative).name: r for r in results}
    assert growing.exists() and not (drop / "done" / "dave@contoso.com").exists()
    assert "Dave.pst" not in by_name  # still open for writing: left alone
    writer.communicate(b"go\n", timeout=30)
    results += w.scan() + w.scan()
    by_name = {Path(r.relative).name: r for r in results}
    w.close()

    assert (drop / "done" / "alice@contoso.com" / "Alice.pst").exists()
    assert (drop / "done" / "bob@contoso.com" / "Bob 2016.pst").exists()
    assert (drop / "done" / "dave@contoso.com" / "Dave.pst").exists()
    assert by_name["Dave.pst"].status == "done"
    assert (drop / "done" / "dave@contoso.com" / "Dave.pst").read_bytes() == data
    broken = json.loads((drop / "failed" / "carol@contoso.com" / "broken.pst.report.json").read_text())
    assert broken["status"] == "failed" and broken["reason"] and "broken.pst" in broken["reason"]
    nobody = json.loads((drop / "failed" / "nobody.pst.report.json").read_text())
    assert "sub-folder named after the mailbox" in nobody["reason"]

    assert blobs() == ["dropfolder/alice@contoso.com/Alice.pst", "dropfolder/bob@contoso.com/Bob 2016.pst",
                       "dropfolder/dave@contoso.com/Dave.pst"]  # fmt: skip
    bob_report = json.loads((drop / "done" / "bob@contoso.com" / "Bob 2016.pst.report.json").read_text())
    assert bob_report["skipped_existing"] is True  # the restart found the committed blob, sent nothing
    assert blobs() == sorted(set(after_crash) | {"dropfolder/dave@contoso.com/Dave.pst"})

    import csv

    rows = list(csv.DictReader(mapping.open(encoding="utf-8", newline="")))
    assert sorted((r["Mailbox"], r["FilePath"], r["Name"]) for r in rows) == [
        ("alice@contoso.com", "dropfolder/alice@contoso.com", "Alice.pst"),
        ("bob@contoso.com", "dropfolder/bob@contoso.com", "Bob 2016.pst"),
        ("dave@contoso.com", "dropfolder/dave@contoso.com", "Dave.pst"),
    ]

    # A third start finds nothing to do and changes nothing.
    w = Watcher(drop, MailboxRule(), UploadImporter(sas, mapping), settle=0)
    assert w.scan() + w.scan() == []
    assert len(w.state.rows("done")) == 3 and len(w.state.rows("failed")) == 2
    w.close()
    assert len(blobs()) == 3


def test_watch_cli_once_upload_mode(azurite, container, tmp_path, monkeypatch, capsys):
    """`pstimport watch DIR --mode upload --once` uploads a dropped PST and prints its outcome, no signature."""
    _need_corpus()
    from core.cli import run

    drop = tmp_path / "drop"
    (drop / "erin@contoso.com").mkdir(parents=True)
    shutil.copy(CORPUS / GOOD[0], drop / "erin@contoso.com" / "Erin.pst")
    profile = tmp_path / "t.yaml"
    profile.write_text(
        "version: 1\nname: t\nconnection:\n  target: exchange-online\n  auth:\n    method: oauth-device\n"
        "    username: svc@contoso.com\n    client_id: 11111111-2222-3333-4444-555555555555\n"
        "mailbox: x@contoso.com\ndestination: {store: archive, root: store-root}\n"
        "sources:\n  - path: x.pst\n"
    )
    url = azurite.container_sas(container, "racwl")
    monkeypatch.setenv("PSTIMPORT_SAS_URL", url)
    code = run(["watch", str(drop), "--profile", str(profile), "--mode", "upload", "--once", "--settle", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "erin@contoso.com/Erin.pst: done -> done/erin@contoso.com/Erin.pst" in out
    assert parse_sas(url).signature not in out + err
    rows = (drop / ".pstimport" / "mapping.csv").read_text().splitlines()
    assert rows[1] == "Exchange,dropfolder/erin@contoso.com,Erin.pst,erin@contoso.com,TRUE,/,,,,"


def test_stop_during_import_keeps_the_file_for_next_start(tmp_path):
    """An import interrupted by a stop (SIGTERM) neither fails nor moves the file; the next start imports it."""
    from core.errors import Interrupted

    box = tmp_path / "a@contoso.com"
    box.mkdir()
    (box / "x.pst").write_bytes(b"!BDN x")

    class Stopping(Recorder):
        def import_pst(self, request, cancel):
            cancel.set()
            raise Interrupted("stopping")

    cancel = threading.Event()
    w = Watcher(tmp_path, MailboxRule(), Stopping(), settle=0, check_pst=no_check)
    w.scan(cancel)
    assert w.scan(cancel) == []
    assert (box / "x.pst").exists() and not (tmp_path / "failed").exists()
    assert [r["status"] for r in w.state.rows()] == ["importing"]
    w.close()
    rec = Recorder()
    w = Watcher(tmp_path, MailboxRule(), rec, settle=0, check_pst=no_check)
    w.scan()
    assert [r.status for r in w.scan()] == ["done"] and len(rec.requests) == 1
    w.close()
