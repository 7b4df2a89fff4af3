"""The two servers of the end-to-end suite, headless runs of `pstimport`, and reading back with plain exchangelib.

A `Mailbox` is one mailbox on one server: our sandbox (strict, schema-checked) or gromox (an independent
EWS server, ../shared/gromox). Imports run as `python -m core.cli run PROFILE --headless --json` in a
subprocess; what arrived is read back with unpatched exchangelib only (never our transport, never the
sandbox's store): every folder under a root, its TotalCount, and each item's source stamp.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent


@dataclass
class Mailbox:
    """One mailbox on one server, as a technician's profile and a plain client reach it."""

    server: str  # "sandbox" | "gromox"
    ews_url: str
    email: str
    password: str
    fresh_server: Callable[[], Mailbox] = field(repr=False)
    """The same address on a new, empty server of the same kind ("server B")."""

    def account(self) -> Any:
        """A plain exchangelib Account (Basic on gromox, see DEVIATION_AUTH; NTLM on the sandbox)."""
        from exchangelib import BASIC, DELEGATE, NTLM, Account, Configuration, Credentials, FaultTolerance

        config = Configuration(
            service_endpoint=self.ews_url,
            auth_type=BASIC if self.server == "gromox" else NTLM,
            credentials=Credentials(self.email, self.password),
            retry_policy=FaultTolerance(max_wait=60),
            max_connections=2,
        )
        return Account(self.email, config=config, autodiscover=False, access_type=DELEGATE)


def write_profile(
    path: Path, mb: Mailbox, sources: list[Path], *, root: str = "pst-name", threads: int = 4, batch: int = 10
) -> Path:
    """A profile as the wizard writes it for an on-premises server reached directly, password sign-in,
    no impersonation; the password never in it (PSTIMPORT_PASSWORD at run time)."""
    from core.profile.io import save_profile
    from core.profile.model import Profile

    prof = Profile.new(
        name=path.stem,
        mailbox=mb.email,
        sources=[str(s) for s in sources],
        target="on-premises",
        ews_url=mb.ews_url,
        auth_method="password",
        username=mb.email,
        impersonation=False,
        destination={"root": root, "store": "mailbox"},
        performance={"max_threads": threads, "batch_items": batch},
        report={"directory": str(path.parent / f"reports-{path.stem}")},
    )
    save_profile(prof, path, check=False)
    return path


@dataclass
class Outcome:
    """A finished (or killed) headless run."""

    code: int | None  # None: killed
    events: list[dict]
    stderr: str

    @property
    def finished(self) -> dict:
        return next(e for e in reversed(self.events) if e["event"] == "RunFinished")

    @property
    def report(self) -> dict:
        return json.loads(Path(self.finished["report_json"]).read_text(encoding="utf-8"))

    def count(self, kind: str) -> int:
        return sum(e["event"] == kind for e in self.events)


def run(profile: Path, mb: Mailbox, state: Path, *, kill_after: int | None = None, timeout: float = 600) -> Outcome:
    """`pstimport run PROFILE --headless --json` in a subprocess; with `kill_after`, SIGKILL once that many
    items were imported (what a crash or `kill -9` does)."""
    env = dict(os.environ, PSTIMPORT_PASSWORD=mb.password, PSTIMPORT_STATE_DIR=str(state), PSTIMPORT_KEYRING="none")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run", str(profile), "--headless", "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    events: list[dict] = []
    imported = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            events.append(event)
            if event["event"] == "ItemImported":
                imported += 1
                if kill_after is not None and imported >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return Outcome(None, events, "")
        proc.wait(timeout=timeout)
        assert proc.stderr is not None
        return Outcome(proc.returncode, events, proc.stderr.read())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


# ----- reading back with plain exchangelib ---------------------------------------------------------


def _stamp_field() -> str:
    """Register our stamp (DESIGN.md) as an exchangelib extended property on every item class; its name."""
    from exchangelib import ExtendedProperty
    from exchangelib.items import ITEM_CLASSES

    from core.mapi.props import PidNamePstImportSourceKey as key

    class SourceStamp(ExtendedProperty):
        property_set_id = str(key.guid)
        property_name = key.key
        property_type = "String"

    for cls in ITEM_CLASSES:
        if "pst_stamp" not in {f.name for f in cls.FIELDS}:
            cls.register("pst_stamp", SourceStamp)
    return "pst_stamp"


@dataclass
class FolderBack:
    """One mailbox folder as exchangelib reads it."""

    path: tuple[str, ...]
    id: str
    total: int
    stamps: dict[str, set[str]]  # stamp -> distinct item ids


def read_tree(account: Any, top: Any) -> dict[tuple[str, ...], FolderBack]:
    """Every folder under `top` (itself included, path ()), with its TotalCount and stamped items."""
    from exchangelib import SHALLOW
    from exchangelib.folders import FolderCollection

    name = _stamp_field()
    out: dict[tuple[str, ...], FolderBack] = {}

    def visit(folder: Any, path: tuple[str, ...]) -> None:
        stamps: dict[str, set[str]] = {}
        for item in folder.all().only(name):
            if isinstance(item, Exception):
                raise item
            value = getattr(item, name, None)
            if value:
                stamps.setdefault(value, set()).add(item.id)
        out[path] = FolderBack(path, folder.id, int(folder.total_count or 0), stamps)
        for child in FolderCollection(account=account, folders=[folder]).find_folders(depth=SHALLOW):
            if isinstance(child, Exception):
                raise child
            visit(child, (*path, child.name))

    visit(top, ())
    return out


def child(account: Any, parent: Any, name: str) -> Any | None:
    """The child folder `name` of `parent` (without case), fresh from the server, or None."""
    from exchangelib import SHALLOW
    from exchangelib.folders import FolderCollection

    for f in FolderCollection(account=account, folders=[parent]).find_folders(depth=SHALLOW):
        if not isinstance(f, Exception) and (f.name or "").casefold() == name.casefold():
            return f
    return None


def all_stamps(tree: dict[tuple[str, ...], FolderBack]) -> dict[str, set[str]]:
    """stamp -> distinct item ids over a whole tree."""
    out: dict[str, set[str]] = {}
    for f in tree.values():
        for stamp, ids in f.stamps.items():
            out.setdefault(stamp, set()).update(ids)
    return out
