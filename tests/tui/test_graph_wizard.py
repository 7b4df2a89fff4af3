"""The wizard over Microsoft Graph: device-code sign-in against the sandbox's Graph front end."""

from __future__ import annotations

import re

import pytest

from tests.tui.test_run import APP_ID, SIZE
from tui.app import make_app
from tui.state import WizardState

pytestmark = pytest.mark.anyio


async def test_graph_device_code_sign_in_from_the_wizard(workdir, tmp_path, monkeypatch):
    """transport: graph with the device code: Test connection shows the code, waits for the sign-in, then
    connects to the mailbox over Graph (through core; the wizard never touches the HTTP layer)."""
    from core.sandbox.server.app import Sandbox

    sb = Sandbox(tmp_path / "store", users={"matt@sandbox.test": "Matt-pw-1"}, tls=True).start()
    monkeypatch.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
    monkeypatch.setenv("PSTIMPORT_GRAPH_URL", sb.graph_url)
    monkeypatch.setenv("PSTIMPORT_KEYRING", "none")
    try:
        state = WizardState(
            target="exchange-online", transport="graph", ca_bundle=str(sb.ca_cert), auth_method="oauth-device"
        )
        app = make_app(state, start="wizard", step=1)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(*"matt@sandbox.test", "tab", "tab", *"matt@sandbox.test")
            await pilot.press("tab", "tab", *APP_ID)
            await pilot.press("ctrl+t")
            note = app.screen.query_one("#preflight")
            code = None
            for _ in range(100):
                await pilot.pause(0.1)
                found = re.search(r"enter the code (\w+)", str(note.render()))
                if found:
                    code = found.group(1)
                    break
            assert code, str(note.render())
            assert "Waiting for the sign-in" in str(note.render())
            assert sb.approve_device(code, "matt@sandbox.test")  # what the user does in the browser
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = str(note.render())
            assert text.startswith("Connected."), text
            assert "Graph" in text and "matt@sandbox.test" in text
        assert any(e.protocol == "graph" and e.mailbox == "matt@sandbox.test" for e in sb.exchanges)
    finally:
        sb.stop()


async def test_graph_hides_what_it_does_not_use_and_impersonation_is_asked_once(workdir):
    """Choosing Graph hides the discovery and EWS URL rows (step 1) and Impersonation (step 2); Impersonation
    is on the credentials step only, and the saved profile carries no EWS URL for Graph."""
    from tui.screens.connection import ConnectionScreen
    from tui.screens.credentials import CredentialsScreen

    state = WizardState(
        target="exchange-online", transport="ews", discovery="direct", ews_url="https://x.example/EWS/Exchange.asmx"
    )
    app = make_app(state, start="wizard")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ConnectionScreen)
        assert not screen.query("#impersonation")  # asked on step 2 only
        assert screen.query_one("#ews-url-row").display and screen.query_one("#discovery-row").display
        await pilot.press("tab", "enter", "home", "enter")  # transport: Microsoft Graph (the first choice)
        await pilot.pause()
        assert app.screen.query_one("#transport").value == "graph"
        assert not screen.query_one("#ews-url-row").display and not screen.query_one("#discovery-row").display
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        assert not app.screen.query_one("#impersonation-row").display
        data = app.state.profile_data()
        assert data["connection"]["ews_url"] is None and data["connection"]["discovery"] == "autodiscover"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("tab", "enter", "end", "enter", "ctrl+n")  # back to EWS
        await pilot.pause()
        assert app.screen.query_one("#impersonation-row").display
