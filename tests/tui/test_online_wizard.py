"""The wizard for the Exchange Online of 2027: Graph by default, EWS with its allow-list notice, the
impersonation rule, the route table, and an archive taken to a ready Import Service run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from core.sandbox.pstwriter.content import generate
from tests.tui.conftest import choose
from tests.tui.test_wizard import add_pst, message
from tui.app import make_app
from tui.screens.connection import ConnectionScreen
from tui.screens.credentials import CredentialsScreen
from tui.screens.destination import DestinationScreen
from tui.screens.options import OptionsScreen
from tui.screens.review import ReviewScreen
from tui.screens.sources import SourcesScreen
from tui.state import WizardState

SIZE = (80, 24)
APP = "6731de76-14a6-49ae-97bc-6eba6914391e"
pytestmark = pytest.mark.anyio


async def test_new_online_profile_uses_graph(workdir, tmp_path):
    """A new Exchange Online profile walked through the wizard is saved with transport: graph; choosing
    on-premises switches to EWS and back; step 1 shows the route table."""
    pst = tmp_path / "Sam.pst"
    generate(str(pst), seed=4, mode="scale", items=3, mix="small")
    app = make_app(start="wizard")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ConnectionScreen)
        assert screen.query_one("#transport").value == "graph"
        routes = str(screen.query_one("#routes").render())
        assert "Online archive" in routes and "Import Service" in routes and "from 2027-04-01" in routes
        await choose(pilot, 1)  # on-premises
        assert screen.query_one("#transport").value == "ews"
        await choose(pilot, 0)  # Exchange Online again
        assert screen.query_one("#transport").value == "graph"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press(*"sam@contoso.example", "tab", "tab", *"sam@contoso.example", "tab", "tab", *APP)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, DestinationScreen), message(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await add_pst(pilot, pst)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Saved" in message(app)
    [saved] = (workdir / "profiles").glob("*.yaml")
    data = yaml.safe_load(saved.read_text(encoding="utf-8"))
    assert data["version"] == 2 and data["connection"]["transport"] == "graph"


async def test_ews_for_online_shows_the_allow_list_line(workdir):
    """Choosing EWS for Exchange Online shows one line: the allow list, the app id to allow, 2027-04-01."""
    app = make_app(WizardState(client_id=APP), start="wizard")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab", "enter", "end", "enter")  # EWS
        await pilot.pause()
        help_ = str(app.screen.query_one("#connection-help").render())
        for part in ("EWSAllowedAppIDs", APP, "2027-04-01"):
            assert part in help_.replace("\n", " ")


async def test_impersonation_follows_the_rule_until_touched(workdir):
    """On-premises with a password: a service account gets impersonation, the mailbox's owner does not;
    once the user ticks or unticks it, their choice stays."""
    state = WizardState(target="on-premises", auth_method="password", discovery="direct",
                        ews_url="https://mail.example.test/EWS/Exchange.asmx")  # fmt: skip
    app = make_app(state, start="wizard", step=1)
    async with app.run_test(size=SIZE) as pilot:
        tick = app.screen.query_one("#impersonation")
        await pilot.press(*"matt@example.test", "tab", "tab", *"EXAMPLE\\svc-import")
        await pilot.pause()
        assert tick.value is True  # a service account
        await pilot.press("ctrl+a", "ctrl+k", *"matt@example.test")
        await pilot.pause()
        assert tick.value is False  # the mailbox's owner
        tick.value = True  # the user's own choice
        await pilot.pause()
        await pilot.press("end", *"x")
        await pilot.pause()
        assert tick.value is True and app.state.impersonation_auto is False


async def test_archive_in_exchange_online_to_a_ready_import_service_run(workdir, tmp_path):
    """Archive in Exchange Online (on Graph, the default): the destination step refuses to go on over Graph
    and offers the Import Service (Ctrl+P); the wizard then takes the PSTs as usual and its last step
    writes the run for those PSTs: mapping CSV with IsArchive TRUE, the script, the upload command."""
    psts = [tmp_path / "Lee 2012.pst", tmp_path / "lee-old.pst"]
    for seed, pst in enumerate(psts, 1):
        generate(str(pst), seed=seed, mode="scale", items=3, mix="small")
    app = make_app(WizardState(), start="wizard")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")  # Exchange Online, Graph
        await pilot.pause()
        await pilot.press(*"lee@contoso.example", "tab")
        await choose(pilot, 1)  # oauth-app
        await pilot.press("tab", *"app-secret-value", "tab", *"contoso.onmicrosoft.com", "tab", *APP)
        await pilot.press("tab", "tab", "enter", "end", "enter")  # Ask on each run
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, DestinationScreen), message(app)
        await choose(pilot, 1)  # Online archive
        await pilot.press("tab")
        await choose(pilot, 1)  # merged into the top of the store
        route = app.screen.query_one("#route")
        assert route.display and "cannot reach an online archive" in str(route.render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, DestinationScreen)
        assert "Import Service" in message(app)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"https://nope", "enter")  # a URL is not a host: said, and the dialog stays
        await pilot.pause()
        assert "blob host" in str(app.screen.query_one("#host-problem").render())
        await pilot.press("ctrl+a", "ctrl+k", *"contosopst.blob.core.windows.net", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DestinationScreen)
        assert app.state.route == "importservice" and app.state.storage_host == "contosopst.blob.core.windows.net"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, SourcesScreen)
        for pst in psts:
            await add_pst(pilot, pst)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, OptionsScreen)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert "Import Service" in str(app.screen.query_one("#next").label)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)  # no import starts
        text = message(app)
        assert "pstimport importservice upload" in text and "IsArchive TRUE" in text
        plan = app.import_service_plan  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(plan.mapping.read_text(encoding="utf-8"))))
    assert sorted(r["Name"] for r in rows) == sorted(p.name for p in psts)
    assert {(r["Mailbox"], r["IsArchive"], r["TargetRootFolder"]) for r in rows} == {
        ("lee@contoso.example", "TRUE", "/")
    }
    assert plan.script.is_file() and "New-MigrationBatch" in plan.script.read_text(encoding="utf-8-sig")
    for pst in psts:
        assert str(pst) in plan.upload_command or Path(pst).name in plan.upload_command
    assert (workdir / "profiles" / "lee-import.yaml").is_file()  # the profile, saved beside the run
    assert plan.directory == (workdir / "profiles" / "lee-import-importservice").absolute()
