"""Mail over beta importMime against the sandbox: full MIME kept, state PATCHed on, the fallback to JSON, and
exactly once across a crash between the import and its PATCH."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

from core.convert.payload import ExtendedProp, MimePayload
from core.mapi import (
    MSGFLAG_READ,
    PidNamePstImportSourceKey,
    PidNamePstImportSourceKeyHeader,
    PidTagFlagStatus,
    PidTagMessageClass,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    followupFlagged,
)
from core.sandbox.server.store import prop_key
from core.transport.graph import wire
from tests.transport_graph.conftest import ALICE

STORE_KEY = "99887766554433221100ffeeddccbbaa"
STAMP_KEY = prop_key("String", property_set=PidNamePstImportSourceKey.guid, name=PidNamePstImportSourceKey.key)
HEADER_KEY = prop_key(
    "String", property_set=PidNamePstImportSourceKeyHeader.guid, name=PidNamePstImportSourceKeyHeader.key
)


def rich_mime(subject: str) -> bytes:
    """multipart/mixed: multipart/alternative (text + html), a file, and an embedded message/rfc822."""
    inner = EmailMessage()
    inner["Subject"] = f"inner of {subject}"
    inner["From"] = "dave@example.com"
    inner.set_content("the embedded message")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "Carol Example <carol@example.com>"
    msg["To"] = "Alice <alice@sandbox.test>"
    msg["Date"] = "Tue, 03 Mar 2015 10:00:00 +0000"
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@example.com>"
    msg.set_content("plain body")
    msg.add_alternative("<p>html body</p>", subtype="html")
    msg.add_attachment(b"\x00\x01binary" * 100, maintype="application", subtype="octet-stream", filename="a.bin")
    msg.add_attachment(inner)
    return msg.as_bytes(policy=email.policy.SMTP)


def payload(n: int, read: bool = True, flagged: bool = False, cls: str = "IPM.Note") -> MimePayload:
    when = datetime(2015, 3, 3, 10, 0, tzinfo=UTC)
    extended = [
        ExtendedProp(PidTagMessageFlags, MSGFLAG_READ if read else 0),
        ExtendedProp(PidTagMessageDeliveryTime, when),
    ]
    if flagged:
        extended.append(ExtendedProp(PidTagFlagStatus, followupFlagged))
    if cls != "IPM.Note":
        extended.append(ExtendedProp(PidTagMessageClass, cls))
    extended.append(ExtendedProp(PidNamePstImportSourceKey, f"{STORE_KEY}:{2097152 + n * 32}"))
    return MimePayload(
        source_key=f"{STORE_KEY}:{2097152 + n * 32}",
        message_class=cls,
        subject=f"rich {n}",
        mime=rich_mime(f"rich {n}"),
        is_read=read,
        categories=["Green category"],
        importance="high",
        extended=extended,
        size=5000,
    )


def ops(sb, since: int = 0) -> list[str]:
    return [e.operation for e in sb.exchanges[since:] if e.protocol == "graph"]


def test_import_mime_keeps_the_full_mime_and_patches_state(connect, graph_sandbox):
    """Messages go by importMime: non-draft, the MIME kept whole (alternative bodies, the file and the embedded
    message/rfc822 part, which JSON turns into an .eml file), with read state, flag, categories, importance,
    class, delivery time and both stamps set; their PATCHes share one $batch."""
    t = connect()
    folder = t.ensure_folder(t.store_root(), "Imported", "IPF.Note")
    payloads = [payload(0, read=True, flagged=True), payload(1, read=False), payload(2, cls="IPM.Note.Custom")]
    before, http_before = len(graph_sandbox.exchanges), t.client.pacer.stats.requests
    outcomes = t.create_items(folder, payloads)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    seen = ops(graph_sandbox, before)
    assert seen.count("POST import_mime") == 3 and "POST create_item" not in seen, seen
    assert seen.count("PATCH update_item") == 3, seen
    assert t.client.pacer.stats.requests - http_before == 4  # three imports, one $batch of PATCHes
    items = {it.props[STAMP_KEY]: it for it in graph_sandbox.items(ALICE, ["Imported"])}
    assert set(items) == {p.source_key for p in payloads}
    for p in payloads:
        it = items[p.source_key]
        assert not it.is_draft and it.is_read == p.is_read
        assert it.props[HEADER_KEY] == p.source_key
        assert it.item_class == p.message_class
        stored = email.message_from_bytes(graph_sandbox.store.mime(it), policy=email.policy.default)
        types = [part.get_content_type() for part in stored.walk()]
        assert "multipart/alternative" in types and "message/rfc822" in types, types
        assert stored.get_all("X-PstImport-SourceKey") == [p.source_key]
        assert "a.bin" in [part.get_filename() for part in stored.walk()]
        got = t.client.get(f"users/{ALICE}/messages/{outcomes[payloads.index(p)].item_id}")
        assert got["categories"] == ["Green category"] and got["importance"] == "high"
        assert got["receivedDateTime"].startswith("2015-03-03T10:00:00")
        assert (got.get("flag") or {}).get("flagStatus", "notFlagged") == (
            "flagged" if p is payloads[0] else "notFlagged"
        )
    assert t.find_stamps(folder, [p.source_key for p in payloads]).keys() == {p.source_key for p in payloads}
    # the JSON route, for contrast: the embedded message becomes an .eml file attachment
    j = connect(import_mime="never")
    other = j.ensure_folder(j.store_root(), "AsJson", "IPF.Note")
    made = j.create_items(other, [payload(9)])
    atts = j.client.get(f"users/{ALICE}/messages/{made[0].item_id}/attachments")["value"]
    assert any(a["name"].endswith(".eml") for a in atts), [a["name"] for a in atts]


def test_no_import_mime_falls_back_to_json_once(connect, graph_sandbox, caplog):
    """A tenant without importMime (403) is probed once: that item and all later ones are JSON messages,
    non-draft and stamped, and the fallback is logged once."""
    graph_sandbox.set_knobs(graph_import_mime=False)
    t = connect()
    folder = t.ensure_folder(t.store_root(), "Fallback", "IPF.Note")
    before = len(graph_sandbox.exchanges)
    with caplog.at_level("WARNING", logger="core.transport.graph.transport"):
        first = t.create_items(folder, [payload(10), payload(11)])
        second = t.create_items(folder, [payload(12)])
    assert all(o.ok for o in first + second)
    seen = ops(graph_sandbox, before)
    assert seen.count("POST import_mime") == 1, seen
    assert sum("importMime is not available" in r.getMessage() for r in caplog.records) == 1
    items = graph_sandbox.items(ALICE, ["Fallback"])
    assert len(items) == 3 and not any(it.is_draft for it in items)
    assert all(it.props.get(STAMP_KEY) and HEADER_KEY not in it.props for it in items)


def test_big_mime_goes_as_json(connect, graph_sandbox):
    """A message whose base64 MIME would not fit one request goes as JSON plus an upload session."""
    t = connect()
    folder = t.ensure_folder(t.store_root(), "Big", "IPF.Note")
    big = payload(20)
    msg = email.message_from_bytes(big.mime, policy=email.policy.default)
    msg.add_attachment(bytes(range(256)) * 16384, maintype="application", subtype="octet-stream", filename="4m")
    big.mime = msg.as_bytes(policy=email.policy.SMTP)
    assert (len(big.mime) + 2) // 3 * 4 > wire.IMPORT_MIME_MAX_BODY
    before = len(graph_sandbox.exchanges)
    assert t.create_items(folder, [big])[0].ok
    seen = ops(graph_sandbox, before)
    assert "POST import_mime" not in seen and "POST create_upload_session" in seen, seen


def test_crash_between_import_and_patch_leaves_one_stamped_copy(connect, graph_sandbox):
    """Imports whose PATCH fails still count as created (never sent again): a later run finds them by their
    header stamp, by name or by listing, and completes the stamp property; one copy each."""
    t = connect()
    folder = t.ensure_folder(t.store_root(), "Crash", "IPF.Note")
    graph_sandbox.set_knobs(graph_fail_patch=True)
    payloads = [payload(30), payload(31), payload(32)]
    outcomes = t.create_items(folder, payloads)
    assert all(o.ok for o in outcomes)
    assert all(any("X-PstImport-SourceKey" in x for x in p.problems) for p in payloads)
    items = graph_sandbox.items(ALICE, ["Crash"])
    assert len(items) == 3 and not any(STAMP_KEY in it.props for it in items)
    graph_sandbox.set_knobs(graph_fail_patch=False)
    # the next run (a new transport: nothing remembered) looks two up by stamp and lists the folder
    again = connect()
    found = again.find_stamps(folder, [payloads[0].source_key, payloads[1].source_key, f"{STORE_KEY}:1"])
    assert set(found) == {payloads[0].source_key, payloads[1].source_key}
    listed = again.find_stamps(folder)
    assert set(listed) == {p.source_key for p in payloads}
    items = graph_sandbox.items(ALICE, ["Crash"])
    assert len(items) == 3
    assert sorted(it.props.get(STAMP_KEY) for it in items) == sorted(p.source_key for p in payloads)
    # now found by the stamp property alone, without a header lookup
    before = len(graph_sandbox.exchanges)
    assert set(again.find_stamps(folder, [p.source_key for p in payloads])) == {p.source_key for p in payloads}
    assert ops(graph_sandbox, before).count("GET list_items") == 3


def test_lost_import_answer_is_completed_in_the_same_run(connect, graph_sandbox):
    """An import whose answer is lost is found by its header stamp and gets its whole PATCH (read state too),
    not only the stamp, because this transport still knows the payload."""
    t = connect()
    folder = t.ensure_folder(t.store_root(), "Lost", "IPF.Note")
    p = payload(40, read=True)
    # what create_items remembers before the import; then the import lands but its answer never comes
    from core.transport.graph import mail

    t._pending_patch[p.source_key] = mail.import_patch(p)
    t.client.send(
        "POST",
        f"users/{ALICE}/mailFolders/{folder.id}/importMime",
        content=mail.mime_for_import(p),
        headers={"Content-Type": "text/plain"},
        version="beta",
    )
    assert not graph_sandbox.items(ALICE, ["Lost"])[0].is_read
    found = t.find_stamps(folder, [p.source_key])
    assert list(found) == [p.source_key]
    it = graph_sandbox.items(ALICE, ["Lost"])[0]
    assert it.is_read and it.props.get(STAMP_KEY) == p.source_key
    assert p.source_key not in t._pending_patch
