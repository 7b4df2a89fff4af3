"""Calendars imported into gromox, a real EWS server we did not write: every series is a
RecurringMaster with its pattern and range, its modified and deleted occurrences are listed, and
a deleted occurrence is gone. What gromox does unlike Exchange is named (tests/gromox.py)."""

from __future__ import annotations

import shutil
import warnings
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import run_profile

from tests.calendar.oracle import expected, spec_from_pst, spec_from_truth
from tests.gromox import (
    DEVIATION_CALENDAR_VIEW,
    DEVIATION_GETITEM_EXTENDED,
    DEVIATION_OCCURRENCE_ATTACHMENT,
    DEVIATION_OCCURRENCE_DST,
    DEVIATION_OCCURRENCE_LIMIT,
    DEVIATION_OCCURRENCE_LISTS,
    DEVIATION_OCCURRENCE_RENUMBER,
    DEVIATION_RECURRENCE_DATES,
    DEVIATION_RELATIVE_WEEKDAY,
    exchangelib_account,
)

# Named where the checks below allow for them.
ALLOWED = (
    DEVIATION_GETITEM_EXTENDED,
    DEVIATION_OCCURRENCE_ATTACHMENT,
    DEVIATION_OCCURRENCE_DST,
    DEVIATION_OCCURRENCE_LIMIT,
    DEVIATION_OCCURRENCE_LISTS,
    DEVIATION_OCCURRENCE_RENUMBER,
    DEVIATION_RECURRENCE_DATES,
    DEVIATION_RELATIVE_WEEKDAY,
)

CORPUS_SERIES = "java-libpst_dist-list.pst"
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
)  # fmt: skip


def _raw_recurrences(mb) -> dict[str, dict]:  # noqa: ANN001
    """Each master's Recurrence element as the server sent it, by subject: a plain FindItem, read
    with lxml (DEVIATION_RECURRENCE_DATES: exchangelib cannot read all of gromox's)."""
    import requests
    from lxml import etree

    t = "http://schemas.microsoft.com/exchange/services/2006/types"
    body = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="' + t + '"><s:Header>'
        '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:FindItem Traversal="Shallow">'
        "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="calendar:Recurrence"/>'
        "</t:AdditionalProperties></m:ItemShape><m:ParentFolderIds>"
        '<t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem></s:Body></s:Envelope>'
    )
    answer = requests.post(mb.ews_url, data=body.encode(), auth=(mb.email, mb.password), timeout=60)
    answer.raise_for_status()
    out = {}
    for item in etree.fromstring(answer.content).iter(f"{{{t}}}CalendarItem"):
        rec = item.find(f"{{{t}}}Recurrence")
        if rec is None or len(rec) != 2:
            continue
        pattern, rng = rec
        values = {etree.QName(c).localname: (c.text or "").strip() for c in (*pattern, *rng)}
        out[item.findtext(f"{{{t}}}Subject")] = {
            "kind": etree.QName(pattern).localname,
            "range": etree.QName(rng).localname,
            **values,
        }
    return out


_WORKDAYS = "Monday Tuesday Wednesday Thursday Friday"


def _check_recurrence(spec: dict, got: dict) -> list[str]:
    """The master's Recurrence against the source pattern: the differences."""
    p = spec["pattern"]
    days = " ".join(d.capitalize() for d in spec.get("days") or [])
    want: dict = {
        "daily": {"kind": "DailyRecurrence", "Interval": str(spec["interval"])},
        "weekday": {"kind": "WeeklyRecurrence", "Interval": "1", "DaysOfWeek": {_WORKDAYS, "Weekday"}},
        "weekly": {"kind": "WeeklyRecurrence", "Interval": str(spec["interval"]), "DaysOfWeek": {days}},
        "monthly": {"kind": "AbsoluteMonthlyRecurrence", "DayOfMonth": str(spec["day_of_month"])},
        "monthly_nth": {"kind": "RelativeMonthlyRecurrence"},
        "yearly": {"kind": "AbsoluteYearlyRecurrence", "DayOfMonth": str(spec["day_of_month"])},
        "yearly_nth": {"kind": "RelativeYearlyRecurrence"},
    }[p]
    if p.endswith("_nth"):
        want["DaysOfWeek"] = {"Weekday", _WORKDAYS} if days == _WORKDAYS else {days}
        want["DayOfWeekIndex"] = (spec.get("nth") or "first").capitalize()
    if p.startswith("yearly"):
        want["Month"] = _MONTHS[spec["month"] - 1]
    if p.startswith("monthly"):
        want["Interval"] = str(spec["interval"])
    want["range"] = {"count": "NumberedRecurrence", "date": "EndDateRecurrence", "none": "NoEndRecurrence"}[spec["end"]]
    if spec["end"] == "count":
        want["NumberOfOccurrences"] = str(spec["count"])
    want["StartDate"] = spec["start_local"][:10]
    if spec["end"] == "date":
        want["EndDate"] = spec["end_date"]
    problems = []
    for key, value in want.items():
        have = got.get(key)
        if key in ("StartDate", "EndDate") and have:
            have = have[:10]  # DEVIATION_RECURRENCE_DATES
        if (have not in value) if isinstance(value, set) else (have != value):
            problems.append(f"{spec['subject']}: Recurrence {key} is {have!r}, not {value!r}")
    return problems


