"""PropertyBag decodes stored values on first access: everything it answers equals eager decoding."""

from __future__ import annotations

from core.mapi import PidTagMessageFlags, PidTagSubject, PropType
from core.pst.model import PropertyBag
from core.pst.values import decode

RAW = {
    PidTagSubject.id: (int(PropType.PT_UNICODE), "Hello".encode("utf-16-le"), "cp1252"),
    PidTagMessageFlags.id: (int(PropType.PT_LONG), b"\x01\x00\x00\x00", "cp1252"),
    0x0E08: (int(PropType.PT_LONG), b"\x01", "cp1252"),  # too short: undecodable
    0x3001: (int(PropType.PT_STRING8), "caf\xe9".encode("cp1252"), "cp1252"),
    0x0FFF: (int(PropType.PT_BINARY), None, "cp1252"),
}


def eager() -> PropertyBag:
    return PropertyBag({k: decode(*raw) for k, raw in RAW.items()})


def test_lazy_bag_answers_as_eager() -> None:
    """Keys, order, len, values, get() of an undecodable value, and errors() equal an eager bag's."""
    lazy = PropertyBag(dict(RAW))
    assert list(lazy) == list(RAW) and len(lazy) == len(RAW)
    assert lazy.errors() == eager().errors() and 0x0E08 in lazy.errors()
    lazy = PropertyBag(dict(RAW))
    assert lazy.get(0x0E08, "default") == "default"
    assert lazy.str(PidTagSubject) == "Hello" and lazy.int(PidTagMessageFlags) == 1
    assert dict(lazy.items()) == dict(eager().items())
    assert lazy.get(0x1234) is None and 0x1234 not in lazy


def test_lazy_values_decoded_once_and_copyable() -> None:
    """A value is decoded on first access and kept; a bag built from another's entries (as the MIME
    converter does to drop a property) reads the same, decoded or not."""
    lazy = PropertyBag(dict(RAW))
    first = lazy[0x3001]
    assert first.value == "caf\xe9" and lazy[0x3001] is first
    copy = PropertyBag({k: v for k, v in lazy._values.items() if k != PidTagSubject.id})  # noqa: SLF001
    assert dict(copy.items()) == {k: v for k, v in eager().items() if k != PidTagSubject.id}
