"""Exchange Online refusing EWS (not allow-listed app, EWS turned off, Kiosk/F1/F3 licence): the
preflight says so in one line with the fix, exit 2, and nothing is uploaded.

The sandbox answers these refusals as Exchange Online does (HTTP 403, empty body; the sources are
in core/transport/ews/refusal.py); the modes differ in whom they refuse, which each test also checks
from the other side (the app or mailbox the policy allows goes through).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import ALICE, APP_ID, APP_SECRET, BOB, PASSWORD, TENANT, run_profile, stamped_items

from core import online
from core.errors import ConnectError
from core.profile.io import save_profile
from core.profile.model import Profile
from core.sandbox.server.app import Sandbox
from core.sandbox.server.knobs import Knobs
from core.transport.ews.errors import upload_error
from core.transport.ews.refusal import EwsRefused

TIKA = "tika_testPST.pst"
OTHER_APP = "99999999-8888-7777-6666-555555555555"
WRITES = ("CreateItem", "CreateFolder", "UploadItems", "CreateAttachment")


@pytest.fixture
def pst(corpus_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / TIKA
    shutil.copy(corpus_dir / TIKA, dst)
    return dst


def _online_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **knobs: object) -> Sandbox:
    """An Exchange Online-flavoured sandbox (Bearer only) with an app registration, over TLS for msal."""
    sb = Sandbox(
        tmp_path / "sb",
        users={ALICE: PASSWORD, BOB: PASSWORD},
        apps={APP_ID: APP_SECRET},
        flavour="exchange-online",
        tls=True,
        knobs=Knobs(**knobs),  # type: ignore[arg-type]
    ).start()
    monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
    monkeypatch.setenv("PSTIMPORT_CLIENT_SECRET", APP_SECRET)
    return sb


def _ews_online_profile(tmp_path: Path, sb: Sandbox, pst: Path, mailbox: str = ALICE) -> Path:
    """Exchange Online over EWS, app-only (impersonating the mailbox), saved as a technician would."""
    prof = Profile.new(
        name="t",
        mailbox=mailbox,
        sources=[pst],
        target="exchange-online",
        ews_url=sb.ews_url,
        auth_method="oauth-app",
        tenant_id=TENANT,
        client_id=APP_ID,
        report={"directory": str(tmp_path / "reports")},
    )
    prof.connection.ca_bundle = str(sb.ca_cert)
    return save_profile(prof, tmp_path / "t.yaml", check=False)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and ": warning: " not in line]


def _wrote_nothing(sb: Sandbox) -> bool:
    return not stamped_items(sb) and not any(e.operation in WRITES and e.outcome == "ok" for e in sb.exchanges)


@pytest.mark.parametrize(
    ("mode", "knobs"),
    [
        ("app-not-allowed", {"ews_allowed_app_ids": (OTHER_APP,)}),
        ("ews-disabled", {}),
        ("licence-blocked", {"ews_blocked_mailboxes": (ALICE,)}),
    ],
)
def test_refusal_is_one_line_exit_2_nothing_uploaded(mode, knobs, tmp_path, pst, cli, monkeypatch):
    """`pstimport run` against each refusal: exit 2, one error line naming the refusal, the app id to
    allow and transport: graph; the sandbox saw no write; the refused caller was answered 403."""
    sb = _online_sandbox(tmp_path, monkeypatch, ews_refusal=mode, **knobs)
    try:
        profile = _ews_online_profile(tmp_path, sb, pst)
        p = cli("run", str(profile), "--headless")
        assert p.returncode == 2, p.stdout + p.stderr
        [line] = _error_lines(p.stderr)
        for part in ("Exchange Online refused EWS (HTTP 403)", APP_ID, "EWSAllowedAppIDs", "transport: graph"):
            assert part in line, line
        assert "Traceback" not in p.stderr
        assert _wrote_nothing(sb)
        assert any(e.outcome == "forbidden" for e in sb.exchanges)
    finally:
        sb.stop()


@pytest.mark.parametrize(
    ("mode", "knobs", "mailbox"),
    [
        ("app-not-allowed", {"ews_allowed_app_ids": (APP_ID,)}, ALICE),  # the app is on the list
        ("licence-blocked", {"ews_blocked_mailboxes": (ALICE,)}, BOB),  # another mailbox's licence
    ],
)
def test_policy_lets_the_others_through(mode, knobs, mailbox, tmp_path, pst, monkeypatch):
    """The refusal is the policy's, not a broken server: an allow-listed app, or a mailbox with an
    EWS licence, imports as usual under the same knob."""
    sb = _online_sandbox(tmp_path, monkeypatch, ews_refusal=mode, **knobs)
    try:
        from core.profile.io import load_profile

        result = run_profile(load_profile(_ews_online_profile(tmp_path, sb, pst, mailbox), check_files=False))
        assert result.exit_code == 0 and result.imported == 7
        assert len(stamped_items(sb, mailbox)) == 7
        assert not any(e.outcome == "forbidden" for e in sb.exchanges)
    finally:
        sb.stop()


def test_after_retirement_says_ews_is_off(tmp_path, pst, monkeypatch):
    """From 2027-04-01 the same answer means EWS is off for every app: the line says that and offers
    Graph, not an allow list that can no longer help (for an archive: the Import Service)."""
    monkeypatch.setattr(online, "today", lambda: dt.date(2027, 4, 2))
    sb = _online_sandbox(tmp_path, monkeypatch, ews_refusal="ews-disabled")
    try:
        from core.profile.io import load_profile

        profile = load_profile(_ews_online_profile(tmp_path, sb, pst), check_files=False)
        with pytest.raises(ConnectError) as info:
            run_profile(profile)
        line = str(info.value)
        assert "turned EWS off for every app on 2027-04-01" in line and "transport: graph" in line
        assert "EWSAllowedAppIDs" not in line
        profile.destination.store = "archive"
        with pytest.raises(ConnectError) as info:
            run_profile(profile)
        assert "pstimport importservice plan" in str(info.value)
        assert _wrote_nothing(sb)
    finally:
        sb.stop()


def test_on_premises_403_is_named_too(tmp_path, pst, monkeypatch):
    """An on-premises server whose EWS policy refuses the account gets its own line (no Exchange Online
    advice): the policy settings to check."""
    sb = Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, knobs=Knobs(ews_refusal="ews-disabled")).start()
    try:
        monkeypatch.setenv("PSTIMPORT_PASSWORD", PASSWORD)
        prof = Profile.new(
            name="t", mailbox=ALICE, sources=[pst], target="on-premises", ews_url=sb.ews_url, username=ALICE
        )
        with pytest.raises(ConnectError) as info:
            run_profile(prof)
        line = str(info.value)
        assert "the server refused EWS (HTTP 403)" in line and "EwsApplicationAccessPolicy" in line
        assert "Exchange Online" not in line
    finally:
        sb.stop()


def test_refusal_during_upload_is_permanent() -> None:
    """The batch path names the refusal too, and does not send the items again (permanent)."""
    err = upload_error(EwsRefused("https://outlook.office365.com/EWS/Exchange.asmx"))
    assert err.permanent and err.refused and not err.unknown_outcome  # type: ignore[attr-defined]
    assert "HTTP 403" in str(err) and "EWSAllowedAppIDs" in str(err)


def test_sandbox_serve_knob(tmp_path):
    """`pstimport sandbox serve --ews-refusal ews-disabled` answers EWS with 403 and an empty body,
    and leaves Autodiscover alone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "sandbox", "serve", "--state", str(tmp_path / "s"), "--user",
         f"{ALICE}:{PASSWORD}", "--ews-refusal", "ews-disabled"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        auth = (ALICE, PASSWORD)
        body = b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'
        ews = httpx.post(info["ews_url"], content=body, auth=auth, headers={"Content-Type": "text/xml"})
        assert (ews.status_code, ews.content) == (403, b"")
        autodiscover = httpx.post(info["autodiscover_url"], content=body, auth=auth)
        assert autodiscover.status_code != 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_headless_archive_on_graph_fails_in_preflight_with_the_routes(tmp_path, pst, cli, monkeypatch):
    """An Exchange Online archive profile on Graph (the default transport) stops in the preflight,
    exit 2, before signing in or uploading: one line with the routes that work (EWS while allowed,
    the Import Service plan command for this very profile)."""
    sb = _online_sandbox(tmp_path, monkeypatch)
    try:
        monkeypatch.setenv("PSTIMPORT_GRAPH_URL", sb.graph_url)
        prof = Profile.new(
            name="t",
            mailbox=ALICE,
            sources=[pst],
            auth_method="oauth-app",
            tenant_id=TENANT,
            client_id=APP_ID,
            destination={"store": "archive"},
        )
        assert prof.connection.transport == "graph"
        prof.connection.ca_bundle = str(sb.ca_cert)
        path = save_profile(prof, tmp_path / "archive.yaml", check=False)
        p = cli("run", str(path), "--headless")
        assert p.returncode == 2, p.stdout + p.stderr
        [line] = _error_lines(p.stderr)
        assert "cannot reach the archive" in line and "transport: ews" in line
        assert f"pstimport importservice plan {path}" in line
        assert sb.grants == [] and _wrote_nothing(sb)
    finally:
        sb.stop()


