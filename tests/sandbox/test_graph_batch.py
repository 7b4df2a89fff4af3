"""Graph JSON batching on the sandbox: up to 20 requests, per-request status, dependsOn, throttled sub-requests."""

from __future__ import annotations

import base64

from tests.sandbox.conftest import ALICE, BOB
from tests.sandbox.test_graph_basics import assert_error
from tests.sandbox.test_graph_messages import message, mime

URL = f"/users/{ALICE}/mailFolders/inbox/messages"


def create(n: int, **extra) -> dict:
    return {"id": str(n), "method": "POST", "url": URL, "headers": {"Content-Type": "application/json"},
            "body": message(f"b{n}", stamp=f"batch:{n}", flags=1), **extra}  # fmt: skip


def test_batch_of_20_creates_each_with_its_status(graph):
    """Twenty creates in one batch all land; each response carries its id, 201 and the created message."""
    reply = graph.app.post("/$batch", json={"requests": [create(n) for n in range(20)]})
    assert reply.status_code == 200
    responses = reply.json()["responses"]
    assert sorted(int(r["id"]) for r in responses) == list(range(20))
    assert all(r["status"] == 201 and r["body"]["isDraft"] is False for r in responses)
    assert len(graph.sb.items(ALICE, "Inbox")) == 20


def test_more_than_20_is_refused(graph):
    """A batch of 21 requests is refused whole, and nothing is created."""
    reply = graph.app.post("/$batch", json={"requests": [create(n) for n in range(21)]})
    assert_error(reply, 400, "BadRequest")
    assert graph.sb.items(ALICE, "Inbox") == []


def test_per_request_failures_do_not_fail_the_batch(graph):
    """A bad sub-request gets its own 400 while the others succeed; a missing Content-Type is a 400 too."""
    bad = create(1)
    bad["body"] = {"subject": "x", "bogus": True}
    no_type = create(2)
    del no_type["headers"]
    responses = {
        r["id"]: r for r in graph.app.post("/$batch", json={"requests": [create(0), bad, no_type]}).json()["responses"]
    }
    assert responses["0"]["status"] == 201
    assert responses["1"]["status"] == 400 and responses["1"]["body"]["error"]["code"] == "RequestBodyRead"
    assert responses["2"]["status"] == 400
    assert [it.subject for it in graph.sb.items(ALICE, "Inbox")] == ["b0"]


def test_depends_on(graph):
    """dependsOn orders requests; a failed dependency makes its dependants 424."""
    folder = {"id": "f", "method": "POST", "url": f"/users/{ALICE}/mailFolders",
              "headers": {"Content-Type": "application/json"}, "body": {"displayName": "Batch folder"}}  # fmt: skip
    broken = create(1)
    broken["body"] = {"nope": 1}
    requests = [folder, create(0, dependsOn=["f"]), broken, create(2, dependsOn=["1"])]
    responses = {
        r["id"]: r["status"] for r in graph.app.post("/$batch", json={"requests": requests}).json()["responses"]
    }
    assert responses == {"f": 201, "0": 201, "1": 400, "2": 424}
    unknown = graph.app.post("/$batch", json={"requests": [create(0, dependsOn=["zz"])]})
    assert_error(unknown, 400, "BadRequest")


def test_sub_requests_are_throttled_one_by_one(graph):
    """With busy_next=2, two sub-requests get 429 with Retry-After and the other two are created (which
    two is not fixed: Outlook runs a batch's requests in parallel, and so does the sandbox)."""
    graph.sb.set_knobs(busy_next=2, back_off_ms=2000)
    responses = graph.app.post("/$batch", json={"requests": [create(n) for n in range(4)]}).json()["responses"]
    refused = [r for r in responses if r["status"] == 429]
    created = {f"b{r['id']}" for r in responses if r["status"] == 201}
    assert len(refused) == 2 and len(created) == 2
    assert all(r["headers"]["Retry-After"] == "2" for r in refused)
    assert sorted(it.subject for it in graph.sb.items(ALICE, "Inbox")) == sorted(created)


def test_batch_mixes_mailboxes_and_mime(graph):
    """Sub-requests may target different mailboxes and carry base64 MIME as a text/plain body."""
    requests = [
        {"id": "1", "method": "POST", "url": f"/users/{BOB}/mailFolders/inbox/messages",
         "headers": {"Content-Type": "text/plain"}, "body": base64.b64encode(mime("mime in batch")).decode()},
        {"id": "2", "method": "GET", "url": f"/users/{ALICE}/mailFolders/inbox"},
    ]  # fmt: skip
    responses = {r["id"]: r for r in graph.app.post("/$batch", json={"requests": requests}).json()["responses"]}
    assert responses["1"]["status"] == 201 and responses["1"]["body"]["subject"] == "mime in batch"
    assert responses["2"]["status"] == 200 and responses["2"]["body"]["displayName"] == "Inbox"
    assert [it.subject for it in graph.sb.items(BOB, "Inbox")] == ["mime in batch"]


def test_batch_respects_access(graph):
    """A delegated token's batch cannot reach another mailbox: that sub-request is 403."""
    bob = graph.as_user(BOB)
    requests = [create(0)]
    responses = bob.post("/$batch", json={"requests": requests}).json()["responses"]
    assert responses[0]["status"] == 403
    assert graph.sb.items(ALICE, "Inbox") == []
