"""`pstimport run` and `pstimport verify` as a technician runs them: subprocess, exit codes, output."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from helpers import ALICE, BOB, make_profile, stamped_items

from core.profile.io import save_profile

TIKA = "tika_testPST.pst"


@pytest.fixture
def pst(corpus_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / TIKA
    shutil.copy(corpus_dir / TIKA, dst)
    return dst


def test_run_headless_json_then_rerun_then_verify(tmp_path, sandbox, pst, cli):
    """--json prints one event per line ending in RunFinished; a re-run says nothing new; verify exits 0."""
    make_profile(tmp_path, sandbox, [pst])
    p = cli("run", str(tmp_path / "t.yaml"), "--headless", "--json")
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert events[-1]["event"] == "RunFinished" and events[-1]["imported"] == 7
    assert {"RunStarted", "FolderPlanned", "FolderStarted", "ItemImported", "Progress", "FolderFinished"} <= {
        e["event"] for e in events
    }
    assert Path(events[-1]["report_json"]).is_file() and Path(events[-1]["report_html"]).is_file()
    again = cli("run", str(tmp_path / "t.yaml"), "--headless")
    assert again.returncode == 0, again.stderr
    assert "nothing new to import" in again.stdout
    assert "imported 0, already there 7, failed 0" in again.stdout
    v = cli("verify", str(tmp_path / "t.yaml"), "--json")
    assert v.returncode == 0, v.stderr
    report = json.loads(v.stdout)
    assert report["totals"]["mismatched_folders"] == 0
    assert sum(f["stamped_items"] for f in report["folders"]) == 7
    assert len(stamped_items(sandbox)) == 7


def test_dry_run_cli(tmp_path, sandbox, pst, cli):
    """--dry-run reports what would be imported and creates nothing."""
    make_profile(tmp_path, sandbox, [pst])
    p = cli("run", str(tmp_path / "t.yaml"), "--headless", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "would import 7" in p.stdout
    assert stamped_items(sandbox) == {}


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _graph_case(case: str, tmp_path, sandbox, pst, env: dict[str, str]) -> None:
    """The Graph form of a preflight failure (Graph signs in with OAuth and has no impersonation)."""
    if case == "impersonation-denied":
        pytest.skip("impersonation is EWS's; over Graph an app's access policy plays its part")
    prof = make_profile(
        tmp_path,
        sandbox,
        [pst],
        mailbox="nobody@sandbox.test" if case == "unknown-mailbox" else (BOB if case == "missing-archive" else ALICE),
        store="archive" if case == "missing-archive" else "mailbox",
        save=False,
    )
    if case == "bad-password":
        env["PSTIMPORT_CLIENT_SECRET"] = "wrong"
    elif case == "unreachable":
        env["PSTIMPORT_GRAPH_URL"] = f"https://127.0.0.1:{_free_port()}/v1.0"
    elif case == "tls":
        prof.connection.ca_bundle = None  # the sandbox's own CA is not trusted
    save_profile(prof, tmp_path / "t.yaml", check=False)


@pytest.mark.parametrize(
    "case",
    ["bad-password", "unknown-mailbox", "missing-archive", "impersonation-denied", "unreachable", "tls"],
)
def test_preflight_errors_one_line_exit_2_nothing_uploaded(case, tmp_path, sandbox, pst, cli):
    """Each connection problem gives one clear line on stderr and exit 2, before anything is uploaded."""
    env: dict[str, str] = {}
    expect = ""
    if sandbox.test_transport == "graph":
        _graph_case(case, tmp_path, sandbox, pst, env)
        expect = {
            "bad-password": "OAuth sign-in failed",
            "unknown-mailbox": "nobody@sandbox.test",
            "missing-archive": "cannot reach the archive",
            "unreachable": "cannot reach the server",
            "tls": "TLS certificate",
        }[case]
    elif case == "bad-password":
        make_profile(tmp_path, sandbox, [pst])
        env["PSTIMPORT_PASSWORD"] = "wrong"
        expect = "refused the sign-in"
    elif case == "unknown-mailbox":
        make_profile(tmp_path, sandbox, [pst], mailbox="nobody@sandbox.test", username=ALICE)
        expect = "nobody@sandbox.test"
    elif case == "missing-archive":
        make_profile(tmp_path, sandbox, [pst], mailbox=BOB, store="archive")
        expect = "has no archive"
    elif case == "impersonation-denied":
        make_profile(tmp_path, sandbox, [pst], mailbox=ALICE, username=BOB, impersonation=True)
        expect = "impersonat"
    elif case == "unreachable":
        prof = make_profile(tmp_path, sandbox, [pst], save=False)
        prof.connection.ews_url = f"http://127.0.0.1:{_free_port()}/EWS/Exchange.asmx"
        save_profile(prof, tmp_path / "t.yaml", check=False)
        expect = "cannot reach the server"
    elif case == "tls":
        from core.sandbox.server.app import Sandbox

        tls = Sandbox(tmp_path / "tls-sb", users={ALICE: "Sandbox-Pa55"}, tls=True).start()
        try:
            prof = make_profile(tmp_path, tls, [pst], save=False)
            save_profile(prof, tmp_path / "t.yaml", check=False)
            p = cli("run", str(tmp_path / "t.yaml"), "--headless", env=env, timeout=120)
        finally:
            tls.stop()
        assert p.returncode == 2, (p.stdout, p.stderr)
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "TLS certificate" in lines[0] and "ca_bundle" in lines[0]
        return
    p = cli("run", str(tmp_path / "t.yaml"), "--headless", env=env, timeout=120)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    assert expect in lines[0], lines[0]
    assert "Traceback" not in p.stderr
    assert stamped_items(sandbox) == {}
