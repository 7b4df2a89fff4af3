"""Conversion of a realistic PST from our own writer, checked against the writer's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.convert import (
    Appointment,
    Contact,
    ConvertContext,
    DistributionList,
    JournalEntry,
    MimePayload,
    Note,
    Task,
    convert,
)
from core.mapi import PidNameKeywords, PidNamePstImportSourceKey, PidTagFlagStatus, PidTagMessageFlags
from core.pst import open_pst
from tests.convert.fidelity import EX_PATTERN, body_parts, check_item, header_addresses, norm_text, parse, sha


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@pytest.fixture(scope="module")
def converted(writer_pst: tuple[Path, dict]) -> dict[str, Any]:
    """Every item of the writer PST converted: truth, item and payload by node id, plus stats."""
    path, truth = writer_pst
    out: dict[int, tuple[dict, Any, Any]] = {}
    by_nid = {t["nid"]: t for t in truth["items"]}
    pst = open_pst(path)
    ctx = ConvertContext.for_pst(pst)
    for folder in pst.folders():
        for item in [*pst.items(folder), *pst.items(folder, associated=True)]:
            if item.node_id in by_nid:
                out[item.node_id] = (by_nid[item.node_id], item, convert(item, ctx))
    yield {"items": out, "stats": ctx.resolver.stats, "truth": truth, "record_key": pst.info.record_key}
    pst.close()


def _of(converted: dict, cls: type) -> list[tuple[dict, Any, Any]]:
    return [v for v in converted["items"].values() if isinstance(v[2], cls)]


def test_every_truth_item_is_converted(converted: dict) -> None:
    """Each item of the ground truth is read and converted, and carries its source stamp."""
    assert len(converted["items"]) == len(converted["truth"]["items"])
    for _truth, item, payload in converted["items"].values():
        stamp = [e.value for e in payload.extended if e.prop == PidNamePstImportSourceKey]
        assert stamp == [f"{converted['record_key'].hex()}:{item.node_id}"]


def test_mail_matches_truth(converted: dict) -> None:
    """Mail: subject, sender, each recipient by kind, date, Message-ID, body, attachments (name and
    SHA-256, embedded included), read state, categories, flag and importance match the truth."""
    mails = _of(converted, MimePayload)
    assert len(mails) >= 20
    for truth, item, payload in mails:
        assert not check_item(item, payload.mime)
        msg = parse(payload.mime)
        where = f"{truth['folder']} {truth['subject']!r}"
        assert norm_text(str(msg["subject"])) == norm_text(truth["subject"]), where
        if truth["sender"].get("smtp"):
            assert header_addresses(msg, "from") == [truth["sender"]["smtp"].lower()], where
        for r in truth["recipients"]:
            got = header_addresses(msg, r["type"])
            if r["resolvable"]:
                assert r["smtp"].lower() in got, (where, r)
            else:
                assert r["email"] in converted["stats"].unresolved, (where, r)
                assert r["name"] in str(msg[r["type"]]), (where, r)
        for name in ("from", "sender", "to", "cc", "bcc"):
            for value in msg.get_all(name, []):
                assert not EX_PATTERN.search(str(value)), (where, name, str(value))
        assert msg["date"].datetime == _t(truth["submit_time"]), where
        assert msg["message-id"] == truth["message_id"], where
        text, html = body_parts(msg)
        if truth.get("body"):
            assert norm_text(text) == norm_text(truth["body"]), where
        if truth.get("html"):
            assert html is not None, where
        names = {}
        for part in msg.iter_attachments():
            names.setdefault(part.get_filename() or "", []).append(part)
        for att in truth["attachments"]:
            if att["embedded"] is not None:
                inner = [p for p in msg.walk() if p.get_content_type() == "message/rfc822"]
                assert any(
                    norm_text(str(p.get_payload(0)["subject"])) == norm_text(att["embedded"]["subject"]) for p in inner
                ), (where, att["name"])
            else:
                parts = [p for p in msg.walk() if p.get_filename() == att["name"]]
                assert any(sha(p.get_payload(decode=True)) == att["sha256"] for p in parts), (where, att["name"])
        assert payload.is_read == truth["read"], where
        flags = [e.value for e in payload.extended if e.prop == PidTagMessageFlags][0]
        assert bool(flags & 1) == truth["read"], where
        # unsent (a draft) only when the source was one: nothing becomes a draft by accident
        assert bool(flags & 0x8) == bool(truth["flags"] & 0x8) == payload.is_draft, where
        cats = [e.value for e in payload.extended if e.prop == PidNameKeywords]
        assert (cats[0] if cats else []) == truth["categories"], where
        status = [e.value for e in payload.extended if e.prop == PidTagFlagStatus]
        assert (status[0] if status else None) == truth["flag_status"], where
        assert payload.importance == {0: "low", 1: "normal", 2: "high"}[truth["importance"]], where


def test_unresolvable_ex_addresses_are_reported_not_guessed(converted: dict) -> None:
    """The writer's deliberately unresolvable EX recipients are counted and listed, never given an
    SMTP address; every resolvable EX address was rewritten."""
    unresolvable = {
        r["email"]
        for truth, _i, _p in converted["items"].values()
        for r in truth["recipients"]
        if r["address_type"] == "EX" and not r["resolvable"]
    }
    resolvable_ex = [
        r
        for truth, _i, _p in converted["items"].values()
        for r in truth["recipients"]
        if r["address_type"] == "EX" and r["resolvable"]
    ]
    stats = converted["stats"]
    assert unresolvable and resolvable_ex
    assert set(stats.unresolved) == unresolvable
    assert stats.failed["not_found"] >= len(unresolvable)
    assert sum(stats.rewritten.values()) >= len(resolvable_ex)


def test_recurring_meeting_with_exceptions_matches_truth(converted: dict) -> None:
    """The recurring meeting: pattern, range, deleted occurrence, modified occurrence (times,
    subject, location), organizer and attendees match the truth."""
    series = [(t, i, p) for t, i, p in _of(converted, Appointment) if t["extra"].get("recurrence")]
    assert series
    for truth, _item, appt in series:
        extra = truth["extra"]
        rec = extra["recurrence"]
        assert appt.start == _t(extra["start"]) and appt.end == _t(extra["end"])
        assert appt.location == extra["location"]
        assert appt.is_meeting == extra["meeting"]
        assert appt.recurrence is not None
        assert appt.recurrence.pattern == rec["pattern"]
        assert appt.recurrence.interval == rec.get("interval", 1)
        days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
        assert appt.recurrence.days_of_week == [d for i, d in enumerate(days) if rec["days_mask"] & (1 << i)]
        if "count" in rec:
            assert appt.recurrence.range == "numbered" and appt.recurrence.occurrences == rec["count"]
        assert sorted(appt.deleted_occurrences) == sorted(_t(d) for d in rec.get("deleted", []))
        assert len(appt.exceptions) == len(rec.get("modified", []))
        for want in rec.get("modified", []):
            got = [e for e in appt.exceptions if e.original_start == _t(want["original_start"])]
            assert got, want
            assert got[0].start == _t(want["start"]) and got[0].end == _t(want["end"])
            assert got[0].subject == want.get("subject") and got[0].location == want.get("location")
        attendees = {a.mailbox.email.lower() for a in appt.attendees if a.mailbox.email}
        if appt.organizer is not None and appt.organizer.email:
            attendees.add(appt.organizer.email.lower())
        assert {r["smtp"].lower() for r in truth["recipients"] if r["smtp"]} == attendees


def test_meeting_with_attendees_matches_truth(converted: dict) -> None:
    """Single meetings: times, location, and every attendee's address match the truth."""
    meetings = [(t, i, p) for t, i, p in _of(converted, Appointment) if t["extra"].get("meeting")]
    assert meetings
    for truth, _item, appt in meetings:
        assert appt.is_meeting
        assert appt.start == _t(truth["extra"]["start"]) and appt.end == _t(truth["extra"]["end"])
        assert appt.location == truth["extra"]["location"]
        emails = {a.mailbox.email.lower() for a in appt.attendees if a.mailbox.email}
        if appt.organizer is not None and appt.organizer.email:
            emails.add(appt.organizer.email.lower())
        assert emails == {r["smtp"].lower() for r in truth["recipients"] if r["smtp"]}


