"""Kill -9 at seeded points during `pstimport run`, resume each time: every item exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_profile, stamped_items

REPO = Path(__file__).resolve().parent.parent.parent


def _run_until(profile_path: Path, imported_target: int | None, timeout: float = 600) -> tuple[int, int | None]:
    """Run the import; SIGKILL it once it has imported `imported_target` items (None: run to the end).

    Returns (items imported by this process as far as its output shows, exit code or None when killed).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run", str(profile_path), "--headless", "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )
    imported = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "ItemImported":
                imported += 1
                if imported_target is not None and imported >= imported_target:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return imported, None
        proc.wait(timeout=timeout)
        return imported, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def _kill_and_resume(tmp_path: Path, sandbox, items: int, kills: int, seed: int) -> None:
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=seed, mode="scale", items=items, mix="small")
    make_profile(tmp_path, sandbox, [pst], threads=4, batch=10)
    profile_path = tmp_path / "t.yaml"
    rng = random.Random(seed)
    # Some latency keeps the importer from racing far ahead of the events this test has read
    # (the pipe holds hundreds of them), so each kill lands close to its point.
    sandbox.set_knobs(latency_ms=20)
    # Kill points spread over the import: after this many items of each run, never more than a
    # third of what is left, so every run is killed before it could finish.
    per_run = max(items // (kills + 1), 2)
    journals = tmp_path / "state" / "journals"
    for i in range(kills):
        remaining = items - len(stamped_items(sandbox))
        assert remaining > 3, f"only {remaining} items left before kill {i + 1}: the kill points ran late"
        _, code = _run_until(profile_path, rng.randint(1, max(1, min(per_run, remaining // 3))))
        assert code is None, "the run finished before its kill point"
        if i % 2 == 1:  # every other resume starts without a journal: only the stamps protect it
            for f in journals.glob("*"):
                f.unlink()
        found = stamped_items(sandbox)
        assert all(len(v) == 1 for v in found.values()), f"duplicate after kill {i + 1}"
    _, code = _run_until(profile_path, None)
    assert code == 0
    found = stamped_items(sandbox)
    truth = json.loads(Path(str(pst) + ".truth.json").read_text())
    assert len(truth["items"]) == items
    assert len(found) == items, f"{items - len(found)} missing"
    assert all(len(v) == 1 for v in found.values()), "a duplicate was created"


def test_kill9_resume_small(tmp_path, sandbox):
    """5 seeded kill -9 points over a 300-item import (journal deleted before every other resume)."""
    _kill_and_resume(tmp_path, sandbox, items=300, kills=5, seed=11)


@pytest.mark.slow
def test_kill9_resume_5000_items_20_points(tmp_path, sandbox):
    """20 seeded kill -9 points over a 5,000-item import, each resumed, half without the journal."""
    _kill_and_resume(tmp_path, sandbox, items=5000, kills=20, seed=2026)
