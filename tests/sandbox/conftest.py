"""Fixtures for the sandbox: a running mailbox server whose every exchange is schema-checked.

Add fixtures here; do not rewrite (the PST-writer tests share this file).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.need import missing

SCHEMA_DIR = SHARED / "ews-schema"
SAMPLES_DIR = SHARED / "ews-samples"
# The server checks requests against the schema when it is there (as Exchange does); tests run without it too.
SERVER_SCHEMA = SCHEMA_DIR if (SCHEMA_DIR / "types.xsd").is_file() else None


def need_shared(path: Path) -> Path:
    """`path` under ../shared, or skip the test saying what is missing."""
    if not path.exists():
        missing("shared", f"{path} is missing (set PSTIMPORT_SHARED to the shared/ folder)")
    return path


# --- sandbox server fixtures ------------------------------------------------------------------
ALICE = "alice@sandbox.test"
BOB = "bob@sandbox.test"
SERVICE = "svc-import@sandbox.test"
PASSWORD = "Alice-pw-1"
BOB_PASSWORD = "Bob-pw-2"
SERVICE_PASSWORD = "Svc-pw-3"
APP_ID = "6a1c3f0e-0000-4000-8000-00000000a77e"
APP_SECRET = "app-secret-4"


_VALIDATOR: list = []


class SchemaChecker:
    """Validates every request and response body with ../shared/ews-schema/validate.py."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()
        self.validator = None
        if not (SCHEMA_DIR / "validate.py").is_file():  # nothing to check with: the server is still tested
            return
        if not _VALIDATOR:  # compiling the schema takes a while: once per session
            sys.path.insert(0, str(SCHEMA_DIR))
            try:
                from validate import EwsValidator, NotEws  # type: ignore[import-not-found]
            finally:
                sys.path.remove(str(SCHEMA_DIR))
            _VALIDATOR.extend([EwsValidator(), NotEws])
        self.validator, self.not_ews = _VALIDATOR

    def check(self, what: str, body: bytes) -> list[str]:
        if not body.strip() or self.validator is None:
            return []
        with self._lock:
            try:
                errors, _warnings = self.validator.check_bytes(body)
            except self.not_ews:  # SOAP Autodiscover: outside the EWS schema; still must be XML
                from lxml import etree

                etree.fromstring(body)
                errors = []
            self.checked += 1
            if errors:
                self.failures.append(f"{what}: {errors[:3]}\n{body[:1500]!r}")
        return errors

    def __call__(self, request: bytes, response: bytes) -> None:
        self.check("request", request)
        self.check("response", response)


@pytest.fixture
def schema_checker() -> Iterator[SchemaChecker]:
    """Collects schema failures of every exchange; the test fails at teardown if there were any."""
    checker = SchemaChecker()
    yield checker
    assert not checker.failures, "invalid EWS on the wire:\n" + "\n".join(checker.failures)


@pytest.fixture
def sandbox(tmp_path: Path, schema_checker: SchemaChecker):
    """A running sandbox on 127.0.0.1:0 with alice (with archive), bob, a service account and an app."""
    from core.sandbox.server.app import Sandbox

    sb = Sandbox(
        tmp_path / "state",
        users={ALICE: PASSWORD, BOB: BOB_PASSWORD, SERVICE: SERVICE_PASSWORD},
        archives=[ALICE],
        impersonators=[SERVICE],
        apps={APP_ID: APP_SECRET},
        schema_dir=SERVER_SCHEMA,
        on_exchange=schema_checker,
    ).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def tls_sandbox(tmp_path: Path, schema_checker: SchemaChecker, monkeypatch: pytest.MonkeyPatch):
    """Like `sandbox`, over HTTPS with a fresh CA that requests trusts through REQUESTS_CA_BUNDLE."""
    from core.sandbox.server.app import Sandbox

    sb = Sandbox(
        tmp_path / "state",
        users={ALICE: PASSWORD, BOB: BOB_PASSWORD, SERVICE: SERVICE_PASSWORD},
        archives=[ALICE],
        impersonators=[SERVICE],
        apps={APP_ID: APP_SECRET},
        tls=True,
        hostnames=["sandbox.test", "autodiscover.sandbox.test"],
        schema_dir=SERVER_SCHEMA,
        on_exchange=schema_checker,
    ).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sb.ca_cert))
    try:
        yield sb
    finally:
        sb.stop()


