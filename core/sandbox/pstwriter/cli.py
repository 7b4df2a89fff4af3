"""`pstimport sandbox make-pst OUT.pst [--seed N] [--mode realistic|scale|calendar] [--items N] [--size-mb N]`.

The calendar mode writes every recurrence pattern Outlook writes (see content._calendar_cases)."""

from __future__ import annotations

import argparse
import os
import sys

from core.errors import EXIT_USER

PROGRESS_MIN_MB = 64  # show a progress bar for scale files from this size (or 5,000 items)
PROGRESS_MIN_ITEMS = 5000


def register(sub: argparse._SubParsersAction) -> None:
    """Add `make-pst` to the `sandbox` command group."""
    p = sub.add_parser(
        "make-pst",
        help="write a sample PST and its ground-truth JSON",
        description="Write OUT.pst and OUT.pst.truth.json, deterministically from the seed.",
    )
    p.add_argument("out", metavar="OUT.pst", help="the PST file to write (overwritten)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed; the same seed gives identical bytes")
    p.add_argument(
        "--mode",
        choices=("realistic", "scale", "calendar"),
        default="realistic",
        help="realistic: every kind of content; scale: many ordinary messages; "
        "calendar: every recurrence pattern, all-day events and a meeting with exceptions",
    )
    p.add_argument("--items", type=int, default=None, help="scale mode: number of messages")
    p.add_argument("--size-mb", type=int, default=None, help="scale mode: target file size in MB")
    p.add_argument("--encrypt", action="store_true", help="use compressible encryption (default: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the file; one line on stderr and exit code 2 on bad arguments or I/O errors."""
    from core.sandbox.pstwriter.content import ProgressBar, generate

    if args.mode != "scale" and (args.items is not None or args.size_mb is not None):
        print("make-pst: --items and --size-mb apply to --mode scale only", file=sys.stderr)
        return EXIT_USER
    for name in ("items", "size_mb"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            print(f"make-pst: --{name.replace('_', '-')} must be positive", file=sys.stderr)
            return EXIT_USER
    parent = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(parent):
        print(f"make-pst: {args.out}: directory {parent} does not exist", file=sys.stderr)
        return EXIT_USER
    bar = None
    if args.mode == "scale" and ((args.size_mb or 0) >= PROGRESS_MIN_MB or (args.items or 0) >= PROGRESS_MIN_ITEMS):
        bar = ProgressBar(args.size_mb or args.items, "MB" if args.size_mb else "items")
    try:
        summary = generate(
            args.out,
            seed=args.seed,
            mode=args.mode,
            items=args.items,
            size_mb=args.size_mb,
            progress=bar,
            crypt_method=1 if args.encrypt else 0,
        )
    except OSError as exc:
        print(f"make-pst: {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER
    finally:
        if bar is not None:
            bar.finish()
    print(
        f"{args.out}: {summary['items']} items, {summary['file_size']:,} bytes in {summary['seconds']} s; "
        f"truth in {args.out}.truth.json"
    )
    return 0
