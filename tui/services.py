"""The wizard's only door into `core`: scanning PSTs, the preflight, secrets, running a profile.

Everything here is blocking and runs in worker threads. Imports of core's heavier parts are
made inside the functions, so importing the UI stays fast and a part not built yet fails
with a clear message when it is used, not when the wizard starts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from core.errors import PstImportError
from tui.selection import PstChoice
from tui.state import WizardState


class NotAvailable(PstImportError):
    """A part of pstimport the wizard needs is not installed or not built."""


def explain(exc: BaseException | None) -> str:
    """One line for the user; our own errors already are one."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, PstImportError):
        return str(exc)
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


# ----- PSTs --------------------------------------------------------------------------------------------


def scan_paths(paths: list[str]) -> tuple[list[PstChoice], list[tuple[str, str]]]:
    """Census of each file, or of each PST found under a folder: (choices, [(path, error)])."""
    from core.pst.scan import scan

    result = scan([os.path.expanduser(p) for p in paths])
    choices = [PstChoice.from_census(f) for f in result["files"]]
    errors = [(e["path"], e["error"]) for e in result["errors"]]
    return choices, errors


def expand_path(text: str) -> str:
    return os.path.abspath(os.path.expanduser(text.strip()))


# ----- secrets -----------------------------------------------------------------------------------------


def store_secret(state: WizardState, profile: Any) -> str | None:
    """Put the typed password or client secret into the keyring when the user asked to cache it.

    Returns a note for the user, or None when nothing was stored.
    """
    if not state.password or not state.cache_password:
        return None
    try:
        from core.profile import secrets  # type: ignore[attr-defined]
    except ImportError:
        return "the secret was not cached: the keyring support of core.profile is not available"
    secrets.store_secret(profile, state.password)
    return "the secret is cached in the OS keyring"


# ----- preflight and run -------------------------------------------------------------------------------


def _engine() -> Any:
    try:
        import core.engine as engine
    except ImportError as exc:
        raise NotAvailable(f"the import engine (core.engine) is not available: {exc}") from None
    return engine


def preflight(state: WizardState, on_device_code: Callable[[str, str], None] | None = None) -> Any:
    """Connect with the answers so far and run the preflight. Raises ConnectError with the cause."""
    engine = _engine()
    profile = state.to_profile(placeholder_sources=True)
    return engine.preflight(profile, secret=state.password or None, on_device_code=on_device_code)


def describe_preflight(info: Any) -> str:
    """The server version, the mailbox and whether it has an archive, in one or two lines."""
    parts = [f"Exchange {getattr(info, 'version', '?')} at {getattr(info, 'url', '?')}",
             f"mailbox {getattr(info, 'mailbox', '?')}"]
    archive = getattr(info, "archive", None)
    if archive is not None:
        parts.append("archive: present" if archive else "archive: none")
    notes = getattr(info, "notes", ())
    text = "; ".join(parts)
    if notes:
        text += "\n" + "\n".join(notes)
    return text


def run_profile(
    profile: Any,
    secret: str | None,
    on_event: Callable[[Any], None],
    cancel: threading.Event,
    *,
    dry_run: bool = False,
) -> Any:
    """Run a saved profile through the engine, sending every event to `on_event`."""
    engine = _engine()
    return engine.run_profile(profile, on_event=on_event, cancel=cancel, secret=secret, dry_run=dry_run)
