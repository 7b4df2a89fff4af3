"""Fixtures for profile tests: profile files on disk and a real, temporary keyring."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.cryptfile.cryptfile import CryptFileKeyring

KEYRING_PASSWORD = "test-keyring-Pa55!"

VALID_ONPREM = """\
version: 1
name: test-run
connection:
  target: on-premises
  discovery: direct
  ews_url: https://mail.example.com/EWS/Exchange.asmx
  auth:
    method: password
    username: svc@example.com
mailbox: matt@example.com
sources:
  - path: sample.pst
    include: ["Inbox/**"]
performance:
  max_threads: 4
"""

VALID_ONLINE = """\
version: 1
name: online-run
connection:
  target: exchange-online
  auth:
    method: oauth-app
    tenant_id: contoso.onmicrosoft.com
    client_id: 6731de76-14a6-49ae-97bc-6eba6914391e
  impersonation: true
mailbox: jane@contoso.com
sources:
  - path: sample.pst
"""


@pytest.fixture(scope="session")
def empty_pst(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of an empty PST from our writer (the profile checks read a source's header, as run does)."""
    from core.sandbox.pstwriter import PstWriter

    path = tmp_path_factory.mktemp("empty-pst") / "empty.pst"
    with PstWriter(str(path)):
        pass
    return path.read_bytes()


@pytest.fixture
def write_profile(tmp_path: Path, empty_pst: bytes) -> Callable[..., Path]:
    """Write profile text to tmp_path (with a real, empty sample.pst beside it) and return its path."""
    (tmp_path / "sample.pst").write_bytes(empty_pst)

    def write(text: str, name: str = "profile.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def fast_cryptfile(path: Path, password: str | None = KEYRING_PASSWORD) -> CryptFileKeyring:
    """A real CryptFileKeyring in `path`; Argon2 made cheaper so tests stay quick (same algorithm)."""
    kr = CryptFileKeyring()
    kr.time_cost = 2
    kr.memory_cost = 2**12
    kr.file_path = str(path)
    if password is not None:
        kr.keyring_key = password
    return kr


@pytest.fixture
def cryptfile_keyring(tmp_path: Path) -> Iterator[CryptFileKeyring]:
    """The process keyring is a real encrypted-file keyring in tmp_path, unlocked."""
    previous = keyring.get_keyring()
    kr = fast_cryptfile(tmp_path / "keyring.cfg")
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def set_keyring() -> Iterator[Callable[[keyring.backend.KeyringBackend], None]]:
    """Set the process keyring to a given backend for one test, then restore it."""
    previous = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(previous)
