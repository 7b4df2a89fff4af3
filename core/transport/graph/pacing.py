"""Per-mailbox pacing for Graph: stay under Exchange Online's limits by waiting, not by being refused.

Exchange Online allows 4 concurrent requests per app and mailbox, and about 150 MB of uploads per
mailbox in 5 minutes (Graph throttling limits, Outlook service). A `MailboxPacer` holds both for one
mailbox: a slot per request in flight, and a sliding window of the upload bytes sent, so no window
of that length ever holds more than the budget (a single request larger than the budget goes
alone once the window is empty). Pacers are shared by every transport of the process that talks
to the same mailbox (the wizard's preflight and the run, or several PSTs into one mailbox).
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.transport.graph.wire import MAILBOX_CONCURRENCY, UPLOAD_BUDGET_BYTES, UPLOAD_BUDGET_WINDOW_S

# Overrides for a tenant with other limits, or a benchmark with a scaled window.
BUDGET_ENV = "PSTIMPORT_GRAPH_UPLOAD_BUDGET_MB"
WINDOW_ENV = "PSTIMPORT_GRAPH_UPLOAD_WINDOW_S"
CONCURRENCY_ENV = "PSTIMPORT_GRAPH_CONCURRENCY"
WINDOW_SLACK_S = 0.1
WINDOW_SLACK_SHARE = 0.01


@dataclass
class PacerStats:
    """What the pacer did, for reports and the pacing benchmark."""

    requests: int = 0
    upload_bytes: int = 0
    waits: int = 0
    waited_s: float = 0.0


class MailboxPacer:
    """At most `concurrency` requests in flight and `budget` upload bytes per `window` seconds."""

    def __init__(
        self,
        concurrency: int = MAILBOX_CONCURRENCY,
        budget: int = UPLOAD_BUDGET_BYTES,
        window: float = UPLOAD_BUDGET_WINDOW_S,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.budget = max(1, budget)
        self.window = max(0.001, window)
        # Our clock starts a request's bytes when it is sent, the server's when it arrives: a little
        # slack keeps two windows' worth from meeting in one of the server's.
        self.slack = max(WINDOW_SLACK_S, self.window * WINDOW_SLACK_SHARE)
        self.stats = PacerStats()
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._sent: collections.deque[tuple[float, int]] = collections.deque()
        self._in_window = 0
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the mailbox's concurrent-request slots for the duration of a request."""
        self._slots.acquire()
        try:
            with self._cond:
                self.stats.requests += 1
            yield
        finally:
            self._slots.release()

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now - self.window - self.slack:
            self._in_window -= self._sent.popleft()[1]

    def reserve(self, nbytes: int) -> float:
        """Wait until `nbytes` more upload bytes fit in the window, then count them. Returns the wait."""
        if nbytes <= 0:
            return 0.0
        started = time.monotonic()
        with self._cond:
            while True:
                now = time.monotonic()
                self._expire(now)
                if not self._sent or self._in_window + nbytes <= self.budget:
                    self._sent.append((now, nbytes))
                    self._in_window += nbytes
                    self.stats.upload_bytes += nbytes
                    waited = now - started
                    if waited > 0.001:
                        self.stats.waits += 1
                        self.stats.waited_s += waited
                    return waited
                # The oldest entry leaving the window is the earliest moment anything can change.
                self._cond.wait(max(0.001, self._sent[0][0] + self.window + self.slack - now))

    def in_window(self) -> int:
        """Upload bytes counted in the current window."""
        with self._cond:
            self._expire(time.monotonic())
            return self._in_window


_registry: dict[tuple[str, str], MailboxPacer] = {}
_registry_lock = threading.Lock()


def pacer_for(base_url: str, mailbox: str) -> MailboxPacer:
    """The process-wide pacer of one mailbox at one Graph endpoint (limits from the environment)."""
    key = (base_url.rstrip("/").lower(), mailbox.lower())
    with _registry_lock:
        pacer = _registry.get(key)
        if pacer is None:
            pacer = MailboxPacer(
                concurrency=int(os.environ.get(CONCURRENCY_ENV) or MAILBOX_CONCURRENCY),
                budget=int(float(os.environ.get(BUDGET_ENV) or UPLOAD_BUDGET_BYTES / 2**20) * 2**20),
                window=float(os.environ.get(WINDOW_ENV) or UPLOAD_BUDGET_WINDOW_S),
            )
            _registry[key] = pacer
        return pacer


def forget_pacers() -> None:
    """Drop every pacer (tests that restart a sandbox on a reused port)."""
    with _registry_lock:
        _registry.clear()
