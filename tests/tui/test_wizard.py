"""The wizard's steps, driven with the keyboard only through Textual's Pilot, on real corpus PSTs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.profile.io import load_profile
from tests.tui.conftest import BROKEN_PST, SMALL_PST, choose, clear_and_type
from tui.app import make_app
from tui.screens.connection import ConnectionScreen
from tui.screens.credentials import CredentialsScreen
from tui.screens.destination import DestinationScreen
from tui.screens.options import OptionsScreen
from tui.screens.review import ReviewScreen
from tui.screens.sources import SourcesScreen
from tui.state import WizardState
from tui.widgets.pst_tree import PstTree

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


def message(app) -> str:
    return str(app.screen.query_one("#message").render())


async def add_pst(pilot, path: Path | str) -> None:
    """On the PST step: type a path into the path field and press Enter; wait for the scan."""
    await pilot.press("ctrl+o")
    await clear_and_type(pilot, str(path))
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def cursor_to(pilot, tree: PstTree, path: tuple[str, ...]) -> None:
    """Move the tree's cursor down to the folder at `path` with the arrow key."""
    for _ in range(200):
        node = tree.cursor_node
        if node is not None and node.data is not None and node.data.path == path:
            return
        await pilot.press("down")
    raise AssertionError(f"folder {path} not reachable with the arrow keys")


# ----- validation keeps the user on the step -----------------------------------------------------------


async def test_bad_url_keeps_user_on_connection_step(workdir):
    """A direct EWS URL that is not an http(s) URL stops Next with a message naming ews_url."""
    app = make_app(start="wizard")
    async with app.run_test(size=SIZE) as pilot:
        await choose(pilot, 1)  # on-premises
        await pilot.press("tab", "tab")
        await choose(pilot, 1)  # direct URL
        await pilot.press("tab", *"mail.example.com/EWS")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionScreen)
        assert "ews_url" in message(app) and "not an http(s) URL" in message(app)
        await pilot.press("home", *"https://")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        assert app.state.ews_url == "https://mail.example.com/EWS"


async def test_empty_mailbox_keeps_user_on_credentials_step(workdir):
    """Next with no mailbox address stays on Credentials and says what to type."""
    app = make_app(WizardState(target="on-premises", auth_method="password"), start="wizard", step=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        assert "mailbox: enter the address of the mailbox" in message(app)
        await pilot.press(*"not-an-address")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        assert "does not look like an email address" in message(app)


async def test_no_pst_selected_keeps_user_on_pst_step(workdir, corpus_dir):
    """Next with no PST, and then with every folder unticked, stays on the PST step."""
    app = make_app(start="wizard", step=3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, SourcesScreen)
        assert "No PST chosen" in message(app)
        await add_pst(pilot, corpus_dir / SMALL_PST)
        await pilot.press("down", "minus")  # to the tree; untick everything
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, SourcesScreen)
        assert "No folder ticked" in message(app)
        await pilot.press("plus")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, OptionsScreen)


async def test_unreadable_pst_is_refused_with_its_reason(workdir, corpus_dir):
    """A truncated PST is not added; the message names it and why, and Next stays on the step."""
    app = make_app(start="wizard", step=3)
    async with app.run_test(size=SIZE) as pilot:
        await add_pst(pilot, corpus_dir / BROKEN_PST)
        text = message(app)
        assert BROKEN_PST in text and "truncated" in text
        assert app.screen.query_one(PstTree).choices == []
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, SourcesScreen)
        assert "No PST chosen" in message(app)


async def test_scan_folder_adds_readable_psts_and_lists_broken_ones(workdir, corpus_dir, manifest):
    """Scanning the corpus folder adds every readable PST/OST and reports the unreadable ones."""
    app = make_app(start="wizard", step=3)
    async with app.run_test(size=SIZE) as pilot:
        await add_pst(pilot, corpus_dir)
        tree = app.screen.query_one(PstTree)
        names = {Path(c.path).name for c in tree.choices}
        assert SMALL_PST in names and "aspose-net_SampleOstFile.ost" in names
        assert BROKEN_PST not in names
        assert "Not added (unreadable)" in message(app)
        totals = str(app.screen.query_one("#totals").render())
        assert f"{len(names)} of {len(names)} PST(s)" in totals


