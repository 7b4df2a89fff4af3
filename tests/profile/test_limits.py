"""Hard limits on profile input (size, nesting), `validate` reading each source's header as `run` does,
and the verify_tls warning: each a one-line answer, never a traceback, memory blow-up or RecursionError."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.profile.conftest import VALID_ONPREM

REPO = Path(__file__).resolve().parents[2]


def _pstimport(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _one_line(p: subprocess.CompletedProcess) -> str:
    lines = [x for x in p.stderr.splitlines() + p.stdout.splitlines() if x.strip()]
    assert "Traceback" not in p.stderr and "RecursionError" not in p.stderr, p.stderr[-2000:]
    assert len(lines) == 1, lines[:5]
    return lines[0]


def test_a_40_mb_profile_is_refused_at_once(write_profile, tmp_path):
    """A 40 MB file given as a profile: one line naming its size, exit 2, in well under a second of parsing."""
    path = write_profile(VALID_ONPREM)
    with path.open("a", encoding="utf-8") as fh:
        line = "# " + "x" * 1000 + "\n"
        for _ in range(40 * 1024):
            fh.write(line)
    assert path.stat().st_size > 40_000_000
    for command in (("profile", "validate"), ("run",)):
        t0 = time.monotonic()
        p = _pstimport(*command, str(path), "--headless" if command == ("run",) else "--json", cwd=tmp_path)
        assert time.monotonic() - t0 < 10
        assert p.returncode == 2
        if command == ("run",):
            assert "MB is far too big for a profile" in _one_line(p)
        else:
            assert "MB is far too big for a profile" in p.stdout


def test_nesting_20000_deep_is_one_line(write_profile, tmp_path):
    """A list nested 20,000 deep: 'nested more than 64 levels', exit 2, no RecursionError."""
    path = write_profile(VALID_ONPREM + "junk: " + "[" * 20000 + "]" * 20000 + "\n")
    p = _pstimport("profile", "validate", str(path), cwd=tmp_path)
    assert p.returncode == 2
    assert "nested more than 64 levels" in _one_line(p)
    block = "".join("  " * i + "- \n" for i in range(200))
    path = write_profile(VALID_ONPREM + "junk:\n" + block, name="block.yaml")
    p = _pstimport("profile", "validate", str(path), cwd=tmp_path)
    assert p.returncode == 2 and "nested more than 64 levels" in _one_line(p)


def test_validate_refuses_a_source_that_is_not_a_pst(write_profile, tmp_path, corpus_dir):
    """validate reads each source's header as run does: a Markdown file or a truncated PST is an error there."""
    (tmp_path / "MANIFEST.md").write_bytes((corpus_dir / "MANIFEST.md").read_bytes())
    path = write_profile(VALID_ONPREM.replace("path: sample.pst", "path: MANIFEST.md"))
    p = _pstimport("profile", "validate", str(path), cwd=tmp_path)
    assert p.returncode == 2
    line = _one_line(p)
    assert "sources[0].path" in line and "not a PST/OST file" in line
    run = _pstimport("run", str(path), "--headless", "--offline-check", cwd=tmp_path)
    assert run.returncode == 2 and "not a PST/OST file" in run.stderr
    (tmp_path / "cut.pst").write_bytes((corpus_dir / "tika_testPST.pst").read_bytes()[:300])
    path = write_profile(VALID_ONPREM.replace("path: sample.pst", "path: cut.pst"), name="cut.yaml")
    p = _pstimport("profile", "validate", str(path), cwd=tmp_path)
    assert p.returncode == 2 and "truncated" in _one_line(p)
    assert _pstimport("profile", "validate", "--no-check-files", str(path), cwd=tmp_path).returncode == 0


def test_validate_warns_when_tls_checks_are_off(write_profile, tmp_path):
    """verify_tls: false is valid, but validate says what it costs (a warning, exit 0)."""
    text = VALID_ONPREM.replace("  ews_url:", "  verify_tls: false\n  ews_url:")
    p = _pstimport("profile", "validate", str(write_profile(text)), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout + p.stderr
    assert "connection.verify_tls" in out and "not checked" in out
