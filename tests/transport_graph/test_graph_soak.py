"""The Graph soak against the sandbox with all of Exchange Online's limits (tests/bench/graph_soak.py):
every item exactly once as read back through Graph, large attachments intact through upload
sessions, no budget passed, the binding one used to within 10%, every 429 answered."""

from __future__ import annotations

import pytest

from core.transport.graph.pacing import forget_pacers
from tests.bench.graph_soak import FULL, SHORT, run_soak, summary


def _soak(params, tmp_path) -> None:  # noqa: ANN001
    try:
        figures = run_soak(params, tmp_path / "soak")
    finally:
        forget_pacers()
    lines = summary(figures)
    print("\n".join(lines))
    # ok: exactly once, nothing failed (so any 429 was waited out and answered), no budget passed.
    assert figures["ok"], "\n".join(lines)


def test_graph_soak_short(tmp_path):
    """300 items with 10 and 12 MB attachments under scaled Exchange Online limits (about a minute)."""
    _soak(SHORT, tmp_path)


@pytest.mark.slow
def test_graph_soak_full(tmp_path):
    """3,000 items with attachments of 10 to 40 MB under scaled Exchange Online limits (several minutes)."""
    _soak(FULL, tmp_path)
