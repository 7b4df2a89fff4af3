"""e2e fixtures: the engine's sandbox fixtures, plus running `pstimport` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE_TESTS = Path(__file__).resolve().parent.parent / "engine"
sys.path.insert(0, str(ENGINE_TESTS))

from sandbox_fixtures import _isolated, profile_for, sandbox, transport  # noqa: E402,F401

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def cli(tmp_path: Path):
    """Run `python -m core.cli ARGS` in a subprocess; returns CompletedProcess (text)."""

    def run(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "core.cli", *args],
            cwd=REPO,
            env=e,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run


def pytest_configure(config) -> None:  # noqa: ANN001
    config.addinivalue_line("markers", "ews_only(reason): runs over EWS only (skipped for transport graph)")
