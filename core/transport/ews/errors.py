"""exchangelib's exceptions translated into `core.errors`, with a cause and a suggested fix.

Two kinds: errors before any upload (connect, preflight) become `ConnectError` with one line a
technician can act on; errors during upload become `ServerBusy` (slow down, nothing was done)
or `TransportError` whose `unknown_outcome` says whether the server may have done the work (a
dropped connection after the request was sent), in which case the engine looks the items up by
their stamp before sending them again.
"""

from __future__ import annotations

import ssl

import requests.exceptions
from exchangelib import errors as ex

from core.errors import ConnectError, ServerBusy, TransportError
from core.transport.ews.refusal import EwsRefused, refused_upload

# How long to wait when the server says busy without saying for how long (seconds).
DEFAULT_BACK_OFF = 1.0
# How long to wait after ErrorExceededConnectionCount before the (fewer) requests go on.
CONCURRENCY_BACK_OFF = 0.2

_TLS_WORDS = ("certificate", "ssl", "tls", "handshake")


def _is_tls(exc: BaseException) -> bool:
    if isinstance(exc, (ssl.SSLError, requests.exceptions.SSLError)):
        return True
    text = str(exc).lower()
    return any(w in text for w in _TLS_WORDS) and "verify" in text or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def connect_error(
    exc: BaseException, *, url: str | None, user: str | None, mailbox: str, method: str, discovery: str
) -> ConnectError:
    """A one-line ConnectError for a failure during connect/preflight."""
    where = url or "the server"
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, ex.UnauthorizedError) or "401" in str(exc) and "credentials" in str(exc).lower():
        if method == "password":
            fix = (
                "check the user name and password (pstimport profile set-secret); on-premises Exchange "
                "signs in with NTLM or Basic, Exchange Online needs oauth-app or oauth-device"
            )
        else:
            fix = "check the tenant, client id and secret/certificate, and that the app has full_access_as_app"
        return ConnectError(f"{where}: the server refused the sign-in for {user or mailbox} (HTTP 401): {fix}")
    if isinstance(exc, (ex.ErrorImpersonateUserDenied, ex.ErrorImpersonationDenied)):
        return ConnectError(
            f"{where}: {user or 'this account'} may not impersonate {mailbox}: give it the "
            "ApplicationImpersonation role (New-ManagementRoleAssignment -Role ApplicationImpersonation "
            f"-User {user or 'ACCOUNT'}), or for an app the full_access_as_app permission, or turn "
            "impersonation off and grant FullAccess on the mailbox"
        )
    if isinstance(exc, (ex.ErrorNonExistentMailbox, ex.ErrorInvalidSmtpAddress, ex.ErrorMailRecipientNotFound)):
        return ConnectError(f"{where}: there is no mailbox {mailbox}: check the mailbox address in the profile")
    if isinstance(exc, ex.ErrorAccessDenied) or isinstance(exc, ex.ErrorItemNotFound):
        return ConnectError(
            f"{where}: {user or 'this account'} has no access to {mailbox}: grant FullAccess on the mailbox, "
            "or turn impersonation on with the ApplicationImpersonation role"
        )
    if isinstance(exc, ex.AutoDiscoverFailed):
        return ConnectError(
            f"Autodiscover found no EWS endpoint for {mailbox} ({exc}): set discovery: direct and ews_url, e.g. "
            "https://mail.example.com/EWS/Exchange.asmx"
        )
    if _is_tls(exc):
        return ConnectError(
            f"{where}: the TLS certificate was not accepted ({_short(exc)}): set ca_bundle to your CA's PEM "
            "file, or verify_tls: false for a lab server you trust"
        )
    if isinstance(
        exc, (requests.exceptions.ConnectionError, ex.ErrorTimeoutExpired, ConnectionError, requests.exceptions.Timeout)
    ):
        return ConnectError(
            f"{where}: cannot reach the server ({_short(exc)}): check the host name, port and firewall"
            + (", or use discovery: direct" if discovery == "autodiscover" else "")
        )
    cause = _network_cause(str(exc))
    if cause:
        return ConnectError(
            f"{where}: cannot reach the server ({cause}): check the host name, port and firewall"
            + (", or use discovery: direct" if discovery == "autodiscover" else "")
        )
    if isinstance(exc, ex.TransportError):
        return ConnectError(f"{where}: {_short(exc)}: check the EWS URL")
    return ConnectError(f"{where}: {type(exc).__name__}: {_short(exc)}")


