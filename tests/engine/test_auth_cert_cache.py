"""OAuth paths against the sandbox's authority: app-only with a certificate (a signed client assertion),
and the device-code sign-in kept in the keyring so the next run signs in silently (EWS)."""

from __future__ import annotations

import re
import shutil
import sys
import threading
from pathlib import Path

import pytest
from helpers import ALICE, PASSWORD, run_profile, stamped_items

from core.profile.model import Profile
from core.sandbox.server.app import Sandbox
from core.sandbox.server.assertion import make_app_certificate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from tests.profile.conftest import cryptfile_keyring  # noqa: E402,F401,F811 - a real encrypted-file keyring in tmp

APP_ID = "33333333-4444-5555-6666-777777777777"
TENANT = "contoso.onmicrosoft.com"


def _tika(corpus_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "tika_testPST.pst"
    shutil.copy(corpus_dir / "tika_testPST.pst", dst)
    return dst


def _app_profile(tmp_path: Path, sb: Sandbox, pst: Path, cert: Path) -> Profile:
    prof = Profile.new(
        name="c",
        mailbox=ALICE,
        sources=[pst],
        target="exchange-online",
        ews_url=sb.ews_url,
        auth_method="oauth-app",
        tenant_id=TENANT,
        client_id=APP_ID,
        report={"directory": str(tmp_path / "reports")},
    )
    prof.connection.auth.certificate = str(cert)
    prof.connection.ca_bundle = str(sb.ca_cert)
    return prof


def test_oauth_app_with_certificate_signs_a_client_assertion(corpus_dir, tmp_path, monkeypatch):
    """oauth-app with a certificate: msal signs a JWT assertion that the authority verifies against the
    registered certificate; the token then impersonates the mailbox over EWS and the import lands."""
    pst = _tika(corpus_dir, tmp_path)
    monkeypatch.delenv("PSTIMPORT_PASSWORD", raising=False)  # no certificate password: the key is not encrypted
    cert_file = tmp_path / "app.pem"
    cert_pem = make_app_certificate(cert_file, "pstimport test app")
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, tls=True) as sb:
        sb.add_app_certificate(APP_ID, cert_pem)
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        result = run_profile(_app_profile(tmp_path, sb, pst, cert_file))
        assert result.exit_code == 0 and result.imported == 7
        assert len(stamped_items(sb)) == 7
        assert sb.grants and set(sb.grants) == {"client_credentials"}
        assert {e.principal for e in sb.exchanges} == {APP_ID}


def test_oauth_app_with_an_unregistered_certificate_is_one_line(corpus_dir, tmp_path, monkeypatch):
    """A certificate the app registration does not know is refused by the authority: one line, nothing uploaded."""
    from core.errors import ConnectError

    pst = _tika(corpus_dir, tmp_path)
    monkeypatch.delenv("PSTIMPORT_PASSWORD", raising=False)
    registered = make_app_certificate(tmp_path / "registered.pem", "registered")
    other = tmp_path / "other.pem"
    make_app_certificate(other, "someone else")
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, tls=True) as sb:
        sb.add_app_certificate(APP_ID, registered)
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        with pytest.raises(ConnectError) as info:
            run_profile(_app_profile(tmp_path, sb, pst, other))
        assert "\n" not in str(info.value) and "AADSTS700027" in str(info.value)
        assert stamped_items(sb) == {}
        assert not [e for e in sb.exchanges if e.outcome == "ok"]


def test_device_code_sign_in_is_kept_in_the_keyring_and_reused(
    corpus_dir,
    tmp_path,
    monkeypatch,
    cryptfile_keyring,  # noqa: F811
):
    """oauth-device: the first run asks for the device code; its token cache goes to the (encrypted) keyring,
    and the second run signs in with the cached refresh token, without a prompt. No token is written in clear."""
    import core.sandbox.server.app as sandbox_app
    from core.engine import build_plan, run
    from core.engine.connect import transport_factory
    from core.profile.secrets import SERVICE

    # Tokens that live under msal's 5-minute refresh margin: the second run must use the refresh token.
    monkeypatch.setattr(sandbox_app, "TOKEN_LIFETIME_S", 120)
    monkeypatch.setenv("PSTIMPORT_KEYRING", "system")  # the process keyring: the encrypted file in tmp
    pst = _tika(corpus_dir, tmp_path)
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, tls=True) as sb:
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        prof = Profile.new(
            name="d",
            mailbox=ALICE,
            sources=[pst],
            target="exchange-online",
            ews_url=sb.ews_url,
            auth_method="oauth-device",
            client_id=APP_ID,
            username=ALICE,
            report={"directory": str(tmp_path / "reports")},
        )
        prof.connection.ca_bundle = str(sb.ca_cert)
        prompts: list[str] = []

        def show(text: str) -> None:  # the "user" reads the code and signs in elsewhere
            prompts.append(text)
            code = re.search(r"code ([A-Z0-9-]{6,})", text).group(1)
            threading.Timer(0.3, sb.approve_device, (code, ALICE)).start()

        def go() -> object:
            plan = build_plan(prof, transport_factory=transport_factory(prof, interactive=False, show_device_code=show))
            return run(plan, lambda e: None)

        first = go()
        assert first.exit_code == 0 and first.imported == 7 and len(prompts) == 1
        state = cryptfile_keyring.get_password(SERVICE, f"oauth-token-cache:organizations:{APP_ID}:{ALICE}")
        assert state and "RefreshToken" in state
        grants_before = len(sb.grants)

        second = go()
        assert len(prompts) == 1, "the second run asked for a device code again"
        assert second.exit_code == 0 and second.skipped == 7 and second.imported == 0
        assert sb.grants[grants_before:] == ["refresh_token"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"sbxr." not in data and b"sbx1." not in data, f"a token in clear in {path}"


def test_oauth_app_with_certificate_over_graph(corpus_dir, tmp_path, monkeypatch):
    """transport: graph with a certificate: the same msal client assertion, then the import over Graph lands."""
    pst = _tika(corpus_dir, tmp_path)
    monkeypatch.delenv("PSTIMPORT_PASSWORD", raising=False)
    cert_file = tmp_path / "app.pem"
    cert_pem = make_app_certificate(cert_file, "pstimport test app")
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, tls=True) as sb:
        sb.add_app_certificate(APP_ID, cert_pem)
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        monkeypatch.setenv("PSTIMPORT_GRAPH_URL", sb.graph_url)
        prof = Profile.new(
            name="g",
            mailbox=ALICE,
            sources=[pst],
            target="exchange-online",
            transport="graph",
            auth_method="oauth-app",
            tenant_id=TENANT,
            client_id=APP_ID,
            report={"directory": str(tmp_path / "reports")},
        )
        prof.connection.auth.certificate = str(cert_file)
        prof.connection.ca_bundle = str(sb.ca_cert)
        result = run_profile(prof)
        assert result.exit_code == 0 and result.imported == 7
        assert len(stamped_items(sb)) == 7
        assert sb.grants and set(sb.grants) == {"client_credentials"}
        graph = [e for e in sb.exchanges if getattr(e, "protocol", "") == "graph"]
        assert graph and {e.principal for e in graph} == {APP_ID}
