"""exchangelib's exceptions translated into `core.errors`, with a cause and a suggested fix.

Two kinds: errors before any upload (connect, preflight) become `ConnectError` with one line a
technician can act on; errors during upload become `ServerBusy` (slow down, nothing was done)
or `TransportError` whose `unknown_outcome` says whether the server may have done the work (a
dropped connection after the request was sent), in which case the engine looks the items up by
their stamp before sending them again.
"""

from __future__ import annotations

import html
import re
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
    if isinstance(exc, RequestRefused):
        return ConnectError(f"{where}: the server refused the request ({exc}): check the EWS URL")
    if isinstance(exc, ex.TransportError):
        return ConnectError(f"{where}: {_short(exc)}: check the EWS URL")
    return ConnectError(f"{where}: {type(exc).__name__}: {_short(exc)}")


class RequestTooLarge(Exception):
    """The server refused a request body as too large (HTTP 413)."""


class RequestRefused(Exception):
    """The server refused a request at the HTTP level, without a SOAP answer (e.g. 400 Bad Request)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status


# Response codes (MS-OXWSCDATA ResponseCodeType) that may succeed when the same request is sent again
# later: the server was busy, timed out, failed over or lost a backend. Every other code is the
# server's judgement of the request itself, which does not change by asking again.
TRANSIENT_CODES = frozenset(
    {
        "ErrorServerBusy",
        "ErrorTimeoutExpired",
        "ErrorInternalServerTransientError",
        "ErrorInternalServerError",
        "ErrorMailboxStoreUnavailable",
        "ErrorMailboxMoveInProgress",
        "ErrorMailboxFailover",
        "ErrorConnectionFailed",
        "ErrorConnectionFailedTransientError",
        "ErrorTooManyObjectsOpened",
        "ErrorBatchProcessingStopped",
        "ErrorExceededConnectionCount",
        "ErrorInsufficientResources",
        "ErrorADUnavailable",
        "ErrorProxyCallFailed",
        "ErrorProxyRequestProcessingFailed",
        "ErrorNoApplicableProxyCASServersAvailable",
    }
)
# Codes that say the item is too big for the server.
TOO_LARGE_CODES = frozenset({"ErrorMessageSizeExceeded", "ErrorRequestTooLarge", "ErrorExceededSize"})
# Refusals of the whole mailbox or folder, not of an item: no part of the batch would fare better alone.
_WHOLE_TARGET_CODES = frozenset(
    {
        "ErrorAccessDenied",
        "ErrorImpersonateUserDenied",
        "ErrorImpersonationDenied",
        "ErrorNonExistentMailbox",
        "ErrorQuotaExceeded",
        "ErrorFolderNotFound",
    }
)
# Codes of failures the server answered after working on the request, which may be tied to what the
# request holds (an internal error on one item, a batch that takes too long): tried once more, then
# the batch is split. The other TRANSIENT_CODES are the server's own state (store down, failover...).
_ANSWERED_CODES = frozenset({"ErrorInternalServerError", "ErrorTimeoutExpired", "ErrorBatchProcessingStopped"})
# A SOAP fault as exchangelib reports one it has no class for.
_SOAP_FAULT = re.compile(r"SOAP error code: (?P<code>\S*) string: (?P<string>.*?) actor: ")
# A SOAP fault inside an answer exchangelib could not read (it takes only `<?xml` or `<s:Envelope` for
# XML; gromox answers `<SOAP:Envelope ...>`, reported as "Unknown failure in response").
_FAULT_IN_BODY = re.compile(
    r"<faultcode[^>]*>(?P<code>[^<]*)</faultcode>\s*<faultstring[^>]*>(?P<string>[^<]*)</faultstring>"
)
_UNKNOWN_FAILURE = re.compile(r"Unknown failure in response\. Code: (?P<status>\d{3})")


def _soap_fault(exc: BaseException) -> tuple[str, str] | None:
    """(fault code, fault string) of a SOAP fault exchangelib could not map to an EWS response code."""
    if isinstance(exc, ex.MalformedResponseError):
        m = _FAULT_IN_BODY.search(str(exc))
        return (m["code"].strip(), html.unescape(m["string"]).strip()) if m else None
    if not isinstance(exc, ex.SOAPError):
        return None
    m = _SOAP_FAULT.search(" ".join(str(exc).split()))
    return (m["code"], m["string"]) if m else ("", _short(exc))


def _refused(message: str, *, split: bool = True) -> TransportError:
    """A deterministic refusal of the whole request: nothing was created, the same request fares the
    same. `split`: a part of the batch may go through alone (the engine halves it)."""
    err = TransportError(message)
    err.permanent = True  # type: ignore[attr-defined]
    err.split = split  # type: ignore[attr-defined]
    err.unknown_outcome = False  # type: ignore[attr-defined]
    err.transient = False  # type: ignore[attr-defined]
    return err


def _retryable(message: str, *, answered: bool = False) -> TransportError:
    """A failure that may not happen again (busy backend, timeout, dropped connection, 5xx), after which
    the items may nevertheless exist: the engine looks them up by stamp before sending them again.

    `answered`: the server worked on the request and failed it with a reason of its own (a 5xx with a
    SOAP Server fault, ErrorInternalServerError): often one item's doing, so after one more try the
    engine splits the batch rather than retrying it whole until it gives up on every item in it.
    """
    err = TransportError(message)
    err.permanent = False  # type: ignore[attr-defined]
    err.unknown_outcome = True  # type: ignore[attr-defined]
    err.transient = True  # type: ignore[attr-defined]
    err.answered = answered  # type: ignore[attr-defined]
    return err


def upload_error(exc: BaseException) -> TransportError:
    """A ServerBusy or TransportError for a failed request during upload.

    Classified as Exchange behaves: busy answers slow everyone down (ServerBusy); what may succeed
    when sent again (timeouts, dropped connections, 5xx, the codes in TRANSIENT_CODES) is retried
    after a stamp lookup; everything the server judged and refused (schema validation, ErrorInvalid*,
    SOAP Client faults, HTTP 4xx) is `permanent`: not retried, and the batch is split so only the
    refused item fails, with the server's own reason.
    """
    if isinstance(exc, EwsRefused):
        return refused_upload(exc)
    if isinstance(exc, ex.ErrorServerBusy) and str(exc) == "Caused by closed connection":
        # exchangelib's name for any non-200 answer that closes the connection: not a request to wait.
        return _retryable("the server closed the connection")
    if isinstance(exc, ex.ErrorServerBusy) and str(exc).startswith("Reraised from"):
        # exchangelib turns a dropped connection or a 503 into "busy" with its own 10 s wait;
        # the server asked for nothing, so: a 503 is a short busy, a drop an unknown outcome.
        if "503" in str(exc):
            busy = ServerBusy("server unavailable (HTTP 503)", DEFAULT_BACK_OFF)
            busy.unknown_outcome = True  # type: ignore[attr-defined]
            return busy
        return _retryable(f"connection lost: {_short(exc)}")
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
        big = _refused(str(exc))
        big.too_large = True  # type: ignore[attr-defined]
        return big
    if isinstance(exc, RequestRefused):
        # The HTTP adapter has already sent it once more on a new connection: refused twice.
        return _refused(f"the server refused the request ({exc})")
    fault = _soap_fault(exc)
    if fault is not None:
        code, string = fault
        if code.rpartition(":")[2].lower() == "client":
            # The SOAP 1.1 Client fault: the request as sent is wrong; the same bytes fail again.
            return _refused(f"{string} (SOAP fault {code})")
        return _retryable(f"{string} (SOAP fault {code or 'without a code'})", answered=True)
    if isinstance(exc, ex.MalformedResponseError):
        m = _UNKNOWN_FAILURE.search(str(exc))
        if m and m["status"].startswith("5"):
            return _retryable(f"the server failed the request (HTTP {m['status']})", answered=True)
    if isinstance(exc, ex.ResponseMessageError):
        code = type(exc).__name__
        text = f"{code}: {_short(exc)}"
        if code in TRANSIENT_CODES:
            return _retryable(text, answered=code in _ANSWERED_CODES)
        if code in TOO_LARGE_CODES:
            big = _refused(text)
            big.too_large = True  # type: ignore[attr-defined]
            return big
        return _refused(text, split=code not in _WHOLE_TARGET_CODES)
    if isinstance(exc, (ex.InvalidTypeError, TypeError, ValueError)):
        # The request could not be written (a value exchangelib refuses): an item alone may be fine.
        return _refused(f"{type(exc).__name__}: {_short(exc)}")
    err = _retryable(f"{type(exc).__name__}: {_short(exc)}")
    if isinstance(exc, (ex.UnauthorizedError, ex.ErrorAccessDenied)):
        err.transient = False  # type: ignore[attr-defined]
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
