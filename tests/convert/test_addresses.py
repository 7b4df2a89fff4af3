"""Address rewriting: each source in order, caching, ambiguity, the map file, and the MIME result."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from core.convert import AddressResolver, ConvertContext, RewriteOptions, convert
from core.convert.addresses import Party, recipient_party
from core.convert.entryid import decode_ex_entry_id, decode_imcea, decode_one_off, decode_search_key
from core.errors import UserError
from core.mapi import (
    MAPI_CC,
    MAPI_TO,
    PidLidEmail1AddressType,
    PidLidEmail1EmailAddress,
    PidLidEmail1OriginalDisplayName,
    PidTagAddressType,
    PidTagDisplayName,
    PidTagEmailAddress,
    PidTagMessageClass,
    PidTagRecipientType,
    PidTagSearchKey,
    PidTagSenderAddressType,
    PidTagSenderEmailAddress,
    PidTagSenderName,
    PidTagSmtpAddress,
    PidTagSubject,
    PidTagTransportMessageHeaders,
)
from core.pst import open_pst
from core.pst.model import Item, PropertyBag, PropValue, Recipient, key_of
from tests.convert.fidelity import header_addresses, parse

DN_JOHN = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=john"
DN_ANN = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=ann"


def bag(values: dict[Any, Any]) -> PropertyBag:
    return PropertyBag({key_of(k): PropValue(0, v) for k, v in values.items()})


def make_item(props: dict[Any, Any], recipients: list[dict[Any, Any]] = (), node_id: int = 100) -> Item:
    """A plain model Item, as the reader would yield it (no library is stood in for)."""
    return Item(
        node_id=node_id,
        folder_path=("Inbox",),
        props=bag({PidTagMessageClass: "IPM.Note", **props}),
        recipients=[Recipient(bag(r)) for r in recipients],
        attachments=[],
    )


def ex_row(name: str, dn: str, kind: int = MAPI_TO, extra: dict[Any, Any] | None = None) -> dict[Any, Any]:
    return {
        PidTagDisplayName: name,
        PidTagAddressType: "EX",
        PidTagEmailAddress: dn,
        PidTagRecipientType: kind,
        **(extra or {}),
    }


def test_item_own_smtp_property_wins() -> None:
    """An EX recipient with PidTagSmtpAddress on its own row resolves from the item itself."""
    r = AddressResolver()
    item = make_item({}, [ex_row("John", DN_JOHN, extra={PidTagSmtpAddress: "john@contoso.com"})])
    mb = r.resolve(recipient_party(item.recipients[0]))
    assert mb.email == "john@contoso.com" and mb.original == DN_JOHN
    assert r.stats.rewritten == {"item": 1}


def test_recipient_collection_resolves_across_items() -> None:
    """A DN seen with its SMTP address on one item resolves a bare DN on another."""
    knows = make_item({}, [ex_row("John", DN_JOHN, extra={PidTagSmtpAddress: "john@contoso.com"})])
    bare = make_item({}, [ex_row("John", DN_JOHN)])
    r = AddressResolver()
    r.learn(knows)
    assert r.resolve(recipient_party(bare.recipients[0])).email == "john@contoso.com"
    assert r.stats.rewritten["recipient_collection"] == 1
    off = AddressResolver(RewriteOptions(recipient_collection=False, gal=False))
    off.learn(knows)
    assert off.resolve(recipient_party(bare.recipients[0])).email is None


def test_from_header_teaches_the_sender_dn() -> None:
    """An EX sender without SMTP properties is paired with its message's From: header."""
    item = make_item(
        {
            PidTagSenderName: "Ann",
            PidTagSenderAddressType: "EX",
            PidTagSenderEmailAddress: DN_ANN,
            PidTagTransportMessageHeaders: "From: Ann <ann@contoso.com>\r\nSubject: x\r\n\r\n",
        }
    )
    r = AddressResolver()
    r.learn(item)
    assert r.resolve_dn(DN_ANN, "Ann").email == "ann@contoso.com"


