"""Commands that draw a full-screen UI refuse at once without a terminal, and start with one (a real pty)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
ENTRY = [sys.executable, "-m", "tui.entry"]


@pytest.mark.parametrize(
    "args",
    [[], ["demo"], ["run", "profiles/whatever.yaml"]],
    ids=["bare", "demo", "run-without-headless"],
)
def test_without_a_terminal_one_line_and_exit_2_within_2_seconds(args, tmp_path):
    """With stdin and stdout not a terminal, `pstimport`, `pstimport demo` and `pstimport run` (no --headless)
    say so in one line naming what to do instead, and exit 2 in under 2 seconds, writing no escape codes."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    t0 = time.monotonic()
    p = subprocess.run(
        [*ENTRY, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    elapsed = time.monotonic() - t0
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a terminal" in lines[0], p.stderr
    assert "--headless" in lines[0] or "--rerun" in lines[0]
    assert "\x1b" not in p.stdout + p.stderr
    assert not (tmp_path / "cache").exists()  # the demo did not start a sandbox either


def test_on_a_terminal_the_wizard_starts_and_quits(tmp_path):
    """On a pseudo-terminal the same bare `pstimport` draws the welcome screen and leaves on Ctrl+Q with exit 0."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its stdin/stdout
        os.chdir(tmp_path)
        os.environ.update(TERM="xterm-256color", COLUMNS="80", LINES="24", PYTHONPATH=str(REPO))
        os.execv(sys.executable, [*ENTRY])
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"New profile" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        assert b"New profile" in seen, seen[-500:]
        os.write(fd, b"\x11")  # Ctrl+Q
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    if not os.read(fd, 65536):
                        break
                except OSError:
                    break
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            raise AssertionError("the wizard did not quit on Ctrl+Q")
        if not done:
            _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)
