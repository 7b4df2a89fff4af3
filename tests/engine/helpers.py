"""Helpers shared by engine and e2e tests."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from core.engine import build_plan, run
from core.engine.connect import transport_factory
from core.profile.io import save_profile
from core.profile.model import Profile

ALICE = "alice@sandbox.test"
BOB = "bob@sandbox.test"
SVC = "svc@sandbox.test"
PASSWORD = "Sandbox-Pa55"


def make_profile(
    tmp_path: Path,
    sandbox: Any,
    sources: list[Path],
    *,
    name: str = "t",
    mailbox: str = ALICE,
    username: str | None = None,
    root: str = "pst-name",
    store: str = "mailbox",
    folder: str | None = None,
    threads: int = 4,
    batch: int = 10,
    impersonation: bool = False,
    direct: bool = True,
    save: bool = True,
    **sections: Any,
) -> Profile:
    dest: dict[str, Any] = {"root": root, "store": store}
    if folder:
        dest["folder"] = folder
    prof = Profile.new(
        name=name,
        mailbox=mailbox,
        sources=[str(s) for s in sources],
        target="on-premises",
        ews_url=sandbox.ews_url if direct else None,
        username=username or mailbox,
        impersonation=impersonation,
        destination=dest,
        performance={"max_threads": threads, "batch_items": batch},
        report={"directory": str(tmp_path / "reports")},
        **sections,
    )
    if not direct:
        prof.connection.discovery = "autodiscover"
    if save:
        save_profile(prof, tmp_path / f"{name}.yaml", check=False)
    return prof


def run_profile(
    profile: Profile, cancel: threading.Event | None = None, events: list | None = None, dry_run: bool = False
) -> Any:
    """Plan and run `profile` headless, collecting events; returns the RunResult."""
    plan = build_plan(
        profile, dry_run=dry_run, transport_factory=None if dry_run else transport_factory(profile, interactive=False)
    )
    sink = events if events is not None else []
    return run(plan, sink.append, cancel)


def stamped_items(sandbox: Any, mailbox: str = ALICE) -> dict[str, list]:
    """Every item in `mailbox` (mailbox and archive) carrying our stamp: stamp -> items."""
    from core.mapi.props import PidNamePstImportSourceKey as key
    from core.sandbox.server.store import prop_key

    pk = prop_key("String", property_set=key.guid, name=key.key)
    out: dict[str, list] = {}
    for it in _all_items(sandbox, mailbox):
        value = it.props.get(pk)
        if value:
            out.setdefault(value, []).append(it)
    return out


def _all_items(sandbox: Any, mailbox: str) -> list:
    items = []
    for archive in (False, True):
        root = sandbox.folder(mailbox, (), archive=archive)
        if root is None:
            continue
        for f in [root, *sandbox.store.descendants(root.id)]:
            items.extend(sandbox.store.items(f.id))
    return items
