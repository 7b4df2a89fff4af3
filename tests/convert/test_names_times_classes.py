"""What the converter gives the faults found by reading imports back (issue #18): a recipient named by its
address gets it, an item never submitted keeps a time the PST has, notes and journal entries keep their
class, read/unsent state and times, and EWS writes the class as t:ItemClass."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.convert import ConvertContext, convert
from core.convert.addresses import AddressResolver, Party
from core.convert.payload import MimePayload, Note
from core.mapi import PidTagClientSubmitTime, PidTagMessageClass, PidTagMessageDeliveryTime, PidTagMessageFlags
from tests.convert.fidelity import header_addresses, parse, raw_header

JOHN = "pst2john_97_outlook_pass12345.pst"


def _payloads(path: Path) -> list[tuple[object, object]]:
    from core.pst import open_pst

    out = []
    with open_pst(path) as pst:
        ctx = ConvertContext.for_pst(pst)
        for folder in pst.folders():
            for item in pst.items(folder):
                if hasattr(item, "props"):
                    out.append((item, convert(item, ctx)))
    return out


def test_display_name_that_is_an_address_is_the_address(corpus: Path) -> None:
    """pst2john_97's recipients carry their address only as the display name: the MIME To is that address."""
    pairs = _payloads(corpus / JOHN)
    assert len(pairs) == 294
    for _item, payload in pairs:
        assert isinstance(payload, MimePayload)
        assert header_addresses(parse(payload.mime), "to") == ["nobody@yahoo.com"]


def test_unresolvable_legacy_dn_with_an_address_as_name() -> None:
    """An EX recipient nothing resolves, whose display name is an SMTP address, gets that address; one whose
    name is not an address stays unresolved (never a made-up address)."""
    resolver = AddressResolver()
    dn = "/o=Org/ou=Exchange Administrative Group/cn=Recipients/cn=gone"
    got = resolver.resolve(Party("ana@example.com", "EX", dn, [], dn))
    assert got.email == "ana@example.com" and got.original == dn
    none = resolver.resolve(Party("Ana Lima", "EX", dn, [], dn))
    assert none.email is None and none.name == "Ana Lima"


def test_items_never_submitted_keep_a_time_the_pst_has(corpus: Path) -> None:
    """An item without PidTagClientSubmitTime gets its own headers' Date, else its creation time, as Date;
    never none (which the server would fill with the import time)."""
    checked = 0
    for item, payload in _payloads(corpus / "aspose-net_passwordprotectedPST.pst"):
        if not isinstance(payload, MimePayload) or item.props.time(PidTagClientSubmitTime) is not None:
            continue
        date = raw_header(payload.mime, "Date")
        assert date, item.where
        assert payload.sent is not None and payload.sent.year < 2026
        checked += 1
    assert checked >= 5


def test_notes_keep_class_flags_and_times(tmp_path: Path) -> None:
    """A writer PST's sticky notes convert to IPM.StickyNote payloads with their read/unsent flags as in the
    PST and their own times as submit and delivery times."""
    from core.sandbox.pstwriter.content import generate

    path = tmp_path / "realistic.pst"
    generate(str(path), seed=1, mode="realistic")
    notes = [(i, p) for i, p in _payloads(path) if isinstance(p, Note)]
    assert len(notes) >= 2
    for item, payload in notes:
        ext = {e.prop: e.value for e in payload.extended}
        assert payload.message_class == "IPM.StickyNote"
        assert ext[PidTagMessageFlags] == item.message_flags & 0x9
        for prop in (PidTagClientSubmitTime, PidTagMessageDeliveryTime):
            assert isinstance(ext[prop], datetime) and ext[prop] < datetime(2026, 1, 1, tzinfo=UTC)


def test_ews_writes_the_class_of_a_note_as_item_class() -> None:
    """The EWS item of a sticky note carries t:ItemClass (exchangelib never writes it) and no
    PidTagMessageClass extended property besides."""
    from exchangelib.version import EXCHANGE_2016, Version

    from core.convert.payload import Body, ExtendedProp
    from core.transport.ews import wire
    from core.transport.ews.items import build_item, item_class

    note = Note(source_key="ab:1", message_class="IPM.StickyNote", subject="n", body=Body(text="hi"))
    note.extended = [ExtendedProp(PidTagMessageFlags, 1), ExtendedProp(PidTagMessageClass, "IPM.StickyNote")]
    item = build_item(None, None, note)
    xml = wire.typed_item(item, Version(EXCHANGE_2016), item_class(item, note)).decode()
    assert "<t:ItemClass>IPM.StickyNote</t:ItemClass>" in xml
    assert xml.index("ItemClass") < xml.index("<t:Subject>")
    assert 'PropertyTag="0x1a"' not in xml


def _empty_groups(mime: bytes) -> list[tuple[str, str]]:
    """(header, group name) for each empty RFC 5322 group in To/Cc/Bcc: a recipient shown by name only."""
    from email.headerregistry import Group

    out = []
    msg = parse(mime)
    for header in ("To", "Cc", "Bcc"):
        value = msg[header]
        for group in getattr(value, "groups", ()) if value is not None else ():
            if isinstance(group, Group) and group.display_name is not None and not group.addresses:
                out.append((header, group.display_name))
    return out


def test_a_recipient_shown_by_name_only_is_reported_on_its_item(writer_pst, corpus: Path) -> None:
    """Every recipient that has no SMTP address (an EX DN nothing resolves, a name with no address) ends
    as an empty group in the MIME header and is named in its item's problems, whether the header came
    from the item's properties or from its stored transport headers; an item with none names none."""
    path, truth = writer_pst
    unresolvable = sum(1 for t in truth["items"] for r in t.get("recipients") or [] if not r.get("smtp"))
    assert unresolvable  # the realistic PST has EX recipients nothing resolves
    seen = 0
    for source in (path, corpus / JOHN, corpus / "aspose-net_PersonalStorageFile1.pst"):
        for _item, payload in _payloads(source):
            if not isinstance(payload, MimePayload):
                continue
            groups = _empty_groups(payload.mime)
            said = [p for p in payload.problems if "has no SMTP address: kept by name in the header" in p]
            assert len(said) == len(groups), (payload.subject, groups, said)
            for header, name in groups:
                assert any(p.startswith(f"{header} recipient {name!r}") for p in said), (payload.subject, name)
            seen += len(groups)
    assert seen >= unresolvable
