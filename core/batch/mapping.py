"""The batch mapping CSV: which PST goes into which mailbox, one row per PST.

Two layouts are accepted, told apart by the header:

- ours: `path,mailbox` and optional `archive` (true/false) or `store` (mailbox/archive),
  `root` (pst-name, store-root, folder), `folder` (with root folder) and `codepage`;
- the PST Import Service mapping file (`Workload,FilePath,Name,Mailbox,IsArchive,
  TargetRootFolder,ContentCodePage,...`, see `core.importservice.mapping`): the PST is
  `FilePath/Name` below the CSV's folder (or `--pst-dir`); TargetRootFolder empty means a
  folder "Imported" at the top (Microsoft's rule), `/` merges into the top, `/X` goes under X.

Header names ignore case, spaces and underscores. Blank lines and lines starting with `#` are
skipped. A `;`-separated file (Excel in many locales) is read as such. Every problem is one line,
`FILE:LINE:COLUMN: message`, raised as `MappingError` (exit 2) before anything is imported.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.importservice.mapping import HEADER as IMPORT_SERVICE_HEADER
from core.importservice.mapping import codepage_number

STORES = ("mailbox", "archive")
ROOTS = ("pst-name", "store-root", "folder")
IMPORT_SERVICE_DEFAULT_FOLDER = "Imported"
_ADDRESS_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}

OUR_COLUMNS = ("path", "mailbox", "archive", "store", "root", "folder", "codepage")
_IS_COLUMNS = tuple(h.lower() for h in IMPORT_SERVICE_HEADER)


class MappingError(UserError):
    """A bad mapping CSV; the message is `FILE:LINE:COLUMN: what is wrong`."""


@dataclass(frozen=True)
class BatchRow:
    """One PST into one mailbox (or its archive), as a CSV row says."""

    path: Path
    mailbox: str
    store: str = "mailbox"
    root: str = "pst-name"
    folder: str | None = None
    codepage: str | None = None
    line: int = 0

    @property
    def unit_key(self) -> tuple[str, str, str, str]:
        """Rows with the same key import in one engine run (one profile: mailbox, store, root)."""
        return (self.mailbox.lower(), self.store, self.root, (self.folder or "").strip("/").casefold())


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "", (name or "").strip().lower())


def _sniff_delimiter(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _codepage(value: str, where: str) -> str | None:
    if not value:
        return None
    try:
        return "cp" + codepage_number(value, where)
    except UserError as exc:
        raise MappingError(str(exc)) from None


def load_mapping(csv_path: str | Path, pst_dir: str | Path | None = None) -> list[BatchRow]:
    """Read and check a mapping CSV.

    Args:
        csv_path: the CSV file.
        pst_dir: the folder relative PST paths (and the Import Service's FilePath/Name) are
            under; default the CSV's own folder.

    Raises:
        MappingError: the first problem, as `FILE:LINE:COLUMN: message`.
    """
    csv_path = Path(csv_path)
    name = str(csv_path)
    base = Path(pst_dir) if pst_dir is not None else csv_path.parent
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{name}: cannot read the mapping CSV: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MappingError(f"{name}:{line}:1: not UTF-8 text; save the CSV as UTF-8") from None
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        raise MappingError(f"{name}:1:1: the mapping CSV is empty: it needs a header, e.g. path,mailbox")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first), strict=True)

    header: list[str] | None = None
    header_line = 0
    rows: list[BatchRow] = []
    seen: dict[tuple, int] = {}
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise MappingError(f"{name}:{start}:1: not valid CSV: {exc}") from None
        end = reader.line_num
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header, header_line = _check_header(cells, name, start), start
            continue
        if len(cells) > len(header):
            raise MappingError(
                f"{name}:{start}:{len(header) + 1}: {len(cells)} fields but the header (line {header_line}) "
                f"has {len(header)}; quote values that contain the delimiter"
            )
        row = _parse_row(dict(zip(header, (c.strip() for c in cells), strict=False)), header, name, start, base)
        key = (str(row.path.resolve()), *row.unit_key)
        if key in seen:
            raise MappingError(
                f"{name}:{start}:1: {row.path.name} into {row.mailbox} ({row.store}) is already on line {seen[key]}"
            )
        seen[key] = start
        rows.append(row)
    if header is None or not rows:
        raise MappingError(f"{name}:{max(end, 1)}:1: no rows below the header: nothing to import")
    return rows


def _check_header(cells: list[str], name: str, line: int) -> list[str]:
    cols = [_norm(c) for c in cells]
    import_service = {"name", "mailbox"} <= set(cols) and "path" not in cols
    known = _IS_COLUMNS if import_service else OUR_COLUMNS
    for i, col in enumerate(cols, 1):
        if not col:
            raise MappingError(f"{name}:{line}:{i}: empty column name in the header")
        if col not in known:
            close = difflib.get_close_matches(col, [*OUR_COLUMNS, *_IS_COLUMNS], n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise MappingError(
                f"{name}:{line}:{i}: unknown column {cells[i - 1].strip()!r}{hint}; the columns are "
                f"{', '.join(OUR_COLUMNS)}, or the PST Import Service mapping file's"
            )
        if cols.index(col) != i - 1:
            raise MappingError(f"{name}:{line}:{i}: column {cells[i - 1].strip()!r} appears twice")
    need = ("name", "mailbox") if import_service else ("path", "mailbox")
    for col in need:
        if col not in cols:
            raise MappingError(
                f"{name}:{line}:1: the header has no {col} column; the first line must name the columns, "
                "e.g. path,mailbox,archive,root"
            )
    if "archive" in cols and "store" in cols:
        raise MappingError(f"{name}:{line}:{cols.index('store') + 1}: give archive or store, not both")
    return cols


def _parse_row(row: dict[str, str], header: list[str], name: str, line: int, base: Path) -> BatchRow:
    def where(col: str) -> str:
        return f"{name}:{line}:{header.index(col) + 1 if col in header else 1}"

    def fail(col: str, message: str) -> MappingError:
        return MappingError(f"{where(col)}: {message}")

    import_service = "name" in header and "path" not in header
    mailbox = row.get("mailbox", "")
    if not mailbox:
        raise fail("mailbox", "no mailbox given")
    if not _ADDRESS_RE.match(mailbox):
        raise fail("mailbox", f"mailbox {mailbox!r} is not an email address")

    folder: str | None = None
    if import_service:
        workload = row.get("workload", "")
        if workload and workload.lower() != "exchange":
            raise fail("workload", f"workload {workload!r}: only Exchange rows can be imported")
        if not row.get("name"):
            raise fail("name", "no PST file name given")
        rel = Path(row.get("filepath", "").strip("/")) / row["name"]
        col = "name"
        archive = row.get("isarchive", "")
        is_archive = _bool(archive, lambda: fail("isarchive", f"IsArchive must be TRUE or FALSE, not {archive!r}"))
        target = row.get("targetrootfolder", "")
        if target == "/":
            root = "store-root"
        elif not target:
            root, folder = "folder", IMPORT_SERVICE_DEFAULT_FOLDER
        else:
            root, folder = "folder", target.strip("/")
        codepage = _codepage(row.get("contentcodepage", ""), where("contentcodepage"))
    else:
        if not row.get("path"):
            raise fail("path", "no PST path given")
        rel = Path(row["path"]).expanduser()
        col = "path"
        if "store" in header:
            store_text = row.get("store", "").lower() or "mailbox"
            if store_text not in STORES:
                raise fail("store", f"store must be mailbox or archive, not {row['store']!r}")
            is_archive = store_text == "archive"
        else:
            value = row.get("archive", "")
            is_archive = _bool(value, lambda: fail("archive", f"archive must be true or false, not {value!r}"))
        root = (row.get("root", "") or "pst-name").lower()
        if root not in ROOTS:
            close = difflib.get_close_matches(root, ROOTS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise fail("root", f"root must be one of {', '.join(ROOTS)}, not {row['root']!r}{hint}")
        folder = row.get("folder", "").strip("/") or None
        if root == "folder" and not folder:
            raise fail("folder" if "folder" in header else "root", "root is folder but no folder is given")
        if root != "folder" and folder:
            raise fail("folder", f"a folder is given but root is {root}; set root to folder")
        codepage = _codepage(row.get("codepage", ""), where("codepage"))
    path = rel if rel.is_absolute() else base / rel
    if not path.exists():
        raise fail(col, f"no such file: {path}")
    if not path.is_file():
        raise fail(col, f"not a file: {path}")
    if path.suffix.lower() not in (".pst", ".ost"):
        raise fail(col, f"{path.name}: not a .pst or .ost file")
    return BatchRow(
        path=path.absolute(),
        mailbox=mailbox,
        store="archive" if is_archive else "mailbox",
        root=root,
        folder=folder,
        codepage=codepage,
        line=line,
    )


def _bool(value: str, error) -> bool:  # noqa: ANN001 - a callable making the error
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise error()
