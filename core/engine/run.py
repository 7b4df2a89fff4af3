"""`run(plan, on_event, cancel) -> RunResult`: the one entry point of an import.

Threads: the reader (this PST's pypff handle lives on it) reads, filters and converts items,
groups them into batches per target folder and puts them on a bounded queue; `max_threads`
upload workers take batches and send them through the transport, paced by one adaptive
limiter. The journal records each stamp as `sending` before a request and `done`/`failed`
after, so a crash anywhere leaves a state the next run settles by stamp lookups.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.convert import ConversionError, ConvertContext, RewriteOptions, convert, payload_kind
from core.convert.mime import item_date
from core.engine.connect import connect_transport
from core.engine.folders import resolve_folders
from core.engine.journal import Journal, server_journal_path
from core.engine.limiter import AdaptiveLimiter, ByteBudget
from core.engine.memory import release_free_memory, tune_malloc
from core.engine.plan import KIND_TO_TYPE, FolderPlan, Plan, SourcePlan
from core.engine.pool import CallPool
from core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, PstImportError, ServerBusy, TransportError
from core.events import (
    Event,
    FolderFinished,
    FolderPlanned,
    FolderStarted,
    ItemFailed,
    ItemImported,
    ItemSkipped,
    Progress,
    RunFinished,
    RunStarted,
    Throttled,
)
from core.pst import open_pst
from core.pst.model import UnreadableItem
from core.transport.base import FolderHandle, ServerInfo, Transport, is_unknown_outcome
from core.verify import verify_run

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Attempts of one batch after transport errors (busy answers are counted separately).
MAX_ATTEMPTS = 6
# Attempts of one batch (or part) the server failed with a reason of its own (a 5xx SOAP Server fault,
# ErrorInternalServerError) before it is split, or its lone item reported.
ANSWERED_ATTEMPTS = 2
MAX_BUSY = 200
RETRY_BASE_SECONDS = 0.2
PROGRESS_INTERVAL = 0.25
QUEUE_BATCHES_PER_THREAD = 2
# Payload bytes read ahead or in flight at once: this bounds the memory of the upload side whatever
# the PST (a request body is written while it is sent, so an item in flight costs about its MIME).
BYTES_IN_FLIGHT = 32 * MB
# Conversion notes kept word for word for the report; beyond this they are only counted (memory stays flat).
MAX_PROBLEMS_KEPT = 2000


@dataclass
class FolderStats:
    source: SourcePlan
    plan: FolderPlan
    selected: int = 0
    imported: int = 0
    skipped_existing: int = 0
    failed: int = 0
    unreadable: int = 0  # of `failed`: items the PST declares that could not be read
    bytes: int = 0
    outstanding: int = 0
    read_done: bool = False
    finished: bool = False


@dataclass
class Failure:
    pst: str
    source_path: tuple[str, ...]
    subject: str | None
    reason: str
    count: int = 1  # more than one for a part of the PST that could not be read


@dataclass
class RunResult:
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    would_import: int = 0
    bytes: int = 0
    interrupted: bool = False
    throttled: int = 0
    retries: int = 0
    recovered: int = 0
    folders: list[FolderStats] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    problems_total: int = 0
    address_rewriting: dict = field(default_factory=dict)
    started: datetime | None = None
    finished: datetime | None = None
    report: dict | None = None
    report_json: str | None = None
    report_html: str | None = None
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.failed or (self.report and self.report["totals"]["mismatched_folders"]):
            return EXIT_PARTIAL
        return EXIT_OK


@dataclass
class _Batch:
    stats: FolderStats
    folder: FolderHandle
    payloads: list
    size: int


class _Engine:
    def __init__(self, plan: Plan, on_event: Callable[[Event], None], cancel: threading.Event) -> None:
        self.plan = plan
        self.cancel = cancel
        self._emit_lock = threading.Lock()
        self._on_event = on_event
        self._lock = threading.Lock()
        self.result = RunResult()
        perf = plan.profile.performance
        self.max_threads = perf.max_threads
        self.batch_items = perf.batch_items
        self.batch_bytes = perf.batch_megabytes * MB
        self.limiter = AdaptiveLimiter(perf.max_threads)
        self.budget = plan.byte_budget or ByteBudget(max(BYTES_IN_FLIGHT, self.batch_bytes))
        self.queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=perf.max_threads * QUEUE_BATCHES_PER_THREAD)
        self.transport: Transport | None = None
        self.journal: Journal | None = None
        self.stats: list[FolderStats] = []
        self.items_total = 0
        self.bytes_total = 0
        self.items_done = 0
        self.bytes_done = 0
        self.reader_error: BaseException | None = None
        self.server: ServerInfo | None = None
        # Folder setup, the journal's stamp lookups and verification: within max_threads, paced by the
        # same limiter as the uploads.
        self.calls = CallPool(perf.max_threads, self.limiter, cancel, self._throttled, self._retried)
        # Problems noted when an item was read, by stamp: what the transport adds while creating it
        # (e.g. attendees Graph cannot carry) is noted once it is created.
        self._problems_seen: dict[str, int] = {}

    def emit(self, event: Event) -> None:
        with self._emit_lock:
            try:
                self._on_event(event)
            except BrokenPipeError:  # our output was closed (`| head`): stop as Ctrl-C would, quietly
                self.cancel.set()
            except Exception:  # noqa: BLE001 - a UI failing must not break the import
                log.exception("event handler failed")

    # ----- setup ----------------------------------------------------------------------------

    def resolve_folders(self) -> None:
        """Find or create every target folder, level by level, within max_threads (before uploads)."""
        assert self.transport is not None
        resolve_folders(self.plan, self.transport, self.calls)

    def open_journal(self) -> Journal:
        """The journal of this profile, mailbox and store on the server connected to."""
        assert self.server is not None
        journal = Journal(server_journal_path(self.plan.journal_path, self.server.url))
        if journal.meta("server") is None:
            journal.set_meta("server", self.server.url)
        return journal

    def recover(self) -> None:
        """Make the journal agree with the server before anything is sent, one folder at a time (in parallel).

        - stamps left 'sending' by an interrupted run are looked up: found ones are done, others unsent;
        - a folder the journal never saw (first run, lost journal) is listed by stamp: what carries
          our stamp there is imported already;
        - a folder holding fewer items than the journal says were imported there (emptied by hand,
          or a new server at the same address) is listed by stamp too, and what is not there any more
          is forgotten, so it is sent again. The server is the truth; the journal only saves requests.
        """
        j = self.journal
        assert j is not None and self.transport is not None
        handles = {fp.folder_id: fp.handle for _s, fp in self.plan.folders if fp.folder_id}
        sending = j.in_flight()
        recovered = self.calls.map(lambda fid: self._reconcile(fid, handles[fid], sending.get(fid, [])), handles)
        self.result.recovered += sum(recovered)

    def _reconcile(self, folder_id: str, handle: FolderHandle, sending: list[str]) -> int:
        """One folder of `recover`; returns how many 'sending' stamps turned out to be on the server."""
        j, t = self.journal, self.transport
        assert j is not None and t is not None
        done = j.done_in(folder_id)
        known = j.knows_folder(folder_id)
        count = handle.item_count
        if count is None and (known or done):
            count = t.count_items(handle)
        if count == 0 or (known and not sending and count is not None and count >= len(done)):
            found: dict[str, list[str]] = {}  # empty, or nothing to suspect: no lookup
        elif known and count is not None and count >= len(done):
            found = t.find_stamps(handle, sending)
        else:
            # Never seen, or fewer items than the journal says: list every stamp in the folder.
            found = t.find_stamps(handle)
            gone = done - found.keys()
            if gone:
                log.info("%d item(s) the journal had as imported are not in %s: sent again", len(gone), handle.path)
            j.forget(sorted(gone))
        if count == 0 and done:
            j.forget(sorted(done))
        j.mark_done([(s, ids[0]) for s, ids in found.items()], folder_id)
        j.forget([s for s in sending if s not in found])
        j.remember_folder(folder_id)
        return sum(1 for s in sending if s in found)

    def _with_retries(self, fn: Callable[[], Any]) -> Any:
        return self.calls.call(fn)

    def _retried(self, exc: TransportError) -> None:
        with self._lock:
            self.result.retries += 1

    def _throttled(self, exc: ServerBusy) -> None:
        limit = self.limiter.busy(exc.back_off_seconds)
        with self._lock:
            self.result.throttled += 1
        self.emit(Throttled(back_off_seconds=exc.back_off_seconds, concurrency=limit, reason=str(exc)))

    # ----- reader -------------------------------------------------------------------------------

    def read(self) -> None:
        try:
            for source in self.plan.sources:
                if self.cancel.is_set():
                    break
                self._read_source(source)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.reader_error = exc
            self.cancel.set()
        finally:
            for _ in range(self.max_threads):
                self.queue.put(None)

    def _read_source(self, source: SourcePlan) -> None:
        profile = self.plan.profile
        filters = profile.filters
        types = set(filters.item_types)
        by_node = {st.plan.node_id: st for st in self.stats if st.source is source}
        with open_pst(source.path, source.codepage) as pst:
            options = RewriteOptions.from_profile(profile.address_rewriting)
            resolve = self.transport.resolve_name if self.transport is not None else None
            ctx = ConvertContext.for_pst(pst, options, resolve_name=resolve, learn=profile.address_rewriting.enabled)
            for folder in pst.folders():
                st = by_node.get(folder.node_id)
                if st is None:
                    continue
                if self.cancel.is_set():
                    return
                fp = st.plan
                self.emit(FolderStarted(pst=source.label, source_path=fp.source_path, target_path=fp.target_path))
                done: set[str] = set()
                series_complete: set[str] = set()
                if self.journal is not None and fp.folder_id:
                    done = self.journal.done_in(fp.folder_id)
                    series_complete = self.journal.series_completed()
                batch: list = []
                batch_size = 0
                for item in pst.items(folder):
                    if self.cancel.is_set():
                        return
                    if isinstance(item, UnreadableItem):
                        st.selected += item.count
                        self._fail(st, None, f"{item.where}: unreadable: {item.reason}", item.count, unreadable=True)
                        continue
                    kind = payload_kind(item.message_class)
                    if KIND_TO_TYPE.get(kind, "mail") not in types or not filters.accepts_date(item_date(item)):
                        continue
                    st.selected += 1
                    stamp = f"{source.store_key}:{item.node_id}"
                    if stamp in done:
                        if stamp not in series_complete and kind == "appointment":
                            self._resume_series(st, fp, item, ctx, stamp)
                        with self._lock:
                            st.skipped_existing += 1
                            self.result.skipped += 1
                            self.items_done += 1
                        self.emit(ItemSkipped(pst=source.label, source_path=fp.source_path, reason="already imported"))
                        continue
                    try:
                        payload = convert(item, ctx)
                    except ConversionError as exc:
                        self._fail(st, item.subject, str(exc))
                        continue
                    if not self.plan.dry_run:
                        # Hand the GIL to an upload thread waiting for it (an answer to read, a journal write)
                        # now, not when the interpreter forces a switch after up to 5 ms of converting: 4
                        # threads at 50 ms latency went from ~80% to ~86% of the ideal.
                        time.sleep(0)
                    size = max(payload.size, 1)
                    if self.transport is not None and size > self.transport.max_item_bytes:
                        self._fail(
                            st,
                            item.subject,
                            f"too large for the server ({size // MB} MB > "
                            f"{self.transport.max_item_bytes // MB} MB limit); skipped",
                        )
                        continue
                    if payload.problems:
                        self._note_problems(source.label, item.where, payload.problems)
                    self._problems_seen[payload.source_key] = len(payload.problems)
                    if self.plan.dry_run:
                        with self._lock:
                            self.result.would_import += 1
                            self.result.bytes += size
                            st.imported += 1
                            st.bytes += size
                            self.items_done += 1
                            self.bytes_done += size
                        continue
                    if batch and (len(batch) >= self.batch_items or batch_size + size > self.batch_bytes):
                        self._put(st, fp, batch, batch_size)
                        batch, batch_size = [], 0
                    batch.append(payload)
                    batch_size += size
                if batch:
                    self._put(st, fp, batch, batch_size)
                with self._lock:
                    st.read_done = True
                self._maybe_finish(st)
                release_free_memory()  # libpff's item tree of the folder just read
            if ctx.resolver is not None:
                self._add_rewrite_stats(ctx.resolver.stats.to_dict())
            self._damage(source, pst.notes, pst.losses)

    def _damage(self, source: SourcePlan, notes: list[str], losses: list[str]) -> None:
        """What the reader found damaged in a PST: notes for what it read past, and a failure for
        each part whose items it could not even count (so the run cannot end as a success)."""
        if notes:
            self._note_problems(source.label, "damaged file", list(dict.fromkeys(notes)))
        first = next((st for st in self.stats if st.source is source), None)
        for loss in dict.fromkeys(losses):
            if first is not None:
                self._fail(first, None, f"damaged file: {loss}", unreadable=True)

    def _note_problems(self, label: str, where: str, problems: list[str]) -> None:
        """Keep what conversion lost or could not do, for the report (the first few thousand in full)."""
        with self._lock:
            for problem in problems:
                self.result.problems_total += 1
                if len(self.result.problems) < MAX_PROBLEMS_KEPT:
                    self.result.problems.append(f"{label}: {where}: {problem}")

    def _add_rewrite_stats(self, stats: dict) -> None:
        """Sum one PST's address-rewriting counts into the run's."""
        total = self.result.address_rewriting
        for key in ("rewritten", "failed"):
            bucket = total.setdefault(key, {})
            for source, n in stats.get(key, {}).items():
                bucket[source] = bucket.get(source, 0) + n
        for key in ("unresolved", "ambiguous", "learn_problems"):
            total.setdefault(key, []).extend(stats.get(key, [])[:MAX_PROBLEMS_KEPT])

    def _put(self, st: FolderStats, fp: FolderPlan, payloads: list, size: int) -> None:
        with self._lock:
            st.outstanding += 1
        b = _Batch(st, fp.handle, payloads, size)
        if self.budget.acquire(size, self.cancel):
            while not self.cancel.is_set():
                try:
                    self.queue.put(b, timeout=0.2)
                    return
                except queue.Full:
                    continue
            self.budget.release(size)
        with self._lock:
            st.outstanding -= 1

    def _fail(
        self, st: FolderStats, subject: str | None, reason: str, count: int = 1, *, unreadable: bool = False
    ) -> None:
        with self._lock:
            st.failed += count
            if unreadable:
                st.unreadable += count
            self.result.failed += count
            self.items_done += count
            self.result.failures.append(Failure(st.source.label, st.plan.source_path, subject, reason, count))
        where = {"pst": st.source.label, "source_path": st.plan.source_path}
        self.emit(ItemFailed(**where, subject=subject, reason=reason, count=count))

    def _maybe_finish(self, st: FolderStats) -> None:
        with self._lock:
            if st.finished or not st.read_done or st.outstanding:
                return
            st.finished = True
        self.emit(
            FolderFinished(
                pst=st.source.label,
                source_path=st.plan.source_path,
                imported=st.imported,
                skipped=st.skipped_existing,
                failed=st.failed,
            )
        )

    # ----- upload workers -----------------------------------------------------------------------

    def work(self) -> None:
        while True:
            batch = self.queue.get()
            if batch is None:
                return
            try:
                if not self.cancel.is_set():
                    self._send(batch)
            except Exception as exc:  # noqa: BLE001 - one batch's failure is reported, the run goes on
                log.exception("batch failed")
                for p in batch.payloads:
                    self._fail(batch.stats, p.subject, f"{type(exc).__name__}: {exc}")
            finally:
                self.budget.release(batch.size)
                with self._lock:
                    batch.stats.outstanding -= 1
                self._maybe_finish(batch.stats)

    def _send(self, batch: _Batch) -> None:
        j = self.journal
        assert j is not None
        src = "/".join(batch.stats.plan.source_path)
        j.mark_sending(batch.folder.id, src, [(p.source_key, p.size) for p in batch.payloads])
        self._send_part(batch, list(batch.payloads))

    def _send_part(self, batch: _Batch, payloads: list) -> None:
        """Send `payloads` (a batch, or a part of one the server refused as a whole) until each is done or failed.

        A refusal of the whole request that the server judged (`permanent`) is not retried: the part is
        halved and each half sent on its own, down to the item that makes it fail, which is reported
        with the server's reason. Halving finds one bad item of n in about 2 log2(n) requests instead of
        n, and the good ones go on in few requests. A failure the server answered with a reason of its own
        (`answered`: a 5xx fault) is tried once more, then halved the same way. Busy answers, timeouts and
        lost connections are retried; after one whose outcome is unknown, the items are looked up by stamp
        first.
        """
        j, t = self.journal, self.transport
        assert j is not None and t is not None
        st, folder = batch.stats, batch.folder
        pending = {p.source_key: p for p in payloads}
        attempts = busy = 0
        last_error = ""
        while pending:
            if not self.limiter.acquire(self.cancel):
                return  # still 'sending' in the journal: the next run settles them by stamp
            try:
                outcomes = t.create_items(folder, list(pending.values()))
            except ServerBusy as exc:
                self.limiter.release()
                self._throttled(exc)
                busy += 1
                if is_unknown_outcome(exc):
                    self._settle(batch, pending)
                if busy > MAX_BUSY:
                    last_error = str(exc)
                    break
                continue
            except TransportError as exc:
                self.limiter.release()
                last_error = str(exc)
                if getattr(exc, "permanent", False):
                    # A refusal of the whole mailbox (a policy) or folder is no item's doing: not split.
                    if len(pending) > 1 and getattr(exc, "split", not getattr(exc, "refused", False)):
                        self._halve(batch, list(pending.values()))
                        return
                    if getattr(exc, "too_large", False) and len(pending) == 1:
                        last_error = f"too large for the server; skipped ({exc})"
                    break
                attempts += 1
                with self._lock:
                    self.result.retries += 1
                if getattr(exc, "answered", False) and attempts >= ANSWERED_ATTEMPTS:
                    # The server failed this request twice with a reason of its own: likely one item's
                    # doing. What it wrote before failing is done; the rest is halved like a refusal.
                    self._settle(batch, pending)
                    if len(pending) > 1:
                        self._halve(batch, list(pending.values()))
                        return
                    break
                if attempts >= MAX_ATTEMPTS:
                    self._settle(batch, pending)
                    break
                time.sleep(RETRY_BASE_SECONDS * (2**attempts))
                # Whatever failed may have failed after the server wrote the items: look first.
                self._settle(batch, pending)
                continue
            self.limiter.release()
            self.limiter.success()
            done, failed = [], []
            for o in outcomes:
                payload = pending.get(o.source_key)
                if payload is None:
                    continue
                if o.ok:
                    done.append((o.source_key, o.item_id))
                    del pending[o.source_key]
                    self._imported(st, payload)
                elif not o.transient:
                    failed.append((o.source_key, o.error or "refused"))
                    del pending[o.source_key]
                    reason = o.error or "refused"
                    if o.too_large:
                        reason = f"too large for the server; skipped ({reason})"
                    self._fail(st, payload.subject, reason)
                else:
                    last_error = o.error or "transient error"
            if done:
                j.mark_done(done)
                for key, item_id in done:
                    self._complete_series(st, folder, key, item_id, batch.payloads)
            if failed:
                j.mark_failed(failed)
            back_off = max((o.back_off for o in outcomes if o.back_off and o.source_key in pending), default=0.0)
            if pending and back_off:
                # Items refused as busy inside the request: slow every worker down and wait as asked;
                # like a busy answer to the whole request, this is not a failed attempt.
                self._throttled(ServerBusy(f"server busy for {len(pending)} item(s) of a batch", back_off))
                busy += 1
                if busy <= MAX_BUSY:
                    continue
            if pending:
                attempts += 1
                if attempts >= MAX_ATTEMPTS:
                    break
                time.sleep(RETRY_BASE_SECONDS * (2**attempts))
                # An item the server could not answer for (a timeout, a lost sub-request) may exist.
                self._settle(batch, pending)
        if pending:
            j.mark_failed([(k, last_error) for k in pending])
            why = f"gave up after {attempts} attempts: {last_error}" if attempts else last_error
            for p in pending.values():
                self._fail(st, p.subject, why)

    def _halve(self, batch: _Batch, payloads: list) -> None:
        half = len(payloads) // 2
        self._send_part(batch, payloads[:half])
        self._send_part(batch, payloads[half:])

    # ----- recurring series ----------------------------------------------------------------------

    def _complete_series(
        self, st: FolderStats, folder: FolderHandle, stamp: str, item_id: str | None, payloads: list
    ) -> None:
        """Apply the steps (exceptions) of a created series that the journal does not have as done;
        the journal records each step, and the transport checks the server before each one."""
        j, t = self.journal, self.transport
        assert j is not None and t is not None
        payload = next((p for p in payloads if p.source_key == stamp), None)
        if payload is None:
            return
        steps = t.series_steps(payload)
        if not steps or not item_id:
            j.series_complete(stamp)
            return
        j.series_open(stamp, item_id)
        done = j.steps_done(stamp)
        failed = []
        for step in steps:
            if step in done or self.cancel.is_set():
                continue
            j.step_started(stamp, step)
            try:
                self._with_retries(lambda s=step: t.apply_series_step(folder, item_id, payload, s))
            except PstImportError as exc:
                failed.append(f"{step} ({exc})")
                continue
            j.step_done(stamp, step)
        if failed:
            self._note_problems(
                st.source.label,
                "/".join(st.plan.source_path) + f": {payload.subject}",
                [f"occurrence change not applied: {f}" for f in failed],
            )
        elif not self.cancel.is_set():
            j.series_complete(stamp)

    def _resume_series(self, st: FolderStats, fp: FolderPlan, item: Any, ctx: Any, stamp: str) -> None:
        """An item imported before whose series may lack steps (the run stopped mid-series, or the
        journal was lost): finish it, exactly as after its creation."""
        j, t = self.journal, self.transport
        if j is None or t is None or fp.handle is None:
            return
        try:
            payload = convert(item, ctx)
        except ConversionError:
            return
        item_id = j.item_id(stamp)
        if not t.series_steps(payload):
            j.series_complete(stamp)
            return
        if not item_id:
            found = self._with_retries(lambda: t.find_stamps(fp.handle, [stamp])).get(stamp)
            item_id = found[0] if found else None
            if item_id:
                j.mark_done([(stamp, item_id)], fp.folder_id)
        self._complete_series(st, fp.handle, stamp, item_id, [payload])

    def _send_one(self, batch: _Batch, payload: Any) -> None:
        self._send(_Batch(batch.stats, batch.folder, [payload], payload.size))

    def _settle(self, batch: _Batch, pending: dict) -> None:
        """After a request whose outcome is unknown: what the server holds is done, not resent."""
        j, t = self.journal, self.transport
        assert j is not None and t is not None
        try:
            found = self._with_retries(lambda: t.find_stamps(batch.folder, list(pending)))
        except PstImportError:
            return  # unknown stays unknown: the items stay 'sending' and are settled next run
        if found:
            j.mark_done([(s, ids[0]) for s, ids in found.items()])
            for s in found:
                payload = pending.pop(s, None)
                if payload is not None:
                    self._imported(batch.stats, payload)
                    self._complete_series(batch.stats, batch.folder, s, found[s][0], [payload])

    def _imported(self, st: FolderStats, payload) -> None:  # noqa: ANN001
        seen = self._problems_seen.pop(payload.source_key, 0)
        # once each: a resent batch may have noted the same loss again
        later = [p for p in dict.fromkeys(payload.problems[seen:]) if p not in payload.problems[:seen]]
        if later:
            self._note_problems(st.source.label, f"{'/'.join(st.plan.source_path)}: {payload.subject}", later)
        with self._lock:
            st.imported += 1
            st.bytes += payload.size
            self.result.imported += 1
            self.result.bytes += payload.size
            self.items_done += 1
            self.bytes_done += payload.size
        self.emit(ItemImported(pst=st.source.label, source_path=st.plan.source_path, size=payload.size))

    # ----- the run --------------------------------------------------------------------------

    def run(self) -> RunResult:
        plan, result = self.plan, self.result
        result.started = datetime.now(UTC)
        t0 = time.monotonic()
        try:
            if not plan.dry_run:
                assert plan.transport_factory is not None
                self.transport = plan.transport_factory()
                self.server = connect_transport(
                    self.transport,
                    timeout_seconds=plan.profile.connection.timeout_seconds,
                    on_event=self.emit,
                    cancel=self.cancel,
                )
                self.resolve_folders()
                self.journal = self.open_journal()
                self.recover()
            self.stats = [FolderStats(s, f) for s, f in plan.folders]
            result.folders = self.stats
            for st in self.stats:
                self.items_total += st.plan.pst_items
                self.emit(
                    FolderPlanned(
                        pst=st.source.label,
                        source_path=st.plan.source_path,
                        target_path=st.plan.target_path,
                        items_selected=st.plan.pst_items,
                        bytes_selected=0,
                    )
                )
            self.emit(
                RunStarted(
                    profile=plan.profile.name,
                    mailbox=plan.profile.mailbox,
                    store=plan.profile.destination.store,
                    dry_run=plan.dry_run,
                    folders=len(self.stats),
                    items_selected=self.items_total,
                    bytes_selected=0,
                )
            )
            reader = threading.Thread(target=self.read, name="pst-reader", daemon=True)
            workers = [
                threading.Thread(target=self.work, name=f"upload-{i}", daemon=True) for i in range(self.max_threads)
            ]
            reader.start()
            for w in workers:
                w.start()
            while (alive := next((t for t in (reader, *workers) if t.is_alive()), None)) is not None:
                # join a thread that is still running: a dead one's join returns at once and spins
                alive.join(PROGRESS_INTERVAL)
                self._progress(t0)
            for w in workers:
                w.join()
            if self.reader_error is not None:
                raise self.reader_error
            result.interrupted = self.cancel.is_set()
            result.finished = datetime.now(UTC)
            result.elapsed = time.monotonic() - t0
            self._progress(t0)
            if not plan.dry_run and not result.interrupted:
                verify_run(plan, self.transport, result, self.calls.map)
            self.emit(
                RunFinished(
                    imported=result.would_import if plan.dry_run else result.imported,
                    skipped=result.skipped,
                    failed=result.failed,
                    interrupted=result.interrupted,
                    report_json=result.report_json,
                    report_html=result.report_html,
                    problems=tuple(result.problems[:50]),
                )
            )
            return result
        finally:
            if self.journal is not None:
                self.journal.close()
            if self.transport is not None:
                self.transport.close()

    def _progress(self, t0: float) -> None:
        elapsed = max(time.monotonic() - t0, 1e-6)
        with self._lock:
            done, total, bdone = self.items_done, self.items_total, self.bytes_done
            imported = self.result.imported + self.result.would_import
        rate = imported / elapsed
        remaining = max(total - done, 0)
        eta = remaining / rate if rate > 0 else None
        self.emit(
            Progress(
                items_done=done,
                items_total=max(total, done),
                bytes_done=bdone,
                bytes_total=self.bytes_total,
                items_per_second=round(rate, 2),
                eta_seconds=round(eta, 1) if eta is not None else None,
                concurrency=self.limiter.limit,
            )
        )


def run(plan: Plan, on_event: Callable[[Event], None], cancel: threading.Event | None = None) -> RunResult:
    """Import what `plan` selects; emit events; return counts and the report paths.

    Args:
        plan: from `core.engine.build_plan`.
        on_event: called (from several threads, one call at a time) with each `core.events` event.
        cancel: set it to stop: in-flight requests finish and are recorded, nothing new starts.

    Raises:
        ConnectError: the connection or the preflight failed; nothing was uploaded.
        PstError: a PST could not be read as a whole.
        Interrupted: `cancel` was set while connecting, setting up folders or verifying.
    """
    tune_malloc()
    release_free_memory()  # what planning freed (libpff's item trees of every folder it counted)
    return _Engine(plan, on_event, cancel or threading.Event()).run()
