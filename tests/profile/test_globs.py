"""The folder glob dialect of include/exclude."""

from __future__ import annotations

import pytest

from core.profile import GlobError, Source, compile_glob


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("Inbox", ("Inbox",), True),
        ("Inbox", ("Inbox", "Sub"), False),
        ("inbox", ("INBOX",), True),  # case is ignored, as in Exchange
        ("Inbox/**", ("Inbox",), True),  # ** includes no levels at all
        ("Inbox/**", ("Inbox", "a", "b"), True),
        ("Inbox/**", ("Sent Items",), False),
        ("**/Archive", ("Archive",), True),
        ("**/Archive", ("x", "y", "Archive"), True),
        ("**/Archive", ("x", "Archive", "y"), False),
        ("Inbox/*", ("Inbox", "Sub"), True),
        ("Inbox/*", ("Inbox", "Sub", "Deeper"), False),
        ("Pro*ts", ("Projects",), True),
        ("?nbox", ("Inbox",), True),
        ("[IJ]nbox", ("Jnbox",), True),
        ("[!I]nbox", ("Inbox",), False),
        ("a\\/b", ("a/b",), True),  # a folder whose name has a slash
        ("a\\/b", ("a", "b"), False),
        ("stars\\*", ("stars*",), True),
        ("stars\\*", ("starsX",), False),
        ("**", (), True),
        ("**/**", ("a",), True),
        ("Inbox/**/Old", ("Inbox", "Old"), True),
        ("Inbox/**/Old", ("Inbox", "2019", "Q1", "Old"), True),
        ("Inbox/**/Old", ("Inbox", "Older"), False),
    ],
)
def test_matches(pattern: str, path: tuple, expected: bool) -> None:
    """Each pattern matches exactly the folder paths the dialect says."""
    assert compile_glob(pattern).matches(path) is expected


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("", "empty pattern"),
        ("/Inbox", "starts with '/'"),
        ("Inbox/", "empty folder name"),
        ("a//b", "empty folder name"),
        ("Inbox**", "whole folder name"),
        ("**x", "whole folder name"),
        ("[abc", "never closed"),
        ("x\\", "lone backslash"),
        ("[]", "never closed"),
    ],
)
def test_invalid(pattern: str, why: str) -> None:
    """Invalid patterns are refused with a reason."""
    with pytest.raises(GlobError, match=why.replace("(", r"\(")):
        compile_glob(pattern)


def test_source_selects() -> None:
    """A source imports included folders minus excluded ones; no include means every folder."""
    s = Source(path="x.pst", include=["Inbox/**", "Sent Items"], exclude=["Inbox/Spam/**"])
    assert s.selects(("Inbox", "Work"))
    assert s.selects(("Sent Items",))
    assert not s.selects(("Inbox", "Spam"))
    assert not s.selects(("Inbox", "Spam", "Old"))
    assert not s.selects(("Calendar",))
    everything = Source(path="x.pst", exclude=["Deleted Items/**"])
    assert everything.selects(("Calendar",)) and not everything.selects(("Deleted Items", "x"))
