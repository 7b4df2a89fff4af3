"""Shared fixtures: where the outside test material is, and skips with a reason when it is missing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PSTIMPORT_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "pst-corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus of real PST/OST files (../shared/pst-corpus)."""
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(f"the PST corpus is not at {CORPUS} (set PSTIMPORT_SHARED to the shared/ folder)")
    return CORPUS


@pytest.fixture(scope="session")
def manifest(corpus_dir: Path) -> dict:
    """manifest.json of the corpus, keyed by file name."""
    data = json.loads((corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    return {entry["file"]: entry for entry in data["files"]}


@pytest.fixture(scope="session")
def readpst() -> str:
    """The readpst binary (Debian pst-utils)."""
    path = shutil.which("readpst")
    if path is None:
        pytest.skip("readpst is not installed (apt-get install pst-utils); .ci/run installs it")
    return path
