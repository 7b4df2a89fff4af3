"""The reader yields exactly what it yielded when tests/pst/reader_digests.json was recorded (before
its per-item cost was cut): every folder, item, property (order, type, value, error), recipient,
attachment row, attachment data SHA-256, embedded message and libpff RTF body of every readable
corpus file. Re-record only for an intended change: `python -m tests.pst.test_reader_equality`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .reader_digest import file_digest
from .test_scan import readable_files

FIXTURE = Path(__file__).with_name("reader_digests.json")


def test_corpus_reads_match_recorded_digests(corpus_dir: Path, manifest: dict) -> None:
    """Every readable corpus file reads to the recorded digest of all its folders and items."""
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    names = readable_files(manifest)
    assert sorted(recorded) == names  # a new corpus file needs its digest recorded
    differ = [name for name in names if file_digest(corpus_dir / name) != recorded[name]]
    assert differ == []


if __name__ == "__main__":  # re-record: python -m tests.pst.test_reader_equality [corpus dir]
    from tests.conftest import CORPUS

    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS
    entries = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))["files"]
    files = readable_files({e["file"]: e for e in entries})
    FIXTURE.write_text(json.dumps({n: file_digest(corpus / n) for n in files}, indent=1, sort_keys=True) + "\n")
