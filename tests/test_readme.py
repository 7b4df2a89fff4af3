"""The README's first section is the contract with a new user: exactly two commands, one for the
demo and one for the whole test suite, and CI runs that same test command."""

from __future__ import annotations

import re

from tests.need import REPO


def _first_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)
    assert len(sections) > 2, "README has no sections"
    return sections[1]


def _commands(section: str) -> list[str]:
    blocks = re.findall(r"^```(?:sh|bash|console)?\n(.*?)^```", section, flags=re.M | re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def test_first_section_gives_exactly_two_commands():
    section = _first_section()
    assert section.startswith("Quick start"), section.splitlines()[0]
    assert _commands(section) == ["scripts/dev demo", "scripts/dev test"]


def test_ci_runs_the_readme_test_command_without_stdin():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = _commands(_first_section())[1]
    assert re.search(rf"^exec {re.escape(test_command)} </dev/null$", ci, flags=re.M), ci
    assert (REPO / "scripts" / "dev").stat().st_mode & 0o111, "scripts/dev is not executable"
