"""The batch's one bound on payload bytes read ahead or in flight, shared by every mailbox's run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fleet import PASSWORD, SVC, write_template

from core.batch import BatchOptions, load_mapping, load_template, run_batch
from core.batch import runner as batch_runner
from core.engine.limiter import ByteBudget
from core.sandbox.pstwriter import generate
from core.sandbox.server.app import Sandbox

MAILBOXES = [f"mem{n}@sandbox.test" for n in range(1, 4)]


def test_budget_serves_waiters_in_arrival_order() -> None:
    """A big request that must wait is not overtaken by a small one that arrives after it and would fit."""
    budget = ByteBudget(10)
    assert budget.acquire(6)
    order: list[str] = []

    def take(name: str, size: int) -> None:
        assert budget.acquire(size)
        order.append(name)

    big = threading.Thread(target=take, args=("big", 8))
    big.start()
    while not budget._waiting:  # the big one is queued
        time.sleep(0.01)
    small = threading.Thread(target=take, args=("small", 1))
    small.start()
    time.sleep(0.3)
    assert order == [], "the small request went ahead of the big one that was waiting"
    budget.release(6)
    big.join(5)
    small.join(5)
    assert order == ["big", "small"]
    assert budget.used == 9 and budget.peak == 9


def test_budget_wait_ends_on_cancel() -> None:
    """A waiting request gives up when the run is cancelled, and leaves the queue."""
    budget = ByteBudget(4)
    assert budget.acquire(4)
    cancel = threading.Event()
    cancel.set()
    assert budget.acquire(2, cancel) is False
    assert not budget._waiting and budget.used == 4


class _Recording(ByteBudget):
    made: list[_Recording] = []

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.biggest = 0
        _Recording.made.append(self)

    def acquire(self, size: int, cancel: threading.Event | None = None) -> bool:
        self.biggest = max(self.biggest, size)
        return super().acquire(size, cancel)


def test_mailboxes_of_a_batch_share_one_byte_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three mailboxes importing PSTs with attachments at once stay within the batch's one bound (beyond it only
    a lone batch bigger than the bound), every item arrives, and no run used a budget of its own."""
    monkeypatch.setattr(batch_runner, "ByteBudget", _Recording)
    monkeypatch.setattr(batch_runner, "BATCH_BYTES_IN_FLIGHT", 3 * 1024 * 1024)
    _Recording.made = []
    psts = []
    for n, _mailbox in enumerate(MAILBOXES):
        p = tmp_path / f"att{n}.pst"
        generate(str(p), seed=700 + n, mode="scale", items=40)  # the default mix: 30% carry attachments
        psts.append(p)
    users = {m: PASSWORD for m in MAILBOXES} | {SVC: PASSWORD}
    with Sandbox(tmp_path / "sandbox", users=users) as sb:
        sb.store.grant_impersonation(SVC, MAILBOXES)
        csv = tmp_path / "map.csv"
        csv.write_text("path,mailbox\n" + "".join(f"{p},{m}\n" for p, m in zip(psts, MAILBOXES, strict=True)))
        template, _notes = load_template(write_template(tmp_path / "t.yaml", sb, tmp_path / "reports"))
        result = run_batch(template, load_mapping(csv), BatchOptions(parallel_mailboxes=3), lambda e: None)
    assert [o.status for o in result.outcomes] == ["ok"] * 3
    assert all(o.imported == 40 for o in result.outcomes)
    [budget] = _Recording.made
    assert budget.peak > 0, "the runs did not use the batch's budget"
    assert budget.peak <= max(budget.capacity, budget.biggest)
    assert budget.used == 0
