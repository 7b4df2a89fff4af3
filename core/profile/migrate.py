"""Schema migrations: older profile documents are brought up to `PROFILE_VERSION` before validation.

Each step is `MIGRATIONS[n]`, a function from a version-n document to a version n+1 one.
`load_profile` accepts every version with a path to the current one, and `save_profile` writes
the current version.

1 -> 2: version 2 changed two defaults for the Exchange Online of 2027: a left-out
`connection.transport` now means graph for Exchange Online (it meant ews), and a left-out
`connection.impersonation` now follows `core.online.impersonation_default` (it meant false). A
version 1 document that left them out meant ews and false, so the step writes those in: a saved
profile keeps doing what it did. Explicit values are kept as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from core.profile import model


def _v1_to_v2(data: dict) -> dict:
    """Say what version 1 left to its defaults (transport: ews, impersonation: false)."""
    conn = data.get("connection")
    if isinstance(conn, dict):
        conn.setdefault("transport", "ews")
        conn.setdefault("impersonation", False)
    return data


# from_version -> function turning a document of that version into one of from_version + 1
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


class MigrationError(ValueError):
    """The document's version cannot be brought up to the current one."""


def migrate(data: dict, from_version: int) -> dict:
    """Return `data` (a profile document of `from_version`) as a document of the current version.

    The input is not modified. Each step sets `version` to its own result.

    Raises:
        MigrationError: the version is newer than this pstimport, or no migration path exists.
    """
    current = model.PROFILE_VERSION
    if from_version > current:
        raise MigrationError(
            f"version {from_version} is newer than this pstimport understands ({current}); upgrade pstimport"
        )
    out = copy.deepcopy(data)
    version = from_version
    while version < current:
        step = MIGRATIONS.get(version)
        if step is None:
            raise MigrationError(f"version {version} profiles cannot be read by this pstimport (it reads {current})")
        out = step(out)
        version += 1
        out["version"] = version
    return out
