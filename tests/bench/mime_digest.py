"""Digest of everything the converter produces from PST files, to prove a speed change left it alone.

    python -m tests.bench.mime_digest OUT.json [PST ...]     # default: every readable corpus file
    python -m tests.bench.mime_digest --compare A.json B.json

Each item's payload is hashed: MIME bytes for mail (multipart boundaries made deterministic per
item), `repr()` of typed payloads, plus its problems; associated (FAI) items and embedded messages
are included because `convert()` recurses into them. Run it before and after a change to the reader
or the converter and compare: any differing item is listed by file, folder and node id.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from pathlib import Path

import core.convert.mime as mime_module
from core.convert import ConversionError, ConvertContext, convert
from core.convert.payload import MimePayload
from core.pst import open_pst
from tests.need import CORPUS


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.*st") if not p.name.startswith(("BROKEN_", "NOTPST_")))


def digest_file(path: Path) -> dict[str, str]:
    """{"folder/path#nid[a]": sha256} for every item of `path` (ordinary and associated)."""
    out: dict[str, str] = {}
    try:
        pst_cm = open_pst(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is part of the digest too
        return {"<open>": f"error: {exc}"}
    with pst_cm as pst:
        ctx = ConvertContext.for_pst(pst, lazy=True)
        for folder in pst.folders():
            for assoc in (False, True):
                for item in pst.items(folder, associated=assoc):
                    key = f"{'/'.join(folder.path)}#{item.node_id}{'a' if assoc else ''}"
                    while key in out:
                        key += "+"
                    if not hasattr(item, "props"):
                        out[key] = f"unreadable: {item.reason}"
                        continue
                    counter = itertools.count(1)
                    mime_module._boundary = lambda c=counter: f"=_fixed_{next(c):x}"  # noqa: B023
                    try:
                        payload = convert(item, ctx)
                    except ConversionError as exc:
                        out[key] = f"error: {exc}"
                        continue
                    out[key] = payload_digest(payload)
    return out


def payload_digest(payload: object) -> str:
    """SHA-256 over what a conversion gives: the MIME and what travels beside it, or the typed payload."""
    h = hashlib.sha256()
    if isinstance(payload, MimePayload):
        h.update(payload.mime)
        h.update(repr((payload.extended, payload.is_read, payload.is_draft)).encode())
    else:
        h.update(repr(payload).encode())
    h.update(repr(payload.problems).encode())  # type: ignore[attr-defined]
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        bad = 0
        for name in sorted(set(a) | set(b)):
            da, db = a.get(name, {}), b.get(name, {})
            diff = [k for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)]
            total = len(set(da) | set(db))
            print(f"{name}: {total} items, {len(diff)} differ" + (f": {diff[:5]}" if diff else ""))
            bad += len(diff)
        return 1 if bad else 0
    files = args.files or corpus_files()
    result: dict[str, dict[str, str]] = {}
    for path in files:
        result[path.name] = digest_file(path)
        print(f"{path.name}: {len(result[path.name])} items", file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
