"""The PST Import Service mapping CSV, and the import jobs it (and the scripts) are built from.

The format is Microsoft's ("Use network upload to import your organization's PST files
to Microsoft 365", Step 4, learn.microsoft.com/purview/use-network-upload-to-import-pst-files):

- `FilePath` is the folder in the container the PST was uploaded to (empty for the
  container's top), `Name` the PST's file name. Both are case-sensitive, so they are
  taken from the exact blob name we uploaded.
- `TargetRootFolder`: empty imports into a new folder "Imported"; `/` merges the PST's
  folders into the top of the mailbox (Inbox into Inbox); `/Name` imports under Name.
- `IsArchive`: TRUE imports into the user's archive mailbox.
- At most 500 rows per mapping file; Microsoft also advises PSTs of at most 20 GB and
  refuses folder trees deeper than 300 levels.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.errors import UserError
from core.importservice.blobstore import blob_name

log = logging.getLogger(__name__)

HEADER = (
    "Workload", "FilePath", "Name", "Mailbox", "IsArchive", "TargetRootFolder", "ContentCodePage",
    "SPFileContainer", "SPManifestContainer", "SPSiteUrl",
)  # fmt: skip
WORKLOAD_EXCHANGE = "Exchange"
MAX_ROWS = 500
LARGE_PST_BYTES = 20 * 1024**3
MAX_FOLDER_DEPTH = 300

STORES = ("mailbox", "archive")
ROOTS = ("pst-name", "store-root", "folder")
_ADDRESS_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


@dataclass(frozen=True)
class ImportJob:
    """One PST going into one mailbox (or its archive).

    `blob` is the PST's name in the container exactly as uploaded, folder included.
    """

    mailbox: str
    blob: str
    local_path: Path | None = None
    store: str = "mailbox"
    root: str = "pst-name"
    folder: str | None = None
    codepage: str | None = None
    size: int | None = None

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.blob).name

    @property
    def file_folder(self) -> str:
        parent = str(PurePosixPath(self.blob).parent)
        return "" if parent == "." else parent

    @property
    def pst_stem(self) -> str:
        name = self.file_name
        return name[: -len(PurePosixPath(name).suffix)] if PurePosixPath(name).suffix else name

    @property
    def is_archive(self) -> bool:
        return self.store == "archive"

    def target_folder(self) -> str | None:
        """The destination folder path below the store's top: None to merge into the top."""
        if self.root == "store-root":
            return None
        if self.root == "folder":
            return (self.folder or "").strip("/")
        return self.pst_stem


def validate_job(job: ImportJob, where: str) -> None:
    """Refuse a job the import cannot run, with one line naming `where` (a row, a profile).

    Raises:
        UserError
    """
    if not _ADDRESS_RE.match(job.mailbox or ""):
        raise UserError(f"{where}: mailbox {job.mailbox!r} is not an email address")
    if job.store not in STORES:
        raise UserError(f"{where}: store must be mailbox or archive, not {job.store!r}")
    if job.root not in ROOTS:
        raise UserError(f"{where}: root must be one of {', '.join(ROOTS)}, not {job.root!r}")
    if job.root == "folder" and not (job.folder or "").strip("/"):
        raise UserError(f"{where}: root is folder but no folder is given")
    if not job.file_name.lower().endswith(".pst"):
        raise UserError(f"{where}: {job.file_name!r}: the Import Service only imports .pst files")
    if job.codepage is not None:
        codepage_number(job.codepage, where)


def codepage_number(codepage: str | int | None, where: str = "codepage") -> str:
    """The Windows code page number the CSV wants ("932") from cp932, windows-1252, 1252 or None ('')."""
    if codepage is None or codepage == "":
        return ""
    text = str(codepage).strip().lower()
    m = re.fullmatch(r"(?:cp|windows-?|ms)?(\d{3,5})", text)
    if m:
        return m.group(1)
    aliases = {"shift_jis": "932", "sjis": "932", "gbk": "936", "gb2312": "936", "big5": "950",
               "euc-kr": "949", "latin-1": "1252", "latin1": "1252"}  # fmt: skip
    if text in aliases:
        return aliases[text]
    raise UserError(f"{where}: code page {codepage!r} is not a Windows code page (e.g. cp1252, cp932)")


