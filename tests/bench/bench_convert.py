"""Read + convert throughput against `readpst -e` on the same files, side by side in one run.

    python -m tests.bench.bench_convert [--corpus-files 3] [--scale-mb 1024 4096] [--no-scale]
                                        [--repeat N] [--learn-variants] [--profile] [PST ...]

For each file: our read and conversion of every item exactly as the engine's reader thread does
it (`open_pst`, `ConvertContext.for_pst` with the address resolver's on-demand learning pass,
`convert()` per item: MIME or typed payload, attachments base64-encoded, embedded messages
recursed), then `readpst -e -D -j 0` writing its .eml/.vcf/.ics files to a temporary directory.
Each side runs --repeat times (default: 3 for files under 100 MB, else 1) and its best time counts.
Prints items/s and MB/s (file size over wall time) of both, the ratio ours / readpst (>= 1.0 is
the target), CPU seconds of both (less sensitive to a busy machine), and one JSON line per file.

Defaults: the --corpus-files biggest readable corpus files and writer scale PSTs of --scale-mb
MB (made once, kept in $TMPDIR/pstimport-bench; the 4 GB one takes a few minutes to write).
--learn-variants also times the learning pass up front and without it. --profile runs ours once
more under pyinstrument and prints where the time goes, by part of the pipeline.
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
from collections import defaultdict
from pathlib import Path

from core.convert import AddressResolver, ConversionError, ConvertContext, convert
from core.pst import open_pst
from tests.need import CORPUS

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(tempfile.gettempdir()) / "pstimport-bench"
SMALL_FILE = 100e6


def biggest_corpus_files(count: int) -> list[Path]:
    files = [p for p in CORPUS.glob("*.*st") if not p.name.startswith(("BROKEN_", "NOTPST_", "QUIRK_"))]
    return sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:count]


def scale_pst(size_mb: int) -> Path | None:
    out = CACHE / f"scale-{size_mb}mb.pst"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"writing a {size_mb} MB scale PST with our writer ...", file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "core.cli", "sandbox", "make-pst", str(out), "--seed", "1", "--mode", "scale"]
    proc = subprocess.run([*cmd, "--size-mb", str(size_mb)], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        print(f"scale PST not made: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return out


def ours(path: Path, learn: str = "lazy") -> dict:
    """learn: 'lazy' (the engine's default: the learning pass when first needed), 'eager' or 'none'."""
    items = failed = out_bytes = 0
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
                out_bytes += payload.size
    return {
        "items": items,
        "failed": failed,
        "seconds": time.perf_counter() - start,
        "learn_seconds": learn_s,
        "cpu_seconds": time.process_time() - cpu0,
        "output_bytes": out_bytes,
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


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


# --- where the time goes ------------------------------------------------------------------

# (path fragment, function names or None for any) -> part of the pipeline; the nearest matching
# frame above a sample decides, so base64 reading through the NDB layer counts as NDB.
_PARTS: list[tuple[str, frozenset[str] | None, str]] = [
    ("core/pst/ndb/", None, "NDB layer: attachment tables and data blocks"),
    ("core/pst/values.py", None, "property decoding (values.py)"),
    ("core/pst/namedprops.py", None, "named-property map"),
    ("core/pst/reader.py", None, "reader: pypff property reads, bags, recipient rows"),
    ("core/pst/model.py", None, "item model accessors"),
    ("core/convert/body.py", None, "bodies: RTF decompression and de-encapsulation, HTML"),
    ("core/convert/mime.py", frozenset({"_base64", "_base64_body"}), "attachments: base64"),
    ("core/convert/mime.py", frozenset({"write", "as_bytes", "_as_bytes"}), "MIME serialisation"),
    ("core/convert/mime.py", None, "MIME headers and structure"),
    ("core/convert/addresses.py", None, "addresses (parties, EX resolution)"),
    ("core/convert/entryid.py", None, "addresses (parties, EX resolution)"),
    ("core/convert/extended.py", None, "extended properties and payload"),
    ("core/convert/convert.py", None, "extended properties and payload"),
    ("core/convert/typed.py", None, "typed payloads (calendar, contacts, tasks)"),
    ("core/convert/recurrence.py", None, "typed payloads (calendar, contacts, tasks)"),
    ("core/convert/timezone.py", None, "typed payloads (calendar, contacts, tasks)"),
]
_PYPFF_TYPES = ("file.", "folder.", "message.", "item.", "record_set.", "record_entry.", "attachment.", "recipients.")


def _part(frame, inherited: str) -> str:  # noqa: ANN001 - a pyinstrument Frame
    path = (frame.file_path or "").replace(os.sep, "/")
    name = frame.function or ""
    if name.startswith(_PYPFF_TYPES) or (name == "getattr" and inherited.startswith("reader")):
        return "pypff (C library calls)"
    for fragment, functions, part in _PARTS:
        if fragment in path and (functions is None or name.split(".")[-1] in functions):
            return part
    return inherited


def profile(path: Path) -> dict[str, float]:
    """Seconds per part of the pipeline for one profiled run of `ours(path)`."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    ours(path)
    profiler.stop()
    parts: dict[str, float] = defaultdict(float)

    def walk(frame, part: str) -> None:  # noqa: ANN001
        part = _part(frame, part)
        if not frame.children:
            parts[part] += frame.time
        for child in frame.children:
            walk(child, part)

    walk(profiler.last_session.root_frame(), "other (open, folder walk, Python)")
    return dict(sorted(parts.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--corpus-files", type=int, default=3, help="how many of the biggest corpus files")
    ap.add_argument("--scale-mb", type=int, nargs="*", default=[1024, 4096])
    ap.add_argument("--no-scale", action="store_true")
    ap.add_argument("--repeat", type=int, default=None, help="runs per side (default 3 under 100 MB, else 1)")
    ap.add_argument("--learn-variants", action="store_true", help="also time the learning pass eager and off")
    ap.add_argument("--profile", action="store_true", help="print where our time goes, per file")
    args = ap.parse_args(argv)
    files = list(args.files)
    if not files:
        files.extend(biggest_corpus_files(args.corpus_files))
        if not args.no_scale:
            files.extend(p for p in (scale_pst(mb) for mb in args.scale_mb) if p is not None)
    for path in files:
        mb = path.stat().st_size / 1e6
        with path.open("rb") as f:  # warm the page cache so no side pays the cold read alone
            while f.read(1 << 24):
                pass
        repeat = args.repeat or (3 if mb * 1e6 < SMALL_FILE else 1)
        mine: list[dict] = []
        theirs: list[dict] = []
        for _ in range(repeat):  # interleaved, so both sides see the same machine load
            mine.append(ours(path))
            r = readpst(path)
            if r is not None:
                theirs.append(r)
        o, t = best(mine), (best(theirs) if theirs else None)
        row: dict = {
            "file": path.name,
            "mb": round(mb, 1),
            "runs": repeat,
            "ours": {
                "items": o["items"],
                "failed": o["failed"],
                "seconds": round(o["seconds"], 3),
                "items_per_s": round(rate(o["items"], o["seconds"]), 1),
                "mb_per_s": round(rate(mb, o["seconds"]), 2),
                "cpu_seconds": round(o["cpu_seconds"], 3),
                "output_mb": round(o["output_bytes"] / 1e6, 1),
                "learn_pass_ran": o["learned"],
            },
            "readpst": None,
            "ratio": None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        if t is not None:
            row["readpst"] = {
                "files_written": t["items"],
                "seconds": round(t["seconds"], 3),
                "items_per_s": round(rate(o["items"], t["seconds"]), 1),
                "mb_per_s": round(rate(mb, t["seconds"]), 2),
                "cpu_seconds": round(t["cpu_seconds"], 3),
            }
            # same items and bytes on both sides: the items/s and MB/s ratios are one number
            row["ratio"] = round(t["seconds"] / o["seconds"], 3) if o["seconds"] else None
            row["cpu_ratio"] = round(t["cpu_seconds"] / o["cpu_seconds"], 3) if o["cpu_seconds"] else None
        if args.learn_variants:
            for learn in ("eager", "none"):
                v = ours(path, learn)
                row["ours"][f"{learn}_learn_items_per_s"] = round(rate(v["items"], v["seconds"]), 1)
                row["ours"][f"{learn}_learn_pass_seconds"] = round(v["learn_seconds"], 3)
        r = row["ours"]
        line = f"{path.name}: {mb:.1f} MB, {r['items']} items; ours {r['items_per_s']} items/s {r['mb_per_s']} MB/s"
        line += f" ({r['cpu_seconds']} CPU s)"
        if t is not None:
            p = row["readpst"]
            line += f"; readpst -e {p['items_per_s']} items/s {p['mb_per_s']} MB/s ({p['cpu_seconds']} CPU s)"
            line += f"; ratio {row['ratio']} (CPU {row['cpu_ratio']})"
        print(line, flush=True)
        if args.profile:
            row["profile_seconds"] = {k: round(v, 3) for k, v in profile(path).items()}
            total = sum(row["profile_seconds"].values()) or 1.0
            for part, seconds in row["profile_seconds"].items():
                print(f"    {seconds:8.3f} s {100 * seconds / total:5.1f}%  {part}")
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
