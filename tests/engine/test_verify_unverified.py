"""Verification never ends without a report: a folder the server will not count is reported unverified."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from core.engine.limiter import AdaptiveLimiter
from core.engine.pool import CallPool
from core.errors import TransportError
from core.verify.counts import MailboxCounts, _row


class _Counting:
    """Our own Transport interface's counting call, with one folder the server keeps failing."""

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.calls: list[str] = []

    def count_and_stamps(self, handle):  # noqa: ANN001, ANN201
        self.calls.append(handle.id)
        if handle.id == self.broken:
            err = TransportError(f"ErrorItemNotFound: folder {handle.id} no longer exists")
            err.permanent = True  # type: ignore[attr-defined]
            raise err
        return 2, {"key:1": ["a"], "key:2": ["b"]}


def test_one_uncountable_folder_is_unverified_and_the_others_are_counted() -> None:
    """A folder the server cannot count (deleted meanwhile) gets status `unverified` with the server's
    reason, and every other folder is still counted, in parallel, as before."""
    transport = _Counting(broken="f2")
    pool = CallPool(3, AdaptiveLimiter(3), threading.Event(), on_busy=lambda exc: None)
    counts = MailboxCounts(transport, pool.map)
    handles = [SimpleNamespace(id=f"f{i}") for i in range(1, 5)]
    counts.prefetch(handles)
    fp = SimpleNamespace(source_path=("Inbox",), target_path=("P", "Inbox"), pst_items=2)
    rows = {
        h.id: _row("p.pst", fp, selected=2, imported=2, skipped=0, failed=0, mailbox=counts(h, "key")) for h in handles
    }
    assert rows["f2"]["status"] == "unverified" and "no longer exists" in rows["f2"]["error"]
    assert all(rows[f]["status"] == "ok" and "error" not in rows[f] for f in ("f1", "f3", "f4"))
    assert transport.calls.count("f2") >= 1 and {"f1", "f3", "f4"} <= set(transport.calls)
