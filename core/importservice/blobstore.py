"""Azure Blob storage, the only module that touches azure-storage-blob.

Uploads are block uploads we drive ourselves (stage_block / commit_block_list) rather
than the SDK's upload_blob, because we need three things it does not give together:

- **Resume.** Block ids are derived from the block's offset and length and a fingerprint
  of the file (size, mtime, block size). After an interruption, the uncommitted block
  list tells which blocks Azure already holds; those are not sent again. A changed file
  gets new ids, so stale blocks are never committed.
- **MD5.** The file's MD5 is computed while streaming (every block is read once, staged
  or not) and stored as the blob's Content-MD5; each block also carries a transactional
  MD5 that Azure checks on receipt. After the commit the blob's size, MD5 and block list
  are read back and compared.
- **Flat memory.** At most `threads * 2` blocks are in memory at once; a PST is never
  read whole.

Library exceptions are turned into `core.errors` types here, with the SAS signature redacted.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from core.errors import Interrupted, TransportError, UserError
from core.importservice.sas import SasUrl, redact

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_BLOCK_SIZE = 8 * MIB
MAX_BLOCKS = 50_000  # Azure's limit of committed blocks per block blob
MAX_BLOCK_SIZE = 4000 * MIB
METADATA_FINGERPRINT = "pstimport_fingerprint"
PST_SUFFIXES = (".pst", ".ost")


class StorageError(TransportError):
    """Azure Storage refused or failed a request. The message has no SAS signature."""


class StorageAuthError(UserError):
    """Azure said 403/401: the SAS is wrong, expired, or lacks a permission."""


def _translate(exc: BaseException, what: str) -> Exception:
    """Map an azure-core exception to ours, keeping one redacted line."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    first = str(getattr(exc, "reason", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
    detail = f"{status} {code or first}" if status else first
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return StorageAuthError(
            redact(f"{what}: access denied by Azure ({detail}); check the SAS URL's permissions and expiry")
        )
    if isinstance(exc, ServiceRequestError):
        return StorageError(redact(f"{what}: cannot reach the storage endpoint ({first})"))
    if isinstance(exc, HttpResponseError):
        return StorageError(redact(f"{what}: Azure error {detail}"))
    return StorageError(redact(f"{what}: {type(exc).__name__}: {first}"))


# ----------------------------------------------------------------------------- helpers


