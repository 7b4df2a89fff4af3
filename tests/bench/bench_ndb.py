"""NDB layer benchmark: every message of a PST through core.pst.ndb, every attachment streamed.

    python -m tests.bench.bench_ndb [PST ...]

Reports time, bytes read from the file, the largest single read (streaming means one run of
adjacent blocks, at most core.pst.ndb.nodes.MAX_RUN_BYTES) and peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from pathlib import Path

from core.pst.ndb import NdbFile, RawMessage
from core.pst.ndb.format import NID_TYPE_CONTENTS_TABLE, nid_type
from tests.need import CORPUS

DEFAULT = CORPUS / "pst2john_2003_no-encryption_quickbrownfox.pst"
CHUNK = 1 << 16


def consume(msg: RawMessage) -> tuple[int, int]:
    """Read properties and recipients, stream every attachment, recurse into embedded messages."""
    n_att = n_bytes = 0
    _ = msg.props, msg.recipients
    for att in msg.attachments:
        n_att += 1
        inner = att.embedded()
        if inner is not None:
            a, b = consume(inner)
            n_att, n_bytes = n_att + a, n_bytes + b
            continue
        digest = hashlib.sha256()
        with att.open_data() as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                n_bytes += len(chunk)
    return n_att, n_bytes


def bench(path: Path) -> dict:
    start = time.perf_counter()
    messages = attachments = data = 0
    with NdbFile(path) as nf:
        for entry in nf.iter_nbt():
            if nid_type(entry.nid) != NID_TYPE_CONTENTS_TABLE:
                continue
            for nid in nf.tc(entry.nid).row_ids():
                messages += 1
                a, b = consume(nf.message(nid))
                attachments, data = attachments + a, data + b
        bytes_read, largest = nf.bytes_read, nf.largest_read
    elapsed = time.perf_counter() - start
    return {
        "file": path.name,
        "size_mb": round(path.stat().st_size / 2**20, 2),
        "messages": messages,
        "attachments": attachments,
        "attachment_mb": round(data / 2**20, 2),
        "seconds": round(elapsed, 3),
        "file_mb_read": round(bytes_read / 2**20, 2),
        "largest_read_bytes": largest,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
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
