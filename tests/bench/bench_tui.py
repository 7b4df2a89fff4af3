"""Run-screen benchmark: can the progress table keep up with thousands of items per second?

    python -m tests.bench.bench_tui [ITEMS_PER_SECOND] [FOLDERS] [SECONDS]

A thread feeds `core.events` (the engine's own event types) at the given rate into a run screen
in a headless Textual app, spread over FOLDERS folders, while the screen refreshes on its timer.
Reports the events folded per second, the cost of one `apply`, the time of each table refresh
(mean, max) and how late the UI's own timer ticks ran (event-loop lag).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import threading
import time

from core import events as ev
from tui.app import make_app
from tui.progress import RunAggregate
from tui.state import WizardState


def apply_cost(n: int = 200_000, folders: int = 300) -> float:
    """Seconds per `RunAggregate.apply` of an ItemImported, single thread."""
    agg = RunAggregate()
    paths = [("Inbox", f"F{i}") for i in range(folders)]
    evs = [ev.ItemImported(pst="a.pst", source_path=paths[i % folders], size=10_000) for i in range(n)]
    t0 = time.perf_counter()
    for e in evs:
        agg.apply(e)
    return (time.perf_counter() - t0) / n


async def screen_run(rate: int, folders: int, seconds: float) -> dict:
    paths = [("Inbox", f"Folder {i:03d}") for i in range(folders)]
    total = int(rate * seconds)
    fed = [0]
    feed_window = [0.0, 0.0]  # perf_counter at the first and the last item fed

    def runner(on_event, cancel):
        for p in paths:
            on_event(
                ev.FolderPlanned(
                    pst="big.pst",
                    source_path=p,
                    target_path=("big", *p),
                    items_selected=total // folders + 1,
                    bytes_selected=0,
                )
            )
        on_event(
            ev.RunStarted(
                profile="bench",
                mailbox="m@example.com",
                store="mailbox",
                dry_run=False,
                folders=folders,
                items_selected=total,
                bytes_selected=total * 10_000,
            )
        )
        for p in paths:
            on_event(ev.FolderStarted(pst="big.pst", source_path=p, target_path=("big", *p)))
        t0 = feed_window[0] = time.perf_counter()
        for i in range(total):
            if cancel.is_set():
                break
            on_event(ev.ItemImported(pst="big.pst", source_path=paths[i % folders], size=10_000))
            fed[0] += 1
            if i % 500 == 0:  # pace to the requested rate
                ahead = i / rate - (time.perf_counter() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        feed_window[1] = time.perf_counter()
        return None

    from core.profile.model import Profile

    profile = Profile.new(
        name="bench",
        mailbox="m@example.com",
        sources=["big.pst"],
        target="on-premises",
        ews_url="https://mail.example.test/EWS/Exchange.asmx",
        username="svc",
    )
    app = make_app(WizardState(), start="run", profile=profile, runner=runner, cancel=threading.Event())
    refresh_times: list[float] = []
    refresh_at: list[float] = []
    lags: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        original = screen._draw_rows

        def timed(snap) -> None:  # the table part of each timer refresh
            t = time.perf_counter()
            original(snap)
            refresh_times.append(time.perf_counter() - t)
            refresh_at.append(t)

        screen._draw_rows = timed
        t_start = time.perf_counter()
        while time.perf_counter() - t_start < seconds + 1:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append(time.perf_counter() - t - 0.05)
        elapsed = time.perf_counter() - t_start
        feed_s = feed_window[1] - feed_window[0] if feed_window[1] else 0.0
        screen.cancel_event.set()
        await pilot.pause()
    return {
        "requested_items_per_second": rate,
        "folders": folders,
        "events_folded": fed[0],
        "items_per_second_achieved": round(fed[0] / elapsed),
        "refreshes": len(refresh_times),
        "feed_seconds": round(feed_s, 3),
        "items_per_second_fed": round(fed[0] / feed_s) if feed_s else None,
        # the table's frame rate while items stream in (the second after the feed stops is left out)
        "refreshes_per_second_while_feeding": round(
            sum(feed_window[0] <= t <= feed_window[1] for t in refresh_at) / feed_s, 2
        )
        if feed_s
        else None,
        "refresh_ms_mean": round(statistics.mean(refresh_times) * 1000, 2) if refresh_times else None,
        "refresh_ms_max": round(max(refresh_times) * 1000, 2) if refresh_times else None,
        "loop_lag_ms_p95": round(sorted(lags)[int(len(lags) * 0.95)] * 1000, 2),
        "loop_lag_ms_max": round(max(lags) * 1000, 2),
    }


def main() -> None:
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    folders = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5
    result = {"apply_us": round(apply_cost() * 1e6, 3)}
    result.update(asyncio.run(screen_run(rate, folders, seconds)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
