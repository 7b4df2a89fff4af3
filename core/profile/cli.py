"""`pstimport profile …`: check a profile, show it as resolved, keep its secret in the keyring."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from typing import Any

import yaml

from core.errors import EXIT_OK, EXIT_USER, SecretError
from core.profile import secrets
from core.profile.io import _plain, load_profile, read_profile
from core.profile.model import Profile


def register(sub: argparse._SubParsersAction) -> None:
    """Add `profile validate|show|set-secret|forget-secret` to the `pstimport` parser."""
    parser = sub.add_parser(
        "profile",
        help="check, show and manage saved run profiles (YAML)",
        description="Saved run profiles: check one, show it as resolved, keep its secret in the keyring.",
    )
    inner = parser.add_subparsers(dest="profile_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), EXIT_USER)[1])

    v = inner.add_parser(
        "validate",
        help="check a profile; exit 0 if it is valid, 2 if not",
        description="Check a profile: every problem is one line, FILE:LINE: key.path: message. "
        "Exit 0 when valid (warnings allowed), 2 when not.",
    )
    v.add_argument("profile", metavar="PROFILE.yaml")
    v.add_argument(
        "--no-check-files",
        dest="check_files",
        action="store_false",
        help="do not check the PST, certificate and other files it names (that they exist, and that each "
        "source is a readable PST/OST by its header, as run checks) (for a profile prepared on another machine)",
    )
    v.add_argument("--json", action="store_true", help="print the problems as one JSON object")
    v.set_defaults(func=cmd_validate)

    s = inner.add_parser(
        "show",
        help="print a profile as resolved: defaults filled in, paths absolute, secrets' presence (never their values)",
        description="Print the profile as a run will see it: every default filled in, paths "
        "made absolute, and whether each secret is available (never its value).",
    )
    s.add_argument("profile", metavar="PROFILE.yaml")
    s.add_argument(
        "--no-check-files", dest="check_files", action="store_false", help="do not check that the files it names exist"
    )
    s.add_argument("--json", action="store_true", help="print one JSON object instead of YAML")
    s.set_defaults(func=cmd_show)

    for name, helptext, fn in (
        ("set-secret", "store the profile's password or client secret in the keyring", cmd_set_secret),
        ("forget-secret", "remove the profile's stored secret from the keyring", cmd_forget_secret),
    ):
        p = inner.add_parser(
            name,
            help=helptext,
            description=helptext[0].upper()
            + helptext[1:]
            + ". "
            + "The keyring is the OS's own, or the encrypted file chosen with "
            "PSTIMPORT_KEYRING=cryptfile.",
        )
        p.add_argument("profile", metavar="PROFILE.yaml")
        p.add_argument(
            "--kind",
            choices=secrets.SECRET_KINDS,
            help="which secret (default: the one the profile's sign-in method needs)",
        )
        if name == "set-secret":
            p.add_argument(
                "--password-stdin",
                action="store_true",
                help="read the secret from the first line of standard input instead of asking",
            )
        p.set_defaults(func=fn)


def _interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def cmd_validate(args: argparse.Namespace) -> int:
    profile, problems = read_profile(args.profile, check_files=args.check_files, check_signatures=args.check_files)
    if args.json:
        print(
            json.dumps(
                {
                    "path": args.profile,
                    "ok": profile is not None,
                    "problems": [
                        {
                            "severity": p.severity,
                            "file": p.file,
                            "line": p.line,
                            "key": p.key_path,
                            "message": p.message,
                        }
                        for p in problems
                    ],
                }
            )
        )
    else:
        for p in problems:
            print(str(p), file=sys.stderr)
        if profile is not None:
            warned = sum(p.severity == "warning" for p in problems)
            print(f"{args.profile}: valid" + (f" ({warned} warning{'s' * (warned != 1)})" if warned else ""))
    return EXIT_OK if profile is not None else EXIT_USER


def resolved(profile: Profile) -> dict[str, Any]:
    """The profile with every default filled in and every path made absolute."""
    data = _plain(profile)
    for i, src in enumerate(profile.source_paths()):
        data["sources"][i]["path"] = str(src)
    conn = data["connection"]
    if profile.certificate_path():
        conn["auth"]["certificate"] = str(profile.certificate_path())
    if profile.ca_bundle_path():
        conn["ca_bundle"] = str(profile.ca_bundle_path())
    if profile.map_file_path():
        data["address_rewriting"]["map_file"] = str(profile.map_file_path())
    data["report"]["directory"] = str(profile.report_dir())
    return data


def _secret_kinds(profile: Profile) -> list[str]:
    kind = secrets.primary_secret(profile)
    return [kind] if kind else []


def cmd_show(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile, check_files=args.check_files)
    statuses = [secrets.secret_status(profile, k) for k in _secret_kinds(profile)]
    data = resolved(profile)
    for w in profile.warnings:
        print(str(w), file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(profile.path),
                    "profile": data,
                    "secrets": [
                        {
                            "kind": s.kind,
                            "keyring_service": secrets.SERVICE,
                            "keyring_key": s.key,
                            "state": s.state,
                            "detail": s.detail,
                        }
                        for s in statuses
                    ],
                    "warnings": [str(w) for w in profile.warnings],
                },
                default=lambda v: v.isoformat() if isinstance(v, dt.date) else str(v),
            )
        )
        return EXIT_OK
    print(f"# profile {profile.name!r} from {profile.path}, as resolved: defaults filled in, paths absolute")
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100), end="")
    if statuses:
        print(f"# secrets (values are never shown; keyring service {secrets.SERVICE!r}):")
        for s in statuses:
            print(f"#   {s.kind} [{s.key}]: {s.detail}")
    else:
        print("# secrets: none needed (device code sign-in asks in the browser)")
    return EXIT_OK


def _kind(profile: Profile, args: argparse.Namespace) -> str:
    kind = args.kind or secrets.primary_secret(profile)
    if kind is None:
        raise SecretError(f"{args.profile}: method {profile.connection.auth.method} needs no stored secret")
    return kind


def cmd_set_secret(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile, check_files=False)
    kind = _kind(profile, args)
    what = secrets.describe(profile, kind)
    interactive = _interactive()
    if args.password_stdin:
        value = secrets.read_secret_stdin(sys.stdin)
    elif interactive:
        value = getpass.getpass(f"{what[0].upper()}{what[1:]}: ")
        if getpass.getpass("Again, to be sure: ") != value:
            raise SecretError("the two entries differ; nothing was stored")
    else:
        raise SecretError("no terminal to ask on: pipe the secret in with --password-stdin")
    where = secrets.store_secret(profile, kind, value, env=os.environ, interactive=interactive)
    print(f"stored {what} in the keyring ({where})")
    return EXIT_OK


def cmd_forget_secret(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile, check_files=False)
    kind = _kind(profile, args)
    what = secrets.describe(profile, kind)
    if secrets.delete_secret(profile, kind, interactive=_interactive()):
        print(f"removed {what} from the keyring")
    else:
        print(f"{what} was not in the keyring")
    return EXIT_OK