def test_contacts_match_truth(converted: dict) -> None:
    """Contacts: names, company, every email address and phone number match the truth."""
    contacts = _of(converted, Contact)
    assert contacts
    for truth, _item, c in contacts:
        extra = truth["extra"]
        for field in ("given_name", "surname", "company"):
            if field in extra:
                assert getattr(c, field) == extra[field], field
        if "emails" in extra:
            assert [e.address for e in sorted(c.emails, key=lambda e: e.slot)] == extra["emails"]
        for key, number in extra.get("phones", {}).items():
            assert c.phones.get(key) == number, key
        for key, value in extra.items():
            if key not in ("given_name", "surname", "company", "emails", "phones") and hasattr(c, key):
                assert getattr(c, key) == value, key


def test_tasks_match_truth(converted: dict) -> None:
    """Tasks: due date, status and the weekly recurrence (day, count) match the truth."""
    tasks = _of(converted, Task)
    assert any(t["extra"].get("recurring") for t, _i, _p in tasks)
    statuses = ["not_started", "in_progress", "completed", "waiting_on_others", "deferred"]
    days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    for truth, _item, task in tasks:
        extra = truth["extra"]
        assert task.due_date == _t(extra["due"])
        assert task.status == statuses[extra["status"]]
        if extra.get("recurring"):
            rec = extra["recurrence"]
            assert task.recurrence is not None and task.recurrence.pattern == rec["pattern"]
            assert task.recurrence.days_of_week == [d for i, d in enumerate(days) if rec["days_mask"] & (1 << i)]
            assert task.recurrence.occurrences == rec["count"]
        else:
            assert task.recurrence is None


