"""Fixtures shared by tests/engine and tests/e2e: a real sandbox EWS server on 127.0.0.1:0 and profiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import ALICE, APP_ID, APP_SECRET, BOB, PASSWORD, SVC, TRANSPORTS, make_profile

from core.sandbox.server.app import Sandbox


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The transport the test runs over: every engine/e2e test runs over EWS and over Graph, except
    those marked `ews_only("why")` (EWS-only features: Autodiscover, impersonation, the archive...)."""
    marker = request.node.get_closest_marker("ews_only")
    if request.param == "graph" and marker is not None:
        pytest.skip(f"EWS only: {marker.args[0] if marker.args else 'an EWS feature'}")
    return request.param


@pytest.fixture
def sandbox(tmp_path: Path, transport: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A running sandbox: alice (with an archive), bob (no archive), svc (may impersonate), and an
    app registration. Over Graph it serves TLS (msal wants an https authority) and the profile
    signs in app-only with msal at the sandbox."""
    graph = transport == "graph"
    if graph:
        from core.transport.graph.pacing import forget_pacers

        forget_pacers()
    with Sandbox(
        tmp_path / "sandbox",
        users={ALICE: PASSWORD, BOB: PASSWORD, SVC: PASSWORD},
        archives=[ALICE],
        impersonators=[SVC],
        apps={APP_ID: APP_SECRET},
        tls=graph,
    ) as sb:
        sb.test_transport = transport  # type: ignore[attr-defined]  # read by helpers.make_profile
        if graph:
            monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
            monkeypatch.setenv("PSTIMPORT_GRAPH_URL", sb.graph_url)
            monkeypatch.setenv("PSTIMPORT_CLIENT_SECRET", APP_SECRET)
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
