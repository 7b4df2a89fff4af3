"""A thin Microsoft Graph HTTP client: httpx keep-alive, bearer tokens from msal, pacing, errors.

No Graph SDK: the transport uses a dozen endpoints, and an SDK would hide what we must control
(the exact JSON of a create, `$batch`, Retry-After, the upload byte budget). Every failure is
translated here into `core.errors` (STYLE.md "Adapters at the edge"):

- 429 and 503 → `ServerBusy` with the `Retry-After` wait (503 may follow work done, so it is also
  marked `unknown_outcome`);
- 401 → the token is renewed once and the request sent again; a second 401 is a `GraphError`;
- a connection that fails before the request went out → transient `TransportError`; one lost
  after it went out, a timeout or a 5xx → `unknown_outcome` (the engine looks items up by stamp);
- any other 4xx but 401, 408 (a timeout: `transient`) and 429 → `GraphError` with `permanent`: Graph
  judged the request, asking again changes nothing (and `too_large` for 413); a 403 whose code says
  throttled is a `ServerBusy`.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import ServerBusy, TransportError
from core.transport.deadline import request_timeout
from core.transport.graph.pacing import MailboxPacer
from core.transport.graph.wire import BATCH_MAX_REQUESTS

log = logging.getLogger(__name__)

HTTP_CREATED = 201
HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_TIMEOUT = 408
HTTP_TOO_LARGE = 413
HTTP_TOO_MANY = 429
HTTP_UNAVAILABLE = 503
DEFAULT_RETRY_AFTER = 1.0
TOKEN_RENEW_MARGIN_S = 300
CONNECT_TIMEOUT_S = 15.0
IO_TIMEOUT_S = 300.0
# Methods whose bodies count against the upload budget.
UPLOAD_METHODS = frozenset({"POST", "PUT", "PATCH"})


class GraphError(TransportError):
    """Graph answered with an error. `status` and `code` are Graph's; the message is one line."""

    def __init__(self, status: int, code: str, message: str, *, unknown_outcome: bool = False) -> None:
        super().__init__(f"HTTP {status} {code}: {message}" if code else f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.detail = message
        self.unknown_outcome = unknown_outcome
        self.permanent = 400 <= status < 500 and status not in (HTTP_UNAUTHORIZED, HTTP_TIMEOUT, HTTP_TOO_MANY)
        self.too_large = status == HTTP_TOO_LARGE or code in (
            "ErrorMessageSizeExceeded",
            "RequestEntityTooLarge",
        )
        self.transient = not self.permanent and status != HTTP_UNAUTHORIZED


def retry_after(headers: Any) -> float:
    """Seconds from a Retry-After header (absent or a date: the default)."""
    value = headers.get("Retry-After") or headers.get("retry-after") if headers else None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def _error_parts(status: int, body: Any) -> tuple[str, str]:
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body or b"{}")
        except ValueError:
            return "", " ".join(str(body[:200]).split())
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("code") or ""), " ".join(str(err.get("message") or "").split())[:300]
    return "", f"HTTP {status}"


def error_for(status: int, body: Any, headers: Any = None) -> TransportError:
    """The `core.errors` exception for a Graph error answer (top level or inside a $batch)."""
    code, message = _error_parts(status, body)
    if status in (HTTP_TOO_MANY, HTTP_UNAVAILABLE) or (status == HTTP_FORBIDDEN and "throttl" in code.lower()):
        busy = ServerBusy(f"Graph busy (HTTP {status}{' ' + code if code else ''})", retry_after(headers))
        busy.unknown_outcome = status == HTTP_UNAVAILABLE  # type: ignore[attr-defined]
        busy.status = status  # type: ignore[attr-defined]
        return busy
    return GraphError(status, code, message, unknown_outcome=status >= 500)


@dataclass(frozen=True)
class BatchAnswer:
    """One request's answer inside a `$batch`: `error` set unless its status was 2xx."""

    status: int
    body: Any
    error: TransportError | None


