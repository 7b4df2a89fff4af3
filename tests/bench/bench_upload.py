"""Import Service upload benchmark against Azurite: throughput, peak RSS (flat memory), bandwidth cap.

    python -m tests.bench.bench_upload [SIZE_MIB]

Peak RSS should stay near baseline + threads * 2 * block size whatever the file size, since a
PST is never read whole. The capped run should take about size / cap.
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.importservice.blobstore import MIB, Container, RateLimiter
from core.importservice.sas import parse_sas
from tests.importservice.conftest import Azurite, _azurite_binary, _free_port


def main() -> int:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    binary = _azurite_binary()
    if binary is None or shutil.which("node") is None:
        print("skip: Azurite not installed")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        port = _free_port()
        proc = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                                 str(tmpdir / "az"), "--skipApiVersionCheck", "--loose", "--silent"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            time.sleep(3)
            az = Azurite(f"http://127.0.0.1:{port}/devstoreaccount1")
            container = az.new_container()
            store = Container(parse_sas(az.container_sas(container, "racwl")))
            pst = tmpdir / "big.pst"
            rnd = random.Random(1)
            with pst.open("wb") as fh:
                for _ in range(size_mib):
                    fh.write(rnd.randbytes(MIB))
            base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.perf_counter()
            r = store.upload(pst, "big.pst", block_size=8 * MIB, threads=4)
            elapsed = time.perf_counter() - start
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            row = {"case": "upload", "size_mib": size_mib, "seconds": round(elapsed, 2),
                   "mib_per_s": round(size_mib / elapsed, 1), "verified": r.verified,
                   "rss_before_mb": round(base_kb / 1024, 1), "peak_rss_mb": round(peak_kb / 1024, 1)}  # fmt: skip
            print(json.dumps(row))
            cap_mib = min(size_mib, 16)
            small = tmpdir / "small.pst"
            small.write_bytes(pst.read_bytes()[: cap_mib * MIB])
            cap = 4 * MIB  # bytes per second
            start = time.perf_counter()
            store.upload(small, "small.pst", block_size=MIB, threads=4, limiter=RateLimiter(cap, burst=MIB))
            elapsed = time.perf_counter() - start
            row = {"case": "capped", "size_mib": cap_mib, "cap_mib_per_s": cap / MIB, "seconds": round(elapsed, 2),
                   "expected_s": round((cap_mib - 1) * MIB / cap, 2)}  # fmt: skip
            print(json.dumps(row))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