async def test_second_path_typed_after_enter_is_added_not_taken_as_tree_keys(workdir, corpus_dir):
    """After Enter adds a PST the path field keeps the focus, so the next path typed (full of a's and n's) is
    added too; letters typed in the tree go to the path field; no tick changes on the way ("Selected: 2 of 2")."""
    app = make_app(start="wizard", step=3)
    async with app.run_test(size=SIZE) as pilot:
        await add_pst(pilot, corpus_dir / SMALL_PST)
        path_field = app.screen.query_one("#path")
        assert app.screen.focused is path_field
        await pilot.press(*str(corpus_dir / "pstsdk_test_ansi.pst"), "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        tree = app.screen.query_one(PstTree)
        assert [Path(c.path).name for c in tree.choices] == [SMALL_PST, "pstsdk_test_ansi.pst"]
        assert all(c.state(()) == "on" for c in tree.choices)
        await pilot.press("down")  # into the tree
        assert app.screen.focused is tree
        await pilot.press(*"an")  # typed as if into the path field
        await pilot.pause()
        assert app.screen.focused is path_field and path_field.value == "an"
        assert all(c.state(()) == "on" for c in tree.choices)
        assert "Selected: 2 of 2 PST(s)" in str(app.screen.query_one("#totals").render())


async def test_tree_ticks_follow_parent_and_make_exclude_globs(workdir, corpus_pst):
    """Unticking Contacts unticks its subtree; totals drop by its items; the profile excludes Contacts/**."""
    app = make_app(start="wizard", step=3)
    async with app.run_test(size=SIZE) as pilot:
        await add_pst(pilot, corpus_pst)
        tree = app.screen.query_one(PstTree)
        choice = tree.choices[0]
        before = choice.selected_items
        await cursor_to(pilot, tree, ("Contacts",))
        await pilot.press("space")
        assert choice.state(("Contacts",)) == "off"
        assert choice.state(("Contacts", "Recipient Cache")) == "off"
        assert choice.state(()) == "partial"
        assert choice.selected_items == before - 2  # Contacts 1 + Recipient Cache 1
        assert f"{before - 2} items" in str(app.screen.query_one("#totals").render())
        # tick one child back: the parent becomes partial and only its own path is excluded
        await pilot.press("enter")  # open Contacts
        await pilot.press("down", "space")
        assert choice.state(("Contacts",)) == "partial"
        include, exclude = choice.globs()
        assert include == []
        assert "Contacts" in exclude and "Contacts/**" not in exclude
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, OptionsScreen)
        profile = app.state.to_profile()
        src = profile.sources[0]
        # the globs select exactly the ticked folders
        for f in choice.folders:
            if f.path:
                assert src.selects(f.path) == (f.path in choice.checked), f.path


async def test_destination_example_follows_the_choice(workdir):
    """The example under the choice shows where the PST's Inbox lands, and updates as the choice changes."""
    state = WizardState()
    app = make_app(state, start="wizard", step=2)
    async with app.run_test(size=SIZE) as pilot:
        example = app.screen.query_one("#example")
        assert "Mailbox / Matt Backup / Inbox" in str(example.render())
        await pilot.press("tab")
        await choose(pilot, 2)  # under a folder I name
        await pilot.press("tab", *"Imported/2016")
        await pilot.pause()
        assert "Mailbox / Imported / 2016 / Inbox" in str(example.render())
        await pilot.press("shift+tab", "shift+tab")
        await choose(pilot, 1)  # archive
        assert "Archive / Imported / 2016 / Inbox" in str(example.render())


# ----- whole walks through the wizard ------------------------------------------------------------------