class RequestTooLarge(Exception):
    """The server refused a request body as too large (HTTP 413)."""


_PERMANENT = tuple(
    getattr(ex, n)
    for n in (
        "ErrorSchemaValidation",
        "ErrorInvalidRequest",
        "ErrorInvalidPropertySet",
        "ErrorInvalidPropertyRequest",
        "ErrorInvalidExtendedProperty",
        "ErrorInvalidExtendedPropertyValue",
        "ErrorCorruptData",
        "ErrorRequestTooLarge",
        "ErrorMessageSizeExceeded",
        "ErrorInvalidValueForProperty",
        "ErrorInvalidMimeContent",
    )
    if hasattr(ex, n)
) + (ex.InvalidTypeError, TypeError, ValueError)


def upload_error(exc: BaseException) -> TransportError:
    """A ServerBusy or TransportError for a failed request during upload."""
    if isinstance(exc, EwsRefused):
        return refused_upload(exc)
    if isinstance(exc, ex.ErrorServerBusy) and str(exc) == "Caused by closed connection":
        # exchangelib's name for any non-200 answer that closes the connection: not a request to wait.
        err = TransportError("the server closed the connection")
        err.unknown_outcome = True  # type: ignore[attr-defined]
        return err
    if isinstance(exc, ex.ErrorServerBusy) and str(exc).startswith("Reraised from"):
        # exchangelib turns a dropped connection or a 503 into "busy" with its own 10 s wait;
        # the server asked for nothing, so: a 503 is a short busy, a drop an unknown outcome.
        if "503" in str(exc):
            busy = ServerBusy("server unavailable (HTTP 503)", DEFAULT_BACK_OFF)
            busy.unknown_outcome = True  # type: ignore[attr-defined]
            return busy
        err = TransportError(f"connection lost: {_short(exc)}")
        err.unknown_outcome = True  # type: ignore[attr-defined]
        return err
    if isinstance(exc, ex.ErrorServerBusy):
        back_off = exc.back_off if exc.back_off else DEFAULT_BACK_OFF
        return ServerBusy(f"server busy: {_short(exc)}", back_off)
    if isinstance(exc, ex.ErrorExceededConnectionCount):
        # Over EWSMaxConcurrency: the cure is fewer requests at once (the limiter halves), not a
        # long wait; Exchange Online itself suggests 0 ms.
        return ServerBusy(f"server busy: {type(exc).__name__} (too many requests at once)", CONCURRENCY_BACK_OFF)
    if isinstance(exc, ex.ErrorTooManyObjectsOpened):
        return ServerBusy(f"server busy: {type(exc).__name__}", DEFAULT_BACK_OFF)
    if isinstance(exc, ex.ErrorInternalServerTransientError) and "503" in str(exc):
        # 503 is the front end refusing before the mailbox server saw the request.
        busy = ServerBusy("server unavailable (HTTP 503)", DEFAULT_BACK_OFF)
        busy.unknown_outcome = True  # type: ignore[attr-defined]  # cheap to check, so check
        return busy
    if isinstance(exc, RequestTooLarge):
        # IIS refused the request body as too large before EWS read it: nothing was created.
        big = TransportError(str(exc))
        big.permanent = True  # type: ignore[attr-defined]
        big.too_large = True  # type: ignore[attr-defined]
        return big
    err = TransportError(f"{type(exc).__name__}: {_short(exc)}")
    # The server read the request and refused it as a whole: sending it again will not help,
    # but each item alone may go through (the engine splits the batch).
    err.permanent = isinstance(exc, _PERMANENT)  # type: ignore[attr-defined]
    # A dropped connection, a timeout or an HTTP 500 may come after the server did the work.
    err.unknown_outcome = True  # type: ignore[attr-defined]
    err.transient = not isinstance(exc, (ex.UnauthorizedError, ex.ErrorAccessDenied))  # type: ignore[attr-defined]
    return err


_NETWORK_CAUSES = (
    ("connection refused", "connection refused"),
    ("errno 111", "connection refused"),
    ("name or service not known", "unknown host name"),
    ("temporary failure in name resolution", "host name does not resolve"),
    ("nodename nor servname", "unknown host name"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("timed out", "timed out"),
    ("failed to establish a new connection", "connection failed"),
)


def _network_cause(text: str) -> str | None:
    low = text.lower()
    for needle, cause in _NETWORK_CAUSES:
        if needle in low:
            return cause
    return None


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
