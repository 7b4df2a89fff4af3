"""Canaries: `pstimport --debug run/verify` over Basic, NTLM, OAuth (EWS bearer) and Graph leaves no
secret in any output or file: not the password or client secret (in clear, base64 or URL-encoded),
not an NTLM authenticate message, not a token the authority handed out."""

from __future__ import annotations

import base64
import shutil
import urllib.parse
from pathlib import Path

import pytest
from helpers import ALICE

from core.profile.io import save_profile
from core.profile.model import Profile
from core.sandbox.server.app import Sandbox

CANARY_PASSWORD = "Canary-Pw-9f8e7d6c"
CANARY_SECRET = "Canary-Secret-3c2b1a0f"
WRONG = "Canary-Wrong-5a4b3c2d"
APP_ID = "11111111-2222-3333-4444-555555555555"
TIKA = "tika_testPST.pst"
# base64 of "NTLMSSP\0" followed by message type 3 (the authenticate message, crackable offline).
NTLM_AUTHENTICATE = "TlRMTVNTUAADAAAA"
# The sandbox's access and refresh tokens start so (core.sandbox.server).
TOKEN_PREFIXES = ("sbx1.", "sbxr.")


def _forms(secret: str, user: str | None = None) -> list[str]:
    out = [secret, urllib.parse.quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]
    if user:
        out.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return out


def _leaks(text: str, forms: list[str]) -> list[str]:
    found = [f for f in forms if f in text]
    found += [p for p in (NTLM_AUTHENTICATE, *TOKEN_PREFIXES) if p in text]
    return found


def _files_text(root: Path) -> str:
    parts = []
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.fixture
def pst(corpus_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / TIKA
    shutil.copy(corpus_dir / TIKA, dst)
    return dst


def _runs(cli, profile_path: Path, env: dict[str, str]) -> str:  # noqa: ANN001
    """run (twice: import, then nothing new), verify, and a run with a wrong secret; all at --debug."""
    out = ""
    for args, code in (
        (("run", str(profile_path), "--headless"), 0),
        (("run", str(profile_path), "--json"), 0),
        (("verify", str(profile_path)), 0),
    ):
        p = cli("--debug", *args, env=env, timeout=240)
        assert p.returncode == code, (args, p.stdout[-2000:], p.stderr[-3000:])
        out += p.stdout + p.stderr
    bad = dict(env, PSTIMPORT_PASSWORD=WRONG, PSTIMPORT_CLIENT_SECRET=WRONG)
    p = cli("--debug", "run", str(profile_path), "--headless", env=bad, timeout=240)
    assert p.returncode == 2, (p.stdout[-2000:], p.stderr[-3000:])
    return out + p.stdout + p.stderr


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_password_sign_in_at_debug_leaks_nothing(auth, tmp_path, pst, cli):
    """Basic and NTLM at --debug: exchangelib's header log is masked; no password form anywhere."""
    with Sandbox(tmp_path / "sb", users={ALICE: CANARY_PASSWORD}, auth_methods=[auth]) as sb:
        prof = Profile.new(
            name="canary",
            mailbox=ALICE,
            sources=[str(pst)],
            target="on-premises",
            ews_url=sb.ews_url,
            username=ALICE,
            report={"directory": str(tmp_path / "reports")},
        )
        prof.connection.discovery = "direct"
        save_profile(prof, tmp_path / "p.yaml", check=False)
        env = {
            "PSTIMPORT_PASSWORD": CANARY_PASSWORD,
            "PSTIMPORT_EWS_AUTH": auth,
            "PSTIMPORT_STATE_DIR": str(tmp_path / "state"),
            "PSTIMPORT_KEYRING": "none",
        }
        out = _runs(cli, tmp_path / "p.yaml", env)
    forms = _forms(CANARY_PASSWORD, ALICE) + _forms(WRONG, ALICE)
    assert _leaks(out, forms) == []
    assert _leaks(_files_text(tmp_path / "reports") + _files_text(tmp_path / "state"), forms) == []
    # The test saw the headers it guards: exchangelib logged them, masked.
    assert ("Basic ***" if auth == "basic" else "NTLM ***") in out, out[-3000:]


@pytest.mark.parametrize("transport", ["ews", "graph"])
def test_oauth_app_at_debug_leaks_no_secret_and_no_token(transport, tmp_path, pst, cli):
    """OAuth app-only over EWS (bearer) and over Graph at --debug: no client secret, no token anywhere."""
    with Sandbox(tmp_path / "sb", users={ALICE: "unused-Pw-123"}, apps={APP_ID: CANARY_SECRET}, tls=True) as sb:
        prof = Profile.new(
            name="canary",
            mailbox=ALICE,
            sources=[str(pst)],
            target="exchange-online",
            transport=transport,
            ews_url=sb.ews_url if transport == "ews" else None,
            auth_method="oauth-app",
            tenant_id="contoso.onmicrosoft.com",
            client_id=APP_ID,
            report={"directory": str(tmp_path / "reports")},
        )
        prof.connection.ca_bundle = str(sb.ca_cert)
        save_profile(prof, tmp_path / "p.yaml", check=False)
        env = {
            "PSTIMPORT_CLIENT_SECRET": CANARY_SECRET,
            "PSTIMPORT_AUTHORITY_HOST": sb.base_url,
            "PSTIMPORT_STATE_DIR": str(tmp_path / "state"),
            "PSTIMPORT_KEYRING": "none",
        }
        if transport == "graph":
            env["PSTIMPORT_GRAPH_URL"] = sb.graph_url
        out = _runs(cli, tmp_path / "p.yaml", env)
    forms = _forms(CANARY_SECRET) + _forms(WRONG)
    assert _leaks(out, forms) == []
    assert _leaks(_files_text(tmp_path / "reports") + _files_text(tmp_path / "state"), forms) == []
    # The test saw what it guards: debug logging was on, and over EWS the bearer header was logged, masked.
    assert "DEBUG" in out and "HTTP Request" in out or "Bearer ***" in out, out[-3000:]
    if transport == "ews":
        assert "Bearer ***" in out, out[-3000:]
