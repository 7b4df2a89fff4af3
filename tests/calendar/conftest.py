"""Calendar tests: the engine's sandbox fixtures (EWS and Graph), writer PSTs and plain readers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ENGINE_TESTS = Path(__file__).resolve().parent.parent / "engine"
sys.path.insert(0, str(ENGINE_TESTS))

from sandbox_fixtures import _isolated, profile_for, sandbox, transport  # noqa: E402,F401


def pytest_configure(config) -> None:  # noqa: ANN001
    config.addinivalue_line("markers", "ews_only(reason): runs over EWS only (skipped for transport graph)")


@pytest.fixture(scope="session")
def calendar_pst(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The writer's calendar-mode PST (every pattern and end, DST, all-day, a meeting) and its truth."""
    import json

    from core.sandbox.pstwriter.content import generate

    path = tmp_path_factory.mktemp("calendar") / "calendar.pst"
    generate(str(path), seed=3, mode="calendar")
    return path, json.loads(Path(str(path) + ".truth.json").read_text(encoding="utf-8"))