async def test_password_on_premises_walk_saves_the_profile(workdir, corpus_pst):
    """Every step filled with the keyboard (on-premises, password) saves a valid YAML profile without the password."""
    app = make_app(start="wizard")
    async with app.run_test(size=SIZE) as pilot:
        # 1 connection
        await choose(pilot, 1)
        await pilot.press("tab", "tab")
        await choose(pilot, 1)
        await pilot.press("tab", *"https://mail.example.test/EWS/Exchange.asmx")
        await pilot.press("ctrl+n")
        await pilot.pause()
        # 2 credentials
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press(*"matt@example.test")
        await pilot.press("tab", "tab", *"EXAMPLE\\svc-import", "tab", *"S3cret-pw!", "tab")
        await pilot.press("enter", "end", "enter")  # Keep the secret: Ask on each run (the last choice)
        await pilot.press("ctrl+n")
        await pilot.pause()
        # 3 destination
        assert isinstance(app.screen, DestinationScreen), message(app)
        await pilot.press("tab")
        await choose(pilot, 2)
        await pilot.press("tab", *"Imported/2016", "ctrl+n")
        await pilot.pause()
        # 4 PSTs
        assert isinstance(app.screen, SourcesScreen)
        await add_pst(pilot, corpus_pst)
        tree = app.screen.query_one(PstTree)
        await cursor_to(pilot, tree, ("Contacts",))
        await pilot.press("space", "ctrl+n")
        await pilot.pause()
        # 5 options
        assert isinstance(app.screen, OptionsScreen)
        await clear_and_type(pilot, "6")
        await pilot.press("ctrl+n")
        await pilot.pause()
        # 6 review
        assert isinstance(app.screen, ReviewScreen)
        await clear_and_type(pilot, "matt-onprem")
        await pilot.pause()
        assert "name: matt-onprem" in app.screen.yaml_text
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert "Saved" in message(app)
    path = workdir / "profiles" / "matt-onprem.yaml"
    text = path.read_text(encoding="utf-8")
    assert "S3cret" not in text
    data = yaml.safe_load(text)
    assert data["connection"]["target"] == "on-premises"
    assert data["connection"]["discovery"] == "direct"
    assert data["connection"]["ews_url"] == "https://mail.example.test/EWS/Exchange.asmx"
    assert data["connection"]["auth"]["method"] == "password"
    assert data["connection"]["auth"]["username"] == "EXAMPLE\\svc-import"
    assert data["connection"]["auth"]["cache_password"] is False
    assert data["mailbox"] == "matt@example.test"
    assert data["destination"] == {"store": "mailbox", "root": "folder", "folder": "Imported/2016"}
    assert data["sources"] == [{"path": str(corpus_pst), "include": [], "exclude": ["Contacts/**"]}]
    assert data["performance"]["max_threads"] == 6
    profile = load_profile(path)  # core's own loader accepts what the wizard wrote
    assert profile.name == "matt-onprem"


async def test_oauth_app_walk_requires_impersonation_and_saves(workdir, corpus_dir):
    """Exchange Online over EWS with an app-only OAuth sign-in: impersonation is on by itself (core.online's
    rule), EWS's allow-list notice names the app id, unticking it is refused, then the profile is saved."""
    app = make_app(start="wizard")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab", "enter", "end", "enter")  # Exchange Online, EWS (Graph is the default)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press(*"shared@contoso.example")
        await pilot.press("tab")
        await choose(pilot, 1)  # oauth-app
        await pilot.press("tab", *"app-secret-value")
        await pilot.press("tab", *"contoso.onmicrosoft.com")
        await pilot.press("tab", *"6731de76-14a6-49ae-97bc-6eba6914391e")
        await pilot.press("tab", "tab", "enter", "end", "enter")  # past the certificate; Ask on each run
        await pilot.pause()
        assert app.screen.query_one("#impersonation").value is True
        notice = str(app.screen.query_one("#ews-notice").render())
        assert "EWSAllowedAppIDs" in notice and "6731de76-14a6-49ae-97bc-6eba6914391e" in notice
        await pilot.press("tab", "space")  # untick impersonation: app-only EWS refuses that
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        assert "impersonation" in message(app)
        await pilot.press("space")  # tick it again
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, DestinationScreen), message(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await add_pst(pilot, corpus_dir / SMALL_PST)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Saved" in message(app)
    saved = list((workdir / "profiles").glob("*.yaml"))
    assert [p.name for p in saved] == ["shared-import.yaml"]
    text = saved[0].read_text(encoding="utf-8")
    assert "app-secret-value" not in text
    data = yaml.safe_load(text)
    auth = data["connection"]["auth"]
    assert auth["method"] == "oauth-app"
    assert auth["tenant_id"] == "contoso.onmicrosoft.com"
    assert auth["client_id"] == "6731de76-14a6-49ae-97bc-6eba6914391e"
    assert data["connection"]["impersonation"] is True
    assert data["sources"][0]["include"] == [] and data["sources"][0]["exclude"] == []


async def test_back_keeps_answers(workdir):
    """Going Back and forth keeps what was typed on each step."""
    app = make_app(WizardState(target="on-premises", auth_method="password"), start="wizard", step=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"a@b.example")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionScreen)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen.query_one("#mailbox").value == "a@b.example"


