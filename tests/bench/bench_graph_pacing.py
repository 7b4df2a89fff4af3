"""Graph pacing against the sandbox's Exchange Online limits: the upload budget is used, never overrun.

The sandbox's Graph front end runs with Exchange Online's per-mailbox limits (4 concurrent requests,
150 MB of uploads per 5 minutes) on a scaled window, so the run takes about a minute: the budget is
150 MB x (window / 300 s). The engine imports a scale PST with attachments over Graph with 4 threads.
Figures printed: bytes the server accepted, the largest sum in any window (must be <= budget),
the mean upload rate against the budget rate (within 10% means >= 90%), and the 429 answers (0).

    .venv/bin/python -m tests.bench bench_graph_pacing [--window 6] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "engine"))

EXO_BUDGET = 150 * 1024 * 1024
EXO_WINDOW = 300.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=12.0, help="scaled window in seconds (Exchange Online: 300)")
    ap.add_argument("--seconds", type=float, default=60.0, help="about how long the upload should take")
    args = ap.parse_args(argv)
    budget = int(EXO_BUDGET * args.window / EXO_WINDOW)
    rate = budget / args.window
    from helpers import ALICE, APP_ID, APP_SECRET, PASSWORD, make_profile, run_profile, stamped_items

    from core.sandbox.pstwriter.content import generate
    from core.sandbox.server.app import Sandbox
    from core.sandbox.server.knobs import EXCHANGE_ONLINE_GRAPH
    from core.transport.graph.pacing import forget_pacers

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pst = d / "scale.pst"
        # Enough payload for `seconds` at the budget rate (plus one window the first burst takes).
        size_mb = max(4, int(rate * (args.seconds + args.window) / 2**20))
        generate(str(pst), seed=5, mode="scale", size_mb=size_mb)
        os.environ.update(
            PSTIMPORT_KEYRING="none",
            PSTIMPORT_STATE_DIR=str(d / "state"),
            PSTIMPORT_CLIENT_SECRET=APP_SECRET,
            PSTIMPORT_GRAPH_UPLOAD_BUDGET_MB=str(budget / 2**20),
            PSTIMPORT_GRAPH_UPLOAD_WINDOW_S=str(args.window),
        )
        forget_pacers()
        with Sandbox(d / "sb", users={ALICE: PASSWORD}, apps={APP_ID: APP_SECRET}, tls=True) as sb:
            sb.test_transport = "graph"  # type: ignore[attr-defined]
            os.environ.update(PSTIMPORT_AUTHORITY_HOST=sb.base_url, PSTIMPORT_GRAPH_URL=sb.graph_url)
            sb.set_knobs(**{**EXCHANGE_ONLINE_GRAPH, "upload_budget_bytes": budget, "upload_window_s": args.window})
            # The server's own ledger: what it charged against the budget, when the request arrived.
            arrivals: list[tuple[float, int]] = []
            charge = sb.graph._charge_mailbox

            def logged(mailbox: str, nbytes: int, on_refuse) -> None:  # noqa: ANN001
                charge(mailbox, nbytes, on_refuse)  # raises (429) when refused: then nothing is logged
                if nbytes:
                    arrivals.append((time.monotonic(), nbytes))

            sb.graph._charge_mailbox = logged
            profile = make_profile(d, sb, [pst], threads=4, batch=10)
            t0 = time.monotonic()
            result = run_profile(profile)
            elapsed = time.monotonic() - t0
            graph = [e for e in sb.exchanges if e.protocol == "graph"]
            stamped = len(stamped_items(sb))
    uploads = sorted(arrivals)
    refused = sum(1 for e in graph if e.status == 429)
    total = sum(n for _t, n in uploads)
    # Largest sum of accepted bytes in any window (two pointers over arrival times).
    peak, lo, running = 0, 0, 0
    for t, n in uploads:
        running += n
        while uploads[lo][0] <= t - args.window:
            running -= uploads[lo][1]
            lo += 1
        peak = max(peak, running)
    span = (uploads[-1][0] - uploads[0][0]) if len(uploads) > 1 else elapsed
    # The steady rate, leaving out the first window (a fresh budget allows one window's worth at once).
    steady = [(t, n) for t, n in uploads if t >= uploads[0][0] + args.window]
    steady_rate = sum(n for _t, n in steady) / max(span - args.window, 1e-6)
    print(f"budget: {budget / 2**20:.2f} MiB per {args.window:g} s (Exchange Online's 150 MB / 300 s, scaled)")
    print(f"imported {result.imported} items ({stamped} stamped), failed {result.failed}, in {elapsed:.1f} s")
    print(f"server charged {total / 2**20:.1f} MiB to the budget in {len(uploads)} requests over {span:.1f} s")
    print(f"largest sum in any {args.window:g} s window: {peak / 2**20:.2f} MiB = {100 * peak / budget:.1f}% of budget")
    print(f"steady upload rate: {steady_rate / 2**20:.3f} MiB/s = {100 * steady_rate / rate:.1f}% of the budget rate")
    print(f"HTTP 429 answers: {refused}; throttled events: {result.throttled}")
    ok = peak <= budget and refused == 0 and steady_rate >= 0.9 * rate and result.failed == 0
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
