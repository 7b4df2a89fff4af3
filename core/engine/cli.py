"""`pstimport run PROFILE.yaml [--headless] [--json] [--dry-run]` and `pstimport verify PROFILE.yaml [--json]`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL

# The wizard sets this (from tui/, never imported here) to show its progress screen when
# `pstimport run` is not --headless: called with (plan, cancel) and returning a RunResult.
UI_RUNNER: Callable[[Any, threading.Event], Any] | None = None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a saved profile (import)",
        description="Import the PSTs of a profile into its mailbox, then verify.",
    )
    p.add_argument("profile", metavar="PROFILE.yaml")
    p.add_argument("--headless", action="store_true", help="no wizard: a progress table or plain lines")
    p.add_argument("--json", action="store_true", help="JSON-lines events on stdout (implies --headless)")
    p.add_argument("--dry-run", action="store_true", help="read and convert everything, upload nothing")
    p.add_argument("--password-stdin", action="store_true", help="read the password/secret from stdin's first line")
    p.set_defaults(func=cmd_run)
    v = subparsers.add_parser(
        "verify",
        help="count PST vs mailbox per folder and write the report",
        description="Count items per folder (PST selection, imported, mailbox, stamped).",
    )
    v.add_argument("profile", metavar="PROFILE.yaml")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument("--password-stdin", action="store_true", help="read the password/secret from stdin's first line")
    v.set_defaults(func=cmd_verify)


def _install_signals(cancel: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        cancel.set()
        print("pstimport: stopping: finishing the requests in flight (Ctrl-C again to abort)", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _plan(args: argparse.Namespace, dry_run: bool) -> Any:
    from core.engine.connect import transport_factory
    from core.engine.plan import build_plan
    from core.profile.io import load_profile

    profile = load_profile(args.profile)
    factory = None
    if not dry_run:
        factory = transport_factory(profile, stdin=sys.stdin if args.password_stdin else None)
    return build_plan(profile, dry_run=dry_run, transport_factory=factory)


def cmd_run(args: argparse.Namespace) -> int:
    from core.engine.printer import HumanPrinter, JsonPrinter
    from core.engine.run import run

    plan = _plan(args, args.dry_run)
    cancel = threading.Event()
    _install_signals(cancel)
    headless = args.headless or args.json or UI_RUNNER is None or not sys.stdout.isatty()
    if not headless:
        result = UI_RUNNER(plan, cancel)  # type: ignore[misc]
    else:
        printer = JsonPrinter() if args.json else HumanPrinter()
        result = run(plan, printer, cancel)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return result.exit_code


def cmd_verify(args: argparse.Namespace) -> int:
    from core.verify import verify_profile

    plan = _plan(args, False)
    report, jpath, hpath = verify_profile(plan)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        t = report["totals"]
        for r in report["folders"]:
            print(
                f"{r['status']:<8} {r['pst']}: {'/'.join(r['source_path']) or '(top)'} -> "
                f"{'/'.join(r['target_path']) or '(top)'}: selected {r['selected']}, in mailbox "
                f"{r['stamped_items']} stamped / {r['mailbox_items']} items, duplicates {r['duplicates']}"
            )
        print(f"{len(report['folders'])} folders, {t['mismatched_folders']} mismatched; report: {hpath}")
    bad = report["totals"]["mismatched_folders"] or report["totals"]["failed"]
    return EXIT_PARTIAL if bad else EXIT_OK
