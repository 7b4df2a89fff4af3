"""Fixtures for the wizard's tests: corpus PSTs, a temp working folder, keyboard helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

GOOD_PST = "pstreader-hughbe_backup_with_rules.pst"  # 36 folders, nested, with roles
SMALL_PST = "process-pst_four_nesting_levels.pst"
BROKEN_PST = "BROKEN_pstreader-jmcleodfoss_truncated-in-header.bin"


@pytest.fixture()
def corpus_pst(corpus_dir: Path) -> Path:
    return corpus_dir / GOOD_PST


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so profiles/ and reports/ land in tmp, with the engine's state (journals) there too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PSTIMPORT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


async def type_text(pilot, text: str) -> None:
    """Type into the focused widget, character by character, as a person would."""
    await pilot.press(*text)


async def clear_and_type(pilot, text: str) -> None:
    """Empty the focused input (Home, then Ctrl+K), then type `text`."""
    await pilot.press("home", "ctrl+k", *text)


async def choose(pilot, downs: int) -> None:
    """On a focused Select: open it, go to the first option, move `downs` down, pick."""
    await pilot.press("enter", "home")
    for _ in range(downs):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()


@pytest.fixture()
def anyio_backend() -> str:
    """Pilot tests run on asyncio (anyio's pytest plugin drives them; no pytest-asyncio needed)."""
    return "asyncio"


from tests.profile.conftest import cryptfile_keyring, set_keyring  # noqa: E402,F401 - real keyrings in tmp
