"""Retrying a read-only transport call (lookups, counts) through busy answers and dropped connections."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from core.errors import ServerBusy, TransportError

T = TypeVar("T")
MAX_BUSY = 200
MAX_ERRORS = 12
BASE_SECONDS = 0.2


def retrying(
    fn: Callable[[], T],
    on_busy: Callable[[ServerBusy], None] | None = None,
    on_retry: Callable[[TransportError], None] | None = None,
) -> T:
    """`fn()`, again after a busy answer (waiting as asked) or a transient error (backing off).

    Safe only for calls without side effects: a lookup may be repeated, a create may not.
    """
    busy = errors = 0
    while True:
        try:
            return fn()
        except ServerBusy as exc:
            busy += 1
            if on_busy is not None:
                on_busy(exc)
            if busy > MAX_BUSY:
                raise
            time.sleep(exc.back_off_seconds)
        except TransportError as exc:
            errors += 1
            if getattr(exc, "permanent", False) or errors >= MAX_ERRORS:
                raise
            if on_retry is not None:
                on_retry(exc)
            time.sleep(BASE_SECONDS * (2 ** min(errors, 4)))
