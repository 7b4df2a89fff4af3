"""Saving profiles: round trip, the user's key order, defaults left out, atomic writes, the header."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
import yaml

from core import __version__
from core.errors import ProfileError
from core.profile import Profile, dumps_profile, load_profile, save_profile
from tests.profile.conftest import VALID_ONLINE, VALID_ONPREM

HAND_EDITED = """\
# Matt's old laptop, ticket 4711
mailbox: matt@example.com
name: hand-edited
version: 1
sources:
  - include: ["Inbox/**"]
    path: sample.pst
    exclude: ["Inbox/Spam"]
connection:
  auth:
    username: svc@example.com
    method: password
    cache_password: true
  discovery: direct
  ews_url: https://mail.example.com/EWS/Exchange.asmx
  target: on-premises
performance:
  max_threads: 4
filters:
  before: 2020-01-01
  item_types: [mail, calendar]
"""


def keys_in_order(text: str) -> list[str]:
    """Every `key:` in a YAML text, in order, with its indentation."""
    out = []
    for line in text.splitlines():
        s = line.strip().lstrip("- ")
        if s and not s.startswith("#") and ":" in s:
            out.append(" " * (len(line) - len(line.lstrip())) + s.split(":")[0])
    return out


@pytest.mark.parametrize("text", [VALID_ONPREM, VALID_ONLINE, HAND_EDITED])
def test_load_save_load_equal(write_profile, tmp_path: Path, text: str) -> None:
    """Load, save, load gives an equal model."""
    first = load_profile(write_profile(text))
    out = save_profile(first, tmp_path / "copy.yaml")
    second = load_profile(out)
    assert second == first
    assert second.model_dump() == first.model_dump()


def test_hand_edited_order_kept(write_profile) -> None:
    """A hand-edited profile keeps the user's key order (and own comments) when saved again; the keys
    the version 1 -> 2 migration states (transport, impersonation) follow the user's own."""
    path = write_profile(HAND_EDITED)
    profile = load_profile(path)
    profile.performance.max_threads = 6
    save_profile(profile)
    text = path.read_text()
    migrated = ["  transport", "  impersonation"]
    assert [k for k in keys_in_order(text) if k not in migrated] == keys_in_order(HAND_EDITED)
    conn = yaml.safe_load(text)["connection"]
    assert (conn["transport"], conn["impersonation"]) == ("ews", False)
    assert "# Matt's old laptop, ticket 4711" in text
    assert load_profile(path).performance.max_threads == 6


def test_new_keys_in_schema_order(write_profile) -> None:
    """Keys a program adds go after the user's own, in DESIGN order."""
    path = write_profile(HAND_EDITED)
    profile = load_profile(path)
    profile.report.directory = "out"
    profile.destination.store = "archive"
    save_profile(profile)
    top = [k for k in keys_in_order(path.read_text()) if not k.startswith(" ")]
    assert top == [
        "mailbox",
        "name",
        "version",
        "sources",
        "connection",
        "performance",
        "filters",
        "destination",
        "report",
    ]


def test_defaults_not_written(tmp_path: Path) -> None:
    """A new profile saves only what was set (no performance, filters, report... sections), and always
    states its route: transport and impersonation."""
    (tmp_path / "a.pst").write_bytes(b"x")
    profile = Profile.new(
        name="demo",
        mailbox="demo@sandbox.test",
        sources=["a.pst"],
        target="on-premises",
        ews_url="http://127.0.0.1:8080/EWS/Exchange.asmx",
        username="demo@sandbox.test",
    )
    path = save_profile(profile, tmp_path / "demo.yaml")
    doc = yaml.safe_load(path.read_text())
    assert doc == {
        "version": 2,
        "name": "demo",
        "connection": {
            "target": "on-premises",
            "transport": "ews",
            "impersonation": False,  # the mailbox's owner signs in
            "discovery": "direct",
            "ews_url": "http://127.0.0.1:8080/EWS/Exchange.asmx",
            "auth": {"method": "password", "username": "demo@sandbox.test"},
        },
        "mailbox": "demo@sandbox.test",
        "sources": [{"path": "a.pst"}],
    }
    assert load_profile(path) == profile


def test_touched_default_kept_and_changed_nested_written(write_profile) -> None:
    """A value the user wrote stays even if it equals the default; a changed nested default is written."""
    path = write_profile(VALID_ONPREM)  # has performance.max_threads: 4, the default
    profile = load_profile(path)
    profile.filters.item_types.remove("journal")  # changed in place, never assigned
    save_profile(profile)
    doc = yaml.safe_load(path.read_text())
    assert doc["performance"] == {"max_threads": 4}
    assert doc["filters"] == {"item_types": ["mail", "calendar", "contacts", "tasks", "notes"]}


def test_header(write_profile) -> None:
    """The saved file starts with the writer's header, once, even after several saves."""
    path = write_profile(VALID_ONPREM)
    for _ in range(2):
        save_profile(load_profile(path))
    lines = path.read_text().splitlines()
    assert lines[0] == f"# written by pstimport {__version__} (profile version 2)"
    assert sum(line.startswith("# written by pstimport") for line in lines) == 1


def test_dates_round_trip_as_dates(write_profile) -> None:
    """Dates are written as YAML dates, not quoted text, and come back as dates."""
    path = write_profile(VALID_ONPREM + "filters:\n  after: 2016-01-01\n")
    profile = load_profile(path)
    assert "after: 2016-01-01\n" in dumps_profile(profile)
    assert load_profile(save_profile(profile)).filters.after == dt.date(2016, 1, 1)


