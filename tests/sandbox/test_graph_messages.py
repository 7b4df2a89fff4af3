"""Graph messages on the sandbox: strict JSON create, the draft rule, MIME, importMime, stamp lookups, EWS parity."""

from __future__ import annotations

import base64
import re

import httpx

from core.mapi.props import MSGFLAG_READ, MSGFLAG_UNSENT
from tests.sandbox.conftest import ALICE, PASSWORD
from tests.sandbox.test_graph_basics import GUID, assert_error

STAMP_ID = f"String {{{GUID}}} Name PstImportSourceKey"
FLAGS_ID = "Integer 0x0E07"
INBOX = f"/users/{ALICE}/mailFolders/inbox/messages"


def stamp_filter(value: str) -> dict[str, str]:
    quoted = value.replace("'", "''")
    return {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{STAMP_ID}' and ep/value eq '{quoted}')",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{STAMP_ID}')",
    }


def message(subject: str, stamp: str | None = None, flags: int | None = None, **extra) -> dict:
    props = []
    if flags is not None:
        props.append({"id": FLAGS_ID, "value": str(flags)})
    if stamp is not None:
        props.append({"id": STAMP_ID, "value": stamp})
    body = {"subject": subject, "body": {"contentType": "html", "content": f"<p>{subject}</p>"}, **extra}
    if props:
        body["singleValueExtendedProperties"] = props
    return body


def mime(subject: str) -> bytes:
    return (
        f"From: Carol <carol@example.com>\r\nTo: Alice <{ALICE}>\r\nSubject: {subject}\r\n"
        "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
    ).encode()


def test_json_message_without_flags_is_a_draft(graph):
    """A JSON-created message with no PidTagMessageFlags is a draft, in Graph and in the store; its sentDateTime
    is its creation time, as in the Graph reference's "Create message" example (a draft whose sentDateTime is
    its createdDateTime)."""
    reply = graph.app.post(INBOX, json=message("plain"))
    assert reply.status_code == 201, reply.text
    assert reply.json()["isDraft"] is True and reply.json()["sentDateTime"] == reply.json()["createdDateTime"]
    assert graph.sb.items(ALICE, "Inbox")[0].is_draft


def test_flags_in_the_create_request_make_a_non_draft(graph):
    """PidTagMessageFlags without MSGFLAG_UNSENT in the create request gives a non-draft, read state as given."""
    read = graph.app.post(INBOX, json=message("read", flags=MSGFLAG_READ)).json()
    unread = graph.app.post(INBOX, json=message("unread", flags=0)).json()
    assert (read["isDraft"], read["isRead"]) == (False, True)
    assert (unread["isDraft"], unread["isRead"]) == (False, False)
    draft = graph.app.post(INBOX, json=message("still draft", flags=MSGFLAG_UNSENT | MSGFLAG_READ)).json()
    assert draft["isDraft"] is True
    stored = {it.subject: it for it in graph.sb.items(ALICE, "Inbox")}
    assert stored["read"].message_flags == MSGFLAG_READ and not stored["unread"].is_read


def test_patching_flags_later_is_ignored(graph):
    """Setting PidTagMessageFlags by PATCH changes nothing (as Exchange); other properties do change."""
    created = graph.app.post(INBOX, json=message("draft")).json()
    patch = {
        "subject": "renamed",
        "singleValueExtendedProperties": [{"id": FLAGS_ID, "value": "1"}, {"id": STAMP_ID, "value": "late"}],
    }
    reply = graph.app.patch(f"/users/{ALICE}/messages/{created['id']}", json=patch)
    assert reply.status_code == 200 and reply.json()["isDraft"] is True and reply.json()["subject"] == "renamed"
    item = graph.sb.items(ALICE, "Inbox")[0]
    assert item.is_draft and item.message_flags == MSGFLAG_UNSENT
    assert [it.subject for it in graph.sb.find_by_source_key("late", ALICE)] == ["renamed"]
    read = graph.app.patch(f"/users/{ALICE}/messages/{created['id']}", json={"isRead": True}).json()
    assert read["isRead"] is True and read["isDraft"] is True


