"""The 2027 defaults: Graph for a new Exchange Online profile, the impersonation rule, the EWS notices."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core import online
from core.cli import run
from core.profile import Profile, load_profile

MINIMAL_ONLINE = """\
version: 2
name: jane
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


@pytest.mark.parametrize(
    ("method", "username", "mailbox", "expected"),
    [
        ("oauth-app", None, "jane@contoso.com", True),  # app-only: always
        ("oauth-app", "jane@contoso.com", "jane@contoso.com", True),
        ("password", "svc@contoso.com", "jane@contoso.com", True),  # a service account
        ("password", "CONTOSO\\svc", "jane@contoso.com", True),
        ("password", "Jane@Contoso.com", "jane@contoso.com", False),  # the owner, any case
        ("password", "CONTOSO\\jane", "jane@contoso.com", False),
        ("oauth-device", "jane@contoso.com", "jane@contoso.com", False),
        ("oauth-device", None, "jane@contoso.com", False),  # unknown account: not assumed
    ],
)
def test_impersonation_rule(method: str, username: str | None, mailbox: str, expected: bool) -> None:
    """On for app-only and for another account, off for the mailbox's owner or an unknown account."""
    assert online.impersonation_default(method, username, mailbox) is expected


def test_profile_validate_and_show_default_to_graph(write_profile, capsys) -> None:
    """A new Exchange Online profile that names no transport validates and runs over Graph, with
    impersonation on for the service account that signs in."""
    path = write_profile(MINIMAL_ONLINE)
    assert run(["profile", "validate", str(path)]) == 0
    capsys.readouterr()
    assert run(["profile", "show", "--json", str(path)]) == 0
    conn = json.loads(capsys.readouterr().out)["profile"]["connection"]
    assert (conn["transport"], conn["impersonation"]) == ("graph", True)


def test_profile_new_defaults() -> None:
    """Profile.new (the wizard's and the demo's builder) applies the same defaults; ews_url implies EWS."""
    eo = Profile.new(name="n", mailbox="a@b.example", sources=["x.pst"], client_id="c")
    assert (eo.connection.transport, eo.connection.impersonation) == ("graph", False)
    svc = Profile.new(name="n", mailbox="a@b.example", sources=["x.pst"], username="svc@b.example")
    assert svc.connection.impersonation is True
    direct = Profile.new(name="n", mailbox="a@b.example", sources=["x.pst"], ews_url="https://h/EWS/Exchange.asmx")
    assert direct.connection.transport == "ews"
    onprem = Profile.new(name="n", mailbox="a@b.example", sources=["x.pst"], target="on-premises", username="a")
    assert (onprem.connection.transport, onprem.connection.impersonation) == ("ews", False)


def test_ews_online_notice_names_app_and_date(write_profile) -> None:
    """Choosing EWS for Exchange Online warns once: the allow list, the app id to allow, 2027-04-01."""
    path = write_profile(MINIMAL_ONLINE.replace("  auth:", "  transport: ews\n  auth:"))
    [warning] = load_profile(path).warnings
    assert warning.path == ("connection", "transport")
    for part in ("EWSAllowedAppIDs", "6731de76-14a6-49ae-97bc-6eba6914391e", "2027-04-01"):
        assert part in warning.message
    assert "\n" not in str(warning)


def test_archive_over_graph_warns_with_the_routes(write_profile) -> None:
    """An Exchange Online archive profile over Graph is told the routes that work, naming the plan command."""
    path = write_profile(MINIMAL_ONLINE + "destination:\n  store: archive\n")
    [warning] = load_profile(path).warnings
    assert warning.path == ("destination", "store")
    assert "transport: ews" in warning.message and "pstimport importservice plan" in warning.message
    assert str(path) in warning.message


def test_after_retirement(write_profile, monkeypatch) -> None:
    """From 2027-04-01 the advice drops EWS: Graph for a mailbox, the Import Service for an archive."""
    monkeypatch.setattr(online, "today", lambda: dt.date(2027, 4, 1))
    ews = MINIMAL_ONLINE.replace("  auth:", "  transport: ews\n  auth:")
    [mailbox] = load_profile(write_profile(ews)).warnings
    assert "turned EWS off" in mailbox.message and "use transport: graph" in mailbox.message
    [archive] = load_profile(write_profile(ews + "destination:\n  store: archive\n", "a.yaml")).warnings
    assert "Import Service" in archive.message and "transport: ews" not in archive.message
    assert online.route_for("exchange-online", "archive").startswith("the PST Import Service")
