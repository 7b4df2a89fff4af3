"""`pstimport profile show/set-secret/forget-secret`, and no secret in anything the tool writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.cli import run
from tests.profile.conftest import KEYRING_PASSWORD, VALID_ONPREM

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Zq9-unique-test-password-7c1e"


def test_show_resolves_defaults_and_paths(write_profile, cryptfile_keyring, tmp_path, capsys) -> None:
    """show prints every default and absolute paths, and says the secret is missing."""
    path = write_profile(VALID_ONPREM)
    assert run(["profile", "show", "--json", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    prof = doc["profile"]
    assert prof["sources"][0]["path"] == str(tmp_path / "sample.pst")
    assert prof["performance"] == {"max_threads": 4, "batch_items": 10, "batch_megabytes": 16}
    assert prof["filters"]["item_types"] == ["mail", "calendar", "contacts", "tasks", "notes", "journal"]
    assert prof["report"]["directory"] == str(tmp_path / "reports")
    assert [(s["kind"], s["state"]) for s in doc["secrets"]] == [("password", "missing")]


def test_set_secret_then_show(write_profile, cryptfile_keyring, monkeypatch, capsys) -> None:
    """set-secret --password-stdin stores it; show then reports it present without printing it."""
    path = write_profile(VALID_ONPREM)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert run(["profile", "set-secret", "--password-stdin", str(path)]) == 0
    assert "stored the password for svc@example.com" in capsys.readouterr().out
    assert run(["profile", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "password [password:on-premises:" in out and "stored in the keyring" in out
    assert PASSWORD not in out
    assert run(["profile", "forget-secret", str(path)]) == 0
    assert "removed the password" in capsys.readouterr().out


def test_set_secret_without_terminal(write_profile, cryptfile_keyring, monkeypatch, capsys) -> None:
    """Without a terminal or --password-stdin, set-secret refuses in one line with exit 2."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run(["profile", "set-secret", str(write_profile(VALID_ONPREM))]) == 2
    assert capsys.readouterr().err.strip() == (
        "pstimport: no terminal to ask on: pipe the secret in with --password-stdin"
    )


def test_show_invalid_profile(write_profile, capsys) -> None:
    """show on an invalid profile is one line and exit 2."""
    path = write_profile(VALID_ONPREM.replace("max_threads: 4", "max_threads: 0"))
    assert run(["profile", "show", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"pstimport: {path}:15: performance.max_threads: must be at least 1, got 0"
    )


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_no_secret_in_anything_written(tmp_path: Path, empty_pst: bytes) -> None:
    """With a test password in play (stdin, environment, keyring), no file written and no output holds it.

    Runs real processes with HOME and XDG folders inside tmp_path, the encrypted-file keyring,
    --debug logging, show, validate, set-secret, and a resolve-and-save through the API; then scans
    every file under tmp_path and all captured output for the password and the keyring password.
    """
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "sample.pst").write_bytes(empty_pst)
    profile = work / "p.yaml"
    profile.write_text(VALID_ONPREM)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "TMPDIR": str(tmp_path / "tmp"),
        "PSTIMPORT_KEYRING": "cryptfile",
        "PSTIMPORT_KEYRING_PASSWORD": KEYRING_PASSWORD,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    (tmp_path / "tmp").mkdir()
    outputs: list[str] = []

    def pst(*args: str, stdin: str | None = None, extra: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "core.cli", "--debug", *args],
            input=stdin,
            text=True,
            capture_output=True,
            cwd=work,
            env={**env, **(extra or {})},
            timeout=120,
        )
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    assert pst("profile", "set-secret", "--password-stdin", str(profile), stdin=PASSWORD + "\n").returncode == 0
    shown = pst("profile", "show", str(profile))
    assert shown.returncode == 0 and "stored in the keyring" in shown.stdout
    shown = pst("profile", "show", "--json", str(profile), extra={"PSTIMPORT_PASSWORD": PASSWORD})
    assert json.loads(shown.stdout)["secrets"][0]["state"] == "environment"
    assert pst("profile", "validate", str(profile)).returncode == 0
    bad = work / "bad.yaml"
    bad.write_text(
        VALID_ONPREM.replace(
            "    username: svc@example.com\n", f"    username: svc@example.com\n    password: {PASSWORD}\n"
        )
    )
    assert pst("profile", "validate", str(bad)).returncode == 2

    script = textwrap.dedent(f"""
        import logging, sys
        logging.basicConfig(filename={str(work / "debug.log")!r}, level=logging.DEBUG)
        from core.profile import load_profile, save_profile, resolve_secret
        p = load_profile({str(profile)!r})
        got = [resolve_secret(p, interactive=False)]
        got.append(resolve_secret(p, stdin=sys.stdin, interactive=False))
        assert got == [{PASSWORD!r}] * 2, "resolved the wrong secret"
        p.performance.max_threads = 6
        save_profile(p)
        save_profile(p, {str(work / "copy.yaml")!r})
        print("saved")
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    outputs.extend([proc.stdout, proc.stderr])
    assert proc.returncode == 0 and "saved" in proc.stdout, proc.stderr
    assert (work / "debug.log").read_text().count("found in the keyring") == 1

    written = _all_files(tmp_path)
    assert work / "copy.yaml" in written and (home / "data" / "pstimport" / "keyring.cfg") in written
    for secret in (PASSWORD, KEYRING_PASSWORD):
        for needle in (secret.encode(), secret.encode("utf-16-le")):
            leaks = [p for p in written if p != bad and needle in p.read_bytes()]
            assert leaks == [], f"{secret!r} found in {leaks}"
        assert not any(secret in text for text in outputs)
    assert "max_threads: 6" in profile.read_text()


@pytest.mark.parametrize("cmd", [["profile"], ["profile", "--help"]])
def test_help(cmd, capsys) -> None:
    """The profile command lists its sub-commands."""
    try:
        rc = run(cmd)
    except SystemExit as exc:  # --help exits
        rc = exc.code
    out = capsys.readouterr().out
    assert rc in (0, 2) and "validate" in out and "show" in out and "set-secret" in out


def test_validate_json(write_profile, capsys) -> None:
    """validate --json gives every problem with severity, file, line and key, and the same exit code."""
    path = write_profile(VALID_ONPREM.replace("max_threads: 4", "max_threads: 12").replace("matt@", "matt"))
    assert run(["profile", "validate", "--json", str(path)]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    got = [(p["severity"], p["line"], p["key"]) for p in doc["problems"]]
    assert got == [("error", 10, "mailbox"), ("warning", 15, "performance.max_threads")]
