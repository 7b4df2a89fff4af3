"""Bench group "servers": folder setup and verification at 100 ms latency, and our import into gromox
against a raw exchangelib client's ceiling.

    python -m tests.bench --groups servers [--quick]

1. **Setup and verification, before and after.** A writer PST of 3,000 items in 300 folders (10 each)
   is imported into the sandbox with 100 ms latency per request, 4 threads, batch 10, by this tree
   ("after") and by the tree of `BASELINE` ("before", the engine whose folder setup, journal scan and
   verification were sequential; taken out of git with `git archive` and run from a temp directory),
   in the same run, against the same sandbox, each into a folder of its own. Figures from the
   `pstimport run --json` event times: seconds from the process start to the first ItemImported
   (connect, folders, journal scan), and verification seconds (the last event before RunFinished to
   RunFinished: nothing else happens in between).
2. **gromox ceiling.** A 1,000-item writer PST imported into gromox by `pstimport run` (4 and 8
   threads, batch 10), and the same PST's payloads, converted before the clock starts, sent by a
   minimal client: plain exchangelib `Account.bulk_create` of `Message`s carrying what each payload
   carries (MIME, read state, subject, the stamp and the other extended properties), 10 a request,
   from 1, 2, 4 and 8 threads. Each run into a mailbox of its
   own on the same gromox instance, in two alternating rounds. The ceiling is the raw client's best
   items/s; ours is the best upload-phase rate (first FolderStarted to last ItemImported). Target: ours
   >= 90% of the ceiling.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench.suite import MARK, PASSWORD, REPO, USER, Sandbox, py, rate, run_child, verdict, writer_version

# The engine before folder setup, the journal scan and verification went parallel (main, 2026-11).
BASELINE = "4b793af"
LATENCY_MS = 100
THREADS = 4
BATCH = 10
SETUP = {"full": (3000, 10), "quick": (300, 10)}  # (items, items per folder)
CEILING_ITEMS = {"full": 1000, "quick": 200}
RAW_THREADS = (1, 2, 4, 8)
OUR_THREADS = (4, 8)
ROUNDS = 2  # the thread counts of both clients again (the raw client's two highest), best run kept
TARGET = 0.9
# A raw round normally takes 5-15 s; one that does not end (a client hang, see raw_child) is killed after this,
# shown as stuck, and left out of the ceiling, so `make bench` always ends.
RAW_TIMEOUT_S = 180


# ----- PSTs --------------------------------------------------------------------------------------


def folders_pst(cache: Path, items: int, per_folder: int) -> Path:
    """A writer scale PST of `items` text messages, `per_folder` a folder (cached by writer version)."""
    out = cache / f"folders-{items}x{per_folder}-w{writer_version()}.pst"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial.pst")
    code = (
        "import sys; from core.sandbox.pstwriter.content import generate; "
        f"generate(sys.argv[1], seed=7, mode='scale', items={items}, folder_items={per_folder}, mix='small')"
    )
    child = run_child(py("-c", code, str(tmp)))
    if child.returncode != 0 or not tmp.exists():
        raise RuntimeError(f"PST writer failed: {child.stderr.strip()[-400:]}")
    Path(str(tmp) + ".truth.json").unlink(missing_ok=True)
    tmp.rename(out)
    return out


# ----- part 1: setup and verification ------------------------------------------------------------


def baseline_tree(work: Path) -> Path | None:
    """`BASELINE`'s core/ extracted into `work` (None when git or the commit is not there)."""
    target = work / f"baseline-{BASELINE}"
    if (target / "core").is_dir():
        return target
    try:
        data = subprocess.run(
            ["git", "archive", "--format=tar", BASELINE, "core"], cwd=REPO, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as fh:
        fh.write(data)
        fh.seek(0)
        with tarfile.open(fileobj=fh) as tar:
            tar.extractall(target, filter="data")
    return target


def write_profile(
    tmp: Path,
    name: str,
    pst: Path,
    ews_url: str,
    mailbox: str,
    threads: int,
    root: dict,
    version_1: bool = False,
) -> Path:
    from core.profile.io import save_profile
    from core.profile.model import Profile

    prof = Profile.new(
        name=name,
        mailbox=mailbox,
        sources=[pst],
        target="on-premises",
        ews_url=ews_url,
        username=mailbox,
        impersonation=False,
        destination=root,
        performance={"max_threads": threads, "batch_items": BATCH},
        address_rewriting={"enabled": False},
        report={"directory": str(tmp / "reports")},
    )
    path = tmp / f"{name}.yaml"
    save_profile(prof, path, check=False)
    if version_1:
        # The baseline tree reads profile version 1; this document means the same there (transport and
        # impersonation written out, as the 1 -> 2 migration does).
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["version"] = 1
        data["connection"].update(transport="ews", impersonation=False)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def timed_run(tmp: Path, profile: Path, password: str, cwd: Path = REPO) -> dict:
    """`pstimport run --json` in a child (from `cwd`'s core/): event times relative to the start."""
    child = run_child(
        [sys.executable, "-m", "core.cli", "run", str(profile), "--json"],
        env={"PSTIMPORT_PASSWORD": password, "PSTIMPORT_STATE_DIR": str(tmp / f"state-{profile.stem}")},
        cwd=cwd,
    )
    start = child.started
    events = [(t - start, json.loads(line)) for t, line in child.line_times if line.startswith("{")]
    finished = next((e for _, e in reversed(events) if e.get("event") == "RunFinished"), None)
    if child.returncode not in (0, 1) or finished is None:
        raise RuntimeError(f"pstimport run failed (exit {child.returncode}): {child.stderr.strip()[-600:]}")

    def first(kind: str) -> float | None:
        return next((t for t, e in events if e.get("event") == kind), None)

    imported = [t for t, e in events if e.get("event") == "ItemImported"]
    t_finished = next(t for t, e in reversed(events) if e.get("event") == "RunFinished")
    before_finish = max((t for t, e in events if e.get("event") != "RunFinished"), default=t_finished)
    upload = (imported[-1] - first("FolderStarted")) if imported and first("FolderStarted") is not None else None
    return {
        "imported": finished["imported"],
        "failed": finished["failed"],
        "exit": child.returncode,
        "seconds": round(child.seconds, 2),
        "run_started_s": round(first("RunStarted") or 0.0, 2),
        "first_item_s": round(imported[0], 2) if imported else None,
        "verify_s": round(t_finished - before_finish, 2),
        "upload_s": round(upload, 2) if upload else None,
        "upload_items_per_s": round(rate(finished["imported"], upload), 1) if upload else None,
        "cpu_seconds": round(child.cpu_seconds, 2),
    }


def setup_part(work: Path, cache: Path, quick: bool) -> dict:
    items, per_folder = SETUP["quick" if quick else "full"]
    pst = folders_pst(cache, items, per_folder)
    base = baseline_tree(work)
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=work) as tmp_s:
        tmp = Path(tmp_s)
        with Sandbox(tmp / "sandbox", LATENCY_MS) as sb:
            trees = [("after", REPO)] + ([("before", base)] if base is not None else [])
            for label, cwd in trees:
                profile = write_profile(
                    tmp,
                    f"setup-{label}",
                    pst,
                    sb.ews_url,
                    USER,
                    THREADS,
                    {"root": "folder", "folder": f"b/{label}"},
                    version_1=label == "before",
                )
                rows[label] = timed_run(tmp, profile, PASSWORD, cwd=cwd)
    before, after = rows.get("before"), rows["after"]
    speedup = {}
    if before:
        for key in ("first_item_s", "verify_s"):
            if before.get(key) and after.get(key):
                speedup[key] = round(before[key] / after[key], 2)
    return {
        "pst": {"items": items, "folders": items // per_folder, "file": pst.name},
        "latency_ms": LATENCY_MS,
        "threads": THREADS,
        "baseline": BASELINE if base is not None else None,
        "rows": rows,
        "speedup": speedup,
    }


# ----- part 2: gromox ceiling --------------------------------------------------------------------


def prebuilt(pst: Path) -> list:
    """Every item's payload, converted by our converter (before any clock starts)."""
    from core.convert import ConvertContext, RewriteOptions, convert
    from core.pst import open_pst
    from core.pst.model import UnreadableItem

    out = []
    with open_pst(pst) as f:
        ctx = ConvertContext.for_pst(f, RewriteOptions(enabled=False))
        for folder in f.folders():
            for item in f.items(folder):
                if not isinstance(item, UnreadableItem):
                    out.append(convert(item, ctx))
    return out


def _refuse_pool_shrink() -> None:
    from exchangelib.errors import SessionPoolMinSizeReached

    raise SessionPoolMinSizeReached("the raw client keeps its pool")


def raw_child(pst: str, ews_url: str, email: str, threads: str) -> None:
    """Child: the minimal exchangelib client; prints MARK + {items, seconds}.

    Each item is a plain exchangelib `Message` with what our payload carries (MIME, read state, subject,
    importance, sensitivity, categories, the stamp and the other extended properties, named for
    exchangelib by `props.register`), sent with `Account.bulk_create`, 10 a request.
    """
    from exchangelib import DELEGATE, Account, Configuration, Credentials, Folder, Message
    from exchangelib.transport import BASIC

    from core.mapi import PidNamePstImportSourceKey
    from core.transport.ews import props

    n = int(threads)
    cfg = Configuration(
        service_endpoint=ews_url,
        auth_type=BASIC,
        credentials=Credentials(email, os.environ["RAW_PASSWORD"]),
        max_connections=n,
    )
    acc = Account(email, config=cfg, autodiscover=False, access_type=DELEGATE)
    # The one guard every threaded exchangelib 5.6 client needs (our transport's _keep_pool does the same):
    # exchangelib answers ErrorServerBusy (which is how it reads gromox's keep-alive refusal) by shrinking its
    # session pool, and decrease_poolsize re-enters its own pool lock through get_session/increase_poolsize:
    # without this, 4 and 8 threads deadlocked in 2 of 2 runs here. Refusing as at the pool's minimum size
    # makes exchangelib raise the fault instead, and the chunk is sent again below.
    acc.protocol.decrease_poolsize = _refuse_pool_shrink
    folder = Folder(parent=acc.inbox, name="raw", folder_class="IPF.Note")
    folder.save()
    items = []
    for p in prebuilt(Path(pst)):
        m = Message(
            account=acc,
            folder=folder,
            mime_content=p.mime,
            is_read=p.is_read,
            subject=p.subject,
            importance=p.importance.capitalize(),
            sensitivity=p.sensitivity.capitalize(),
            categories=list(p.categories) or None,
        )
        setattr(m, props.register(PidNamePstImportSourceKey), p.source_key)
        for ext in props.sendable(p):
            setattr(m, props.register(ext.prop), props.wire_value(ext.value))
        items.append(m)
    chunks: queue.Queue = queue.Queue()
    for i in range(0, len(items), BATCH):
        chunks.put(items[i : i + BATCH])
    created = [0]
    lock = threading.Lock()

    def work() -> None:
        while True:
            try:
                chunk = chunks.get_nowait()
            except queue.Empty:
                return
            for _attempt in range(3):
                # A minimal client still resends a chunk whose answer it lost: gromox closes the connection
                # after a request over 64 KiB and refuses the next one on it (DEVIATION_KEEPALIVE).
                try:
                    results = acc.bulk_create(folder=folder, items=chunk)
                except Exception:  # noqa: BLE001 - resent on a new connection
                    continue
                with lock:
                    created[0] += sum(1 for r in results if not isinstance(r, Exception))
                break

    t0 = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    print(MARK + json.dumps({"items": created[0], "seconds": round(seconds, 3)}), flush=True)


def ceiling_part(work: Path, cache: Path, quick: bool) -> dict:
    from tests.conftest import SHARED
    from tests.gromox import GromoxUnavailable, make_gromox

    items = CEILING_ITEMS["quick" if quick else "full"]
    pst = folders_pst(cache, items, items)
    gx = make_gromox(SHARED)
    try:
        gx.check()
    except GromoxUnavailable as exc:
        return {"status": "N/A", "note": f"gromox not available: {exc}"}
    raw_rows, our_rows = [], []
    try:
        with tempfile.TemporaryDirectory(dir=work) as tmp_s:
            tmp = Path(tmp_s)
            # Rounds alternate the two clients, each run into a mailbox of its own, so a change of load on
            # a shared machine touches both alike; each keeps its best run (the least disturbed).
            for rnd in range(ROUNDS):
                for threads in RAW_THREADS if rnd == 0 else RAW_THREADS[-2:]:
                    mb = gx.lease()
                    child = run_child(
                        py("-m", "tests.bench.suite", "_raw_gromox", str(pst), mb.ews_url, mb.email, str(threads)),
                        env={"RAW_PASSWORD": mb.password},
                        timeout=RAW_TIMEOUT_S,
                    )
                    try:
                        r = child.result()
                    except RuntimeError:  # killed at the timeout (or failed): no figure, said so
                        raw_rows.append({"round": rnd + 1, "threads": threads, "items_per_s": None, "stuck": True})
                    else:
                        ips = round(rate(r["items"], r["seconds"]), 1)
                        raw_rows.append({"round": rnd + 1, "threads": threads, **r, "items_per_s": ips})
                    if threads in OUR_THREADS:
                        mb = gx.lease()
                        name = f"gromox-r{rnd + 1}-t{threads}"
                        profile = write_profile(
                            tmp, name, pst, mb.ews_url, mb.email, threads, {"root": "folder", "folder": "ours"}
                        )
                        our_rows.append({"round": rnd + 1, "threads": threads, **timed_run(tmp, profile, mb.password)})
    finally:
        gx.stop()
    ceiling = max((r["items_per_s"] for r in raw_rows if r["items_per_s"]), default=0)
    best = max((r["upload_items_per_s"] or 0) for r in our_rows)
    ratio = round(best / ceiling, 3) if ceiling else None
    return {
        "items": items,
        "raw": raw_rows,
        "ours": our_rows,
        "ceiling_items_per_s": ceiling,
        "ours_items_per_s": best,
        "ratio": ratio,
        "status": verdict(None if ratio is None else ratio >= TARGET),
    }


def run(work: Path, cache: Path, quick: bool = False) -> dict:
    setup = setup_part(work, cache, quick)
    ceiling = ceiling_part(work, cache, quick)
    ok = ceiling.get("ratio")
    return {
        "title": "Folder setup and verification at 100 ms latency; our import into gromox against a raw client",
        "target": f"first item and verification faster than {BASELINE} (same run); gromox >= {TARGET:.0%} of the "
        "raw exchangelib client's best items/s",
        "ratio": ok,
        "status": ceiling.get("status", "N/A"),
        "setup": setup,
        "gromox": ceiling,
    }


def render(g: dict) -> list[str]:
    """The group's section of report.md."""
    from tests.bench.suite import table

    out = []
    s = g.get("setup")
    if s:
        out.append(
            f"Setup: {s['pst']['items']} items in {s['pst']['folders']} folders, sandbox latency {s['latency_ms']} ms, "
            f"{s['threads']} threads; before = {s['baseline']}"
        )
        keys = ["run_started_s", "first_item_s", "verify_s", "seconds", "imported", "failed"]
        out += table(["tree", *keys], [[k, *[v.get(x) for x in keys]] for k, v in s["rows"].items()])
        out.append(f"Speed-up (before / after): {s.get('speedup')}")
        out.append("")
    c = g.get("gromox")
    if c and c.get("raw"):
        out.append(f"gromox, {c['items']} items, batch {BATCH}:")
        out += table(
            ["client", "round", "threads", "items/s"],
            [
                ["raw exchangelib", r.get("round", 1), r["threads"], "stuck" if r.get("stuck") else r["items_per_s"]]
                for r in c["raw"]
            ]
            + [["pstimport (upload)", r.get("round", 1), r["threads"], r["upload_items_per_s"]] for r in c["ours"]],
        )
        stuck = sum(1 for r in c["raw"] if r.get("stuck"))
        if stuck:
            out.append(f"{stuck} raw round(s) stuck and killed after {RAW_TIMEOUT_S} s; left out of the ceiling.")
        out.append(f"Ours / ceiling: {c['ratio']} ({c['status']})")
    elif c:
        out.append(c.get("note", ""))
    return out
