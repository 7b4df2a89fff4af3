"""`pstimport run --dry-run`: a preflight that asks the server, changes nothing and uploads nothing.

It does what a real run does before its first upload: connects and signs in (a bad password or
an unreachable host fails here, as it would there, with exit 2), checks the mailbox or archive
and the rights on it, and finds each target folder, without creating one. Then it reads the
PSTs' selected items (the profile's folder, type and date filters) and looks each item's source
stamp up among the stamps already in its target folder, so "would import" and "already there"
are what a run would now do. Items are not converted: `--offline-check` (the engine's own dry
run, no server) reads and converts every item.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from core.engine.plan import KIND_TO_TYPE, ROLE_NAMES, FolderPlan, Plan
from core.engine.retry import retrying
from core.engine.run import Failure, FolderStats, RunResult
from core.events import (
    Event,
    FolderFinished,
    FolderPlanned,
    FolderStarted,
    ItemFailed,
    ItemSkipped,
    Progress,
    RunFinished,
    RunStarted,
)
from core.transport.base import FolderHandle, Transport

PROGRESS_INTERVAL = 0.25
ALREADY_THERE = "already in the mailbox (its source stamp is there)"


def _find_target(t: Transport, root: FolderHandle, fp: FolderPlan, cache: dict) -> tuple[FolderHandle | None, tuple]:
    """The folder a run would put `fp` in, when it exists already, and its display path."""
    if fp.anchor:
        key: tuple = ("@" + fp.anchor,)
        if key not in cache:
            found = retrying(lambda: t.well_known(fp.anchor))  # type: ignore[arg-type]
            if found is None:  # the store has no such folder: a run makes one of that name at the top
                found = retrying(lambda: t.find_folder(root, fp.target_path[0], fp.container_class))
            cache[key] = found
        parent = cache[key]
        names: tuple[str, ...] = ((parent.display_name if parent else None) or ROLE_NAMES.get(fp.anchor, fp.anchor),)
    else:
        key, parent, names = (), root, ()
    for name, cls in zip(fp.rel, fp.rel_classes, strict=True):
        key = (*key, name.casefold())
        names = (*names, name)
        if parent is None:
            cache[key] = None
            continue
        if key not in cache:
            cache[key] = retrying(lambda p=parent, n=name, c=cls: t.find_folder(p, n, c))
        parent = cache[key]
    return parent, names


def preflight(plan: Plan, on_event: Callable[[Event], None], cancel: threading.Event | None = None) -> RunResult:
    """Connect, check, and count what a run of `plan` would import now; nothing is changed.

    Args:
        plan: from `core.engine.build_plan`, with a transport factory.
        on_event: receives the same events as a run's (`RunStarted.dry_run` is true; a folder's
            `FolderFinished.imported` is what would be imported, `skipped` what is there already).
        cancel: set it to stop reading; the counts so far are returned, marked interrupted.

    Returns:
        A RunResult: `would_import`, `skipped` (already there), `failed` (unreadable items) and
        per-folder stats; `problems` says what a run could not do (e.g. create folders).

    Raises:
        ConnectError: signing in, the mailbox or the rights failed (exit 2, as a run would).
        PstError: a PST cannot be read as a whole.
    """
    from core.convert import payload_kind
    from core.convert.mime import item_date
    from core.engine.connect import connect_transport
    from core.pst import open_pst
    from core.pst.model import UnreadableItem

    cancel = cancel or threading.Event()
    if plan.transport_factory is None:
        raise ValueError("preflight needs a plan with a transport factory")
    result = RunResult(started=datetime.now(UTC))
    t0 = time.monotonic()
    transport = plan.transport_factory()
    try:
        info = connect_transport(
            transport, timeout_seconds=plan.profile.connection.timeout_seconds, on_event=on_event, cancel=cancel
        )
        root = retrying(transport.store_root)
        cache: dict = {}
        existing: dict[str, set[str]] = {}  # folder id -> stamps in it
        found_at: dict[int, str | None] = {}
        missing: list[str] = []
        for _source, fp in plan.folders:
            handle, names = _find_target(transport, root, fp, cache)
            fp.target_path = names
            found_at[id(fp)] = handle.id if handle is not None else None
            if handle is None:
                missing.append("/".join(names))
            elif handle.id not in existing:
                existing[handle.id] = set(retrying(lambda h=handle: transport.find_stamps(h)))
        if missing and not info.can_create_folders:
            result.problems.append(
                f"{len(missing)} target folder(s) do not exist and the account may not create folders "
                f"here, e.g. {missing[0]}"
            )
        stats = [FolderStats(s, f) for s, f in plan.folders]
        result.folders = stats
        total = sum(st.plan.pst_items for st in stats)
        for st in stats:
            on_event(
                FolderPlanned(
                    pst=st.source.label,
                    source_path=st.plan.source_path,
                    target_path=st.plan.target_path,
                    items_selected=st.plan.pst_items,
                    bytes_selected=0,
                )
            )
        p = plan.profile
        on_event(
            RunStarted(
                profile=p.name,
                mailbox=p.mailbox,
                store=p.destination.store,
                dry_run=True,
                folders=len(stats),
                items_selected=total,
                bytes_selected=0,
            )
        )
        filters = p.filters
        types = set(filters.item_types)
        done = 0
        last = 0.0

        def progress() -> None:
            elapsed = max(time.monotonic() - t0, 1e-6)
            on_event(
                Progress(
                    items_done=done,
                    items_total=max(total, done),
                    bytes_done=0,
                    bytes_total=0,
                    items_per_second=round(done / elapsed, 2),
                    eta_seconds=None,
                    concurrency=0,
                )
            )

        for source in plan.sources:
            mine = {st.plan.node_id: st for st in stats if st.source is source}
            if cancel.is_set():
                break
            with open_pst(source.path, source.codepage) as pst:
                for folder in pst.folders():
                    st = mine.get(folder.node_id)
                    if st is None or cancel.is_set():
                        continue
                    fp = st.plan
                    there = existing.get(found_at[id(fp)] or "", set())
                    on_event(FolderStarted(pst=source.label, source_path=fp.source_path, target_path=fp.target_path))
                    for item in pst.items(folder):
                        if cancel.is_set():
                            break
                        if not isinstance(item, UnreadableItem):
                            kind = KIND_TO_TYPE.get(payload_kind(item.message_class), "mail")
                            if kind not in types or not filters.accepts_date(item_date(item)):
                                continue
                        st.selected += 1
                        done += 1
                        where = {"pst": source.label, "source_path": fp.source_path}
                        if isinstance(item, UnreadableItem):
                            st.selected += item.count - 1  # one already counted above
                            done += item.count - 1
                            st.failed += item.count
                            reason = f"{item.where}: unreadable: {item.reason}"
                            result.failures.append(Failure(source.label, fp.source_path, None, reason, item.count))
                            on_event(ItemFailed(**where, subject=None, reason=reason, count=item.count))
                        elif f"{source.store_key}:{item.node_id}" in there:
                            st.skipped_existing += 1
                            on_event(ItemSkipped(**where, reason=ALREADY_THERE))
                        else:
                            st.imported += 1
                        if time.monotonic() - last >= PROGRESS_INTERVAL:
                            last = time.monotonic()
                            progress()
                    if not cancel.is_set():
                        st.finished = True
                        on_event(
                            FolderFinished(
                                pst=source.label,
                                source_path=fp.source_path,
                                imported=st.imported,
                                skipped=st.skipped_existing,
                                failed=st.failed,
                            )
                        )
                first = next((st for st in stats if st.source is source), None)
                for loss in dict.fromkeys(pst.losses):  # damage whose items cannot even be counted
                    if first is not None:
                        first.failed += 1
                        why = f"damaged file: {loss}"
                        result.failures.append(Failure(source.label, first.plan.source_path, None, why))
                result.problems.extend(f"{source.label}: damaged file: {n}" for n in dict.fromkeys(pst.notes))
        progress()
        result.would_import = sum(st.imported for st in stats)
        result.skipped = sum(st.skipped_existing for st in stats)
        result.failed = sum(st.failed for st in stats)
        result.interrupted = cancel.is_set()
        result.finished = datetime.now(UTC)
        result.elapsed = time.monotonic() - t0
        on_event(
            RunFinished(
                imported=result.would_import,
                skipped=result.skipped,
                failed=result.failed,
                interrupted=result.interrupted,
                problems=tuple(result.problems),
            )
        )
        return result
    finally:
        transport.close()
