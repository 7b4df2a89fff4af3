"""`make bench`'s harness on tiny inputs: it writes a well-formed report with a verdict per target.

The real figures come from `python -m tests.bench` (tests/bench, never collected); this only proves
the harness runs end to end and says PASS/MISS honestly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERDICTS = {"PASS", "MISS", "N/A", "ERROR"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--quick", "--groups", "convert,wizard", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


@pytest.mark.timeout(60)
def test_report_has_machine_versions_and_load(quick_report: tuple[dict, str]) -> None:
    """The JSON report names the machine, the versions and the load average at start and end."""
    report, md = quick_report
    assert report["mode"] == "quick"
    assert report["machine"]["cores_logical"] >= 1 and report["machine"]["ram_gb"] > 0
    assert report["machine"]["cpu_model"]
    for key in ("python", "pstimport_commit", "exchangelib", "pypff", "textual", "pst_writer"):
        assert report["versions"][key], key
    assert len(report["load_start"]) == 3 and len(report["load_end"]) == 3
    assert f"pstimport {report['versions']['pstimport_commit']}" in md


@pytest.mark.timeout(60)
def test_each_group_has_a_verdict_and_real_figures(quick_report: tuple[dict, str]) -> None:
    """Convert compares ours with readpst on the same files; the wizard group has both of its figures."""
    report, _ = quick_report
    groups = report["groups"]
    assert set(groups) == {"convert", "wizard"}
    for g in groups.values():
        assert g["status"] in VERDICTS and "error" not in g, g.get("error")
    rows = groups["convert"]["rows"]
    assert rows and all(r["items"] > 0 and r["ours"]["items_per_s"] > 0 for r in rows)
    assert any(r["origin"].startswith("writer") for r in rows)  # a scale PST from our writer, cached
    if rows[0]["readpst"] is not None:
        ratios = [r["ratio"] for r in rows]
        assert groups["convert"]["ratio"] == min(ratios)
        assert groups["convert"]["status"] == ("PASS" if min(ratios) >= 1.0 else "MISS")
    w = groups["wizard"]
    assert 0 < w["first_screen_seconds"] < 30
    assert w["table"]["refreshes"] > 0 and w["table"]["items_per_second_fed"] > 0


@pytest.mark.timeout(60)
def test_markdown_says_misses_plainly(quick_report: tuple[dict, str]) -> None:
    """The Markdown summary lists every group with its verdict; a missed target gets a profiling-note slot."""
    report, md = quick_report
    assert "## Summary" in md and "## Machine and versions" in md
    for name, g in report["groups"].items():
        assert f"## {name}: {g['title']}" in md
        assert f"**{g['status']}**" in md
    misses = [n for n, g in report["groups"].items() if g["status"] == "MISS"]
    assert md.count("**Target missed. Profiling note:**") == len(misses)
