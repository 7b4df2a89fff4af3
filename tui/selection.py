"""Which folders of a PST are ticked in the wizard's tree, and the include/exclude globs that say so.

Plain Python (no Textual), so the rule that turns a tree of checkboxes into a profile's
`sources[].include/exclude` is tested on its own and checked against `Source.selects`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

FolderPath = tuple[str, ...]

_GLOB_SPECIAL = set("\\/*?[]")


def escape_name(name: str) -> str:
    """A folder name written literally in the folder glob dialect of `core.profile.globs`."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in name)


def glob_of(path: FolderPath) -> str:
    return "/".join(escape_name(n) for n in path)


@dataclass
class FolderInfo:
    path: FolderPath
    items: int
    role: str | None
    container_class: str | None


@dataclass
class PstChoice:
    """One PST in the selection: its census and the folders ticked in it."""

    path: str
    display_name: str | None
    kind: str
    format: str
    size: int
    folders: list[FolderInfo]
    checked: set[FolderPath] = field(default_factory=set)
    codepage: str | None = None

    @classmethod
    def from_census(cls, census: dict[str, Any], *, checked: bool = True) -> PstChoice:
        """From one entry of `core.pst.scan.scan()["files"]`, every folder ticked by default."""
        folders = [
            FolderInfo(tuple(f["path"]), int(f["items"]), f.get("role"), f.get("container_class"))
            for f in census["folders"]
        ]
        if not folders or folders[0].path != ():
            folders.insert(0, FolderInfo((), 0, None, None))
        try:
            size = os.path.getsize(census["path"])
        except OSError:
            size = 0
        choice = cls(
            path=census["path"],
            display_name=census.get("display_name"),
            kind=census.get("kind", "pst"),
            format=census.get("format", "unicode"),
            size=size,
            folders=folders,
        )
        if checked:
            choice.checked = {f.path for f in folders}
        return choice

    # ----- tree rules -----------------------------------------------------------------------------

    def subtree(self, path: FolderPath) -> list[FolderPath]:
        """`path` and every folder below it."""
        n = len(path)
        return [f.path for f in self.folders if f.path[:n] == path]

    def set_checked(self, path: FolderPath, on: bool) -> None:
        """Tick or untick a folder; its subtree follows it."""
        for p in self.subtree(path):
            if on:
                self.checked.add(p)
            else:
                self.checked.discard(p)

    def state(self, path: FolderPath) -> str:
        """ "on", "off" or "partial" (some of the subtree ticked) for the checkbox of `path`."""
        sub = self.subtree(path)
        n = sum(1 for p in sub if p in self.checked)
        if n == len(sub):
            return "on"
        return "off" if n == 0 else "partial"

    @property
    def total_items(self) -> int:
        return sum(f.items for f in self.folders)

    @property
    def selected_items(self) -> int:
        return sum(f.items for f in self.folders if f.path in self.checked)

    @property
    def selected_bytes(self) -> int:
        """An estimate: the file's size in proportion to the items ticked (folders carry no sizes)."""
        total = self.total_items
        if not total:
            return 0
        return self.size * self.selected_items // total

    @property
    def any_selected(self) -> bool:
        """Whether a folder holding items, or any folder but the top, is ticked."""
        return any(p != () for p in self.checked) or self.selected_items > 0

    # ----- to and from the profile ----------------------------------------------------------------

    def globs(self) -> tuple[list[str], list[str]]:
        """(include, exclude) for the profile: empty when all is ticked, else the fewest exclusions.

        An unticked folder whose whole subtree is unticked becomes "Name/**" (itself and
        everything below); one with ticked descendants is excluded by its exact path only.
        """
        if self.state(()) == "on":
            return [], []
        exclude: list[str] = []
        covered: list[FolderPath] = []
        for f in self.folders:
            if f.path == () or f.path in self.checked:
                continue
            if any(f.path[: len(c)] == c for c in covered):
                continue
            if self.state(f.path) == "off":
                exclude.append(glob_of(f.path) + "/**")
                covered.append(f.path)
            else:
                exclude.append(glob_of(f.path))
        return [], exclude

    def apply_globs(self, include: Sequence[str], exclude: Sequence[str]) -> None:
        """Tick the folders a profile's include/exclude select (for opening a saved profile)."""
        from core.profile.model import Source

        src = Source(path=self.path, include=list(include), exclude=list(exclude))
        self.checked = {f.path for f in self.folders if f.path == () or src.selects(f.path)}


def selection_totals(choices: Iterable[PstChoice]) -> tuple[int, int, int]:
    """(PSTs with something ticked, items ticked, estimated bytes ticked)."""
    files = items = size = 0
    for c in choices:
        if c.any_selected:
            files += 1
            items += c.selected_items
            size += c.selected_bytes
    return files, items, size


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TB"
