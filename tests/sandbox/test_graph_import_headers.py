"""Sandbox Graph importMime: X- headers promoted to PS_INTERNET_HEADERS named properties ($filter and EWS
find them), the PATCH that follows an import, and the knob that makes that PATCH fail."""

from __future__ import annotations

import base64

import httpx

from core.mapi.props import PS_INTERNET_HEADERS
from tests.sandbox.conftest import ALICE, PASSWORD
from tests.sandbox.test_graph_basics import assert_error
from tests.sandbox.test_graph_messages import STAMP_ID, stamp_filter

HEADER_ID = f"String {{{PS_INTERNET_HEADERS}}} Name x-pstimport-sourcekey"
IMPORT = f"/users/{ALICE}/mailFolders/inbox/importMime"
INBOX = f"/users/{ALICE}/mailFolders/inbox/messages"


def mime(subject: str, stamp: str) -> bytes:
    return (
        f"X-PstImport-SourceKey: {stamp}\r\nFrom: Carol <carol@example.com>\r\nTo: Alice <{ALICE}>\r\n"
        f"Subject: {subject}\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\nX-Mailer: Test Mailer 1.0\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
    ).encode()


def header_filter(value: str, prop_id: str = HEADER_ID) -> dict[str, str]:
    return {"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop_id}' and ep/value eq '{value}')"}


def imported(graph, subject: str, stamp: str) -> dict:
    reply = graph.beta.post(
        IMPORT, content=base64.b64encode(mime(subject, stamp)), headers={"Content-Type": "text/plain"}
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_x_headers_become_internet_header_properties_found_by_filter(graph):
    """importMime promotes X- headers to PS_INTERNET_HEADERS properties: a $filter on the header stamp finds
    exactly that item, whatever the case of the header name, and $expand returns its value."""
    imported(graph, "one", "hh:1")
    imported(graph, "two", "hh:2")
    found = graph.app.get(INBOX, params=header_filter("hh:2")).json()["value"]
    assert [m["subject"] for m in found] == ["two"]
    mixed = HEADER_ID.replace("x-pstimport-sourcekey", "X-PstImport-SourceKey")
    assert [m["subject"] for m in graph.app.get(INBOX, params=header_filter("hh:1", mixed)).json()["value"]] == ["one"]
    mailer = f"String {{{PS_INTERNET_HEADERS}}} Name x-mailer"
    expanded = graph.app.get(
        f"/users/{ALICE}/messages/{found[0]['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{HEADER_ID}' or id eq '{mailer}')"},
    ).json()
    values = {p["id"].lower(): p["value"] for p in expanded["singleValueExtendedProperties"]}
    assert values == {HEADER_ID.lower(): "hh:2", mailer.lower(): "Test Mailer 1.0"}
    # the DESIGN stamp property is not there until a PATCH sets it
    assert graph.app.get(INBOX, params=stamp_filter("hh:2")).json()["value"] == []


def test_ews_sees_the_promoted_header(graph):
    """The same property is visible over EWS (DistinguishedPropertySetId InternetHeaders, any name case)."""
    imported(graph, "via graph", "hh:ews")
    envelope = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>
<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
<t:FieldURI FieldURI="item:Subject"/>
</t:AdditionalProperties></m:ItemShape>
<m:Restriction><t:IsEqualTo><t:ExtendedFieldURI DistinguishedPropertySetId="InternetHeaders"
 PropertyName="X-PstImport-SourceKey" PropertyType="String"/><t:FieldURIOrConstant><t:Constant Value="hh:ews"/>
</t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>
<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>
</s:Body></s:Envelope>"""
    reply = httpx.post(
        graph.sb.ews_url, content=envelope.encode(), auth=(ALICE, PASSWORD), headers={"Content-Type": "text/xml"}
    )
    assert reply.status_code == 200, reply.text
    assert "<t:Subject>via graph</t:Subject>" in reply.text


def test_patch_after_import_sets_stamp_state_class_and_properties(graph):
    """The PATCH after an import sets the stamp, read state, categories, flag, importance, class and other
    extended properties; PidTagMessageFlags stays ignored, and the item stays non-draft."""
    item = imported(graph, "patched", "hh:p")
    patch = {
        "isRead": True,
        "importance": "high",
        "categories": ["Red category"],
        "flag": {"flagStatus": "flagged"},
        "singleValueExtendedProperties": [
            {"id": STAMP_ID, "value": "hh:p"},
            {"id": "String 0x001A", "value": "IPM.Note.Custom"},
            {"id": "Integer 0x0E07", "value": "8"},
            {"id": "SystemTime 0x0E06", "value": "2015-03-03T10:00:00Z"},
        ],
    }
    reply = graph.app.patch(f"/users/{ALICE}/messages/{item['id']}", json=patch)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["isRead"] is True and body["isDraft"] is False and body["importance"] == "high"
    assert body["categories"] == ["Red category"] and body["flag"]["flagStatus"] == "flagged"
    assert body["receivedDateTime"].startswith("2015-03-03T10:00:00")
    stored = graph.sb.items(ALICE, "Inbox")[0]
    assert stored.item_class == "IPM.Note.Custom" and not stored.is_draft and stored.is_read
    assert [m["subject"] for m in graph.app.get(INBOX, params=stamp_filter("hh:p")).json()["value"]] == ["patched"]
    assert_error(graph.app.patch(f"/users/{ALICE}/messages/{item['id']}", json={"flagz": 1}), 400, "RequestBodyRead")


def test_fail_patch_knob_refuses_message_patches(graph):
    """With graph_fail_patch, a message PATCH answers 500 and changes nothing."""
    item = imported(graph, "unpatched", "hh:f")
    graph.sb.set_knobs(graph_fail_patch=True)
    reply = graph.app.patch(f"/users/{ALICE}/messages/{item['id']}", json={"isRead": True})
    assert_error(reply, 500, "InternalServerError")
    assert not graph.sb.items(ALICE, "Inbox")[0].is_read