def target_root_folder(job: ImportJob) -> str:
    """The CSV's TargetRootFolder: '/' merges into the top, '/X' imports under folder X."""
    folder = job.target_folder()
    return "/" if folder is None else "/" + folder


def mapping_rows(jobs: Sequence[ImportJob]) -> list[dict[str, str]]:
    """The CSV rows for `jobs`, in order; names exactly as uploaded."""
    rows = []
    for job in jobs:
        rows.append(
            {
                "Workload": WORKLOAD_EXCHANGE,
                "FilePath": job.file_folder,
                "Name": job.file_name,
                "Mailbox": job.mailbox,
                "IsArchive": "TRUE" if job.is_archive else "FALSE",
                "TargetRootFolder": target_root_folder(job),
                "ContentCodePage": codepage_number(job.codepage),
                "SPFileContainer": "",
                "SPManifestContainer": "",
                "SPSiteUrl": "",
            }
        )
    return rows


def render_csv(rows: Sequence[dict[str, str]]) -> str:
    """CSV text with the exact header, CRLF line ends (the admin opens it on Windows)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _max_depth(path: Path) -> int | None:
    """The deepest folder level in the PST, or None when it cannot be read."""
    try:
        from core.pst import open_pst
    except ImportError:  # the reader is not built yet
        return None
    try:
        with open_pst(path) as pst:
            return max((len(f.path) for f in pst.folders()), default=0)
    except Exception as exc:  # a bad PST is the import's problem; here it only loses a warning
        log.info("%s: folder depth unknown: %s", path, exc)
        return None


def check_jobs(jobs: Sequence[ImportJob], *, inspect_psts: bool = True) -> list[str]:
    """Warnings about jobs the Import Service may reject or struggle with (size, depth, duplicates)."""
    warnings: list[str] = []
    seen: dict[tuple[str, str, bool], int] = {}
    for n, job in enumerate(jobs, 1):
        key = (job.blob, job.mailbox.lower(), job.is_archive)
        if key in seen:
            warnings.append(f"{job.blob}: listed twice for {job.mailbox} (rows {seen[key]} and {n})")
        seen.setdefault(key, n)
        size = job.size
        if size is None and job.local_path is not None and job.local_path.exists():
            size = job.local_path.stat().st_size
        if size is not None and size > LARGE_PST_BYTES:
            warnings.append(f"{job.blob}: {size / 1024**3:.1f} GB is over the 20 GB Microsoft advises per PST "
                            "for the Import Service; consider splitting it")  # fmt: skip
        if inspect_psts and job.local_path is not None and job.local_path.exists():
            depth = _max_depth(job.local_path)
            if depth is not None and depth > MAX_FOLDER_DEPTH:
                warnings.append(f"{job.blob}: folder tree is {depth} levels deep; the Import Service "
                                f"refuses PSTs deeper than {MAX_FOLDER_DEPTH} levels")  # fmt: skip
    return warnings


@dataclass
class MappingOutput:
    """Files written and warnings raised by `write_mapping`."""

    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_mapping(jobs: Sequence[ImportJob], out: Path, *, inspect_psts: bool = True) -> MappingOutput:
    """Write the mapping CSV(s) for `jobs` to `out`, split into files of at most 500 rows.

    One file is written as `out`; more are written as `out`'s stem with -001, -002... .

    Raises:
        UserError: no jobs, or a job the Import Service cannot run (see `validate_job`).
    """
    if not jobs:
        raise UserError("no PSTs to map")
    for n, job in enumerate(jobs, 1):
        validate_job(job, f"{job.local_path or job.blob} (row {n})")
    result = MappingOutput(warnings=check_jobs(jobs, inspect_psts=inspect_psts))
    rows = mapping_rows(jobs)
    chunks = [rows[i : i + MAX_ROWS] for i in range(0, len(rows), MAX_ROWS)]
    out.parent.mkdir(parents=True, exist_ok=True)
    for i, chunk in enumerate(chunks, 1):
        target = out if len(chunks) == 1 else out.with_name(f"{out.stem}-{i:03d}{out.suffix or '.csv'}")
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(render_csv(chunk), encoding="utf-8", newline="")
        tmp.replace(target)
        result.files.append(target)
    if len(chunks) > 1:
        result.warnings.append(f"{len(rows)} rows: split into {len(chunks)} files of at most {MAX_ROWS} rows "
                               "(one import job each)")  # fmt: skip
    return result


# ----------------------------------------------------------------------------- building jobs


def load_manifest(path: Path) -> dict[str, dict]:
    """The upload manifest (written by `importservice upload`): resolved local path -> entry."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(Path(e["path"]).resolve()): e for e in data["uploads"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a pstimport upload manifest ({exc})") from None


