"""Graph transport tests: real HTTPS against the sandbox's Graph front end, tokens from its msal authority."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.sandbox.server.app import Sandbox
from core.transport.graph.pacing import forget_pacers
from core.transport.graph.transport import GraphSettings, GraphTransport

ALICE = "alice@sandbox.test"
BOB = "bob@sandbox.test"
PASSWORD = "Sandbox-Pa55"
APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "app-secret-value"
TENANT = "sandbox.onmicrosoft.com"


@pytest.fixture
def graph_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A TLS sandbox (msal insists on https) with alice (archive), bob and one app registration."""
    monkeypatch.setenv("PSTIMPORT_KEYRING", "none")
    monkeypatch.setenv("PSTIMPORT_STATE_DIR", str(tmp_path / "state"))
    forget_pacers()
    with Sandbox(
        tmp_path / "sandbox",
        users={ALICE: PASSWORD, BOB: PASSWORD},
        archives=[ALICE],
        apps={APP_ID: APP_SECRET},
        tls=True,
    ) as sb:
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        monkeypatch.setenv("PSTIMPORT_GRAPH_URL", sb.graph_url)
        yield sb
    forget_pacers()


@pytest.fixture
def connect(graph_sandbox: Sandbox) -> Iterator[Callable[..., GraphTransport]]:
    """Make and connect a GraphTransport (app-only, client secret) to the sandbox; closed after the test."""
    made: list[GraphTransport] = []

    def make(mailbox: str = ALICE, connect: bool = True, **kw: object) -> GraphTransport:
        settings = GraphSettings(
            mailbox=mailbox,
            method=str(kw.pop("method", "oauth-app")),
            tenant_id=TENANT,
            client_id=APP_ID,
            secret=str(kw.pop("secret", APP_SECRET)),
            base_url=graph_sandbox.graph_url,
            ca_bundle=graph_sandbox.ca_cert,
            **kw,  # type: ignore[arg-type]
        )
        t = GraphTransport(settings)
        made.append(t)
        if connect:
            t.connect()
        return t

    yield make
    for t in made:
        t.close()
