"""Generated PowerShell: golden files, quoting, required cmdlets/parameters, and a pwsh parse when available.

Regenerate the golden files after an intended change with: PSTIMPORT_UPDATE_GOLDEN=1 pytest tests/importservice
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core import __version__
from core.errors import UserError
from core.importservice.mapping import ImportJob
from core.importservice.scripts import (
    ScriptOptions,
    online_script,
    onprem_script,
    onprem_statistics_script,
    ps_quote,
    unc_path,
)

GOLDEN = Path(__file__).parent / "golden"
OPTIONS = ScriptOptions(batch_name="pstimport-2026-06", bad_item_limit=10,
                        generated=dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC))  # fmt: skip
JOBS = [
    ImportJob("alice@contoso.com", "Alice Archive.PST", root="store-root"),
    ImportJob("bob@contoso.com", "Sales Team/bob 2016.pst", store="archive"),
    ImportJob("o'neil@contoso.com", "Sales Team/Carol's Mail.pst", root="folder", folder="Imported/2016"),
]


def scripts() -> dict[str, str]:
    return {
        "onprem-import.ps1": onprem_script(JOBS, r"\\fs01\PST$", OPTIONS),
        "onprem-statistics.ps1": onprem_statistics_script(OPTIONS),
        "online-azure-pst-import.ps1": online_script(
            OPTIONS, storage_host="contosopst.blob.core.windows.net", mapping_file="mapping.csv",
            endpoint_name="pstimport-endpoint", notification="admin@contoso.com"),
    }  # fmt: skip


def _unquote_ps(literal: str) -> str:
    """PowerShell's reading of a single-quoted literal: a doubled quote character is one quote."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert literal[0] in quotes and literal[-1] in quotes
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch in quotes:
            assert i + 1 < len(body) and body[i + 1] in quotes, "a lone quote would end the string"
            i += 2
        else:
            i += 1
        out.append(ch)
    return "".join(out)


@pytest.mark.parametrize("name", sorted(scripts()))
def test_golden(name):
    """Each script equals its reviewed golden file (version number normalised)."""
    text = scripts()[name].replace(__version__, "VERSION")
    path = GOLDEN / name
    if os.environ.get("PSTIMPORT_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes().decode("utf-8") == text


@pytest.mark.parametrize(
    "value", ["plain", "O'Neil", "it''s", "smart \u2019quote\u2018", "$env:USERNAME `n @(1)", "", "'"]
)
def test_ps_quote_round_trips(value):
    """Quotes (straight and typographic) are doubled; $, backtick and @ stay literal in single quotes."""
    assert _unquote_ps(ps_quote(value)) == value


def test_ps_quote_refuses_line_breaks():
    """A value with a newline cannot become one script line: clear error instead."""
    with pytest.raises(UserError, match="line breaks"):
        ps_quote("a\nb")


def test_onprem_lines_carry_every_parameter():
    """Each request line has -Mailbox, a UNC -FilePath, -TargetRootFolder per root, -IsArchive, -BadItemLimit."""
    lines = [ln for ln in onprem_script(JOBS, r"\\fs01\PST$", OPTIONS).splitlines()
             if ln.startswith("New-MailboxImportRequest")]  # fmt: skip
    assert len(lines) == 3
    assert "-Mailbox 'alice@contoso.com' -FilePath '\\\\fs01\\PST$\\Alice Archive.PST'" in lines[0]
    assert "-TargetRootFolder" not in lines[0]  # store-root merges: no parameter at all
    assert "-TargetRootFolder 'bob 2016' -IsArchive" in lines[1]
    assert "-Mailbox 'o''neil@contoso.com'" in lines[2]
    assert "-FilePath '\\\\fs01\\PST$\\Sales Team\\Carol''s Mail.pst'" in lines[2]
    assert "-TargetRootFolder 'Imported/2016'" in lines[2] and "-IsArchive" not in lines[2]
    assert all(ln.rstrip().endswith("-BadItemLimit 10") for ln in lines)
    names = [ln.split("-Name ")[1].split("'")[1] for ln in lines]
    assert len(set(names)) == 3


def test_large_bad_item_limit_adds_accept_large_data_loss():
    """Above 50 bad items Exchange needs -AcceptLargeDataLoss; the script adds it."""
    text = onprem_script(JOBS[:1], r"\\fs01\PST", ScriptOptions("b1", bad_item_limit=200))
    assert "-BadItemLimit 200 -AcceptLargeDataLoss" in text


def test_statistics_loop_passes_request_guid_as_identity():
    """The loop calls the statistics cmdlet with -Identity $_.RequestGuid, never by piping requests in."""
    text = onprem_statistics_script(OPTIONS)
    assert "Get-MailboxImportRequestStatistics -Identity $_.RequestGuid" in text
    assert "| Get-MailboxImportRequestStatistics" not in text


def test_online_script_analyzes_first_and_holds_no_secret():
    """The Online script creates a PSTImport endpoint, an -Analyze batch first, and prompts for the SAS."""
    text = scripts()["online-azure-pst-import.ps1"]
    assert "New-MigrationEndpoint -PSTImport" in text
    analyze = text.index("-Analyze")
    start = text.index("New-MigrationBatch -Name $BatchName")
    assert analyze < start
    assert "Get-Credential" in text and "sig=" not in text
    assert "Mailbox Import Export" in text


def test_scripts_name_required_roles():
    """Every script says which role it needs."""
    for text in scripts().values():
        assert "'Mailbox Import Export'" in text


@pytest.mark.parametrize("bad", ["C:\\psts", "\\\\server", "fs01\\share", "/mnt/share"])
def test_unc_root_must_be_a_share(bad):
    """Local paths and half UNC paths are refused: Exchange reads PSTs over the network."""
    with pytest.raises(UserError, match="UNC share path"):
        unc_path(bad, JOBS[0])


def test_pwsh_parses_every_script(tmp_path):
    """PowerShell's own parser finds no syntax error in any generated script."""
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("pwsh (PowerShell 7) not installed; Debian/Ubuntu have no package for it here")
    for name, text in scripts().items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        check = (
            "$e = $null; [System.Management.Automation.Language.Parser]::ParseFile("
            f"'{path}', [ref]$null, [ref]$e) | Out-Null; $e | ForEach-Object {{ $_.Message }}; exit $e.Count"
        )
        proc = subprocess.run([pwsh, "-NoProfile", "-NonInteractive", "-Command", check],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
