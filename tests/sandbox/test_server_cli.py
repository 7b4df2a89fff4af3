"""`pstimport sandbox serve` as a subprocess: its first line, clean stops, and kill -9 durability."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, ExtendedProperty, FailFast, Message
from exchangelib.protocol import close_connections

from core.mapi.props import PSETID_PstImport
from tests.conftest import REPO

USER = "kim@sandbox.test"
PASSWORD = "Kim-pw-5"


class SourceKey(ExtendedProperty):
    property_set_id = str(PSETID_PstImport)
    property_name = "PstImportSourceKey"
    property_type = "String"


def start(state: Path, *extra: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "sandbox", "serve", "--state", str(state), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"serve printed nothing: {proc.stderr.read()}")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=15)
    finally:
        proc.stdout.close()
        proc.stderr.close()


def test_first_line_and_clean_stop(tmp_path):
    """The first stdout line is the JSON of DESIGN.md; SIGINT and SIGTERM stop it with exit 0."""
    proc, info = start(tmp_path / "s1")
    assert set(info) == {"ews_url", "autodiscover_url", "graph_url", "ca_cert", "demo_password"}
    assert (
        info["ews_url"].startswith("http://127.0.0.1:")
        and info["graph_url"] == info["ews_url"].split("/EWS")[0] + "/v1.0"
    )
    assert stop(proc, signal.SIGINT) == 0
    proc, info = start(
        tmp_path / "s2",
        "--user",
        f"{USER}:{PASSWORD}",
        "--tls",
        "--hostname",
        "sandbox.test",
        "--dns",
        "--auth",
        "basic",
    )
    assert "demo_password" not in info and Path(info["ca_cert"]).is_file()
    assert info["ews_url"].startswith("https://") and info["dns_port"] > 0
    probe = requests.post(info["ews_url"], data=b"", timeout=10, verify=info["ca_cert"])
    assert probe.status_code == 401 and probe.headers["WWW-Authenticate"] == 'Basic realm="sandbox.test"'
    assert stop(proc, signal.SIGTERM) == 0


def test_bad_option_is_one_line(tmp_path):
    """A malformed --user is a usage error (exit 2) naming the option, without a traceback."""
    res = subprocess.run(
        [sys.executable, "-m", "core.cli", "sandbox", "serve", "--user", "nopassword"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "--user" in res.stderr and "Traceback" not in res.stderr


def test_kill_9_mid_upload_loses_nothing_acknowledged(tmp_path):
    """kill -9 during an upload: after a restart on the same state every acknowledged item is there."""
    state = tmp_path / "state"
    proc, info = start(state, "--user", f"{USER}:{PASSWORD}")
    Message.register("pst_source_key", SourceKey)
    acked: list[str] = []
    failure: list[BaseException] = []
    try:
        config = Configuration(
            service_endpoint=info["ews_url"],
            credentials=Credentials(USER, PASSWORD),
            auth_type=BASIC,
            retry_policy=FailFast(),
        )
        acc = Account(USER, config=config, autodiscover=False, access_type=DELEGATE)
        inbox = acc.inbox
        body = b"Subject: s\r\n\r\n" + b"x" * 20_000 + b"\r\n"

        def upload() -> None:
            n = 0
            try:
                while True:
                    keys = [f"k:{n + i}" for i in range(5)]
                    res = acc.bulk_create(
                        folder=inbox, items=[Message(folder=inbox, mime_content=body, pst_source_key=k) for k in keys]
                    )
                    for key, r in zip(keys, res, strict=True):
                        if not isinstance(r, Exception):
                            acked.append(key)
                    n += 5
            except Exception as exc:  # the server died under us: expected
                failure.append(exc)

        worker = threading.Thread(target=upload)
        worker.start()
        deadline = time.monotonic() + 30
        while len(acked) < 40 and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        worker.join(timeout=30)
        assert failure, "the upload should have been cut off by the kill"
        assert len(acked) >= 40
        close_connections()

        proc, info = start(state, "--user", f"{USER}:{PASSWORD}")
        config = Configuration(
            service_endpoint=info["ews_url"], credentials=Credentials(USER, PASSWORD), auth_type=BASIC
        )
        acc = Account(USER, config=config, autodiscover=False, access_type=DELEGATE)
        stored = {m.pst_source_key for m in acc.inbox.all().only("pst_source_key")}
        missing = [k for k in acked if k not in stored]
        assert not missing, f"{len(missing)} acknowledged items lost: {missing[:5]}"
        assert acc.inbox.total_count == len(stored) >= len(acked)
    finally:
        Message.deregister("pst_source_key")
        close_connections()
        if proc.poll() is None:
            stop(proc)


def test_stop_lets_a_request_in_progress_finish(tmp_path):
    """stop() waits for an answer being computed before it closes the store: the caller gets its 200."""
    from core.sandbox.server.app import Sandbox
    from tests.sandbox.test_server_faults import GET_INBOX

    sb = Sandbox(tmp_path / "s", users={USER: PASSWORD}).start()
    sb.set_knobs(latency_ms=600)
    session = requests.Session()
    answers: list[int] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            session.post(sb.ews_url, data=GET_INBOX, auth=(USER, PASSWORD), timeout=10).status_code
        )
    )
    slow.start()
    time.sleep(0.2)
    sb.stop()
    slow.join()
    assert answers == [200]
