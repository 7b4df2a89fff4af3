"""RTF body extraction (`core.convert.body._rtf_walk`) against the walks it replaced, side by side.

    python -m tests.bench.bench_rtf_walk [--repeat 7] [PST ...]

For each file (default: the corpus files with the most RTF): every decompressed RTF body goes
through the mode the converter uses (de-encapsulation for \\fromhtml/\\fromtext, plain text for
native RTF) three ways: the old walk (kept as the oracle in tests/convert/test_bodies.py), the
token loop alone (`bulk=False`, the walk before the bulk path) and the current walk (the bulk path
where it takes the document, else the token loop). They alternate, --repeat times each, in one
process, so a busy machine slows all alike; the best time of each counts. Prints ms, us per body,
the speed-ups, how many bodies the bulk path took, and the load average. Each body is converted
separately: nothing is cached from one body to the next (the corpus files repeat one body many
times, which a cross-body cache would turn into a fake win).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from core.convert.body import (
    _DEENCAPSULATE,
    _PLAIN_TEXT,
    RtfError,
    _bulk_deencapsulate,
    _document_codec,
    _rtf_walk,
    decompress_rtf,
    rtf_encapsulation,
)
from core.pst import open_pst
from tests.convert.test_bodies import _old_rtf_walk
from tests.need import CORPUS

DEFAULT = (
    "pst2john_2007_default_orxgnm.pst",
    "pst2john_2003_no-encryption_quickbrownfox.pst",
    "aspose-net_SampleOstFile.ost",
)


def rtf_bodies(path: Path) -> list[bytes]:
    out: list[bytes] = []
    with open_pst(path) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                if hasattr(item, "props") and item.rtf_compressed:
                    try:
                        out.append(decompress_rtf(item.rtf_compressed)[0])
                    except RtfError:
                        pass
    return out


def jobs(bodies: list[bytes]) -> list[tuple[bytes, object, str]]:
    return [
        (rtf, _DEENCAPSULATE if rtf_encapsulation(rtf) else _PLAIN_TEXT, _document_codec(rtf, "cp1252"))
        for rtf in bodies
    ]


def new(work) -> None:  # noqa: ANN001
    for rtf, mode, codec in work:
        _rtf_walk(rtf, mode, codec)


def tokens(work) -> None:  # noqa: ANN001
    for rtf, mode, codec in work:
        _rtf_walk(rtf, mode, codec, bulk=False)


def old(work) -> None:  # noqa: ANN001
    for rtf, mode, codec in work:
        _old_rtf_walk(rtf, mode.words, mode.skip, mode.html, codec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    files = args.files or [CORPUS / name for name in DEFAULT]
    for path in files:
        if not path.exists():
            print(f"{path}: not found (the corpus is at ../shared/pst-corpus)")
            continue
        bodies = rtf_bodies(path)
        work = jobs(bodies)
        bulk = sum(mode is _DEENCAPSULATE and _bulk_deencapsulate(rtf, codec) is not None for rtf, mode, codec in work)
        best = {"old": float("inf"), "tokens": float("inf"), "new": float("inf")}
        for _ in range(args.repeat):
            for name, fn in (("old", old), ("tokens", tokens), ("new", new)):
                start = time.perf_counter()
                fn(work)
                best[name] = min(best[name], time.perf_counter() - start)
        per = {name: f"{t * 1e3:.1f} ms ({t / max(len(work), 1) * 1e6:.0f} us/body)" for name, t in best.items()}
        print(
            f"{path.name}: {len(bodies)} RTF bodies, {sum(map(len, bodies)) / 1e6:.2f} MB, "
            f"{sum(mode is _DEENCAPSULATE for _, mode, _ in work)} encapsulated, {bulk} by the bulk path: "
            f"old {per['old']}, tokens {per['tokens']}, new {per['new']}; new is "
            f"{best['tokens'] / best['new']:.2f}x tokens, {best['old'] / best['new']:.2f}x old "
            f"(load average {os.getloadavg()[0]:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
