"""Import Service canaries at --debug: the SAS signature never reaches any output, even when the SAS URL
is given where a file name belongs (issue #21 finding 7), or the storage refuses it."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

from core.importservice.sas import parse_sas

REPO = Path(__file__).resolve().parents[2]


def _forms(url: str) -> list[str]:
    sig = urllib.parse.unquote(parse_sas(url).signature or "")
    assert len(sig) > 20
    once = urllib.parse.quote(sig, safe="")
    return [sig, once, urllib.parse.quote(once, safe="")]


def _pstimport(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHONPATH=str(REPO), **env)
    full.pop("PSTIMPORT_SAS_URL", None)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--debug", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_sas_file_given_the_url_itself_never_echoes_it(azurite, container, tmp_path):
    """--sas-file https://...sig=...: one line saying a file is wanted, exit 2, the signature nowhere."""
    url = azurite.container_sas(container, "racwdl")
    p = _pstimport(["importservice", "check-sas", "--sas-file", url], tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert [f for f in _forms(url) if f in out] == []
    lines = [x for x in p.stderr.splitlines() if x.startswith("pstimport:")]
    assert len(lines) == 1 and "not the URL itself" in lines[0], p.stderr


def test_upload_and_refusals_at_debug_leak_no_signature(azurite, container, sample_psts, tmp_path):
    """upload, list and a write refused for a read-only SAS, all at --debug: no form of either signature."""
    good = azurite.container_sas(container, "racwdl")
    readonly = azurite.container_sas(container, "rl")
    out = ""
    for url, args in (
        (good, ["importservice", "upload", str(sample_psts), "--manifest", str(tmp_path / "m.json")]),
        (good, ["importservice", "list"]),
        (readonly, ["importservice", "upload", str(sample_psts), "--manifest", str(tmp_path / "m2.json")]),
    ):
        sas_file = tmp_path / "sas.txt"
        sas_file.write_text(url + "\n", encoding="utf-8")
        p = _pstimport([*args[:2], "--sas-file", str(sas_file), *args[2:]], tmp_path)
        out += p.stdout + p.stderr
    assert "DEBUG" in out  # the SDK's HTTP logging was on
    leaked = [f for url in (good, readonly) for f in _forms(url) if f in out]
    assert leaked == []
