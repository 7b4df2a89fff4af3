"""A profile's PSTs through the Import Service: the route to an Exchange Online archive once EWS is not
allowed (Graph cannot reach archives; core.online explains the routes).

`plan_for_profile(profile, out_dir, storage_host=...)` turns the profile a technician already has
(its mailbox, destination store, root folder and PSTs) into a ready Import Service run in one folder:

- `mapping.csv`: Microsoft's mapping file, one row per PST, `IsArchive` TRUE for an archive, the
  profile's root as `TargetRootFolder`, the ANSI code page where the profile gives one;
- `Start-AzurePstImport.ps1`: the Exchange Online script (analysis first, then `-Start`);
- `README.txt` and `plan.json`: the steps, starting with the exact upload command, whose blob names
  are the ones the mapping lists (`blob_name` with the plan's prefix, as `importservice upload` names
  files given one by one).

What the Import Service cannot do is said, not dropped silently: it imports whole PSTs (a profile's
folder selection and filters are not applied), and only .pst files (an .ost is refused here).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.importservice.blobstore import blob_name
from core.importservice.mapping import ImportJob, check_jobs, validate_job, write_mapping
from core.importservice.scripts import ScriptOptions, online_script
from core.profile.model import ITEM_TYPES, Profile

MAPPING_FILE = "mapping.csv"
SCRIPT_FILE = "Start-AzurePstImport.ps1"
README_FILE = "README.txt"
PLAN_FILE = "plan.json"
MANIFEST_FILE = "pstimport-upload.json"
ENDPOINT_NAME = "pstimport-azure-pst"
_HOST = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass
class ImportServicePlan:
    """What `plan_for_profile` wrote, and the commands that run it."""

    directory: Path
    mapping: Path
    script: Path
    readme: Path
    plan_file: Path
    upload_command: str
    remap_command: str
    jobs: list[ImportJob] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """The plan in a few lines: what was written and the first command to run."""
        archive = sum(j.is_archive for j in self.jobs)
        where = f"{self.jobs[0].mailbox}'s archive" if archive else self.jobs[0].mailbox
        return [
            f"Import Service run for {len(self.jobs)} PST(s) into {where}, in {self.directory}:",
            f"  {self.mapping.name} (IsArchive {'TRUE' if archive else 'FALSE'}), {self.script.name}, "
            f"{self.readme.name}",
            f"  1. upload: {self.upload_command}",
            f"  2. in Exchange Online PowerShell: .\\{self.script.name} (analysis), then .\\{self.script.name} -Start",
        ]


def check_storage_host(host: str) -> str | None:
    """Why `host` is not a storage account's blob host, or None when it is one."""
    h = host.strip()
    if not h:
        return "give the storage account's blob host, e.g. contoso.blob.core.windows.net"
    if "://" in h or not _HOST.match(h):
        return f"storage host {host!r}: give the account's blob host, e.g. contoso.blob.core.windows.net"
    return None


def default_prefix(profile: Profile) -> str:
    """The container folder a profile's PSTs are uploaded to: pstimport/<profile name>."""
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", profile.name).strip() or "pst"
    return f"pstimport/{name}"


def default_directory(profile: Profile) -> Path:
    """Where the plan goes by default: beside the profile, `<name>-importservice`."""
    return profile.base_dir / f"{profile.name}-importservice"


def _batch_name(profile: Profile, when: dt.datetime) -> str:
    stem = re.sub(r"[^A-Za-z0-9._ -]", "-", profile.name).strip("- ")[:40] or "pstimport"
    return f"{stem}-{when:%Y%m%d-%H%M}"


