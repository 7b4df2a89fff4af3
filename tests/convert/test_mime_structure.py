"""MIME structure of real corpus messages: inline images, nesting, many recipients, extended props."""

from __future__ import annotations

from pathlib import Path

from core.convert import ConvertContext, MimePayload, convert
from core.mapi import (
    MSGFLAG_READ,
    MSGFLAG_UNSENT,
    PidNamePstImportSourceKey,
    PidTagClientSubmitTime,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
)
from core.pst import open_pst
from tests.convert.fidelity import header_addresses, parse


def _mail(corpus: Path, name: str) -> list[tuple]:
    with open_pst(corpus / name) as pst:
        ctx = ConvertContext.for_pst(pst)
        return [(i, convert(i, ctx)) for f in pst.folders() for i in pst.items(f) if hasattr(i, "props")]


def test_inline_image_is_related_and_referenced(corpus: Path) -> None:
    """ruby-msg attachAndInline: the inline image sits in multipart/related with the Content-ID the
    HTML references; the other file is a plain attachment beside it."""
    ((_item, payload),) = _mail(corpus, "ruby-msg_attachAndInline.pst")
    msg = parse(payload.mime)
    assert msg.get_content_type() == "multipart/mixed"
    related, attached = list(msg.iter_parts())
    assert related.get_content_type() == "multipart/related"
    alternative, image = list(related.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    cid = image["content-id"].strip("<>")
    html = alternative.get_body(preferencelist=("html",)).get_content()
    assert f"cid:{cid}" in html
    assert image.get_content_disposition() == "inline" and image.get_filename() == "image001.png"
    assert attached.get_filename() == "attach.png" and attached.get_content_disposition() == "attachment"


def test_four_nesting_levels(corpus: Path) -> None:
    """process-pst four_nesting_levels: outer > middle > innermost message > hello.txt, each embedded
    message as message/rfc822, recursively, with the innermost file intact."""
    ((_item, payload),) = _mail(corpus, "process-pst_four_nesting_levels.pst")
    depth = 0
    msg = parse(payload.mime)
    while True:
        inner = [p for p in msg.iter_attachments() if p.get_content_type() == "message/rfc822"]
        if not inner:
            break
        msg = inner[0].get_payload(0)
        depth += 1
    assert depth == 2
    assert str(msg["subject"]) == "Innermost message"
    assert [p.get_filename() for p in msg.iter_attachments()] == ["hello.txt"]


def test_two_hundred_recipients(corpus: Path) -> None:
    """ruby-msg 200_recipients: every recipient row is an address of its kind in the MIME."""
    ((item, payload),) = _mail(corpus, "ruby-msg_200_recipients.pst")
    msg = parse(payload.mime)
    got = set(header_addresses(msg, "to") + header_addresses(msg, "cc") + header_addresses(msg, "bcc"))
    rows = {r.smtp_address.lower() for r in item.recipients if r.smtp_address}
    assert len(item.recipients) >= 200 and rows and rows <= got


def test_read_state_dates_and_stamp_travel_as_extended_properties(corpus: Path) -> None:
    """Read and unread items keep their state, submit and delivery times ride along, no received
    item is marked unsent, and every payload carries the source stamp."""
    seen_read = seen_unread = 0
    for name in ("aspose-net_SampleOstFile.ost", "tghanem-pst_user1_test.lab.pst"):
        for item, payload in _mail(corpus, name):
            if not isinstance(payload, MimePayload):
                continue
            ext = {e.prop: e.value for e in payload.extended}
            flags = ext[PidTagMessageFlags]
            assert bool(flags & MSGFLAG_READ) == bool(item.message_flags & MSGFLAG_READ)
            assert bool(flags & MSGFLAG_UNSENT) == bool(item.message_flags & MSGFLAG_UNSENT)
            seen_read += bool(flags & MSGFLAG_READ)
            seen_unread += not flags & MSGFLAG_READ
            for prop in (PidTagMessageDeliveryTime, PidTagClientSubmitTime):
                if item.props.time(prop):
                    assert ext[prop] == item.props.time(prop)
            assert ext[PidNamePstImportSourceKey].endswith(f":{item.node_id}")
    assert seen_read and seen_unread


def test_all_extended_props_lists_everything_emitted(corpus: Path, writer_pst: tuple[Path, dict]) -> None:
    """Transports register ALL_EXTENDED_PROPS up front: every property any payload carries is in it."""
    from core.convert.extended import ALL_EXTENDED_PROPS

    known = set(ALL_EXTENDED_PROPS)
    seen = set()
    for name in (
        "aspose-net_SampleOstFile.ost",
        "pstreader-hughbe_hughbe_Outlook.pst",
        "aspose-java_MapiNoteToPST_out.pst",
        "java-libpst_dist-list.pst",
    ):
        for _item, payload in _mail(corpus, name):
            seen |= {e.prop for e in payload.extended}
    with open_pst(writer_pst[0]) as pst:
        ctx = ConvertContext.for_pst(pst)
        for folder in pst.folders():
            for item in pst.items(folder):
                seen |= {e.prop for e in convert(item, ctx).extended}
    assert seen and seen <= known, seen - known


def test_clear_signed_smime_body_is_kept_byte_for_byte() -> None:
    """An IPM.Note.SMIME.MultipartSigned item's multipart/signed entity becomes the message body
    unchanged (a rebuilt body would break the signature), under the item's own headers."""
    import io

    from core.convert import AddressResolver
    from core.mapi import (
        PidTagAttachLongFilename,
        PidTagAttachMethod,
        PidTagAttachMimeTag,
        PidTagMessageClass,
        PidTagSubject,
        afByValue,
    )
    from core.pst.model import Attachment
    from tests.convert.test_addresses import bag, make_item

    signed = (
        b'Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; micalg=sha-256;\r\n'
        b'\tboundary="----=_sig"\r\n\r\n'
        b"This is an S/MIME signed message\r\n\r\n------=_sig\r\n"
        b'Content-Type: text/plain; charset="us-ascii"\r\n\r\nSigned  text with trailing space \r\n'
        b"------=_sig\r\nContent-Type: application/x-pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nMIIBAAYJKoZIhvcNAQcCoIIB8TCCAe0CAQExDzANBglghkgBZQMEAgEFADALBgkq\r\n"
        b"------=_sig--\r\n"
    )
    item = make_item({PidTagMessageClass: "IPM.Note.SMIME.MultipartSigned", PidTagSubject: "signed"})
    props = bag(
        {PidTagAttachMethod: afByValue, PidTagAttachLongFilename: "smime.p7m", PidTagAttachMimeTag: "multipart/signed"}
    )
    item.attachments = [Attachment(props, 0, len(signed), _opener=lambda: io.BytesIO(signed))]
    payload = convert(item, ConvertContext("ab", AddressResolver()))
    assert payload.mime.endswith(signed)
    msg = parse(payload.mime)
    assert msg.get_content_type() == "multipart/signed" and str(msg["subject"]) == "signed"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "application/x-pkcs7-signature"]
