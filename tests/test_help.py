"""Every command's --help says what its exit codes are; those that sign in say where the secret comes from."""

from __future__ import annotations

import argparse

from core.cli import build_parser


def all_parsers(parser: argparse.ArgumentParser, prefix: str = "pstimport") -> dict[str, argparse.ArgumentParser]:
    out = {prefix: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(all_parsers(sub, f"{prefix} {name}"))
    return out


def parser_with_ui() -> argparse.ArgumentParser:
    from tui.commands import register

    return build_parser([register])


def test_every_command_help_names_its_exit_codes():
    """`pstimport COMMAND --help` mentions the exit codes for every command and subcommand."""
    missing = [name for name, p in all_parsers(parser_with_ui()).items() if "exit code" not in p.format_help().lower()]
    assert missing == []


def test_commands_that_sign_in_say_where_the_secret_comes_from():
    """run, verify, batch, watch, set-secret...: PSTIMPORT_PASSWORD and the keyring are named in --help."""
    parsers = all_parsers(parser_with_ui())
    signing = {n: p for n, p in parsers.items() if any("--password-stdin" in a.option_strings for a in p._actions)}
    assert {"pstimport run", "pstimport verify"} <= set(signing)
    for name, p in signing.items():
        text = " ".join(p.format_help().split())
        assert "PSTIMPORT_PASSWORD" in text and "keyring" in text, name


def test_options_that_lacked_help_have_it():
    """`watch --rule` and `importservice check-sas --target` explain themselves."""
    parsers = all_parsers(parser_with_ui())
    for name, option in (("pstimport watch", "--rule"), ("pstimport importservice check-sas", "--target")):
        action = next(a for a in parsers[name]._actions if option in a.option_strings)
        assert action.help and len(action.help) > 20, (name, option)
