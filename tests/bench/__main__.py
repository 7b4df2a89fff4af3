"""Run every `tests/bench/bench_*.py` in its own process (so peak RSS is per benchmark)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    only = set(sys.argv[1:])
    failed = 0
    for script in sorted(here.glob("bench_*.py")):
        if only and script.stem not in only:
            continue
        print(f"== {script.stem}", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"tests.bench.{script.stem}"]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