def test_atomic_save_leaves_no_temp_and_keeps_mode(write_profile, tmp_path: Path) -> None:
    """Saving replaces the file in one step: no temporary file is left and its permissions stay."""
    path = write_profile(VALID_ONPREM)
    os.chmod(path, 0o640)
    before = set(tmp_path.iterdir())
    save_profile(load_profile(path))
    assert set(tmp_path.iterdir()) == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_failed_save_keeps_old_file(write_profile, tmp_path: Path, monkeypatch) -> None:
    """If writing fails midway, the old profile is intact and the temp file is gone."""
    path = write_profile(VALID_ONPREM)
    old = path.read_text()
    profile = load_profile(path)
    profile.name = "renamed"

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        save_profile(profile)
    assert path.read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.yaml", "sample.pst"]


def test_save_refuses_invalid(tmp_path: Path) -> None:
    """An invalid profile is not written."""
    profile = Profile.new(name="x", mailbox="x@example.com", sources=["a.pst"], target="on-premises", username="u")
    profile.connection.discovery = "direct"  # no ews_url
    with pytest.raises(ProfileError, match=r"connection\.ews_url: required when discovery is direct"):
        save_profile(profile, tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()


def test_relative_paths_from_profile_folder(write_profile, tmp_path: Path, monkeypatch) -> None:
    """Relative source paths resolve against the profile's folder, not the working directory."""
    path = write_profile(VALID_ONPREM)
    monkeypatch.chdir("/")
    profile = load_profile(path)
    assert profile.source_paths() == [tmp_path / "sample.pst"]
    assert profile.report_dir() == tmp_path / "reports"


def test_profile_new_defaults() -> None:
    """Profile.new picks sensible defaults per target and validates its values."""
    online = Profile.new(
        name="n",
        mailbox="a@b.example",
        sources=["x.pst"],
        auth_method="oauth-app",
        tenant_id="contoso.onmicrosoft.com",
        client_id="6731de76-14a6-49ae-97bc-6eba6914391e",
    )
    assert online.connection.impersonation is True  # app-only over EWS must impersonate
    assert Profile.new(name="n", mailbox="a@b.example", sources=["x.pst"]).connection.auth.method == "oauth-device"
    onprem = Profile.new(
        name="n", mailbox="a@b.example", sources=["x.pst"], target="on-premises", performance={"max_threads": 8}
    )
    assert onprem.connection.auth.method == "password" and onprem.performance.max_threads == 8
    with pytest.raises(TypeError):
        Profile.new(name="n", mailbox="a@b.example", sources=["x.pst"], bogus={})


def test_fields_set_in_code_are_written(tmp_path: Path) -> None:
    """A key set in code is written even at its default (the caller decides what the user touched)."""
    (tmp_path / "a.pst").write_bytes(b"x")
    profile = Profile.new(name="n", mailbox="u@example.com", sources=["a.pst"], target="on-premises", username="u")
    profile.performance.max_threads = 4  # the default, but chosen
    profile.sources[0].include = []
    doc = yaml.safe_load(save_profile(profile, tmp_path / "n.yaml").read_text())
    assert doc["performance"] == {"max_threads": 4}
    assert doc["sources"] == [{"path": "a.pst", "include": []}]
    assert "destination" not in doc and "filters" not in doc


COMMENTED = """\
# ticket 4711: Matt's laptop

version: 1
name: matt's-run  # apostrophes are not quotes
connection:
  target: on-premises  # the old 2013 box
  discovery: direct
  ews_url: "https://mail.example.com/EWS/Exchange.asmx#x"  # a '#' inside quotes is not a comment
  # service account with impersonation
  auth:
    method: password
    username: svc@example.com

mailbox: matt@example.com

# --- what to import ---
sources:
  # the big one
  - path: sample.pst
    include: ["Inbox/**"]  # only mail
  # the small one, to drop
  - path: other.pst
# end of file
"""


def test_comments_survive_a_save(write_profile, tmp_path: Path) -> None:
    """Comments written above or after a key come back beside the same key; saving twice changes nothing."""
    (tmp_path / "other.pst").write_bytes(b"x")
    path = write_profile(COMMENTED)
    profile = load_profile(path)
    del profile.sources[1]
    profile.performance.max_threads = 6
    save_profile(profile)
    text = path.read_text()
    lines = text.splitlines()
    assert lines[1] == "# ticket 4711: Matt's laptop"
    assert "name: matt's-run  # apostrophes are not quotes" in lines
    assert "  target: on-premises  # the old 2013 box" in lines
    assert "  ews_url: https://mail.example.com/EWS/Exchange.asmx#x  # a '#' inside quotes is not a comment" in lines
    assert lines[lines.index("  auth:") - 1] == "  # service account with impersonation"
    assert lines[lines.index("sources:") - 1] == "# --- what to import ---"
    assert lines[lines.index("  - path: sample.pst") - 1] == "  # the big one"
    assert "    include:  # only mail" in lines
    assert "the small one" not in text  # its source is gone, so is its comment
    assert lines[-1] == "# end of file"
    again = load_profile(path)
    assert again == profile and again.connection.ews_url.endswith("#x")
    save_profile(again)
    assert path.read_text() == text
