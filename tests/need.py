"""What tests need from outside the repository: where it is, and skipping (or, in CI, failing) when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: ../shared beside the checkout (PSTIMPORT_SHARED overrides it): the corpus, gromox, the EWS schema, samples.
SHARED = Path(os.environ.get("PSTIMPORT_SHARED", REPO.parent / "shared"))
#: The real PST/OST corpus (PSTIMPORT_CORPUS overrides it).
CORPUS = Path(os.environ.get("PSTIMPORT_CORPUS", SHARED / "pst-corpus"))


def missing(what: str, reason: str) -> None:
    """Skip for a missing outside tool, with the reason; fail instead where CI requires it.

    `.ci/run` installs every outside tool and sets PSTIMPORT_REQUIRE (e.g. "gromox,readpst,corpus"),
    so in CI a test that needs one of them runs or fails, and never skips quietly.
    """
    required = {w.strip() for w in os.environ.get("PSTIMPORT_REQUIRE", "").split(",") if w.strip()}
    if what in required or "all" in required:
        pytest.fail(f"{what} is required here (PSTIMPORT_REQUIRE) but missing: {reason}", pytrace=False)
    pytest.skip(reason)
