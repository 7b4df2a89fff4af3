"""The wizard's commands: `pstimport` (welcome screen), `pstimport demo`, and the TUI for `pstimport run`.

Textual is imported only inside the functions that show the UI, so `pstimport --help` and the
headless commands stay fast and run without a terminal. `pstimport run` itself belongs to
`core.engine.cli`; it calls the `UI_RUNNER` hook set here when it is not --headless.
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any

from tui.demo import DEMO_SEED, RERUN_COMMAND

DEMO_GREETING = (
    "Demo: a sandbox mailbox server runs on this machine and every step is filled in for it. "
    "Press Ctrl+N through the steps (try Ctrl+T on step 2), then Ctrl+R to import."
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `demo`, and give `pstimport run` its progress screen."""
    p = sub.add_parser(
        "demo",
        help="try pstimport on a local sandbox server with a sample PST",
        description="Start the sandbox mailbox server in-process, write a sample PST with the "
        "PST writer, and open the wizard filled in for them. Nothing leaves this machine. "
        "The sandbox's mailbox, the journal, the saved profile and the reports stay in the "
        "demo's folder, so the profile can be run again, headless, with "
        f"`{RERUN_COMMAND}` (the sandbox comes up again for it, on the same port, and "
        "nothing is imported twice). The wizard needs a terminal; --rerun does not.",
    )
    p.add_argument(
        "--state",
        metavar="DIR",
        default=None,
        help="the demo's folder: sample PST, sandbox mailbox, profile, reports (default ~/.cache/pstimport/demo)",
    )
    p.add_argument("--seed", type=int, default=DEMO_SEED, help="seed of the sample PST (default 1)")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="no wizard: bring the demo's sandbox up and run the profile the demo saved, headless",
    )
    p.add_argument("--json", action="store_true", help="with --rerun: JSON-lines events on stdout")
    p.add_argument("--reset", action="store_true", help="empty the demo's sandbox mailbox and journal first")
    p.set_defaults(func=cmd_demo)
    import core.batch.cli as batch_cli
    import core.engine.cli as engine_cli

    engine_cli.UI_RUNNER = run_with_ui
    batch_cli.UI_RUNNER = run_batch_with_ui


def has_terminal() -> bool:
    """Whether a person can see and drive a full-screen UI: standard input and output are both terminals."""
    try:
        return os.isatty(0) and os.isatty(1)
    except OSError:
        return False


def require_terminal(what: str, instead: str) -> None:
    """Refuse at once, in one line, a command that draws a full-screen UI when there is no terminal.

    Without this, Textual starts anyway, waits for keys that never come and writes escape codes
    into a log or a pipe for as long as nobody kills it.
    """
    if not has_terminal():
        from core.errors import UserError

        raise UserError(f"{what} needs a terminal (stdin and stdout are not one here); {instead}")


def open_wizard(args: argparse.Namespace) -> int:
    """`pstimport` with no command: the welcome screen (new profile, or open one)."""
    require_terminal(
        "the wizard", "run a saved profile with `pstimport run PROFILE.yaml --headless`, or see `pstimport --help`"
    )
    from tui.app import make_app

    app = make_app()
    app.run()
    print_run_summary(app.run_outcome)
    return int(app.return_code or 0)


def run_summary(outcome: Any) -> list[str]:
    """What stays on the terminal after a TUI run: one line of counts, then the report's path."""
    if outcome is None:
        return []
    finished = getattr(outcome, "finished", None)
    result = getattr(outcome, "result", None)
    if getattr(outcome, "error", None):
        return [f"pstimport: the run stopped: {outcome.error}"]
    if finished is None:
        return ["pstimport: the run stopped before it finished; run the profile again to resume"]
    if getattr(outcome, "dry_run", False):
        line = f"pstimport: dry run: would import {finished.imported}, already there {finished.skipped}"
        if finished.failed:
            line += f", {finished.failed} cannot be read or converted"
        return [line + "; nothing was uploaded"]
    state = "cancelled" if finished.interrupted else "finished"
    line = f"pstimport: {state}: imported {finished.imported}, already there {finished.skipped}"
    line += f", failed {finished.failed}"
    report = getattr(result, "report", None) or {}
    bad = (report.get("totals") or {}).get("mismatched_folders")
    if bad:
        line += f"; {bad} folder(s) differ from the PST"
    elif report:
        line += "; every folder verified"
    lines = [line]
    html = finished.report_html or getattr(result, "report_html", None)
    if html:
        lines.append(f"pstimport: report: {html}")
    if finished.interrupted:
        lines.append("pstimport: run the profile again to import the rest (nothing is imported twice)")
    return lines


def print_run_summary(outcome: Any) -> None:
    """Print `run_summary` after the full-screen UI has gone, so it stays in the scrollback."""
    for line in run_summary(outcome):
        print(line)


def run_with_ui(plan: Any, cancel: threading.Event, engine: Any = None) -> Any:
    """`pstimport run PROFILE` on a terminal: the run screen, then the summary; returns the RunResult.

    `engine(plan, on_event, cancel)` runs it: `core.engine.run` (the default) or the dry run's preflight.
    """
    from core.engine import RunResult
    from tui import services
    from tui.app import make_app
    from tui.state import WizardState

    app = make_app(
        WizardState(dry_run=plan.dry_run),
        start="run",
        profile=plan.profile,
        runner=services.plan_runner(plan, engine),
        cancel=cancel,
    )
    app.run()
    outcome = app.run_outcome
    print_run_summary(outcome)
    if outcome is None or outcome.result is None:
        cancel.set()
        return RunResult(interrupted=True, problems=[outcome.error] if outcome and outcome.error else [])
    return outcome.result


def run_batch_with_ui(runner: Any, cancel: threading.Event) -> Any:
    """`pstimport batch` on a terminal: the batch screen; returns the BatchResult once the batch has
    stopped (quitting early cancels it, and waits for the requests in flight)."""
    from tui.screens.batch import BatchApp

    done = threading.Event()
    outcome: dict[str, Any] = {}

    def wrapped(on_event: Any, stop: threading.Event) -> Any:
        try:
            outcome["result"] = runner(on_event, stop)
            return outcome["result"]
        except BaseException as exc:
            outcome["error"] = exc
            raise
        finally:
            done.set()

    BatchApp(wrapped, cancel).run()
    if not done.is_set():
        cancel.set()
        done.wait()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def cmd_demo(args: argparse.Namespace) -> int:
    """`pstimport demo`: the wizard on the demo's sandbox; `--rerun`: its saved profile, headless."""
    from tui import demo

    directory = demo.demo_dir(args.state)
    if args.reset:
        demo.reset(directory)
    if args.rerun:
        return demo.rerun(directory, json_lines=args.json)
    require_terminal(
        "`pstimport demo`", f"to re-run the demo's saved profile headless: {demo.rerun_command(directory)}"
    )
    from tui.app import make_app

    print(f"pstimport demo: starting the sandbox mailbox server with its store in {directory} …", flush=True)
    sandbox, state, password = demo.prepare(directory, args.seed)
    greeting = DEMO_GREETING
    there = demo.already_imported(sandbox)
    if there:
        greeting += f" The demo mailbox still holds {there} items from earlier runs (--reset empties it)."
    try:
        app = make_app(state, start="wizard", secret=password, greeting=greeting)
        app.run()
    except BaseException:
        sandbox.stop()
        raise
    lines = demo.finish(directory, sandbox, app.saved_profile)
    print_run_summary(app.run_outcome)
    for line in lines:
        print(line)
    return int(app.return_code or 0)
