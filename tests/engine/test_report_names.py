"""Report file names from any profile name: a dot keeps its stamp, the naming loop is bounded."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.verify.report import MAX_SAME_SECOND, write_reports


def _report(name: str) -> dict:
    return {
        "profile": name,
        "mailbox": "a@b.c",
        "store": "mailbox",
        "started": "s",
        "finished": "f",
        "folders": [],
        "failures": [],
        "totals": {"mismatched_folders": 0, "failed": 0},
    }


@pytest.mark.parametrize("name", ["john.smith", "a.b.c", "..", ".hidden", "x" * 300, "名前", "/etc/passwd", ""])
def test_names_keep_their_stamp_and_stay_in_the_folder(tmp_path: Path, name: str):
    """Each write makes a new pair inside the folder, named <slug>-<stamp>-run(.json|.html)."""
    seen = set()
    for _ in range(3):
        j, h = write_reports(_report(name), tmp_path)
        assert j.parent == tmp_path and h.parent == tmp_path
        assert j.name.endswith(".json") and h.name == j.name[:-5] + ".html"
        assert "-run" in j.name and not j.name.startswith(".") and len(j.name) < 120
        assert j not in seen
        seen.add(j)
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_the_naming_loop_ends_when_every_name_is_taken(tmp_path: Path, monkeypatch):
    """Even with every counter name of this second taken, a name is found (a random part), never a hang."""
    import core.verify.report as report

    class Frozen:
        @staticmethod
        def now(tz=None):  # noqa: ANN001, ANN205
            from datetime import datetime

            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(report, "datetime", Frozen)
    stem = "john.smith-20260102-030405-run"
    (tmp_path / f"{stem}.json").write_text("{}")
    for n in range(2, MAX_SAME_SECOND + 1):
        (tmp_path / f"{stem}-{n}.json").write_text("{}")
    done = threading.Event()
    out: list = []
    worker = threading.Thread(target=lambda: (out.append(write_reports(_report("john.smith"), tmp_path)), done.set()))
    worker.start()
    assert done.wait(10), "write_reports did not return"
    assert out[0][0].name.startswith(stem + "-") and out[0][0].exists()
