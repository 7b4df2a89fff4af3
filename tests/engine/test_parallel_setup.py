"""Folder setup and verification run within max_threads, paced like the uploads (sandbox, real HTTP).

What the sandbox saw is the proof: how many requests were in flight at once while the folders were
set up (before RunStarted) and while `pstimport verify` counted, and busy answers during setup.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_profile, stamped_items

from core.events import RunStarted, Throttled


def _folders_pst(tmp_path: Path, folders: int, per_folder: int = 2) -> tuple[Path, int]:
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "folders.pst"
    generate(str(pst), seed=3, mode="scale", items=folders * per_folder, folder_items=per_folder, mix="small")
    return pst, len(json.loads(Path(str(pst) + ".truth.json").read_text())["items"])


def test_folder_setup_runs_several_requests_at_once(tmp_path, sandbox, profile_for):
    """30 folders are set up with up to max_threads requests in flight (never more), and the import is whole."""
    pst, items = _folders_pst(tmp_path, 30)
    sandbox.set_knobs(latency_ms=30)
    sandbox.peak_concurrency(reset=True)
    at_start: list[int] = []

    def on_event(e: object) -> None:
        if isinstance(e, RunStarted):
            at_start.append(sandbox.peak_concurrency(reset=True))

    class Sink(list):
        def append(self, e):
            on_event(e)
            super().append(e)

    result = run_profile(profile_for([pst], threads=4, batch=10), events=Sink())
    assert result.exit_code == 0, result.failures
    assert 2 <= at_start[0] <= 4, f"folder setup had {at_start[0]} request(s) in flight at most"
    found = stamped_items(sandbox)
    assert len(found) == items and all(len(v) == 1 for v in found.values())


def test_busy_answers_during_setup_slow_it_down(tmp_path, sandbox, profile_for):
    """A server that allows 1 request at a time (busy beyond) during folder setup: Throttled events come
    before RunStarted, and the run still sets up every folder and imports every item once."""
    pst, items = _folders_pst(tmp_path, 8)
    sandbox.set_knobs(max_concurrency=1, graph_max_concurrency=1, back_off_ms=20, latency_ms=10)
    events: list = []
    result = run_profile(profile_for([pst], threads=4, batch=10), events=events)
    sandbox.set_knobs(max_concurrency=0, graph_max_concurrency=0, latency_ms=0)
    kinds = [type(e) for e in events]
    assert Throttled in kinds[: kinds.index(RunStarted)], "no busy answer was met during setup"
    assert result.exit_code == 0, result.failures
    found = stamped_items(sandbox)
    assert len(found) == items and all(len(v) == 1 for v in found.values())


def test_verify_counts_folders_in_parallel(tmp_path, sandbox, profile_for):
    """`pstimport verify` counts 20 folders with several requests in flight, and finds them all green."""
    from core.engine import build_plan
    from core.engine.connect import transport_factory
    from core.engine.recount import verify_profile

    pst, _items = _folders_pst(tmp_path, 20)
    profile = profile_for([pst], threads=4, batch=10)
    assert run_profile(profile).exit_code == 0
    sandbox.set_knobs(latency_ms=30)
    sandbox.peak_concurrency(reset=True)
    plan = build_plan(profile, transport_factory=transport_factory(profile, interactive=False))
    report, _j, _h = verify_profile(plan)
    peak = sandbox.peak_concurrency()
    assert report["totals"]["mismatched_folders"] == 0
    assert all(r["status"] == "ok" for r in report["folders"])
    assert 2 <= peak <= 4, f"verification had {peak} request(s) in flight at most"
