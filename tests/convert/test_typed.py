"""Typed payloads from real corpus items: recurrence and time zones, lists, contacts, tasks, notes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from core.convert import (
    Appointment,
    Contact,
    ConvertContext,
    DistributionList,
    JournalEntry,
    Note,
    Task,
    TimeZone,
    TimeZoneRule,
    convert,
    payload_kind,
)
from core.convert.timezone import local_to_utc, utc_to_local
from core.pst import open_pst


def _payloads(corpus: Path, name: str) -> list:
    with open_pst(corpus / name) as pst:
        ctx = ConvertContext.for_pst(pst)
        return [convert(i, ctx) for f in pst.folders() for i in pst.items(f) if hasattr(i, "props")]


def test_recurring_appointment_with_exceptions(corpus: Path) -> None:
    """java-libpst dist-list.pst: the weekly series, its Pacific time zone, one deleted occurrence
    and two moved ones (in UTC, DST applied) come out of PidLidAppointmentRecur."""
    appt = next(p for p in _payloads(corpus, "java-libpst_dist-list.pst") if isinstance(p, Appointment))
    assert appt.start == datetime(2016, 8, 2, 15, 0, tzinfo=UTC)  # 08:00 PDT
    assert appt.start_local == datetime(2016, 8, 2, 8, 0) and appt.end_local == datetime(2016, 8, 2, 8, 30)
    rec = appt.recurrence
    assert rec is not None
    assert (rec.pattern, rec.interval, rec.days_of_week, rec.range) == ("weekly", 1, ["tuesday"], "no_end")
    assert rec.start_date == date(2016, 8, 2)
    assert appt.recurrence_timezone is not None and appt.recurrence_timezone.key_name == "Pacific Standard Time"
    assert appt.deleted_occurrences == [datetime(2016, 8, 9, 15, 0, tzinfo=UTC)]
    moved = {(e.original_start, e.start, e.end) for e in appt.exceptions}
    assert moved == {
        (
            datetime(2016, 8, 23, 15, tzinfo=UTC),
            datetime(2016, 8, 23, 16, tzinfo=UTC),
            datetime(2016, 8, 23, 16, 30, tzinfo=UTC),
        ),
        (
            datetime(2016, 8, 30, 15, tzinfo=UTC),
            datetime(2016, 8, 30, 17, tzinfo=UTC),
            datetime(2016, 8, 30, 17, 30, tzinfo=UTC),
        ),
    }
    assert appt.reminder_set and appt.reminder_minutes == 15
    # each moved occurrence's own body comes from its exception embedded message
    bodies = {e.start.hour: e.body.text.strip() for e in appt.exceptions if e.body}
    assert bodies == {16: "This is the appointment at 9", 17: "This is the one at 10"}
    # the exception embedded messages are folded into the exceptions, not left as attachments
    assert appt.attachments == []


def test_distribution_list_members(corpus: Path) -> None:
    """The list's members come from its one-off entry ids, with names, addresses and kinds."""
    dl = next(p for p in _payloads(corpus, "java-libpst_dist-list.pst") if isinstance(p, DistributionList))
    assert dl.display_name == "test dist list"
    assert [(m.mailbox.name, m.mailbox.email, m.kind) for m in dl.members] == [
        ("contact name 1", "contact1@rjohnson.id.au", "contact"),
        ("dist name 1", "dist1@rjohnson.id.au", "one_off"),
        ("dist name 2", "dist2@rjohnson.id.au", "one_off"),
    ]
    assert not dl.problems


def test_contact_fields(corpus: Path) -> None:
    """A corpus contact keeps names, initials, file-as and its email."""
    c = next(p for p in _payloads(corpus, "java-libpst_dist-list.pst") if isinstance(p, Contact))
    assert (c.given_name, c.middle_name, c.surname) == ("contact", "name", "1")
    assert (c.initials, c.file_as, c.display_name) == ("c.n.1.", "1, contact name", "contact name 1")
    assert [(e.slot, e.address) for e in c.emails] == [(1, "contact1@rjohnson.id.au")]


