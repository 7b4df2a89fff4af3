"""Upload, resume, MD5, listing and clean-up against a real Azurite blob emulator."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
from pathlib import Path

import pytest

from core.errors import Interrupted
from core.importservice.blobstore import (
    MIB,
    BlobEntry,
    Container,
    Progress,
    RateLimiter,
    StorageAuthError,
    blob_name,
    find_psts,
    older_than,
)
from core.importservice.sas import parse_sas


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_upload_keeps_relative_names_and_verifies_md5(azurite, container, sample_psts):
    """Each corpus PST lands under its relative path, case kept, with the blob's Content-MD5 = file MD5."""
    store = Container(parse_sas(azurite.container_sas(container, "racwl")))
    results = []
    for pst, root in find_psts([sample_psts]):
        results.append(store.upload(pst, blob_name(pst, root, "batch1"), block_size=64 * 1024, threads=3))
    names = sorted(r.blob for r in results)
    assert names == [
        "batch1/Alice Archive.PST",
        "batch1/Sales Team/Carol's Mail.pst",
        "batch1/Sales Team/bob 2016.pst",
    ]
    assert all(r.verified for r in results)
    listed = {e.name: e for e in store.list("batch1/")}
    assert set(listed) == set(names)
    for r in results:
        assert listed[r.blob].md5_hex == _md5(Path(r.path)) == r.md5_hex
        assert listed[r.blob].size == Path(r.path).stat().st_size
    # The bytes read back are the file's bytes.
    data = azurite.service.get_blob_client(container, "batch1/Sales Team/bob 2016.pst").download_blob().readall()
    assert data == (sample_psts / "Sales Team" / "bob 2016.pst").read_bytes()


def test_interrupted_upload_resumes_without_resending_blocks(azurite, container, make_file, tmp_path):
    """A cancelled upload leaves staged blocks; the second run sends only the missing ones and verifies."""
    pst = make_file(tmp_path / "big.pst", 3 * MIB + 123)
    store = Container(parse_sas(azurite.container_sas(container, "rwl")))
    cancel = threading.Event()

    class StopAfter(Progress):
        def advance(self, amount: int) -> None:
            super().advance(amount)
            if self.done >= 5 * 256 * 1024:  # five blocks staged
                cancel.set()

    with pytest.raises(Interrupted):
        store.upload(pst, "big.pst", block_size=256 * 1024, threads=1, cancel=cancel,
                     progress=StopAfter(pst.stat().st_size, "big.pst", io.StringIO()))  # fmt: skip
    assert [e.name for e in store.list()] == []  # nothing committed yet
    result = store.upload(pst, "big.pst", block_size=256 * 1024, threads=2)
    total_blocks = -(-pst.stat().st_size // (256 * 1024))
    assert result.blocks == total_blocks
    assert result.blocks_reused >= 5
    assert result.blocks_sent == total_blocks - result.blocks_reused
    assert result.verified and result.md5_hex == _md5(pst)
    data = azurite.service.get_blob_client(container, "big.pst").download_blob().readall()
    assert hashlib.md5(data).hexdigest() == _md5(pst)


def test_second_upload_of_same_file_is_skipped(azurite, container, make_file, tmp_path):
    """Uploading an unchanged file again sends nothing: the blob's fingerprint and MD5 match."""
    pst = make_file(tmp_path / "a.pst", 300_000)
    store = Container(parse_sas(azurite.container_sas(container, "rwl")))
    first = store.upload(pst, "a.pst", block_size=64 * 1024)
    again = store.upload(pst, "a.pst", block_size=64 * 1024)
    assert not first.skipped and first.blocks_sent == first.blocks
    assert again.skipped and again.blocks_sent == 0 and again.md5_hex == first.md5_hex


def test_changed_file_is_uploaded_again(azurite, container, make_file, tmp_path):
    """A file rewritten with other content gets fresh block ids, and the blob ends with the new bytes."""
    pst = make_file(tmp_path / "a.pst", 200_000)
    store = Container(parse_sas(azurite.container_sas(container, "rwl")))
    store.upload(pst, "a.pst", block_size=64 * 1024)
    pst.write_bytes(b"x" * 150_000)
    second = store.upload(pst, "a.pst", block_size=64 * 1024)
    assert not second.skipped and second.verified
    data = azurite.service.get_blob_client(container, "a.pst").download_blob().readall()
    assert data == b"x" * 150_000


def test_write_only_sas_uploads_but_cannot_verify(azurite, container, make_file, tmp_path):
    """With only write permission (like some Import Service URLs) the upload still works, unverified."""
    pst = make_file(tmp_path / "w.pst", 100_000)
    store = Container(parse_sas(azurite.container_sas(container, "w")))
    result = store.upload(pst, "w.pst", block_size=32 * 1024)
    assert not result.verified
    props = azurite.service.get_blob_client(container, "w.pst").get_blob_properties()
    assert bytes(props.content_settings.content_md5).hex() == _md5(pst)


def test_listing_without_list_permission_is_a_clear_error(azurite, container):
    """Azure's 403 becomes one StorageAuthError line without the signature."""
    url = azurite.container_sas(container, "w")
    with pytest.raises(StorageAuthError) as err:
        Container(parse_sas(url)).list()
    assert "access denied" in str(err.value)
    assert parse_sas(url).signature not in str(err.value)


def test_folder_in_sas_url_prefixes_blob_names(azurite, container, make_file, tmp_path):
    """A SAS URL ending in a folder (.../container/PSTUploads?...) lists only under that folder."""
    pst = make_file(tmp_path / "x.pst", 10_000)
    sas = parse_sas(azurite.container_sas(container, "rwl", path="PSTUploads"))
    store = Container(sas)
    store.upload(pst, blob_name(pst, None, sas.folder))
    Container(parse_sas(azurite.container_sas(container, "rwl"))).upload(pst, "elsewhere/x.pst")
    assert [e.name for e in store.list()] == ["PSTUploads/x.pst"]


def test_older_than_selects_only_old_psts():
    """The clean-up filter keeps PSTs/OSTs older than the cut-off and nothing else."""
    now = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    entries = [
        BlobEntry("old.pst", 1, now - dt.timedelta(days=40), None),
        BlobEntry("OLD2.OST", 1, now - dt.timedelta(days=31), None),
        BlobEntry("new.pst", 1, now - dt.timedelta(days=2), None),
        BlobEntry("old-notes.txt", 1, now - dt.timedelta(days=90), None),
    ]
    assert [e.name for e in older_than(entries, 30, now)] == ["old.pst", "OLD2.OST"]
    assert [e.name for e in older_than(entries, 30, now, only_psts=False)] == [
        "old.pst", "OLD2.OST", "old-notes.txt"]  # fmt: skip


def test_rate_limiter_enforces_average_rate():
    """With a 1 MiB/s cap, sending 4 MiB in 1 MiB pieces must wait ~3 s in total (fake clock)."""
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(MIB, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.acquire(MIB)
    assert sum(slept) == pytest.approx(3.0, rel=0.01)


def test_progress_plain_lines_when_not_a_tty():
    """Off a terminal, progress is plain lines (no carriage returns), ending at 100%."""
    out = io.StringIO()
    p = Progress(1000, "x.pst", out)
    for _ in range(10):
        p.advance(100)
    p.finish("verified")
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines()[-1].startswith("x.pst: 100%") and "verified" in text
