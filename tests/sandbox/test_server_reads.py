"""What an EWS client reads back from the sandbox, as Exchange answers it: attachments of MIME and typed
items with their ids, GetAttachment (files and embedded messages, nested), derived fields (received/sent
times from their MAPI properties, DisplayTo/Cc, Bcc, HasAttachments, ItemClass), FindItem's reduced
shape, and read-only fields refused on create. Every exchange is schema-checked (the `sandbox` fixture)."""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests
from exchangelib import (
    DELEGATE,
    Account,
    Configuration,
    Contact,
    Credentials,
    ExtendedProperty,
    FileAttachment,
    ItemAttachment,
    Message,
)
from exchangelib.ewsdatetime import UTC, EWSDateTime
from exchangelib.protocol import close_connections
from lxml import etree

from core.sandbox.server.ewsbase import encode_attachment_id
from tests.sandbox.conftest import ALICE, PASSWORD

T = "{http://schemas.microsoft.com/exchange/services/2006/types}"
M = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
PDF = b"%PDF-1.4 fake pdf \x00\x01\x02" * 50
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
INNER_FILE = b"inner attachment bytes \xff\xfe" * 20


class MessageClass(ExtendedProperty):
    property_tag = 0x001A
    property_type = "String"


class SubmitTime(ExtendedProperty):
    property_tag = 0x0039
    property_type = "SystemTime"


class DeliveryTime(ExtendedProperty):
    property_tag = 0x0E06
    property_type = "SystemTime"


class MessageFlags(ExtendedProperty):
    property_tag = 0x0E07
    property_type = "Integer"


class NoteColor(ExtendedProperty):
    property_set_id = "0006200E-0000-0000-C000-000000000046"  # PSETID_Note
    property_id = 0x8B00
    property_type = "Integer"


_REGISTERED = {
    "x_class": MessageClass,
    "x_submit": SubmitTime,
    "x_delivery": DeliveryTime,
    "x_flags": MessageFlags,
    "x_note_color": NoteColor,
}


@pytest.fixture
def account(sandbox):
    for name, cls in _REGISTERED.items():
        Message.register(name, cls)
    config = Configuration(service_endpoint=sandbox.ews_url, credentials=Credentials(ALICE, PASSWORD))
    try:
        yield Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)
    finally:
        for name in _REGISTERED:
            Message.deregister(name)
        close_connections()


def soap_body(inner: str) -> bytes:
    """A request envelope around one EWS operation element (for what exchangelib would not send)."""
    head = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'
        ' xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
        '<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>'
    )
    return (head + inner + "</s:Body></s:Envelope>").encode()


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def mime_with_everything() -> bytes:
    inner = (
        "From: Inner Sender <inner@example.com>\r\nTo: someone@example.com\r\nSubject: the embedded one\r\n"
        "Date: Mon, 02 Mar 2015 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="in"\r\n\r\n'
        "--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ninner body\r\n"
        '--in\r\nContent-Type: application/octet-stream; name="deep.bin"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-Disposition: attachment; filename="deep.bin"\r\n\r\n{b64(INNER_FILE)}--in--\r\n'
    )
    return (
        'From: "Ana Lima" <ana@example.com>\r\nTo: "Bo Chen" <bo@example.com>, carl@example.com\r\n'
        "Cc: Dee <dee@example.com>\r\nBcc: hidden@example.com\r\nSubject: everything\r\n"
        "Date: Tue, 03 Mar 2015 11:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        '--outer\r\nContent-Type: multipart/related; boundary="rel"\r\n\r\n'
        '--rel\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello there\r\n"
        '--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hello <img src="cid:pic1"> there</p>\r\n--alt--\r\n'
        '--rel\r\nContent-Type: image/png; name="pic.png"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-ID: <pic1>\r\nContent-Disposition: inline; filename="pic.png"\r\n\r\n{b64(PNG)}--rel--\r\n'
        '--outer\r\nContent-Type: application/pdf; name="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-Disposition: attachment; filename="report.pdf"\r\n\r\n{b64(PDF)}'
        '--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\n\r\n'
        f"{inner}\r\n--outer--\r\n"
    ).encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_mime_item_reads_back_with_attachments_and_derived_fields(sandbox, account):
    """A MIME message lists its file, inline and embedded attachments with ids; their content (and the
    embedded message's own attachment) reads back byte for byte; DisplayTo/Cc, Bcc, HasAttachments and
    the received/sent times come from the recipients and the MAPI properties, as Exchange derives them."""
    submitted = EWSDateTime(2015, 3, 3, 10, 59, 30, tzinfo=UTC)
    delivered = EWSDateTime(2015, 3, 3, 11, 0, 5, tzinfo=UTC)
    m = Message(
        account=account,
        folder=account.inbox,
        mime_content=mime_with_everything(),
        x_submit=submitted,
        x_delivery=delivered,
        x_flags=1,
        is_read=True,
    )
    m.save()
    (got,) = account.fetch([m])
    assert got.subject == "everything"
    assert got.item_class == "IPM.Note"
    assert got.datetime_received == delivered
    assert got.datetime_sent == submitted  # PidTagClientSubmitTime wins over the MIME Date
    assert got.display_to == "Bo Chen; carl@example.com"
    assert got.display_cc == "Dee"
    assert [r.email_address for r in got.bcc_recipients] == ["hidden@example.com"]
    assert got.sender.email_address == got.author.email_address == "ana@example.com"
    assert got.has_attachments is True and got.is_draft is False and got.is_read is True
    assert "hello there" in got.text_body
    by_name = {a.name: a for a in got.attachments}
    assert set(by_name) == {"pic.png", "report.pdf", "fwd.eml"}
    assert all(a.attachment_id is not None for a in got.attachments)
    assert by_name["pic.png"].is_inline and by_name["pic.png"].content_id == "pic1"
    assert not by_name["report.pdf"].is_inline
    assert sha(by_name["report.pdf"].content) == sha(PDF)
    assert sha(by_name["pic.png"].content) == sha(PNG)
    embedded = by_name["fwd.eml"]
    assert isinstance(embedded, ItemAttachment)
    inner = embedded.item
    assert inner.subject == "the embedded one"
    assert inner.author.email_address == "inner@example.com"
    (deep,) = inner.attachments
    assert isinstance(deep, FileAttachment) and deep.name == "deep.bin"
    assert sha(deep.content) == sha(INNER_FILE)


