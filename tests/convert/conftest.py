"""Fixtures for the conversion tests: the shared corpus, readpst, and writer PSTs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.need import CORPUS, missing

REPO = Path(__file__).resolve().parents[2]
READPST = shutil.which("readpst")


def corpus_files() -> list[Path]:
    """The corpus files the reader can open (BROKEN_/NOTPST_ ones are the reader's tests)."""
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.iterdir()
        if p.suffix.lower() in (".pst", ".ost") and not p.name.startswith(("BROKEN_", "NOTPST_"))
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        missing("corpus", f"PST corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def readpst() -> str:
    if READPST is None:
        missing("readpst", "readpst (Debian pst-utils) is not installed")
    return READPST


@pytest.fixture(scope="session", params=[7, 23], ids=lambda seed: f"seed{seed}")
def writer_pst(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A realistic PST from our own writer, with its ground truth (two seeds)."""
    out = tmp_path_factory.mktemp("writer") / f"realistic-{request.param}.pst"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "sandbox",
            "make-pst",
            str(out),
            "--seed",
            str(request.param),
            "--mode",
            "realistic",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    truth = Path(str(out) + ".truth.json")
    if proc.returncode != 0 or not out.exists() or not truth.exists():
        pytest.fail(f"the PST writer did not produce a PST: {proc.stderr.strip()[-300:]}")
    return out, json.loads(truth.read_text(encoding="utf-8"))
