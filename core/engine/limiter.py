"""Adaptive concurrency shared by all upload workers (AIMD).

A busy answer halves the number of requests allowed in flight and pauses every worker for
the back-off the server asked for; a run of calm answers lets one more request in, up to
`max_threads`. Several workers told "busy" at once count as one signal per back-off window.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class AdaptiveLimiter:
    def __init__(self, maximum: int, calm_to_grow: int = 8) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.in_flight = 0
        self.calm_to_grow = calm_to_grow
        self._calm = 0
        self._pause_until = 0.0
        self._last_cut = 0.0
        self._cond = threading.Condition()
        self.busy_signals = 0

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Wait for a slot; False when `cancel` was set meanwhile."""
        with self._cond:
            while True:
                if cancel is not None and cancel.is_set():
                    return False
                now = time.monotonic()
                if now < self._pause_until:
                    self._cond.wait(min(self._pause_until - now, 0.5))
                    continue
                if self.in_flight < self.limit:
                    self.in_flight += 1
                    return True
                self._cond.wait(0.5)

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def busy(self, back_off: float) -> int:
        """The server said busy: slow everyone down. Returns the new limit."""
        with self._cond:
            now = time.monotonic()
            self.busy_signals += 1
            if now - self._last_cut >= max(back_off, 0.05):
                self.limit = max(1, self.limit // 2)
                self._last_cut = now
            self._pause_until = max(self._pause_until, now + back_off)
            self._calm = 0
            return self.limit

    def success(self) -> None:
        with self._cond:
            self._calm += 1
            if self.limit < self.maximum and self._calm >= self.calm_to_grow:
                self.limit += 1
                self._calm = 0
                self._cond.notify_all()


class ByteBudget:
    """Bounds the payload bytes queued or in flight; a batch bigger than the budget goes alone.

    Waiters are served in arrival order, so when several runs share one budget (the mailboxes of
    `pstimport batch`) a big batch is not starved by a stream of small ones from the others.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()

    def acquire(self, size: int, cancel: threading.Event | None = None) -> bool:
        """Wait until `size` fits (or nothing else is held); False when `cancel` was set meanwhile."""
        with self._cond:
            ticket = object()
            self._waiting.append(ticket)
            try:
                while self._waiting[0] is not ticket or (self.used and self.used + size > self.capacity):
                    if cancel is not None and cancel.is_set():
                        return False
                    self._cond.wait(0.2)
                self.used += size
                self.peak = max(self.peak, self.used)
                return True
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def release(self, size: int) -> None:
        with self._cond:
            self.used -= size
            self._cond.notify_all()
