"""Snapshots at 80×24 and 120×40 of every step, the run screen mid-run and the summary with a mismatch.

The run and summary are fed with the events and the report of a real engine run against the
sandbox (recorded once per session), replayed on a stepped clock so rates are the same each time.
Update the baselines after a deliberate change with `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tests.need import missing
from tests.tui.conftest import GOOD_PST
from tui.app import make_app
from tui.screens.run import RunOutcome
from tui.state import WizardState

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def _same_keyrings_everywhere(monkeypatch):
    """The credentials step offers the keyrings that work on the machine: pin them, so the snapshot is the
    same on a desktop with an OS keyring and on a CI box without one (the encrypted file, at a fixed path)."""
    monkeypatch.setenv("PSTIMPORT_KEYRING", "cryptfile")
    monkeypatch.setenv("PSTIMPORT_KEYRING_FILE", "/tmp/pstimport-snapshot/keyring.cfg")
    monkeypatch.delenv("PSTIMPORT_KEYRING_PASSWORD", raising=False)


def demo_profile():
    """The demo's profile, as the run screen's title needs it (no file or server behind it)."""
    from core.profile.model import Profile

    return Profile.new(
        name="demo",
        mailbox="demo@sandbox.test",
        sources=["Sample Mailbox 1.pst"],
        target="on-premises",
        ews_url="http://127.0.0.1:1/EWS/Exchange.asmx",
        username="demo@sandbox.test",
    )


STEP_NAMES = ["connection", "credentials", "destination", "psts", "options", "review"]


def wizard_state() -> WizardState:
    """Answers as a technician would leave them, with a real corpus PST in the tree (Contacts unticked)."""
    from tui import services

    if not (CORPUS / GOOD_PST).is_file():
        missing("corpus", f"the PST corpus is not at {CORPUS}")
    # a fixed path, so the review screen's YAML renders the same wherever the checkout lives
    stable = Path("/tmp/pstimport-snapshot-psts") / GOOD_PST
    if not stable.is_file() or stable.stat().st_size != (CORPUS / GOOD_PST).stat().st_size:
        stable.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / GOOD_PST, stable)
    choices, _ = services.scan_paths([str(stable)])
    choices[0].set_checked(("Contacts",), False)
    return WizardState(
        target="on-premises",
        discovery="direct",
        ews_url="https://mail.example.test/EWS/Exchange.asmx",
        mailbox="matt@example.test",
        auth_method="password",
        username="EXAMPLE\\svc-import",
        password="hunter2",
        cache_password=True,
        keyring="encrypted-file",
        sources=choices,
        name="matt-backup",
        profile_dir="/srv/pstimport/profiles",
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("step", range(6), ids=STEP_NAMES)
def test_step_snapshot(snap_compare, step, size):
    """Each wizard step renders as accepted, at 80×24 and 120×40."""
    app = make_app(wizard_state(), start="wizard", step=step)
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_welcome_snapshot(snap_compare, size, tmp_path, monkeypatch):
    """The welcome screen renders as accepted."""
    monkeypatch.chdir(tmp_path)
    assert snap_compare(make_app(), terminal_size=size)


# ----- a real run, recorded by tests/tui/record_run.py ------------------------------------------------


@pytest.fixture(scope="module")
def recorded_run():
    """Events and report of a real engine run (the demo PST into the sandbox), replayed from the recording."""
    from tests.tui.record_run import load

    events, report = load()
    return events, report


def replay(events, stop_after: int | None, screen_holder: dict):
    """A runner that feeds recorded events on a stepped clock, then (mid-run) waits for the screen to go."""

    def run(on_event, cancel):
        aggregate = on_event.__self__
        now = [0.0]  # advanced by the replay only, so the screen's own reads do not move time
        aggregate.clock = lambda: now[0]
        for e in events[:stop_after]:
            now[0] += 0.01
            on_event(e)
        if stop_after is not None:
            cancel.wait(30)
        return screen_holder.get("result")

    return run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_screen_mid_run_snapshot(snap_compare, recorded_run, size, tmp_path, monkeypatch):
    """The run screen half way through a real run's events: per-folder states, failures panel, progress."""
    from core import events as ev

    monkeypatch.chdir(tmp_path)
    events, _ = recorded_run
    profile = demo_profile()
    items = [i for i, e in enumerate(events) if isinstance(e, (ev.ItemImported, ev.ItemFailed, ev.ItemSkipped))]
    middle = items[len(items) // 2]
    app = make_app(WizardState(), start="run", profile=profile, runner=replay(events, middle + 1, {}))

    async def settle(pilot):
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_summary_with_mismatch_snapshot(snap_compare, recorded_run, size, tmp_path, monkeypatch):
    """The verification summary of a real run with a folder that does not match: it comes first, in red."""
    from tui.screens.summary import SummaryScreen

    monkeypatch.chdir(tmp_path)
    events, report = recorded_run
    if not any(f["status"] != "ok" for f in report["folders"]):
        report = json.loads(json.dumps(report))  # a run that matched: make one folder differ, as a server might
        report["folders"][1]["mailbox_items"] += 1
        report["folders"][1]["status"] = "mismatch"
        report["totals"]["mismatched_folders"] = 1
    (tmp_path / "reports").mkdir()
    Path("reports/demo-run.json").write_text(json.dumps(report), encoding="utf-8")
    finished = replace(events[-1], report_json="reports/demo-run.json", report_html="reports/demo-run.html")
    outcome = RunOutcome(finished=finished, result=None, error=None, cancelled=False)
    app = make_app(WizardState(), start="wizard")

    async def show(pilot):
        await pilot.app.push_screen(SummaryScreen(outcome))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_screen_more_folders_than_fit_snapshot(snap_compare, size, tmp_path, monkeypatch):
    """26 folders, a long and a CJK name among them, the 23rd being imported: it is in view, names keep their
    leaf, CJK names are cut by cells."""
    from tests.tui.test_run_screen import many_folders_app, settled

    monkeypatch.chdir(tmp_path)
    app = many_folders_app(22)

    async def settle(pilot):
        await settled(pilot)

    try:
        assert snap_compare(app, terminal_size=size, run_before=settle)
    finally:
        if app.screen_stack and hasattr(app.screen, "cancel_event"):
            app.screen.cancel_event.set()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_summary_with_long_cjk_and_left_out_folders_snapshot(snap_compare, recorded_run, size, tmp_path, monkeypatch):
    """The summary with a long folder name, a CJK one and a folder the profile left out (last, with its count)."""
    from tests.tui.test_run_screen import CJK, LONG
    from tui.screens.summary import SummaryScreen

    monkeypatch.chdir(tmp_path)
    events, report = recorded_run
    report = json.loads(json.dumps(report))
    for path, row in ((LONG, report["folders"][2]), (CJK, report["folders"][3])):
        row["source_path"] = list(path)
        row["target_path"] = ["Sample Mailbox 1", *path]
    report["excluded"] = [{"pst": "Sample Mailbox 1.pst", "source_path": ["Calendar"], "pst_items": 4}]
    (tmp_path / "reports").mkdir()
    Path("reports/demo-run.json").write_text(json.dumps(report), encoding="utf-8")
    finished = replace(events[-1], report_json="reports/demo-run.json", report_html="reports/demo-run.html")
    outcome = RunOutcome(finished=finished, result=None, error=None, cancelled=False)
    app = make_app(WizardState(), start="wizard")

    async def show(pilot):
        await pilot.app.push_screen(SummaryScreen(outcome))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show)
