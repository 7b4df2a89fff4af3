"""The Graph soak on its own (see graph_soak.py for what it does and how it is scaled).

    .venv/bin/python -m tests.bench bench_graph_soak           # 3,000 items, 10-40 MB attachments (minutes)
    .venv/bin/python -m tests.bench.bench_graph_soak --short   # the CI variant

Prints the figures and PASS/MISS, and writes them to .bench/graph_soak.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tests.bench.graph_soak import FULL, SHORT, run_soak, summary

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="the CI variant: 300 items, two large attachments")
    ap.add_argument("--out", type=Path, default=REPO / ".bench" / "graph_soak.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        figures = run_soak(SHORT if args.short else FULL, Path(tmp) / "soak")
    print("\n".join(summary(figures)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