class GraphClient:
    """Requests to one Graph endpoint for one mailbox; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], dict],
        pacer: MailboxPacer,
        *,
        verify: bool | str = True,
        timeout: float = IO_TIMEOUT_S,
        first_token: dict | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        for suffix in ("/v1.0", "/beta"):
            if root.endswith(suffix):
                root = root[: -len(suffix)]
        self.root = root
        self._token_source = token
        self._token: str | None = None
        self._token_expires = 0.0
        if first_token is not None:  # the preflight's token: a device-code sign-in must not repeat
            self._keep(first_token)
        self._token_lock = threading.Lock()
        self.pacer = pacer
        # While connecting: the time.monotonic() by which requests must end (core.transport.deadline).
        self.deadline: Callable[[], float | None] = lambda: None
        self._timeout = timeout
        self._http = httpx.Client(
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            http1=True,
            http2=False,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=pacer.concurrency + 2, max_keepalive_connections=pacer.concurrency + 2),
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    def url(self, path: str, version: str = "v1.0") -> str:
        return path if path.startswith("http") else f"{self.root}/{version}/{path.lstrip('/')}"

    # ----- tokens -------------------------------------------------------------------------------

    def _bearer(self, renew: bool = False) -> str:
        with self._token_lock:
            if renew or self._token is None or time.monotonic() > self._token_expires:
                self._keep(self._token_source())
            assert self._token is not None
            return self._token

    def _keep(self, tok: dict) -> None:
        self._token = tok["access_token"]
        lifetime = int(tok.get("expires_in", 3600))
        self._token_expires = time.monotonic() + max(lifetime - TOKEN_RENEW_MARGIN_S, lifetime / 2)

    # ----- requests -----------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        version: str = "v1.0",
        auth: bool = True,
        weight: int = 1,
    ) -> httpx.Response:
        """One paced request; a 2xx answer is returned, anything else raised as `core.errors`.

        `weight` is how many Outlook requests it carries (a `$batch` of n: n): it counts that many
        against the request budget and holds up to that many concurrency slots (pacing.py).
        """
        body = content
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        url = self.url(path, version)
        for attempt in (0, 1):
            if auth:
                hdrs["Authorization"] = "Bearer " + self._bearer(renew=attempt > 0)
            with self.pacer.slot(weight):
                # Budgets are taken once the slot is held, right before the request leaves: the server
                # counts a request when it arrives, so counting it earlier (before a wait for a slot)
                # would let two windows' worth meet in one of the server's. Every request sent counts, a
                # refused one too ("all requests accrue against your usage limits", Graph throttling
                # guidance).
                if method in UPLOAD_METHODS and body:
                    self.pacer.reserve(len(body))
                self.pacer.reserve_requests(weight)
                response = self._exchange(method, url, body, hdrs, params)
            if response.status_code == HTTP_UNAUTHORIZED and auth and attempt == 0:
                continue  # the token expired or was revoked: once more with a fresh one
            break
        if response.status_code >= 300:
            raise error_for(response.status_code, response.content, response.headers)
        return response

    def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        params: dict[str, str] | None,
    ) -> httpx.Response:
        limit = self.deadline()
        extra: dict[str, Any] = {}
        if limit is not None:
            cut = request_timeout(limit, self._timeout)
            extra["timeout"] = httpx.Timeout(cut, connect=min(CONNECT_TIMEOUT_S, cut))
        try:
            return self._http.request(method, url, content=body, headers=headers, params=params, **extra)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the server: safe to send again.
            err = TransportError(f"cannot reach Graph at {self.root}: {_short(exc)}")
            err.unknown_outcome = False  # type: ignore[attr-defined]
            err.transient = True  # type: ignore[attr-defined]
            err.cause = exc  # type: ignore[attr-defined]
            raise err from None
        except httpx.HTTPError as exc:
            err = TransportError(f"connection to Graph lost: {type(exc).__name__}: {_short(exc)}")
            err.unknown_outcome = True  # type: ignore[attr-defined]
            err.transient = True  # type: ignore[attr-defined]
            err.cause = exc  # type: ignore[attr-defined]
            raise err from None

    def get(self, path: str, params: dict[str, str] | None = None, version: str = "v1.0") -> Any:
        return self.send("GET", path, params=params, version=version).json()

    def post(self, path: str, body: Any, version: str = "v1.0") -> Any:
        response = self.send("POST", path, json_body=body, version=version)
        return response.json() if response.content else {}

    def pages(self, path: str, params: dict[str, str] | None = None, version: str = "v1.0") -> Any:
        """Every `value` entry of a collection, following `@odata.nextLink`."""
        page = self.get(path, params=params, version=version)
        while True:
            yield from page.get("value", [])
            nxt = page.get("@odata.nextLink")
            if not nxt:
                return
            page = self.get(nxt)

    def batch(self, requests: Sequence[dict], version: str = "v1.0") -> list[BatchAnswer]:
        """Send up to 20 requests in one `$batch`; answers in the order of `requests`.

        Each request is `{"method", "url" (relative to the version root), "body"?, "headers"?}`.
        """
        if not requests:
            return []
        if len(requests) > BATCH_MAX_REQUESTS:
            raise ValueError(f"a Graph $batch holds at most {BATCH_MAX_REQUESTS} requests")
        wire = []
        for i, req in enumerate(requests):
            one = {"id": str(i + 1), "method": req["method"], "url": "/" + req["url"].lstrip("/")}
            if "body" in req:
                one["body"] = req["body"]
                one["headers"] = {"Content-Type": "application/json", **req.get("headers", {})}
            elif req.get("headers"):
                one["headers"] = req["headers"]
            wire.append(one)
        answer = self.send("POST", "$batch", json_body={"requests": wire}, version=version, weight=len(wire)).json()
        by_id = {str(r.get("id")): r for r in answer.get("responses", [])}
        out = []
        for i in range(len(requests)):
            r = by_id.get(str(i + 1))
            if r is None:
                err = TransportError("no answer for this request in the $batch")
                err.unknown_outcome = True  # type: ignore[attr-defined]
                out.append(BatchAnswer(0, None, err))
                continue
            status = int(r.get("status", 0))
            body = r.get("body")
            if isinstance(body, str) and body and status < 300:
                # Graph base64-encodes bodies that are not JSON.
                try:
                    body = json.loads(base64.b64decode(body))
                except ValueError:
                    pass
            error = None if 200 <= status < 300 else error_for(status, body, r.get("headers") or {})
            out.append(BatchAnswer(status, body, error))
        return out

    def upload(self, upload_url: str, data: bytes, chunk: int, max_busy: int = 50) -> None:
        """PUT `data` to an upload session in `chunk`-byte ranges (no Authorization header: the URL is
        the credential). A busy answer waits as asked and sends that range again."""
        total = len(data)
        pos = 0
        busy = 0
        while pos < total:
            end = min(pos + chunk, total)
            part = data[pos:end]
            headers = {
                "Content-Range": f"bytes {pos}-{end - 1}/{total}",
                "Content-Type": "application/octet-stream",
            }
            try:
                response = self.send("PUT", upload_url, content=part, headers=headers, auth=False)
            except ServerBusy as exc:
                busy += 1
                if busy > max_busy:
                    raise
                time.sleep(exc.back_off_seconds)
                continue
            pos = end
            if response.status_code == HTTP_CREATED:
                return  # the last range: the attachment exists
            # 200 with the ranges still expected (Graph may ask for a range again).
            ranges = (response.json() if response.content else {}).get("nextExpectedRanges") or []
            if ranges:
                pos = int(str(ranges[0]).split("-")[0])
            elif pos >= total:
                return

    def close(self) -> None:
        self._http.close()


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
