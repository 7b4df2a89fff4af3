"""Graph attachments on the sandbox: small ones by POST, big ones by upload session with Graph's chunk rules."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx

from tests.sandbox.conftest import ALICE
from tests.sandbox.test_graph_basics import assert_error
from tests.sandbox.test_graph_messages import INBOX, message

CHUNK = 320 * 1024


def new_message(graph) -> str:
    return graph.app.post(INBOX, json=message("with attachments", flags=1)).json()["id"]


def file_attachment(name: str, data: bytes) -> dict:
    return {"@odata.type": "#microsoft.graph.fileAttachment", "name": name, "contentType": "application/pdf",
            "contentBytes": base64.b64encode(data).decode()}  # fmt: skip


def test_small_attachment_round_trip(graph):
    """An attachment under 3 MB is added by POST and comes back byte for byte; hasAttachments turns true."""
    mid = new_message(graph)
    data = os.urandom(100_000)
    reply = graph.app.post(f"/users/{ALICE}/messages/{mid}/attachments", json=file_attachment("a.pdf", data))
    assert reply.status_code == 201 and reply.json()["size"] == len(data) and "contentBytes" not in reply.json()
    listed = graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments").json()["value"]
    assert [a["name"] for a in listed] == ["a.pdf"] and base64.b64decode(listed[0]["contentBytes"]) == data
    one = graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments/{listed[0]['id']}").json()
    assert base64.b64decode(one["contentBytes"]) == data
    assert graph.app.get(f"/users/{ALICE}/messages/{mid}").json()["hasAttachments"] is True


def test_attachment_over_3_mb_needs_an_upload_session(graph):
    """POSTing an attachment over 3 MB is refused (413), inline in a create as well."""
    mid = new_message(graph)
    data = b"a" * (3 * 1024 * 1024 + 1)
    reply = graph.app.post(f"/users/{ALICE}/messages/{mid}/attachments", json=file_attachment("big.bin", data))
    assert_error(reply, 413, "RequestEntityTooLarge")
    assert graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments").json()["value"] == []


def test_inline_attachments_in_the_create_request(graph):
    """fileAttachment and itemAttachment in the create body are stored with the message."""
    inner = {"@odata.type": "#microsoft.graph.message", "subject": "embedded", "body": {"contentType": "text",
             "content": "inner"}}  # fmt: skip
    body = message("outer", flags=1)
    body["attachments"] = [
        file_attachment("x.txt", b"hello"),
        {"@odata.type": "#microsoft.graph.itemAttachment", "name": "embedded", "item": inner},
    ]
    created = graph.app.post(INBOX, json=body).json()
    assert created["hasAttachments"] is True
    listed = graph.app.get(f"/users/{ALICE}/messages/{created['id']}/attachments").json()["value"]
    assert [a["@odata.type"] for a in listed] == ["#microsoft.graph.fileAttachment", "#microsoft.graph.itemAttachment"]
    bad = message("bad", flags=1)
    bad["attachments"] = [{"@odata.type": "#microsoft.graph.itemAttachment", "name": "e", "item": {"subjekt": "x"}}]
    assert_error(graph.app.post(INBOX, json=bad), 400, "RequestBodyRead")


def session(graph, mid: str, size: int, name: str = "big.bin") -> str:
    spec = {"AttachmentItem": {"attachmentType": "file", "name": name, "size": size, "contentType": "application/zip"}}
    reply = graph.app.post(f"/users/{ALICE}/messages/{mid}/attachments/createUploadSession", json=spec)
    assert reply.status_code == 201, reply.text
    assert reply.json()["nextExpectedRanges"] == ["0-"]
    return reply.json()["uploadUrl"]


def put(url: str, data: bytes, first: int, total: int, **headers) -> httpx.Response:
    last = first + len(data) - 1
    return httpx.put(url, content=data, headers={"Content-Range": f"bytes {first}-{last}/{total}", **headers})


def test_upload_session_round_trip(graph):
    """Chunks of 320 KiB multiples then a short last one make the attachment, identical to what was sent."""
    mid = new_message(graph)
    data = os.urandom(3 * CHUNK * 4 + 12_345)  # > 3 MB
    url = session(graph, mid, len(data))
    offset = 0
    while offset < len(data):
        piece = data[offset : offset + 4 * CHUNK]
        reply = put(url, piece, offset, len(data))
        offset += len(piece)
        if offset < len(data):
            assert reply.status_code == 200 and reply.json()["nextExpectedRanges"] == [f"{offset}-"]
    assert reply.status_code == 201 and reply.headers["Location"]
    listed = graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments").json()["value"]
    got = base64.b64decode(listed[0]["contentBytes"])
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest() and listed[0]["name"] == "big.bin"


def test_upload_session_chunk_rules(graph):
    """Chunks that are not 320 KiB multiples, out of order, too big or sent with a token are refused."""
    mid = new_message(graph)
    total = 5 * 1024 * 1024
    data = os.urandom(total)
    url = session(graph, mid, total)
    assert_error(put(url, data[:100_000], 0, total), 400, "InvalidChunkSize")
    assert_error(put(url, data[CHUNK : 2 * CHUNK], CHUNK, total), 416, "InvalidRange")
    assert_error(put(url, data[: 13 * CHUNK], 0, total), 413, "RequestEntityTooLarge")  # over 4 MB
    token = graph.sb.mint_token(ALICE)
    assert_error(put(url, data[:CHUNK], 0, total, Authorization=f"Bearer {token}"), 401, "InvalidAuthenticationToken")
    forged = url.split("?")[0] + "?authtoken=wrong"
    assert_error(put(forged, data[:CHUNK], 0, total), 401, "InvalidAuthenticationToken")
    assert put(url, data[:CHUNK], 0, total).status_code == 200  # the session survived the refusals
    assert graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments").json()["value"] == []


def test_upload_session_limits(graph):
    """A session over 150 MB or without a size is refused when it is created."""
    mid = new_message(graph)
    spec = {"AttachmentItem": {"attachmentType": "file", "name": "huge", "size": 151 * 1024 * 1024}}
    reply = graph.app.post(f"/users/{ALICE}/messages/{mid}/attachments/createUploadSession", json=spec)
    assert_error(reply, 413, "ErrorMessageSizeExceeded")
    spec = {"AttachmentItem": {"attachmentType": "file", "name": "nosize"}}
    reply = graph.app.post(f"/users/{ALICE}/messages/{mid}/attachments/createUploadSession", json=spec)
    assert_error(reply, 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize")


def test_attachments_of_an_imported_mime_message(graph):
    """A message imported from MIME lists the attachments its MIME holds (as Exchange converts them);
    $value gives a file's bytes and an embedded message's MIME, whose own attachment is intact."""
    from tests.sandbox.test_server_reads import INNER_FILE, PDF, PNG, mime_with_everything

    path = f"/users/{ALICE}/mailFolders/inbox/importMime"
    reply = graph.beta.post(
        path, content=base64.b64encode(mime_with_everything()), headers={"Content-Type": "text/plain"}
    )
    assert reply.status_code == 201, reply.text
    mid = reply.json()["id"]
    assert reply.json()["hasAttachments"] is True
    listed = graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments").json()["value"]
    by_name = {a["name"]: a for a in listed}
    assert set(by_name) == {"pic.png", "report.pdf", "fwd.eml"}
    assert by_name["pic.png"]["isInline"] is True and by_name["pic.png"]["contentId"] == "pic1"
    assert base64.b64decode(by_name["report.pdf"]["contentBytes"]) == PDF
    assert by_name["fwd.eml"]["@odata.type"] == "#microsoft.graph.itemAttachment"
    raw = graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments/{by_name['pic.png']['id']}/$value")
    assert raw.status_code == 200 and raw.content == PNG
    inner = graph.app.get(f"/users/{ALICE}/messages/{mid}/attachments/{by_name['fwd.eml']['id']}/$value")
    assert inner.status_code == 200 and b"Subject: the embedded one" in inner.content
    import email

    parts = [p for p in email.message_from_bytes(inner.content).walk() if p.get_filename() == "deep.bin"]
    assert [hashlib.sha256(p.get_payload(decode=True)).hexdigest() for p in parts] == [
        hashlib.sha256(INNER_FILE).hexdigest()
    ]
