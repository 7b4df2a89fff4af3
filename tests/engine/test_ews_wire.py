"""The CreateItem and FindItem requests the EWS transport writes itself (core/transport/ews/wire.py):
schema-valid on the wire, and what they carry lands in the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import ALICE, PASSWORD, make_profile, run_profile, stamped_items

from core.sandbox.server.app import Sandbox
from tests.need import missing
from tests.sandbox.conftest import SERVER_SCHEMA, SchemaChecker

ODD = "aspose-net_passwordprotectedPST.pst"  # GB2312 names, RTF with a bad CRC, many named properties


@pytest.fixture
def checked_sandbox(tmp_path: Path):
    """A sandbox that refuses schema-invalid requests (as Exchange does) and a validator over every exchange."""
    if SERVER_SCHEMA is None:
        missing("shared", "../shared/ews-schema is missing")
    checker = SchemaChecker()
    with Sandbox(tmp_path / "sandbox", users={ALICE: PASSWORD}, schema_dir=SERVER_SCHEMA, on_exchange=checker) as sb:
        yield sb, checker
    assert not checker.failures, "invalid EWS on the wire:\n" + "\n".join(checker.failures)


def test_realistic_and_odd_psts_go_over_the_wire_schema_valid(checked_sandbox, corpus_dir, tmp_path):
    """Every kind of item (MIME mail, calendar, contact, task, list, note, journal) and a corpus PST with odd
    charsets import with every request and response valid against the EWS schema, each item once."""
    from core.sandbox.pstwriter.content import generate

    sb, checker = checked_sandbox
    realistic = tmp_path / "realistic.pst"
    generate(str(realistic), seed=5, mode="realistic")
    odd = tmp_path / ODD
    shutil.copy(corpus_dir / ODD, odd)
    result = run_profile(make_profile(tmp_path, sb, [realistic, odd], threads=2, batch=7))
    found = stamped_items(sb)
    assert result.failed == 0 and result.exit_code == 0
    assert all(len(v) == 1 for v in found.values())
    assert len(found) == result.imported > 0
    assert checker.checked > result.imported // 7
    assert not [e for e in sb.exchanges if e.outcome == "fault"], "the server refused a request"


def test_mime_item_carries_its_properties(checked_sandbox, tmp_path):
    """A MIME message created from raw bytes keeps read state, categories, importance, the stamp and the
    MAPI properties set in the same request; a stamp lookup finds it again."""
    from core.convert.payload import ExtendedProp, MimePayload
    from core.mapi import PidNamePstImportSourceKey, PidTagMessageFlags
    from core.sandbox.server.store import prop_key
    from core.transport.ews.transport import EwsSettings, EwsTransport

    sb, _checker = checked_sandbox
    mime = b"From: Ana <ana@example.com>\r\nSubject: caf\xc3\xa9 & <tags>\r\nMIME-Version: 1.0\r\n"
    mime += b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody \xe2\x9c\x93\r\n"
    payload = MimePayload(
        source_key="abcd:42",
        message_class="IPM.Note.Custom",
        subject="café & <tags>\x01",
        mime=mime,
        is_read=False,
        categories=["Red & Blue", "Ωmega"],
        importance="high",
        extended=[ExtendedProp(PidTagMessageFlags, 1)],
    )
    with EwsTransport(EwsSettings(mailbox=ALICE, ews_url=sb.ews_url, username=ALICE, secret=PASSWORD)) as t:
        t.connect()
        root = t.store_root()
        (outcome,) = t.create_items(root, [payload])
        assert outcome.ok, outcome.error
        assert t.find_stamps(root, ["abcd:42", "abcd:43"]) == {"abcd:42": [outcome.item_id]}
        assert t.find_stamps(root) == {"abcd:42": [outcome.item_id]}
    (item,) = sb.store.items(sb.folder(ALICE, ()).id)
    fields = {node[0]: node for node in item.fields}
    stamp = prop_key("String", property_set=PidNamePstImportSourceKey.guid, name=PidNamePstImportSourceKey.key)
    assert item.props[stamp] == "abcd:42"
    assert item.item_class == "IPM.Note.Custom"
    assert item.subject == "café & <tags>?"  # a character XML cannot carry is replaced, as exchangelib does
    assert not item.is_read
    assert json.dumps(fields["Categories"], ensure_ascii=False).count("Red & Blue") == 1
    assert fields["Importance"][2] == "High"
    assert sb.store.mime(item) == mime


def test_streamed_request_body_has_its_length_and_can_be_sent_again():
    """The request body written while sent declares the exact length it then yields, in chunks of bounded
    size, and yields the same bytes when iterated again (a resend after NTLM's challenge or a retry)."""
    import base64
    import os

    from core.transport.ews.wire import B64_SLICE, Base64Of, StreamedBody

    for size in (0, 1, 2, 3, B64_SLICE - 1, B64_SLICE, B64_SLICE + 1, 3 * B64_SLICE + 2):
        mime = os.urandom(size)
        body = StreamedBody([b"<head>", b"x" * 70_000, Base64Of(mime), b"<tail>"])
        first = list(body)
        whole = b"".join(first)
        assert len(body) == len(whole), size
        assert b"".join(body) == whole, size
        encoded = whole[len(b"<head>") + 70_000 : -len(b"<tail>")]
        assert base64.b64decode(encoded, validate=True) == mime, size
        assert max(map(len, first), default=0) <= max(70_006, 4 * B64_SLICE // 3), size
