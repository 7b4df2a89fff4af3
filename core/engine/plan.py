"""The plan of a run: which PST folders go where, built from a profile before anything is sent."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.engine.limiter import ByteBudget
from core.errors import PstError
from core.profile.model import Profile
from core.pst import open_pst
from core.pst.model import Folder
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


# Exchange takes folder names of 1 to 256 characters ([MS-ASCMD] FolderCreate DisplayName; EWS refuses
# an empty one with "A folder must have a display name"), compares sibling names without case, and an
# XML request cannot carry most control characters at all.
MAX_FOLDER_NAME = 255
NO_NAME = "(no name)"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def clean_folder_name(name: str) -> tuple[str, str | None]:
    """A name Exchange accepts for a PST folder's `name`, and why it differs (None when it does not).

    Control characters are written as visible escapes (`\x1b`), surrounding spaces go, an empty
    name becomes "(no name)" and a long one is cut to `MAX_FOLDER_NAME` characters. The same name
    always gives the same result, so a re-run lands in the same folder.
    """
    out = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name).strip()
    why = []
    if out != name.strip():
        why.append("control characters")
    elif out != name:
        why.append("surrounding spaces")
    if not out:
        out = NO_NAME
        why = ["empty name"]
    if len(out) > MAX_FOLDER_NAME:
        out = out[: MAX_FOLDER_NAME - 1].rstrip() + "…"
        why.append(f"longer than {MAX_FOLDER_NAME} characters")
    return out, ("; ".join(why) if why else None)


def target_names(folders: list[Folder]) -> dict[int, tuple[str, str | None]]:
    """Folder node id -> (the name its mailbox folder gets, why it was changed or None).

    Siblings whose names are equal once cleaned (compared without case, as Exchange does) get
    " (2)", " (3)"... in node-id order, which a PST keeps, so every run maps them alike; nothing
    merges two PST folders into one mailbox folder any more."""
    out: dict[int, tuple[str, str | None]] = {}
    siblings: dict[int, list[Folder]] = {}
    for f in folders:
        if f.path:
            siblings.setdefault(f.parent_id, []).append(f)
    for group in siblings.values():
        taken: set[str] = set()
        cleaned = [(f, *clean_folder_name(f.path[-1])) for f in sorted(group, key=lambda f: f.node_id)]
        wanted = {name.casefold() for _f, name, _why in cleaned}
        for f, name, why in cleaned:
            final, n = name, 1
            while final.casefold() in taken:
                n += 1
                suffix = f" ({n})"
                final = name[: MAX_FOLDER_NAME - len(suffix)] + suffix
                if final.casefold() in wanted and final.casefold() not in taken:
                    continue  # another sibling is called that already: keep counting
            if final != name:
                why = "; ".join(w for w in (why, "a sibling folder has the same name") if w)
            taken.add(final.casefold())
            out[f.node_id] = (final, why)
    return out


def _chain(folder: Folder, by_id: dict[int, Folder]) -> list[Folder]:
    """The folders from below the top down to `folder` (none for the top itself)."""
    out: list[Folder] = []
    f: Folder | None = folder
    while f is not None and f.path and len(out) <= len(by_id):
        out.append(f)
        f = by_id.get(f.parent_id)
    return out[::-1]


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
    renamed: tuple[str, ...] = ()
    """Why names on the way to the target differ from the PST's (empty, control characters, a
    sibling of the same name...), as "'old' -> 'new': why"; shown in the report."""


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
            folders = list(pst.folders())
        names = target_names(folders)
        by_id = {f.node_id: f for f in folders}
        for folder in folders:
            if not src.selects(folder.path):
                sp.excluded.append((folder.path, folder.item_count))
                continue
            line = _chain(folder, by_id)
            mapped = tuple(names[f.node_id][0] for f in line)
            classes = tuple(f.container_class for f in line)
            renamed = tuple(
                f"{f.path[-1]!r} -> {names[f.node_id][0]!r}: {names[f.node_id][1]}" for f in line if names[f.node_id][1]
            )
            anchor: str | None = None
            if dest.root == "pst-name":
                rel = (root_name, *mapped)
                rel_classes = ("IPF.Note", *classes)
            elif dest.root == "folder":
                base = tuple(p for p in (dest.folder or "").split("/") if p)
                rel = (*base, *mapped)
                rel_classes = (*(["IPF.Note"] * len(base)), *classes)
            else:  # store-root: the first ancestor with a role maps to the store's own folder
                cut = next((i + 1 for i, f in enumerate(line) if f.role), 0)
                anchor = line[cut - 1].role if cut else None
                rel = mapped[cut:]
                rel_classes = classes[cut:]
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
                    renamed=renamed,
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