# --- PST writer fixtures ----------------------------------------------------------------------
WRITER_SEEDS = (1, 2, 3)


@pytest.fixture(scope="session")
def make_writer_pst(tmp_path_factory: pytest.TempPathFactory):
    """Factory: write a PST with our writer (cached per arguments) and return (path, truth)."""
    import json as _json

    from core.sandbox.pstwriter.content import generate

    cache: dict[tuple, tuple[Path, dict]] = {}
    base = tmp_path_factory.mktemp("writer-psts")

    def make(seed: int = 1, mode: str = "realistic", **kw: object) -> tuple[Path, dict]:
        key = (seed, mode, tuple(sorted(kw.items())))
        if key not in cache:
            name = f"{mode}-{seed}-" + "-".join(f"{k}{v}" for k, v in sorted(kw.items())) + ".pst"
            path = base / name
            generate(str(path), seed=seed, mode=mode, **kw)  # type: ignore[arg-type]
            truth = _json.loads(Path(str(path) + ".truth.json").read_text(encoding="utf-8"))
            cache[key] = (path, truth)
        return cache[key]

    return make


@pytest.fixture(scope="session", params=WRITER_SEEDS, ids=lambda s: f"seed{s}")
def realistic_pst(request: pytest.FixtureRequest, make_writer_pst) -> tuple[Path, dict]:
    """A realistic-mode PST from our writer, one per seed, with its ground truth."""
    return make_writer_pst(request.param, "realistic")


@pytest.fixture(scope="session", params=WRITER_SEEDS[:2], ids=lambda s: f"seed{s}")
def scale_pst(request: pytest.FixtureRequest, make_writer_pst) -> tuple[Path, dict]:
    """A small scale-mode PST (400 messages in 3 folders) from our writer, with its ground truth."""
    return make_writer_pst(request.param, "scale", items=400, folder_items=150)


# --- Graph front end fixtures -----------------------------------------------------------------
class GraphClient:
    """httpx clients on the sandbox's Graph root: `app` (client-credentials token) and `as_user(address)`."""

    def __init__(self, sb) -> None:
        import httpx

        self.sb = sb
        self._httpx = httpx
        self._clients: list = []
        self.app = self.client(sb.mint_token(APP_ID, kind="app"))
        self.beta = self.client(sb.mint_token(APP_ID, kind="app"), beta=True)

    def client(self, token: str | None, beta: bool = False):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        root = self.sb.graph_url_beta if beta else self.sb.graph_url
        client = self._httpx.Client(base_url=root, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def as_user(self, address: str, beta: bool = False):
        return self.client(self.sb.mint_token(address), beta=beta)

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture
def graph_sandbox(tmp_path: Path):
    """A running sandbox for Graph tests: alice (with archive), bob, the service account and the app."""
    from core.sandbox.server.app import Sandbox

    sb = Sandbox(
        tmp_path / "state",
        users={ALICE: PASSWORD, BOB: BOB_PASSWORD, SERVICE: SERVICE_PASSWORD},
        archives=[ALICE],
        impersonators=[SERVICE],
        apps={APP_ID: APP_SECRET},
    ).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def graph(graph_sandbox) -> Iterator[GraphClient]:
    """Graph clients on `graph_sandbox` (`graph.app`, `graph.beta`, `graph.as_user(ALICE)`, `graph.sb`)."""
    clients = GraphClient(graph_sandbox)
    try:
        yield clients
    finally:
        clients.close()
