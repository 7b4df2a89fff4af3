"""Fixtures for Import Service tests: a real Azurite blob emulator and SAS tokens signed with its key."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.need import CORPUS, missing

REPO = Path(__file__).resolve().parents[2]

# Azurite's well-known development account (documented, public; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _azurite_binary() -> str | None:
    for candidate in (
        os.environ.get("AZURITE_BLOB"),
        shutil.which("azurite-blob"),
        str(REPO / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Azurite:
    """A running azurite-blob on 127.0.0.1."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint  # http://127.0.0.1:PORT/devstoreaccount1
        from azure.storage.blob import BlobServiceClient

        self.service = BlobServiceClient(
            endpoint, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        )

    def new_container(self) -> str:
        name = f"c{uuid.uuid4().hex[:20]}"
        self.service.create_container(name)
        return name

    def container_sas(
        self,
        container: str,
        permission: str,
        *,
        expiry: dt.timedelta = dt.timedelta(hours=2),
        path: str = "",
    ) -> str:
        """A container SAS URL signed with the account key, as Microsoft or the customer would give it."""
        from azure.storage.blob import generate_container_sas

        token = generate_container_sas(
            AZURITE_ACCOUNT,
            container,
            account_key=AZURITE_KEY,
            permission=permission,
            expiry=dt.datetime.now(dt.UTC) + expiry,
            start=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        )
        suffix = f"/{path}" if path else ""
        return f"{self.endpoint}/{container}{suffix}?{token}"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Start Azurite's blob service on a free port for the session; skip when Node/Azurite is missing."""
    binary = _azurite_binary()
    if binary is None or shutil.which("node") is None:
        missing("azurite", "Azurite not installed (npm install --prefix .cache/azurite azurite, or npm i -g azurite)")
    location = tmp_path_factory.mktemp("azurite")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location),
         "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                missing("azurite", f"Azurite failed to start: {out[-300:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    missing("azurite", "Azurite did not open its port within 30 s")
                time.sleep(0.2)
        yield Azurite(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def container(azurite: Azurite) -> str:
    """A fresh, empty container."""
    return azurite.new_container()


@pytest.fixture
def sample_psts(tmp_path: Path) -> Path:
    """A folder tree of small real PSTs from the shared corpus (copied), with mixed-case names."""
    sources = ["pst2john_2003_no-encryption_quickquick.pst", "enron-edrm_sample_32-bit.pst",
               "process-pst_four_nesting_levels.pst"]  # fmt: skip
    if not all((CORPUS / s).exists() for s in sources):
        missing("corpus", f"PST corpus missing at {CORPUS}")
    root = tmp_path / "psts"
    (root / "Sales Team").mkdir(parents=True)
    shutil.copy(CORPUS / sources[0], root / "Alice Archive.PST")
    shutil.copy(CORPUS / sources[1], root / "Sales Team" / "bob 2016.pst")
    shutil.copy(CORPUS / sources[2], root / "Sales Team" / "Carol's Mail.pst")
    return root


@pytest.fixture
def make_file() -> Callable[[Path, int], Path]:
    """Write a file of pseudo-random bytes (deterministic) of the given size."""

    def make(path: Path, size: int) -> Path:
        import random

        rnd = random.Random(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            left = size
            while left:
                n = min(left, 1 << 20)
                fh.write(rnd.randbytes(n))
                left -= n
        return path

    return make
