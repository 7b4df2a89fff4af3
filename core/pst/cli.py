"""`pstimport scan`: a census of PST/OST files."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USER
from core.pst.codepages import normalize_codepage
from core.pst.scan import scan
from core.termsafe import safe

HELP = """Report what PST/OST files hold: format, encryption, whether a password is set (a PST
password is only a checksum; pstimport never needs it), the store's name, and each folder of
the visible tree with its item count, container class and role (inbox, sent, ...).
A directory is searched recursively for PST/OST files, recognised by their signature; files
named *.pst or *.ost that are not PSTs are listed as such. Damage the reader found and read past
(a truncated file, folders or items the PST library cannot reach, unreadable index pages) is
listed under the file as warnings.

exit codes: 0 every file read cleanly; 1 a file is damaged but readable (see its warnings);
2 a file cannot be read (the others are still reported); 141 the output was closed early."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "scan",
        help="census of PST/OST files (folders, counts, roles)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a PST/OST file, or a directory to search")
    parser.add_argument("--json", action="store_true", help="print the census as JSON (the documented contract)")
    parser.add_argument(
        "--codepage",
        metavar="CP",
        help="code page of ANSI (Outlook 97-2002) files, e.g. cp1252 or cp932; "
        "default: detected from the items, else cp1252",
    )
    parser.set_defaults(func=run)


def _print_tree(entry: dict[str, Any], out: Any) -> None:
    # Every name comes from the file (or its path on disk): control characters are shown escaped.
    password = ", password set (not needed to read)" if entry["password_protected"] else ""
    out.write(f"{safe(entry['path'])}\n")
    out.write(
        f"  {safe(entry['display_name'] or '(no name)')}: {entry['kind'].upper()}, {entry['format']}, "
        f"encryption {entry['encryption']}{password}, {entry['total_items']} items\n"
    )
    for folder in entry["folders"]:
        depth = len(folder["path"])
        name = safe(folder["path"][-1]) if folder["path"] else "(top of the folder tree)"
        role = f"  [{folder['role']}]" if folder["role"] else ""
        cls = f"  {safe(folder['container_class'])}" if folder["container_class"] else ""
        out.write(f"  {'  ' * depth}{name}: {folder['items']}{role}{cls}\n")
    for warning in entry.get("warnings", []):
        out.write(f"  warning: {safe(warning)}\n")


def run(args: argparse.Namespace) -> int:
    codepage = normalize_codepage(args.codepage) if args.codepage else None
    result = scan(args.paths, codepage)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for entry in result["files"]:
            _print_tree(entry, sys.stdout)
        if not result["files"] and not result["errors"]:
            print("no PST or OST files found")
        for err in result["errors"]:
            print(f"pstimport: {safe(err['path'])}: {safe(err['error'])}", file=sys.stderr)
    if result["errors"]:
        return EXIT_USER
    return EXIT_PARTIAL if any(f.get("warnings") for f in result["files"]) else EXIT_OK
