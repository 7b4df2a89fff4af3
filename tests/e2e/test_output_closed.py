"""`pstimport … | head`: when the reader of our output goes away, the command ends quietly with 141
(128 + SIGPIPE, what the shell reports for a program SIGPIPE stopped), no traceback, nothing lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import make_profile, stamped_items

REPO = Path(__file__).resolve().parent.parent.parent
TIKA = "tika_testPST.pst"


def _head(args: list[str], lines: int, env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    """Run pstimport with stdout into a pipe, read `lines` lines, close the pipe; (exit, lines, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args],
        cwd=REPO,
        env=dict(os.environ, **(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    got = [proc.stdout.readline() for _ in range(lines)]
    proc.stdout.close()
    err = proc.stderr.read()
    return proc.wait(timeout=120), got, err


def test_run_piped_into_head_stops_quietly_with_141(tmp_path, sandbox, corpus_dir):
    """run --headless | head -2: exit 141, no 'event handler failed' tracebacks; a re-run completes the import."""
    pst = tmp_path / TIKA
    shutil.copy(corpus_dir / TIKA, pst)
    make_profile(tmp_path, sandbox, [pst])
    sandbox.set_knobs(latency_ms=30)  # the import outlasts the two lines head reads
    code, got, err = _head(["run", str(tmp_path / "t.yaml"), "--headless"], 2)
    assert code == 141, err
    assert all(got) and "Traceback" not in err and "BrokenPipe" not in err and "event handler" not in err, err
    sandbox.set_knobs(latency_ms=0)
    again = subprocess.run(
        [sys.executable, "-m", "core.cli", "run", str(tmp_path / "t.yaml"), "--headless"],
        cwd=REPO, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(stamped_items(sandbox)) == 7  # nothing twice, nothing missing


def test_scan_and_json_piped_into_head(corpus_dir):
    """scan … | head -1 (text and --json, more output than a pipe holds) ends with 141 and nothing on stderr."""
    files = [str(p) for p in sorted(corpus_dir.glob("*.pst")) if not p.name.startswith(("BROKEN", "NOTPST"))]
    for args in (["scan", *files * 20], ["scan", "--json", *files * 20]):
        code, got, err = _head(args, 1)
        assert code == 141 and got[0] and err == "", (args[:2], code, err[-2000:])
