"""A path input that completes file and folder names as you type (→ or End accepts)."""

from __future__ import annotations

import os

from textual.suggester import Suggester
from textual.widgets import Input

PST_EXTENSIONS = (".pst", ".ost")


class PathSuggester(Suggester):
    """Completes the last path component from the file system: folders, and PST/OST files."""

    def __init__(self, extensions: tuple[str, ...] = PST_EXTENSIONS) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.extensions = extensions

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value, self.extensions)


def complete_path(value: str, extensions: tuple[str, ...] = PST_EXTENSIONS) -> str | None:
    """The first folder or matching file that extends `value`, as typed (`~` kept), or None."""
    if not value:
        return None
    expanded = os.path.expanduser(value)
    head, tail = os.path.split(expanded)
    directory = head or "."
    try:
        names = sorted(os.listdir(directory), key=str.lower)
    except OSError:
        return None
    lower_tail = tail.lower()
    for name in names:
        if not name.lower().startswith(lower_tail) or name == tail or (name.startswith(".") and not tail):
            continue
        full = os.path.join(directory, name)
        if os.path.isdir(full):
            suffix = name[len(tail) :] + os.sep
        elif name.lower().endswith(extensions):
            suffix = name[len(tail) :]
        else:
            continue
        return value + suffix
    return None


class PathInput(Input):
    """An `Input` wired to `PathSuggester`."""

    def __init__(self, value: str = "", **kwargs) -> None:
        kwargs.setdefault("placeholder", "a .pst/.ost file, or a folder to scan")
        super().__init__(value, suggester=PathSuggester(), **kwargs)
