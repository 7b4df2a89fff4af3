"""Counting both sides of every planned folder, and the verification report.

The mailbox side of a folder is its item count and the items carrying a stamp of this PST: one
count and one stamp listing per folder, however many PST folders point at it, all folders at once
within the run's threads (`run_all`, the engine's paced `CallPool.map`). Every folder is counted by
distinct item ids: a server that names an item twice does not make a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import Interrupted, PstImportError
from core.transport.base import Transport
from core.verify.report import write_reports

if TYPE_CHECKING:  # core.engine runs verification; at run time nothing here imports it
    from core.engine.plan import Plan

# `run_all(fn, items)`: `[fn(x) for x in items]`, several at once, each call retried through busy
# answers and transient errors (the engine's `CallPool.map`).
RunAll = Callable[[Callable[[Any], Any], list], list]


def _mailbox_side(stamps: dict[str, list[str]], total: int, store_key: str) -> tuple[int, int, int]:
    """(items in the folder, distinct stamps of this PST, extra items carrying one of them)."""
    prefix = f"{store_key}:"
    mine = {s: set(ids) for s, ids in stamps.items() if s.startswith(prefix)}
    duplicates = sum(len(ids) - 1 for ids in mine.values())
    return total, len(mine), duplicates


def _row(
    label: str,
    fp: Any,
    *,
    selected: int,
    imported: int,
    skipped: int,
    failed: int,
    mailbox: tuple[int, int, int] | PstImportError,
    unreadable: int = 0,
) -> dict:
    """One folder's row. `failed` includes the `unreadable` items (declared by the PST, not readable):
    a folder with any is never "ok". A mailbox side that could not be counted (an error) makes the row
    "unverified", with the error; it counts among the mismatched folders (exit 1)."""
    error = mailbox if isinstance(mailbox, PstImportError) else None
    total, stamped, dups = (0, 0, 0) if error is not None else mailbox
    expected = selected - failed
    status = "ok"
    if error is not None:
        status = "unverified"
    elif dups or stamped != expected:
        status = "mismatch"
    elif failed:
        status = "failed"
    renamed = list(getattr(fp, "renamed", ()))  # names Exchange would refuse, mapped (core.engine.plan)
    return {
        **({"renamed": renamed} if renamed else {}),
        "pst": label,
        "source_path": list(fp.source_path),
        "target_path": list(fp.target_path),
        "pst_items": fp.pst_items,
        "selected": selected,
        "imported": imported,
        "skipped_existing": skipped,
        "failed": failed,
        "unreadable": unreadable,
        "mailbox_items": total,
        "stamped_items": stamped,
        "duplicates": dups,
        "status": status,
        **({"error": str(error)} if error is not None else {}),
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
        if any(r["status"] == "unverified" for r in group):
            continue  # the shared folder could not be counted: every row of it stays unverified
        for r in group:
            bad = r["duplicates"] or r["stamped_items"] != expected
            r["status"] = "mismatch" if bad else ("failed" if r["failed"] else "ok")
            r["shared_target"] = True


class MailboxCounts:
    """The mailbox side of folders, counted once per folder, all of them at once."""

    def __init__(self, transport: Transport, run_all: RunAll) -> None:
        self.transport = transport
        self.run_all = run_all
        self._folders: dict[str, tuple[int, dict[str, list[str]]]] = {}

    def prefetch(self, handles: Iterable[Any]) -> None:
        """Count and list the stamps of every folder in `handles` not counted yet (in parallel).

        A folder that cannot be counted even after the pool's retries (deleted meanwhile, EWS refused
        mid-run, the server gone) is recorded with its error instead of ending verification: the other
        folders are still counted and the report is still written, that folder marked unverified.
        """
        todo = list({h.id: h for h in handles if h.id not in self._folders}.values())
        fn = self.transport.count_and_stamps
        try:
            sides: list[Any] = self.run_all(fn, todo)
        except Interrupted:
            raise
        except PstImportError:
            sides = []
            for handle in todo:  # one at a time, so one folder's failure is only that folder's
                try:
                    sides.append(self.run_all(fn, [handle])[0])
                except Interrupted:
                    raise
                except PstImportError as exc:
                    if getattr(exc, "refused", False):
                        # The server refuses this caller altogether (EWS access policy): no folder can be
                        # counted, so the rest are not asked one by one only to be refused again.
                        sides.extend(exc for _ in range(len(todo) - len(sides)))
                        break
                    sides.append(exc)
        for handle, side in zip(todo, sides, strict=True):
            self._folders[handle.id] = side

    def __call__(self, handle: Any, store_key: str) -> tuple[int, int, int] | PstImportError:
        if handle.id not in self._folders:
            self.prefetch([handle])
        side = self._folders[handle.id]
        if isinstance(side, PstImportError):
            return side
        total, stamps = side
        return _mailbox_side(stamps, total, store_key)


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
        "unreadable": sum(r.get("unreadable", 0) for r in rows),
        "duplicates": sum(r["duplicates"] for r in rows),
        "mismatched_folders": sum(1 for r in rows if r["status"] in ("mismatch", "unverified")),
        "unverified_folders": sum(1 for r in rows if r["status"] == "unverified"),
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
    order = {"unverified": 0, "mismatch": 0, "failed": 1, "ok": 2}
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


def _losses(rows: list[dict], label: str, losses: list[str]) -> None:
    """Parts of a PST whose items could not even be counted: each makes its first row failed."""
    first = next((r for r in rows if r["pst"] == label), None)
    for loss in dict.fromkeys(losses):
        if first is not None:
            first["failed"] += 1
            first["unreadable"] += 1
            first.setdefault("damage", []).append(loss)
            if first["status"] == "ok":
                first["status"] = "failed"


def verify_run(plan: Plan, transport: Transport, result: Any, run_all: RunAll) -> dict:
    """Count the mailbox side after a run and write the reports; fills `result.report*`."""
    rows, keys = [], []
    counts = MailboxCounts(transport, run_all)
    counts.prefetch(st.plan.handle for st in result.folders)
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
                unreadable=getattr(st, "unreadable", 0),
            )
        )
    _apply_shared_targets(rows, keys)
    failures = [
        {"pst": f.pst, "source_path": list(f.source_path), "subject": f.subject, "reason": f.reason}
        | ({"count": f.count} if getattr(f, "count", 1) != 1 else {})
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


def recount_report(
    plan: Plan,
    transport: Transport,
    run_all: RunAll,
    folders: list[tuple[Any, Any, int, int, int, int]],
    started: datetime,
    losses: dict[str, list[str]] | None = None,
) -> tuple[dict, str | None, str | None]:
    """`pstimport verify`'s report: `folders` are (source, folder plan, selected, imported, failed,
    unreadable) as the PSTs and the journal say (an unreadable item is never sent, so it is not in the
    journal's failed); `losses`: by PST label, its damage of unknown size. The mailbox side is counted
    here. Returns (report, JSON path, HTML path)."""
    counts = MailboxCounts(transport, run_all)
    counts.prefetch(fp.handle for _s, fp, *_ in folders)
    rows, keys = [], []
    for source, fp, selected, imported, failed, unreadable in folders:
        keys.append((fp.folder_id, source.store_key))
        rows.append(
            _row(
                source.label,
                fp,
                selected=selected,
                imported=imported,
                skipped=0,
                failed=failed + unreadable,
                mailbox=counts(fp.handle, source.store_key),
                unreadable=unreadable,
            )
        )
    for label, lost in (losses or {}).items():
        _losses(rows, label, lost)
    _apply_shared_targets(rows, keys)
    report = _report(plan, rows, [], started, datetime.now(UTC), {})
    j = h = None
    if plan.report_dir is not None:
        jp, hp = write_reports(report, plan.report_dir, suffix="verify")
        j, h = str(jp), str(hp)
    return report, j, h
