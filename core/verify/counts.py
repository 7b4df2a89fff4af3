"""Counting both sides of every planned folder."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from core.engine.connect import connect_transport
from core.engine.journal import Journal
from core.engine.plan import KIND_TO_TYPE, Plan
from core.engine.retry import retrying
from core.transport.base import Transport
from core.verify.report import write_reports


def _mailbox_side(transport: Transport, handle: Any, store_key: str) -> tuple[int, int, int]:
    """(items in the folder, distinct stamps of this PST, extra copies of a stamp)."""
    total = retrying(lambda: transport.count_items(handle))
    stamps = retrying(lambda: transport.find_stamps(handle))
    prefix = f"{store_key}:"
    mine = {s: ids for s, ids in stamps.items() if s.startswith(prefix)}
    duplicates = sum(len(ids) - 1 for ids in mine.values())
    return total, len(mine), duplicates


def _row(
    label: str, fp: Any, *, selected: int, imported: int, skipped: int, failed: int, mailbox: tuple[int, int, int]
) -> dict:
    total, stamped, dups = mailbox
    expected = selected - failed
    status = "ok"
    if dups or stamped != expected:
        status = "mismatch"
    elif failed:
        status = "failed"
    return {
        "pst": label,
        "source_path": list(fp.source_path),
        "target_path": list(fp.target_path),
        "pst_items": fp.pst_items,
        "selected": selected,
        "imported": imported,
        "skipped_existing": skipped,
        "failed": failed,
        "mailbox_items": total,
        "stamped_items": stamped,
        "duplicates": dups,
        "status": status,
    }


def _apply_shared_targets(rows: list[dict], keys: list[tuple[str, str]]) -> None:
    """Two PST folders of one name under one parent share a mailbox folder (Exchange forbids twin
    names): their stamps are counted together, so they are compared together."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row, key in zip(rows, keys, strict=True):
        groups.setdefault(key, []).append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        expected = sum(r["selected"] - r["failed"] for r in group)
        for r in group:
            bad = r["duplicates"] or r["stamped_items"] != expected
            r["status"] = "mismatch" if bad else ("failed" if r["failed"] else "ok")
            r["shared_target"] = True