def test_one_of_each_kind(corpus: Path) -> None:
    """hughbe_Outlook.pst: the completed task, the phone-call journal entry and the list member."""
    payloads = _payloads(corpus, "pstreader-hughbe_hughbe_Outlook.pst")
    task = next(p for p in payloads if isinstance(p, Task))
    assert (task.status, task.percent_complete, task.is_complete) == ("completed", 100.0, True)
    assert task.recurrence is None
    journal = next(p for p in payloads if isinstance(p, JournalEntry))
    assert journal.entry_type == "Phone Call" and journal.start == datetime(2021, 2, 4, 12, 1, tzinfo=UTC)
    dl = next(p for p in payloads if isinstance(p, DistributionList))
    assert [m.mailbox.email for m in dl.members] == ["email@gmail.com"]


def test_sticky_note_colours(corpus: Path) -> None:
    """Aspose's sticky notes keep their colours and sizes."""
    notes = [p for p in _payloads(corpus, "aspose-java_MapiNoteToPST_out.pst") if isinstance(p, Note)]
    assert sorted(n.color for n in notes) == ["blue", "pink", "pink"]
    assert all(n.width == 500 and n.height == 500 for n in notes)


def test_payload_kinds() -> None:
    """Message classes map to payload kinds; unknown and meeting classes go to MIME."""
    assert payload_kind("IPM.Appointment") == "appointment"
    assert payload_kind("IPM.Contact.Custom") == "contact"
    assert payload_kind("IPM.AbchPerson") == "contact"
    assert payload_kind("IPM.Schedule.Meeting.Request") == "mime"
    assert payload_kind("IPM.TaskRequest") == "mime"
    assert payload_kind("REPORT.IPM.Note.NDR") == "mime"
    assert payload_kind("X.Unknown") == "mime"


def test_time_zone_rules_both_hemispheres() -> None:
    """Local to UTC and back with DST rules: Pacific (DST Mar-Nov) and Sydney (DST Oct-Apr)."""
    pacific = TimeZone(
        "Pacific Standard Time", [TimeZoneRule(2007, 480, 0, -60, (11, 0, 1, 2, 0), (3, 0, 2, 2, 0), True)]
    )
    assert local_to_utc(datetime(2016, 8, 23, 8), pacific) == datetime(2016, 8, 23, 15, tzinfo=UTC)
    assert local_to_utc(datetime(2016, 12, 1, 8), pacific) == datetime(2016, 12, 1, 16, tzinfo=UTC)
    sydney = TimeZone(
        "AUS Eastern Standard Time", [TimeZoneRule(2008, -600, 0, -60, (4, 0, 1, 3, 0), (10, 0, 1, 2, 0), True)]
    )
    assert local_to_utc(datetime(2021, 1, 10, 9), sydney) == datetime(2021, 1, 9, 22, tzinfo=UTC)
    assert local_to_utc(datetime(2021, 7, 10, 9), sydney) == datetime(2021, 7, 9, 23, tzinfo=UTC)
    assert utc_to_local(datetime(2021, 7, 9, 23, tzinfo=UTC), sydney) == datetime(2021, 7, 10, 9)


def test_ansi_cp932_item_decodes(corpus: Path) -> None:
    """An ANSI cp932 message keeps its Japanese subject and bodies (HTML recovered from its RTF)."""
    from tests.convert.fidelity import body_parts, parse

    (payload,) = _payloads(corpus, "hiraoka_nonUnicodeCP932.pst")
    msg = parse(payload.mime)
    assert str(msg["subject"]) == "日本語 Non Unicode タイトル"
    text, html = body_parts(msg)
    assert "日本語 Non Unicode 本文" in text
    assert html is not None and "日本語" in html and "本文" in html
    (contact,) = _payloads(corpus, "hiraoka_contacts97-2002.pst")
    assert isinstance(contact, Contact) and "イグザンプル" in contact.display_name
