"""The demo leaves something real behind: walk it with the keyboard, quit, then re-run it headless."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tui.test_run import wait_run
from tui import demo
from tui.app import make_app
from tui.screens.review import ReviewScreen
from tui.screens.summary import SummaryScreen

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parent.parent.parent


def pstimport(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command line as printed by pstimport ("pstimport demo --rerun ..."), without a terminal."""
    argv = shlex.split(command)
    assert argv[0] == "pstimport", command
    return subprocess.run(
        [sys.executable, "-m", "tui.entry", *argv[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


async def test_demo_walk_quit_then_the_printed_rerun_command_imports_nothing_new(workdir, tmp_path):
    """The demo walked by keyboard imports the sample PST; after quitting, the command it prints brings the
    same sandbox mailbox back and re-runs the saved profile headless: exit 0, nothing imported twice."""
    directory = tmp_path / "demo"
    sandbox, state, password = demo.prepare(directory)
    app = make_app(state, start="wizard", secret=password, greeting="Demo: press Ctrl+N through the steps")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            # the greeting is the first step's message line, not a toast over the form
            assert "Demo: press Ctrl+N" in str(app.screen.query_one("#message").render())
            assert not app._notifications
            for _ in range(5):
                await pilot.press("ctrl+n")
                await pilot.pause()
            assert isinstance(app.screen, ReviewScreen)
            await pilot.press("ctrl+r")
            await pilot.pause()
            run = await wait_run(pilot)
            assert run.outcome.error is None, run.outcome.error
            first = run.outcome.result
            assert first.imported > 0
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, SummaryScreen)
            await pilot.press("q")
            await pilot.pause()
    finally:
        lines = demo.finish(directory, sandbox, app.saved_profile)
    assert app.return_code == first.exit_code, first.failures
    command = lines[-1].strip()
    assert command.startswith("pstimport demo --rerun"), lines
    assert not (directory / "profiles" / "demo.yaml").read_text(encoding="utf-8").count(password)

    env = {k: v for k, v in os.environ.items() if not k.startswith("PSTIMPORT_PASSWORD")}
    again = pstimport(command + " --json", env)
    assert again.returncode == 0, (again.stdout[-2000:], again.stderr)
    events = [json.loads(line) for line in again.stdout.splitlines()]
    end = next(e for e in events if e["event"] == "RunFinished")
    assert end["imported"] == 0 and end["failed"] == 0
    assert end["skipped"] == first.imported  # every item found in the same mailbox, by the journal or its stamp
    report = json.loads(Path(end["report_json"]).read_text(encoding="utf-8"))
    assert report["totals"]["mismatched_folders"] == 0


def test_rerun_without_a_saved_demo_says_what_to_do(tmp_path):
    """`pstimport demo --rerun` before any demo was saved: one line naming `pstimport demo`, exit 2."""
    p = pstimport(f"pstimport demo --rerun --state {tmp_path / 'nothing'}", dict(os.environ))
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "run `pstimport demo` first" in lines[0], p.stderr