def test_contacts_resolve_ex_email_and_names() -> None:
    """A contact's EX Email1 with its SMTP original display name resolves that DN."""
    contact = make_item(
        {
            PidTagMessageClass: "IPM.Contact",
            PidTagDisplayName: "John Smith",
            PidLidEmail1AddressType: "EX",
            PidLidEmail1EmailAddress: DN_JOHN,
            PidLidEmail1OriginalDisplayName: "john.smith@contoso.com",
        }
    )
    r = AddressResolver()
    r.learn(contact)
    assert r.resolve_dn(DN_JOHN).email == "john.smith@contoso.com"
    assert r.stats.rewritten == {"contacts": 1}


def test_ambiguous_contact_name_is_reported_not_guessed() -> None:
    """Two contacts named alike with different addresses: the name is ambiguous, nothing is guessed."""
    r = AddressResolver(RewriteOptions(gal=False))
    for i, addr in enumerate(("ann@one.example", "ann@two.example")):
        r.learn(
            make_item(
                {
                    PidTagMessageClass: "IPM.Contact",
                    PidTagDisplayName: "Ann Lee",
                    PidLidEmail1AddressType: "SMTP",
                    PidLidEmail1EmailAddress: addr,
                },
                node_id=i,
            )
        )
    mb = r.resolve_dn(DN_ANN, "Ann Lee")
    assert mb.email is None and mb.name == "Ann Lee"
    assert r.stats.failed == {"ambiguous": 1}
    assert r.stats.ambiguous["Ann Lee"] == ["ann@one.example", "ann@two.example"]


def test_map_file(tmp_path: Path) -> None:
    """The CSV map file (header row allowed) resolves DNs case-insensitively; a bad row is a
    one-line error naming the file and line."""
    good = tmp_path / "map.csv"
    good.write_text(f"legacyExchangeDN,PrimarySmtpAddress\n{DN_JOHN.upper()},john@contoso.com\n", encoding="utf-8")
    r = AddressResolver(RewriteOptions(map_file=str(good)))
    assert r.resolve_dn(DN_JOHN).email == "john@contoso.com"
    assert r.stats.rewritten == {"map_file": 1}
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{DN_JOHN},john@contoso.com\nnot a dn,x\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.csv, line 2"):
        AddressResolver(RewriteOptions(map_file=str(bad)))
    with pytest.raises(UserError, match="cannot read"):
        AddressResolver(RewriteOptions(map_file=str(tmp_path / "missing.csv")))


def test_gal_last_cached_and_ambiguity() -> None:
    """The GAL callback is asked last, once per name; one match resolves, several are ambiguous."""
    calls: list[str] = []

    def resolve_name(name: str) -> list[str]:
        calls.append(name)
        return {"John": ["john@contoso.com"], "Ann": ["ann@a.example", "ann@b.example"]}.get(name, [])

    r = AddressResolver(resolve_name=resolve_name)
    assert r.resolve(Party("John", "EX", DN_JOHN, [], DN_JOHN)).email == "john@contoso.com"
    assert r.resolve(Party("John", "EX", DN_JOHN, [], DN_JOHN)).email == "john@contoso.com"
    assert calls == ["John"]
    assert r.resolve(Party("Ann", "EX", DN_ANN, [], DN_ANN)).email is None
    assert r.stats.rewritten == {"gal": 2}
    assert r.stats.failed == {"ambiguous": 1}
    assert r.stats.ambiguous["Ann"] == ["ann@a.example", "ann@b.example"]
    disabled = AddressResolver(RewriteOptions(gal=False), resolve_name=resolve_name)
    assert disabled.resolve_dn(DN_JOHN, "John").email is None


def test_disabled_rewriting_keeps_only_the_items_own_addresses() -> None:
    """With rewriting off, only an item's own SMTP properties are used; collection is ignored."""
    r = AddressResolver(RewriteOptions(enabled=False))
    r.learn(make_item({}, [ex_row("John", DN_JOHN, extra={PidTagSmtpAddress: "john@contoso.com"})]))
    assert r.resolve_dn(DN_JOHN, "John").email is None
    assert r.resolve(Party("John", "EX", DN_JOHN, ["john@contoso.com"], DN_JOHN)).email == "john@contoso.com"


