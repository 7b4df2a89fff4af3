"""Connecting shows progress: a server that accepts the connection and never answers is not silence."""

from __future__ import annotations

import re
import socket

import pytest

from tests.tui.test_run import SIZE
from tui.app import make_app
from tui.screens.credentials import CredentialsScreen
from tui.state import WizardState

pytestmark = pytest.mark.anyio


@pytest.fixture
def silent_server():
    """A TCP port on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}/EWS/Exchange.asmx"
    finally:
        s.close()


async def test_test_connection_shows_seconds_waited_and_esc_stops_waiting(workdir, silent_server):
    """Test connection against a server that never answers shows where it is connecting and the seconds
    waited, ticking; Esc stops waiting with a clear line and leaves the user on the step."""
    state = WizardState(
        target="on-premises",
        discovery="direct",
        ews_url=silent_server,
        mailbox="matt@example.test",
        auth_method="password",
        username="svc",
        password="pw",
        cache_password=False,
    )
    app = make_app(state, start="wizard", step=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        note = app.screen.query_one("#preflight")
        seen = []
        for _ in range(30):
            await pilot.pause(0.1)
            seen.append(str(note.render()))
        host = silent_server.split("/")[2]
        assert all(f"Connecting to {host}" in t or "Connecting" in t for t in seen[5:]), seen[-1]
        seconds = {int(m.group(1)) for t in seen if (m := re.search(r"… (\d+) s", t))}
        assert {1, 2} <= seconds, seen  # it ticks
        assert "Esc stops waiting" in seen[-1]
        await pilot.press("escape")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CredentialsScreen)
        text = str(note.render())
        assert text.startswith("Connection failed: stopped waiting after"), text