@dataclass(frozen=True)
class Naming:
    """How local PST paths become blob names: the manifest's exact names, else `blob_name()`."""

    relative_to: Path | None = None
    prefix: str = ""
    manifest: dict[str, dict] | None = None

    def name(self, path: Path) -> tuple[str, int | None]:
        if self.manifest is not None:
            entry = self.manifest.get(str(path.resolve()))
            if entry is None:
                raise UserError(f"{path}: not in the upload manifest; upload it first")
            return entry["blob"], entry.get("size")
        root = self.relative_to
        if root is not None:
            try:
                path.resolve().relative_to(root.resolve())
            except ValueError:
                raise UserError(f"{path}: not under {root}") from None
            return blob_name(path.resolve(), root.resolve(), self.prefix), None
        return blob_name(path, None, self.prefix), None


def jobs_from_pairs(csv_path: Path, naming: Naming, defaults: dict[str, str | None]) -> list[ImportJob]:
    """Jobs from a simple CSV: header `path,mailbox` and optional `store,root,folder,codepage`."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"{csv_path}: cannot read: {exc.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "path" not in fields or "mailbox" not in fields:
        raise UserError(f"{csv_path}: the first line must be a header with at least path,mailbox")
    jobs = []
    for n, raw in enumerate(reader, 2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not row.get("path"):
            continue
        path = Path(row["path"])
        if not path.is_absolute():
            path = csv_path.parent / path
        name, size = naming.name(path)
        job = ImportJob(
            mailbox=row["mailbox"],
            blob=name,
            local_path=path,
            store=row.get("store") or defaults.get("store") or "mailbox",
            root=row.get("root") or defaults.get("root") or "pst-name",
            folder=row.get("folder") or defaults.get("folder"),
            codepage=row.get("codepage") or defaults.get("codepage"),
            size=size,
        )
        validate_job(job, f"{csv_path}:{n}")
        jobs.append(job)
    return jobs


def jobs_from_profile(profile_path: Path, naming: Naming) -> list[ImportJob]:
    """Jobs for every source of a profile: its mailbox, destination store and root."""
    profile = load_profile(profile_path)
    jobs = []
    for src in profile.sources:
        path = Path(src.path)
        if not path.is_absolute():
            path = profile_path.parent / path
        name, size = naming.name(path)
        job = ImportJob(
            mailbox=profile.mailbox,
            blob=name,
            local_path=path,
            store=profile.destination.store,
            root=profile.destination.root,
            folder=profile.destination.folder,
            codepage=src.codepage,
            size=size,
        )
        validate_job(job, f"{profile_path}: source {src.path}")
        jobs.append(job)
    return jobs


def load_profile(path: Path):  # noqa: ANN201 - core.profile.model.Profile, imported lazily
    """Load and check a version-1 profile with the profile package's loader.

    Raises:
        ProfileError: the profile is invalid (the message names the file, key and line).
    """
    from core.profile.io import load_profile as profile_loader

    return profile_loader(path, check_files=False)


def jobs_for_paths(
    paths: Iterable[Path], mailbox: str, naming: Naming, *, store: str, root: str,
    folder: str | None, codepage: str | None,
) -> list[ImportJob]:  # fmt: skip
    """Jobs for PSTs given on the command line, all into one mailbox."""
    jobs = []
    for path in paths:
        name, size = naming.name(path)
        job = ImportJob(mailbox, name, path, store, root, folder, codepage, size)
        validate_job(job, str(path))
        jobs.append(job)
    return jobs
