"""The Textual app and its factory, shared by the CLI and the tests (posting's `make_posting`).

The app walks the steps in order: each step screen dismisses with "back" or "next" and the app
shows the neighbour, so the screen stack stays one deep and every step finds its answers in
the shared `WizardState`. Review's Save & Start opens the run screen, which ends on the
verification summary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from tui.screens.base import BACK, NEXT
from tui.screens.connection import ConnectionScreen
from tui.screens.credentials import CredentialsScreen
from tui.screens.destination import DestinationScreen
from tui.screens.options import OptionsScreen
from tui.screens.review import START, ReviewScreen
from tui.screens.sources import SourcesScreen
from tui.screens.welcome import WelcomeScreen
from tui.state import WizardState

STEPS: tuple[type[Screen], ...] = (
    ConnectionScreen,
    CredentialsScreen,
    DestinationScreen,
    SourcesScreen,
    OptionsScreen,
    ReviewScreen,
)


class PstImportApp(App[int]):
    """pstimport's wizard, run screen and verification summary."""

    CSS_PATH = "app.tcss"
    TITLE = "pstimport"
    ENABLE_COMMAND_PALETTE = False
    # Ctrl+C is what a technician presses to stop: during a run it asks, then stops as Cancel does;
    # elsewhere it quits like Ctrl+Q (Textual's own Ctrl+C only shows a toast).
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        state: WizardState | None = None,
        *,
        start: str = "welcome",
        step: int = 0,
        profile: Any = None,
        secret: str | None = None,
        runner: Callable[..., Any] | None = None,
        cancel: threading.Event | None = None,
        on_exit: Callable[[], None] | None = None,
        greeting: str | None = None,
    ) -> None:
        super().__init__()
        self.greeting = greeting
        self.state = state or WizardState()
        self.start = start
        self.first_step = step
        self.saved_profile = profile
        self.secret = secret
        self.runner = runner
        self.cancel = cancel
        self.run_outcome: Any = None
        self.exit_code = 0
        self._on_exit = on_exit

    def on_mount(self) -> None:
        # The greeting is the first step's message line, not a toast: a toast would cover the form.
        if self.start == "run":
            self.show_run()
        elif self.start == "wizard":
            self.show_step(self.first_step)
        else:
            self.push_screen(WelcomeScreen(), self._after_welcome)

    def on_unmount(self) -> None:
        if self._on_exit is not None:
            self._on_exit()

    # ----- the wizard ----------------------------------------------------------------------------------

    def _after_welcome(self, choice: tuple[str, str] | None) -> None:
        if choice is None:
            return
        kind, path = choice
        if kind == "open":
            self.state = load_state(path)
        self.show_step(0)

    def show_step(self, index: int) -> None:
        note, self.greeting = self.greeting or "", None
        screen = STEPS[index](self.state, note)
        self.push_screen(screen, lambda result: self._after_step(index, result))

    def _after_step(self, index: int, result: str | None) -> None:
        if result == BACK:
            if index == 0:
                self.push_screen(WelcomeScreen(), self._after_welcome)
            else:
                self.show_step(index - 1)
        elif result == NEXT:
            self.show_step(min(index + 1, len(STEPS) - 1))
        elif result == START:
            self.secret = self.state.password or self.secret
            self.show_run()

    def open_profile_error(self, path: str) -> str | None:
        """Why the profile at `path` cannot be opened, or None."""
        from core.errors import PstImportError
        from core.profile.io import load_profile

        try:
            load_profile(path, check_files=False)
        except (PstImportError, OSError) as exc:
            return " ".join(str(exc).split())
        return None

    # ----- running -------------------------------------------------------------------------------------

    def show_run(self) -> None:
        from tui import services
        from tui.screens.run import RunScreen

        profile = self.saved_profile
        dry_run = self.state.dry_run
        runner = self.runner or services.profile_runner(
            profile, self.secret, dry_run=dry_run, journal_dir=self.state.journal_dir
        )
        self.push_screen(RunScreen(profile, runner, cancel=self.cancel, dry_run=dry_run), self._after_run)

    def _after_run(self, outcome: Any) -> None:
        from tui.screens.summary import SummaryScreen

        self.run_outcome = outcome
        if outcome is None:
            self.exit(self.exit_code)
            return
        self.push_screen(SummaryScreen(outcome), lambda code: self.exit(code or 0, return_code=code or 0))

    async def action_quit(self) -> None:
        # Quitting mid-run asks first and lets the requests in flight finish, like Cancel.
        from tui.screens.run import RunScreen

        screen = self.screen
        if isinstance(screen, RunScreen) and screen.running:
            screen.action_cancel()
            return
        self.exit(self.exit_code)


def load_state(path: str | Path) -> WizardState:
    """Answers rebuilt from a saved profile (its PSTs scanned again for the tree)."""
    from core.profile.io import load_profile
    from tui import services

    profile = load_profile(path, check_files=False)
    choices = []
    for p in profile.source_paths():
        found, _errors = services.scan_paths([str(p)])
        choices.extend(found)
    state = WizardState.from_profile(profile, choices)
    state.secret_in_keyring = profile.connection.auth.cache_password  # looked up (or asked) at run time
    return state


def make_app(
    state: WizardState | None = None,
    *,
    start: str = "welcome",
    step: int = 0,
    profile: Any = None,
    secret: str | None = None,
    runner: Callable[..., Any] | None = None,
    cancel: threading.Event | None = None,
    on_exit: Callable[[], None] | None = None,
    greeting: str | None = None,
) -> PstImportApp:
    """The app as the CLI and the tests build it.

    Args:
        state: answers to start from (the demo pre-fills them); a blank wizard by default.
        start: "welcome", "wizard" (at `step`) or "run" (straight onto the run screen with `profile`).
        profile: the saved profile to run.
        secret: the password or client secret for the run, held in memory only.
        runner: what runs the engine, `runner(on_event, cancel)` (default: `tui.services.profile_runner`
            for `profile`); `pstimport run` passes one for its plan.
        cancel: the run's cancel event (`pstimport run` shares its own with the signal handlers).
        on_exit: called when the app stops (the demo stops its sandbox).
        greeting: a note shown when the app starts (the demo says what to press).
    """
    return PstImportApp(
        state,
        start=start,
        step=step,
        profile=profile,
        secret=secret,
        runner=runner,
        cancel=cancel,
        on_exit=on_exit,
        greeting=greeting,
    )