def test_times_and_booleans_are_written_as_exchange_writes_them(sandbox, account):
    """On the wire every date-time is UTC with whole seconds and "Z", every boolean true/false, even when
    the creating request sent them otherwise (a fractional, offset time; IsAllDayEvent 1)."""
    m = Message(account=account, folder=account.inbox, mime_content=b"Subject: t\r\n\r\nx\r\n", x_flags=1)
    m.save()
    body = soap_body("""<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>
<t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>
<t:Subject>all day</t:Subject><t:Start>2015-03-03T10:00:00.1234567+02:00</t:Start>
<t:End>2015-03-04T10:00:00.5+02:00</t:End><t:IsAllDayEvent>1</t:IsAllDayEvent>
</t:CalendarItem></m:Items></m:CreateItem>""")
    reply = requests.post(sandbox.ews_url, data=body, auth=(ALICE, PASSWORD), timeout=30)
    assert reply.status_code == 200, reply.text
    new_id = etree.fromstring(reply.content).find(f".//{T}ItemId").get("Id")
    for item_id in (m.id, new_id):
        get = soap_body(f"""<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>""")
        doc = etree.fromstring(requests.post(sandbox.ews_url, data=get, auth=(ALICE, PASSWORD), timeout=30).content)
        (item,) = doc.find(f".//{M}Items")
        times = {etree.QName(e).localname: e.text for e in item if etree.QName(e).localname.startswith("DateTime")}
        times |= {n: item.findtext(T + n) for n in ("Start", "End") if item.find(T + n) is not None}
        assert times and all(v.endswith("Z") and "." not in v and "+" not in v for v in times.values()), times
        flags = [e.text for e in item.iter() if etree.QName(e).localname.startswith(("Is", "Has"))]
        assert flags and set(flags) <= {"true", "false"}, flags
    assert times["Start"] == "2015-03-03T08:00:00Z" and item.findtext(T + "IsAllDayEvent") == "true"


def test_typed_item_attachments_have_ids_and_read_back(sandbox, account):
    """A contact created with a file attachment lists it with an AttachmentId; exchangelib reads its content
    (no attachment comes back without an id, which made exchangelib try to create it again)."""
    c = Contact(account=account, folder=account.contacts, display_name="Ana Lima", given_name="Ana")
    c.attach(FileAttachment(name="card.vcf", content=b"BEGIN:VCARD\r\nEND:VCARD\r\n"))
    c.save()
    (got,) = account.fetch([c])
    (att,) = got.attachments
    assert att.attachment_id is not None and att.name == "card.vcf"
    assert att.content == b"BEGIN:VCARD\r\nEND:VCARD\r\n"
    assert got.has_attachments is True


def test_message_class_from_the_extended_property(sandbox, account):
    """PidTagMessageClass sent as an extended property is the item class (sticky notes keep IPM.StickyNote
    and their colour), and the item is answered as t:Message, as Exchange answers classes EWS does not type."""
    note = Message(
        account=account, folder=account.inbox, subject="a note", body="yellow", x_class="IPM.StickyNote", x_note_color=3
    )
    note.save()
    (got,) = account.fetch([note])
    assert isinstance(got, Message)
    assert got.item_class == "IPM.StickyNote" and got.x_class == "IPM.StickyNote"
    assert got.x_note_color == 3
    assert account.inbox.filter(item_class="IPM.StickyNote").count() == 1


