"""Batch test helpers and fixtures: a sandbox with ten mailboxes (one refusing impersonation), twenty writer PSTs,
a mapping CSV and a template profile; plus the engine's sandbox fixtures and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ENGINE_TESTS = Path(__file__).resolve().parent.parent / "engine"
sys.path.insert(0, str(ENGINE_TESTS))

from helpers import PASSWORD, SVC  # noqa: E402
from sandbox_fixtures import _isolated  # noqa: E402,F401 - secrets from the environment, journals under tmp

from core.sandbox.pstwriter import generate  # noqa: E402
from core.sandbox.server.app import Sandbox  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
MAILBOXES = [f"user{n:02d}@sandbox.test" for n in range(1, 11)]
DENIED = "user07@sandbox.test"  # the service account may not impersonate this one
WITH_ARCHIVE = ["user01@sandbox.test", "user02@sandbox.test"]
ITEMS_PER_PST = 5


@dataclass
class Fleet:
    """The batch test setup: sandbox, CSV, template and what each mailbox should end up with."""

    sandbox: Sandbox
    csv: Path
    template: Path
    reports: Path
    psts: dict[str, list[Path]] = field(default_factory=dict)  # mailbox -> its PSTs

    def expected(self, mailbox: str) -> int:
        return ITEMS_PER_PST * len(self.psts[mailbox])


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A running EWS sandbox with the service account only (for tests that never get to import)."""
    with Sandbox(tmp_path / "sandbox", users={SVC: PASSWORD}, impersonators=[SVC]) as sb:
        yield sb


@pytest.fixture(scope="session")
def fleet_psts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Twenty small writer PSTs (distinct seeds, so distinct store record keys and stamps)."""
    d = tmp_path_factory.mktemp("fleet-psts")
    out = []
    for n in range(20):
        p = d / f"pst{n:02d}.pst"
        generate(str(p), seed=500 + n, mode="scale", items=ITEMS_PER_PST, mix="small")
        out.append(p)
    return out


def write_template(path: Path, sb: Sandbox, reports: Path, **extra: str) -> Path:
    """A template profile: the service account impersonates every mailbox; no secret in it."""
    lines = [
        "version: 1",
        "name: fleet",
        "connection:",
        "  target: on-premises",
        "  discovery: direct",
        f"  ews_url: {sb.ews_url}",
        "  auth: {method: password, username: " + SVC + "}",
        "  impersonation: true",
        "sources:",
        '  - {path: unused.pst, include: ["Inbox/**"]}',
        "performance: {max_threads: 2, batch_items: 5}",
        f"report: {{directory: '{reports}'}}",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def fleet(tmp_path: Path, fleet_psts: list[Path]) -> Iterator[Fleet]:
    """Ten mailboxes, twenty PSTs: two per mailbox; user01's second goes to its archive, user02's
    second merges into the store root, user03's go under a folder; user07 refuses impersonation."""
    users = {m: PASSWORD for m in MAILBOXES} | {SVC: PASSWORD}
    with Sandbox(tmp_path / "sandbox", users=users, archives=WITH_ARCHIVE) as sb:
        sb.store.grant_impersonation(SVC, [m for m in MAILBOXES if m != DENIED])
        rows = ["path,mailbox,archive,root,folder"]
        psts: dict[str, list[Path]] = {}
        for n, pst in enumerate(fleet_psts):
            mailbox = MAILBOXES[n // 2]
            psts.setdefault(mailbox, []).append(pst)
            second = n % 2 == 1
            archive = "true" if second and mailbox == "user01@sandbox.test" else "false"
            root, folder = "pst-name", ""
            if second and mailbox == "user02@sandbox.test":
                root = "store-root"
            if mailbox == "user03@sandbox.test":
                root, folder = "folder", "Imported/Old PSTs"
            rows.append(f"{pst.name},{mailbox},{archive},{root},{folder}")
        csv = fleet_psts[0].parent / f"map-{tmp_path.name}.csv"
        csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
        reports = tmp_path / "reports"
        template = write_template(tmp_path / "template.yaml", sb, reports)
        yield Fleet(sb, csv, template, reports, psts)


@pytest.fixture
def cli():
    """Run `python -m core.cli ARGS` (subprocess, no stdin); returns CompletedProcess (text)."""

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "core.cli", *args],
            cwd=REPO,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run


def start_cli(*args: str) -> subprocess.Popen:
    """Start `python -m core.cli ARGS` without waiting (for shards running at once)."""
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
