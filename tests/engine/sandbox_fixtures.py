"""Fixtures shared by tests/engine and tests/e2e: a real sandbox EWS server on 127.0.0.1:0 and profiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import ALICE, BOB, PASSWORD, SVC, make_profile

from core.sandbox.server.app import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A running sandbox: alice (with an archive), bob (no archive), svc (may impersonate)."""
    with Sandbox(
        tmp_path / "sandbox",
        users={ALICE: PASSWORD, BOB: PASSWORD, SVC: PASSWORD},
        archives=[ALICE],
        impersonators=[SVC],
    ) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets from the environment, journals under tmp, no OS keyring."""
    monkeypatch.setenv("PSTIMPORT_PASSWORD", PASSWORD)
    monkeypatch.setenv("PSTIMPORT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PSTIMPORT_KEYRING", "none")
    monkeypatch.delenv("PSTIMPORT_AUTODISCOVER_URL", raising=False)


@pytest.fixture
def profile_for(tmp_path: Path, sandbox: Sandbox) -> Callable[..., object]:
    """Build a profile against the sandbox: profile_for([pst...], root=..., store=..., ...)."""

    def make(sources: list[Path], **kw: object) -> object:
        return make_profile(tmp_path, sandbox, sources, **kw)

    return make
