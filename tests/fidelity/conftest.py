"""Imports for the fidelity test, each made once per module: every readable corpus file and a realistic
writer PST, into the sandbox over EWS (every exchange schema-checked), into gromox over EWS (Basic auth,
on-premises, direct, no impersonation), and into the sandbox over Graph. Each is read back whole by a
client we did not write (exchangelib in a process of its own; Graph over httpx)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO
from tests.fidelity import source
from tests.need import missing

PASSWORD = "Fidelity-Pa55"
USER = "fidelity@sandbox.test"
APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "fidelity-app-secret"
TENANT = "sandbox.onmicrosoft.com"
WRITER_SEED = 1
READ_TIMEOUT = 900

# The per-field tables of this session, printed at the end of the run (see pytest_terminal_summary).
TABLES: list[str] = []


@dataclass
class Imported:
    """One import and what was read back from it."""

    name: str
    transport: str
    started: datetime
    finished: datetime
    result: object
    records: dict[str, dict] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    unstamped: int = 0
    errors: list[str] = field(default_factory=list)
    checker: object = None
    seconds: dict[str, float] = field(default_factory=dict)

    def failure(self, exp: source.Expected) -> str | None:
        """Why the import failed the item, if it did (by PST, folder and subject, as the run reports it)."""
        for f in getattr(self.result, "failures", []):
            if (
                f.pst in (exp.source, Path(exp.source).stem)
                and tuple(f.source_path) == exp.folder
                and f.subject == exp.subject
            ):
                return f.reason
        return None


def readable_sources(tmp: Path) -> list[Path]:
    """Every corpus file the reader can open, and a realistic writer PST (with its truth beside it)."""
    from core.pst import open_pst
    from core.sandbox.pstwriter.content import generate

    if not (CORPUS / "manifest.json").is_file():
        missing("corpus", f"the PST corpus is not at {CORPUS} (set PSTIMPORT_SHARED to the shared/ folder)")
    paths = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix.lower() not in (".pst", ".ost"):
            continue
        try:
            with open_pst(path):
                pass
        except Exception:  # noqa: BLE001 - unreadable on purpose (BROKEN_, NOTPST_): not a fidelity source
            continue
        paths.append(path)
    writer = tmp / f"realistic-{WRITER_SEED}.pst"
    generate(str(writer), seed=WRITER_SEED, mode="realistic")
    return [*paths, writer]


@pytest.fixture(scope="module")
def fidelity_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Secrets from the environment, journals under tmp, no OS keyring (for every import of the module)."""
    tmp = tmp_path_factory.mktemp("fidelity")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PSTIMPORT_STATE_DIR", str(tmp / "state"))
        mp.setenv("PSTIMPORT_KEYRING", "none")
        mp.delenv("PSTIMPORT_AUTODISCOVER_URL", raising=False)
        yield tmp


@pytest.fixture(scope="module")
def sources(fidelity_env: Path) -> list[Path]:
    return readable_sources(fidelity_env)


@pytest.fixture(scope="module")
def expected(sources: list[Path]) -> dict[str, source.Expected]:
    """Every source item by stamp; a writer PST's expectations checked against its ground truth first."""
    out: dict[str, source.Expected] = {}
    for path in sources:
        items = source.expected_items(path)
        truth = Path(str(path) + ".truth.json")
        if truth.is_file():
            problems = source.check_truth(items, json.loads(truth.read_text(encoding="utf-8")))
            assert not problems, "the PST reader disagrees with the writer's truth:\n" + "\n".join(problems[:20])
        for exp in items:
            out[exp.stamp] = exp
    return out


def _profile(tmp: Path, name: str, sources: list[Path], **conn: object):
    from core.profile.model import Profile

    return Profile.new(
        name=name,
        sources=[str(s) for s in sources],
        destination={"root": "pst-name", "store": "mailbox"},
        performance={"max_threads": 2, "batch_items": 10},
        report={"directory": str(tmp / f"reports-{name}")},
        **conn,
    )


def _run(profile) -> object:  # noqa: ANN001
    from core.engine import build_plan, run
    from core.engine.connect import transport_factory

    plan = build_plan(profile, transport_factory=transport_factory(profile, interactive=False))
    return run(plan, lambda _e: None, None)


def _index(imported: Imported, records: list[dict]) -> None:
    for rec in records:
        if "error" in rec:
            imported.errors.append(rec["error"])
            continue
        stamp = rec.get("stamp")
        if not stamp:
            imported.unstamped += 1
            continue
        if stamp in imported.records:
            imported.duplicates.append(stamp)
        imported.records[stamp] = rec


