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
APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "app-secret-value"
TENANT = "sandbox.onmicrosoft.com"
TRANSPORTS = ("ews", "graph")


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
    if getattr(sandbox, "test_transport", "ews") == "graph":
        # Exchange Online over Graph: app-only OAuth at the sandbox's authority, its CA trusted.
        prof = Profile.new(
            name=name,
            mailbox=mailbox,
            sources=[str(s) for s in sources],
            target="exchange-online",
            transport="graph",
            auth_method="oauth-app",
            tenant_id=TENANT,
            client_id=APP_ID,
            destination=dest,
            performance={"max_threads": threads, "batch_items": batch},
            report={"directory": str(tmp_path / "reports")},
            **sections,
        )
        prof.connection.ca_bundle = str(sandbox.ca_cert)
        if save:
            save_profile(prof, tmp_path / f"{name}.yaml", check=False)
        return prof
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
        profile,
        dry_run=dry_run,
        transport_factory=None if dry_run else transport_factory(profile, interactive=False),
    )
    sink = events if events is not None else []
    return run(plan, sink.append, cancel)


def stamped_items(sandbox: Any, mailbox: str = ALICE) -> dict[str, list]:
    """Every item in `mailbox` (mailbox and archive) carrying our stamp: stamp -> items."""
    from core.mapi.props import PidNamePstImportSourceKey as key
    from core.sandbox.server.graph import LINKED_KEY
    from core.sandbox.server.store import prop_key

    pk = prop_key("String", property_set=key.guid, name=key.key)
    out: dict[str, list] = {}
    for it in _all_items(sandbox, mailbox):
        value = it.props.get(pk)
        if value:
            out.setdefault(value, []).append(it)
        # Graph's To Do tasks carry the stamp as a linkedResource externalId, not a property.
        for linked in it.props.get(LINKED_KEY) or []:
            out.setdefault(linked, []).append(it)
    return out


def drafts(sandbox: Any, mailbox: str = ALICE) -> set[str]:
    """Stamps of the items of `mailbox` that are drafts (a JSON message created without its flags is one)."""
    found = stamped_items(sandbox, mailbox)
    return {s for s, items in found.items() if any(it.kind == "Message" and it.is_draft for it in items)}


def source_drafts(pst_path: Any) -> set[str]:
    """Stamps of the PST's items that are drafts there (as the converter reads PidTagMessageFlags):
    the only ones that may stay drafts."""
    from core.convert.extended import message_flags
    from core.pst import open_pst
    from core.pst.model import UnreadableItem

    out = set()
    with open_pst(pst_path) as pst:
        key = pst.info.record_key.hex()
        for folder in pst.folders():
            for it in pst.items(folder):
                if not isinstance(it, UnreadableItem) and message_flags(it)[2]:
                    out.add(f"{key}:{it.node_id}")
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
