"""`pstimport sandbox serve` with the Graph front end: graph_url in the first line, Graph knobs from the flags."""

from __future__ import annotations

import signal

import httpx

from tests.sandbox.conftest import ALICE, APP_ID, APP_SECRET, PASSWORD
from tests.sandbox.test_server_cli import start, stop


def test_serve_offers_graph_with_exchange_online_limits(tmp_path):
    """serve prints graph_url; --graph-limits with a small --upload-budget-mb refuses the upload over budget."""
    proc, info = start(
        tmp_path / "s",
        "--user", f"{ALICE}:{PASSWORD}", "--app", f"{APP_ID}:{APP_SECRET}",
        "--graph-limits", "--upload-budget-mb", "0.5", "--upload-window-s", "30",
    )  # fmt: skip
    try:
        graph_url = info["graph_url"]
        base = graph_url.removesuffix("/v1.0")
        form = {"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": APP_SECRET}
        token = httpx.post(f"{base}/contoso/oauth2/v2.0/token", data=form, timeout=10).json()["access_token"]
        client = httpx.Client(base_url=graph_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        body = {"subject": "s", "body": {"contentType": "text", "content": "x" * 300_000}}
        first = client.post(f"/users/{ALICE}/mailFolders/inbox/messages", json=body)
        second = client.post(f"/users/{ALICE}/mailFolders/inbox/messages", json=body)
        client.close()
        assert first.status_code == 201
        assert second.status_code == 429 and int(second.headers["Retry-After"]) > 1
    finally:
        assert stop(proc, signal.SIGTERM) == 0
