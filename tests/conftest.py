"""Shared fixtures: where the outside test material is, and skips with a reason when it is missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.need import CORPUS, REPO, SHARED, missing  # noqa: F401 - re-exported


@pytest.fixture(autouse=True)
def _fresh_ews_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with exchangelib's own HTTP adapter. The EWS transport sets its adapter (TLS as
    its profile says) on exchangelib's class-wide hook, so one in-process run over TLS would otherwise
    make a later test verify against that run's long-gone CA."""
    import requests.adapters
    from exchangelib.protocol import BaseProtocol

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", requests.adapters.HTTPAdapter)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus of real PST/OST files (../shared/pst-corpus)."""
    if not (CORPUS / "manifest.json").is_file():
        missing("corpus", f"the PST corpus is not at {CORPUS} (set PSTIMPORT_SHARED to the shared/ folder)")
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
        missing("readpst", "readpst is not installed (apt-get install pst-utils); .ci/run installs it")
    return path


@pytest.fixture(scope="session")
def gromox_server():
    """gromox, a real open-source EWS server (../shared/gromox), started once per session on 127.0.0.1.

    Lease a mailbox of your own with `gromox_server.lease()` (or use the `gromox_mailbox` fixture).
    """
    from tests.gromox import GromoxUnavailable, make_gromox

    gx = make_gromox(SHARED)
    try:
        gx.check()
        gx.lease()  # start the first instance now, so a broken install is one clear skip or failure
    except GromoxUnavailable as exc:
        missing("gromox", str(exc))
    try:
        yield gx
    finally:
        gx.stop()
        shutil.rmtree(gx.base, ignore_errors=True)


@pytest.fixture
def gromox_mailbox(gromox_server):
    """A gromox mailbox that no other test uses (GromoxMailbox: email, password, ews_url)."""
    return gromox_server.lease()