def read_ews(url: str, user: str, password: str, auth: str) -> list[dict]:
    """Every item of the mailbox, read by plain exchangelib in a process of its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fidelity.read_ews", url, user, password, auth],
        capture_output=True,
        text=True,
        timeout=READ_TIMEOUT,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, f"the exchangelib reader failed:\n{proc.stderr[-3000:]}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def ews_sandbox(fidelity_env: Path, sources: list[Path]) -> Iterator[Imported]:
    """Every source imported into the sandbox over EWS, every exchange schema-checked, and read back."""
    from core.sandbox.server.app import Sandbox
    from tests.sandbox.conftest import SERVER_SCHEMA, SchemaChecker

    if SERVER_SCHEMA is None:
        missing("shared", "../shared/ews-schema is missing: the sandbox's answers cannot be schema-checked")
    checker = SchemaChecker()
    tmp = fidelity_env / "ews-sandbox"
    with (
        pytest.MonkeyPatch.context() as mp,
        Sandbox(tmp / "state", users={USER: PASSWORD}, schema_dir=SERVER_SCHEMA, on_exchange=checker) as sb,
    ):
        mp.setenv("PSTIMPORT_PASSWORD", PASSWORD)
        prof = _profile(tmp, "ews-sandbox", sources, mailbox=USER, target="on-premises", ews_url=sb.ews_url,
                        username=USER, impersonation=False)  # fmt: skip
        t0 = time.monotonic()
        started = datetime.now(UTC)
        result = _run(prof)
        finished = datetime.now(UTC)
        t1 = time.monotonic()
        imported = Imported("EWS sandbox", "ews", started, finished, result, checker=checker)
        _index(imported, read_ews(sb.ews_url, USER, PASSWORD, "ntlm"))
        imported.seconds = {"import": t1 - t0, "read": time.monotonic() - t1}
        yield imported


@pytest.fixture(scope="module")
def ews_gromox(fidelity_env: Path, sources: list[Path], gromox_server) -> Imported:  # noqa: ANN001
    """Every source imported into gromox over EWS (Basic auth, on-premises, direct, no impersonation)."""
    mb = gromox_server.lease()
    tmp = fidelity_env / "ews-gromox"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PSTIMPORT_PASSWORD", mb.password)
        prof = _profile(tmp, "ews-gromox", sources, mailbox=mb.email, target="on-premises", ews_url=mb.ews_url,
                        username=mb.email, impersonation=False)  # fmt: skip
        t0 = time.monotonic()
        started = datetime.now(UTC)
        result = _run(prof)
        finished = datetime.now(UTC)
    t1 = time.monotonic()
    imported = Imported("EWS gromox", "ews", started, finished, result)
    _index(imported, read_ews(mb.ews_url, mb.email, mb.password, "basic"))
    imported.seconds = {"import": t1 - t0, "read": time.monotonic() - t1}
    return imported


@pytest.fixture(scope="module")
def graph_sandbox(fidelity_env: Path, sources: list[Path]) -> Iterator[Imported]:
    """Every source imported into the sandbox over Graph (app-only OAuth at the sandbox's authority),
    read back through the sandbox's Graph API with a bearer token, as a client would."""
    import httpx

    from core.sandbox.server.app import Sandbox
    from core.transport.graph.pacing import forget_pacers
    from tests.fidelity.read_graph import read_mailbox

    forget_pacers()
    tmp = fidelity_env / "graph-sandbox"
    with (
        pytest.MonkeyPatch.context() as mp,
        Sandbox(tmp / "state", users={USER: PASSWORD}, apps={APP_ID: APP_SECRET}, tls=True) as sb,
    ):
        mp.setenv("PSTIMPORT_AUTHORITY_HOST", sb.base_url)
        mp.setenv("PSTIMPORT_GRAPH_URL", sb.graph_url)
        mp.setenv("PSTIMPORT_CLIENT_SECRET", APP_SECRET)
        prof = _profile(tmp, "graph-sandbox", sources, mailbox=USER, target="exchange-online", transport="graph",
                        auth_method="oauth-app", tenant_id=TENANT, client_id=APP_ID)  # fmt: skip
        prof.connection.ca_bundle = str(sb.ca_cert)
        t0 = time.monotonic()
        started = datetime.now(UTC)
        result = _run(prof)
        finished = datetime.now(UTC)
        t1 = time.monotonic()
        imported = Imported("Graph sandbox", "graph", started, finished, result)
        token = sb.mint_token(APP_ID, kind="app")
        # bodies as text, as a client comparing text asks for them (Prefer: outlook.body-content-type)
        headers = {"Authorization": f"Bearer {token}", "Prefer": 'outlook.body-content-type="text"'}
        with httpx.Client(base_url=sb.graph_url, headers=headers, verify=str(sb.ca_cert), timeout=60) as client:
            records, errors = read_mailbox(client, USER)
        imported.errors.extend(errors)
        _index(imported, records)
        imported.seconds = {"import": t1 - t0, "read": time.monotonic() - t1}
        yield imported


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """The per-field tables, in every run's output (CI logs included), pass or fail."""
    for text in TABLES:
        terminalreporter.write_sep("=", "fidelity: matched/compared per field")
        terminalreporter.write_line(text)
