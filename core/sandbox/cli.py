"""`pstimport sandbox …`: the local mailbox server and the PST writer.

Each sub-command lives with its code: `core.sandbox.server.cli` adds `serve`,
`core.sandbox.pstwriter.cli` adds `make-pst`; both expose `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import importlib

from core.cli import _exists

SUBCOMMAND_MODULES = ("core.sandbox.server.cli", "core.sandbox.pstwriter.cli")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sandbox",
        help="the local test mailbox server and the PST writer",
        description="The sandbox: a local mailbox server for demos and tests, and a writer of sample PST files.",
    )
    inner = parser.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND")
    for name in SUBCOMMAND_MODULES:
        if _exists(name):
            importlib.import_module(name).register(inner)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
