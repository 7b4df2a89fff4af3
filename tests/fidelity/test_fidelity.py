"""Every field of every item, proven by reading it back with a client we did not write.

Sources: every readable corpus file and a realistic writer PST. Targets: the sandbox over EWS, gromox
over EWS, the sandbox over Graph (module-scoped imports in conftest.py, each made once). The per-field
table (matched/compared per transport and server) is printed at the end of the run.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from core.convert.limits import CANNOT_CARRY
from tests.fidelity import conftest as fx
from tests.fidelity.compare import FIELDS, RULES, table, tally
from tests.fidelity.source import Expected
from tests.gromox import (
    DEVIATION_ATTACHED_ITEM,
    DEVIATION_BIN_NAME,
    DEVIATION_BINARY_PROP,
    DEVIATION_CALENDAR_ATTACHMENTS,
    DEVIATION_DISTLIST,
    DEVIATION_GENERIC_ITEM,
    DEVIATION_NO_TEXT_BODY,
    DEVIATION_NO_TIMES,
    DEVIATION_SENDER_MADE_UP,
    DEVIATION_TYPED_CLASS,
)

JOHN = "pst2john_97_outlook_pass12345.pst"


def gromox_deviation(imported: fx.Imported):
    """Where gromox is known to differ from Exchange (tests/gromox.py), for an item and field."""

    def deviation(exp: Expected, field: str, got: dict | None) -> str | None:
        if got is None:
            reason = imported.failure(exp) or ""
            if "Code: 500" in reason and "SOAP:Envelope" in reason:
                # a SOAP fault exchangelib cannot parse; gromox's http.log says E-3107 (Binary property)
                reason = "E-3107"
            if "E-3045" in reason:
                if exp.message_class.upper().startswith("IPM.DISTLIST"):
                    return DEVIATION_DISTLIST
                return f"{DEVIATION_DISTLIST}, refused with a list in the same batch (issue #16)"
            if "E-3107" in reason:
                if exp.message_class.upper().startswith("IPM.SCHEDULE.MEETING"):
                    return DEVIATION_BINARY_PROP
                return f"{DEVIATION_BINARY_PROP}, refused with a meeting message in the same batch (issue #16)"
            return None
        if field == "class" and got.get("element") == "Contact" and got.get("class") == "IPM.Contact":
            return DEVIATION_TYPED_CLASS
        if field == "sender" and exp.sender is None and (got.get("sender") or {}).get("address"):
            return DEVIATION_SENDER_MADE_UP
        if field == "body" and got.get("body_source") == "Body":
            return DEVIATION_NO_TEXT_BODY
        if field == "flags" and got.get("element") in ("Item", "PostItem") and got.get("is_read") is None:
            return DEVIATION_GENERIC_ITEM
        if field == "attachments":
            return _attachment_deviation(exp, got)
        is_note_or_journal = exp.note_color is not None or exp.log_type is not None
        if field in ("sent", "received") and got.get(field) is None and is_note_or_journal:
            return DEVIATION_NO_TIMES
        return None

    return deviation


def _attachment_deviation(exp: Expected, got: dict) -> str | None:
    """Which gromox deviation explains an item's attachments, if one does (each difference must be one of them)."""
    have = {(a["path"], a["sha256"]) for a in got.get("attachments") or []}
    have_hashes = {h for _, h in have}
    explained: set[str] = set()
    for (path, digest), _n in exp.attachments.items():
        if digest in have_hashes:
            leaf = path.rsplit("/", 1)[-1]
            if any(p.rsplit("/", 1)[-1] == f"{leaf}.bin" for p, h in have if h == digest):
                explained.add(DEVIATION_BIN_NAME)
            continue
        if "/" in path:
            explained.add(DEVIATION_ATTACHED_ITEM)
        elif exp.message_class.upper().startswith("IPM.APPOINTMENT"):
            explained.add(DEVIATION_CALENDAR_ATTACHMENTS)
        else:
            return None
    return "; ".join(sorted(explained)) or None


@pytest.fixture(scope="module")
def columns(expected, ews_sandbox, ews_gromox, graph_sandbox):
    """The table's columns, each a dict field -> Tally; the table is printed at the end of the run."""
    out = {
        "EWS sandbox": tally(list(expected.values()), ews_sandbox.records, "ews"),
        "EWS gromox": tally(list(expected.values()), ews_gromox.records, "ews", gromox_deviation(ews_gromox)),
        "Graph sandbox": tally(list(expected.values()), graph_sandbox.records, "graph"),
    }
    timing = "; ".join(
        f"{imp.name}: import {imp.seconds['import']:.0f} s, read {imp.seconds['read']:.0f} s"
        for imp in (ews_sandbox, ews_gromox, graph_sandbox)
    )
    fx.TABLES.append(f"{len(expected)} source items\n{table(out)}\n{timing}")
    return out


