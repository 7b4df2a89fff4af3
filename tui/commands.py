"""The wizard's commands: `pstimport` (welcome screen), `pstimport demo`, and the TUI for `pstimport run`.

Textual is imported only inside the functions that show the UI, so `pstimport --help` and the
headless commands stay fast and run without a terminal. `pstimport run` itself belongs to
`core.engine.cli`; it calls the `UI_RUNNER` hook set here when it is not --headless.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

DEMO_USER = "demo@sandbox.test"
DEMO_SEED = 1
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
        "PST writer, and open the wizard filled in for them. Nothing leaves this "
        "machine; the sandbox stops when the wizard closes.",
    )
    p.add_argument(
        "--state",
        metavar="DIR",
        default=None,
        help="where the sample PST, profile and reports go (default ~/.cache/pstimport/demo)",
    )
    p.add_argument("--seed", type=int, default=DEMO_SEED, help="seed of the sample PST (default 1)")
    p.set_defaults(func=cmd_demo)
    import core.batch.cli as batch_cli
    import core.engine.cli as engine_cli

    engine_cli.UI_RUNNER = run_with_ui
    batch_cli.UI_RUNNER = run_batch_with_ui


def open_wizard(args: argparse.Namespace) -> int:
    """`pstimport` with no command: the welcome screen (new profile, or open one)."""
    from tui.app import make_app

    app = make_app()
    app.run()
    return int(app.return_code or 0)


def run_with_ui(plan: Any, cancel: threading.Event) -> Any:
    """`pstimport run PROFILE` on a terminal: the run screen, then the summary; returns the RunResult."""
    from core.engine import RunResult
    from tui import services
    from tui.app import make_app
    from tui.state import WizardState

    app = make_app(
        WizardState(dry_run=plan.dry_run),
        start="run",
        profile=plan.profile,
        runner=services.plan_runner(plan),
        cancel=cancel,
    )
    app.run()
    outcome = app.run_outcome
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


def demo_dir(state: str | None) -> Path:
    if state:
        return Path(state).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pstimport" / "demo"


def prepare_demo(directory: Path, seed: int = DEMO_SEED) -> tuple[Any, Any, str]:
    """The sample PST (written once), a started sandbox with a fresh store, and the filled-in answers.

    Returns (sandbox, state, password); stop the sandbox when done.
    """
    from core.sandbox.pstwriter.content import generate
    from core.sandbox.server.app import Sandbox
    from tui import services
    from tui.state import WizardState

    directory.mkdir(parents=True, exist_ok=True)
    pst = directory / f"Sample Mailbox {seed}.pst"
    if not pst.exists():
        generate(str(pst), seed=seed)
    password = secrets.token_urlsafe(12)
    store = Path(tempfile.mkdtemp(prefix="sandbox-", dir=directory))
    sandbox = Sandbox(store, users={DEMO_USER: password}, archives=[DEMO_USER]).start()
    choices, errors = services.scan_paths([str(pst)])
    if errors:
        sandbox.stop()
        from core.errors import PstError

        raise PstError(str(pst), errors[0][1])
    state = WizardState(
        target="on-premises",
        transport="ews",
        discovery="direct",
        ews_url=sandbox.ews_url,
        mailbox=DEMO_USER,
        auth_method="password",
        username=DEMO_USER,
        password=password,
        cache_password=False,
        sources=choices,
        name="demo",
        profile_dir=str(directory / "profiles"),
        report_dir=str(directory / "reports"),
        journal_dir=str(store / "journals"),  # a fresh store needs a fresh journal, or all would be "done"
    )
    return sandbox, state, password


def cmd_demo(args: argparse.Namespace) -> int:
    from tui.app import make_app

    directory = demo_dir(args.state)
    print(f"pstimport demo: writing the sample PST and starting the sandbox in {directory} …", flush=True)
    sandbox, state, password = prepare_demo(directory, args.seed)
    store_dir = sandbox.state_dir
    try:
        app = make_app(state, start="wizard", secret=password, greeting=DEMO_GREETING)
        app.run()
    finally:
        sandbox.stop()
        shutil.rmtree(store_dir, ignore_errors=True)
    print(f"pstimport demo: the profile and reports are in {directory}")
    return int(app.return_code or 0)