async def test_welcome_opens_a_saved_profile_into_the_wizard(workdir, corpus_pst):
    """From the welcome screen, typing a saved profile's path reopens it with its answers and ticks."""
    state = WizardState(
        target="on-premises",
        discovery="direct",
        ews_url="https://mail.example.test/EWS/Exchange.asmx",
        mailbox="matt@example.test",
        auth_method="password",
        username="svc",
        cache_password=True,
        name="reopen",
    )
    from tui import services

    state.sources, _ = services.scan_paths([str(corpus_pst)])
    state.sources[0].set_checked(("Contacts",), False)
    from core.profile.io import save_profile

    (workdir / "profiles").mkdir()
    save_profile(state.to_profile(), workdir / "profiles" / "reopen.yaml")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"profiles/nope.yaml", "enter")
        await pilot.pause()
        assert "nope.yaml" in str(app.screen.query_one("#message").render())
        await pilot.press("home", "ctrl+k", *"profiles/reopen.yaml", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionScreen)
        assert app.state.ews_url == "https://mail.example.test/EWS/Exchange.asmx"
        assert app.state.sources[0].state(("Contacts",)) == "off"
        assert app.state.sources[0].state(("Inbox",)) == "on"
        for _ in range(3):
            await pilot.press("ctrl+n")
            await pilot.pause()
        assert isinstance(app.screen, SourcesScreen), message(app)


async def test_new_profile_from_welcome(workdir):
    """Ctrl+N on the welcome screen starts a blank wizard at step 1."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionScreen)


async def test_mouse_click_ticks_a_folder(workdir, corpus_pst):
    """Clicking a folder's label in the tree ticks or unticks it, as Space does."""
    app = make_app(start="wizard", step=3)
    async with app.run_test(size=SIZE) as pilot:
        await add_pst(pilot, corpus_pst)
        tree = app.screen.query_one(PstTree)
        choice = tree.choices[0]
        line = next(i for i in range(tree.last_line + 1) if tree.get_node_at_line(i).data.path == ("Deleted Items",))
        await pilot.click(PstTree, offset=(12, line - tree.scroll_offset.y + 1))
        await pilot.pause()
        assert choice.state(("Deleted Items",)) == "off"
        await pilot.click(PstTree, offset=(12, line - tree.scroll_offset.y + 1))
        await pilot.pause()
        assert choice.state(("Deleted Items",)) == "on"


HAND_WRITTEN = """\
# Matt's old laptop backup: ask Sue before re-running.
version: 1
name: hand
mailbox: matt@example.test   # the primary address, not the alias
connection:
  target: on-premises
  discovery: direct
  ews_url: https://mail.example.test/EWS/Exchange.asmx
  auth:
    method: password
    username: svc-import
    cache_password: false
sources:
  # the one from the USB disk
  - path: {pst}
performance:
  max_threads: 2   # the server is old
"""


async def test_saving_over_a_hand_written_profile_asks_and_keeps_its_comments_and_order(workdir, corpus_dir):
    """Save over an existing profile asks first: No leaves the file as it was; Replace rewrites only what
    changed (max_threads), keeping its comments and key order and adding no defaults it never had."""
    import shutil

    from tui.app import load_state

    pst = workdir / "laptop.pst"
    shutil.copy(corpus_dir / SMALL_PST, pst)
    (workdir / "profiles").mkdir()
    path = workdir / "profiles" / "hand.yaml"
    original = HAND_WRITTEN.format(pst=pst)
    path.write_text(original, encoding="utf-8")
    state = load_state(path)
    state.password = "typed-pw"
    app = make_app(state, start="wizard", step=4)
    async with app.run_test(size=SIZE) as pilot:
        await clear_and_type(pilot, "3")  # max threads
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmModal"
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and "Not saved" in message(app)
        assert path.read_text(encoding="utf-8") == original
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert "Saved" in message(app), message(app)
        await pilot.press("ctrl+s")  # the file this session wrote: no second question
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
    text = path.read_text(encoding="utf-8")
    for comment in (
        "# Matt's old laptop backup",
        "# the primary address",
        "# the one from the USB disk",
        "# the server is old",
    ):
        assert comment in text, text
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "#", "-"))]
    assert keys == ["version", "name", "mailbox", "connection", "sources", "performance"], text
    assert "max_threads: 3   # the server is old" in text or "max_threads: 3  # the server is old" in text
    assert "address_rewriting" not in text and "filters" not in text and "typed-pw" not in text
    assert load_profile(path).performance.max_threads == 3


