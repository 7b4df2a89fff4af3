"""PST census: what `pstimport scan` reports (the `scan --json` contract of DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from core.errors import PstError
from core.pst.header import is_pst_signature
from core.pst.reader import open_pst

# Names that say "Outlook data file" even when the content is not one.
PST_SUFFIXES = (".pst", ".ost")


def find_psts(directory: str, named_too: bool = False) -> Iterator[str]:
    """PST/OST files under `directory`, recursively, recognised by signature (not extension).

    With `named_too`, files named *.pst / *.ost that lack the signature come too (scan reports
    them as not PSTs, rather than pass over them in silence)."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not os.path.isfile(path):
                continue
            if is_pst_signature(path) or (named_too and name.lower().endswith(PST_SUFFIXES)):
                yield path


def expand(paths: Iterable[str]) -> Iterator[str]:
    """Arguments to files: a directory is searched (its *.pst/*.ost files without the signature
    included, to be reported); a file is taken as given."""
    for path in paths:
        if os.path.isdir(path):
            yield from find_psts(path, named_too=True)
        else:
            yield path


def census(path: str, codepage: str | None = None) -> dict[str, Any]:
    """One file's census. Raises PstError when the file cannot be read as a whole."""
    with open_pst(path, codepage=codepage) as pst:
        info = pst.info
        folders = [
            {
                "path": list(f.path),
                "items": f.item_count,
                "container_class": f.container_class,
                "role": f.role,
            }
            for f in pst.folders()
        ]
        # What the reader found damaged and read past, and what it could not even count.
        warnings = list(dict.fromkeys(pst.notes + pst.losses))
    return {
        "path": path,
        "ok": True,
        "kind": info.kind,
        "format": info.format,
        "encryption": info.encryption,
        "password_protected": info.password_protected,
        "display_name": info.display_name,
        "total_items": sum(f["items"] for f in folders),
        "folders": folders,
        "warnings": warnings,
    }


def scan(paths: Iterable[str], codepage: str | None = None) -> dict[str, Any]:
    """The census of every file named or found; unreadable files go in `errors`."""
    files: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for path in expand(paths):
        try:
            files.append(census(path, codepage))
        except PstError as exc:
            errors.append({"path": path, "error": exc.reason})
    return {"files": files, "errors": errors}
