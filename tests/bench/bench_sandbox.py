"""Sandbox EWS throughput: MIME items created through unpatched exchangelib, in batches and threads.

    python -m tests.bench.bench_sandbox [ITEMS] [THREADS]

Each CreateItem is durable before it is answered (fsynced blobs, synchronous SQLite commit),
so this measures the server as the importer meets it in tests and demos. Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, Message
from exchangelib.protocol import close_connections

from core.sandbox.server.app import Sandbox

USER, PASSWORD = "bench@sandbox.test", "bench-pw"
BATCH = 10


def main() -> int:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    body = b"Subject: bench\r\nContent-Type: text/plain\r\n\r\n" + b"lorem ipsum " * 2000 + b"\r\n"  # ~24 KB
    with tempfile.TemporaryDirectory() as state, Sandbox(state, users={USER: PASSWORD}) as sb:
        config = Configuration(
            service_endpoint=sb.ews_url,
            credentials=Credentials(USER, PASSWORD),
            auth_type=BASIC,
            max_connections=threads,
        )
        acc = Account(USER, config=config, autodiscover=False, access_type=DELEGATE)
        inbox = acc.inbox

        def batch(n: int) -> int:
            res = acc.bulk_create(folder=inbox, items=[Message(folder=inbox, mime_content=body) for _ in range(n)])
            return sum(not isinstance(r, Exception) for r in res)

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            created = sum(pool.map(batch, [BATCH] * (items // BATCH)))
        elapsed = time.perf_counter() - start
        inbox.refresh()
        assert inbox.total_count == created == items // BATCH * BATCH
        close_connections()
    print(
        json.dumps(
            {
                "items": created,
                "threads": threads,
                "batch": BATCH,
                "seconds": round(elapsed, 2),
                "items_per_s": round(created / elapsed, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
