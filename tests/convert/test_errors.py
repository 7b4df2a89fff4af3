"""Conversion failures stay with their item: partial losses are problems, total ones ConversionError."""

from __future__ import annotations

import io

import pytest

from core.convert import AddressResolver, ConversionError, ConvertContext, MimePayload, convert
from core.errors import ItemError
from core.mapi import (
    PidLidAppointmentRecur,
    PidLidAppointmentStartWhole,
    PidLidRecurring,
    PidTagAttachLongFilename,
    PidTagAttachMethod,
    PidTagMessageClass,
    PidTagSubject,
    afByValue,
)
from core.pst.model import Attachment
from tests.convert.fidelity import parse
from tests.convert.test_addresses import bag, make_item


def _unreadable() -> io.BytesIO:
    raise OSError("libpff_attachment_read_buffer: unable to read data")


def test_unreadable_attachment_is_a_problem_not_a_failure() -> None:
    """One attachment whose data cannot be read is reported; the item and its other attachment
    convert."""
    item = make_item({PidTagSubject: "two files"})
    ok = bag({PidTagAttachMethod: afByValue, PidTagAttachLongFilename: "ok.txt"})
    broken = bag({PidTagAttachMethod: afByValue, PidTagAttachLongFilename: "broken.bin"})
    item.attachments = [
        Attachment(ok, 0, 5, _opener=lambda: io.BytesIO(b"hello")),
        Attachment(broken, 1, 9, _opener=_unreadable),
    ]
    payload = convert(item, ConvertContext("ab", AddressResolver()))
    assert isinstance(payload, MimePayload)
    names = [p.get_filename() for p in parse(payload.mime).iter_attachments()]
    assert names == ["ok.txt"]
    assert any("broken.bin" in p and "unable to read" in p for p in payload.problems)


def test_bad_recurrence_blob_keeps_the_appointment() -> None:
    """A truncated recurrence blob becomes a problem; the appointment converts as a single one."""
    from datetime import UTC, datetime

    item = make_item(
        {
            PidTagMessageClass: "IPM.Appointment",
            PidTagSubject: "series",
            PidLidRecurring: True,
            PidLidAppointmentRecur: b"\x04\x30\x04\x30\x0b\x20",
            PidLidAppointmentStartWhole: datetime(2024, 1, 1, 9, tzinfo=UTC),
        }
    )
    payload = convert(item, ConvertContext("ab"))
    assert payload.recurrence is None
    assert any("recurrence could not be decoded" in p for p in payload.problems)


def test_total_failure_is_a_conversion_error_naming_the_item() -> None:
    """Something that breaks the whole item raises ConversionError (an ItemError) with the item's
    folder, node id and subject, so the engine can record it and go on."""
    item = make_item({PidTagSubject: "doomed"})
    item.recipients = None  # not iterable: the conversion itself fails
    with pytest.raises(ConversionError) as info:
        convert(item, ConvertContext("ab"))
    assert isinstance(info.value, ItemError)
    assert "Inbox item 100 ('doomed')" in str(info.value)
