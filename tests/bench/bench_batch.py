"""Batch benchmark: total items/s for 1, 4 and 16 mailboxes in parallel, per-mailbox throttling on.

    python -m tests.bench.bench_batch [ITEMS_PER_MAILBOX]

The sandbox runs in its own process with `--latency-ms` and `--max-concurrency` (EWSMaxConcurrency:
requests in flight per impersonated mailbox; more are refused ErrorServerBusy). Each mailbox gets
one scale PST; the batch imports 1, 4 and 16 mailboxes at once (fresh mailboxes each time) through
`core.batch.run_batch`, exactly what `pstimport batch` runs. The target: 16 mailboxes give at least
8x the items/s of one. `run() -> dict` is what the `make bench` harness calls.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SVC = "svc@bench.test"
PASSWORD = "Bench-Pa55"
# Settings (environment overrides: BENCH_BATCH_LATENCY_MS, _MAX_CONCURRENCY, _THREADS, _BATCH, _ITEMS).
LATENCY_MS = int(os.environ.get("BENCH_BATCH_LATENCY_MS", 200))  # a WAN round trip plus Exchange's own time
MAX_CONCURRENCY = int(os.environ.get("BENCH_BATCH_MAX_CONCURRENCY", 2))  # per mailbox, enforced by the server
# The template's max_threads: one over the server's limit, so each mailbox's own limiter meets
# ErrorServerBusy and adapts (its throttle state), as against a real Exchange.
THREADS = int(os.environ.get("BENCH_BATCH_THREADS", 3))
BATCH = int(os.environ.get("BENCH_BATCH_BATCH", 2))
ITEMS_PER_MAILBOX = int(os.environ.get("BENCH_BATCH_ITEMS", 240))
CASES = (1, 4, 16)
TARGET_RATIO = 8.0


def _serve(state: Path, users: list[str]) -> tuple[subprocess.Popen, dict]:
    args = [sys.executable, "-m", "core.cli", "sandbox", "serve", "--state", str(state),
            "--latency-ms", str(LATENCY_MS), "--max-concurrency", str(MAX_CONCURRENCY),
            "--impersonator", SVC, "--user", f"{SVC}:{PASSWORD}"]  # fmt: skip
    for u in users:
        args += ["--user", f"{u}:{PASSWORD}"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def _template(tmp: Path, ews_url: str) -> Path:
    path = tmp / "bench-batch.yaml"
    path.write_text(
        "\n".join(
            [
                "version: 1",
                "name: bench-batch",
                "connection:",
                "  target: on-premises",
                "  discovery: direct",
                f"  ews_url: {ews_url}",
                f"  auth: {{method: password, username: {SVC}}}",
                "  impersonation: true",
                # Only the scale messages' folders: the benchmark is about uploads, not the
                # dozen empty well-known folders each PST would otherwise create and count.
                "sources: [{path: unused.pst, include: ['Inbox/**']}]",
                f"performance: {{max_threads: {THREADS}, batch_items: {BATCH}}}",
                f"report: {{directory: '{tmp / 'reports'}'}}",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def _cpu_seconds(pid: int) -> float:
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except Exception:  # noqa: BLE001 - optional figure
        return 0.0


def run(items_per_mailbox: int = ITEMS_PER_MAILBOX) -> dict:
    """Measure; returns the figures (also printed as JSON lines by `main`)."""
    from core.batch import BatchOptions, load_mapping, load_template, run_batch
    from core.batch.runner import secret_stdin_factory
    from core.sandbox.pstwriter import generate

    total = sum(CASES)
    users = [f"user{n:02d}@bench.test" for n in range(1, total + 1)]
    out: dict = {
        "benchmark": "batch",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {
            "latency_ms": LATENCY_MS,
            "server_max_concurrency_per_mailbox": MAX_CONCURRENCY,
            "max_threads": THREADS,
            "batch_items": BATCH,
            "items_per_mailbox": items_per_mailbox,
            "ideal_per_mailbox_items_per_s": round(min(THREADS, MAX_CONCURRENCY) * BATCH / (LATENCY_MS / 1000), 1),
        },
        "cases": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmpname:
        tmp = Path(tmpname)
        saved = {k: os.environ.get(k) for k in ("PSTIMPORT_STATE_DIR", "PSTIMPORT_PASSWORD", "PSTIMPORT_KEYRING")}
        os.environ.update(PSTIMPORT_STATE_DIR=str(tmp / "state"), PSTIMPORT_PASSWORD=PASSWORD, PSTIMPORT_KEYRING="none")
        proc, info = _serve(tmp / "sandbox", users)
        try:
            psts = []
            for n, _user in enumerate(users):
                p = tmp / f"mbx{n:02d}.pst"
                generate(str(p), seed=9000 + n, mode="scale", items=items_per_mailbox, mix="small")
                psts.append(p)
            template, _notes = load_template(_template(tmp, info["ews_url"]))
            first = 0
            for count in CASES:
                csv = tmp / f"map-{count}.csv"
                csv.write_text(
                    "path,mailbox\n" + "".join(f"{psts[i]},{users[i]}\n" for i in range(first, first + count)),
                    encoding="utf-8",
                )
                first += count
                rows = load_mapping(csv)
                options = BatchOptions(parallel_mailboxes=count, max_connections=max(32, count * THREADS))
                cpu0, srv0 = time.process_time(), _cpu_seconds(proc.pid)
                t0 = time.perf_counter()
                result = run_batch(
                    template, rows, options, lambda e: None, threading.Event(), secret_stdin_factory(template)
                )
                seconds = time.perf_counter() - t0
                bad = [o for o in result.outcomes if o.status != "ok"]
                case = {
                    "mailboxes": count,
                    "items": result.imported,
                    "seconds": round(seconds, 2),
                    "items_per_s": round(result.imported / seconds, 1),
                    "per_mailbox_items_per_s": round(result.imported / seconds / count, 1),
                    "throttled": sum(o.throttled for o in result.outcomes),
                    "peak_connections": result.peak_connections,
                    "client_cpu_s": round(time.process_time() - cpu0, 1),
                    "server_cpu_s": round(_cpu_seconds(proc.pid) - srv0, 1),
                    "not_ok": [f"{o.unit.mailbox}: {o.status} {o.error or ''}" for o in bad],
                }
                out["cases"].append(case)
                print(json.dumps(case), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    by = {c["mailboxes"]: c["items_per_s"] for c in out["cases"]}
    ratio = round(by[16] / by[1], 2) if by.get(1) else None
    out["ratio_16_vs_1"] = ratio
    out["target_ratio"] = TARGET_RATIO
    out["target_met"] = ratio is not None and ratio >= TARGET_RATIO
    return out


def main() -> int:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else ITEMS_PER_MAILBOX
    result = run(items)
    summary = {k: result[k] for k in ("ratio_16_vs_1", "target_ratio", "target_met")}
    print(json.dumps({"settings": result["settings"], **summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