def jobs_for_profile(profile: Profile, prefix: str) -> list[ImportJob]:
    """One Import Service job per source: the profile's mailbox, store, root and folder, and the blob
    name `importservice upload --prefix PREFIX` gives the file.

    Raises:
        UserError: a source the Import Service cannot take (not a .pst, a bad code page...).
    """
    jobs = []
    for i, src in enumerate(profile.sources):
        path = profile.resolve_path(src.path)
        job = ImportJob(
            mailbox=profile.mailbox,
            blob=blob_name(path, None, prefix),
            local_path=path,
            store=profile.destination.store,
            root=profile.destination.root,
            folder=profile.destination.folder,
            codepage=src.codepage,
            size=path.stat().st_size if path.is_file() else None,
        )
        validate_job(job, f"sources[{i}] {src.path}")
        jobs.append(job)
    names = [j.blob for j in jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(
            f"two sources share the file name {dupes[0]!r}: the Import Service names blobs by file name; "
            "rename one, or upload them with `pstimport importservice upload DIR` and map with --manifest"
        )
    return jobs


def _limits(profile: Profile) -> list[str]:
    """What the profile asks that the Import Service does not do."""
    out = []
    for i, src in enumerate(profile.sources):
        if src.include or src.exclude:
            out.append(
                f"sources[{i}] ({Path(src.path).name}) selects folders (include/exclude): the Import Service "
                "imports whole PSTs, so every folder of it is imported"
            )
    f = profile.filters
    if set(f.item_types) != set(ITEM_TYPES) or f.after is not None or f.before is not None:
        out.append(
            "filters (item types, dates) are not applied by the Import Service: every item of the PSTs is imported"
        )
    return out


def _q(value: str | Path) -> str:
    return shlex.quote(str(value))


def plan_for_profile(
    profile: Profile,
    out_dir: Path | None = None,
    *,
    storage_host: str,
    prefix: str | None = None,
    notify: str | None = None,
    batch: str | None = None,
    generated: dt.datetime | None = None,
) -> ImportServicePlan:
    """Write the Import Service run for `profile` into `out_dir` (default: beside the profile).

    Args:
        storage_host: the storage account's blob host the PSTs go to, e.g. contoso.blob.core.windows.net.
        prefix: the container folder for the upload (default pstimport/<profile name>).
        notify: an address for the migration batch's reports.
        batch: the migration batch's name (default <profile name>-<date>).
        generated: the time stamped into the files (tests).

    Raises:
        UserError: an on-premises profile (it has EWS), a source the service cannot take, a bad host.
    """
    if profile.connection.target != "exchange-online":
        raise UserError(
            "the Import Service plan is for Exchange Online; on-premises Exchange keeps EWS (or see "
            "`pstimport importservice scripts --target on-premises` for New-MailboxImportRequest)"
        )
    host = storage_host.strip()
    problem = check_storage_host(host)
    if problem:
        raise UserError(problem)
    when = generated or dt.datetime.now(dt.UTC)
    prefix = (prefix if prefix is not None else default_prefix(profile)).strip("/")
    directory = (out_dir or default_directory(profile)).absolute()
    jobs = jobs_for_profile(profile, prefix)
    warnings = _limits(profile) + check_jobs(jobs, inspect_psts=False)
    directory.mkdir(parents=True, exist_ok=True)
    written = write_mapping(jobs, directory / MAPPING_FILE, inspect_psts=False)
    if len(written.files) > 1:
        raise UserError("more than 500 PSTs: split the profile (one Import Service batch takes 500)")
    options = ScriptOptions(batch_name=batch or _batch_name(profile, when), generated=when)
    script_text = online_script(
        options, storage_host=host, mapping_file=MAPPING_FILE, endpoint_name=ENDPOINT_NAME, notification=notify
    )
    script = directory / SCRIPT_FILE
    tmp = script.with_name(script.name + ".tmp")
    tmp.write_bytes(b"\xef\xbb\xbf" + script_text.encode("utf-8"))  # Windows PowerShell 5.1 reads BOM-less as ANSI
    tmp.replace(script)
    manifest = directory / MANIFEST_FILE
    upload = (
        "pstimport importservice upload "
        + " ".join(_q(j.local_path) for j in jobs)
        + f" --prefix {_q(prefix)} --manifest {_q(manifest)}"
    )
    profile_arg = _q(profile.path) if profile.path is not None else "PROFILE.yaml"
    remap = (
        f"pstimport importservice mapping --profile {profile_arg} --manifest {_q(manifest)} "
        f"--out {_q(directory / MAPPING_FILE)}"
    )
    readme = directory / README_FILE
    plan = ImportServicePlan(directory, directory / MAPPING_FILE, script, readme, directory / PLAN_FILE,
                             upload, remap, jobs, warnings)  # fmt: skip
    readme.write_text(_readme(profile, plan, host), encoding="utf-8")
    plan.plan_file.write_text(
        json.dumps(
            {
                "profile": str(profile.path) if profile.path else profile.name,
                "mailbox": profile.mailbox,
                "store": profile.destination.store,
                "storage_host": host,
                "prefix": prefix,
                "batch": options.batch_name,
                "mapping": str(plan.mapping),
                "script": str(script),
                "upload_command": upload,
                "remap_command": remap,
                "psts": [
                    {
                        "path": str(j.local_path),
                        "blob": j.blob,
                        "is_archive": j.is_archive,
                        "target_root_folder": j.target_folder(),
                    }
                    for j in jobs
                ],  # fmt: skip
                "warnings": warnings,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return plan


def _readme(profile: Profile, plan: ImportServicePlan, host: str) -> str:
    store = "archive" if profile.destination.store == "archive" else "mailbox"
    lines = [
        f"Import Service run for profile {profile.name!r}: {len(plan.jobs)} PST(s) into the {store} of "
        f"{profile.mailbox}.",
        "",
        "Why this route: Microsoft Graph cannot reach archive mailboxes, and Exchange Online allows EWS only",
        "for apps on the tenant's EWSAllowedAppIDs list, and for no app from 2027-04-01. The Import Service",
        "(Azure PST Import) takes the same PSTs from your own Azure Blob storage.",
        "",
        "1. Upload the PSTs (the SAS URL of the container on " + host + ", with write, create and list",
        "   permission, comes from $PSTIMPORT_SAS_URL or a hidden prompt, never the command line):",
        "",
        "   " + plan.upload_command,
        "",
        f"   The mapping file ({plan.mapping.name}) names them as this command uploads them. If your SAS URL",
        "   points into a folder of the container, write the mapping again from what was uploaded:",
        "",
        "   " + plan.remap_command,
        "",
        f"2. In Exchange Online PowerShell (Connect-ExchangeOnline), beside {plan.mapping.name}:",
        "",
        f"   .\\{plan.script.name}            # analysis only: checks every PST and mailbox",
        f"   .\\{plan.script.name} -Start     # then the import",
        "",
        "   The script's header says which roles it needs and how to follow the batch.",
        "",
        "Where the folders go: "
        + {
            "pst-name": "under a folder named after each PST (TargetRootFolder /<PST name>).",
            "store-root": "merged into the top of the store, the PST's Inbox into the Inbox (TargetRootFolder /).",
            "folder": f"under {profile.destination.folder!r} (TargetRootFolder /{profile.destination.folder}).",
        }[profile.destination.root],
    ]
    if plan.warnings:
        lines += ["", "Note:"] + [f"- {w}" for w in plan.warnings]
    return "\r\n".join(lines) + "\r\n"
