"""A transport for a profile, and connecting it within a bounded time.

`transport_factory` makes the profile's transport (settings from the profile, the secret from
`core.profile.secrets`). `connect_transport` connects it and runs its preflight, retrying what is
transient (the server busy, a dropped connection, an HTTP 5xx, a request that timed out) with the
same back-off as uploads, for at most `connection.timeout_seconds` (60 s by default) in all; each
request waits at most `REQUEST_TIMEOUT_SECONDS` (30 s) for an answer. When the faults last that long, or
the server accepts the connection and never answers, it gives up with `ServerUnavailable` (exit
code 75, `EXIT_TEMPFAIL`: try again later), never with the user-error code 2.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from core.errors import ConnectError, Interrupted, ServerBusy, ServerUnavailable, TransportError
from core.events import Connected, Connecting, Event
from core.profile.model import Profile
from core.redact import register_secret
from core.transport.base import ServerInfo, Transport

# An Autodiscover endpoint to ask instead of the DNS-derived ones (a lab, the sandbox, or a
# split-DNS site where autodiscover.<domain> does not resolve from the technician's box).
AUTODISCOVER_URL_ENV = "PSTIMPORT_AUTODISCOVER_URL"
AUTH_TYPE_ENV = "PSTIMPORT_EWS_AUTH"  # ntlm | basic; default: ask the server
# The Microsoft Graph endpoint (a national cloud, or the sandbox); default https://graph.microsoft.com.
GRAPH_URL_ENV = "PSTIMPORT_GRAPH_URL"

# connection.timeout_seconds when a profile does not say: connecting, preflight and retries in all.
DEFAULT_CONNECT_SECONDS = 60.0
# Back-off between attempts after a transient fault, as for uploads (core.engine.run): base * 2**n,
# capped; a busy answer's own back-off is honoured instead.
RETRY_BASE_SECONDS = 0.2
RETRY_MAX_SECONDS = 8.0
# While an attempt waits for an answer, a `Connecting(waiting=True)` event this often.
WAITING_EVENT_SECONDS = 5.0
# How often the caller's thread looks at `cancel` while an attempt runs.
POLL_SECONDS = 0.25


def _transient(exc: BaseException) -> tuple[bool, float]:
    """(worth another try, the back-off the server asked for) for a failure of `Transport.connect`."""
    if isinstance(exc, ConnectError):
        return exc.transient, exc.back_off_seconds
    if isinstance(exc, ServerBusy):
        return True, exc.back_off_seconds
    if isinstance(exc, TransportError):
        return not getattr(exc, "permanent", False), 0.0
    return False, 0.0


def _sign_in(transport: Transport, timeout_seconds: float, cancel: threading.Event) -> None:
    """`transport.sign_in()`, retried like a connect while the sign-in authority fails transiently."""
    start = time.monotonic()
    failures = 0
    while True:
        try:
            transport.sign_in()  # may wait for the user (a device code): that wait is not timed
            return
        except ConnectError as exc:
            if not exc.transient:
                raise
            failures += 1
            delay = exc.back_off_seconds or min(RETRY_BASE_SECONDS * 2**failures, RETRY_MAX_SECONDS)
            if time.monotonic() + delay - start >= timeout_seconds:
                raise ServerUnavailable(
                    f"signing in still failing after {failures} attempt(s) in {time.monotonic() - start:.0f} s "
                    f"(connection.timeout_seconds is {timeout_seconds:g}): {exc}. Try again later"
                ) from None
            if cancel.wait(delay):
                raise Interrupted("connecting was cancelled") from None


def connect_transport(
    transport: Transport,
    *,
    timeout_seconds: float = DEFAULT_CONNECT_SECONDS,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
) -> ServerInfo:
    """Sign in, connect and run the preflight, retrying transient faults for at most `timeout_seconds`.

    Each attempt runs on a helper thread, so a server that accepts the connection and then never
    answers cannot hold the caller past the limit whatever a library's own timeouts are. Events:
    `Connecting` at each attempt (and every few seconds while one waits), `Connected` at the end.

    Raises:
        ConnectError: a fault that another try cannot mend (credentials, mailbox, TLS, DNS...),
            or `ServerUnavailable` when transient faults or silence lasted `timeout_seconds`.
        Interrupted: `cancel` was set while connecting.
    """
    emit = on_event or (lambda event: None)
    cancel = cancel or threading.Event()
    _sign_in(transport, timeout_seconds, cancel)
    start = time.monotonic()  # the clock starts after the sign-in, which may wait for the user
    deadline = start + timeout_seconds
    attempt = failures = 0
    last_error: str | None = None
    while True:
        attempt += 1
        emit(Connecting(transport.endpoint, attempt, round(time.monotonic() - start, 1), timeout_seconds, last_error))
        transport.connect_deadline = deadline
        box: dict[str, Any] = {}

        def one_attempt(box: dict[str, Any] = box) -> None:
            try:
                box["info"] = transport.connect()
            except BaseException as failure:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = failure

        worker = threading.Thread(target=one_attempt, name="pstimport-connect", daemon=True)
        worker.start()
        next_reminder = time.monotonic() + WAITING_EVENT_SECONDS
        while worker.is_alive() and time.monotonic() < deadline:
            worker.join(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
            if cancel.is_set():
                raise Interrupted("connecting was cancelled")
            if worker.is_alive() and next_reminder <= time.monotonic() < deadline:
                next_reminder += WAITING_EVENT_SECONDS
                elapsed = round(time.monotonic() - start, 1)
                emit(Connecting(transport.endpoint, attempt, elapsed, timeout_seconds, last_error, waiting=True))
        transport.connect_deadline = None
        elapsed = time.monotonic() - start
        if worker.is_alive():
            raise ServerUnavailable(
                f"{transport.endpoint}: no answer within {timeout_seconds:g} s (connection.timeout_seconds)"
                + (f", after {attempt - 1} failed attempt(s): {last_error}" if last_error else "")
                + ": the server accepts connections but does not reply; check that this is the "
                "Exchange endpoint and that the server is healthy, then try again (or raise "
                "connection.timeout_seconds for a slow link)"
            )
        if "info" in box:
            info: ServerInfo = box["info"]
            emit(Connected(transport.endpoint, info.version, attempt, round(elapsed, 1)))
            return info
        exc = box["error"]
        transient, back_off = _transient(exc)
        if not transient:
            raise exc
        last_error = str(exc)
        if back_off > 0:  # busy: wait as asked; like a busy answer to an upload, not a failed attempt
            delay = back_off
        else:
            failures += 1
            delay = min(RETRY_BASE_SECONDS * 2**failures, RETRY_MAX_SECONDS)
        if time.monotonic() + delay >= deadline:
            raise ServerUnavailable(
                f"{transport.endpoint}: still failing after {attempt} attempt(s) in {elapsed:.0f} s "
                f"(connection.timeout_seconds is {timeout_seconds:g}): {last_error}. The server is "
                "reachable but busy or failing; nothing was imported. Try again later (exit code 75 "
                "means exactly this), or raise connection.timeout_seconds"
            ) from None
        if cancel.wait(delay):
            raise Interrupted("connecting was cancelled")


def transport_factory(
    profile: Profile,
    *,
    stdin: IO[str] | None = None,
    interactive: bool | None = None,
    show_device_code: Callable[[str], None] | None = None,
) -> Callable[[], Transport]:
    """A callable that makes the profile's transport. The secret is looked up now (it may prompt).

    `show_device_code` receives the device-code sign-in instructions (default: printed).
    """
    from core.profile.secrets import lookup_secret, primary_secret

    conn = profile.connection
    if conn.transport not in ("ews", "graph"):
        raise ConnectError(f"transport {conn.transport!r} is not available in this version; use transport: ews")
    secret = None
    if primary_secret(profile) is not None:
        if conn.auth.method == "oauth-app" and conn.auth.certificate:
            found = lookup_secret(profile, "certificate_password", optional=True, interactive=interactive)
        else:
            found = lookup_secret(profile, stdin=stdin, interactive=interactive)
        secret = found.value if found else None
        register_secret(secret)  # masked in every log line and error from now on

    def make_graph() -> Transport:
        from core.transport.graph.transport import GraphSettings, GraphTransport
        from core.transport.graph.wire import DEFAULT_BASE_URL

        return GraphTransport(
            GraphSettings(
                mailbox=profile.mailbox,
                store=profile.destination.store,
                method=conn.auth.method,
                username=conn.auth.username,
                secret=secret,
                tenant_id=conn.auth.tenant_id,
                client_id=conn.auth.client_id,
                certificate=profile.certificate_path(),
                base_url=os.environ.get(GRAPH_URL_ENV) or DEFAULT_BASE_URL,
                verify_tls=conn.verify_tls,
                ca_bundle=profile.ca_bundle_path(),
                show_device_code=show_device_code,
                profile_path=str(profile.path) if profile.path is not None else None,
            )
        )

    if not conn.verify_tls:
        from core.transport.tls import warn_unverified

        where = conn.ews_url or os.environ.get(GRAPH_URL_ENV) or ("Graph" if conn.transport == "graph" else "EWS")
        warn_unverified(where)
    if conn.transport == "graph":
        return make_graph

    def make() -> Transport:
        from core.transport.ews.transport import EwsSettings, EwsTransport

        return EwsTransport(
            EwsSettings(
                mailbox=profile.mailbox,
                store=profile.destination.store,
                discovery=conn.discovery,
                ews_url=conn.ews_url,
                autodiscover_url=os.environ.get(AUTODISCOVER_URL_ENV) or None,
                method=conn.auth.method,
                username=conn.auth.username,
                secret=secret,
                auth_type=os.environ.get(AUTH_TYPE_ENV) or None,
                tenant_id=conn.auth.tenant_id,
                client_id=conn.auth.client_id,
                certificate=profile.certificate_path(),
                impersonation=conn.impersonation,
                verify_tls=conn.verify_tls,
                ca_bundle=profile.ca_bundle_path(),
                max_connections=profile.performance.max_threads,
                show_device_code=show_device_code,
                target=conn.target,
                profile_path=str(profile.path) if profile.path is not None else None,
            )
        )

    return make
