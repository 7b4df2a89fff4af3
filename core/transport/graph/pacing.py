"""Per-mailbox pacing for Graph: stay under Exchange Online's limits by waiting, not by being refused.

Exchange Online's Outlook limits (Microsoft Graph "Microsoft Graph service-specific throttling
limits", Outlook service limits):

- 4 requests executing at once;
- 10,000 API requests in a 10 minute period per app and mailbox;
- 150 MB uploaded (PATCH, POST, PUT) in a 5 minute period per mailbox. Sources disagree on whether
  the app is part of that key (microsoftgraph/microsoft-graph-docs-contrib pull request #9394, from
  a support case: "the 150 MB per 5-minute limit applies solely to a mailbox and is unaffected by
  using different apps"; #9428 reverted an Outlook throttling change as "Throttling is per
  application"), so nothing here counts on a second app registration raising it: the pacer is the
  mailbox's.

`$batch` does not escape them: "Requests in a batch are evaluated individually against the
applicable throttling limits" ("JSON batching"), and Outlook runs up to 4 of a batch's requests in
parallel ("Outlook service limits for JSON batching"). So a `$batch` of n requests holds
min(n, 4) of the mailbox's slots while it runs and counts n requests against the 10-minute budget;
its body counts against the upload budget.

A `MailboxPacer` keeps all three for one mailbox: slots for requests in flight (a batch takes its
share at once, so two batches cannot each hold half the slots and wait for the rest), and sliding
windows of the upload bytes and the requests sent, so no window of that length ever holds more
than its budget (a single request larger than the byte budget goes alone once the window is empty).
Pacers are shared by every transport of the process that talks to the same mailbox (the wizard's
preflight and the run, or several PSTs into one mailbox). A 429 that still comes (the server's clock
and ours differ, another client uses the same mailbox) is answered by its Retry-After (client.py).
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.transport.graph.wire import (
    MAILBOX_CONCURRENCY,
    REQUEST_BUDGET,
    REQUEST_BUDGET_WINDOW_S,
    UPLOAD_BUDGET_BYTES,
    UPLOAD_BUDGET_WINDOW_S,
)

# Overrides for a tenant with other limits, or a benchmark with a scaled window.
BUDGET_ENV = "PSTIMPORT_GRAPH_UPLOAD_BUDGET_MB"
WINDOW_ENV = "PSTIMPORT_GRAPH_UPLOAD_WINDOW_S"
CONCURRENCY_ENV = "PSTIMPORT_GRAPH_CONCURRENCY"
REQUEST_BUDGET_ENV = "PSTIMPORT_GRAPH_REQUEST_BUDGET"
REQUEST_WINDOW_ENV = "PSTIMPORT_GRAPH_REQUEST_WINDOW_S"
WINDOW_SLACK_S = 0.1
WINDOW_SLACK_SHARE = 0.01


@dataclass
class PacerStats:
    """What the pacer did, for reports and the pacing benchmark."""

    requests: int = 0  # HTTP requests sent (a $batch is one)
    outlook_requests: int = 0  # requests counted against the 10-minute budget (a $batch of n is n)
    upload_bytes: int = 0
    waits: int = 0  # waits for upload budget
    waited_s: float = 0.0
    request_waits: int = 0  # waits for request budget
    request_waited_s: float = 0.0


class _Window:
    """A sliding window: amounts sent at given times, at most `budget` in any `length` seconds."""

    def __init__(self, budget: int, length: float, slack: float) -> None:
        self.budget = max(1, budget)
        self.length = max(0.001, length)
        self.slack = slack
        self.sent: collections.deque[tuple[float, int]] = collections.deque()
        self.total = 0

    def expire(self, now: float) -> None:
        while self.sent and self.sent[0][0] <= now - self.length - self.slack:
            self.total -= self.sent.popleft()[1]

    def fits(self, amount: int) -> bool:
        return not self.sent or self.total + amount <= self.budget

    def add(self, now: float, amount: int) -> None:
        self.sent.append((now, amount))
        self.total += amount

    def next_change(self, now: float) -> float:
        """Seconds until the oldest entry leaves the window (the earliest moment anything can change)."""
        return max(0.001, self.sent[0][0] + self.length + self.slack - now)


class MailboxPacer:
    """At most `concurrency` requests in flight, `budget` upload bytes per `window` seconds and
    `request_budget` requests per `request_window` seconds."""

    def __init__(
        self,
        concurrency: int = MAILBOX_CONCURRENCY,
        budget: int = UPLOAD_BUDGET_BYTES,
        window: float = UPLOAD_BUDGET_WINDOW_S,
        request_budget: int = REQUEST_BUDGET,
        request_window: float = REQUEST_BUDGET_WINDOW_S,
    ) -> None:
        self.concurrency = max(1, concurrency)
        # Our clock starts a request when it is sent, the server's when it arrives: a little slack keeps
        # two windows' worth from meeting in one of the server's.
        self._bytes = _Window(budget, window, max(WINDOW_SLACK_S, window * WINDOW_SLACK_SHARE))
        self._requests = _Window(
            request_budget, request_window, max(WINDOW_SLACK_S, request_window * WINDOW_SLACK_SHARE)
        )
        self.stats = PacerStats()
        self._in_flight = 0
        self._cond = threading.Condition()

    @property
    def budget(self) -> int:
        return self._bytes.budget

    @property
    def window(self) -> float:
        return self._bytes.length

    @property
    def slack(self) -> float:
        return self._bytes.slack

    @property
    def request_budget(self) -> int:
        return self._requests.budget

    @property
    def request_window(self) -> float:
        return self._requests.length

    @contextmanager
    def slot(self, weight: int = 1) -> Iterator[None]:
        """Hold `weight` of the mailbox's concurrent-request slots (all at once) for one HTTP request:
        1 for a request, min(n, concurrency) for a $batch of n."""
        weight = max(1, min(weight, self.concurrency))
        with self._cond:
            while self._in_flight + weight > self.concurrency:
                self._cond.wait()
            self._in_flight += weight
            self.stats.requests += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= weight
                self._cond.notify_all()

    def reserve(self, nbytes: int) -> float:
        """Wait until `nbytes` more upload bytes fit in the window, then count them. Returns the wait."""
        if nbytes <= 0:
            return 0.0
        waited = self._reserve(self._bytes, nbytes)
        with self._cond:
            self.stats.upload_bytes += nbytes
            if waited > 0.001:
                self.stats.waits += 1
                self.stats.waited_s += waited
        return waited

    def reserve_requests(self, count: int = 1) -> float:
        """Wait until `count` more requests fit in the 10-minute window, then count them. Returns the wait."""
        if count <= 0:
            return 0.0
        waited = self._reserve(self._requests, count)
        with self._cond:
            self.stats.outlook_requests += count
            if waited > 0.001:
                self.stats.request_waits += 1
                self.stats.request_waited_s += waited
        return waited

    def _reserve(self, window: _Window, amount: int) -> float:
        started = time.monotonic()
        with self._cond:
            while True:
                now = time.monotonic()
                window.expire(now)
                if window.fits(amount):
                    window.add(now, amount)
                    return now - started
                self._cond.wait(window.next_change(now))

    def in_window(self) -> int:
        """Upload bytes counted in the current window."""
        with self._cond:
            self._bytes.expire(time.monotonic())
            return self._bytes.total

    def requests_in_window(self) -> int:
        """Requests counted in the current 10-minute window."""
        with self._cond:
            self._requests.expire(time.monotonic())
            return self._requests.total


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
                request_budget=int(os.environ.get(REQUEST_BUDGET_ENV) or REQUEST_BUDGET),
                request_window=float(os.environ.get(REQUEST_WINDOW_ENV) or REQUEST_BUDGET_WINDOW_S),
            )
            _registry[key] = pacer
        return pacer


def forget_pacers() -> None:
    """Drop every pacer (tests that restart a sandbox on a reused port)."""
    with _registry_lock:
        _registry.clear()
