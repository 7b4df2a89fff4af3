"""The verification report counts address rewrites and keeps what conversion lost, in real runs too."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_profile

from core.sandbox.pstwriter.content import generate


def _unresolvable_dns(truth: dict) -> set[str]:
    """Legacy DNs the writer made deliberately unresolvable (no SMTP anywhere in the PST)."""
    out = set()
    for item in truth["items"]:
        for r in item.get("recipients") or []:
            if r["address_type"] == "EX" and not r["resolvable"]:
                out.add(r["email"].lower())
    return out


def test_report_counts_rewrites_and_lists_the_unresolvable(tmp_path: Path, sandbox, profile_for) -> None:
    """A realistic writer PST: rewrites are counted by source, exactly the unresolvable DNs are listed."""
    pst = tmp_path / "realistic.pst"
    generate(str(pst), seed=4, mode="realistic")
    truth = json.loads(Path(str(pst) + ".truth.json").read_text())
    expected = _unresolvable_dns(truth)
    assert expected, "the writer's realistic mode should include unresolvable EX addresses"

    result = run_profile(profile_for([pst]))
    assert result.exit_code == 0, result.failures
    report = json.loads(Path(result.report_json).read_text())
    rewriting = report["address_rewriting"]
    assert sum(rewriting["rewritten"].values()) > 0
    listed = {u["address"].lower() for u in rewriting["unresolved"]}
    assert expected <= listed
    assert all(a.startswith("/o=") for a in listed)
    assert rewriting["failed"].get("not_found", 0) >= len(expected)
    html = Path(result.report_html).read_text()
    assert "Address rewriting" in html and "Unresolved legacy addresses" in html
    notes = report["conversion_notes"]["shown"]
    # The writer's items convert without loss but for the unresolvable recipients, each named on its item
    # (kept by name in the header, never a made-up address); what the server cannot take is noted per item
    # as it is created: the meetings' organizer (the PST owner, not this mailbox: the server makes the
    # mailbox owner the organizer) and, over Graph, attendees and list members kept as text (typed.py).
    unaddressed = {
        r["name"]
        for item in truth["items"]
        for r in item.get("recipients") or []
        if r["address_type"] == "EX" and not r["resolvable"]
    }
    losses = ["organizer Sandbox Owner <owner@example.com> not kept", "has no SMTP address: kept by name"]
    if sandbox.test_transport == "graph":
        losses += ["attendee(s) kept as text", "list member(s) kept in the body only"]
    assert all(any(loss in n for loss in losses) for n in notes)
    assert all(any(loss in n for n in notes) for loss in losses)
    assert all(any(f"recipient {name!r} has no SMTP address" in n for n in notes) for name in unaddressed)


def test_report_keeps_conversion_notes_of_a_real_run(corpus_dir: Path, tmp_path: Path, sandbox, profile_for) -> None:
    """The QUIRK corpus file's per-item losses are in the JSON and HTML reports of a real (not dry) run."""
    import shutil

    name = "QUIRK_aspose-net_Test_part1_unspecified-proptype.pst"
    pst = tmp_path / name
    shutil.copy(corpus_dir / name, pst)
    result = run_profile(profile_for([pst]))
    assert result.imported > 0
    report = json.loads(Path(result.report_json).read_text())
    notes = report["conversion_notes"]
    assert notes["total"] == len(notes["shown"])
    assert all(n.startswith(name) for n in notes["shown"])
    # 12 items pypff refuses, and the properties whose stored type does not fit, noted as each item is sent
    refused = [n for n in notes["shown"] if "the PST library refused it" in n]
    assert len(refused) == 12
    assert all("not kept: its value does not fit its type" in n for n in notes["shown"] if n not in refused)
    assert f"Conversion notes ({notes['total']})" in Path(result.report_html).read_text()