def test_find_item_leaves_out_bodies_and_recipient_lists(sandbox, account):
    """FindItem, asked for body and recipients, answers neither, and the sender by name only (EWS FindItem
    reference); GetItem answers both. Paging from the end and a restriction work."""
    for i in range(7):
        Message(
            account=account,
            folder=account.inbox,
            mime_content=(
                f"From: Ana <ana@example.com>\r\nTo: bo@example.com\r\nSubject: p{i}\r\n\r\nbody {i}\r\n"
            ).encode(),
            x_flags=1,
        ).save()
    found = list(account.inbox.all().order_by("subject").only("subject", "display_to"))
    assert [f.subject for f in found] == [f"p{i}" for i in range(7)]
    assert found[0].display_to == "bo@example.com"
    # exchangelib never asks FindItem for such fields; ask as another client might
    body = soap_body("""<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
<t:AdditionalProperties>
<t:FieldURI FieldURI="item:Body"/><t:FieldURI FieldURI="message:ToRecipients"/><t:FieldURI FieldURI="message:From"/>
<t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>
<m:IndexedPageItemView MaxEntriesReturned="3" Offset="0" BasePoint="End"/>
<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>""")
    reply = requests.post(sandbox.ews_url, data=body, auth=(ALICE, PASSWORD), timeout=30)
    doc = etree.fromstring(reply.content)
    assert [e.text for e in doc.iter(T + "Subject")] == ["p4", "p5", "p6"]
    root = doc.find(f".//{M}RootFolder")
    assert root.get("TotalItemsInView") == "7" and root.get("IncludesLastItemInRange") == "true"
    assert doc.find(f".//{T}Body") is None and doc.find(f".//{T}ToRecipients") is None
    assert [e.text for e in doc.iter(T + "Name")] == ["Ana"] * 3
    assert b"ana@example.com" not in reply.content
    (full,) = account.fetch([found[3]])
    assert full.body.strip() == "body 3" and [r.email_address for r in full.to_recipients] == ["bo@example.com"]
    assert account.inbox.filter(subject__in=["p1", "p5"]).count() == 2
    assert [m.subject for m in account.inbox.all().order_by("-subject").only("subject")[:2]] == ["p6", "p5"]


def _create_raw(sandbox, item_xml: str) -> etree._Element:
    body = soap_body(f"""<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId>
<t:DistinguishedFolderId Id="inbox"/>
</m:SavedItemFolderId><m:Items>{item_xml}</m:Items></m:CreateItem>""")
    reply = requests.post(sandbox.ews_url, data=body, auth=(ALICE, PASSWORD), timeout=30)
    assert reply.status_code == 200, reply.text
    return etree.fromstring(reply.content).find(f".//{M}CreateItemResponseMessage")


@pytest.mark.parametrize(
    "field",
    [
        "<t:DateTimeReceived>2015-01-01T00:00:00Z</t:DateTimeReceived>",
        "<t:IsDraft>false</t:IsDraft>",
        "<t:DateTimeSent>2015-01-01T00:00:00Z</t:DateTimeSent>",
    ],
)
def test_read_only_fields_are_refused_on_create(sandbox, account, field):
    """A create request that sets a read-only field is refused (ErrorInvalidPropertySet), never quietly
    honoured, and nothing is created."""
    msg = _create_raw(sandbox, f"<t:Message><t:Subject>ro</t:Subject>{field}</t:Message>")
    assert msg.get("ResponseClass") == "Error"
    assert msg.findtext(M + "ResponseCode") == "ErrorInvalidPropertySet"
    assert account.inbox.total_count == 0


def test_get_attachment_with_an_unknown_id_is_an_error(sandbox, account):
    """GetAttachment of an id that names no attachment answers an error message, not a fault."""
    m = Message(account=account, folder=account.inbox, mime_content=b"Subject: plain\r\n\r\nx\r\n", x_flags=1)
    m.save()
    (got,) = account.fetch([m])
    assert got.attachments == [] and got.has_attachments is False
    from core.sandbox.server.ewsbase import decode_id

    bogus = encode_attachment_id(decode_id(m.id, "I"), (4,))
    body = soap_body(
        f'<m:GetAttachment><m:AttachmentIds><t:AttachmentId Id="{bogus}"/></m:AttachmentIds></m:GetAttachment>'
    )
    reply = requests.post(sandbox.ews_url, data=body, auth=(ALICE, PASSWORD), timeout=30)
    assert reply.status_code == 200
    msg = etree.fromstring(reply.content).find(f".//{M}GetAttachmentResponseMessage")
    assert msg.get("ResponseClass") == "Error" and msg.findtext(M + "ResponseCode") == "ErrorItemNotFound"