def test_unknown_property_is_refused(graph):
    """A property the message type does not define is 400 RequestBodyRead, and nothing is stored."""
    error = assert_error(graph.app.post(INBOX, json=message("x", flagz=1)), 400, "RequestBodyRead")
    assert "flagz" in error["message"]
    bad_recipient = message("y", toRecipients=[{"emailAddress": {"address": "a@b.c", "nmae": "A"}}])
    assert_error(graph.app.post(INBOX, json=bad_recipient), 400, "RequestBodyRead")
    assert graph.sb.items(ALICE, "Inbox") == []


def test_read_only_properties_are_ignored(graph):
    """receivedDateTime and isDraft in a create are accepted but change nothing (the flags decide)."""
    body = message("ro", isDraft=False, receivedDateTime="2001-01-01T00:00:00Z")
    created = graph.app.post(INBOX, json=body).json()
    assert created["isDraft"] is True and not created["receivedDateTime"].startswith("2001")


def test_delivery_and_submit_times_from_extended_properties(graph):
    """PidTagMessageDeliveryTime and PidTagClientSubmitTime set at creation become received/sent times."""
    body = message("dated", flags=1)
    body["singleValueExtendedProperties"] += [
        {"id": "SystemTime 0x0E06", "value": "2016-05-04T03:02:01Z"},
        {"id": "SystemTime 0x0039", "value": "2016-05-04T03:00:00Z"},
    ]
    created = graph.app.post(INBOX, json=body).json()
    assert created["receivedDateTime"] == "2016-05-04T03:02:01Z" and created["sentDateTime"] == "2016-05-04T03:00:00Z"


def test_bad_extended_property_id_and_value(graph):
    """A malformed extended-property id or a value of the wrong type is refused."""
    bad_id = message("x")
    bad_id["singleValueExtendedProperties"] = [{"id": "Strang 0x1234", "value": "v"}]
    assert_error(graph.app.post(INBOX, json=bad_id), 400, "ErrorInvalidProperty")
    bad_value = message("x", flags=None)
    bad_value["singleValueExtendedProperties"] = [{"id": FLAGS_ID, "value": "many"}]
    assert_error(graph.app.post(INBOX, json=bad_value), 400, "ErrorInvalidExtendedPropertyValue")


def test_custom_headers_must_be_x_headers(graph):
    """internetMessageHeaders takes only x- headers, as Graph."""
    good = message("h", internetMessageHeaders=[{"name": "X-Pst-Origin", "value": "a"}])
    assert graph.app.post(INBOX, json=good).status_code == 201
    bad = message("h", internetMessageHeaders=[{"name": "Received", "value": "a"}])
    assert_error(graph.app.post(INBOX, json=bad), 400, "InvalidInternetMessageHeader")


def test_body_over_4_mb_is_413(graph):
    """A JSON body over 4 MB is refused with 413 before it is read, and nothing is stored."""
    big = message("big", body={"contentType": "text", "content": "x" * (4 * 1024 * 1024 + 10)})
    assert_error(graph.app.post(INBOX, json=big), 413, "RequestEntityTooLarge")
    assert graph.sb.items(ALICE, "Inbox") == []
    just_under = message("ok", body={"contentType": "text", "content": "x" * (4 * 1024 * 1024 - 200)})
    assert graph.app.post(INBOX, json=just_under).status_code == 201


