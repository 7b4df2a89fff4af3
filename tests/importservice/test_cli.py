"""`pstimport importservice ...` end to end against Azurite: upload, list, mapping, scripts, clean-up,
and a scan of every byte of output (debug logging included) for the SAS signature."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from core.cli import run
from core.importservice.sas import parse_sas

REPO = Path(__file__).resolve().parents[2]


def _sig_forms(url: str) -> list[str]:
    sig = urllib.parse.unquote(parse_sas(url).signature)
    return [sig, urllib.parse.quote(sig, safe=""), urllib.parse.quote(urllib.parse.quote(sig, safe=""), safe="")]


def cli(args: list[str], url: str, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("PSTIMPORT_SAS_URL", url)
    code = run(args)
    out, err = capsys.readouterr()
    for form in _sig_forms(url):
        assert form not in out and form not in err
    return code, out, err


def test_upload_list_mapping_from_manifest(azurite, container, sample_psts, tmp_path, monkeypatch, capsys):
    """upload a folder, list it, and build a mapping CSV whose names are exactly the uploaded blobs."""
    url = azurite.container_sas(container, "racwl")
    manifest = tmp_path / "up.json"
    code, out, err = cli(["importservice", "upload", str(sample_psts), "--prefix", "wave1", "--threads", "2",
                          "--block-size-mib", "1", "--manifest", str(manifest)], url, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    assert "3 uploaded, 0 failed" in out and out.count("MD5 verified") == 3
    assert "100%" in err  # plain progress lines on a non-terminal stderr
    code, out, _ = cli(["importservice", "list", "--json"], url, monkeypatch, capsys)
    listed = {b["name"] for b in json.loads(out)["blobs"]}
    assert listed == {"wave1/Alice Archive.PST", "wave1/Sales Team/bob 2016.pst", "wave1/Sales Team/Carol's Mail.pst"}
    saved = json.loads(manifest.read_text())
    assert "sig" not in manifest.read_text()
    assert {e["blob"] for e in saved["uploads"]} == listed
    mapping = tmp_path / "map.csv"
    code, out, err = cli(["importservice", "mapping", "--mailbox", "team@contoso.com", "--store", "archive",
                          "--manifest", str(manifest), "--out", str(mapping), str(sample_psts)], url, monkeypatch,
                         capsys)  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(mapping.open(encoding="utf-8", newline="")))
    assert {f"{r['FilePath']}/{r['Name']}" for r in rows} == listed
    assert {r["IsArchive"] for r in rows} == {"TRUE"}


def test_upload_refuses_sas_on_command_line(azurite, container, sample_psts, monkeypatch, capsys):
    """A SAS URL passed as an argument is refused without being echoed."""
    url = azurite.container_sas(container, "rwl")
    code, _, err = cli(["importservice", "upload", url], url, monkeypatch, capsys)
    assert code == 2 and "must not be given on the command line" in err


def test_upload_with_read_only_sas_fails_before_network(azurite, container, sample_psts, monkeypatch, capsys):
    """A token without write stops with one line and exit 2; nothing is uploaded."""
    url = azurite.container_sas(container, "rl")
    code, _, err = cli(["importservice", "upload", str(sample_psts)], url, monkeypatch, capsys)
    assert code == 2 and "missing write (w), needed to upload" in err
    assert len(err.strip().splitlines()) == 1
    assert list(azurite.service.get_container_client(container).list_blobs()) == []


def test_cleanup_dry_run_then_delete(azurite, container, make_file, tmp_path, monkeypatch, capsys):
    """Dry run lists exactly the old PSTs and deletes nothing; --delete removes them and keeps other files."""
    client = azurite.service.get_container_client(container)
    for name in ("old/a.pst", "old/B.OST", "notes.txt"):
        client.upload_blob(name, b"x" * 10)
    url = azurite.container_sas(container, "rwdl")
    code, out, _ = cli(["importservice", "cleanup", "--older-than", "30"], url, monkeypatch, capsys)
    assert code == 0 and "dry run: 0 blob(s)" in out
    code, out, _ = cli(["importservice", "cleanup", "--older-than", "0"], url, monkeypatch, capsys)
    assert code == 0
    assert [ln.split()[2] for ln in out.splitlines() if ln.startswith("would delete")] == ["old/B.OST", "old/a.pst"]
    assert len(list(client.list_blobs())) == 3  # dry run deleted nothing
    code, out, _ = cli(["importservice", "cleanup", "--older-than", "0", "--delete"], url, monkeypatch, capsys)
    assert code == 0 and "deleted 2 blob(s), 0 failed" in out
    assert [b.name for b in client.list_blobs()] == ["notes.txt"]


def test_cleanup_delete_needs_delete_permission(azurite, container, monkeypatch, capsys):
    """--delete with a token lacking d fails first, and the dry run warns about it."""
    client = azurite.service.get_container_client(container)
    client.upload_blob("a.pst", b"x")
    url = azurite.container_sas(container, "rl")
    code, _, err = cli(["importservice", "cleanup", "--older-than", "0", "--delete"], url, monkeypatch, capsys)
    assert code == 2 and "missing delete (d), needed to clean up" in err
    assert [b.name for b in client.list_blobs()] == ["a.pst"]
    code, _, err = cli(["importservice", "cleanup", "--older-than", "0"], url, monkeypatch, capsys)
    assert code == 0 and "no delete permission" in err


def test_scripts_command_writes_files(tmp_path, monkeypatch, capsys):
    """scripts writes the on-premises pair and the Online script with its mapping CSV (BOM for PS 5.1)."""
    root = tmp_path / "share"
    (root / "u").mkdir(parents=True)
    (root / "u" / "Ann.pst").write_bytes(b"x")
    code = run(["importservice", "scripts", "--target", "on-premises", "--out-dir", str(tmp_path / "op"),
                "--unc", r"\\fs01\psts", "--mailbox", "ann@contoso.com", "--batch", "b1", str(root)])  # fmt: skip
    assert code == 0
    text = (tmp_path / "op" / "Import-PstRequests.ps1").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    assert b"-FilePath '\\\\fs01\\psts\\u\\Ann.pst'" in text
    assert (tmp_path / "op" / "Watch-PstRequests.ps1").exists()
    code = run(["importservice", "scripts", "--target", "exchange-online", "--out-dir", str(tmp_path / "eo"),
                "--storage-host", "acct.blob.core.windows.net", "--mailbox", "ann@contoso.com", str(root)])  # fmt: skip
    assert code == 0
    assert (tmp_path / "eo" / "mapping.csv").read_text().splitlines()[1].startswith("Exchange,u,Ann.pst,")
    assert b"-Analyze" in (tmp_path / "eo" / "Start-AzurePstImport.ps1").read_bytes()


def test_no_signature_in_any_output_even_with_debug(azurite, container, sample_psts, tmp_path):
    """Run the real CLI with --debug (SDK HTTP logging on) for check, upload, list, a failing upload and
    clean-up; the signature appears nowhere in stdout or stderr."""
    good = azurite.container_sas(container, "racwdl")
    readonly = azurite.container_sas(container, "rl")
    expired = azurite.container_sas(container, "rwl", expiry=-__import__("datetime").timedelta(hours=1))
    runs = [
        (good, ["importservice", "check-sas", "--for", "upload,list,cleanup"]),
        (good, ["importservice", "upload", str(sample_psts), "--manifest", str(tmp_path / "m.json")]),
        (good, ["importservice", "list"]),
        (readonly, ["importservice", "upload", str(sample_psts)]),
        (expired, ["importservice", "upload", str(sample_psts)]),
        (good, ["importservice", "cleanup", "--older-than", "0", "--delete"]),
    ]
    everything = ""
    for url, args in runs:
        env = dict(os.environ, PSTIMPORT_SAS_URL=url)
        proc = subprocess.run([sys.executable, "-m", "core.cli", "--debug", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        everything += proc.stdout + proc.stderr
        for form in _sig_forms(url):
            assert form not in proc.stdout + proc.stderr, f"signature leaked in {args}"
    assert "expired on" in everything and "missing write" in everything
    assert "deleted 3 blob(s)" in everything


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    """Keep the default upload manifest out of the repository."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def test_mapping_check_container_catches_case_mismatch(azurite, container, tmp_path, monkeypatch, capsys):
    """--check-container refuses a name the container holds only in another case, and passes when exact."""
    client = azurite.service.get_container_client(container)
    client.upload_blob("Ann.PST", b"x")
    (tmp_path / "Ann.pst").write_bytes(b"x")
    url = azurite.container_sas(container, "rl")
    args = ["importservice", "mapping", "--mailbox", "ann@contoso.com", "--out", str(tmp_path / "m.csv"),
            "--no-inspect", "--check-container", str(tmp_path / "Ann.pst")]  # fmt: skip
    code, _, err = cli(args, url, monkeypatch, capsys)
    assert code == 2 and "the container has 'Ann.PST': names are case-sensitive" in err
    assert not (tmp_path / "m.csv").exists()
    client.upload_blob("Ann.pst", b"x")
    code, out, err = cli(args, url, monkeypatch, capsys)
    assert code == 0, err


def test_check_sas_command(azurite, container, monkeypatch, capsys, tmp_path):
    """check-sas reports what the token allows, reads it from --sas-file too, and fails on a missing right."""
    url = azurite.container_sas(container, "rwl")
    code, out, _ = cli(["importservice", "check-sas", "--for", "upload,list"], url, monkeypatch, capsys)
    assert code == 0 and "SAS OK for upload, list" in out and f"container {container}" in out
    sas_file = tmp_path / "sas.txt"
    sas_file.write_text(url + "\n")
    monkeypatch.delenv("PSTIMPORT_SAS_URL", raising=False)
    assert run(["importservice", "check-sas", "--for", "cleanup", "--sas-file", str(sas_file)]) == 2
    assert "missing delete (d)" in capsys.readouterr().err


def test_empty_file_uploads(azurite, container, tmp_path, monkeypatch, capsys):
    """A zero-byte file uploads and verifies (no blocks; empty MD5)."""
    (tmp_path / "empty.pst").write_bytes(b"")
    url = azurite.container_sas(container, "rwl")
    code, out, err = cli(["importservice", "upload", str(tmp_path / "empty.pst"), "--no-progress"], url,
                         monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    assert "empty.pst: 0 bytes" in out and "MD5 verified" in out
