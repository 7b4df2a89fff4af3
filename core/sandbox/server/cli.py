"""`pstimport sandbox serve`: run the sandbox mailbox server until SIGINT/SIGTERM.

The first stdout line is one JSON object (DESIGN.md) with the URLs; later lines are a log.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from core.errors import EXIT_OK, UserError

DEMO_USER = "demo@sandbox.test"


def _user(value: str) -> tuple[str, str]:
    address, sep, password = value.partition(":")
    if not sep or "@" not in address or not password:
        raise argparse.ArgumentTypeError(f"--user {value.split(':')[0]!r}: expected ADDRESS:PASSWORD")
    return address.strip().lower(), password


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a rate between 0 and 1")
    return rate


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative")
    return number


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the local test mailbox server (EWS, Autodiscover, OAuth token endpoint)",
        description="Run the sandbox mailbox server on 127.0.0.1 until Ctrl-C or SIGTERM. The first line "
        "on stdout is a JSON object with the EWS and Autodiscover URLs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_count, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument(
        "--state", type=Path, default=None, help="state directory (store and blobs); default: a new temporary directory"
    )
    parser.add_argument(
        "--user",
        type=_user,
        action="append",
        default=[],
        metavar="ADDRESS:PASSWORD",
        help="a mailbox user; repeatable. Without any, demo@sandbox.test is created",
    )
    parser.add_argument(
        "--archive", action="append", default=[], metavar="ADDRESS", help="give this mailbox an archive; repeatable"
    )
    parser.add_argument(
        "--impersonator",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="this user may impersonate every mailbox; repeatable",
    )
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET",
        type=_user_app,
        help="an OAuth app (client credentials) that may impersonate every mailbox; repeatable",
    )
    parser.add_argument("--latency-ms", type=_count, default=0, help="added to every EWS answer")
    parser.add_argument("--busy-rate", type=_rate, default=0.0, help="share of EWS requests answered ErrorServerBusy")
    parser.add_argument(
        "--back-off-ms", type=_count, default=250, help="BackOffMilliseconds in ErrorServerBusy answers (default 250)"
    )
    parser.add_argument(
        "--max-concurrency",
        type=_count,
        default=0,
        help="EWS requests served at once; more are refused as busy (0: unlimited)",
    )
    parser.add_argument("--drop-rate", type=_rate, default=0.0, help="share of connections dropped unanswered")
    parser.add_argument("--error-rate", type=_rate, default=0.0, help="share of EWS requests answered HTTP 503")
    parser.add_argument(
        "--item-error-rate",
        type=_rate,
        default=0.0,
        help="share of created items refused with ErrorItemSave (the rest of the batch lands)",
    )
    parser.add_argument("--max-request-mb", type=float, default=None, help="bigger requests get HTTP 413")
    parser.add_argument("--max-item-mb", type=float, default=None, help="bigger items get ErrorMessageSizeExceeded")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random faults (default 0)")
    parser.add_argument(
        "--graph-limits",
        action="store_true",
        help="Graph front end: Exchange Online's limits (4 concurrent requests per app and mailbox, each request "
        "of a $batch counting; 10,000 requests per app and mailbox per 10 minutes; 150 MB uploaded per mailbox "
        "per 5 minutes, whatever the app; 429 with Retry-After over any of them)",
    )
    parser.add_argument(
        "--graph-max-concurrency", type=_count, default=None, help="Graph requests at once per app and mailbox"
    )
    parser.add_argument("--upload-budget-mb", type=float, default=None, help="Graph uploads per mailbox per window")
    parser.add_argument("--upload-window-s", type=float, default=None, help="the upload budget's window in seconds")
    parser.add_argument(
        "--graph-request-budget", type=_count, default=None, help="Graph requests per app and mailbox per window"
    )
    parser.add_argument(
        "--graph-request-window-s", type=float, default=None, help="the request budget's window in seconds"
    )
    parser.add_argument(
        "--ews-refusal",
        choices=("app-not-allowed", "ews-disabled", "licence-blocked"),
        default=None,
        help="answer EWS as Exchange Online does when its EWS policy refuses the caller (HTTP 403, empty body): "
        "app-not-allowed refuses apps not given with --ews-allowed-app (EWSAllowedAppIDs, since 2026-10-01); "
        "ews-disabled refuses everyone (EWSEnabled false, or after 2027-04-01); licence-blocked refuses the "
        "mailboxes given with --ews-blocked-mailbox, or every mailbox (Kiosk/F1/F3 licences, since 2026-06-30)",
    )
    parser.add_argument(
        "--ews-allowed-app",
        action="append",
        default=[],
        metavar="CLIENT_ID",
        help="with --ews-refusal app-not-allowed: an app on the tenant's EWSAllowedAppIDs; repeatable",
    )
    parser.add_argument(
        "--ews-blocked-mailbox",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="with --ews-refusal licence-blocked: a mailbox licensed only Kiosk/F1/F3; repeatable (default: all)",
    )
    parser.add_argument(
        "--flavour",
        choices=("exchange2016", "exchange2019", "exchange-online"),
        default="exchange2019",
        help="server to imitate (version headers; exchange-online accepts only Bearer tokens)",
    )
    parser.add_argument(
        "--schema-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="Microsoft's EWS schema (types.xsd, messages.xsd): refuse schema-invalid requests "
        "with ErrorSchemaValidation, as Exchange does",
    )
    parser.add_argument(
        "--auth",
        default=None,
        metavar="METHODS",
        help="comma-separated auth methods offered and accepted: ntlm,basic,bearer "
        "(default: all three; exchange-online: bearer)",
    )
    parser.add_argument(
        "--hostname",
        action="append",
        default=[],
        metavar="NAME",
        help="another name the server answers to (TLS certificate, --dns); repeatable, "
        "e.g. sandbox.test and autodiscover.sandbox.test for Autodiscover",
    )
    parser.add_argument(
        "--dns",
        action="store_true",
        help="answer DNS A queries for the --hostname names on 127.0.0.1 (port in dns_port)",
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throw-away CA (path in ca_cert)")
    parser.set_defaults(func=serve)


def _user_app(value: str) -> tuple[str, str]:
    client_id, sep, secret = value.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError(f"--app {client_id!r}: expected CLIENT_ID:SECRET")
    return client_id, secret


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT or SIGTERM."""
    from core.sandbox.server.app import Sandbox
    from core.sandbox.server.knobs import Knobs

    users = dict(args.user)
    demo_password = None
    if not users:
        demo_password = secrets.token_urlsafe(12)
        users = {DEMO_USER: demo_password}
    for address in [*args.archive, *args.impersonator]:
        if address.lower() not in users:
            raise UserError(f"--archive/--impersonator {address}: not a --user of this sandbox")
    knobs = Knobs(
        latency_ms=args.latency_ms,
        busy_rate=args.busy_rate,
        back_off_ms=args.back_off_ms,
        max_concurrency=args.max_concurrency,
        drop_rate=args.drop_rate,
        error_rate=args.error_rate,
        item_error_rate=args.item_error_rate,
        seed=args.seed,
    )
    if args.max_request_mb is not None:
        knobs = replace(knobs, max_request_bytes=int(args.max_request_mb * 1024 * 1024))
    if args.max_item_mb is not None:
        knobs = replace(knobs, max_item_bytes=int(args.max_item_mb * 1024 * 1024))
    if args.graph_limits:
        from core.sandbox.server.knobs import EXCHANGE_ONLINE_GRAPH

        knobs = replace(knobs, **EXCHANGE_ONLINE_GRAPH)
    if args.graph_max_concurrency is not None:
        knobs = replace(knobs, graph_max_concurrency=args.graph_max_concurrency)
    if args.upload_budget_mb is not None:
        knobs = replace(knobs, upload_budget_bytes=int(args.upload_budget_mb * 1024 * 1024))
    if args.upload_window_s is not None:
        knobs = replace(knobs, upload_window_s=args.upload_window_s)
    if args.graph_request_budget is not None:
        knobs = replace(knobs, graph_request_budget=args.graph_request_budget)
    if args.graph_request_window_s is not None:
        knobs = replace(knobs, graph_request_window_s=args.graph_request_window_s)
    if (args.ews_allowed_app or args.ews_blocked_mailbox) and not args.ews_refusal:
        raise UserError("--ews-allowed-app/--ews-blocked-mailbox: give the refusal with --ews-refusal")
    if args.ews_refusal:
        knobs = replace(
            knobs,
            ews_refusal=args.ews_refusal,
            ews_allowed_app_ids=tuple(args.ews_allowed_app),
            ews_blocked_mailboxes=tuple(a.lower() for a in args.ews_blocked_mailbox),
        )
    auth_methods = None
    if args.auth:
        auth_methods = [m.strip().lower() for m in args.auth.split(",") if m.strip()]
        unknown = set(auth_methods) - {"ntlm", "basic", "bearer"}
        if unknown or not auth_methods:
            raise UserError(f"--auth {args.auth}: expected a comma-separated list of ntlm, basic, bearer")
    if args.dns and not args.hostname:
        raise UserError("--dns: give the names to answer with --hostname")
    state = args.state or Path(tempfile.mkdtemp(prefix="pstimport-sandbox-"))
    try:
        sandbox = Sandbox(
            state,
            users=users,
            archives=[a.lower() for a in args.archive],
            impersonators=[a.lower() for a in args.impersonator],
            apps=dict(args.app),
            host=args.host,
            port=args.port,
            knobs=knobs,
            tls=args.tls,
            schema_dir=args.schema_dir,
            flavour=args.flavour,
            auth_methods=auth_methods,
            hostnames=args.hostname,
            dns=args.dns,
        )
        sandbox.start()
    except FileNotFoundError as exc:
        raise UserError(f"--schema-dir: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    info = sandbox.info()
    if args.dns:
        info["dns_port"] = sandbox.dns_port
    if demo_password is not None:
        info["demo_password"] = demo_password
    print(json.dumps(info), flush=True)
    print(f"sandbox: serving {len(users)} mailbox(es) from {state}; Ctrl-C stops", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        print("sandbox: stopped", flush=True)
    sys.stdout.flush()
    return EXIT_OK