def test_mime_create_in_v1_is_a_draft(graph):
    """POST .../messages with base64 MIME (text/plain) creates a draft, with fields promoted from the MIME."""
    reply = graph.app.post(INBOX, content=base64.b64encode(mime("from mime")), headers={"Content-Type": "text/plain"})
    assert reply.status_code == 201, reply.text
    created = reply.json()
    assert created["isDraft"] is True and created["subject"] == "from mime"
    assert created["from"]["emailAddress"]["address"] == "carol@example.com"
    assert graph.app.get(f"/users/{ALICE}/messages/{created['id']}/$value").content == mime("from mime")
    bad = graph.app.post(INBOX, content=b"not base64!!", headers={"Content-Type": "text/plain"})
    assert_error(bad, 400, "ErrorMimeContentInvalidBase64String")


def test_import_mime_beta_creates_non_drafts(graph):
    """beta importMime stores the MIME as a non-draft, unread message; v1.0 does not have it."""
    path = f"/users/{ALICE}/mailFolders/inbox/importMime"
    reply = graph.beta.post(path, content=base64.b64encode(mime("imported")), headers={"Content-Type": "text/plain"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["isDraft"] is False and reply.json()["isRead"] is False
    item = graph.sb.items(ALICE, "Inbox")[0]
    assert not item.is_draft and graph.sb.store.mime(item) == mime("imported")
    v1 = graph.app.post(path, content=base64.b64encode(mime("x")), headers={"Content-Type": "text/plain"})
    assert_error(v1, 400, "BadRequest")
    graph.sb.set_knobs(graph_import_mime=False)
    off = graph.beta.post(path, content=base64.b64encode(mime("x")), headers={"Content-Type": "text/plain"})
    assert_error(off, 403, "ErrorAccessDenied")
    assert len(graph.sb.items(ALICE, "Inbox")) == 1


def test_find_by_source_stamp(graph):
    """The $filter on the stamp property finds exactly the stamped item, $expand returns the stamp."""
    for n in range(3):
        graph.app.post(INBOX, json=message(f"m{n}", stamp=f"ab12:{n}", flags=1))
    graph.app.post(INBOX, json=message("quote", stamp="ab12:o'neil", flags=1))
    found = graph.app.get(INBOX, params=stamp_filter("ab12:1")).json()["value"]
    assert [m["subject"] for m in found] == ["m1"]
    assert found[0]["singleValueExtendedProperties"][0]["value"] == "ab12:1"
    assert re.fullmatch(STAMP_ID, found[0]["singleValueExtendedProperties"][0]["id"], re.IGNORECASE)
    assert [m["subject"] for m in graph.app.get(INBOX, params=stamp_filter("ab12:o'neil")).json()["value"]] == ["quote"]
    assert graph.app.get(INBOX, params=stamp_filter("ab12:9")).json()["value"] == []
    other = f"/users/{ALICE}/mailFolders/sentitems/messages"
    assert graph.app.get(other, params=stamp_filter("ab12:1")).json()["value"] == []


def test_unsupported_filter_is_400(graph):
    """A $filter the sandbox does not know is refused, never silently ignored (which would return everything)."""
    assert_error(graph.app.get(INBOX, params={"$filter": "subject eq 'x'"}), 400, "BadRequest")


def test_select_top_count_and_paging(graph):
    """$select trims the fields, $top pages with @odata.nextLink, $count counts the whole folder."""
    for n in range(5):
        graph.app.post(INBOX, json=message(f"p{n}", flags=1))
    page = graph.app.get(INBOX, params={"$select": "subject", "$top": "2", "$count": "true"}).json()
    assert page["@odata.count"] == 5 and len(page["value"]) == 2
    assert set(page["value"][0]) == {"@odata.etag", "id", "subject"}
    subjects = [m["subject"] for m in page["value"]]
    while "@odata.nextLink" in page:
        page = graph.app.get(page["@odata.nextLink"]).json()
        subjects += [m["subject"] for m in page["value"]]
    assert subjects == [f"p{n}" for n in range(5)]
    count_only = graph.app.get(INBOX, params={"$top": "0", "$count": "true"}).json()
    assert count_only["@odata.count"] == 5 and count_only["value"] == [] and "@odata.nextLink" not in count_only


def test_message_shape_follows_the_docs(graph):
    """A created message carries the documented fields: ids as opaque strings, recipients, body, context."""
    body = message("shape", flags=1, toRecipients=[{"emailAddress": {"address": "b@x.test", "name": "B"}}],
                   categories=["Red"], importance="high")  # fmt: skip
    created = graph.app.post(INBOX, json=body).json()
    assert created["@odata.context"].endswith("/messages/$entity")
    assert isinstance(created["id"], str) and isinstance(created["parentFolderId"], str)
    assert created["toRecipients"] == [{"emailAddress": {"address": "b@x.test", "name": "B"}}]
    assert created["categories"] == ["Red"] and created["importance"] == "high"
    assert created["body"] == {"contentType": "html", "content": "<p>shape</p>"} and created["bodyPreview"] == "shape"
    again = graph.app.get(f"/users/{ALICE}/messages/{created['id']}").json()
    assert again["subject"] == "shape" and again["id"] == created["id"]


# --- parity with the EWS front end ----------------------------------------------------------------
def ews_find(sb, folder: str, stamp: str) -> str:
    """A raw EWS FindItem by the stamp (Basic auth as alice); returns the response XML."""
    envelope = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>
<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="item:IsDraft"/>
<t:ExtendedFieldURI PropertySetId="{GUID}" PropertyName="PstImportSourceKey" PropertyType="String"/>
</t:AdditionalProperties></m:ItemShape>
<m:Restriction><t:IsEqualTo><t:ExtendedFieldURI PropertySetId="{GUID}" PropertyName="PstImportSourceKey"
 PropertyType="String"/><t:FieldURIOrConstant><t:Constant Value="{stamp}"/></t:FieldURIOrConstant></t:IsEqualTo>
</m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="{folder}"/></m:ParentFolderIds></m:FindItem>
</s:Body></s:Envelope>"""
    reply = httpx.post(
        sb.ews_url, content=envelope.encode(), auth=(ALICE, PASSWORD), headers={"Content-Type": "text/xml"}
    )
    assert reply.status_code == 200, reply.text
    return reply.text


def test_graph_items_are_seen_by_ews(graph):
    """A message created over Graph is found over EWS by its stamp, with its subject and non-draft state."""
    graph.app.post(INBOX, json=message("cross", stamp="cc:1", flags=1))
    xml = ews_find(graph.sb, "inbox", "cc:1")
    assert "<t:Subject>cross</t:Subject>" in xml and "<t:IsDraft>false</t:IsDraft>" in xml
    assert "cc:1</t:Value>" in xml


def test_ews_items_are_seen_by_graph(graph):
    """A MIME message created over EWS (stamped, flags set) is found over Graph by its stamp, not a draft."""
    envelope = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>
<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/>
</m:SavedItemFolderId><m:Items><t:Message><t:MimeContent>{base64.b64encode(mime("via ews")).decode()}</t:MimeContent>
<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x0E07" PropertyType="Integer"/><t:Value>1</t:Value>
</t:ExtendedProperty><t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="{GUID}" PropertyName="PstImportSourceKey"
 PropertyType="String"/><t:Value>ews:1</t:Value></t:ExtendedProperty></t:Message></m:Items></m:CreateItem>
</s:Body></s:Envelope>"""
    reply = httpx.post(
        graph.sb.ews_url, content=envelope.encode(), auth=(ALICE, PASSWORD), headers={"Content-Type": "text/xml"}
    )
    assert reply.status_code == 200 and 'ResponseClass="Success"' in reply.text
    found = graph.app.get(INBOX, params=stamp_filter("ews:1")).json()["value"]
    assert len(found) == 1 and found[0]["subject"] == "via ews" and found[0]["isDraft"] is False
    assert found[0]["from"]["emailAddress"]["address"] == "carol@example.com"
    assert graph.app.get(f"/users/{ALICE}/messages/{found[0]['id']}/$value").content == mime("via ews")