class RateLimiter:
    """A token bucket shared by all upload threads: caps the average upload rate.

    `clock` and `sleep` are injectable so the cap can be tested without waiting.
    """

    def __init__(
        self,
        bytes_per_second: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        self.rate = float(bytes_per_second)
        self.burst = float(burst if burst is not None else bytes_per_second)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()

    def acquire(self, amount: int) -> None:
        """Block until `amount` bytes may be sent. Amounts above the burst are paid on credit."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= amount
            wait_for = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait_for > 0:
            self._sleep(wait_for)


class Progress:
    """Upload progress on stderr: a redrawn bar on a terminal, plain lines otherwise (logs, CI)."""

    def __init__(self, total: int, label: str, stream: IO[str] | None = None, *, enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_pct = -1
        self._start = time.monotonic()
        self._lock = threading.Lock()

    def advance(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            self._draw(final=False)

    def finish(self, note: str = "") -> None:
        with self._lock:
            self._draw(final=True, note=note)

    def _draw(self, *, final: bool, note: str = "") -> None:
        if not self.enabled:
            return
        pct = min(100, int(self.done * 100 / self.total))
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = self.done / elapsed / MIB
        text = f"{self.label}: {pct:3d}% {self.done / MIB:.1f}/{self.total / MIB:.1f} MiB {rate:.1f} MiB/s"
        if note:
            text += f" {note}"
        if self._tty:
            width = 24
            filled = width * pct // 100
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
            if final:
                self.stream.write("\n")
            self.stream.flush()
        elif final or pct // 10 > self._last_pct // 10:
            self._last_pct = pct
            self.stream.write(text + "\n")
            self.stream.flush()


def blob_name(path: Path, root: Path | None, prefix: str = "") -> str:
    """The blob name for a PST: `prefix` + its path relative to `root` (or its file name).

    Case and spaces are kept exactly: the Import Service matches names case-sensitively,
    and the mapping CSV is built from the same function.
    """
    rel = PurePosixPath(path.name) if root is None else PurePosixPath(*path.relative_to(root).parts)
    prefix = prefix.strip("/")
    return f"{prefix}/{rel}" if prefix else str(rel)


def find_psts(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """Expand the given files and folders into (pst, root) pairs; folders are walked for .pst/.ost.

    Raises:
        UserError: a path does not exist, or a folder holds no PST.
    """
    found: list[tuple[Path, Path | None]] = []
    for given in paths:
        if given.is_dir():
            inside = sorted(p for p in given.rglob("*") if p.is_file() and p.suffix.lower() in PST_SUFFIXES)
            if not inside:
                raise UserError(f"{given}: no .pst or .ost files in this folder")
            found.extend((p, given) for p in inside)
        elif given.is_file():
            found.append((given, None))
        else:
            raise UserError(f"{given}: no such file or folder")
    return found


def _fingerprint(path: Path, block_size: int) -> str:
    st = path.stat()
    raw = f"{st.st_size}:{st.st_mtime_ns}:{block_size}".encode()
    return hashlib.sha256(raw).hexdigest()[:12]


def block_id(offset: int, length: int, fingerprint: str) -> str:
    """A block id: the same for the same bytes of the same file version, so a re-run finds it.

    All ids of one blob must have the same length; the fixed-width fields guarantee that.
    """
    return base64.b64encode(f"{fingerprint}-{offset:015d}-{length:010d}".encode()).decode()


@dataclass(frozen=True)
class UploadResult:
    """What one PST upload did."""

    path: str
    blob: str
    size: int
    md5_hex: str
    blocks: int
    blocks_sent: int
    blocks_reused: int
    skipped: bool  # the blob was already there, complete and identical
    verified: bool  # size, MD5 and block list read back and matched


@dataclass(frozen=True)
class BlobEntry:
    """A blob as listed."""

    name: str
    size: int
    last_modified: dt.datetime
    md5_hex: str | None


# ----------------------------------------------------------------------------- the container


class Container:
    """A blob container reached through a SAS URL."""

    def __init__(self, sas: SasUrl, *, timeout: float = 120.0) -> None:
        from azure.storage.blob import ContainerClient

        self.sas = sas
        # retry_total keeps a dead endpoint from hanging a run for minutes.
        self._client = ContainerClient.from_container_url(
            sas.container_url, connection_timeout=20, read_timeout=timeout, retry_total=3
        )

    def __repr__(self) -> str:
        return f"Container({self.sas.redacted})"

    # -- listing and deleting

    def list(self, prefix: str = "") -> list[BlobEntry]:
        """Every blob under `prefix` (the URL's folder is added in front), in name order."""
        full = self.sas.folder + prefix.lstrip("/")
        try:
            entries = [
                BlobEntry(
                    name=b.name,
                    size=b.size,
                    last_modified=b.last_modified.astimezone(dt.UTC),
                    md5_hex=bytes(b.content_settings.content_md5).hex()
                    if b.content_settings and b.content_settings.content_md5
                    else None,
                )
                for b in self._client.list_blobs(name_starts_with=full or None)
            ]
        except Exception as exc:
            raise _translate(exc, f"listing {self.sas.container}/{full}") from None
        return sorted(entries, key=lambda e: e.name)

    def delete(self, name: str) -> None:
        """Delete one blob (and its snapshots)."""
        try:
            self._client.delete_blob(name, delete_snapshots="include")
        except Exception as exc:
            raise _translate(exc, f"deleting {name}") from None

    # -- uploading

    def upload(
        self,
        path: Path,
        name: str,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        threads: int = 4,
        limiter: RateLimiter | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        verify: bool = True,
    ) -> UploadResult:
        """Upload `path` as block blob `name`, resuming a previous partial upload.

        Raises:
            Interrupted: `cancel` was set; the staged blocks stay for the next run.
            StorageAuthError, StorageError: Azure refused or failed.
            UserError: the file cannot be read, or would need more than 50,000 blocks.
        """
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import ContentSettings

        cancel = cancel or threading.Event()
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        if size > block_size * MAX_BLOCKS:
            block_size = -(-size // MAX_BLOCKS)
            if block_size > MAX_BLOCK_SIZE:
                raise UserError(f"{path}: too large for a block blob ({size} bytes)")
        fp = _fingerprint(path, block_size)
        blob = self._client.get_blob_client(name)
        where = f"{path} -> {name}"

        # Already there, complete? (needs read; without it we just upload again)
        existing_md5: bytes | None = None
        staged: dict[str, int] = {}
        try:
            props = blob.get_blob_properties()
            if props.size == size and (props.metadata or {}).get(METADATA_FINGERPRINT) == fp:
                existing_md5 = props.content_settings.content_md5
        except ResourceNotFoundError:
            pass
        except Exception as exc:
            err = _translate(exc, where)
            if not isinstance(err, StorageAuthError):
                raise err from None
            log.debug("cannot read blob properties (no read permission?): %s", err)
        try:
            _committed, uncommitted = blob.get_block_list("uncommitted")
            staged = {b.id: b.size for b in uncommitted}
        except ResourceNotFoundError:
            pass
        except Exception as exc:
            err = _translate(exc, where)
            if not isinstance(err, StorageAuthError):
                raise err from None
            log.debug("cannot list uncommitted blocks: %s", err)

        if existing_md5 is not None:
            # Same size and file version: compare the content hash before skipping.
            local = file_md5(path)
            if bytes(existing_md5).hex() == local:
                if progress:
                    progress.advance(size)
                    progress.finish("already uploaded")
                blocks = max(1, -(-size // block_size))
                return UploadResult(str(path), name, size, local, blocks, 0, 0, True, True)
            log.warning("%s: blob exists with different content; uploading it again", name)

        md5 = hashlib.md5(usedforsecurity=False)
        ids: list[str] = []
        sent = reused = 0
        pending: set[Future[None]] = set()
        max_pending = max(1, threads) * 2

        def stage(bid: str, data: bytes) -> None:
            if cancel.is_set():
                raise Interrupted(f"{where}: interrupted")
            if limiter:
                limiter.acquire(len(data))
            try:
                blob.stage_block(bid, data, length=len(data), validate_content=True)
            except Exception as exc:
                raise _translate(exc, f"{where}: block at {bid}") from None
            if progress:
                progress.advance(len(data))

        def drain(block: bool) -> None:
            nonlocal pending
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED) if block else (set(), pending)
            for fut in done:
                fut.result()  # re-raise a worker's error here

        pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="pst-upload")
        try:
            with path.open("rb") as fh:
                for offset, data in _blocks(fh, block_size):
                    if cancel.is_set():
                        raise Interrupted(f"{where}: interrupted; run again to resume")
                    bid = block_id(offset, len(data), fp)
                    ids.append(bid)
                    md5.update(data)
                    if staged.get(bid) == len(data):
                        reused += 1
                        if progress:
                            progress.advance(len(data))
                        continue
                    while len(pending) >= max_pending:
                        drain(block=True)
                    pending.add(pool.submit(stage, bid, data))
                    sent += 1
                while pending:
                    drain(block=True)
        except BaseException:
            cancel.set()  # stop the workers quickly; staged blocks stay for resume
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

        digest = md5.digest()
        try:
            blob.commit_block_list(
                ids,
                content_settings=ContentSettings(
                    content_md5=bytearray(digest), content_type="application/vnd.ms-outlook"
                ),
                metadata={METADATA_FINGERPRINT: fp},
            )
        except Exception as exc:
            raise _translate(exc, f"{where}: committing the block list") from None

        verified = self._verify(blob, size, digest, ids, where) if verify else False
        if progress:
            progress.finish("verified" if verified else "done")
        return UploadResult(str(path), name, size, digest.hex(), len(ids), sent, reused, False, verified)

    def _verify(self, blob, size: int, digest: bytes, ids: list[str], where: str) -> bool:  # noqa: ANN001
        """Read back size, Content-MD5 and the committed block list. False when we may not read."""
        try:
            props = blob.get_blob_properties()
            committed, _ = blob.get_block_list("committed")
        except Exception as exc:
            err = _translate(exc, where)
            if isinstance(err, StorageAuthError):
                log.info("%s: not verified (the SAS has no read permission)", name_of(blob))
                return False
            raise err from None
        stored = bytes(props.content_settings.content_md5 or b"")
        if props.size != size or stored != digest or [b.id for b in committed] != ids:
            raise StorageError(
                f"{where}: verification failed (size {props.size} vs {size}, MD5 "
                f"{stored.hex() or 'none'} vs {digest.hex()})"
            )
        return True


def name_of(blob) -> str:  # noqa: ANN001
    return getattr(blob, "blob_name", "?")


def _blocks(fh: IO[bytes], block_size: int) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while True:
        data = fh.read(block_size)
        if not data:
            return
        yield offset, data
        offset += len(data)


def file_md5(path: Path, chunk: int = MIB) -> str:
    """Hex MD5 of a file, streamed."""
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while data := fh.read(chunk):
            md5.update(data)
    return md5.hexdigest()


def older_than(
    entries: list[BlobEntry], days: float, now: dt.datetime | None = None, only_psts: bool = True
) -> list[BlobEntry]:
    """The entries last modified more than `days` days before `now`, PSTs/OSTs only by default."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=days)
    return [e for e in entries if e.last_modified < cutoff and (not only_psts or e.name.lower().endswith(PST_SUFFIXES))]
