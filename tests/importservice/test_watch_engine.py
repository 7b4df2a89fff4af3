"""The drop folder with the real engine against the sandbox EWS server: several PSTs dropped, one still
being written, one broken; a crash and restart mid-way; each good PST lands exactly once in its mailbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.importservice.mapping import load_profile
from core.importservice.watch import EngineImporter, MailboxRule, Watcher
from tests.need import missing

from .conftest import CORPUS
from .test_watch import BROKEN, GOOD, Crash, CrashOn

SERVICE = "svc-drop@sandbox.test"
SERVICE_PASSWORD = "Svc-drop-pw-1"
USERS = ["alice@sandbox.test", "bob@sandbox.test", "dave@sandbox.test"]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A sandbox with three mailboxes and a service account allowed to impersonate them."""
    assert EngineImporter.available(), "the import engine (core.engine) cannot be imported"
    if not all((CORPUS / n).exists() for n in [*GOOD, BROKEN]):
        missing("corpus", f"PST corpus missing at {CORPUS}")
    from core.sandbox.server.app import Sandbox

    monkeypatch.setenv("PSTIMPORT_STATE_DIR", str(tmp_path / "engine-state"))
    monkeypatch.setenv("PSTIMPORT_PASSWORD", SERVICE_PASSWORD)
    monkeypatch.setenv("PSTIMPORT_KEYRING", "none")
    users = {u: f"pw-{i}" for i, u in enumerate(USERS)} | {SERVICE: SERVICE_PASSWORD}
    sb = Sandbox(tmp_path / "sandbox", users=users, impersonators=[SERVICE]).start()
    try:
        yield sb
    finally:
        sb.stop()


def mailbox_items(sb, address: str) -> int:
    store = sb.store
    root = store.distinguished(address, "msgfolderroot")
    return sum(store.count_items(f.id)[0] for f in store.descendants(root.id)) if root else 0


def template(tmp_path: Path, ews_url: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(
        f"version: 1\nname: drop\nconnection:\n  target: on-premises\n  discovery: direct\n  ews_url: {ews_url}\n"
        f"  auth:\n    method: password\n    username: {SERVICE}\n    cache_password: false\n"
        "  impersonation: true\nmailbox: template@sandbox.test\ndestination: {store: mailbox, root: pst-name}\n"
        "sources:\n  - path: placeholder.pst\n"
    )  # fmt: skip
    return path


def test_drop_folder_engine_end_to_end(sandbox, tmp_path):
    """Good PSTs are imported once into the right mailbox, the broken one goes to failed/ with the reader's
    reason, the file being written waits, and a crash plus restart adds no item anywhere."""
    drop = tmp_path / "drop"
    for who, src, name in [(USERS[0], GOOD[0], "Alice.pst"), (USERS[1], GOOD[1], "Bob 2016.pst"),
                           (USERS[0], BROKEN, "broken.pst")]:  # fmt: skip
        (drop / who).mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / src, drop / who / name)
    (drop / USERS[2]).mkdir()
    growing = drop / USERS[2] / "Dave.pst"
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys; d=open(sys.argv[1],'rb').read(); f=open(sys.argv[2],'wb'); "
         "f.write(d[:len(d)//2]); f.flush(); print('half', flush=True); sys.stdin.readline(); "
         "f.write(d[len(d)//2:]); f.close()", str(CORPUS / GOOD[2]), str(growing)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert writer.stdout.readline().strip() == b"half"
    profile = load_profile(template(tmp_path, sandbox.ews_url))

    # First start: dies right after Bob's PST was imported, before the file was moved.
    w = Watcher(drop, MailboxRule(), CrashOn(EngineImporter(profile), "Bob 2016.pst"), settle=0,
                suffixes=(".pst", ".ost"))  # fmt: skip
    w.scan()
    with pytest.raises(Crash):
        w.scan()
    w.close()
    counts_after_crash = {u: mailbox_items(sandbox, u) for u in USERS}
    assert counts_after_crash[USERS[0]] > 0 and counts_after_crash[USERS[1]] > 0
    assert counts_after_crash[USERS[2]] == 0
    assert (drop / USERS[1] / "Bob 2016.pst").exists()

    # Restart.
    w = Watcher(drop, MailboxRule(), EngineImporter(profile), settle=0, suffixes=(".pst", ".ost"))
    results = w.scan() + w.scan()
    assert growing.exists() and not (drop / "done" / USERS[2]).exists()  # still being written
    assert {u: mailbox_items(sandbox, u) for u in USERS} == counts_after_crash  # the restart added nothing
    writer.communicate(b"go\n", timeout=30)
    results += w.scan() + w.scan()
    w.close()
    by_name = {Path(r.relative).name: r for r in results}

    bob = json.loads((drop / "done" / USERS[1] / "Bob 2016.pst.report.json").read_text())
    assert bob["status"] == "done" and bob["imported"] == 0 and bob["skipped_existing"] > 0
    assert by_name["Dave.pst"].status == "done"
    dave = json.loads((drop / "done" / USERS[2] / "Dave.pst.report.json").read_text())
    assert dave["imported"] > 0 and mailbox_items(sandbox, USERS[2]) == dave["imported"]
    broken = json.loads((drop / "failed" / USERS[0] / "broken.pst.report.json").read_text())
    assert broken["status"] == "failed" and "broken.pst" in broken["reason"]
    assert (drop / "done" / USERS[0] / "Alice.pst").exists()

    # Each mailbox holds exactly one copy of its PST: a third start imports nothing.
    final = {u: mailbox_items(sandbox, u) for u in USERS}
    w = Watcher(drop, MailboxRule(), EngineImporter(profile), settle=0, suffixes=(".pst", ".ost"))
    assert w.scan() + w.scan() == []
    w.close()
    assert {u: mailbox_items(sandbox, u) for u in USERS} == final
    alice = json.loads((drop / "done" / USERS[0] / "Alice.pst.report.json").read_text())
    assert final[USERS[0]] == alice["imported"]


def test_watch_cli_engine_once(sandbox, tmp_path, capsys):
    """`pstimport watch DIR --profile T --once` (engine mode) imports a dropped PST and reports it."""
    from core.cli import run

    drop = tmp_path / "drop"
    (drop / USERS[1]).mkdir(parents=True)
    shutil.copy(CORPUS / GOOD[0], drop / USERS[1] / "Old Mail.pst")
    code = run(["watch", str(drop), "--profile", str(template(tmp_path, sandbox.ews_url)), "--once",
                "--settle", "0"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{USERS[1]}/Old Mail.pst: done -> done/{USERS[1]}/Old Mail.pst" in out
    report = json.loads((drop / "done" / USERS[1] / "Old Mail.pst.report.json").read_text())
    assert report["imported"] == mailbox_items(sandbox, USERS[1]) > 0
    assert SERVICE_PASSWORD not in out + err + json.dumps(report)
