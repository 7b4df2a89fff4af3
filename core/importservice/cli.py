"""`pstimport importservice ...`: check a SAS, upload PSTs, list, write the mapping CSV and the
PowerShell scripts, clean up old uploads. `pstimport watch ...`: the drop folder.

The SAS URL is a secret, so it is never a command-line argument (command lines show up in
`ps` and shell history): it comes from an environment variable, a file, or a hidden prompt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path

from core.errors import EXIT_OK, EXIT_PARTIAL, UserError
from core.importservice.sas import NEEDS, SasUrl, check_sas, parse_sas, redact
from core.redact import register_secret

SAS_ENV_DEFAULT = "PSTIMPORT_SAS_URL"


def _warn(message: str) -> None:
    print(f"pstimport: warning: {redact(message)}", file=sys.stderr)


def _add_sas_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SAS URL (never given on the command line)")
    g.add_argument(
        "--sas-env",
        default=SAS_ENV_DEFAULT,
        metavar="VAR",
        help=f"environment variable holding the container SAS URL (default {SAS_ENV_DEFAULT})",
    )
    g.add_argument("--sas-file", type=Path, metavar="FILE", help="file whose first line is the SAS URL")  # fmt: skip


def read_sas(args: argparse.Namespace) -> SasUrl:
    """The SAS URL from --sas-file, the environment, or a hidden prompt, parsed.

    Raises:
        UserError: none given, or unreadable.
    """
    text = None
    if getattr(args, "sas_file", None):
        given = str(args.sas_file)
        if "sig=" in given.lower() or "://" in given or given.lower().startswith(("http:", "https:")):
            # The URL itself instead of a file holding it: never echo it (it is the secret).
            raise UserError(
                f"--sas-file takes a file whose first line is the SAS URL, not the URL itself "
                f"({redact(given)[:40]}...); put the URL in a file (chmod 600), or in ${args.sas_env}"
            )
        try:
            text = args.sas_file.read_text(encoding="utf-8").strip().splitlines()[0]
        except (OSError, IndexError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is empty"
            raise UserError(f"{redact(given)}: cannot read a SAS URL from it ({reason})") from None
    elif os.environ.get(args.sas_env):
        text = os.environ[args.sas_env]
    elif sys.stdin.isatty():
        text = getpass.getpass("Container SAS URL (input hidden): ")
    if not text:
        raise UserError(f"no SAS URL: set {args.sas_env}, use --sas-file FILE, or run in a terminal to be asked")
    sas = parse_sas(text)
    register_secret(sas.signature)  # masked verbatim in every log line and error from now on
    return sas


def _refuse_url_arguments(values: list[str]) -> None:
    for value in values:
        if "sig=" in value.lower() or value.lower().startswith(("http://", "https://")):
            raise UserError(f"{redact(value)[:60]}...: a SAS URL must not be given on the command line (it "
                            f"would show in ps and shell history); use {SAS_ENV_DEFAULT} or --sas-file")  # fmt: skip


def _checked(args: argparse.Namespace, ops: list[str], target: str = "container") -> SasUrl:
    sas = read_sas(args)
    for w in check_sas(sas, ops, target=target).warnings:
        _warn(w)
    return sas


# ----------------------------------------------------------------------------- commands


def cmd_check_sas(args: argparse.Namespace) -> int:
    ops = [op.strip() for op in args.needs.split(",") if op.strip()]
    bad = [op for op in ops if op not in NEEDS]
    if bad:
        raise UserError(f"--for {','.join(bad)}: choose from {', '.join(NEEDS)}")
    sas = _checked(args, ops, target=args.target)
    expiry = sas.expiry.strftime("%Y-%m-%d %H:%M UTC") if sas.expiry else "set by a stored access policy"
    print(f"SAS OK for {', '.join(ops)}: account {sas.account}, container {sas.container}"
          f"{', folder ' + sas.folder if sas.folder else ''}; permissions {sas.permissions or '(policy)'}; "
          f"expires {expiry}")  # fmt: skip
    return EXIT_OK


def cmd_upload(args: argparse.Namespace) -> int:
    from core.importservice.blobstore import (
        MIB,
        Container,
        Progress,
        RateLimiter,
        StorageAuthError,
        blob_name,
        find_psts,
    )

    _refuse_url_arguments([str(p) for p in args.paths])
    if args.threads < 1 or args.block_size_mib < 1:
        raise UserError("--threads and --block-size-mib must be at least 1")
    psts = find_psts(args.paths)
    sas = _checked(args, ["upload"])
    store = Container(sas)
    limiter = RateLimiter(args.max_mbps * 1_000_000 / 8, burst=args.block_size_mib * MIB) if args.max_mbps else None
    results, failures = [], []
    try:
        for pst, root in psts:
            name = blob_name(pst, root, sas.folder + (args.prefix or "").strip("/"))
            progress = Progress(pst.stat().st_size, name, enabled=not args.no_progress)
            try:
                r = store.upload(pst, name, block_size=args.block_size_mib * MIB, threads=args.threads,
                                 limiter=limiter, progress=progress)  # fmt: skip
            except StorageAuthError:
                raise  # every other file would fail the same way
            except UserError as exc:
                failures.append({"path": str(pst), "error": str(exc)})
                print(f"pstimport: {exc}", file=sys.stderr)
                continue
            results.append(r)
    finally:  # an interruption still records the files that completed
        if results:
            _write_manifest(args.manifest, sas, results)
    summary = {
        "container": f"{sas.account_url}/{sas.container}",
        "uploads": [r.__dict__ for r in results],
        "errors": failures,
        "manifest": str(args.manifest),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for r in results:
            state = "already there" if r.skipped else f"{r.blocks_sent} blocks sent, {r.blocks_reused} resumed"
            check = "MD5 verified" if r.verified else "not verified (no read permission)"
            print(f"{r.blob}: {r.size} bytes, {state}, {check}")
        print(f"{len(results)} uploaded, {len(failures)} failed; manifest {args.manifest}")
    return EXIT_PARTIAL if failures else EXIT_OK


def _write_manifest(path: Path, sas: SasUrl, results: list) -> None:
    """Record what was uploaded (no secret) so the mapping CSV uses exactly these names."""
    entries: dict[str, dict] = {}
    if path.exists():
        try:
            for e in json.loads(path.read_text(encoding="utf-8")).get("uploads", []):
                entries[e["path"]] = e
        except (ValueError, KeyError, TypeError, AttributeError):
            _warn(f"{path}: unreadable manifest replaced")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for r in results:
        key = str(Path(r.path).resolve())
        entries[key] = {"path": key, "blob": r.blob, "size": r.size, "md5": r.md5_hex,
                        "container": f"{sas.account_url}/{sas.container}", "uploaded": now}  # fmt: skip
    data = {"uploads": sorted(entries.values(), key=lambda e: e["blob"])}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def cmd_list(args: argparse.Namespace) -> int:
    from core.importservice.blobstore import Container

    sas = _checked(args, ["list"])
    entries = Container(sas).list(args.prefix or "")
    if args.json:
        print(json.dumps({"blobs": [{"name": e.name, "size": e.size, "last_modified": e.last_modified.isoformat(),
                                     "md5": e.md5_hex} for e in entries]}, indent=2))  # fmt: skip
    else:
        for e in entries:
            print(f"{e.last_modified:%Y-%m-%d %H:%M}  {e.size:>14,}  {e.name}")
        print(f"{len(entries)} blob(s), {sum(e.size for e in entries):,} bytes")
    return EXIT_OK


def cmd_cleanup(args: argparse.Namespace) -> int:
    from core.importservice.blobstore import Container, older_than

    if args.older_than < 0:
        raise UserError("--older-than must be zero or more days")
    sas = read_sas(args)
    # Checked before anything is listed, so a token without delete fails before any work.
    for w in check_sas(sas, ["cleanup"] if args.delete else ["list"]).warnings:
        _warn(w)
    store = Container(sas)
    doomed = older_than(store.list(args.prefix or ""), args.older_than, only_psts=not args.all_files)
    total = sum(e.size for e in doomed)
    if not args.delete:
        for e in doomed:
            print(f"would delete {e.name}  ({e.size:,} bytes, last modified {e.last_modified:%Y-%m-%d %H:%M} UTC)")
        print(f"dry run: {len(doomed)} blob(s), {total:,} bytes older than {args.older_than:g} days; "
              "add --delete to delete them")  # fmt: skip
        if sas.permissions is not None and "d" not in sas.permissions:
            _warn("this SAS has no delete permission (d): --delete would be refused")
        return EXIT_OK
    failed = 0
    for e in doomed:
        try:
            store.delete(e.name)
            print(f"deleted {e.name}")
        except UserError:
            raise
        except Exception as exc:  # one blob failing does not stop the clean-up
            failed += 1
            print(f"pstimport: {redact(exc)}", file=sys.stderr)
    print(f"deleted {len(doomed) - failed} blob(s), {failed} failed")
    return EXIT_PARTIAL if failed else EXIT_OK


def _jobs(args: argparse.Namespace):  # noqa: ANN202
    from core.importservice.mapping import Naming, jobs_for_paths, jobs_from_pairs, jobs_from_profile, load_manifest

    manifest = load_manifest(args.manifest) if args.manifest else None
    naming = Naming(relative_to=args.relative_to, prefix=args.prefix or "", manifest=manifest)
    jobs = []
    for profile in args.profile or []:
        jobs.extend(jobs_from_profile(profile, naming))
    defaults = {"store": args.store, "root": args.root, "folder": args.folder, "codepage": args.codepage}
    if args.pairs:
        jobs.extend(jobs_from_pairs(args.pairs, naming, defaults))
    if args.paths:
        if not args.mailbox:
            raise UserError("PST paths given without --mailbox")
        from core.importservice.blobstore import find_psts

        for pst, root in find_psts(args.paths):
            job_naming = naming if (manifest or args.relative_to or root is None) else Naming(root, naming.prefix)
            jobs.extend(
                jobs_for_paths([pst], args.mailbox, job_naming, store=args.store or "mailbox",
                               root=args.root or "pst-name", folder=args.folder, codepage=args.codepage)
            )  # fmt: skip
    if not jobs:
        raise UserError("nothing to map: give --profile, --pairs, or --mailbox with PST paths")
    return jobs


def _check_uploaded(args: argparse.Namespace, jobs: list) -> None:
    """Refuse a mapping whose names are not in the container exactly (the service is case-sensitive)."""
    from core.importservice.blobstore import Container

    names = {e.name for e in Container(_checked(args, ["list"])).list()}
    by_lower = {n.lower(): n for n in names}
    problems = []
    for job in jobs:
        if job.blob not in names:
            near = by_lower.get(job.blob.lower())
            problems.append(f"{job.blob!r} (the container has {near!r}: names are case-sensitive)" if near
                            else repr(job.blob))  # fmt: skip
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise UserError(f"not in the container: {', '.join(problems[:5])}{more}")


def cmd_mapping(args: argparse.Namespace) -> int:
    from core.importservice.mapping import write_mapping

    jobs = _jobs(args)
    if args.check_container:
        _check_uploaded(args, jobs)
    result = write_mapping(jobs, args.out, inspect_psts=not args.no_inspect)
    for w in result.warnings:
        _warn(w)
    for f in result.files:
        print(f"wrote {f}")
    return EXIT_OK


def cmd_scripts(args: argparse.Namespace) -> int:
    from core.importservice.mapping import write_mapping
    from core.importservice.scripts import ScriptOptions, online_script, onprem_script, onprem_statistics_script

    batch = args.batch or f"pstimport-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M}"
    options = ScriptOptions(batch_name=batch, bad_item_limit=args.bad_item_limit)
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    written = []
    jobs = _jobs(args)
    if args.target == "on-premises":
        if not args.unc:
            raise UserError("--unc \\\\server\\share is required for on-premises scripts")
        written.append(_save(out / "Import-PstRequests.ps1", onprem_script(jobs, args.unc, options)))
        written.append(_save(out / "Watch-PstRequests.ps1", onprem_statistics_script(options)))
    else:
        if not args.storage_host:
            raise UserError("--storage-host ACCOUNT.blob.core.windows.net is required for Exchange Online scripts")
        result = write_mapping(jobs, out / "mapping.csv", inspect_psts=False)
        for w in result.warnings:
            _warn(w)
        if len(result.files) > 1:
            raise UserError("more than 500 PSTs: split them into several batches (one script each)")
        written.extend(result.files)
        written.append(_save(out / "Start-AzurePstImport.ps1", online_script(
            options, storage_host=args.storage_host, mapping_file=result.files[0].name,
            endpoint_name=args.endpoint_name, notification=args.notify)))  # fmt: skip
    for f in written:
        print(f"wrote {f}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from core.importservice.plan import plan_for_profile
    from core.profile.io import load_profile

    profile = load_profile(args.profile, check_files=True)
    plan = plan_for_profile(
        profile, args.out_dir, storage_host=args.storage_host, prefix=args.prefix, notify=args.notify, batch=args.batch
    )
    for w in plan.warnings:
        _warn(w)
    print("\n".join(plan.summary_lines()))
    print(f"  the steps: {plan.readme}")
    return EXIT_OK


def _save(path: Path, text: str) -> Path:
    # UTF-8 with BOM: Windows PowerShell 5.1 reads BOM-less files as the ANSI code page.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    tmp.replace(path)
    return path


def cmd_watch(args: argparse.Namespace) -> int:
    """The drop folder loop: runs until SIGINT/SIGTERM (or one pass with --once)."""
    import signal
    import threading

    from core.importservice.mapping import load_profile
    from core.importservice.watch import EngineImporter, MailboxRule, UploadImporter, Watcher

    folder: Path = args.folder
    template = load_profile(args.profile)
    rule = MailboxRule(args.rule, args.pattern, args.mailbox_template)
    if args.mode == "engine":
        if not EngineImporter.available():
            raise UserError("the import engine is not available in this build yet; use --mode upload "
                            "(upload for the Import Service)")  # fmt: skip
        importer = EngineImporter(template)
        suffixes: tuple[str, ...] = (".pst", ".ost")
    else:
        sas = read_sas(args)
        dest = template.destination
        importer = UploadImporter(sas, args.mapping or folder / ".pstimport" / "mapping.csv", prefix=args.prefix,
                                  store=dest.store, root=dest.root, folder=dest.folder)  # fmt: skip
        suffixes = (".pst",)
    cancel = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        print(f"pstimport: signal {signum}: finishing the current file, then stopping", file=sys.stderr)
        cancel.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)

    def show(r) -> None:  # noqa: ANN001
        line = f"{r.relative}: {r.status}" + (f" ({r.reason})" if r.reason else "") + f" -> {r.moved_to}"
        print(redact(line), flush=True)

    w = Watcher(folder, rule, importer, state_path=args.state, settle=args.settle, suffixes=suffixes)
    try:
        print(f"watching {folder} ({args.mode} mode, rule {args.rule}); stop with Ctrl-C or SIGTERM", flush=True)
        if args.once:
            failed = 0
            for _ in range(2):  # stability needs two looks
                for r in w.scan(cancel):
                    show(r)
                    failed += r.status == "failed"
                if not cancel.is_set():
                    cancel.wait(max(args.settle, 0.5))
            return EXIT_PARTIAL if failed else EXIT_OK
        w.run(cancel, interval=args.interval, on_result=show)
    finally:
        w.close()
    return EXIT_OK


# ----------------------------------------------------------------------------- registration


def _add_job_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("which PSTs go where")
    g.add_argument(
        "--profile",
        type=Path,
        action="append",
        metavar="PROFILE.yaml",
        help="a profile: its mailbox, destination and sources (repeatable)",
    )
    g.add_argument(
        "--pairs", type=Path, metavar="CSV", help="a CSV with header path,mailbox[,store,root,folder,codepage]"
    )
    g.add_argument("--mailbox", help="the mailbox for the PST paths given")
    g.add_argument("paths", nargs="*", type=Path, metavar="PST", help="PST files or folders (with --mailbox)")
    g.add_argument("--store", choices=["mailbox", "archive"], help="import into the mailbox or its archive")
    g.add_argument(
        "--root",
        choices=["pst-name", "store-root", "folder"],
        help="under a folder named after the PST, merged into the top, or under --folder",
    )
    g.add_argument("--folder", help="with --root folder: the folder path, e.g. Imported/2016")
    g.add_argument("--codepage", help="code page of ANSI PSTs, e.g. cp932")
    g.add_argument(
        "--relative-to", type=Path, metavar="DIR", help="name blobs by their path relative to DIR (as `upload DIR` did)"
    )
    g.add_argument("--prefix", default="", help="the folder used at upload, including any folder in the SAS URL")
    g.add_argument("--manifest", type=Path, help="the upload manifest: use the exact uploaded names")  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `importservice` and `watch` to the pstimport CLI."""
    top = subparsers.add_parser(
        "importservice", help="Import Service mode: SAS check, upload, mapping CSV, scripts, clean-up",
        description="Upload PSTs to Azure Blob storage for Microsoft's PST Import Service or Azure PST Import, "
        "write the mapping CSV and the PowerShell scripts, and clean up old uploads. The SAS URL is read from "
        f"${SAS_ENV_DEFAULT}, --sas-file, or a hidden prompt, never from the command line.",
    )  # fmt: skip
    sub = top.add_subparsers(dest="importservice_command", metavar="COMMAND", required=True)

    p = sub.add_parser("check-sas", help="check a SAS URL before using it")
    _add_sas_options(p)
    p.add_argument("--for", dest="needs", default="upload", help=f"comma-separated: {', '.join(NEEDS)}")
    p.add_argument(
        "--target",
        choices=["container", "blob"],
        default="container",
        help="what the SAS URL points at: a container (the Import Service's, default) or one blob",
    )
    p.set_defaults(func=cmd_check_sas)

    p = sub.add_parser("upload", help="upload PSTs (resumable, parallel, MD5-checked)")
    _add_sas_options(p)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="PST files, or folders to upload whole")
    p.add_argument("--prefix", default="", help="folder in the container to upload under")
    p.add_argument("--threads", type=int, default=4, help="blocks uploaded in parallel (default 4)")
    p.add_argument("--block-size-mib", type=int, default=8, help="block size in MiB (default 8)")
    p.add_argument("--max-mbps", type=float, default=None, help="bandwidth cap in megabits per second")
    p.add_argument(
        "--manifest",
        type=Path,
        default=Path("pstimport-upload.json"),
        help="where to record the uploaded names (default pstimport-upload.json)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("list", help="list the blobs in the container")
    _add_sas_options(p)
    p.add_argument("--prefix", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("mapping", help="write the PST Import Service mapping CSV")
    _add_job_options(p)
    p.add_argument("--out", type=Path, required=True, help="the CSV to write (split at 500 rows)")
    p.add_argument("--no-inspect", action="store_true", help="do not open the PSTs to check folder depth")
    p.add_argument(
        "--check-container",
        action="store_true",
        help="list the container (SAS with list permission) and refuse names not uploaded exactly",
    )
    _add_sas_options(p)
    p.set_defaults(func=cmd_mapping)

    p = sub.add_parser("scripts", help="write the PowerShell scripts the admin runs")
    _add_job_options(p)
    p.add_argument("--target", choices=["exchange-online", "on-premises"], required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--unc", help="on-premises: the share holding the PSTs, \\\\server\\share")
    p.add_argument("--storage-host", help="Exchange Online: ACCOUNT.blob.core.windows.net")
    p.add_argument("--endpoint-name", default="pstimport-azure-pst")
    p.add_argument("--notify", help="Exchange Online: address for the batch reports")
    p.add_argument("--batch", help="batch name (default pstimport-DATE)")
    p.add_argument("--bad-item-limit", type=int, default=10)
    p.set_defaults(func=cmd_scripts)

    p = sub.add_parser(
        "plan",
        help="a profile's PSTs as a ready Exchange Online Import Service run (mapping, script, upload command)",
        description="Write the Import Service run for a profile: the same PSTs, mailbox (or archive) and folders. "
        "The way into an Exchange Online archive where EWS is not allowed (Graph cannot reach archives). Writes "
        "mapping.csv (IsArchive for an archive), Start-AzurePstImport.ps1, README.txt and plan.json, and prints "
        "the upload command to run first.",
    )
    p.add_argument("profile", type=Path, metavar="PROFILE.yaml")
    p.add_argument(
        "--storage-host", required=True, help="the storage account's blob host, ACCOUNT.blob.core.windows.net"
    )
    p.add_argument("--out-dir", type=Path, default=None, help="where to write (default: PROFILE-NAME-importservice/ "
                   "beside the profile)")  # fmt: skip
    p.add_argument("--prefix", default=None, help="container folder to upload into (default pstimport/PROFILE-NAME)")
    p.add_argument("--notify", help="address for the migration batch's reports")
    p.add_argument("--batch", help="migration batch name (default PROFILE-NAME-DATE)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("cleanup", help="delete uploaded PSTs older than N days (dry run unless --delete)")
    _add_sas_options(p)
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    p.add_argument("--prefix", default="")
    p.add_argument("--all-files", action="store_true", help="not only .pst/.ost blobs")
    p.add_argument("--delete", action="store_true", help="really delete (needs delete permission)")
    p.set_defaults(func=cmd_cleanup)

    p = subparsers.add_parser(
        "watch", help="drop folder: import PSTs users drop into a folder",
        description="Watch DIR for PST files. A file is taken once completely written, mapped to a mailbox by "
        "its sub-folder (alice@contoso.com/x.pst) or a file-name pattern, checked, imported (engine) or uploaded "
        "for the Import Service, then moved to done/ or failed/ with a .report.json. State is kept in SQLite, so "
        "a file is never imported twice and a restart is harmless.",
    )  # fmt: skip
    p.add_argument("folder", type=Path, metavar="DIR")
    p.add_argument(
        "--profile",
        type=Path,
        required=True,
        metavar="TEMPLATE.yaml",
        help="template profile: connection and destination (its mailbox and sources are replaced)",
    )
    p.add_argument(
        "--mode",
        choices=["engine", "upload"],
        default="engine",
        help="import with the engine, or upload for the Import Service (default engine)",
    )
    p.add_argument(
        "--rule",
        choices=["subfolder", "pattern"],
        default="subfolder",
        help="how a file finds its mailbox: the sub-folder it was dropped in (DIR/alice@contoso.com/x.pst, "
        "default), or --pattern on its file name",
    )
    p.add_argument("--pattern", help="regex on the file name with (?P<mailbox>...) or groups for the template")
    p.add_argument("--mailbox-template", help="e.g. {user}@contoso.com, filled from --pattern's groups")
    p.add_argument("--state", type=Path, help="state database (default DIR/.pstimport/watch.sqlite)")
    p.add_argument("--mapping", type=Path, help="upload mode: mapping CSV to maintain")
    p.add_argument("--prefix", default="dropfolder", help="upload mode: folder in the container")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between scans (default 10)")
    p.add_argument("--settle", type=float, default=30.0, help="seconds a file must stay unchanged (default 30)")
    p.add_argument("--once", action="store_true", help="process what is ready, then exit")
    _add_sas_options(p)
    p.set_defaults(func=cmd_watch)
