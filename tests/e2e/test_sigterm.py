"""SIGTERM (as from `kill` or systemd) stops a run cleanly with exit 130; the next run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import make_profile, stamped_items

REPO = Path(__file__).resolve().parent.parent.parent


def test_sigterm_finishes_in_flight_exits_130_and_resumes(tmp_path, sandbox):
    """After SIGTERM the run records what was in flight and exits 130; re-running completes, no duplicates."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=5, mode="scale", items=200, mix="small")
    make_profile(tmp_path, sandbox, [pst], threads=2, batch=5)
    sandbox.set_knobs(latency_ms=30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run", str(tmp_path / "t.yaml"), "--headless", "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )
    imported = 0
    last = None
    assert proc.stdout is not None
    for line in proc.stdout:
        last = json.loads(line)
        if last["event"] == "ItemImported":
            imported += 1
            if imported == 20:
                proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    assert last is not None and last["event"] == "RunFinished" and last["interrupted"] is True
    assert "stopping" in err
    assert 20 <= imported < 200
    # Everything the stopped run reported as imported is in the mailbox, once.
    found = stamped_items(sandbox)
    assert len(found) == imported and all(len(v) == 1 for v in found.values())
    sandbox.set_knobs(latency_ms=0)
    again = subprocess.run(
        [sys.executable, "-m", "core.cli", "run", str(tmp_path / "t.yaml"), "--headless"],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=dict(os.environ),
    )
    assert again.returncode == 0, again.stderr
    assert f"imported {200 - imported}, already there {imported}, failed 0" in again.stdout
    found = stamped_items(sandbox)
    assert len(found) == 200 and all(len(v) == 1 for v in found.values())
