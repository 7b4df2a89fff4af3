"""Batch tests run against a real sandbox EWS server (fixtures in fleet.py and tests/engine)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import _isolated, cli, fleet, fleet_psts, sandbox  # noqa: E402,F401
