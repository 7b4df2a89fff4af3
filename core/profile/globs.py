"""Folder path globs for `sources[].include` / `exclude`.

The dialect, chosen to read like the paths a technician sees in Outlook's folder pane:

- a pattern is folder names joined by `/`, from the top of the PST's visible folder tree
  ("Inbox/Projects"); no leading or trailing `/`, no empty names;
- `**` as a whole name matches any number of folder levels, including none, so "Inbox/**" is
  Inbox and everything under it, and "**/Archive" is every folder called Archive;
- `*` matches any run of characters within one folder name, `?` exactly one, `[abc]`/`[!abc]` one
  of a set (as in fnmatch);
- matching ignores case, as Exchange and Outlook do for folder names;
- `\\` escapes the next character, so a folder named "a/b" is written "a\\/b" and a literal star
  "\\*".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass


class GlobError(ValueError):
    """A pattern is not valid in the folder glob dialect; the message says why."""


_ANY_DEPTH = object()


def _split(pattern: str) -> list[list[tuple[str, bool]]]:
    """Split into segments of (char, escaped) pairs, honouring backslash escapes."""
    segments: list[list[tuple[str, bool]]] = [[]]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 == len(pattern):
                raise GlobError("ends with a lone backslash (write \\\\ for a backslash)")
            segments[-1].append((pattern[i + 1], True))
            i += 2
            continue
        if c == "/":
            segments.append([])
        else:
            segments[-1].append((c, False))
        i += 1
    return segments


def _segment_regex(seg: list[tuple[str, bool]]) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c, escaped = seg[i]
        if escaped:
            out.append(re.escape(c))
        elif c == "*":
            if i + 1 < len(seg) and seg[i + 1] == ("*", False):
                raise GlobError("'**' must be a whole folder name, as in 'Inbox/**' (use '*' within a name)")
            out.append("[^/]*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + 1
            if j < len(seg) and seg[j] == ("!", False):
                j += 1
            if j < len(seg) and seg[j] == ("]", False):
                j += 1  # a leading ] is literal, as in fnmatch
            while j < len(seg) and seg[j] != ("]", False):
                j += 1
            if j >= len(seg):
                raise GlobError("'[' opens a character set that is never closed with ']'")
            body = seg[i + 1 : j]
            negate = bool(body) and body[0] == ("!", False)
            if negate:
                body = body[1:]
            chars = "".join(ch for ch, _ in body)
            if not chars:
                raise GlobError("empty character set '[]'")
            # keep ranges (a-z), escape everything else that regex would read specially
            cls = "".join("\\" + ch if ch in "\\^[]" else ch for ch in chars)
            out.append(f"[{'^' if negate else ''}{cls}]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
    except re.error as exc:  # e.g. a reversed range [z-a]
        raise GlobError(f"bad character set: {exc}") from None


@dataclass(frozen=True)
class FolderGlob:
    """A compiled folder glob; `matches(("Inbox", "Sub"))` tests a folder path."""

    pattern: str
    _parts: tuple

    def matches(self, folder_path: Sequence[str]) -> bool:
        """Whether the folder at `folder_path` (names from the top of the PST) matches."""
        parts, names = self._parts, tuple(folder_path)

        @functools.cache
        def match(p: int, n: int) -> bool:
            if p == len(parts):
                return n == len(names)
            if parts[p] is _ANY_DEPTH:
                return any(match(p + 1, k) for k in range(n, len(names) + 1))
            return n < len(names) and parts[p].fullmatch(names[n]) is not None and match(p + 1, n + 1)

        return match(0, 0)


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> FolderGlob:
    """Compile a folder glob (see the module docstring for the dialect).

    Raises:
        GlobError: the pattern is empty, has an empty folder name, a partial `**`, an unclosed
        `[` or a trailing backslash.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise GlobError("an empty pattern matches nothing (leave the list empty to mean every folder)")
    if pattern.startswith("/"):
        raise GlobError("starts with '/': write folder paths from the top of the PST, e.g. 'Inbox/**'")
    parts: list = []
    for seg in _split(pattern):
        if not seg:
            raise GlobError("has an empty folder name ('//' or a trailing '/')")
        if seg == [("*", False), ("*", False)]:
            if parts and parts[-1] is _ANY_DEPTH:
                continue  # '**/**' is the same as '**'
            parts.append(_ANY_DEPTH)
        else:
            parts.append(_segment_regex(seg))
    return FolderGlob(pattern, tuple(parts))
