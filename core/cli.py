"""The headless command line: `python -m core.cli` or, through tui.entry, `pstimport`.

Each command lives beside the code it drives, in a module with
`register(subparsers) -> None` that adds its parser and sets `func(args) -> int`.
The wizard's commands are added by `tui.entry`, so core never imports the UI.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from core import __version__, redact
from core.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_PARTIAL, EXIT_USER, PstImportError
from core.redact import scrub
from core.termsafe import safe, safe_lines

# Modules that add commands, in the order `--help` lists them.
COMMAND_MODULES = (
    "core.pst.cli",
    "core.profile.cli",
    "core.engine.cli",
    "core.batch.cli",
    "core.sandbox.cli",
    "core.importservice.cli",
)

Registrar = Callable[[argparse._SubParsersAction], None]

EPILOG = """exit codes: 0 success; 1 finished, but some items failed, could not be read, or counts
differ; 2 user error (bad profile, file or credentials); 75 the server stayed busy, failing or
silent for all of connection.timeout_seconds (60 s by default): nothing is wrong with the profile,
try again later; 130 interrupted; 141 the output was closed early (e.g. piped into head).
Add --debug before the command for a traceback on errors (secrets stay hidden)."""


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def build_parser(extra: Sequence[Registrar] = ()) -> argparse.ArgumentParser:
    """The `pstimport` parser with every core command, plus `extra` registrars (the UI's)."""
    parser = argparse.ArgumentParser(
        prog="pstimport",
        description="Import Outlook PST/OST files into Exchange mailboxes (Exchange Online or on-premises).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pstimport {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in extra:
        register(sub)
    for name in COMMAND_MODULES:
        if not _exists(name):  # a part not built yet
            continue
        importlib.import_module(name).register(sub)
    _finish_help(sub)
    return parser


EXIT_NOTE = (
    "exit codes: 0 success; 1 finished, but some items failed or counts differ; 2 user error (bad "
    "profile, file, credentials or no terminal); 75 the server stayed unavailable for the whole "
    "connect time; 130 interrupted."
)
SECRET_NOTE = (
    "The password or client secret comes from --password-stdin, PSTIMPORT_PASSWORD / "
    "PSTIMPORT_CLIENT_SECRET, the keyring (cache_password: true; the profile's keyring: system or "
    "encrypted-file, unlocked by PSTIMPORT_KEYRING_PASSWORD; `pstimport profile set-secret` stores it), "
    "or a prompt on a terminal; never from the profile."
)


class _Paragraphs(argparse.HelpFormatter):
    """Wraps descriptions and epilogs to the terminal like argparse does, but keeps blank-line paragraphs."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(super(_Paragraphs, self)._fill_text(p, width, indent) for p in text.split("\n\n"))


def _finish_help(sub: argparse._SubParsersAction) -> None:
    """Every command's --help ends with the exit codes, and those that sign in say where the secret comes
    from, unless their own text already does."""
    for parser in {id(p): p for p in sub.choices.values()}.values():
        text = f"{parser.description or ''} {parser.epilog or ''}"
        notes = []
        signs_in = any("--password-stdin" in a.option_strings for a in parser._actions)
        if signs_in and "PSTIMPORT_PASSWORD" not in text:
            notes.append(SECRET_NOTE)
        if "exit code" not in text.lower():
            notes.append(EXIT_NOTE)
        if notes:
            parser.epilog = "\n\n".join([*([parser.epilog] if parser.epilog else []), *notes])
            if parser.formatter_class is argparse.HelpFormatter:
                parser.formatter_class = _Paragraphs
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _finish_help(action)


def run(
    argv: Sequence[str] | None = None,
    extra: Sequence[Registrar] = (),
    default: Callable[[argparse.Namespace], int] | None = None,
) -> int:
    """Parse `argv`, run the command and turn errors into one line and an exit code."""
    parser = build_parser(extra)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    redact.install()  # no password, token or signature in any log line, --debug included
    func = getattr(args, "func", None) or default
    if func is None:
        parser.print_help()
        return EXIT_USER
    try:
        return int(func(args) or 0)
    except PstImportError as exc:
        if args.debug:
            _print_traceback()
        print(f"pstimport: {safe(scrub(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pstimport: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return output_closed()
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            _print_traceback()
        else:
            print(
                f"pstimport: internal error: {type(exc).__name__}: {safe(scrub(exc))} (run with --debug for details)",
                file=sys.stderr,
            )
        return EXIT_PARTIAL


def _print_traceback() -> None:
    """The traceback of the exception being handled, on stderr, with secrets masked."""
    print(safe_lines(scrub(traceback.format_exc())).rstrip("\n"), file=sys.stderr)


def output_closed() -> int:
    """Our standard output was closed early (`pstimport ... | head`): end quietly, as a program
    killed by SIGPIPE does, with 128 + SIGPIPE. Standard output is pointed at /dev/null first, so
    the interpreter's last flush does not complain about the closed pipe either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor behind stdout (a test's capture)
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