def test_every_cannot_carry_entry_has_a_rule():
    """Each entry of the cannot-carry list for a field of the table is checked by a rule of compare.py (no
    entry excuses a difference the test cannot tie to the item), and each rule has its entry."""
    cases = {limit.case for limit in CANNOT_CARRY if limit.field in FIELDS}
    assert cases == RULES
    assert all(limit.reason and limit.transports for limit in CANNOT_CARRY)
    assert all(limit.case == "" for limit in CANNOT_CARRY if limit.field not in FIELDS)


@pytest.mark.parametrize("field", FIELDS)
def test_field_reads_back(columns, field):
    """The field reads back as the PST has it for every item, on every transport and server, except where
    core.convert.limits (the cannot-carry list) or a named gromox deviation explains the difference."""
    failures = []
    for name, column in columns.items():
        t = column[field]
        assert t.compared + sum(t.na.values()) > 0
        failures += [f"{name}: {m}" for m in t.mismatches]
    report = os.environ.get("PSTIMPORT_FIDELITY_REPORT")
    if report:  # every difference, for whoever chases them (the assertion shows the first 25)
        with open(report, "a", encoding="utf-8") as fh:
            fh.writelines(f"{field}: {line}\n" for line in failures)
    assert not failures, f"{len(failures)} unexplained differences:\n" + "\n".join(failures[:25])


@pytest.mark.parametrize("which", ["ews_sandbox", "ews_gromox", "graph_sandbox"])
def test_reading_back_raises_nothing(request, expected, which):
    """Reading back every item and attachment (embedded messages included) raises nothing; each item is
    there once, carries its stamp, and the import itself failed nothing but what the server refuses."""
    imported = request.getfixturevalue(which)
    assert not imported.errors, "\n".join(imported.errors[:20])
    assert not imported.duplicates, f"{len(imported.duplicates)} items read back twice: {imported.duplicates[:5]}"
    assert imported.unstamped == 0
    assert len(imported.records) > 0.9 * len(expected)


def test_sandbox_answers_are_schema_valid(ews_sandbox):
    """Every request and response of the EWS import and read-back validates against ../shared/ews-schema."""
    checker = ews_sandbox.checker
    assert checker.checked > len(ews_sandbox.records)
    assert not checker.failures, "\n".join(checker.failures[:5])


@pytest.mark.parametrize("which", ["ews_sandbox", "ews_gromox", "graph_sandbox"])
def test_pst2john_recipients_read_back_by_address(request, expected, which):
    """pst2john_97's recipients, named by their address only, read back with that address as To."""
    imported = request.getfixturevalue(which)
    items = [e for e in expected.values() if e.source == JOHN]
    assert len(items) == 294
    for exp in items:
        got = imported.records[exp.stamp]
        to = [r.get("address") for r in got["recipients"] if r["kind"] == "to"]
        assert to == ["nobody@yahoo.com"], f"{exp.where}: To {to}"


@pytest.mark.parametrize("which", ["ews_sandbox", "ews_gromox", "graph_sandbox"])
def test_notes_and_journal_keep_class_colour_and_type(request, expected, which):
    """Sticky notes and journal entries read back as IPM.StickyNote / IPM.Activity with their colour and type."""
    imported = request.getfixturevalue(which)
    notes = [e for e in expected.values() if e.message_class.upper().startswith(("IPM.STICKYNOTE", "IPM.ACTIVITY"))]
    assert len([e for e in notes if e.note_color is not None]) >= 2
    assert len([e for e in notes if e.log_type is not None]) >= 2
    for exp in notes:
        got = imported.records[exp.stamp]
        assert got["class"] == exp.message_class, exp.where
        assert got["note_color"] == exp.note_color and got["log_type"] == exp.log_type, exp.where


@pytest.mark.parametrize("which", ["ews_sandbox", "ews_gromox", "graph_sandbox"])
def test_no_sent_time_is_the_import_time(request, expected, which):
    """No item the PST has a time for reads back with DateTimeSent (Graph: sentDateTime) within its import:
    every Date and sent time is one the PST has. (An item with no time at all in the PST, a contact made a
    message, can only get the server's.)"""
    imported = request.getfixturevalue(which)
    start = imported.started - timedelta(seconds=1)
    end = imported.finished + timedelta(seconds=1)
    timeless = {s for s, e in expected.items() if e.sent is None}
    assert len(timeless) < len(expected) / 5
    during = [
        f"{r['folder']}: {r['subject']!r} {r['sent']}"
        for s, r in imported.records.items()
        if s not in timeless and r.get("sent") and start <= datetime.fromisoformat(r["sent"]) <= end
    ]
    assert not during, f"{len(during)} items sent 'now':\n" + "\n".join(during[:10])
