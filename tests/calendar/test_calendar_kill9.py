"""Kill -9 in the middle of a series (created, its exceptions not all applied), then resume: one
series, every exception applied exactly once, the others untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import ALICE, make_profile, stamped_items

from core.sandbox.server.calendar import CHANGES_KEY, SERIES_KEY

REPO = Path(__file__).resolve().parent.parent.parent
MEETING = "Team meeting"


def _meeting(sandbox):  # noqa: ANN001, ANN202
    """The meeting series' master in the store, or None before it exists."""
    cal = sandbox.store.distinguished(ALICE, "calendar")
    found = [it for it in sandbox.store.items(cal.id) if it.subject == MEETING and SERIES_KEY in it.props]
    assert len(found) <= 1, "the series was created twice"
    return found[0] if found else None


def _changes(sandbox) -> tuple[int, int]:  # noqa: ANN001
    m = _meeting(sandbox)
    changes = (m.props.get(CHANGES_KEY) or {}) if m is not None else {}
    return len(changes.get("modified") or {}), len(changes.get("deleted") or [])


def _run_until(profile: Path, stop) -> int | None:  # noqa: ANN001
    """Run the import; SIGKILL it once `stop()` is true (None: to the end). Its exit code, or None if killed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run", str(profile), "--headless", "--json"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if stop is not None and stop():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return None
            time.sleep(0.01)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _applied(sandbox, operation: str) -> int:  # noqa: ANN001
    """Requests of an operation the server carried out (EWS op name, or Graph 'METHOD handler')."""
    return sum(1 for e in sandbox.exchanges if e.operation == operation and e.outcome == "ok")


def test_kill9_mid_series_then_resume_applies_each_exception_once(sandbox, tmp_path, calendar_pst):
    """Killed once right after the series exists and once after its first exception, resumed (the
    second time without the journal): one series, both moved occurrences and the deletion applied,
    each by exactly one request."""
    pst, truth = calendar_pst
    make_profile(tmp_path, sandbox, [pst], root="store-root", threads=1, batch=20)
    profile = tmp_path / "t.yaml"
    sandbox.set_knobs(latency_ms=150)  # every step a few hundred ms: the kills land between steps
    assert _run_until(profile, lambda: _meeting(sandbox) is not None) is None
    assert _changes(sandbox) == (0, 0), "the kill came after the first exception"
    assert _run_until(profile, lambda: _changes(sandbox)[0] >= 1) is None
    assert _changes(sandbox) == (1, 0)
    for f in (tmp_path / "state" / "journals").glob("*"):
        f.unlink()  # the last resume has only the server to go by
    sandbox.set_knobs(latency_ms=0)
    assert _run_until(profile, None) == 0
    assert _changes(sandbox) == (2, 1)
    found = stamped_items(sandbox)
    assert all(len(v) == 1 for v in found.values()), "an item was created twice"
    series = [t for t in truth["items"] if (t.get("extra") or {}).get("recurrence")]
    modified = sum(len(t["extra"]["recurrence"]["modified"]) for t in series)
    deleted = sum(len(t["extra"]["recurrence"]["deleted"]) for t in series)
    if sandbox.test_transport == "ews":
        assert (_applied(sandbox, "UpdateItem"), _applied(sandbox, "DeleteItem")) == (modified, deleted)
    else:
        assert (_applied(sandbox, "PATCH update_event"), _applied(sandbox, "DELETE delete_event")) == (
            modified,
            deleted,
        )
