"""Sign-in paths against the sandbox: OAuth app-only through msal, and TLS with a custom CA bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import ALICE, PASSWORD, run_profile, stamped_items

from core.profile.model import Profile
from core.sandbox.server.app import Sandbox

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "app-secret-value"


def _tika(corpus_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "tika_testPST.pst"
    shutil.copy(corpus_dir / "tika_testPST.pst", dst)
    return dst


def test_oauth_app_over_tls_with_ca_bundle(corpus_dir, tmp_path, monkeypatch):
    """oauth-app: msal gets a token from the (sandbox) authority, EWS impersonates the mailbox, over
    HTTPS trusting the profile's CA bundle beside REQUESTS_CA_BUNDLE's (core.transport.tls's rule)."""
    pst = _tika(corpus_dir, tmp_path)
    monkeypatch.setenv("PSTIMPORT_CLIENT_SECRET", APP_SECRET)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, apps={APP_ID: APP_SECRET}, tls=True) as sb:
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        prof = Profile.new(
            name="o",
            mailbox=ALICE,
            sources=[pst],
            target="exchange-online",
            ews_url=sb.ews_url,
            auth_method="oauth-app",
            tenant_id="contoso.onmicrosoft.com",
            client_id=APP_ID,
            report={"directory": str(tmp_path / "reports")},
        )
        prof.connection.ca_bundle = str(sb.ca_cert)
        assert prof.connection.impersonation
        result = run_profile(prof)
        assert result.exit_code == 0 and result.imported == 7
        assert len(stamped_items(sb)) == 7
        assert any(e.principal == APP_ID or APP_ID in str(e.principal) for e in sb.exchanges)


def test_oauth_app_wrong_secret_is_one_line(corpus_dir, tmp_path, monkeypatch):
    """A wrong client secret fails before any upload with a ConnectError naming OAuth."""
    import pytest

    from core.errors import ConnectError

    pst = _tika(corpus_dir, tmp_path)
    monkeypatch.setenv("PSTIMPORT_CLIENT_SECRET", "wrong")
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, apps={APP_ID: APP_SECRET}) as sb:
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        prof = Profile.new(
            name="o",
            mailbox=ALICE,
            sources=[pst],
            target="exchange-online",
            ews_url=sb.ews_url,
            auth_method="oauth-app",
            tenant_id="contoso.onmicrosoft.com",
            client_id=APP_ID,
            report={"directory": str(tmp_path / "reports")},
        )
        with pytest.raises(ConnectError, match="OAuth") as info:
            run_profile(prof)
        assert "\n" not in str(info.value)
        assert stamped_items(sb) == {}


def test_oauth_device_code_import(corpus_dir, tmp_path, monkeypatch):
    """oauth-device: the sign-in instructions go to the caller; once the user approves, the import runs."""
    import re
    import threading

    from core.engine import build_plan, run
    from core.engine.connect import transport_factory

    pst = _tika(corpus_dir, tmp_path)
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, apps={APP_ID: APP_SECRET}, tls=True) as sb:
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
        shown: list[str] = []

        def show(text: str) -> None:  # the "user" reads the code and signs in elsewhere
            shown.append(text)
            code = re.search(r"code ([A-Z0-9-]{6,})", text).group(1)
            threading.Timer(0.3, sb.approve_device, (code, ALICE)).start()

        plan = build_plan(prof, transport_factory=transport_factory(prof, interactive=False, show_device_code=show))
        result = run(plan, lambda e: None)
        assert shown and sb.base_url in shown[0]
        assert result.exit_code == 0 and result.imported == 7
        assert len(stamped_items(sb)) == 7


def test_oauth_token_expiring_mid_import_is_renewed_through_msal(corpus_dir, tmp_path, monkeypatch):
    """Tokens that expire during the import are renewed by msal at the configured authority; nothing fails."""
    import core.sandbox.server.app as sandbox_app
    from core.sandbox.pstwriter.content import generate

    monkeypatch.setattr(sandbox_app, "TOKEN_LIFETIME_S", 2)
    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=9, mode="scale", items=150, mix="small")
    monkeypatch.setenv("PSTIMPORT_CLIENT_SECRET", APP_SECRET)
    with Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, apps={APP_ID: APP_SECRET}, tls=True) as sb:
        monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        sb.set_knobs(latency_ms=60)
        prof = Profile.new(
            name="x",
            mailbox=ALICE,
            sources=[pst],
            target="exchange-online",
            ews_url=sb.ews_url,
            auth_method="oauth-app",
            tenant_id="contoso.onmicrosoft.com",
            client_id=APP_ID,
            performance={"max_threads": 2, "batch_items": 5},
            report={"directory": str(tmp_path / "reports")},
        )
        prof.connection.ca_bundle = str(sb.ca_cert)
        result = run_profile(prof)
        assert result.failed == 0 and result.imported == 150
        assert len(stamped_items(sb)) == 150
        issued = sb.store._db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]
        assert issued >= 2  # the first token expired and msal fetched another
