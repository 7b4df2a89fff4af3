"""Realism knobs and strictness: throttling, concurrency, 503, drops, size limits, refusals.

All through real HTTP on 127.0.0.1; every envelope is schema-checked by the `sandbox` fixture.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from exchangelib import DELEGATE, Account, Configuration, Credentials, FailFast, FaultTolerance, Folder, Message
from exchangelib.errors import (
    ErrorFolderExists,
    ErrorInvalidOperation,
    ErrorMessageSizeExceeded,
    ErrorNameResolutionNoResults,
    ErrorServerBusy,
)
from exchangelib.protocol import close_connections
from lxml import etree

from core.sandbox.server.knobs import Knobs, KnobState
from tests.sandbox.conftest import (
    ALICE,
    BOB,
    BOB_PASSWORD,
    PASSWORD,
    SAMPLES_DIR,
    SERVICE,
    SERVICE_PASSWORD,
    SchemaChecker,
    need_shared,
)

SHARED_REQUESTS = SAMPLES_DIR / "exchangelib-requests"
GET_INBOX = (
    b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    b'<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:GetFolder><m:FolderShape>'
    b'<t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
    b"</m:FolderIds></m:GetFolder></s:Body></s:Envelope>"
)


@pytest.fixture(autouse=True)
def _close():
    yield
    close_connections()


def alice(sandbox, policy=None) -> Account:
    config = Configuration(
        service_endpoint=sandbox.ews_url, credentials=Credentials(ALICE, PASSWORD), retry_policy=policy or FailFast()
    )
    return Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)


def post(sandbox, body: bytes = GET_INBOX) -> requests.Response:
    return requests.post(
        sandbox.ews_url,
        data=body,
        auth=(ALICE, PASSWORD),
        timeout=10,
        headers={"Content-Type": "text/xml; charset=utf-8"},
    )


def fault_code(body: bytes) -> str:
    return etree.fromstring(body).findtext(".//faultcode")


def test_exchangelib_backs_off_on_server_busy(sandbox):
    """ErrorServerBusy with BackOffMilliseconds: exchangelib waits at least that long before each retry."""
    acc = alice(sandbox, FaultTolerance(max_wait=30))
    acc.inbox  # noqa: B018 - set up the account (version probe, folders) before the faults start
    sandbox.set_knobs(busy_next=2, back_off_ms=400)
    before = len(sandbox.exchanges)
    acc.inbox.refresh()
    seen = sandbox.exchanges[before:]
    assert [e.outcome for e in seen] == ["busy", "busy", "ok"]
    gaps = [b.time - a.time for a, b in zip(seen, seen[1:], strict=False)]
    assert all(gap >= 0.4 for gap in gaps), gaps


def test_server_busy_fault_shape(sandbox):
    """The busy fault is Exchange's: HTTP 500, faultcode a:ErrorServerBusy, BackOffMilliseconds detail."""
    sandbox.set_knobs(busy_next=1, back_off_ms=1234)
    reply = post(sandbox)
    assert reply.status_code == 500
    doc = etree.fromstring(reply.content)
    assert fault_code(reply.content) == "a:ErrorServerBusy"
    value = doc.find(".//{http://schemas.microsoft.com/exchange/services/2006/types}Value")
    assert value.get("Name") == "BackOffMilliseconds" and value.text == "1234"
    acc = alice(sandbox)
    inbox = acc.inbox
    sandbox.set_knobs(busy_next=1)
    with pytest.raises(ErrorServerBusy) as err:
        inbox.refresh()
    assert err.value.back_off == pytest.approx(1.234)


def concurrent(sandbox, bodies: list[tuple[bytes, tuple[str, str]]]) -> list[requests.Response]:
    """Send the requests at (almost) the same time; answers in sending order."""
    replies: list[requests.Response | None] = [None] * len(bodies)

    def send(i: int) -> None:
        body, auth = bodies[i]
        replies[i] = requests.post(sandbox.ews_url, data=body, auth=auth, timeout=10)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    return replies  # type: ignore[return-value]


