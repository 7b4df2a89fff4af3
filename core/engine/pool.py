"""Many small transport calls at once (folder setup, the journal's stamp lookups, verification counts),
within `max_threads` and paced by the same AdaptiveLimiter as the uploads: a busy answer to one slows
all of them down, and each call is retried as `retrying` says.

At 100 ms per request, setting up 300 folders one request after another took a minute before the first
item went out, and counting them took another at the end; with four in flight it takes a quarter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from core.engine.limiter import AdaptiveLimiter
from core.engine.retry import retrying
from core.errors import ServerBusy, TransportError

T = TypeVar("T")
R = TypeVar("R")


class CallPool:
    """Runs transport calls from up to `threads` threads, each paced by `limiter` and retried."""

    def __init__(
        self,
        threads: int,
        limiter: AdaptiveLimiter,
        cancel: threading.Event,
        on_busy: Callable[[ServerBusy], None],
        on_retry: Callable[[TransportError], None] | None = None,
    ) -> None:
        """`on_busy` must tell `limiter` (`limiter.busy(back_off)`): that is what makes every call wait."""
        self.threads = max(1, threads)
        self.limiter = limiter
        self.cancel = cancel
        self.on_busy = on_busy
        self.on_retry = on_retry

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` in this thread, paced and retried."""
        return retrying(fn, self.on_busy, self.on_retry, limiter=self.limiter, cancel=self.cancel)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`[fn(x) for x in items]`, up to `threads` at once, each call paced and retried; results in order.

        The first failure is raised once the calls already running have finished; those not started
        are dropped.
        """
        todo = list(items)
        if len(todo) <= 1 or self.threads == 1:
            return [self.call(lambda x=x: fn(x)) for x in todo]
        with ThreadPoolExecutor(max_workers=min(self.threads, len(todo)), thread_name_prefix="calls") as ex:
            futures: list[Future[R]] = [ex.submit(self.call, lambda x=x: fn(x)) for x in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                for f in futures:
                    f.cancel()
                exc = failed.exception()
                assert exc is not None
                raise exc
            return [f.result() for f in futures]
