"""The Graph front end's realism knobs: 429 with Retry-After, 503, latency, the per-mailbox concurrency limit and
the upload budget."""

from __future__ import annotations

import threading
import time

import httpx

from core.sandbox.server.knobs import EXCHANGE_ONLINE_GRAPH
from tests.sandbox.conftest import ALICE, BOB
from tests.sandbox.test_graph_basics import assert_error
from tests.sandbox.test_graph_messages import INBOX, message


def test_busy_gives_429_with_retry_after(graph):
    """busy_next makes the next requests 429 with Retry-After in whole seconds; then service resumes."""
    graph.sb.set_knobs(busy_next=1, back_off_ms=1500)
    reply = graph.app.get(f"/users/{ALICE}/mailFolders/inbox")
    assert_error(reply, 429, "TooManyRequests")
    assert reply.headers["Retry-After"] == "2"
    assert graph.app.get(f"/users/{ALICE}/mailFolders/inbox").status_code == 200
    assert [e.outcome for e in graph.sb.exchanges[-2:]] == ["busy", "ok"]


def test_error_rate_gives_503_with_retry_after(graph):
    """error_rate=1 answers 503 with Retry-After and stores nothing."""
    graph.sb.set_knobs(error_rate=1.0)
    reply = graph.app.post(INBOX, json=message("x", flags=1))
    assert_error(reply, 503, "ServiceUnavailable")
    assert int(reply.headers["Retry-After"]) >= 1
    graph.sb.set_knobs(error_rate=0.0)
    assert graph.sb.items(ALICE, "Inbox") == []


def test_drop_closes_the_connection(graph):
    """drop_rate=1 closes the connection without an answer."""
    graph.sb.set_knobs(drop_rate=1.0)
    try:
        graph.app.get(f"/users/{ALICE}/mailFolders/inbox")
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the request was answered")
    assert graph.sb.exchanges[-1].outcome == "drop"


def test_latency_is_added(graph):
    """latency_ms delays every answer by at least that long."""
    graph.sb.set_knobs(latency_ms=300)
    start = time.monotonic()
    graph.app.get(f"/users/{ALICE}/mailFolders/inbox")
    assert time.monotonic() - start >= 0.3


def test_concurrency_limit_per_mailbox(graph):
    """With 4 concurrent requests allowed per app and mailbox, a 5th and 6th in flight get 429 MailboxConcurrency;
    requests to another mailbox are not affected."""
    graph.sb.set_knobs(**EXCHANGE_ONLINE_GRAPH)
    graph.sb.set_knobs(latency_ms=1500)  # long enough that all seven are in flight together on a loaded machine
    results: list[httpx.Response] = []
    lock = threading.Lock()
    token = graph.sb.mint_token("6a1c3f0e-0000-4000-8000-00000000a77e", kind="app")

    def one(address: str) -> None:
        with httpx.Client(base_url=graph.sb.graph_url, headers={"Authorization": f"Bearer {token}"}) as client:
            reply = client.get(f"/users/{address}/mailFolders/inbox")
        with lock:
            results.append((address, reply))

    threads = [threading.Thread(target=one, args=(ALICE,)) for _ in range(6)]
    threads.append(threading.Thread(target=one, args=(BOB,)))
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    alice = sorted(r.status_code for a, r in results if a == ALICE)
    assert alice == [200, 200, 200, 200, 429, 429]
    refused = next(r for a, r in results if r.status_code == 429)
    assert refused.json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in refused.json()["error"]["message"] and refused.headers["Retry-After"]
    assert [r.status_code for a, r in results if a == BOB] == [200]
    assert sum(e.outcome == "refused" for e in graph.sb.exchanges) == 2


def test_upload_budget(graph):
    """Over the upload budget a create gets 429 with a Retry-After that, once waited, lets it through."""
    graph.sb.set_knobs(upload_budget_bytes=1_000_000, upload_window_s=2)
    body = message("fill", flags=1, body={"contentType": "text", "content": "x" * 450_000})
    assert graph.app.post(INBOX, json=body).status_code == 201
    assert graph.app.post(INBOX, json=body).status_code == 201
    refused = graph.app.post(INBOX, json=body)
    assert_error(refused, 429, "ApplicationThrottled")
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 2
    # another mailbox has its own budget
    assert graph.app.post(f"/users/{BOB}/mailFolders/inbox/messages", json=body).status_code == 201
    time.sleep(wait + 0.1)
    assert graph.app.post(INBOX, json=body).status_code == 201
    assert len(graph.sb.items(ALICE, "Inbox")) == 3
    assert [e.outcome for e in graph.sb.exchanges if e.outcome == "budget"] == ["budget"]


