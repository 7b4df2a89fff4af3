"""`pstimport verify`: recount a profile's PST selection, read its journal and count the mailbox side.

The target folders are found (or made) as a run finds them (`core.engine.folders`), the journal is the
run's own for this server, and the mailbox side is counted by `core.verify`, every folder at once
within `max_threads`, paced like the uploads.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from core.engine.connect import connect_transport
from core.engine.folders import resolve_folders
from core.engine.journal import Journal, server_journal_path
from core.engine.limiter import AdaptiveLimiter
from core.engine.plan import KIND_TO_TYPE, Plan
from core.engine.pool import CallPool
from core.errors import ServerBusy
from core.verify import recount_report


def selected_counts(plan: Plan) -> tuple[dict[tuple[str, int], tuple[int, int]], dict[str, list[str]]]:
    """(PST store key, folder node id) -> (how many items the profile's filters select there, of which
    unreadable): an unreadable item counts, a run tries it and reports it; and, by PST label, the
    damage whose items could not even be counted."""
    from core.convert import payload_kind
    from core.convert.mime import item_date
    from core.pst import open_pst
    from core.pst.model import UnreadableItem

    filters = plan.profile.filters
    types = set(filters.item_types)
    out: dict[tuple[str, int], tuple[int, int]] = {}
    losses: dict[str, list[str]] = {}
    for source in plan.sources:
        wanted = {fp.node_id for fp in source.folders}
        with open_pst(source.path, source.codepage) as pst:
            for folder in pst.folders():
                if folder.node_id not in wanted:
                    continue
                selected = unreadable = 0
                for item in pst.items(folder):
                    if isinstance(item, UnreadableItem):
                        selected += item.count
                        unreadable += item.count
                        continue
                    kind = payload_kind(item.message_class)
                    if KIND_TO_TYPE.get(kind, "mail") in types and filters.accepts_date(item_date(item)):
                        selected += 1
                out[(source.store_key, folder.node_id)] = (selected, unreadable)
            if pst.losses:
                losses[source.label] = list(pst.losses)
    return out, losses


def verify_profile(plan: Plan, cancel: threading.Event | None = None) -> tuple[dict, str | None, str | None]:
    """Count PST selection, journal and mailbox per folder and write the reports.

    Returns:
        (report, JSON path, HTML path); the paths are None when the plan has no report directory.
    """
    started = datetime.now(UTC)
    assert plan.transport_factory is not None
    cancel = cancel or threading.Event()
    limiter = AdaptiveLimiter(plan.profile.performance.max_threads)

    def busy(exc: ServerBusy) -> None:
        limiter.busy(exc.back_off_seconds)

    calls = CallPool(plan.profile.performance.max_threads, limiter, cancel, busy)
    transport = plan.transport_factory()
    try:
        info = connect_transport(transport, timeout_seconds=plan.profile.connection.timeout_seconds, cancel=cancel)
        resolve_folders(plan, transport, calls)
        selected, losses = selected_counts(plan)
        journal = Journal(server_journal_path(plan.journal_path, info.url))
        try:
            folders = []
            for source, fp in plan.folders:
                chosen, unreadable = selected.get((source.store_key, fp.node_id), (0, 0))
                done = journal.count(fp.folder_id, "done", source.store_key + ":")
                failed = journal.count(fp.folder_id, "failed", source.store_key + ":")
                folders.append((source, fp, chosen, done, failed, unreadable))
        finally:
            journal.close()
        return recount_report(plan, transport, calls.map, folders, started, losses)
    finally:
        transport.close()