def test_notes_journal_and_lists_match_truth(converted: dict) -> None:
    """Sticky notes (colour, body), journal entries (type, start, end) and the distribution
    list (every member's name and address) match the truth."""
    colors = ["blue", "green", "pink", "yellow", "white"]
    notes = _of(converted, Note)
    assert notes
    for truth, _item, note in notes:
        assert note.color == colors[truth["extra"]["color"]]
        assert norm_text(note.body.text) == norm_text(truth["body"])
    journal = _of(converted, JournalEntry)
    assert journal
    for truth, _item, entry in journal:
        assert entry.entry_type == truth["extra"]["log_type"]
        assert entry.start == _t(truth["extra"]["start"]) and entry.end == _t(truth["extra"]["end"])
    lists = _of(converted, DistributionList)
    assert lists
    for truth, _item, dl in lists:
        assert [(m.mailbox.name, m.mailbox.email) for m in dl.members] == [
            (m["name"], m["email"]) for m in truth["extra"]["members"]
        ]


def test_dates_are_utc(converted: dict) -> None:
    """Typed payload times are timezone-aware UTC."""
    for p in (v[2] for v in converted["items"].values()):
        for value in (getattr(p, "start", None), getattr(p, "end", None), getattr(p, "due_date", None)):
            if value is not None:
                assert value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(value)


def test_every_appointment_matches_truth(converted: dict) -> None:
    """Every appointment: start, end, all-day flag and location; all-day ones start at local midnight."""
    appts = _of(converted, Appointment)
    assert appts
    for truth, _item, appt in appts:
        extra = truth["extra"]
        assert appt.start == _t(extra["start"]) and appt.end == _t(extra["end"]), truth["subject"]
        assert appt.all_day == extra["all_day"] and appt.location == extra["location"]
        if appt.all_day:
            assert appt.start_local is not None and (appt.start_local.hour, appt.start_local.minute) == (0, 0)
