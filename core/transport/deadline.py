"""Request timeouts while connecting: every request of a connect ends by the connect's deadline.

`core.engine.connect.connect_transport` sets `Transport.connect_deadline` (a `time.monotonic()`)
while a transport connects; the transports cut each request's timeout with `request_timeout`, so
one silent server costs at most `REQUEST_TIMEOUT_SECONDS` per request and never more than the
connect time in all (exchangelib would wait 120 s per request, httpx 300 s for Graph).
"""

from __future__ import annotations

import time

# How long one request of the connect waits for an answer (less when less of the connect time is left).
REQUEST_TIMEOUT_SECONDS = 30.0


def request_timeout(deadline: float | None, default: float) -> float:
    """The timeout for one request: `default` outside a connect; while connecting (`deadline` set),
    cut to `REQUEST_TIMEOUT_SECONDS` and to what is left before `deadline`; at least one second."""
    if deadline is None:
        return default
    return max(1.0, min(default, REQUEST_TIMEOUT_SECONDS, deadline - time.monotonic()))
