"""A profile as a ready Import Service run: the same PSTs, mailbox (archive) and folders; the upload
command it prints puts the PSTs exactly where the mapping says (checked against Azurite)."""

from __future__ import annotations

import csv
import io
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import run
from core.errors import UserError
from core.importservice.plan import plan_for_profile
from core.profile import Profile, load_profile, save_profile
from core.sandbox.pstwriter.content import generate

REPO = Path(__file__).resolve().parents[2]
HOST = "contosopst.blob.core.windows.net"


def _archive_profile(tmp_path: Path, *, root: str = "store-root", include: bool = True) -> Path:
    """An Exchange Online archive profile over Graph (the default), two PSTs from the writer."""
    psts = tmp_path / "psts"
    psts.mkdir()
    a, b = psts / "Lee 2009-2014.pst", psts / "lee OLD.pst"
    generate(str(a), seed=1, mode="scale", items=5, mix="small")
    generate(str(b), seed=2, mode="scale", items=3, mix="small")
    prof = Profile.new(
        name="lee-archive",
        mailbox="lee@contoso.com",
        sources=[a, b],
        client_id="6731de76-14a6-49ae-97bc-6eba6914391e",
        tenant_id="contoso.onmicrosoft.com",
        auth_method="oauth-app",
        destination={"store": "archive", "root": root, **({"folder": "Old mail/Lee"} if root == "folder" else {})},
    )
    if include:
        prof.sources[0].include = ["Inbox/**"]
    return save_profile(prof, tmp_path / "lee.yaml")


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_plan_from_an_archive_profile(tmp_path, capsys):
    """`importservice plan` writes the mapping (IsArchive TRUE, the profile's root, the uploaded names),
    the Exchange Online script and the steps, and says what the service cannot honour."""
    profile_path = _archive_profile(tmp_path)
    out = tmp_path / "plan"
    assert run(["importservice", "plan", str(profile_path), "--storage-host", HOST, "--out-dir", str(out)]) == 0
    printed, err = capsys.readouterr()
    rows = _rows(out / "mapping.csv")
    assert [(r["FilePath"], r["Name"], r["Mailbox"], r["IsArchive"], r["TargetRootFolder"]) for r in rows] == [
        ("pstimport/lee-archive", "Lee 2009-2014.pst", "lee@contoso.com", "TRUE", "/"),
        ("pstimport/lee-archive", "lee OLD.pst", "lee@contoso.com", "TRUE", "/"),
    ]
    script = (out / "Start-AzurePstImport.ps1").read_bytes()
    assert script.startswith(b"\xef\xbb\xbf")
    text = script.decode("utf-8-sig")
    assert "New-MigrationBatch" in text and "-Analyze" in text and f"'{HOST}'" in text and "'mapping.csv'" in text
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert "pstimport importservice upload" in printed and "pstimport importservice upload" in readme
    assert "imports whole PSTs" in err  # the include glob of sources[0] cannot be honoured


def test_plan_keeps_the_folder_choice(tmp_path):
    """root: folder becomes TargetRootFolder /<folder>; root: pst-name /<PST name>."""
    prof = load_profile(_archive_profile(tmp_path, root="folder", include=False))
    plan = plan_for_profile(prof, tmp_path / "p1", storage_host=HOST)
    assert {r["TargetRootFolder"] for r in _rows(plan.mapping)} == {"/Old mail/Lee"}
    assert plan.warnings == []
    prof.destination.root, prof.destination.folder = "pst-name", None
    plan = plan_for_profile(prof, tmp_path / "p2", storage_host=HOST)
    assert [r["TargetRootFolder"] for r in _rows(plan.mapping)] == ["/Lee 2009-2014", "/lee OLD"]


def test_plan_refuses_what_it_cannot_run(tmp_path):
    """On-premises profiles keep EWS; an .ost cannot go to the Import Service; a URL is not a host."""
    prof = load_profile(_archive_profile(tmp_path, include=False))
    with pytest.raises(UserError, match="storage host"):
        plan_for_profile(prof, tmp_path / "x", storage_host="https://contosopst.blob.core.windows.net/c")
    onprem = Profile.new(name="o", mailbox="a@b.example", sources=prof.source_paths(), target="on-premises",
                         username="a")  # fmt: skip
    with pytest.raises(UserError, match="on-premises"):
        plan_for_profile(onprem, tmp_path / "y", storage_host=HOST)
    ost = prof.source_paths()[0].with_suffix(".ost")
    prof.source_paths()[0].rename(ost)
    prof.sources[0].path = str(ost)
    with pytest.raises(UserError, match=r"only imports \.pst"):
        plan_for_profile(prof, tmp_path / "z", storage_host=HOST)


def test_upload_command_puts_the_psts_where_the_mapping_says(tmp_path, azurite, container):
    """Running the plan's upload command as printed (SAS from the environment) puts every PST in the
    container under exactly the FilePath/Name of its mapping row: the run is ready."""
    plan = plan_for_profile(load_profile(_archive_profile(tmp_path)), tmp_path / "plan", storage_host=HOST)
    argv = shlex.split(plan.upload_command)
    assert argv[:3] == ["pstimport", "importservice", "upload"]
    sas = azurite.container_sas(container, "racwl")
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", *argv[1:]],
        cwd=REPO,
        env={**_env(), "PSTIMPORT_SAS_URL": sas},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    uploaded = {b.name for b in azurite.service.get_container_client(container).list_blobs()}
    wanted = {f"{r['FilePath']}/{r['Name']}" for r in _rows(plan.mapping)}
    assert wanted <= uploaded, (wanted, uploaded)
    assert sas.split("?")[1] not in plan.upload_command + (tmp_path / "plan" / "README.txt").read_text()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PSTIMPORT_SAS_URL"}