def test_upload_budget_counts_chunks(graph):
    """Upload-session chunks are charged to the mailbox's budget like any upload."""
    graph.sb.set_knobs(upload_budget_bytes=700_000, upload_window_s=5)
    mid = graph.app.post(INBOX, json=message("att", flags=1)).json()["id"]
    spec = {"AttachmentItem": {"attachmentType": "file", "name": "z.bin", "size": 3 * 327_680}}
    url = graph.app.post(f"/users/{ALICE}/messages/{mid}/attachments/createUploadSession", json=spec).json()[
        "uploadUrl"
    ]
    data = b"z" * 327_680
    ok = httpx.put(url, content=data, headers={"Content-Range": f"bytes 0-327679/{3 * 327_680}"})
    assert ok.status_code == 200
    ok = httpx.put(url, content=data, headers={"Content-Range": f"bytes 327680-655359/{3 * 327_680}"})
    assert ok.status_code == 200
    refused = httpx.put(url, content=data, headers={"Content-Range": f"bytes 655360-983039/{3 * 327_680}"})
    assert_error(refused, 429, "ApplicationThrottled")
    assert int(refused.headers["Retry-After"]) >= 1


def test_exchange_online_defaults_are_off(graph):
    """Without knobs, there is no concurrency limit or budget (tests that need them switch them on)."""
    knobs = graph.sb.knobs
    assert knobs.graph_max_concurrency == 0 and knobs.upload_budget_bytes == 0 and knobs.graph_request_budget == 0
    assert EXCHANGE_ONLINE_GRAPH == {
        "graph_max_concurrency": 4,
        "upload_budget_bytes": 150 * 1024 * 1024,
        "upload_window_s": 300.0,
        "graph_request_budget": 10_000,
        "graph_request_window_s": 600.0,
    }


def test_request_budget_per_app_and_mailbox(graph):
    """Over the request budget a request gets 429 with a Retry-After that, once waited, lets it through;
    a refused request counts too; another mailbox and another app have budgets of their own."""
    graph.sb.set_knobs(graph_request_budget=3, graph_request_window_s=2)
    inbox = f"/users/{ALICE}/mailFolders/inbox"
    assert [graph.app.get(inbox).status_code for _ in range(3)] == [200, 200, 200]
    refused = graph.app.get(inbox)
    assert_error(refused, 429, "ApplicationThrottled")
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert graph.app.get(f"/users/{BOB}/mailFolders/inbox").status_code == 200  # its own budget
    other = graph.sb.mint_token("0b5e7c2d-0000-4000-8000-0000000000b2", kind="app")
    with httpx.Client(base_url=graph.sb.graph_url, headers={"Authorization": f"Bearer {other}"}) as client:
        assert client.get(inbox).status_code == 200  # another app: its own budget for the mailbox
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert graph.app.get(inbox).status_code == 200
    assert sum(e.outcome == "requests" for e in graph.sb.exchanges) == 1


def test_batch_requests_count_one_by_one(graph):
    """Each request of a $batch counts against the request budget (the batch itself does not): a batch
    of 5 with a budget of 3 gets two 429s, and the next request is refused too."""
    graph.sb.set_knobs(graph_request_budget=3, graph_request_window_s=30)
    responses = graph.app.post("/$batch", json={"requests": [batch_create(n) for n in range(5)]}).json()["responses"]
    assert sorted(r["status"] for r in responses) == [201, 201, 201, 429, 429]
    assert graph.app.get(f"/users/{ALICE}/mailFolders/inbox").status_code == 429


def test_batch_runs_four_at_once_holding_the_mailboxs_slots(graph):
    """Outlook runs up to 4 of a batch's requests at once: alone, a batch of 8 stays within the 4 slots
    and all land; with two other requests in flight for the mailbox, some of its requests are refused
    with MailboxConcurrency."""
    graph.sb.set_knobs(graph_max_concurrency=4, latency_ms=400)
    start = time.monotonic()
    alone = graph.app.post("/$batch", json={"requests": [batch_create(n) for n in range(8)]}).json()["responses"]
    took = time.monotonic() - start
    assert [r["status"] for r in alone] == [201] * 8
    assert took < 8 * 0.4  # in parallel, not one after the other
    busy: list[int] = []
    others = [
        threading.Thread(target=lambda: busy.append(graph.app.get(f"/users/{ALICE}/mailFolders/inbox").status_code))
        for _ in range(2)
    ]
    for t in others:
        t.start()
    time.sleep(0.1)
    mixed = graph.app.post("/$batch", json={"requests": [batch_create(n) for n in range(8, 16)]}).json()["responses"]
    for t in others:
        t.join()
    refused = [r for r in mixed if r["status"] == 429]
    assert refused and all("MailboxConcurrency" in r["body"]["error"]["message"] for r in refused)
    assert busy == [200, 200]


def test_upload_budget_says_incoming_bytes(graph):
    """The upload budget's 429 carries Exchange Online's own wording (IncomingBytes)."""
    graph.sb.set_knobs(upload_budget_bytes=1000, upload_window_s=5)
    body = message("big", flags=1, body={"contentType": "text", "content": "x" * 2000})
    assert graph.app.post(INBOX, json=body).status_code == 201  # alone in an empty window
    refused = graph.app.post(INBOX, json=body)
    assert refused.json()["error"]["message"] == "Application is over its IncomingBytes limit."


def batch_create(n: int) -> dict:
    return {
        "id": str(n),
        "method": "POST",
        "url": f"/users/{ALICE}/mailFolders/inbox/messages",
        "headers": {"Content-Type": "application/json"},
        "body": message(f"q{n}", flags=1),
    }
