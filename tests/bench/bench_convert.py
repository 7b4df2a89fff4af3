"""Conversion throughput against readpst on the same files, in the same run.

    python -m tests.bench.bench_convert [--scale-mb 1024] [--no-scale] [PST ...]

For each file: our read + convert of every item (MIME or typed payload, attachments included),
with the address resolver's learning pass on demand (the default), up front, and without it,
then `readpst -e -D -j 0` (which also writes its .eml/.vcf/.ics files to a temporary
directory). Prints items/s and MB/s (file size over wall time) of both, MB per CPU second (less
sensitive to a busy machine), and one JSON line per file. Defaults: the biggest corpus file,
and a writer scale PST of --scale-mb MB (made once, kept in $TMPDIR/pstimport-bench).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.convert import AddressResolver, ConversionError, ConvertContext, convert
from core.pst import open_pst

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "pst-corpus"
CACHE = Path(tempfile.gettempdir()) / "pstimport-bench"


def biggest_corpus_file() -> Path | None:
    files = [p for p in CORPUS.glob("*.*st") if not p.name.startswith(("BROKEN_", "NOTPST_"))]
    return max(files, key=lambda p: p.stat().st_size) if files else None


def scale_pst(size_mb: int) -> Path | None:
    out = CACHE / f"scale-{size_mb}mb.pst"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "sandbox",
            "make-pst",
            str(out),
            "--seed",
            "1",
            "--mode",
            "scale",
            "--size-mb",
            str(size_mb),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not out.exists():
        print(f"scale PST not made: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return out


def ours(path: Path, learn: str) -> dict:
    """learn: 'eager' (pass up front), 'lazy' (the default: pass when first needed) or 'none'."""
    items = failed = mime_bytes = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    with open_pst(path) as pst:
        t0 = time.perf_counter()
        if learn == "none":
            ctx = ConvertContext(pst.info.record_key.hex(), AddressResolver())
        else:
            ctx = ConvertContext.for_pst(pst, lazy=learn == "lazy")
        learn_s = time.perf_counter() - t0
        for folder in pst.folders():
            for item in pst.items(folder):
                if not hasattr(item, "props"):
                    failed += 1
                    continue
                try:
                    payload = convert(item, ctx)
                except ConversionError:
                    failed += 1
                    continue
                items += 1
                mime_bytes += payload.size
    return {
        "items": items,
        "failed": failed,
        "seconds": time.perf_counter() - start,
        "learn_seconds": learn_s,
        "cpu_seconds": time.process_time() - cpu0,
        "output_bytes": mime_bytes,
        "learned": ctx.resolver.learned,
    }


def readpst(path: Path) -> dict | None:
    exe = shutil.which("readpst")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([exe, "-e", "-D", "-j", "0", "-o", out, str(path)], capture_output=True)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        files = sum(len(f) for _, _, f in os.walk(out))
    return {"items": files, "seconds": seconds, "cpu_seconds": cpu}


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--scale-mb", type=int, default=1024)
    ap.add_argument("--no-scale", action="store_true")
    args = ap.parse_args(argv)
    files = list(args.files)
    if not files:
        big = biggest_corpus_file()
        if big:
            files.append(big)
        if not args.no_scale:
            scale = scale_pst(args.scale_mb)
            if scale:
                files.append(scale)
    for path in files:
        mb = path.stat().st_size / 1e6
        with path.open("rb") as f:  # warm the page cache so no run pays the cold read alone
            while f.read(1 << 24):
                pass
        with_learn = ours(path, learn="lazy")
        eager = ours(path, learn="eager")
        without = ours(path, learn="none")
        theirs = readpst(path)
        row = {
            "file": path.name,
            "mb": round(mb, 1),
            "ours": {
                "items": with_learn["items"],
                "failed": with_learn["failed"],
                "seconds": round(with_learn["seconds"], 2),
                "items_per_s": round(rate(with_learn["items"], with_learn["seconds"]), 1),
                "mb_per_s": round(rate(mb, with_learn["seconds"]), 2),
                "learn_pass_ran": with_learn["learned"],
                "eager_learn_items_per_s": round(rate(eager["items"], eager["seconds"]), 1),
                "eager_learn_mb_per_s": round(rate(mb, eager["seconds"]), 2),
                "eager_learn_pass_seconds": round(eager["learn_seconds"], 2),
                "without_learn_items_per_s": round(rate(without["items"], without["seconds"]), 1),
                "without_learn_mb_per_s": round(rate(mb, without["seconds"]), 2),
                "output_mb": round(with_learn["output_bytes"] / 1e6, 1),
                "cpu_seconds": round(with_learn["cpu_seconds"], 2),
                "mb_per_cpu_s": round(rate(mb, with_learn["cpu_seconds"]), 2),
            },
            "readpst": None
            if theirs is None
            else {
                "files_written": theirs["items"],
                "seconds": round(theirs["seconds"], 2),
                "items_per_s": round(rate(with_learn["items"], theirs["seconds"]), 1),
                "mb_per_s": round(rate(mb, theirs["seconds"]), 2),
                "cpu_seconds": round(theirs["cpu_seconds"], 2),
                "mb_per_cpu_s": round(rate(mb, theirs["cpu_seconds"]), 2),
            },
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        o = row["ours"]
        line = (
            f"{path.name}: {mb:.1f} MB, {o['items']} items; ours {o['items_per_s']} items/s {o['mb_per_s']} MB/s"
            f" ({o['mb_per_cpu_s']} MB per CPU s)"
        )
        if theirs is not None:
            r = row["readpst"]
            line += f"; readpst -e {r['items_per_s']} items/s {r['mb_per_s']} MB/s ({r['mb_per_cpu_s']} MB per CPU s)"
        print(line)
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
