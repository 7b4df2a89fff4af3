"""Realism knobs: latency, throttling, dropped connections, HTTP 503, size limits.

Every random decision draws from one `random.Random(seed)`, in request order, so a
run with the same seed and the same (serial) requests meets the same faults.
Knobs can be changed while the server runs (`Sandbox.set_knobs`), so a test can switch
faults on in the middle of an import.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields, replace

# Exchange's defaults: EWS accepts requests up to maxAllowedContentLength (IIS, 64 MB on
# Exchange 2016/2019 after setup), and the organisation's MaxSendSize/MaxReceiveSize is
# 35 MB for new mailboxes on Exchange Online; on-premises the default is 10 MB.
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ITEM_BYTES = 35 * 1024 * 1024
# Microsoft Graph refuses request bodies over 4 MB (JSON, MIME, $batch, upload chunks).
GRAPH_MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Exchange Online's limits for Graph (the values tests and benchmarks switch on): Microsoft Graph
# "service-specific throttling limits", Outlook service: 4 concurrent requests, 10,000 API requests in
# a 10 minute period per app and mailbox, 150 MB uploaded (PATCH, POST, PUT) in a 5 minute period.
EXCHANGE_ONLINE_GRAPH = {
    "graph_max_concurrency": 4,
    "upload_budget_bytes": 150 * 1024 * 1024,
    "upload_window_s": 300.0,
    "graph_request_budget": 10_000,
    "graph_request_window_s": 600.0,
}
# Outlook runs up to this many of a $batch's requests at once ("Outlook service limits for JSON batching").
GRAPH_BATCH_PARALLEL = 4


@dataclass(frozen=True)
class Knobs:
    """The settings. Rates are probabilities per EWS request (0..1)."""

    latency_ms: int = 0  # added before every EWS answer
    busy_rate: float = 0.0  # ErrorServerBusy fault with BackOffMilliseconds
    busy_next: int = 0  # the next N EWS requests are refused as busy (deterministic, for tests)
    back_off_ms: int = 250  # the BackOffMilliseconds the busy fault asks for
    max_concurrency: int = 0  # EWS requests in flight per caller; 0 means unlimited (EWSMaxConcurrency)
    # How a request over max_concurrency is refused: ErrorServerBusy with back_off_ms (the default, as
    # the issue describes EWSMaxConcurrency), or Exchange Online's ErrorExceededConnectionCount fault.
    # Beware: exchangelib 5.6 answers ErrorExceededConnectionCount by shrinking its session pool, which
    # deadlocks when several threads share one Protocol and every session is checked out
    # (Protocol.decrease_poolsize holds its pool lock while get_session tries to grow the pool); the
    # engine does not guard against that yet, so it is opt-in here.
    concurrency_error: str = "ErrorServerBusy"
    drop_rate: float = 0.0  # close the connection without an answer
    error_rate: float = 0.0  # HTTP 503 Service Unavailable
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES  # bigger requests get HTTP 413
    max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES  # bigger items get ErrorMessageSizeExceeded
    item_error_rate: float = 0.0  # items of a CreateItem refused with ErrorItemSave (the rest of the batch lands)
    # A CreateItem holding an item whose Subject contains this text is refused as a whole with an
    # ErrorSchemaValidation fault, as Exchange refuses a request with one schema-invalid item ("": off).
    refuse_subject: str = ""
    seed: int = 0
    # Graph front end (latency, busy_* -> 429 with Retry-After, error_rate -> 503 and drop_rate are shared).
    graph_max_concurrency: int = 0  # requests in flight per app (or user) and mailbox; Exchange Online: 4
    upload_budget_bytes: int = 0  # bytes uploaded per mailbox per upload_window_s; 0 = off; Exchange Online: 150 MB
    upload_window_s: float = 300.0  # the sliding window of the upload budget (Exchange Online: 5 minutes)
    graph_request_budget: int = 0  # requests per app and mailbox per graph_request_window_s; 0 = off; EO: 10,000
    graph_request_window_s: float = 600.0  # the request budget's sliding window (Exchange Online: 10 minutes)
    graph_max_request_bytes: int = GRAPH_MAX_REQUEST_BYTES  # bigger Graph request bodies get 413
    graph_import_mime: bool = True  # the tenant offers beta importMime; False answers it with 403
    graph_fail_patch: bool = False  # PATCH of a message answers 500 (tests: a crash between importMime and PATCH)
    # Exchange Online refusing EWS by policy (core/transport/ews/refusal.py has the sources): every such
    # refusal is HTTP 403 with an empty body; the modes differ in whom they refuse.
    ews_refusal: str = ""  # "" | app-not-allowed | ews-disabled | licence-blocked (EWS_REFUSALS)
    ews_allowed_app_ids: tuple[str, ...] = ()  # app-not-allowed: the tenant's EWSAllowedAppIDs
    ews_blocked_mailboxes: tuple[str, ...] = ()  # licence-blocked: Kiosk/F1/F3-only mailboxes; () = every one


# What `ews_refusal` can be:
# - app-not-allowed: EWS refused to every app not on EWSAllowedAppIDs (Exchange Online since 2026-10-01),
#   and to sign-ins that name no app (Basic/NTLM);
# - ews-disabled: EWS refused to everybody (EWSEnabled false for the tenant, or after 2027-04-01);
# - licence-blocked: EWS refused for mailboxes licensed only Exchange Online Kiosk / F1 / F3
#   (since 2026-06-30), the ones in ews_blocked_mailboxes (every mailbox when it is empty).
EWS_REFUSALS = ("app-not-allowed", "ews-disabled", "licence-blocked")


def ews_refused(knobs: Knobs, app_id: str | None, mailbox: str) -> bool:
    """Whether the EWS access policy of `knobs` refuses a request by `app_id` acting on `mailbox`."""
    mode = knobs.ews_refusal
    if mode == "ews-disabled":
        return True
    if mode == "app-not-allowed":
        allowed = {a.lower() for a in knobs.ews_allowed_app_ids}
        return not app_id or app_id.lower() not in allowed
    if mode == "licence-blocked":
        blocked = {m.lower() for m in knobs.ews_blocked_mailboxes}
        return not blocked or mailbox.lower() in blocked
    return False


class KnobState:
    """The current knobs plus the seeded random source, behind a lock."""

    def __init__(self, knobs: Knobs) -> None:
        self._lock = threading.Lock()
        self._knobs = knobs
        self._rng = random.Random(knobs.seed)
        self._in_flight: dict[str, int] = {}
        self.peak_in_flight = 0  # the most requests of one caller in flight at once (tests read it)

    @property
    def knobs(self) -> Knobs:
        with self._lock:
            return self._knobs

    def update(self, **changes: object) -> Knobs:
        names = {f.name for f in fields(Knobs)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown knob(s): {', '.join(sorted(unknown))}")
        if changes.get("ews_refusal") not in (None, "", *EWS_REFUSALS):
            raise ValueError(f"ews_refusal: one of {', '.join(EWS_REFUSALS)}, not {changes['ews_refusal']!r}")
        with self._lock:
            self._knobs = replace(self._knobs, **changes)  # type: ignore[arg-type]
            if "seed" in changes:
                self._rng = random.Random(self._knobs.seed)
            return self._knobs

    def draw(self) -> str | None:
        """Decide the fate of one EWS request: None (serve it), 'busy', 'drop' or 'error'."""
        with self._lock:
            k = self._knobs
            if k.busy_next > 0:
                self._knobs = replace(k, busy_next=k.busy_next - 1)
                return "busy"
            # Always draw three numbers, so changing one rate does not shift the others' sequence.
            r_drop, r_error, r_busy = self._rng.random(), self._rng.random(), self._rng.random()
            if r_drop < k.drop_rate:
                return "drop"
            if r_error < k.error_rate:
                return "error"
            if r_busy < k.busy_rate:
                return "busy"
            return None

    def draw_item(self) -> bool:
        """True when one item of a CreateItem should fail (item_error_rate)."""
        with self._lock:
            if not self._knobs.item_error_rate:
                return False  # no draw, so switching this knob on does not shift the request faults before it
            return self._rng.random() < self._knobs.item_error_rate

    def enter(self, caller: str, limit: int | None = None) -> bool:
        """Count a request of `caller` in; False when that exceeds max_concurrency (the request is refused).

        Like Exchange's EWSMaxConcurrency, the limit is per caller (the authenticated account).
        `limit` overrides max_concurrency (the Graph front end passes graph_max_concurrency).
        """
        with self._lock:
            busy = self._in_flight.get(caller, 0)
            limit = self._knobs.max_concurrency if limit is None else limit
            if limit and busy >= limit:
                return False
            self._in_flight[caller] = busy + 1
            self.peak_in_flight = max(self.peak_in_flight, busy + 1)
            return True

    def leave(self, caller: str) -> None:
        with self._lock:
            self._in_flight[caller] -= 1
            if not self._in_flight[caller]:
                del self._in_flight[caller]
