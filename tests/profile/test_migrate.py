"""Version 1 -> 2: a saved profile keeps its meaning although version 2 changed two defaults."""

from __future__ import annotations

import pytest
import yaml

from core.profile import load_profile, migrate, model, save_profile
from core.profile.migrate import MIGRATIONS, MigrationError
from tests.profile.conftest import VALID_ONLINE, VALID_ONPREM

V1_ONLINE_EWS = """\
version: 1
name: jane-old
connection:
  target: exchange-online
  auth:
    method: oauth-device
    username: svc@contoso.com
    client_id: 6731de76-14a6-49ae-97bc-6eba6914391e
mailbox: jane@contoso.com
sources:
  - path: sample.pst
"""


def test_current_version_needs_no_migration() -> None:
    """A current document comes back equal and the input is not modified."""
    data = {"version": model.PROFILE_VERSION, "name": "x"}
    assert migrate(data, model.PROFILE_VERSION) == data
    assert migrate(data, model.PROFILE_VERSION) is not data


def test_newer_version_refused() -> None:
    """A document from a newer pstimport is refused with a clear reason."""
    newer = model.PROFILE_VERSION + 1
    with pytest.raises(MigrationError, match="newer than this pstimport"):
        migrate({"version": newer}, newer)


def test_v1_left_out_defaults_are_written_in() -> None:
    """Version 1 meant ews and no impersonation where it said nothing; explicit values stay."""
    v1 = {"version": 1, "connection": {"target": "exchange-online"}}
    assert migrate(v1, 1)["connection"] == {"target": "exchange-online", "transport": "ews", "impersonation": False}
    assert v1 == {"version": 1, "connection": {"target": "exchange-online"}}  # the input is left alone
    explicit = {"version": 1, "connection": {"target": "exchange-online", "transport": "graph", "impersonation": True}}
    assert migrate(explicit, 1)["connection"] == explicit["connection"]
    assert migrate(explicit, 1)["version"] == 2


def test_v1_online_profile_keeps_ews(write_profile, tmp_path) -> None:
    """An Exchange Online profile saved by version 1 without `transport` still runs over EWS, without
    impersonation, and says so once saved again (as version 2)."""
    path = write_profile(V1_ONLINE_EWS)
    profile = load_profile(path)
    assert (profile.connection.transport, profile.connection.impersonation) == ("ews", False)
    assert any("EWSAllowedAppIDs" in w.message for w in profile.warnings)
    doc = yaml.safe_load(save_profile(profile, tmp_path / "again.yaml").read_text())
    assert doc["version"] == 2
    assert (doc["connection"]["transport"], doc["connection"]["impersonation"]) == ("ews", False)


def test_v2_defaults(write_profile) -> None:
    """Version 2 leaves it to the defaults: Graph for Exchange Online, EWS on-premises; impersonation on
    for a service account, off for the mailbox's owner, on for app-only access."""
    online = load_profile(write_profile(V1_ONLINE_EWS.replace("version: 1", "version: 2")))
    assert (online.connection.transport, online.connection.impersonation) == ("graph", True)
    onprem = load_profile(write_profile(VALID_ONPREM.replace("version: 1", "version: 2")))
    assert (onprem.connection.transport, onprem.connection.impersonation) == ("ews", True)  # svc@ != matt@
    owner = load_profile(
        write_profile(VALID_ONPREM.replace("version: 1", "version: 2").replace("svc@example.com", "matt@example.com"))
    )
    assert owner.connection.impersonation is False
    app = load_profile(
        write_profile(VALID_ONLINE.replace("version: 1", "version: 2").replace("  impersonation: true\n", ""))
    )
    assert (app.connection.transport, app.connection.impersonation) == ("graph", True)


def test_missing_step_refused(monkeypatch) -> None:
    """A gap in the migration chain is an error, not a silent pass-through."""
    monkeypatch.setattr(model, "PROFILE_VERSION", 4)
    monkeypatch.setitem(MIGRATIONS, 2, lambda d: d)
    monkeypatch.delitem(MIGRATIONS, 3, raising=False)
    with pytest.raises(MigrationError, match="version 3 profiles cannot be read"):
        migrate({"version": 1}, 1)
