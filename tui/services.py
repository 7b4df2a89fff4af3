"""The wizard's only door into `core`: scanning PSTs, the preflight, secrets, running a profile.

Everything here is blocking and runs in worker threads. Imports of core's heavier parts are
made inside the functions, so importing the UI stays fast and a part not built yet fails
with a clear message when it is used, not when the wizard starts.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import Interrupted, PstImportError
from tui.selection import PstChoice
from tui.state import WizardState


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


def registry_value_name(tag: Any) -> str:
    """The registry value name Outlook gives a profile property: type then id, 8 hex digits ("001f6700")."""
    return f"{tag.type:04x}{tag.id:04x}"


def decode_registry_path(data: bytes) -> str:
    """A PT_UNICODE profile property as the registry holds it: UTF-16LE, NUL-terminated."""
    return data.decode("utf-16-le", "replace").split("\x00", 1)[0]


def outlook_pst_paths(env: dict[str, str] | None = None, *, registry: bool = True) -> list[str]:
    """PST/OST files Outlook knows on this Windows account: every profile's data files (registry),
    then the default folders (Documents/Outlook Files, LocalAppData/Microsoft/Outlook). Existing
    files only, without repeats. Elsewhere only the folders, when the variables point at them.
    """
    env = dict(os.environ if env is None else env)
    found: list[str] = []
    if registry and sys.platform == "win32":
        found.extend(_registry_pst_paths())
    folders = []
    if env.get("USERPROFILE"):
        folders.append(os.path.join(env["USERPROFILE"], "Documents", "Outlook Files"))
    if env.get("LOCALAPPDATA"):
        folders.append(os.path.join(env["LOCALAPPDATA"], "Microsoft", "Outlook"))
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        found.extend(os.path.join(folder, n) for n in names if n.lower().endswith((".pst", ".ost")))
    seen: set[str] = set()
    out = []
    for path in found:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen and os.path.isfile(path):
            seen.add(key)
            out.append(path)
    return out


def _registry_pst_paths() -> list[str]:  # pragma: no cover - Windows only
    import winreg

    from core.mapi.props import PR_PST_PATH_W

    name = registry_value_name(PR_PST_PATH_W)
    paths: list[str] = []
    for version in ("16.0", "15.0"):
        root = rf"Software\Microsoft\Office\{version}\Outlook\Profiles"
        try:
            profiles = winreg.OpenKey(winreg.HKEY_CURRENT_USER, root)
        except OSError:
            continue
        stack = [(profiles, root)]
        while stack:
            key, where = stack.pop()
            try:
                data, _kind = winreg.QueryValueEx(key, name)
                if isinstance(data, bytes):
                    paths.append(decode_registry_path(data))
            except OSError:
                pass
            i = 0
            while True:
                try:
                    sub = winreg.EnumKey(key, i)
                except OSError:
                    break
                i += 1
                try:
                    stack.append((winreg.OpenKey(key, sub), rf"{where}\{sub}"))
                except OSError:
                    continue
    return paths


def expand_path(text: str) -> str:
    return os.path.abspath(os.path.expanduser(text.strip()))


# ----- secrets -----------------------------------------------------------------------------------------


def keyring_options() -> list[Any]:
    """The keyrings that work on this machine (`core.profile.secrets.keyring_options`)."""
    from core.profile.secrets import keyring_options as options

    return options()


def store_secret(state: WizardState, profile: Any) -> str | None:
    """Put the typed password or client secret into the profile's keyring when the user chose one.

    Returns a note for the user, or None when nothing was stored.

    Raises:
        SecretError: the keyring refused (no OS keyring, wrong password for the encrypted file...).
    """
    from core.profile.secrets import KEYRING_PASSWORD_ENV, primary_secret
    from core.profile.secrets import store_secret as keep

    kind = primary_secret(profile)
    if not state.password or not state.cache_password or kind is None:
        return None
    env = dict(os.environ)
    if state.keyring_password:
        env[KEYRING_PASSWORD_ENV] = state.keyring_password  # this call's copy only, never the process's
    where = keep(profile, kind, state.password, env=env)
    return f"the {kind.replace('_', ' ')} is kept in {where}"


def _secret_stream(secret: str | None) -> io.StringIO | None:
    # The engine reads a typed secret as if it came from --password-stdin: memory only.
    return io.StringIO(secret + "\n") if secret else None


def abandonable(fn: Callable[[], Any], cancelled: Callable[[], bool], poll: float = 0.2) -> Any:
    """Run `fn` in a daemon thread and wait for it, giving up when `cancelled()` turns true.

    For calls that may wait a long time and cannot be interrupted (a device-code sign-in waits up
    to 15 minutes): quitting the wizard must not wait for them, and a daemon thread does not hold
    the process open.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting worker
            box["error"] = exc

    thread = threading.Thread(target=target, name="pstimport-abandonable", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(poll)
        if cancelled():
            raise Interrupted("stopped waiting: the wizard is closing")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ----- preflight and run -------------------------------------------------------------------------------


class ConnectProgress:
    """What Test connection and the run screen show while connecting: where, the attempt, the seconds.

    `apply(event)` takes core's `Connecting` events (from any thread; `core.engine.connect`), and
    `line()` is read by the UI on a timer, so the seconds tick between events too.
    """

    def __init__(self, target: str, clock: Callable[[], float] | None = None) -> None:
        import time

        self._clock = clock or time.monotonic
        self.t0 = self._clock()
        self.target = target
        self.stage = f"Connecting to {target}"
        self.limit: float | None = None  # seconds before core gives up (connection.timeout_seconds)

    def apply(self, event: Any) -> None:
        from core.events import Connecting

        if isinstance(event, Connecting):
            self.limit = event.timeout_seconds
            where = event.endpoint or self.target
            stage = f"Connecting to {where}"
            if event.attempt > 1:
                stage += f" (attempt {event.attempt}"
                stage += f"; last: {event.last_error})" if event.last_error else ")"
            self.stage = stage

    def elapsed(self) -> float:
        return self._clock() - self.t0

    def line(self) -> str:
        waited = f"{self.elapsed():.0f} s"
        if self.limit:
            waited += f" (gives up after {self.limit:.0f} s)"
        return f"{self.stage}… {waited}"


def connect_target(state: WizardState) -> str:
    """Where Test connection goes, for its progress line."""
    if state.transport == "graph":
        return "Microsoft Graph"
    if state.discovery == "direct" and state.ews_url:
        from urllib.parse import urlsplit

        return urlsplit(state.ews_url).netloc or state.ews_url
    domain = state.mailbox.rpartition("@")[2]
    return f"Autodiscover for {domain}" if domain else "Autodiscover"


def _factory(profile: Any, secret: str | None) -> Any:
    """core's transport factory for the wizard: the typed secret as if from --password-stdin, never a prompt."""
    from core.engine.connect import transport_factory

    return transport_factory(profile, stdin=_secret_stream(secret), interactive=False)


@dataclass
class PreflightResult:
    info: Any  # core.transport.base.ServerInfo
    archive: bool | None  # None: not checked (the destination is the archive, or a device-code sign-in)


def preflight(state: WizardState, on_progress: Callable[[Any], None] | None = None) -> PreflightResult:
    """Connect with the answers so far and run the transport's preflight; then look for an archive.

    `on_progress` receives core's `Connecting` / `Connected` events (see `ConnectProgress.apply`).

    Raises:
        ConnectError (or SecretError): one line with the cause, from core.
    """
    from core.engine.connect import connect_transport
    from core.errors import ConnectError

    profile = state.to_profile(placeholder_sources=True)
    secret = state.password or None
    limit = profile.connection.timeout_seconds
    transport = _factory(profile, secret)()
    try:
        info = connect_transport(transport, timeout_seconds=limit, on_event=on_progress)
    finally:
        transport.close()
    archive: bool | None = None
    # A second connection for the archive would ask a device-code user to sign in twice.
    # Graph cannot reach an archive at all (its preflight says so), so there is nothing to probe.
    if (
        profile.destination.store == "mailbox"
        and profile.connection.auth.method != "oauth-device"
        and profile.connection.transport != "graph"
    ):
        probe = profile.model_copy(deep=True)
        probe.destination.store = "archive"
        other = _factory(probe, secret)()
        try:
            connect_transport(other, timeout_seconds=limit)
            archive = True
        except ConnectError as exc:
            if "has no archive" not in str(exc):
                raise
            archive = False
        finally:
            other.close()
    return PreflightResult(info, archive)


# Exchange builds (major.minor) by product: Microsoft's "Exchange Server build numbers and release
# dates". Exchange 2019 and Subscription Edition share 15.2; Exchange Online runs 15.20 and later.
EXCHANGE_BUILDS = {(15, 0): "Exchange Server 2013", (15, 1): "Exchange Server 2016", (15, 2): "Exchange Server 2019"}


def server_name(version: str) -> str:
    """A transport's version text as a technician says it.

    "Exchange2016 (15.2.1118.7)" (EWS schema, then build) becomes "Exchange Server 2019 (build
    15.2.1118.7)": the schema name is the newest EWS schema the server speaks, which Exchange 2019
    still calls Exchange2016, so the build decides the product.
    """
    import re

    found = re.match(r"^\s*(\S+)\s*\((\d+)\.(\d+)([.\d]*)\)\s*$", version or "")
    if not found:
        return version if version.lower().startswith(("exchange", "microsoft")) else f"Exchange {version}"
    major, minor = int(found.group(2)), int(found.group(3))
    build = f"{major}.{minor}{found.group(4)}"
    if major == 15 and minor >= 20:
        return f"Exchange Online (build {build})"
    product = EXCHANGE_BUILDS.get((major, minor))
    if product is None:
        return f"Exchange, EWS schema {found.group(1)} (build {build})"
    return f"{product} (build {build})"


def describe_preflight(result: PreflightResult) -> str:
    """The server product, the mailbox and whether it has an archive."""
    info = result.info
    text = f"{server_name(info.version)} at {info.url}; mailbox {info.mailbox}"
    if result.archive is not None:
        text += "; archive: present" if result.archive else "; archive: none"
    if info.notes:
        text += "\n" + "\n".join(info.notes)
    return text


Runner = Callable[[Callable[[Any], None], threading.Event], Any]


def profile_runner(
    profile: Any,
    secret: str | None,
    *,
    dry_run: bool = False,
    journal_dir: str = "",
) -> Runner:
    """What the run screen calls (in its worker) to plan and run a saved profile through the engine.

    With `dry_run`, the preflight (`core.engine.preflight`): it signs in and counts, uploading nothing.
    """

    def run(on_event: Callable[[Any], None], cancel: threading.Event) -> Any:
        from core.engine import build_plan
        from core.engine import run as engine_run

        factory = _factory(profile, secret)
        plan = build_plan(profile, transport_factory=factory, journal_dir=Path(journal_dir) if journal_dir else None)
        if dry_run:
            from core.engine.preflight import preflight

            return preflight(plan, on_event, cancel)
        return engine_run(plan, on_event, cancel)

    return run


def plan_runner(plan: Any, engine: Callable[..., Any] | None = None) -> Runner:
    """A runner for a plan already built (by `pstimport run`, which also owns the cancel event)."""

    def run(on_event: Callable[[Any], None], cancel: threading.Event) -> Any:
        from core.engine import run as engine_run

        return (engine or engine_run)(plan, on_event, cancel)

    return run
