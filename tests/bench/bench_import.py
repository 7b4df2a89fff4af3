"""Import engine benchmark against the sandbox EWS server in its own process.

    python -m tests.bench.bench_import [throughput ITEMS] [rss SIZE_MB...]

throughput: a scale PST of ITEMS small messages (default 1000) is imported with 1, 2, 4 and 8
  threads, batch 10, against 50 ms injected latency. Ideal = threads * batch / latency. Also
  the read+convert ceiling (a dry run), which bounds every thread count.
rss: scale PSTs of each SIZE_MB (default 100 1024 4096; cached under .bench/psts) are imported
  with 4 threads while peak RSS of the importing process is sampled; the target is under 300 MB,
  and at most 1.2x the peak at the smallest size (flat).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent.parent
USER = "bench@sandbox.test"
PASSWORD = "Bench-Pa55"
LATENCY_MS = 50
BATCH = 10


def _serve(state: Path, latency_ms: int) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "core.cli",
            "sandbox",
            "serve",
            "--state",
            str(state),
            "--user",
            f"{USER}:{PASSWORD}",
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def _profile(tmp: Path, pst: Path, ews_url: str, name: str, threads: int) -> Path:
    from core.profile.io import save_profile
    from core.profile.model import Profile

    prof = Profile.new(
        name=name,
        mailbox=USER,
        sources=[pst],
        target="on-premises",
        ews_url=ews_url,
        username=USER,
        destination={"root": "folder", "folder": f"bench/{name}"},
        performance={"max_threads": threads, "batch_items": BATCH},
        address_rewriting={"enabled": False},
        report={"directory": str(tmp / "reports")},
    )
    path = tmp / f"{name}.yaml"
    save_profile(prof, path, check=False)
    return path


def _run(profile: Path, extra: list[str] = ()) -> tuple[dict, float, float, int]:
    """Run `pstimport run --json`; returns (RunFinished, seconds, upload-phase seconds, peak RSS bytes)."""
    env = dict(os.environ, PSTIMPORT_PASSWORD=PASSWORD)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run", str(profile), "--json", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                peak = max(peak, p.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    first = last = None
    finished: dict = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        e = json.loads(line)
        # The upload phase starts at the first FolderStarted (as in the suite): from the first
        # ItemImported it would leave out the first batch's round trip, one in 25 at 4 threads.
        if e["event"] == "FolderStarted":
            first = first or time.perf_counter()
        elif e["event"] == "ItemImported":
            last = time.perf_counter()
        elif e["event"] == "RunFinished":
            finished = e
    proc.wait()
    stop.set()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
    total = time.perf_counter() - start
    upload = (last - first) if first and last and last > first else total
    return finished, total, upload, peak


def throughput(items: int) -> None:
    from core.sandbox.pstwriter.content import generate

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        os.environ["PSTIMPORT_STATE_DIR"] = str(tmp / "state")
        pst = tmp / "bench.pst"
        generate(str(pst), seed=1, mode="scale", items=items, mix="small")
        proc, info = _serve(tmp / "sandbox", LATENCY_MS)
        print(f"load average at the start: {os.getloadavg()}")
        try:
            dry, dry_total, _, _ = _run(_profile(tmp, pst, info["ews_url"], "dry", 1), ["--dry-run"])
            print(
                f"read+convert ceiling (dry run): {items / dry_total:.0f} items/s over {dry_total:.1f} s "
                f"(includes start-up)"
            )
            for threads in (1, 2, 4, 8):
                fin, total, upload, peak = _run(_profile(tmp, pst, info["ews_url"], f"t{threads}", threads))
                ideal = threads * BATCH / (LATENCY_MS / 1000)
                rate = fin["imported"] / upload
                print(
                    f"threads {threads}: {fin['imported']} items, {rate:.0f} items/s in the upload phase "
                    f"({fin['imported'] / total:.0f}/s overall), ideal {ideal:.0f}/s = {rate / ideal:.0%}, "
                    f"peak RSS {peak / 2**20:.0f} MB"
                )
            print(f"load average at the end: {os.getloadavg()}")
        finally:
            proc.terminate()
            proc.wait()


def rss(sizes_mb: list[int]) -> None:
    """Peak RSS of the importer for scale PSTs of each size (cached under .bench/psts), and the flatness ratio."""
    from tests.bench.suite import cached_pst

    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        os.environ["PSTIMPORT_STATE_DIR"] = str(tmp / "state")
        proc, info = _serve(tmp / "sandbox", 0)
        try:
            for size_mb in sizes_mb:
                t = time.perf_counter()
                pst, made = cached_pst(REPO / ".bench" / "psts", seed=1, size_mb=size_mb)
                how = f"made in {made:.0f} s" if made else "cached"
                print(f"{pst.name}: {pst.stat().st_size / 2**20:.0f} MB ({how}, {time.perf_counter() - t:.0f} s)")
                fin, total, upload, peak = _run(_profile(tmp, pst, info["ews_url"], f"rss{size_mb}", 4))
                peaks.append(peak / 2**20)
                print(
                    f"  imported {fin['imported']} items ({fin['failed']} failed) in {total:.0f} s; "
                    f"peak RSS of the importer {peak / 2**20:.0f} MB (target < 300 MB)",
                    flush=True,
                )
        finally:
            proc.terminate()
            proc.wait()
    if len(peaks) > 1 and peaks[0]:
        ratio = peaks[-1] / peaks[0]
        print(f"flatness: peak at {sizes_mb[-1]} MB / peak at {sizes_mb[0]} MB = {ratio:.2f} (target <= 1.2)")
    print(f"load average at the end: {os.getloadavg()}")


def main() -> int:
    args = sys.argv[1:] or ["throughput"]
    mode = args[0]
    if mode == "throughput":
        throughput(int(args[1]) if len(args) > 1 else 1000)
    elif mode == "rss":
        rss([int(a) for a in args[1:]] or [100, 1024, 4096])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
