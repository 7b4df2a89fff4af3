"""NDB layer cost of read+convert, without the converter: what the reader asks of core.pst.ndb per item.

    python -m tests.bench.bench_ndb_items [PST] [repeats]

Walks the node B-tree as the reader's big-folder path does (`PstFile._ndb_items`): every message node
becomes a RawMessage whose properties, recipient rows and attachments (properties, size, data read in
the converter's base64 chunks) are read. Prints items/s (best of `repeats`), preads and the load average.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from core.pst.ndb import NdbFile, RawMessage
from core.pst.ndb.format import NID_TYPE_ASSOC_MESSAGE, NID_TYPE_NORMAL_MESSAGE, nid_type
from core.pst.ndb.nodes import Node

DEFAULT = Path(__file__).resolve().parents[2] / ".bench" / "psts" / "scale-100mb-seed1-wbf638de48e43.pst"
CHUNK = 57 * 4096  # core.convert.mime.BASE64_CHUNK


def run(path: Path) -> dict:
    """One pass over every message of `path`; returns items, seconds and I/O counts."""
    items = data = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    with NdbFile(path) as db:
        for entry in db.iter_nbt():
            if nid_type(entry.nid) not in (NID_TYPE_NORMAL_MESSAGE, NID_TYPE_ASSOC_MESSAGE):
                continue
            msg = RawMessage(Node(db, entry.nid, entry.bid_data, entry.bid_sub))
            _ = msg.props, msg.recipients
            for att in msg.attachments:
                _ = att.props, att.data_size
                with att.open_data() as stream:
                    while chunk := stream.read(CHUNK):
                        data += len(chunk)
            items += 1
        reads, bytes_read = db.reads, db.bytes_read
    return {
        "items": items,
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu0,
        "preads": reads,
        "bytes_read": bytes_read,
    }


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    runs = [run(path) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["seconds"])
    best["items_per_s"] = round(best["items"] / best["seconds"])
    best["loadavg"] = os.getloadavg()
    print(json.dumps(best))


if __name__ == "__main__":
    main()
