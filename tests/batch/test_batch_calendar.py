"""A batch run completes recurring series as a single run does: every method of `Transport` reaches the
mailbox's transport through the batch's connection cap, so no default of the base class (no series steps,
no folder lookup) answers instead of the server."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from fleet import PASSWORD, SVC, write_template

from core.batch.runner import CappedTransport
from core.sandbox.server.app import Sandbox
from core.transport.base import Transport
from tests.calendar.oracle import expected, span, spec_from_truth
from tests.calendar.readers import as_occ, ews_account, ews_view

MAILBOX = "cal01@sandbox.test"


def test_capped_transport_overrides_every_transport_method():
    """A method added to Transport and not to CappedTransport would silently take the base default."""
    public = {
        name
        for name, member in inspect.getmembers(Transport)
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
    }
    missing = {name for name in public if name not in vars(CappedTransport)}
    assert missing == set()


def test_batch_applies_series_exceptions(tmp_path: Path, cli) -> None:
    """The writer's calendar cases imported by `pstimport batch` read back, with plain exchangelib, with
    exactly their rrule-expected occurrences: modified ones changed, deleted ones gone."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "calendar.pst"
    generate(str(pst), seed=3, mode="calendar")
    truth = json.loads(Path(str(pst) + ".truth.json").read_text(encoding="utf-8"))
    specs = [s for s in map(spec_from_truth, truth["items"]) if s]
    assert any(s["modified"] for s in specs) and any(s["deleted"] for s in specs)
    with Sandbox(tmp_path / "sandbox", users={MAILBOX: PASSWORD, SVC: PASSWORD}, impersonators=[SVC]) as sb:
        csv = tmp_path / "map.csv"
        csv.write_text(f"path,mailbox,archive,root\n{pst},{MAILBOX},false,store-root\n", encoding="utf-8")
        template = write_template(tmp_path / "template.yaml", sb, tmp_path / "reports")
        text = template.read_text(encoding="utf-8").replace('include: ["Inbox/**"]', 'include: ["**"]')
        template.write_text(text, encoding="utf-8")
        r = cli("batch", str(csv), "--template", str(template), "--headless")
        assert r.returncode == 0, r.stdout + r.stderr
        account = ews_account(sb.ews_url, MAILBOX, PASSWORD)
        problems = []
        for spec in specs:
            want = expected(spec)
            start, end = span(want)
            if spec["end"] == "none":
                end = want[-1].end
            subjects = {o.subject for o in want}
            got = sorted(
                (o for o in map(as_occ, ews_view(account, start, end)) if getattr(o, "subject", None) in subjects),
                key=str,
            )
            if spec.get("all_day"):
                continue  # all-day spans are the calendar suite's; here: that exceptions are applied at all
            if got != sorted(want, key=str):
                problems.append(spec["subject"])
        assert problems == []