def test_concurrency_limit_refuses_the_surplus(sandbox):
    """Above max_concurrency a caller's extra request is refused as Exchange Online refuses it."""
    sandbox.set_knobs(max_concurrency=1, latency_ms=1500, concurrency_error="ErrorExceededConnectionCount")
    replies = concurrent(sandbox, [(GET_INBOX, (ALICE, PASSWORD))] * 3 + [(GET_INBOX, (BOB, BOB_PASSWORD))])
    assert [r.status_code for r in replies] == [200, 500, 500, 200]  # bob has his own budget
    refused = etree.fromstring(replies[1].content)
    assert fault_code(replies[1].content) == "a:ErrorExceededConnectionCount"
    values = {
        v.get("Name"): v.text for v in refused.iter("{http://schemas.microsoft.com/exchange/services/2006/types}Value")
    }
    assert values["Policy"] == "MaxConcurrency" and values["MaxConcurrencyLimit"] == "1"
    assert sum(e.outcome == "refused" for e in sandbox.exchanges) == 2
    sandbox.set_knobs(max_concurrency=0, latency_ms=0)
    assert post(sandbox).status_code == 200


def test_concurrency_is_charged_to_the_impersonated_mailbox(sandbox):
    """With impersonation the budget is the mailbox's: two mailboxes at once pass, two calls on one do not."""
    sandbox.set_knobs(max_concurrency=1, latency_ms=1500)

    def as_service(mailbox: str) -> tuple[bytes, tuple[str, str]]:
        header = (
            "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>"
            f"{mailbox}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header>"
        )
        return GET_INBOX.replace(b"</s:Header>", header.encode()), (SERVICE, SERVICE_PASSWORD)

    replies = concurrent(sandbox, [as_service(ALICE), as_service(BOB), as_service(ALICE)])
    assert [r.status_code for r in replies] == [200, 200, 500]


def test_concurrency_refusal_can_be_server_busy(sandbox):
    """concurrency_error=ErrorServerBusy answers the surplus with ErrorServerBusy and BackOffMilliseconds."""
    sandbox.set_knobs(max_concurrency=1, latency_ms=1500, concurrency_error="ErrorServerBusy", back_off_ms=100)
    replies = concurrent(sandbox, [(GET_INBOX, (ALICE, PASSWORD))] * 2)
    assert [r.status_code for r in replies] == [200, 500]
    assert fault_code(replies[1].content) == "a:ErrorServerBusy"