def test_imceaex_in_stored_headers_is_rewritten() -> None:
    """IMCEAEX addresses in an item's own headers become SMTP when resolvable, and a name-only
    group when not; no IMCEAEX survives."""
    headers = (
        "From: John <IMCEAEX-_O=CONTOSO_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP+20+28FYDIBOHF23SPDLT+29"
        "_CN=RECIPIENTS_CN=JOHN@contoso.com>\r\n"
        "To: Ann <IMCEAEX-_O=CONTOSO_OU=X_CN=RECIPIENTS_CN=ANN@contoso.com>\r\n"
        "Subject: hi\r\nDate: Mon, 1 Feb 2021 10:00:00 +0000\r\n\r\n"
    )
    item = make_item({PidTagSubject: "hi", PidTagTransportMessageHeaders: headers})
    r = AddressResolver(RewriteOptions(gal=False))
    r.learn(make_item({}, [ex_row("John", DN_JOHN, extra={PidTagSmtpAddress: "john@contoso.com"})]))
    msg = parse(convert(item, ConvertContext("00", r)).mime)
    assert header_addresses(msg, "from") == ["john@contoso.com"]
    assert header_addresses(msg, "to") == [] and "Ann" in str(msg["to"])
    assert "IMCEA" not in str(msg["from"]) + str(msg["to"])
    assert "/o=contoso/ou=x/cn=recipients/cn=ann" in {k.lower() for k in r.stats.unresolved}


def test_decoders() -> None:
    """IMCEA, search key, EX entry id and one-off entry id decoders on values built by our writer."""
    from core.sandbox.pstwriter.content import ex_entry_id, one_off_entry_id

    assert decode_imcea("IMCEAEX-_O=ORG_OU=A+20B_CN=X@d.example") == ("EX", "/O=ORG/OU=A B/CN=X")
    assert decode_search_key(b"SMTP:JOHN@CONTOSO.COM\x00") == ("SMTP", "JOHN@CONTOSO.COM")
    assert decode_ex_entry_id(ex_entry_id(DN_JOHN)) == DN_JOHN
    one = decode_one_off(one_off_entry_id("Zoë", "SMTP", "zoe@example.com"))
    assert (one.display_name, one.address_type, one.address) == ("Zoë", "SMTP", "zoe@example.com")
    assert decode_one_off(b"\x00" * 30) is None


def test_unresolvable_corpus_address_is_a_name_never_a_fake_address(corpus: Path) -> None:
    """pstsdk_test_unicode.pst holds an EX sender with no SMTP anywhere in the file: the MIME gets
    his display name alone, and the DN is reported."""
    with open_pst(corpus / "pstsdk_test_unicode.pst") as pst:
        ctx = ConvertContext.for_pst(pst)
        for folder in pst.folders():
            for item in pst.items(folder):
                msg = parse(convert(item, ctx).mime)
                assert header_addresses(msg, "from") == []
                assert "Terry Mahaffey" in str(msg["from"])
                assert "/o=" not in str(msg["from"]).lower()
        assert list(ctx.resolver.stats.unresolved.values()) == ["Terry Mahaffey"]
        assert ctx.resolver.stats.failed["not_found"] >= 1


def test_corpus_ex_senders_resolve_from_the_pst(corpus: Path) -> None:
    """Across the corpus, EX parties resolve from the PST itself (the OST's own SMTP properties,
    backup_with_rules's recipient collection), with no EX left in address headers."""
    totals: dict[str, int] = {}
    for name in (
        "aspose-net_SampleOstFile.ost",
        "pstreader-hughbe_backup_with_rules.pst",
        "enron-edrm_sample_32-bit.pst",
    ):
        with open_pst(corpus / name) as pst:
            ctx = ConvertContext.for_pst(pst)
            for folder in pst.folders():
                for item in pst.items(folder):
                    payload = convert(item, ctx)
                    mime = getattr(payload, "mime", None)
                    if mime:
                        msg = parse(mime)
                        for h in ("from", "sender", "to", "cc", "bcc"):
                            assert "imceaex" not in str(msg.get(h, "")).lower()
            for k, v in ctx.resolver.stats.rewritten.items():
                totals[k] = totals.get(k, 0) + v
            assert not ctx.resolver.stats.unresolved, name
    assert totals.get("item", 0) > 0 and totals.get("recipient_collection", 0) > 0


