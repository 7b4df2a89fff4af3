"""The migration hook: where a version 2 schema would plug in."""

from __future__ import annotations

import pytest

from core.profile import load_profile, migrate, model
from core.profile.migrate import MIGRATIONS, MigrationError
from tests.profile.conftest import VALID_ONPREM


def test_version_1_needs_no_migration() -> None:
    """A current document comes back equal and the input is not modified."""
    data = {"version": 1, "name": "x"}
    assert migrate(data, 1) == data
    assert migrate(data, 1) is not data


def test_newer_version_refused() -> None:
    """A document from a newer pstimport is refused with a clear reason."""
    with pytest.raises(MigrationError, match="newer than this pstimport"):
        migrate({"version": 2}, 2)


def test_version_2_plugs_in_here(write_profile, monkeypatch) -> None:
    """With PROFILE_VERSION 2 and MIGRATIONS[1] registered, a version 1 file loads as version 2.

    This is the recipe for the real version 2: a pretend change renames `performance.max_threads`
    to `performance.threads` in v2, and the model reads it back as max_threads here, proving the
    migration ran before validation.
    """

    def v1_to_v2(data: dict) -> dict:
        perf = data.get("performance", {})
        if "max_threads" in perf:
            perf["threads"] = perf.pop("max_threads") * 2
        return data

    def v2_reader(data: dict) -> dict:  # stands in for the v2 model: map back for the v1 model
        perf = data.get("performance", {})
        if "threads" in perf:
            perf["max_threads"] = perf.pop("threads")
        data["version"] = 1
        return data

    monkeypatch.setattr(model, "PROFILE_VERSION", 2)
    monkeypatch.setitem(MIGRATIONS, 1, v1_to_v2)
    migrated = migrate({"version": 1, "performance": {"max_threads": 4}}, 1)
    assert migrated == {"version": 2, "performance": {"threads": 8}}

    import core.profile.io as io

    real = io.migrate
    monkeypatch.setattr(io, "migrate", lambda data, v: v2_reader(real(data, v)))
    profile = load_profile(write_profile(VALID_ONPREM))
    assert profile.performance.max_threads == 8


def test_missing_step_refused(monkeypatch) -> None:
    """A gap in the migration chain is an error, not a silent pass-through."""
    monkeypatch.setattr(model, "PROFILE_VERSION", 3)
    monkeypatch.setitem(MIGRATIONS, 1, lambda d: d)
    with pytest.raises(MigrationError, match="version 2 profiles cannot be read"):
        migrate({"version": 1}, 1)
