"""`pstimport run PROFILE.yaml [--headless] [--json] [--dry-run | --offline-check]` and
`pstimport verify PROFILE.yaml [--json]`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, UserError
from core.termsafe import safe

# The wizard sets this (from tui/, never imported here) to show its progress screen when
# `pstimport run` is not --headless: called with (plan, cancel, engine) and returning a RunResult,
# where `engine(plan, on_event, cancel)` is `core.engine.run` or, for --dry-run, the preflight.
UI_RUNNER: Callable[[Any, threading.Event], Any] | None = None


RUN_EPILOG = """The password or client secret comes from, in this order: --password-stdin; the
environment (PSTIMPORT_PASSWORD, PSTIMPORT_CLIENT_SECRET, PSTIMPORT_CERTIFICATE_PASSWORD); the
keyring when the profile says cache_password: true (the OS keyring, or the encrypted file when it
says keyring: encrypted-file, unlocked by PSTIMPORT_KEYRING_PASSWORD); else a prompt on a
terminal. It is never read from the profile. Store it once with `pstimport profile set-secret`.

Connecting, with its retries when the server is busy, drops the connection or answers HTTP 5xx,
takes at most connection.timeout_seconds (default 60); each request waits at most 30 s.

exit codes: 0 done and every folder verified; 1 finished, but some items failed, could not be read
from the PST, or counts differ; 2 user error (bad profile or PST, wrong password, unreachable
server, no terminal); 75 the server stayed busy, failing or silent for the whole connect time
(nothing is wrong with the profile: try again later); 130 interrupted (run the same command again
to resume; nothing is imported twice); 141 the output was closed early (e.g. piped into head)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a saved profile (import)",
        description="Import the PSTs of a profile into its mailbox, then verify: on a terminal the "
        "progress screen and the summary, else (--headless) a live table or plain lines.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("profile", metavar="PROFILE.yaml")
    p.add_argument("--headless", action="store_true", help="no full-screen UI: a progress table or plain lines")
    p.add_argument("--json", action="store_true", help="JSON-lines events on stdout (implies --headless)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="preflight: sign in, check the mailbox and rights, and count what would be imported and what "
        "is already there (by source stamp); changes and uploads nothing; exit 2 on a bad password or an "
        "unreachable server, as a run would",
    )
    mode.add_argument(
        "--offline-check",
        action="store_true",
        help="no server: read and convert every selected item, to find unreadable or unconvertible ones",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password/secret from stdin's first line")
    p.set_defaults(func=cmd_run)
    v = subparsers.add_parser(
        "verify",
        help="count PST vs mailbox per folder and write the report",
        description="Count items per folder (PST selection, imported, mailbox, stamped) and write the "
        "JSON and HTML report. Exit 0 when every folder matches, 1 when one differs.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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


def _plan(args: argparse.Namespace, offline: bool) -> Any:
    from core.engine.connect import transport_factory
    from core.engine.plan import build_plan
    from core.profile.io import load_profile

    profile = load_profile(args.profile)
    factory = None
    if not offline:
        factory = transport_factory(profile, stdin=sys.stdin if args.password_stdin else None)
    return build_plan(profile, dry_run=offline, transport_factory=factory)


def _has_terminal() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def cmd_run(args: argparse.Namespace) -> int:
    from core.engine.printer import HumanPrinter, JsonPrinter
    from core.engine.run import run

    headless = args.headless or args.json or UI_RUNNER is None
    if not headless and not _has_terminal():
        raise UserError("`pstimport run` shows a progress screen and needs a terminal: add --headless (or --json)")
    plan = _plan(args, args.offline_check)
    cancel = threading.Event()
    _install_signals(cancel)
    engine: Callable[..., Any] = run
    if args.dry_run:
        from core.engine.preflight import preflight

        engine = preflight
        plan.dry_run = True  # the run screen and the printers say "would import"
    if not headless:
        result = UI_RUNNER(plan, cancel, engine)  # type: ignore[misc]
    else:
        printer = JsonPrinter() if args.json else HumanPrinter()
        result = engine(plan, printer, cancel)
        if printer.broken:  # the reader of our output went away (`| head`): the run was stopped
            raise BrokenPipeError("standard output closed")  # core.cli: quietly, exit 141
    if result.interrupted:
        return EXIT_INTERRUPTED
    return result.exit_code


def cmd_verify(args: argparse.Namespace) -> int:
    from core.engine.recount import verify_profile

    plan = _plan(args, False)
    report, jpath, hpath = verify_profile(plan)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for line in verify_lines(report, hpath):
            print(line)
    bad = report["totals"]["mismatched_folders"] or report["totals"]["failed"]
    return EXIT_PARTIAL if bad else EXIT_OK


def verify_lines(report: dict, html: str | None, width: int | None = None) -> list[str]:
    """`pstimport verify` as a table that fits the terminal (80 columns off one): status, the PST folder
    (its own name kept), selected, stamped in the mailbox, items in the mailbox folder, duplicates."""
    import shutil

    from core.cells import fit_path, pad

    width = width or shutil.get_terminal_size((80, 24)).columns
    numbers = f" {'sel':>6} {'stamped':>7} {'mailbox':>7} {'dup':>4}"
    name_w = max(width - 11 - len(numbers), 12)
    many = len({r["pst"] for r in report["folders"]}) > 1
    out = [f"{'status':<10} {pad('folder (in the PST)', name_w)}{numbers}"]
    for r in report["folders"]:
        path = [safe(p) for p in r["source_path"]]  # names from the PST: no control sequences on the terminal
        name = fit_path(path, name_w) if not many else fit_path([safe(r["pst"]), *path], name_w)
        out.append(
            f"{r['status']:<10} {pad(name, name_w)} {r['selected']:>6} {r['stamped_items']:>7} "
            f"{r['mailbox_items']:>7} {r['duplicates']:>4}"
        )
    for x in report.get("excluded", []):
        path = [safe(p) for p in x["source_path"]]
        name = fit_path(path, name_w) if not many else fit_path([safe(x["pst"]), *path], name_w)
        in_pst = f"({x['pst_items']} in the PST)"
        out.append(f"{'left out':<10} {pad(name, name_w)} {0:>6} {in_pst:>20}")
    for r in report["folders"]:
        if r.get("error"):
            where = "/".join(safe(p) for p in r["source_path"]) or "(top)"
            out.append(f"could not count {where} in the mailbox: {safe(r['error'])}")
    t = report["totals"]
    out.append(f"{len(report['folders'])} folders, {t['mismatched_folders']} mismatched")
    if html:
        out.append(f"report: {safe(html)}")
    return out
