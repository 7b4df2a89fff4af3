"""The demo's lasting state: a sample PST, a sandbox mailbox server and what the demo saved.

Everything lives in one folder (default `~/.cache/pstimport/demo`), so the demo leaves
something real behind: `pstimport demo` and `pstimport demo --rerun` both bring up the same
sandbox store on the same port, with the same mailbox password, and the same journal. The
profile the wizard saved can therefore be re-run headless, and a re-run imports nothing twice.

    Sample Mailbox 1.pst   the sample PST (written once, from a seed)
    sandbox/               the sandbox's store (SQLite plus blobs)
    demo.json              the sandbox's port and the profile the demo saved last
    demo-password          the sandbox mailbox's password (mode 0600; a demo-only secret,
                           never in the profile, which asks for it on each run)
    journals/              the engine's journals for the demo's runs
    profiles/ reports/     what the wizard writes

Plain Python (no Textual): the headless re-run imports none of the UI.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError

DEMO_USER = "demo@sandbox.test"
DEMO_SEED = 1
DEMO_PROFILE_NAME = "demo"
RERUN_COMMAND = "pstimport demo --rerun"
STATE_FILE = "demo.json"
PASSWORD_FILE = "demo-password"


def demo_dir(state: str | None = None) -> Path:
    """The demo's folder: `state` if given, else $XDG_CACHE_HOME/pstimport/demo (~/.cache/pstimport/demo)."""
    if state:
        return Path(state).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pstimport" / "demo"


def rerun_command(directory: Path, default: Path | None = None) -> str:
    """The command that re-runs the demo's profile, with --state when the folder is not the default one."""
    if directory == (default or demo_dir()):
        return RERUN_COMMAND
    return f"{RERUN_COMMAND} --state {_quote(str(directory))}"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@dataclass
class DemoState:
    """What `demo.json` remembers between runs."""

    port: int = 0
    profile: str | None = None  # the profile the demo saved last (absolute path)

    @classmethod
    def load(cls, directory: Path) -> DemoState:
        try:
            data = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        port = data.get("port")
        profile = data.get("profile")
        return cls(
            port=port if isinstance(port, int) and 0 < port < 65536 else 0,
            profile=profile if isinstance(profile, str) else None,
        )

    def save(self, directory: Path) -> None:
        tmp = directory / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps({"port": self.port, "profile": self.profile}, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, directory / STATE_FILE)


def demo_password(directory: Path) -> str:
    """The sandbox mailbox's password: made once, kept in `demo-password` (0600), never in a profile."""
    path = directory / PASSWORD_FILE
    try:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def sample_pst(directory: Path, seed: int = DEMO_SEED) -> Path:
    """The sample PST, written by the PST writer the first time."""
    from core.sandbox.pstwriter.content import generate

    pst = directory / f"Sample Mailbox {seed}.pst"
    if not pst.exists():
        generate(str(pst), seed=seed)
    return pst


def start_sandbox(directory: Path, password: str) -> Any:
    """The demo's sandbox on its remembered port (a new one when that is taken), its store kept.

    Returns the started `core.sandbox.server.app.Sandbox`; stop it when done.
    """
    from core.sandbox.server.app import Sandbox

    directory.mkdir(parents=True, exist_ok=True)
    state = DemoState.load(directory)
    store = directory / "sandbox"
    for port in dict.fromkeys((state.port, 0)):
        sandbox = Sandbox(store, users={DEMO_USER: password}, archives=[DEMO_USER], port=port)
        try:
            sandbox.start()
        except OSError as exc:
            sandbox.stop()
            if exc.errno != errno.EADDRINUSE or port == 0:
                raise
            continue
        break
    actual = sandbox.port
    if actual != state.port:
        state.port = actual
        state.save(directory)
        if state.profile and Path(state.profile).is_file():
            _point_profile_at(Path(state.profile), sandbox.ews_url)
    return sandbox


def _point_profile_at(path: Path, ews_url: str) -> None:
    """The saved demo profile follows the sandbox to its new port (only that key changes)."""
    from core.profile.io import load_profile, save_profile

    profile = load_profile(path, check_files=False)
    if profile.connection.ews_url != ews_url:
        profile.connection.ews_url = ews_url
        save_profile(profile, path)