def test_cc_kind_kept() -> None:
    """A resolved CC recipient lands in Cc, not To."""
    item = make_item(
        {PidTagSubject: "x"},
        [ex_row("John", DN_JOHN, MAPI_CC, {PidTagSearchKey: b"SMTP:JOHN@CONTOSO.COM\x00"})],
    )
    msg = parse(convert(item, ConvertContext("00", AddressResolver())).mime)
    assert header_addresses(msg, "cc") == ["john@contoso.com"] and msg["to"] is None


def test_contact_original_entry_id_gives_the_smtp_address() -> None:
    """An EX contact email whose original entry id is a one-off SMTP entry resolves to that address."""
    from core.mapi import PidLidEmail1OriginalEntryId
    from core.sandbox.pstwriter.content import one_off_entry_id

    contact = make_item(
        {
            PidTagMessageClass: "IPM.Contact",
            PidTagDisplayName: "John Smith",
            PidLidEmail1AddressType: "EX",
            PidLidEmail1EmailAddress: DN_JOHN,
            PidLidEmail1OriginalEntryId: one_off_entry_id("John Smith", "SMTP", "js@contoso.com"),
        }
    )
    r = AddressResolver()
    r.learn(contact)
    assert r.resolve_dn(DN_JOHN).email == "js@contoso.com"


_BOUNDARY = re.compile(rb"=_pstimport_[0-9a-f]+_[0-9a-f]+")


def _all_mime(path: Path, lazy: bool) -> tuple[list[bytes], AddressResolver]:
    with open_pst(path) as pst:
        ctx = ConvertContext.for_pst(pst, lazy=lazy)
        out = [
            _BOUNDARY.sub(b"B", convert(i, ctx).mime)
            for f in pst.folders()
            for i in pst.items(f)
            if hasattr(i, "props") and i.message_class.startswith(("IPM.Note", "REPORT", "IPM.Schedule"))
        ]
        return out, ctx.resolver


def test_lazy_learning_gives_the_same_result_and_skips_needless_passes(
    corpus: Path, writer_pst: tuple[Path, dict]
) -> None:
    """Learning on demand (the default) converts exactly as an up-front pass does, runs the pass
    mid-run when an EX address needs it, and never reads a PST twice when none does."""
    for path in (corpus / "pstreader-hughbe_backup_with_rules.pst", writer_pst[0]):
        eager, eager_r = _all_mime(path, lazy=False)
        lazy, lazy_r = _all_mime(path, lazy=True)
        assert lazy == eager
        assert lazy_r.learned and lazy_r.stats.rewritten == eager_r.stats.rewritten
    _, r = _all_mime(corpus / "ruby-msg_200_recipients.pst", lazy=True)
    assert not r.learned


def test_reply_to_from_reply_recipient_entries() -> None:
    """PidTagReplyRecipientEntries (a FlatEntryList of one-off entry ids) becomes Reply-To."""
    import struct

    from core.mapi import PidTagReplyRecipientEntries
    from core.sandbox.pstwriter.content import one_off_entry_id

    entries = [
        one_off_entry_id("Help Desk", "SMTP", "help@contoso.com"),
        one_off_entry_id("Ann", "SMTP", "a@b.example"),
    ]
    flat = b"".join(struct.pack("<I", len(e)) + e + b"\x00" * (-len(e) % 4) for e in entries)
    blob = struct.pack("<II", len(entries), len(flat)) + flat
    item = make_item({PidTagSubject: "x", PidTagReplyRecipientEntries: blob})
    msg = parse(convert(item, ConvertContext("00", AddressResolver())).mime)
    assert header_addresses(msg, "reply-to") == ["help@contoso.com", "a@b.example"]
    assert "Help Desk" in str(msg["reply-to"])
