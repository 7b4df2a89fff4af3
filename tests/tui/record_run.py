"""Record a real run for the run-screen and summary snapshots: `python -m tests.tui.record_run`.

It writes the demo's sample PST, starts the sandbox, runs the real engine through the wizard's
runner and saves every event and the verification report to tests/tui/data/recorded_run.json.
The snapshots replay that file, so they do not depend on the upload threads' timing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from pathlib import Path

from core import events as ev

DATA = Path(__file__).parent / "data" / "recorded_run.json"


def event_from_dict(data: dict) -> ev.Event:
    """The inverse of `Event.to_json` (lists back to tuples)."""
    data = dict(data)
    cls = getattr(ev, data.pop("event"))
    for f in dataclasses.fields(cls):
        if isinstance(data.get(f.name), list):
            data[f.name] = tuple(data[f.name])
    return cls(**data)


def load() -> tuple[list[ev.Event], dict]:
    doc = json.loads(DATA.read_text(encoding="utf-8"))
    return [event_from_dict(e) for e in doc["events"]], doc["report"]


def main() -> None:
    from tui import services
    from tui.demo import prepare as prepare_demo

    base = Path(tempfile.mkdtemp(prefix="pstimport-record-"))
    os.environ["PSTIMPORT_STATE_DIR"] = str(base / "state")
    sandbox, state, password = prepare_demo(base / "demo")
    events: list[ev.Event] = []
    lock = threading.Lock()

    def record(e: ev.Event) -> None:
        with lock:
            events.append(e)

    try:
        profile = state.to_profile()
        result = services.profile_runner(profile, password, journal_dir=state.journal_dir)(record, threading.Event())
    finally:
        sandbox.stop()
    report = json.loads(Path(result.report_json).read_text(encoding="utf-8"))
    for e in events:  # keep machine-specific paths out of the recording
        if isinstance(e, ev.RunFinished):
            events[events.index(e)] = dataclasses.replace(
                e, report_json="reports/demo-run.json", report_html="reports/demo-run.html"
            )
    # The engine can emit Progress in a tight loop while the last uploads finish (reported); a run of
    # Progress events between two other events says nothing the last of them does not, so keep that one.
    kept = [
        e
        for i, e in enumerate(events)
        if not (isinstance(e, ev.Progress) and i + 1 < len(events) and isinstance(events[i + 1], ev.Progress))
    ]
    doc = {"events": [json.loads(e.to_json()) for e in kept], "report": report}
    DATA.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(events)} events ({len(kept)} kept), {report['totals']} -> {DATA}")


if __name__ == "__main__":
    main()
