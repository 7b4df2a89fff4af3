"""Schema migrations: older profile documents are brought up to `PROFILE_VERSION` before validation.

Version 1 is the first version, so there is nothing to migrate yet. When version 2 arrives:
raise `PROFILE_VERSION` in `core.profile.model`, write `def _v1_to_v2(data: dict) -> dict` here
and register it as `MIGRATIONS[1] = _v1_to_v2`. `load_profile` then accepts version 1 and 2
files, and `save_profile` writes version 2 (tests/profile/test_migrate.py shows this).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from core.profile import model

# from_version -> function turning a document of that version into one of from_version + 1
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


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
