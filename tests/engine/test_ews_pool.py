"""exchangelib's shared session pool under Exchange Online's ErrorExceededConnectionCount (EWS only).

exchangelib 5.6 answers that fault by shrinking its session pool while holding the pool lock,
which deadlocks once every session is checked out by upload threads. The transport keeps the
pool whole and hands the fault to the engine's limiter as a busy answer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import ALICE, PASSWORD, make_profile, run_profile, stamped_items

from core.events import Throttled
from core.sandbox.server.app import Sandbox
from core.sandbox.server.knobs import Knobs


@pytest.mark.timeout(240)
def test_exceeded_connection_count_under_max_threads_lands_every_item_once(tmp_path: Path) -> None:
    """Concurrency limit 2 answered with ErrorExceededConnectionCount, 6 threads: no hang, each item once."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=11, mode="scale", items=240, mix="small")
    knobs = Knobs(max_concurrency=2, concurrency_error="ErrorExceededConnectionCount", latency_ms=30)
    with Sandbox(tmp_path / "sandbox", users={ALICE: PASSWORD}, knobs=knobs) as sb:
        profile = make_profile(tmp_path, sb, [pst], threads=6, batch=4)
        events: list = []
        result = run_profile(profile, events=events)
        refused = [x for x in sb.exchanges if x.outcome == "refused"]
        found = stamped_items(sb)
    truth = json.loads(Path(str(pst) + ".truth.json").read_text())
    assert refused, "the sandbox should have refused requests over its concurrency limit"
    assert len(found) == len(truth["items"]) == 240
    assert all(len(v) == 1 for v in found.values()), "a duplicate was created"
    assert result.failed == 0 and result.exit_code == 0
    throttled = [e for e in events if isinstance(e, Throttled)]
    assert throttled and all("ErrorExceededConnectionCount" in e.reason for e in throttled)
    assert min(e.concurrency for e in throttled) <= 2, "the limiter should have come down to the server's limit"


@pytest.mark.timeout(120)
def test_transport_keeps_its_session_pool_whole_on_exceeded_connection_count(tmp_path: Path) -> None:
    """The fault on a lookup (exchangelib's own retry loop) becomes ServerBusy; the pool keeps every session."""
    from core.convert.payload import MimePayload
    from core.errors import ServerBusy
    from core.transport.ews.transport import EwsSettings, EwsTransport

    note = MimePayload(source_key="00ff:1", message_class="IPM.Note", mime=b"Subject: hi\r\n\r\nbody\r\n")

    with Sandbox(tmp_path / "sandbox", users={ALICE: PASSWORD}) as sb:
        transport = EwsTransport(
            EwsSettings(mailbox=ALICE, ews_url=sb.ews_url, username=ALICE, secret=PASSWORD, max_connections=4)
        )
        with transport:
            transport.connect()
            root = transport.store_root()
            pool = transport.account.protocol.session_pool_size
            sb.set_knobs(max_concurrency=1, concurrency_error="ErrorExceededConnectionCount")
            # Another client of the same account holds the only slot. The server counts a request out only
            # after its answer is written, so the previous one may still hold it for a moment: wait for it.
            deadline = time.monotonic() + 5
            while not sb._knobs.enter(ALICE):
                assert time.monotonic() < deadline, "the previous request never left the sandbox"
                time.sleep(0.01)
            try:
                with pytest.raises(ServerBusy, match="ErrorExceededConnectionCount"):
                    transport.count_items(root)
                with pytest.raises(ServerBusy, match="ErrorExceededConnectionCount"):
                    transport.create_items(root, [note])
            finally:
                sb._knobs.leave(ALICE)
            assert transport.account.protocol.session_pool_size == pool == 4
            sb.set_knobs(max_concurrency=0)
            assert [o.ok for o in transport.create_items(root, [note])] == [True]
            assert transport.count_items(root) == 1
