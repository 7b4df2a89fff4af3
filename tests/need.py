"""Outside tools a test needs: skip with the reason where one is missing, fail where CI requires it."""

from __future__ import annotations

import os

import pytest


def missing(what: str, reason: str) -> None:
    """Skip for a missing outside tool, with the reason; fail instead where CI requires it.

    `.ci/run` installs every outside tool and sets PSTIMPORT_REQUIRE (e.g. "gromox,readpst,corpus"),
    so in CI a test that needs one of them runs or fails, and never skips quietly.
    """
    required = {w.strip() for w in os.environ.get("PSTIMPORT_REQUIRE", "").split(",") if w.strip()}
    if what in required or "all" in required:
        pytest.fail(f"{what} is required here (PSTIMPORT_REQUIRE) but missing: {reason}", pytrace=False)
    pytest.skip(reason)