class _MailboxCounts:
    """Counts each (folder, PST) once, however many source folders point at it."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._cache: dict[tuple[str, str], tuple[int, int, int]] = {}

    def __call__(self, handle: Any, store_key: str) -> tuple[int, int, int]:
        key = (handle.id, store_key)
        if key not in self._cache:
            self._cache[key] = _mailbox_side(self.transport, handle, store_key)
        return self._cache[key]


def _report(
    plan: Plan, rows: list[dict], failures: list[dict], started: datetime | None, finished: datetime | None, extra: dict
) -> dict:
    p = plan.profile
    totals = {
        "pst_items": sum(r["pst_items"] for r in rows),
        "selected": sum(r["selected"] for r in rows),
        "imported": sum(r["imported"] for r in rows),
        "skipped_existing": sum(r["skipped_existing"] for r in rows),
        "failed": sum(r["failed"] for r in rows),
        "duplicates": sum(r["duplicates"] for r in rows),
        "mismatched_folders": sum(1 for r in rows if r["status"] == "mismatch"),
        **extra,
    }
    # Folders the profile leaves out are listed with their counts, so the PST's whole tree adds up.
    excluded = [
        {"pst": s.label, "source_path": list(path), "pst_items": items}
        for s in plan.sources
        for path, items in s.excluded
    ]
    totals["excluded_items"] = sum(e["pst_items"] for e in excluded)
    # Mismatches first, then failures, then the rest in plan order.
    order = {"mismatch": 0, "failed": 1, "ok": 2}
    rows = sorted(rows, key=lambda r: order.get(r["status"], 3))
    return {
        "profile": p.name,
        "mailbox": p.mailbox,
        "store": p.destination.store,
        "started": (started or datetime.now(UTC)).isoformat(timespec="seconds"),
        "finished": (finished or datetime.now(UTC)).isoformat(timespec="seconds"),
        "folders": rows,
        "excluded": excluded,
        "failures": failures,
        "totals": totals,
    }


def verify_run(plan: Plan, transport: Transport, journal: Journal, result: Any) -> dict:
    """Count the mailbox side after a run and write the reports; fills `result.report*`."""
    rows, keys = [], []
    counts = _MailboxCounts(transport)
    for st in result.folders:
        fp = st.plan
        mailbox = counts(fp.handle, st.source.store_key)
        keys.append((fp.folder_id, st.source.store_key))
        rows.append(
            _row(
                st.source.label,
                fp,
                selected=st.selected,
                imported=st.imported,
                skipped=st.skipped_existing,
                failed=st.failed,
                mailbox=mailbox,
            )
        )
    _apply_shared_targets(rows, keys)
    failures = [
        {"pst": f.pst, "source_path": list(f.source_path), "subject": f.subject, "reason": f.reason}
        for f in result.failures
    ]
    report = _report(
        plan,
        rows,
        failures,
        result.started,
        result.finished,
        {
            "throttled": result.throttled,
            "retries": result.retries,
            "recovered_in_flight": result.recovered,
            "seconds": round(result.elapsed, 2),
        },
    )
    report["conversion_notes"] = {"total": result.problems_total, "shown": list(result.problems)}
    if result.address_rewriting:
        report["address_rewriting"] = result.address_rewriting
    result.report = report
    if plan.report_dir is not None:
        j, h = write_reports(report, plan.report_dir)
        result.report_json, result.report_html = str(j), str(h)
    return report


def verify_profile(plan: Plan, cancel: threading.Event | None = None) -> tuple[dict, str | None, str | None]:
    """`pstimport verify`: recount the PST selection, read the journal and the mailbox, write reports."""
    from core.convert import payload_kind
    from core.convert.mime import item_date
    from core.pst import open_pst
    from core.pst.model import UnreadableItem

    started = datetime.now(UTC)
    assert plan.transport_factory is not None
    transport = plan.transport_factory()
    try:
        connect_transport(transport, timeout_seconds=plan.profile.connection.timeout_seconds, cancel=cancel)
        from core.engine.run import _Engine

        engine = _Engine(plan, lambda e: None, cancel or threading.Event())
        engine.transport = transport
        engine.resolve_folders()
        journal = Journal(plan.journal_path)
        filters = plan.profile.filters
        types = set(filters.item_types)
        rows, keys = [], []
        counts = _MailboxCounts(transport)
        try:
            for source in plan.sources:
                wanted = {fp.node_id: fp for fp in source.folders}
                with open_pst(source.path, source.codepage) as pst:
                    for folder in pst.folders():
                        fp = wanted.get(folder.node_id)
                        if fp is None:
                            continue
                        selected = 0
                        for item in pst.items(folder):
                            if isinstance(item, UnreadableItem):
                                selected += 1
                                continue
                            kind = payload_kind(item.message_class)
                            if KIND_TO_TYPE.get(kind, "mail") in types and filters.accepts_date(item_date(item)):
                                selected += 1
                        imported = journal.count(fp.folder_id, "done", source.store_key + ":")
                        failed = journal.count(fp.folder_id, "failed", source.store_key + ":")
                        mailbox = counts(fp.handle, source.store_key)
                        keys.append((fp.folder_id, source.store_key))
                        rows.append(
                            _row(
                                source.label,
                                fp,
                                selected=selected,
                                imported=imported,
                                skipped=0,
                                failed=failed,
                                mailbox=mailbox,
                            )
                        )
        finally:
            journal.close()
        _apply_shared_targets(rows, keys)
        report = _report(plan, rows, [], started, datetime.now(UTC), {})
        j = h = None
        if plan.report_dir is not None:
            jp, hp = write_reports(report, plan.report_dir, suffix="verify")
            j, h = str(jp), str(hp)
        return report, j, h
    finally:
        transport.close()
