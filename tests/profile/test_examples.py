"""Every example profile in profiles/ is valid, and covers the five setups the issue names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.profile import load_profile, read_profile
from core.profile.checks import find_secrets

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
EXAMPLES = sorted(PROFILES.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_valid(path: Path) -> None:
    """The example is valid apart from its files, and with files checked only missing files are reported;
    the only warning is the allow-list notice of EWS into Exchange Online."""
    profile = load_profile(path, check_files=False)
    ews_online = profile.connection.transport == "ews" and profile.connection.target == "exchange-online"
    assert [w.path for w in profile.warnings] == ([("connection", "transport")] if ews_online else [])
    assert all("EWSAllowedAppIDs" in w.message and "2027-04-01" in w.message for w in profile.warnings)
    _, problems = read_profile(path)
    errors = [p for p in problems if p.severity == "error"]
    assert all(p.kind == "missing-file" for p in errors), [str(p) for p in errors]
    assert not list(find_secrets(yaml.safe_load(path.read_text())))


def test_the_five_setups() -> None:
    """The examples cover: on-prem Autodiscover, on-prem direct, EXO app-only + impersonation, EXO Graph
    device code, archive with store root."""
    seen = set()
    for path in EXAMPLES:
        p = load_profile(path, check_files=False)
        c = p.connection
        if c.target == "on-premises":
            seen.add(f"on-premises-{c.discovery}")
        elif c.transport == "graph" and c.auth.method == "oauth-device":
            seen.add("online-graph-device")
        elif c.auth.method == "oauth-app" and c.impersonation and p.destination.store == "mailbox":
            seen.add("online-app-impersonation")
        if p.destination.store == "archive" and p.destination.root == "store-root":
            seen.add("archive-store-root")
    assert seen == {
        "on-premises-autodiscover",
        "on-premises-direct",
        "online-graph-device",
        "online-app-impersonation",
        "archive-store-root",
    }
