"""`pstimport run --dry-run` is a preflight: it signs in, counts by source stamp, changes nothing."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from helpers import make_profile, stamped_items

from core.profile.io import save_profile

PST = "pstreader-hughbe_backup_with_rules.pst"  # 11 items in 6 folders, nested


@pytest.fixture
def pst(corpus_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "Backup.pst"
    shutil.copy(corpus_dir / PST, dst)
    return dst


def folder_counts(stdout: str) -> dict[tuple[str, ...], tuple[int, int, int]]:
    """FolderFinished events of a --json run: source path -> (imported or would import, already there, failed)."""
    out = {}
    for line in stdout.splitlines():
        e = json.loads(line)
        if e["event"] == "FolderFinished":
            out[tuple(e["source_path"])] = (e["imported"], e["skipped"], e["failed"])
    return out


def finished(stdout: str) -> dict:
    return next(e for e in map(json.loads, stdout.splitlines()) if e["event"] == "RunFinished")


def test_dry_run_after_a_partial_import_gives_true_counts(tmp_path, sandbox, pst, cli):
    """After importing all but one folder, the dry run says that folder's items would be imported and
    every other imported item is already there, folder by folder; it creates nothing on the server."""
    partial = make_profile(tmp_path, sandbox, [pst], name="partial", save=False)
    partial.sources[0].exclude = ["Archive/**"]
    save_profile(partial, tmp_path / "partial.yaml", check=False)
    first = cli("run", str(tmp_path / "partial.yaml"), "--json")
    assert first.returncode in (0, 1), first.stderr
    imported = folder_counts(first.stdout)
    assert ("Archive",) not in imported and sum(i for i, _, _ in imported.values()) > 0
    # the folder left out is in the report with its count, so the PST's 11 items add up
    report = json.loads(Path(finished(first.stdout)["report_json"]).read_text(encoding="utf-8"))
    assert [(x["source_path"], x["pst_items"]) for x in report["excluded"]] == [(["Archive"], 4)]
    assert report["totals"]["pst_items"] + report["totals"]["excluded_items"] == 11
    stamps_before = set(stamped_items(sandbox))
    tree_before = set(sandbox.folder_tree(partial.mailbox))

    make_profile(tmp_path, sandbox, [pst], name="full")
    dry = cli("run", str(tmp_path / "full.yaml"), "--json", "--dry-run")
    assert dry.returncode in (0, 1), dry.stderr  # 1 only for items the PST cannot give
    counts = folder_counts(dry.stdout)
    assert counts[("Archive",)] == (4, 0, 0)  # never imported: all four would be
    for path, (done, _skip, failed) in imported.items():
        would, there, bad = counts[path]
        assert there == done, (path, counts[path], imported[path])  # what the first run imported is there
        assert would == failed and bad == 0, (path, counts[path])  # what it could not import would be tried again
    end = finished(dry.stdout)
    assert end["imported"] == 4 + sum(f for _, _, f in imported.values())
    assert end["skipped"] == sum(i for i, _, _ in imported.values())
    assert set(stamped_items(sandbox)) == stamps_before  # nothing uploaded
    assert set(sandbox.folder_tree(partial.mailbox)) == tree_before  # no folder created (Archive's stays absent)

    human = cli("run", str(tmp_path / "full.yaml"), "--headless", "--dry-run")
    assert f"would import {end['imported']}, already there {end['skipped']}" in human.stdout, human.stdout


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.ews_only("password sign-in and a direct EWS URL (Graph's forms are in test_cli_run)")
@pytest.mark.parametrize("case", ["bad-password", "unreachable"])
def test_dry_run_fails_as_a_run_would(case, tmp_path, sandbox, pst, cli):
    """A dry run with a wrong password or an unreachable server is one line on stderr and exit 2."""
    env: dict[str, str] = {}
    prof = make_profile(tmp_path, sandbox, [pst], save=False)
    if case == "bad-password":
        env["PSTIMPORT_PASSWORD"] = "wrong"
        expect = "refused the sign-in"
    else:
        prof.connection.ews_url = f"http://127.0.0.1:{_free_port()}/EWS/Exchange.asmx"
        expect = "cannot reach the server"
    save_profile(prof, tmp_path / "t.yaml", check=False)
    p = cli("run", str(tmp_path / "t.yaml"), "--headless", "--dry-run", env=env, timeout=120)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and expect in lines[0], p.stderr
    assert "would import" not in p.stdout


def test_offline_check_reads_and_converts_without_a_server(tmp_path, sandbox, pst, cli):
    """--offline-check needs no server or password: it reads and converts every item and uploads nothing."""
    prof = make_profile(tmp_path, sandbox, [pst], save=False)
    prof.connection.ews_url = f"http://127.0.0.1:{_free_port()}/EWS/Exchange.asmx"
    prof.connection.discovery = "direct"
    if prof.connection.transport == "graph":
        pytest.skip("the same path as over EWS: no transport is made")
    save_profile(prof, tmp_path / "t.yaml", check=False)
    p = cli("run", str(tmp_path / "t.yaml"), "--headless", "--offline-check", env={"PSTIMPORT_PASSWORD": ""})
    assert p.returncode in (0, 1), p.stderr
    assert "would import" in p.stdout
    assert stamped_items(sandbox) == {}