def test_http_503_and_dropped_connections(sandbox):
    """error_rate gives HTTP 503 with Retry-After; drop_rate closes the connection without an answer."""
    sandbox.set_knobs(error_rate=1.0, back_off_ms=2500)
    reply = post(sandbox)
    assert reply.status_code == 503 and reply.headers["Retry-After"] == "3"
    sandbox.set_knobs(error_rate=0.0, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        post(sandbox)
    sandbox.set_knobs(drop_rate=0.0)
    assert post(sandbox).status_code == 200


def test_latency(sandbox):
    """latency_ms delays every EWS answer."""
    sandbox.set_knobs(latency_ms=300)
    start = time.monotonic()
    post(sandbox)
    assert time.monotonic() - start >= 0.3


def test_faults_are_deterministic_by_seed():
    """The same seed gives the same sequence of faults."""

    def run(seed: int) -> list[str | None]:
        state = KnobState(Knobs(busy_rate=0.3, drop_rate=0.1, error_rate=0.1, seed=seed))
        return [state.draw() for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert {"busy", "drop", "error", None} == set(run(7))


def test_request_size_limit(sandbox):
    """A request bigger than max_request_bytes gets HTTP 413."""
    sandbox.set_knobs(max_request_bytes=2000)
    assert post(sandbox, GET_INBOX + b" " * 3000).status_code == 413
    assert post(sandbox).status_code == 200


def test_item_size_limit(sandbox):
    """An item over max_item_bytes gets ErrorMessageSizeExceeded; the rest of the batch is created."""
    acc = alice(sandbox)
    sandbox.set_knobs(max_item_bytes=4000)
    small = b"Subject: small\r\n\r\nhi\r\n"
    big = b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n"
    results = acc.bulk_create(
        folder=acc.inbox,
        items=[Message(folder=acc.inbox, mime_content=small), Message(folder=acc.inbox, mime_content=big)],
    )
    assert not isinstance(results[0], Exception)
    assert isinstance(results[1], ErrorMessageSizeExceeded)
    assert [it.subject for it in sandbox.items(ALICE, "Inbox")] == ["small"]


def test_unsupported_operation(sandbox):
    """An operation the sandbox does not serve (UploadItems) gets an ErrorInvalidOperation fault, once."""
    acc = alice(sandbox)
    acc.inbox  # noqa: B018
    before = len(sandbox.exchanges)
    with pytest.raises(ErrorInvalidOperation):
        acc.upload([(acc.inbox, (None, False, "b3BhcXVl"))])
    assert [e.operation for e in sandbox.exchanges[before:]] == ["UploadItems"]


def test_message_disposition_required(sandbox):
    """CreateItem of a Message without MessageDisposition: ErrorMessageDispositionRequired."""
    need_shared(SHARED_REQUESTS)
    body = (SHARED_REQUESTS / "08-CreateItem.xml").read_bytes()
    body = body.replace(b' MessageDisposition="SaveOnly"', b"")
    body = body.replace(
        b'<m:SavedItemFolderId><t:FolderId Id="QUFNay0yMTE4YTkwYS1mMmJiLTQ3NmYtYTRmNy1hNWJkZDQ5MWVmOGM='
        b'" ChangeKey="AQAAAA=="/></m:SavedItemFolderId>',
        b"",
    )
    reply = post(sandbox, body)
    assert reply.status_code == 200
    assert b"<m:ResponseCode>ErrorMessageDispositionRequired</m:ResponseCode>" in reply.content


def test_error_responses_validate(sandbox, schema_checker: SchemaChecker):
    """Error answers (folder exists, no name match, bad ids, ConvertId) are schema-valid and parsed."""
    need_shared(SHARED_REQUESTS)
    acc = alice(sandbox)
    Folder(parent=acc.inbox, name="Dup").save()
    with pytest.raises(ErrorFolderExists):
        Folder(parent=acc.inbox, name="dup").save()
    (none,) = acc.protocol.resolve_names(["nobody-here"])
    assert isinstance(none, ErrorNameResolutionNoResults)
    sandbox.store.add_user("alicia@sandbox.test", "pw", display_name="Alicia Keys")
    found = acc.protocol.resolve_names(["ali"])  # ErrorNameResolutionMultipleResults: a Warning with both
    assert sorted(m.email_address for m in found) == [ALICE, "alicia@sandbox.test"]
    for name in ("01-ConvertId.xml", "05-GetFolder.xml", "06-FindFolder.xml", "11-FindItem.xml", "10-ResolveNames.xml"):
        body = (SHARED_REQUESTS / name).read_bytes().replace(b"testuser@example.com", ALICE.encode())
        reply = post(sandbox, body)
        assert reply.status_code == 200, (name, reply.content[:300])
    assert schema_checker.validator is None or schema_checker.checked > 20
    assert not schema_checker.failures


def test_shared_sample_requests_are_answered(sandbox):
    """exchangelib's captured GetFolder of 31 distinguished folders gets 31 answers, in order."""
    need_shared(SHARED_REQUESTS)
    body = (SHARED_REQUESTS / "05-GetFolder.xml").read_bytes().replace(b"testuser@example.com", ALICE.encode())
    reply = post(sandbox, body)
    doc = etree.fromstring(reply.content)
    m = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
    asked = etree.fromstring(body).findall(
        ".//{http://schemas.microsoft.com/exchange/services/2006/types}DistinguishedFolderId"
    )
    answers = doc.findall(f".//{m}GetFolderResponseMessage")
    assert len(answers) == len(asked) == 31
    codes = [a.findtext(f"{m}ResponseCode") for a in answers]
    assert set(codes) <= {"NoError", "ErrorFolderNotFound"}
    assert codes[[a.get("Id") for a in asked].index("inbox")] == "NoError"


@pytest.mark.parametrize(
    "path", sorted(Path(SHARED_REQUESTS).glob("*.xml")) if SHARED_REQUESTS.is_dir() else [], ids=lambda p: p.name
)
def test_every_captured_request_gets_a_valid_answer(sandbox, path: Path):
    """Each request exchangelib was seen to send gets a schema-valid answer (the fixture checks it)."""
    if path.name.startswith("autodiscover"):
        url = sandbox.autodiscover_url
    else:
        url = sandbox.ews_url
    body = path.read_bytes().replace(b"testuser@example.com", ALICE.encode())
    body = body.replace(b"victim@example.com", ALICE.encode())
    reply = requests.post(url, data=body, auth=(ALICE, PASSWORD), timeout=10)
    assert reply.status_code in (200, 500), reply.status_code
    assert reply.content.startswith(b"<?xml")


def test_big_item_within_limits(sandbox):
    """A 12 MB message (one text node over libxml2's 10 MB default) is accepted and stored byte for byte."""
    acc = alice(sandbox)
    body = b"Subject: big one\r\nContent-Type: application/octet-stream\r\n\r\n" + b"A" * (12 * 1024 * 1024)
    (res,) = acc.bulk_create(folder=acc.inbox, items=[Message(folder=acc.inbox, mime_content=body)])
    assert not isinstance(res, Exception), res
    (item,) = sandbox.items(ALICE, "Inbox")
    assert sandbox.store.mime(item) == body


def test_faults_switched_on_mid_import(sandbox):
    """Busy faults switched on halfway through an import: exchangelib retries, every item lands exactly once."""
    acc = alice(sandbox, FaultTolerance(max_wait=60))
    inbox = acc.inbox
    first = acc.bulk_create(
        folder=inbox,
        items=[Message(folder=inbox, mime_content=f"Subject: a{i}\r\n\r\n.".encode()) for i in range(10)],
        chunk_size=5,
    )
    sandbox.set_knobs(busy_rate=0.4, back_off_ms=30, seed=3)
    second = acc.bulk_create(
        folder=inbox,
        items=[Message(folder=inbox, mime_content=f"Subject: b{i}\r\n\r\n.".encode()) for i in range(20)],
        chunk_size=5,
    )
    sandbox.set_knobs(busy_rate=0.0)
    assert not [r for r in first + second if isinstance(r, Exception)]
    assert sum(e.outcome == "busy" for e in sandbox.exchanges) >= 1
    subjects = sorted(it.subject for it in sandbox.items(ALICE, "Inbox"))
    assert subjects == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(20)])


def test_item_errors_fail_single_items(sandbox):
    """item_error_rate fails single items of a batch (ErrorItemSave); the others are created."""
    acc = alice(sandbox)
    sandbox.set_knobs(item_error_rate=0.5, seed=11)
    results = acc.bulk_create(
        folder=acc.inbox,
        items=[Message(folder=acc.inbox, mime_content=f"Subject: i{i}\r\n\r\n.".encode()) for i in range(20)],
    )
    failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert 0 < len(failed) < 20
    assert all(type(results[i]).__name__ == "ErrorItemSave" for i in failed)
    stored = {it.subject for it in sandbox.items(ALICE, "Inbox")}
    assert stored == {f"i{i}" for i in range(20) if i not in failed}
