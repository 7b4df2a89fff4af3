"""DeleteItem as Exchange answers it: per-id ResponseMessages, the three DeleteTypes, refusals.

Through plain exchangelib (and raw SOAP where exchangelib cannot send the request in question);
every envelope is schema-checked by the `sandbox` fixture.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from exchangelib import UTC, CalendarItem, EWSDateTime, Message
from exchangelib.errors import ErrorAccessDenied, ErrorItemNotFound
from exchangelib.protocol import close_connections
from lxml import etree

from core.sandbox.server.ews import M_NS
from tests.sandbox.conftest import ALICE, BOB, BOB_PASSWORD
from tests.sandbox.test_server_faults import alice, post

ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>{}</s:Body></s:Envelope>'
)


@pytest.fixture(autouse=True)
def _close():
    yield
    close_connections()


def _mails(acc, n: int, folder=None) -> list[Message]:
    folder = folder or acc.inbox
    items = [Message(folder=folder, subject=f"m{i}", body="x") for i in range(n)]
    ids = acc.bulk_create(folder=folder, items=items)
    return [Message(id=i.id, changekey=i.changekey) for i in ids]


def _dumpster(sandbox) -> list[str]:
    """Subjects in alice's Recoverable Items/Deletions (outside the message root)."""
    folder = sandbox.store.distinguished(ALICE, "recoverableitemsdeletions")
    return sorted(it.subject for it in sandbox.store.items(folder.id))


def _codes(reply: bytes) -> list[str]:
    doc = etree.fromstring(reply)
    return [m.findtext(f"{{{M_NS}}}ResponseCode") for m in doc.iter(f"{{{M_NS}}}DeleteItemResponseMessage")]


def test_hard_delete_answers_per_id_and_removes_for_good(sandbox):
    """HardDelete of two items and an unknown id: True, True, ErrorItemNotFound; the items are gone
    from the folder, its count and the dumpster, and a second delete finds nothing."""
    acc = alice(sandbox)
    a, b, keep = _mails(acc, 3)
    gone = Message(id=a.id, changekey=a.changekey)
    first = acc.bulk_delete([a, b, Message(id=keep.id[:-4] + "AAA=")], delete_type="HardDelete")
    assert first[:2] == [True, True] and len(first) == 3 and isinstance(first[2], Exception)
    results = acc.bulk_delete([gone], delete_type="HardDelete")
    assert isinstance(results[0], ErrorItemNotFound)
    assert [m.subject for m in acc.inbox.all()] == ["m2"]
    assert acc.inbox.refresh().total_count == 1
    assert _dumpster(sandbox) == []
    assert [it.subject for it in sandbox.items(ALICE, "Inbox")] == ["m2"]
    assert keep.id in {m.id for m in acc.inbox.all()}


def test_soft_delete_and_move_to_deleted_items(sandbox):
    """SoftDelete moves to Recoverable Items/Deletions, MoveToDeletedItems to Deleted Items, and from
    Deleted Items itself to the dumpster; nothing is left in the Inbox."""
    acc = alice(sandbox)
    soft, moved = _mails(acc, 2)
    assert acc.bulk_delete([soft], delete_type="SoftDelete") == [True]
    assert acc.bulk_delete([moved], delete_type="MoveToDeletedItems") == [True]
    assert acc.inbox.all().count() == 0
    assert [it.subject for it in sandbox.items(ALICE, "Deleted Items")] == ["m1"]
    assert _dumpster(sandbox) == ["m0"]
    (again,) = list(acc.trash.all())
    assert acc.bulk_delete([again], delete_type="MoveToDeletedItems") == [True]
    assert acc.trash.all().count() == 0
    assert _dumpster(sandbox) == ["m0", "m1"]


def test_calendar_item_needs_send_meeting_cancellations(sandbox):
    """A calendar item deleted without SendMeetingCancellations: ErrorSendMeetingCancellationsRequired
    for it alone; the message in the same request is deleted."""
    acc = alice(sandbox)
    start = EWSDateTime(2026, 5, 4, 9, tzinfo=UTC)
    meet = CalendarItem(folder=acc.calendar, subject="meet", start=start, end=start + timedelta(hours=1))
    (cal,) = acc.bulk_create(folder=acc.calendar, items=[meet])
    (mail,) = _mails(acc, 1)
    ids = "".join(f'<t:ItemId Id="{i.id}"/>' for i in (cal, mail))
    body = ENVELOPE.format(f'<m:DeleteItem DeleteType="HardDelete"><m:ItemIds>{ids}</m:ItemIds></m:DeleteItem>')
    reply = post(sandbox, body.encode())
    assert reply.status_code == 200
    assert _codes(reply.content) == ["ErrorSendMeetingCancellationsRequired", "NoError"]
    assert acc.calendar.all().count() == 1 and acc.inbox.all().count() == 0
    # exchangelib always sends the attribute (SendToAllAndSaveCopy by default): that one goes.
    assert acc.bulk_delete([cal], delete_type="HardDelete", send_meeting_cancellations="SendToNone") == [True]
    assert acc.calendar.all().count() == 0


def test_delete_type_is_required(sandbox, schema_checker):
    """No DeleteType (a required attribute), or one outside DisposalType: the whole request is refused
    with ErrorSchemaValidation, and nothing is deleted."""
    acc = alice(sandbox)
    (mail,) = _mails(acc, 1)
    body = ENVELOPE.format(f'<m:DeleteItem><m:ItemIds><t:ItemId Id="{mail.id}"/></m:ItemIds></m:DeleteItem>')
    reply = post(sandbox, body.encode())
    assert reply.status_code == 500
    assert b"ErrorSchemaValidation" in reply.content
    assert acc.inbox.all().count() == 1
    wrong = body.replace("<m:DeleteItem>", '<m:DeleteItem DeleteType="Shred">')
    assert b"ErrorSchemaValidation" in post(sandbox, wrong.encode()).content
    assert acc.inbox.all().count() == 1
    # Both requests are invalid on purpose: the schema check saw that too (when the schema is here).
    bad = [f for f in schema_checker.failures if f.startswith("request:") and "DeleteType" in f]
    assert len(bad) == (2 if schema_checker.validator is not None else 0)
    schema_checker.failures = [f for f in schema_checker.failures if f not in bad]


def test_another_mailbox_item_is_refused(sandbox):
    """Bob cannot delete Alice's item (ErrorAccessDenied for it); it stays."""
    from exchangelib import DELEGATE, Account, Configuration, Credentials, FailFast

    acc = alice(sandbox)
    (mail,) = _mails(acc, 1)
    config = Configuration(
        service_endpoint=sandbox.ews_url, credentials=Credentials(BOB, BOB_PASSWORD), retry_policy=FailFast()
    )
    bob = Account(BOB, config=config, autodiscover=False, access_type=DELEGATE)
    with pytest.raises(ErrorAccessDenied):
        bob.bulk_delete([mail], delete_type="HardDelete")
    assert acc.inbox.all().count() == 1
