"""Retrying a read-only or idempotent transport call (lookups, counts, find-or-create folder) through busy
answers and transient failures, paced like the uploads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from core.engine.limiter import AdaptiveLimiter
from core.errors import Interrupted, ServerBusy, TransportError

T = TypeVar("T")
MAX_BUSY = 200
MAX_ERRORS = 12
BASE_SECONDS = 0.2


def retrying(
    fn: Callable[[], T],
    on_busy: Callable[[ServerBusy], None] | None = None,
    on_retry: Callable[[TransportError], None] | None = None,
    limiter: AdaptiveLimiter | None = None,
    cancel: threading.Event | None = None,
) -> T:
    """`fn()`, again after a busy answer (waiting as asked) or a transient error (backing off).

    A refusal the server judged (`permanent`) is raised at once. With `limiter`, each attempt takes
    one of its slots (the uploads' concurrency, halved by busy answers); `on_busy` is then the place to
    tell the limiter. With `cancel`, waiting for a slot stops with `Interrupted` once it is set.

    Safe only for calls without side effects, or whose repetition finds what the first did (a lookup,
    a count, find-or-create of a folder): a create of items may not be repeated blindly.
    """
    busy = errors = 0
    while True:
        if limiter is not None and not limiter.acquire(cancel):
            raise Interrupted("stopped as asked")
        try:
            result = fn()
        except ServerBusy as exc:
            if limiter is not None:
                limiter.release()
            busy += 1
            if on_busy is not None:
                on_busy(exc)
            if busy > MAX_BUSY:
                raise
            if limiter is None:
                time.sleep(exc.back_off_seconds)  # a limiter told of it pauses everyone instead
            continue
        except TransportError as exc:
            if limiter is not None:
                limiter.release()
            errors += 1
            if getattr(exc, "permanent", False) or errors >= MAX_ERRORS:
                raise
            if on_retry is not None:
                on_retry(exc)
            time.sleep(BASE_SECONDS * (2 ** min(errors, 4)))
            continue
        except BaseException:
            if limiter is not None:
                limiter.release()
            raise
        if limiter is not None:
            limiter.release()
            limiter.success()
        return result
