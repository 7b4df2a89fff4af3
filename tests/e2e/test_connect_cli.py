"""`pstimport run` against a server that never answers: progress while waiting, then exit 75 in time."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from helpers import make_profile

from core.profile.io import save_profile

TIKA = "tika_testPST.pst"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    srv.close()


@pytest.mark.ews_only("the silent server stands in for the EWS endpoint")
def test_run_against_a_silent_server_exits_75_in_time(tmp_path, sandbox, corpus_dir, cli, silent_port):
    """Headless: a 'waiting for an answer' line, then one stderr line and exit 75 after connection.timeout_seconds."""
    pst = tmp_path / TIKA
    shutil.copy(corpus_dir / TIKA, pst)
    prof = make_profile(tmp_path, sandbox, [pst], save=False)
    prof.connection.ews_url = f"http://127.0.0.1:{silent_port}/EWS/Exchange.asmx"
    prof.connection.timeout_seconds = 6
    save_profile(prof, tmp_path / "t.yaml", check=False)
    t0 = time.monotonic()
    p = cli("run", str(tmp_path / "t.yaml"), "--headless", timeout=60)
    took = time.monotonic() - t0
    assert p.returncode == 75, (p.stdout, p.stderr)
    assert took < 15, took
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "no answer within 6 s" in lines[0] and "Traceback" not in p.stderr, p.stderr
    assert "waiting for an answer" in p.stdout
    j = cli("run", str(tmp_path / "t.yaml"), "--json", timeout=60)
    assert j.returncode == 75
    events = [json.loads(x) for x in j.stdout.splitlines()]
    assert events[0]["event"] == "Connecting" and events[0]["attempt"] == 1
    assert any(e["event"] == "Connecting" and e["waiting"] for e in events)
