"""Engine tests run against a real sandbox EWS server (fixtures in sandbox_fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_fixtures import _isolated, profile_for, sandbox, transport  # noqa: E402,F401


def pytest_configure(config) -> None:  # noqa: ANN001
    config.addinivalue_line("markers", "ews_only(reason): runs over EWS only (skipped for transport graph)")
