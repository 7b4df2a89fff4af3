"""The plan of a run: which PST folders go where, built from a profile before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.engine.limiter import ByteBudget
from core.errors import PstError
from core.profile.model import Profile
from core.pst import open_pst
from core.transport.base import Transport

# The item-type filter of a profile, by converter payload kind.
KIND_TO_TYPE = {
    "mime": "mail",
    "appointment": "calendar",
    "contact": "contacts",
    "distribution_list": "contacts",
    "task": "tasks",
    "note": "notes",
    "journal": "journal",
}
# Display names for roles when no server was asked (dry run).
ROLE_NAMES = {
    "inbox": "Inbox",
    "sent": "Sent Items",
    "deleted": "Deleted Items",
    "drafts": "Drafts",
    "outbox": "Outbox",
    "junk": "Junk Email",
    "calendar": "Calendar",
    "contacts": "Contacts",
    "tasks": "Tasks",
    "notes": "Notes",
    "journal": "Journal",
}


@dataclass
class FolderPlan:
    """One PST folder and where it goes: under `anchor` (a role, or None for the store root) at `rel`."""

    source_path: tuple[str, ...]
    node_id: int
    container_class: str | None
    role: str | None
    pst_items: int
    anchor: str | None
    rel: tuple[str, ...]
    rel_classes: tuple[str | None, ...]
    target_path: tuple[str, ...] = ()
    folder_id: str | None = None
    handle: object = None


@dataclass
class SourcePlan:
    path: Path
    label: str
    """The file name, as reports show it."""
    codepage: str | None
    store_key: str
    folders: list[FolderPlan] = field(default_factory=list)
    excluded: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    """Folders the profile's include/exclude leave out: (path, items in the PST), for the report."""


@dataclass
class Plan:
    """Everything `core.engine.run` needs."""

    profile: Profile
    sources: list[SourcePlan]
    journal_path: Path
    transport_factory: Callable[[], Transport] | None
    dry_run: bool = False
    report_dir: Path | None = None
    byte_budget: ByteBudget | None = None
    """Shared with other runs (the mailboxes of a batch); None: the run has its own."""

    @property
    def folders(self) -> list[tuple[SourcePlan, FolderPlan]]:
        return [(s, f) for s in self.sources for f in s.folders]


def _unique_labels(paths: list[Path]) -> list[str]:
    """Root folder names for `pst-name`: the file name without extension; repeats get " (2)", " (3)"."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        base = p.stem or p.name
        n = seen.get(base.casefold(), 0) + 1
        seen[base.casefold()] = n
        out.append(base if n == 1 else f"{base} ({n})")
    return out


def build_plan(
    profile: Profile,
    *,
    dry_run: bool = False,
    transport_factory: Callable[[], Transport] | None = None,
    journal_dir: Path | None = None,
) -> Plan:
    """Read each PST's folder tree and decide the target of every selected folder.

    Raises:
        PstError: a PST cannot be opened (one line naming the file).
    """
    from core.engine.journal import journal_path

    paths = profile.source_paths()
    roots = _unique_labels(paths)
    dest = profile.destination
    sources: list[SourcePlan] = []
    for src, path, root_name in zip(profile.sources, paths, roots, strict=True):
        if not path.exists():
            raise PstError(str(path), "no such file")
        with open_pst(path, src.codepage) as pst:
            sp = SourcePlan(
                path=path, label=path.name, codepage=src.codepage, store_key=(pst.info.record_key or b"").hex()
            )
            classes: dict[tuple[str, ...], str | None] = {}
            roles: dict[tuple[str, ...], str | None] = {}
            for folder in pst.folders():
                classes[folder.path] = folder.container_class
                roles[folder.path] = folder.role
                if not src.selects(folder.path):
                    sp.excluded.append((folder.path, folder.item_count))
                    continue
                anchor: str | None = None
                if dest.root == "pst-name":
                    rel = (root_name, *folder.path)
                    rel_classes = ("IPF.Note", *(classes.get(folder.path[: i + 1]) for i in range(len(folder.path))))
                elif dest.root == "folder":
                    base = tuple(p for p in (dest.folder or "").split("/") if p)
                    rel = (*base, *folder.path)
                    rel_classes = (
                        *(["IPF.Note"] * len(base)),
                        *(classes.get(folder.path[: i + 1]) for i in range(len(folder.path))),
                    )
                else:  # store-root: the first ancestor with a role maps to the store's own folder
                    cut = 0
                    for i in range(1, len(folder.path) + 1):
                        if roles.get(folder.path[:i]):
                            anchor, cut = roles[folder.path[:i]], i
                            break
                    rel = folder.path[cut:]
                    rel_classes = tuple(classes.get(folder.path[: cut + i + 1]) for i in range(len(rel)))
                sp.folders.append(
                    FolderPlan(
                        source_path=folder.path,
                        node_id=folder.node_id,
                        container_class=folder.container_class,
                        role=folder.role,
                        pst_items=folder.item_count,
                        anchor=anchor,
                        rel=rel,
                        rel_classes=rel_classes,
                        target_path=((ROLE_NAMES.get(anchor, anchor),) if anchor else ()) + rel,
                    )
                )
        sources.append(sp)
    jpath = journal_path(profile.name, profile.mailbox, dest.store, journal_dir)
    return Plan(
        profile=profile,
        sources=sources,
        journal_path=jpath,
        transport_factory=transport_factory,
        dry_run=dry_run,
        report_dir=profile.report_dir(),
    )