_READ = """
import json, sys, warnings
from tests.gromox import GromoxMailbox, exchangelib_account
mb = GromoxMailbox(*sys.argv[1:4])
out = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    account = exchangelib_account(mb)
    for item in account.calendar.all():
        if item.subject in sys.argv[4:]:
            it = account.calendar.get(id=item.id)
            attendees = sorted(a.mailbox.email_address for a in it.required_attendees or [])
            out[it.subject] = {"all_day": it.is_all_day, "start": str(it.start)[:10], "end": str(it.end)[:10],
                               "attendees": attendees}
print(json.dumps(out))
"""


def _plain_read(mb, subjects: list[str]) -> dict:  # noqa: ANN001
    """Calendar items by subject as plain exchangelib reads them, in a process of its own."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    args = [sys.executable, "-c", _READ, mb.email, mb.password, mb.ews_url, *subjects]
    done = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _occurrences_by_index(master, limit: int) -> list[datetime]:  # noqa: ANN001
    """Occurrence starts (UTC) by InstanceIndex 1, 2, ... until the server has no more."""
    out = []
    for i in range(1, limit + 1):
        (occ,) = list(master.account.fetch(ids=[master.occurrence(i)], only_fields=["start"]))
        if isinstance(occ, Exception):
            break  # past the last one (gromox: ErrorItemCorrupt)
        out.append(datetime.fromtimestamp(occ.start.timestamp(), UTC))
    return out


def test_series_on_gromox_are_masters_with_their_pattern_and_deletions_gone(
    gromox_mailbox, tmp_path, calendar_pst, corpus_dir, monkeypatch
):
    """Every writer and corpus series on gromox: RecurringMaster, the right pattern and range, its
    exceptions listed, and its deleted occurrences gone (occurrences read by index)."""
    from core.profile.model import Profile
    from core.pst import open_pst
    from core.pst.model import UnreadableItem

    monkeypatch.setenv("PSTIMPORT_PASSWORD", gromox_mailbox.password)
    monkeypatch.setenv("PSTIMPORT_EWS_AUTH", "basic")
    cal_path, cal_truth = calendar_pst
    corpus = tmp_path / CORPUS_SERIES
    shutil.copy(corpus_dir / CORPUS_SERIES, corpus)
    profile = Profile.new(
        name="gx",
        mailbox=gromox_mailbox.email,
        sources=[str(cal_path), str(corpus)],
        target="on-premises",
        ews_url=gromox_mailbox.ews_url,
        username=gromox_mailbox.email,
        impersonation=False,
        destination={"root": "store-root", "store": "mailbox"},
        performance={"max_threads": 2, "batch_items": 10},
        report={"directory": str(tmp_path / "reports")},
        filters={"item_types": ["calendar"]},  # the corpus file's distribution list: DEVIATION_DISTLIST
    )
    result = run_profile(profile)
    assert result.failed == 0, [f.reason for f in result.failures]
    specs = [s for s in map(spec_from_truth, cal_truth["items"]) if s]
    with open_pst(corpus) as pst:
        for folder in pst.folders():
            for it in pst.items(folder):
                if not isinstance(it, UnreadableItem) and (spec := spec_from_pst(it)):
                    specs.append(spec)
    account = exchangelib_account(gromox_mailbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Only the fields read here: this process's exchangelib also knows pstimport's extended properties
        # now, which gromox answers with 7-digit fractions exchangelib cannot parse.
        fields = ("subject", "type", "modified_occurrences", "deleted_occurrences")
        masters = {m.subject: m for m in account.calendar.all().only(*fields) if m.type == "RecurringMaster"}
        recurrences = _raw_recurrences(gromox_mailbox)
        problems: list[str] = []
        for spec in specs:
            m = masters.get(spec["subject"])
            if m is None:
                problems.append(f"{spec['subject']}: no RecurringMaster")
                continue
            problems += _check_recurrence(spec, recurrences.get(spec["subject"], {}))
            # DEVIATION_OCCURRENCE_LISTS: counted, not compared by time
            if len(m.modified_occurrences or []) != len(spec["modified"]):
                problems.append(f"{spec['subject']}: {len(m.modified_occurrences or [])} modified")
            if len(m.deleted_occurrences or []) != len(spec["deleted"]):
                problems.append(f"{spec['subject']}: {len(m.deleted_occurrences or [])} deleted")
            # Deleted ones gone: the occurrences by index are the expected ones. DEVIATION_OCCURRENCE_RENUMBER:
            # gromox renumbers after a deletion, so index n is the n-th remaining occurrence there.
            # DEVIATION_OCCURRENCE_DST: compared within an hour.
            first = None if spec["end"] == "count" else 10  # DEVIATION_OCCURRENCE_LIMIT
            want = [o.start for o in expected(spec, first=first)]
            if spec["pattern"].endswith("_nth") and len(spec["days"]) > 1:
                continue  # DEVIATION_RELATIVE_WEEKDAY: its occurrences are wrong there
            got = _occurrences_by_index(m, len(want))
            zone = ZoneInfo(spec["iana"])
            deleted = {datetime.fromisoformat(d).replace(tzinfo=zone).astimezone(UTC) for d in spec["deleted"]}
            near = timedelta(hours=1)
            if len(got) != len(want) or any(abs(g - w) > near for g, w in zip(got, want, strict=False)):
                problems.append(f"{spec['subject']}: occurrences {got} != {want}")
            if any(abs(g - d) <= near for g in got for d in deleted):
                problems.append(f"{spec['subject']}: a deleted occurrence is still there")
            if any(x.get("attachments") for x in spec["modified"]):
                # DEVIATION_OCCURRENCE_ATTACHMENT: refused there, so it must be in the report, not lost silently
                noted = [p for p in result.problems if spec["subject"] in p and "att:" in p]
                if not noted:
                    problems.append(f"{spec['subject']}: the refused occurrence attachment is not reported")
    # All-day and meetings: the 3-day conference spans exactly its days; the meeting keeps its attendees.
    # Read by a fresh process: this one's exchangelib now knows pstimport's extended properties, and
    # asks for them (DEVIATION_GETITEM_EXTENDED).
    read = _plain_read(gromox_mailbox, ["Conference (3 days)", "Team meeting"])
    conference = read["Conference (3 days)"]
    if conference != {"all_day": True, "start": "2021-06-07", "end": "2021-06-09", "attendees": []}:
        problems.append(f"Conference (3 days): {conference}")
    meeting_truth = next(t for t in cal_truth["items"] if t["subject"] == "Team meeting")
    want_attendees = sorted(r["smtp"] for r in meeting_truth["recipients"][1:] if r["smtp"])
    if read["Team meeting"]["attendees"] != want_attendees:
        problems.append(f"Team meeting: attendees {read['Team meeting']['attendees']} != {want_attendees}")
    assert problems == []


@pytest.mark.parametrize("deviation", [DEVIATION_CALENDAR_VIEW])
def test_gromox_calendar_view_lists_masters_only(gromox_mailbox, deviation):
    """Named deviation, checked so it is noticed when gromox changes: its CalendarView does not expand a series."""
    from exchangelib import CalendarItem, EWSDate, EWSDateTime
    from exchangelib.ewsdatetime import UTC as EWS_UTC
    from exchangelib.items import SEND_TO_NONE
    from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence

    account = exchangelib_account(gromox_mailbox)
    start = EWSDateTime(2022, 5, 2, 9, 0, tzinfo=EWS_UTC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        CalendarItem(
            account=account,
            folder=account.calendar,
            subject="daily",
            start=start,
            end=start + timedelta(hours=1),
            recurrence=Recurrence(
                pattern=DailyPattern(interval=1), boundary=NumberedPattern(start=EWSDate(2022, 5, 2), number=3)
            ),
        ).save(send_meeting_invitations=SEND_TO_NONE)
        view = list(account.calendar.view(start=start - timedelta(days=1), end=start + timedelta(days=5)).only("type"))
    assert [v.type for v in view] == ["RecurringMaster"], deviation
