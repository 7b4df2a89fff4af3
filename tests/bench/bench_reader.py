"""Reader benchmark: read a PST end to end (every item, every attachment streamed); peak RSS and rate.

    python -m tests.bench.bench_reader [PST ...]

The issue's target: the corpus's largest file read end to end keeps peak RSS under 150 MB.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from pathlib import Path

from core.pst import open_pst
from core.pst.model import Item
from tests.need import CORPUS

DEFAULT = CORPUS / "pst2john_2003_no-encryption_quickbrownfox.pst"
CHUNK = 1 << 16


def consume(item: Item) -> tuple[int, int]:
    """Touch everything an import would: bodies, recipients, attachment bytes, embedded items."""
    n_att = n_bytes = 0
    _ = (item.subject, item.body_text, item.body_html, item.rtf_compressed, [r.smtp_address for r in item.recipients])
    for att in item.attachments:
        n_att += 1
        if att.is_embedded_message:
            a, b = consume(att.embedded)
            n_att += a
            n_bytes += b
            continue
        digest = hashlib.sha256()
        with att.open() as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                n_bytes += len(chunk)
    return n_att, n_bytes


def bench(path: Path) -> dict:
    start = time.perf_counter()
    items = attachments = data = 0
    with open_pst(path) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                if isinstance(item, Item):
                    items += 1
                    a, b = consume(item)
                    attachments += a
                    data += b
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "file": path.name,
        "size_mb": round(path.stat().st_size / 2**20, 2),
        "items": items,
        "attachments": attachments,
        "attachment_mb": round(data / 2**20, 2),
        "seconds": round(elapsed, 3),
        "items_per_s": round(items / elapsed, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:]] or [DEFAULT]
    for path in paths:
        if not path.is_file():
            print(f"skip: {path} not found")
            continue
        print(json.dumps(bench(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
