"""`--shard i/n`: a deterministic, coordination-free slice of a batch.

A mailbox belongs to shard `1 + sha256(lowercased address) mod n`, so every PST of a mailbox
lands on the same machine (its journal and its throttling stay in one place), any machine
computes the same split from the same CSV, and adding rows never moves other mailboxes.
"""

from __future__ import annotations

import hashlib
import re

from core.errors import UserError


def parse_shard(text: str) -> tuple[int, int]:
    """`"2/4"` -> (2, 4). Shards are numbered 1 to n.

    Raises:
        UserError: not of the form i/n with 1 <= i <= n.
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise UserError(f"--shard {text!r}: write it as i/n, e.g. 1/4 for the first of four machines")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise UserError(f"--shard {text}: shards are numbered 1 to n (1/{max(n, 1)} ... {max(n, 1)}/{max(n, 1)})")
    return i, n


def shard_of(mailbox: str, n: int) -> int:
    """The shard (1..n) that imports `mailbox`."""
    digest = hashlib.sha256(mailbox.strip().lower().encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % n
