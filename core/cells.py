"""Text in terminal cells: CJK (East Asian wide) characters take two columns, combining marks none.

The headless printers and the wizard lay folder names out in columns. Counting characters
breaks those columns as soon as a folder is called 受信トレイ, and cutting a path from the left
loses the folder's own name; these helpers count cells and keep the leaf.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

ELLIPSIS = "…"


@lru_cache(maxsize=4096)
def char_width(ch: str) -> int:
    """Cells one character takes: 2 for East Asian wide/fullwidth, 0 for combining marks and controls."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """Cells `text` takes on a terminal."""
    if text.isascii():
        return len(text)
    return sum(char_width(ch) for ch in text)


def clip_right(text: str, width: int) -> str:
    """`text`, or its start and "…" in at most `width` cells."""
    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def pad(text: str, width: int) -> str:
    """`text` cut (see `clip_right`) or padded with spaces to exactly `width` cells."""
    text = clip_right(text, width)
    return text + " " * (width - cell_width(text))


def fit_path(parts: Sequence[str], width: int, top: str = "(top of PST)") -> str:
    """A folder path in at most `width` cells, keeping what a technician needs: the folder's own name
    (the leaf) whole where it fits, then the top folder, cutting the middle ("Inbox/…/2016"); a leaf
    too long on its own keeps its start ("Contoso framework agr…")."""
    names = list(parts) or [top]
    full = "/".join(names)
    if cell_width(full) <= width:
        return full
    leaf = names[-1]
    if len(names) > 2 and cell_width(f"{names[0]}/{ELLIPSIS}/{leaf}") <= width:
        return f"{names[0]}/{ELLIPSIS}/{leaf}"
    if len(names) > 1 and cell_width(f"{ELLIPSIS}/{leaf}") <= width:
        return f"{ELLIPSIS}/{leaf}"
    return clip_right(leaf, width)
