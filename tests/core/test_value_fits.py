"""The one check, used by both transports, of whether a value can be sent as a property's MAPI type."""

from __future__ import annotations

from datetime import UTC, datetime

from core.mapi import PidNameKeywords, PidTagClientSubmitTime, PidTagMessageFlags, value_fits


def test_value_fits_its_mapi_type_only() -> None:
    """Scalars fit their type (a bool is not an integer), multi-valued types need a list of fitting values."""
    assert value_fits(PidTagMessageFlags, 3)
    assert not value_fits(PidTagMessageFlags, True)
    assert not value_fits(PidTagMessageFlags, "3")
    assert value_fits(PidTagClientSubmitTime, datetime(2020, 1, 2, tzinfo=UTC))
    assert not value_fits(PidTagClientSubmitTime, "2020-01-02")
    assert value_fits(PidNameKeywords, ["a", "b"])
    assert not value_fits(PidNameKeywords, "a")
    assert not value_fits(PidNameKeywords, ["a", 1])
