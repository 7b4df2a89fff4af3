"""`pstimport batch MAPPING.csv --template PROFILE.yaml [--parallel-mailboxes N] [--max-connections N]
[--shard i/n] [--headless] [--folders] [--json] [--dry-run | --offline-check] [--pst-dir DIR] [--password-stdin]`."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import Any

# The TUI sets this (from tui/, never imported here) to show its batch screen on a terminal when
# not --headless: called with (runner, cancel), where runner(on_event, cancel) runs the batch and
# returns the BatchResult; it returns that result.
UI_RUNNER: Callable[[Callable[[Any, threading.Event], Any], threading.Event], Any] | None = None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "batch",
        help="import many PSTs into many mailboxes (a mapping CSV and a template profile)",
        description=(
            "Import the PSTs a CSV maps to mailboxes, several mailboxes at a time, each with its own "
            "journal and throttling, using the connection and settings of a template profile. "
            "CSV columns: path,mailbox[,archive|store][,root][,folder][,codepage], or the PST Import "
            "Service mapping file. A re-run resumes; --shard i/n splits the CSV over machines by mailbox."
        ),
    )
    p.add_argument("mapping", metavar="MAPPING.csv")
    p.add_argument("--template", required=True, metavar="PROFILE.yaml", help="connection, auth and settings")
    p.add_argument("--parallel-mailboxes", type=_positive, default=4, metavar="N", help="mailboxes at once (4)")
    p.add_argument(
        "--max-connections", type=_positive, default=32, metavar="N", help="requests in flight, all mailboxes (32)"
    )
    p.add_argument("--shard", metavar="i/n", help="take only shard i of n (by mailbox), e.g. 2/4")
    p.add_argument("--pst-dir", metavar="DIR", help="folder relative PST paths are under (default: the CSV's)")
    p.add_argument("--headless", action="store_true", help="no TUI: a progress table or plain lines")
    p.add_argument("--folders", action="store_true", help="show each mailbox's folders in the progress")
    p.add_argument("--json", action="store_true", help="JSON-lines events on stdout, tagged with the mailbox")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="preflight each mailbox, as `pstimport run --dry-run` does: sign in, check the mailbox and rights, "
        "count what would be imported and what is already there; creates and uploads nothing",
    )
    mode.add_argument(
        "--offline-check",
        action="store_true",
        help="no server: read and convert every selected item, to find unreadable or unconvertible ones",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password/secret from stdin's first line")
    p.set_defaults(func=cmd_batch)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: must be at least 1")
    return n


def cmd_batch(args: argparse.Namespace) -> int:
    from core.batch.mapping import load_mapping
    from core.batch.printer import BatchHumanPrinter, BatchJsonPrinter
    from core.batch.runner import BatchOptions, run_batch, secret_stdin_factory
    from core.batch.shard import parse_shard
    from core.batch.template import load_template
    from core.engine.cli import _install_signals

    shard = parse_shard(args.shard) if args.shard else None
    template, notes = load_template(args.template)
    rows = load_mapping(args.mapping, args.pst_dir)
    for note in notes:
        print(f"pstimport: note: {note}", file=sys.stderr)
    make = None
    if not args.offline_check:
        make = secret_stdin_factory(template, stdin=sys.stdin if args.password_stdin else None)
    options = BatchOptions(
        parallel_mailboxes=args.parallel_mailboxes,
        max_connections=args.max_connections,
        shard=shard,
        dry_run=args.dry_run,
        offline_check=args.offline_check,
        mapping=str(args.mapping),
    )
    cancel = threading.Event()
    _install_signals(cancel)

    def runner(on_event: Any, stop: threading.Event) -> Any:
        return run_batch(template, rows, options, on_event, stop, make_transport=make)

    if not (args.headless or args.json or UI_RUNNER is None or not sys.stdout.isatty()):
        result = UI_RUNNER(runner, cancel)
    else:
        result = runner(BatchJsonPrinter() if args.json else BatchHumanPrinter(folders=args.folders), cancel)
    return result.exit_code
