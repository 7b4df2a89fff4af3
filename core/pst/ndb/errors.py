"""The one exception of the NDB/LTP layer."""

from __future__ import annotations

__all__ = ["NdbError"]


class NdbError(Exception):
    """A PST/OST file, or a node in it, cannot be read.

    `str(error)` is one line that names the structure concerned (header field, page,
    block id, node id) but not the file path, so a caller can prefix its own context;
    the path is in `.path` when known.
    """

    def __init__(self, reason: str, path: str | None = None) -> None:
        reason = " ".join(reason.split())
        super().__init__(reason)
        self.reason = reason
        self.path = path
