"""The NDB/LTP layer yields exactly what it yielded when tests/pst/ndb_digests.json was recorded
(before it was made faster): every node, property, table row, recipient, attachment (data SHA-256)
and embedded message of every corpus file, and of two writer scale PSTs (made in .bench/psts when missing).
Re-record only for an intended change: `python -m tests.pst.test_ndb_equality`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.need import CORPUS, missing

from .ndb_digest import ndb_file_digest

FIXTURE = Path(__file__).with_name("ndb_digests.json")
_REPO = Path(__file__).resolve().parents[2]
_CORPUS = CORPUS
_BENCH = _REPO / ".bench" / "psts"  # tests.bench.suite.cached_pst makes these (name = seed + writer version)
# Writer PSTs recorded, by the name tests.bench.suite.cached_pst gives them without the writer's version: the
# writer makes the same bytes from the same seed, so a writer change that keeps its output (a refactor) keeps
# the digest, and one that changes its output fails here until re-recorded on purpose.
WRITER_PSTS = {
    "scale-1000items-small-seed1": {"seed": 1, "items": 1000, "mix": "small"},
    "scale-100mb-seed1": {"seed": 1, "size_mb": 100},
}
_RECORDED = json.loads(FIXTURE.read_text(encoding="utf-8")) if FIXTURE.exists() else {}


def _corpus_files() -> list[str]:
    return sorted(p.name for p in _CORPUS.glob("*") if p.suffix in (".pst", ".ost", ".bin")) if _CORPUS.is_dir() else []


def test_corpus_matches_recorded_ndb_digests() -> None:
    """Every corpus file (broken ones included: their errors are pinned) reads to its recorded NDB digest."""
    names = _corpus_files()
    if not names:
        missing("corpus", f"PST corpus not found at {_CORPUS}")
    corpus = {k[len("corpus/") :]: v for k, v in _RECORDED.items() if k.startswith("corpus/")}
    assert sorted(corpus) == names  # a new corpus file needs its digest recorded
    differ = [name for name in names if ndb_file_digest(_CORPUS / name) != corpus[name]]
    assert differ == []


@pytest.mark.parametrize("name", sorted(WRITER_PSTS))
def test_writer_pst_matches_recorded_ndb_digest(name: str) -> None:
    """A writer scale PST (hundreds of items, big attachments, XBLOCK data trees) reads to its recorded digest."""
    from tests.bench.suite import cached_pst

    path, _seconds = cached_pst(_BENCH, **WRITER_PSTS[name])  # the same seed gives the same bytes
    assert path.name.startswith(name + "-w")
    assert ndb_file_digest(path) == _RECORDED[f"writer/{name}"], (
        "the NDB digest differs: the reader changed what it yields, or the writer's output changed "
        f"(then re-record on purpose: python -m {__name__})"
    )


if __name__ == "__main__":  # re-record: python -m tests.pst.test_ndb_equality
    from tests.bench.suite import cached_pst

    out = {f"corpus/{n}": ndb_file_digest(_CORPUS / n) for n in _corpus_files()}
    for name, how in WRITER_PSTS.items():
        out[f"writer/{name}"] = ndb_file_digest(cached_pst(_BENCH, **how)[0])
    FIXTURE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