def remember_profile(directory: Path, path: Path | str) -> None:
    """Record the profile the demo saved, for `pstimport demo --rerun`."""
    state = DemoState.load(directory)
    state.profile = str(Path(path).absolute())
    state.save(directory)


def reset(directory: Path) -> None:
    """Forget the sandbox mailbox and the journals (the sample PST and saved profiles stay)."""
    for name in ("sandbox", "journals"):
        shutil.rmtree(directory / name, ignore_errors=True)


def prepare(directory: Path, seed: int = DEMO_SEED) -> tuple[Any, Any, str]:
    """The sample PST, the started sandbox and the wizard's answers filled in for them.

    Returns (sandbox, state, password); stop the sandbox when done.
    """
    from tui import services
    from tui.state import WizardState

    directory.mkdir(parents=True, exist_ok=True)
    pst = sample_pst(directory, seed)
    password = demo_password(directory)
    choices, errors = services.scan_paths([str(pst)])
    if errors:
        from core.errors import PstError

        raise PstError(str(pst), errors[0][1])
    sandbox = start_sandbox(directory, password)
    state = WizardState(
        target="on-premises",
        transport="ews",
        discovery="direct",
        ews_url=sandbox.ews_url,
        mailbox=DEMO_USER,
        auth_method="password",
        username=DEMO_USER,
        password=password,
        cache_password=False,  # the demo's own password file serves `demo --rerun`; nothing in a keyring
        sources=choices,
        name=DEMO_PROFILE_NAME,
        profile_dir=str(directory / "profiles"),
        report_dir=str(directory / "reports"),
        journal_dir=str(directory / "journals"),
    )
    return sandbox, state, password


def finish(directory: Path, sandbox: Any, saved: Any) -> list[str]:
    """When the demo's wizard has closed: stop the sandbox, remember the saved profile, and say
    how to re-run it (the lines the demo prints last)."""
    sandbox.stop()
    path = getattr(saved, "path", None)
    if path is None:
        return [f"pstimport demo: nothing was saved; the demo's files are in {directory}"]
    remember_profile(directory, path)
    return [
        f"pstimport demo: the profile is {path}",
        "pstimport demo: re-run it headless against the same sandbox mailbox (nothing is imported twice):",
        f"    {rerun_command(directory)}",
    ]


def already_imported(sandbox: Any) -> int:
    """How many items the demo mailbox holds already (from earlier demo runs)."""
    try:
        return sum(sandbox.folder_tree(DEMO_USER).values()) + sum(sandbox.folder_tree(DEMO_USER, archive=True).values())
    except Exception:  # noqa: BLE001 - only for the greeting
        return 0


def rerun(
    directory: Path,
    *,
    json_lines: bool = False,
    out: Any = None,
    cancel: threading.Event | None = None,
    on_started: Callable[[Any], None] | None = None,
) -> int:
    """`pstimport demo --rerun`: bring the demo's sandbox up and run its saved profile headless.

    Returns the run's exit code (0: all verified; nothing is imported twice).

    Raises:
        UserError: there is no demo profile yet.
    """
    from core.engine.connect import transport_factory
    from core.engine.plan import build_plan
    from core.engine.printer import HumanPrinter, JsonPrinter
    from core.engine.run import run
    from core.profile.io import load_profile

    out = out or sys.stdout
    state = DemoState.load(directory)
    path = Path(state.profile) if state.profile else directory / "profiles" / f"{DEMO_PROFILE_NAME}.yaml"
    if not path.is_file() or not (directory / PASSWORD_FILE).is_file():
        raise UserError(
            f"no demo profile to re-run in {directory}: run `pstimport demo` first and save the profile "
            "(Ctrl+S, or Ctrl+R to save and start)"
        )
    password = demo_password(directory)
    sandbox = start_sandbox(directory, password)
    try:
        if on_started is not None:
            on_started(sandbox)
        import io

        profile = load_profile(path)
        factory = transport_factory(profile, stdin=io.StringIO(password + "\n"), interactive=False)
        plan = build_plan(profile, transport_factory=factory, journal_dir=directory / "journals")
        printer = JsonPrinter(out) if json_lines else HumanPrinter(out)
        if not json_lines:
            out.write(f"pstimport demo: re-running {path} against the demo sandbox at {sandbox.ews_url}\n")
        result = run(plan, printer, cancel)
    finally:
        sandbox.stop()
    return result.exit_code