def test_refusal_mid_run_fails_the_rest_at_once(tmp_path, monkeypatch):
    """EWS refused while a run goes on (the tenant changes its policy, or 2027-04-01 passes): what was
    created stays, every other item fails with the refusal as its reason, and they are not each sent
    again to be refused again (a handful of 403s, not one per item)."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "many.pst"
    generate(str(pst), seed=9, mode="scale", items=40, mix="small")
    refused_after_first = {"armed": True}

    def watch(request: bytes, response: bytes) -> None:
        if refused_after_first["armed"] and b"CreateItem" in request and b"Success" in response:
            refused_after_first["armed"] = False
            sb.set_knobs(ews_refusal="ews-disabled")

    sb = Sandbox(tmp_path / "sb", users={ALICE: PASSWORD}, on_exchange=watch).start()
    try:
        monkeypatch.setenv("PSTIMPORT_PASSWORD", PASSWORD)
        prof = Profile.new(
            name="t", mailbox=ALICE, sources=[pst], target="on-premises", ews_url=sb.ews_url, username=ALICE,
            performance={"max_threads": 1, "batch_items": 5}, report={"directory": str(tmp_path / "reports")},
        )  # fmt: skip
        events: list = []
        # The counts after the run meet the same refusal: the folder is reported unverified with it, and the
        # report is still written (exit 1).
        result = run_profile(prof, events=events)
        assert result.exit_code == 1 and result.report_json and Path(result.report_json).is_file()
        rows = result.report["folders"]
        assert rows and all(r["status"] == "unverified" for r in rows)
        assert all("EWS refused (HTTP 403)" in r["error"] for r in rows)
        assert result.report["totals"]["unverified_folders"] == len(rows)
        imported = sum(type(e).__name__ == "ItemImported" for e in events)
        failed = [e for e in events if type(e).__name__ == "ItemFailed"]
        assert 5 <= imported < 40 and imported + len(failed) == 40
        assert len(stamped_items(sb)) == imported
        assert all("EWS refused (HTTP 403)" in e.reason for e in failed)
        assert sum(e.outcome == "forbidden" for e in sb.exchanges) <= 5
    finally:
        sb.stop()
