"""One TLS rule for EWS, the OAuth sign-in (msal) and Graph: public CAs + REQUESTS_CA_BUNDLE + the
profile's ca_bundle; and verify_tls: false as one warning, not one per request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ALICE, APP_ID, APP_SECRET, PASSWORD

from core.engine.connect import connect_transport, transport_factory
from core.errors import ConnectError
from core.profile.io import save_profile
from core.profile.model import Profile
from core.sandbox.server.app import Sandbox

REPO = Path(__file__).resolve().parents[2]
KINDS = ("ews-password", "ews-oauth", "graph")


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A TLS sandbox whose certificate only its own CA vouches for."""
    with Sandbox(tmp_path_factory.mktemp("tls-sb"), users={ALICE: PASSWORD}, apps={APP_ID: APP_SECRET}, tls=True) as sb:
        yield sb


def _profile(kind: str, sb: Sandbox) -> Profile:
    if kind == "ews-password":
        prof = Profile.new(
            name="t", mailbox=ALICE, sources=["x.pst"], target="on-premises", ews_url=sb.ews_url, username=ALICE
        )
        prof.connection.discovery = "direct"
        return prof
    return Profile.new(
        name="t",
        mailbox=ALICE,
        sources=["x.pst"],
        target="exchange-online",
        transport="graph" if kind == "graph" else "ews",
        ews_url=sb.ews_url if kind == "ews-oauth" else None,
        auth_method="oauth-app",
        tenant_id="contoso.onmicrosoft.com",
        client_id=APP_ID,
    )


def _connect(profile: Profile) -> None:
    transport = transport_factory(profile, interactive=False)()
    try:
        connect_transport(transport, timeout_seconds=20)
    finally:
        transport.close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tls_sandbox: Sandbox) -> pytest.MonkeyPatch:
    monkeypatch.setenv("PSTIMPORT_CLIENT_SECRET", APP_SECRET)
    monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", tls_sandbox.base_url)
    monkeypatch.setenv("PSTIMPORT_GRAPH_URL", tls_sandbox.graph_url)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    from core.transport.graph.pacing import forget_pacers

    forget_pacers()
    return monkeypatch


@pytest.mark.parametrize("kind", KINDS)
def test_requests_ca_bundle_is_honoured_by_every_client(kind, tls_sandbox, env):
    """REQUESTS_CA_BUNDLE naming the server's CA: EWS, msal and Graph (httpx) all trust it."""
    env.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.ca_cert))
    _connect(_profile(kind, tls_sandbox))


@pytest.mark.parametrize("kind", KINDS)
def test_profile_ca_bundle_adds_to_the_environment_bundle(kind, tls_sandbox, env):
    """The profile's ca_bundle is trusted beside REQUESTS_CA_BUNDLE (here the system's CAs), not instead."""
    env.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    prof = _profile(kind, tls_sandbox)
    prof.connection.ca_bundle = str(tls_sandbox.ca_cert)
    _connect(prof)


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_ca_is_refused_by_every_client(kind, tls_sandbox, env):
    """Without the server's CA anywhere, each client refuses the certificate (exit 2, 'TLS certificate')."""
    with pytest.raises(ConnectError, match="TLS certificate") as caught:
        _connect(_profile(kind, tls_sandbox))
    assert caught.value.exit_code == 2


def test_verify_tls_false_warns_once(tmp_path, tls_sandbox, corpus_dir):
    """A whole run with verify_tls: false: one warning line, no InsecureRequestWarning per request."""
    pst = tmp_path / "tika_testPST.pst"
    shutil.copy(corpus_dir / "tika_testPST.pst", pst)
    prof = _profile("ews-password", tls_sandbox)
    prof.sources[0].path = str(pst)
    prof.name = "insecure"
    prof.connection.verify_tls = False
    prof.report.directory = str(tmp_path / "reports")
    save_profile(prof, tmp_path / "p.yaml", check=False)
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        PSTIMPORT_PASSWORD=PASSWORD,
        PSTIMPORT_KEYRING="none",
        PSTIMPORT_STATE_DIR=str(tmp_path / "state"),
    )
    p = subprocess.run(
        [sys.executable, "-m", "core.cli", "run", str(tmp_path / "p.yaml"), "--headless"],
        env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert "InsecureRequestWarning" not in p.stderr
    assert p.stderr.count("TLS certificate checks are off") == 1, p.stderr[-2000:]