async def test_validation_messages_are_in_our_words(workdir):
    """A number out of range on the Options step is named in plain words, not pydantic's."""
    app = make_app(WizardState(target="on-premises", auth_method="password"), start="wizard", step=4)
    async with app.run_test(size=SIZE) as pilot:
        await clear_and_type(pilot, "40")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, OptionsScreen)
        text = message(app)
        assert "performance.max_threads: must be at most 32, got 40" in text, text
        assert "Input should be" not in text


async def test_without_an_os_keyring_the_wizard_offers_the_encrypted_file_and_the_profile_says_so(
    workdir, corpus_dir, set_keyring, monkeypatch
):
    """On a box with no OS keyring (SSH), "Keep the secret" offers only the encrypted file or asking each run
    (asking is the default); choosing the file stores the password there and the profile says
    cache_password: true, keyring: encrypted-file, which a later headless run can use."""
    from keyring.backends import fail

    from core.profile.secrets import resolve_secret
    from tui import services

    set_keyring(fail.Keyring())
    monkeypatch.delenv("PSTIMPORT_KEYRING", raising=False)
    monkeypatch.delenv("PSTIMPORT_KEYRING_PASSWORD", raising=False)
    monkeypatch.setenv("PSTIMPORT_KEYRING_FILE", str(workdir / "kr.cfg"))
    choices, _ = services.scan_paths([str(corpus_dir / SMALL_PST)])
    state = WizardState(
        target="on-premises",
        discovery="direct",
        ews_url="https://mail.example.test/EWS/Exchange.asmx",
        mailbox="matt@example.test",
        auth_method="password",
        username="svc",
        sources=choices,
        name="kr",
    )
    app = make_app(state, start="wizard", step=1)
    async with app.run_test(size=SIZE) as pilot:
        keep = app.screen.query_one("#keep")
        assert [v for _, v in keep._options] == ["encrypted-file", "ask"]  # no OS keyring offered
        assert keep.value == "ask"
        await pilot.press("tab", "tab", "tab", *"pw-123", "tab")  # method, user name, password; to Keep
        await pilot.press("enter", "home", "enter")  # the encrypted file
        await pilot.pause()
        assert app.screen.query_one("#kr-pw-row").display
        await pilot.press("tab", *"kr-pass")
        for _ in range(4):
            await pilot.press("ctrl+n")
            await pilot.pause()
        assert isinstance(app.screen, ReviewScreen), message(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Saved" in message(app) and "encrypted file" in message(app), message(app)
    path = workdir / "profiles" / "kr.yaml"
    text = path.read_text(encoding="utf-8")
    assert "pw-123" not in text and "kr-pass" not in text
    profile = load_profile(path)
    assert profile.connection.auth.cache_password is True and profile.connection.auth.keyring == "encrypted-file"
    env = {"PSTIMPORT_KEYRING_FILE": str(workdir / "kr.cfg"), "PSTIMPORT_KEYRING_PASSWORD": "kr-pass"}
    assert resolve_secret(profile, env=env, interactive=False) == "pw-123"


async def test_review_yaml_scrolls_with_the_keyboard(workdir):
    """At 80×24 the review's YAML is longer than its box; Tab reaches it and PgDn scrolls it to the end."""
    from tui.selection import FolderInfo, PstChoice

    choice = PstChoice(str(workdir / "x.pst"), None, "pst", "unicode", 1, [FolderInfo((), 1, None, None)])
    choice.checked = {()}
    state = WizardState(
        target="on-premises",
        auth_method="password",
        username="u",
        mailbox="a@b.example",
        discovery="direct",
        ews_url="https://h.example/EWS/Exchange.asmx",
        sources=[choice],
    )
    app = make_app(state, start="wizard", step=5)
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one("#yaml-box")
        assert box.virtual_size.height > box.size.height  # more YAML than fits
        await pilot.press("tab", "tab")
        assert app.screen.focused is box
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.pause()
        assert box.scroll_offset.y > 0 and box.scroll_offset.y == box.max_scroll_y
