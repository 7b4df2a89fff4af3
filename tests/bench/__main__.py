"""`python -m tests.bench [--quick] [...]`: the whole suite, one report (see suite.py).

`python -m tests.bench bench_convert bench_tui ...` still runs those scripts alone, each in its own
process (so peak RSS is per benchmark), with their own output and no report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_scripts(names: list[str]) -> int:
    here = Path(__file__).parent
    failed = 0
    for script in sorted(here.glob("bench_*.py")):
        if script.stem not in names:
            continue
        print(f"== {script.stem}", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"tests.bench.{script.stem}"]) != 0
    return 1 if failed else 0


def main() -> int:
    args = sys.argv[1:]
    if args and all(a.startswith("bench_") for a in args):
        return run_scripts(args)
    from tests.bench.suite import main as suite

    return suite(args)


if __name__ == "__main__":
    sys.exit(main())
