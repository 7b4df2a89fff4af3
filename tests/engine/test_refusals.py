"""A request the server refuses as a whole never sinks the other items of its batch, and is not retried.

Against the sandbox over real HTTP: Exchange refuses a CreateItem with one schema-invalid item as a
whole (ErrorSchemaValidation fault, the `refuse_subject` knob), and a request body over its limit with
HTTP 413; Graph refuses a `$batch` body over its limit with 413. The classification of failures as
Exchange and Graph mean them is checked on the exceptions exchangelib and our Graph client raise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_profile, stamped_items


def _scale(tmp_path: Path, items: int, seed: int = 5) -> tuple[Path, dict]:
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=seed, mode="scale", items=items, mix="small")
    return pst, json.loads(Path(str(pst) + ".truth.json").read_text())


@pytest.mark.ews_only("the refuse_subject knob is the sandbox's EWS CreateItem")
def test_refused_batch_is_halved_down_to_the_refused_item(tmp_path, sandbox, profile_for):
    """One item that makes Exchange refuse its whole batch: the batch is halved until it stands alone;
    the other 39 arrive, it alone fails with the server's reason, and no refused request is sent twice."""
    pst, truth = _scale(tmp_path, 40)
    sandbox.set_knobs(refuse_subject="Scale message 13")
    before = len(sandbox.exchanges)
    result = run_profile(profile_for([pst], threads=1, batch=10))
    found = stamped_items(sandbox)
    assert len(found) == len(truth["items"]) - 1 and all(len(v) == 1 for v in found.values())
    assert [f.subject for f in result.failures] == ["Scale message 13"]
    assert "ErrorSchemaValidation" in result.failures[0].reason
    assert "gave up" not in result.failures[0].reason  # refused, not retried until exhausted
    assert result.exit_code == 1
    assert [f["subject"] for f in result.report["failures"]] == ["Scale message 13"]
    creates = [e for e in sandbox.exchanges[before:] if e.operation == "CreateItem"]
    # Item 13 is the 4th of its batch of 10: refused 10 -> 5 -> 3 -> 2 -> 1, each request once.
    assert sum(e.outcome == "fault" for e in creates) == 5
    # 3 other batches + the halves: 10, [5 ok], 5, [2 ok], 3, [1 ok], 2, 1, [1 ok] (one by one: 14).
    assert len(creates) == 3 + 9


@pytest.mark.ews_only("HTTP 413 for an EWS request body; Graph's $batch has its own test")
def test_request_over_the_size_limit_is_halved(tmp_path, sandbox, profile_for):
    """A batch whose request is over the server's size limit (HTTP 413) is halved until each part fits:
    everything arrives, nothing is reported."""
    pst, truth = _scale(tmp_path, 30, seed=6)
    sandbox.set_knobs(max_request_bytes=25_000)
    before = len(sandbox.exchanges)
    result = run_profile(profile_for([pst], threads=2, batch=10))
    sandbox.set_knobs(max_request_bytes=64 * 1024 * 1024)
    found = stamped_items(sandbox)
    assert result.failed == 0, [f.reason for f in result.failures]
    # The refused requests never reached EWS; the halves did: more than the 3 batches' worth.
    assert sum(e.operation == "CreateItem" for e in sandbox.exchanges[before:]) > 3
    assert len(found) == len(truth["items"]) and all(len(v) == 1 for v in found.values())
    assert result.exit_code == 0


def test_graph_batch_refused_as_a_whole_is_halved(tmp_path, sandbox, profile_for):
    """Over Graph, a `$batch` refused as a whole (413: its body over the limit) is halved until the parts
    fit; over EWS the same PST goes through as it is. Everything arrives once."""
    pst, truth = _scale(tmp_path, 24, seed=9)
    if sandbox.test_transport == "graph":
        # JSON messages in $batches (importMime would send one request per item).
        sandbox.set_knobs(graph_import_mime=False, graph_max_request_bytes=40_000)
    result = run_profile(profile_for([pst], threads=1, batch=12))
    found = stamped_items(sandbox)
    assert result.failed == 0, [f.reason for f in result.failures]
    assert len(found) == len(truth["items"]) and all(len(v) == 1 for v in found.values())
    if sandbox.test_transport == "graph":
        refused = [e for e in sandbox.exchanges if e.status == 413 and e.operation.endswith("$batch")]
        assert refused, "no $batch was refused: the test did not test the split"


# ----- classification ---------------------------------------------------------------------------


def _ews(exc: BaseException):
    from core.transport.ews.errors import upload_error

    return upload_error(exc)


@pytest.mark.parametrize(
    "make, permanent, split",
    [
        (lambda ex: ex.SOAPError("SOAP error code: SOAP:Client string: E-3045: x actor: None detail: None"), 1, 1),
        (lambda ex: ex.ErrorSchemaValidation("The request failed schema validation"), 1, 1),
        (lambda ex: ex.ErrorInvalidPropertySet("bad"), 1, 1),
        (lambda ex: ex.ErrorInvalidIdMalformed("bad id"), 1, 1),
        (lambda ex: ex.ErrorAccessDenied("no"), 1, 0),
        (lambda ex: ex.ErrorQuotaExceeded("full"), 1, 0),
        (lambda ex: ex.ErrorTimeoutExpired("slow"), 0, 0),
        (lambda ex: ex.ErrorInternalServerError("oops"), 0, 0),
        (lambda ex: ex.ErrorMailboxStoreUnavailable("down"), 0, 0),
        (lambda ex: ex.SOAPError("SOAP error code: s:Server string: crashed actor: None detail: None"), 0, 0),
        (lambda ex: ex.TransportError("connection reset"), 0, 0),
    ],
)
def test_ews_failures_are_classified_as_exchange_means_them(make, permanent, split):
    """Deterministic refusals (schema, ErrorInvalid*, SOAP Client faults) are permanent and split; busy,
    timeouts, 5xx and dropped connections are retried after a stamp lookup."""
    from exchangelib import errors as ex

    err = _ews(make(ex))
    assert bool(getattr(err, "permanent", False)) == bool(permanent)
    if permanent:
        assert bool(getattr(err, "split", False)) == bool(split)
        assert not getattr(err, "unknown_outcome", True)
    else:
        assert getattr(err, "unknown_outcome", False)


def test_ews_refusal_reasons_are_the_servers_own():
    """gromox's request-level fault reads as its own text, not as exchangelib's wrapper."""
    from exchangelib import errors as ex

    from core.transport.ews.errors import RequestRefused

    fault = ex.SOAPError(
        "SOAP error code: SOAP:Client string: E-3045: failed to find proper type for node 'DistributionList' "
        "actor: None detail: None"
    )
    assert str(_ews(fault)) == (
        "E-3045: failed to find proper type for node 'DistributionList' (SOAP fault SOAP:Client)"
    )
    bare = _ews(RequestRefused(400, "Bad Request"))  # the HTTP adapter has sent it twice
    assert bare.permanent and bare.split  # type: ignore[attr-defined]
    assert "HTTP 400 Bad Request" in str(bare)


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (400, "ErrorInvalidProperty", "permanent"),
        (403, "ErrorAccessDenied", "permanent"),
        (404, "ErrorItemNotFound", "permanent"),
        (413, "RequestEntityTooLarge", "permanent"),
        (422, "", "permanent"),
        (401, "InvalidAuthenticationToken", "retry"),
        (408, "", "retry"),
        (500, "", "retry"),
        (504, "", "retry"),
        (429, "ApplicationThrottled", "busy"),
        (503, "", "busy"),
        (403, "ApplicationThrottled", "busy"),
    ],
)
def test_graph_failures_are_classified_as_graph_means_them(status, code, kind):
    """Graph 4xx but 401/408/429 are permanent; 5xx and 408 are retried; 429, 503 and a throttling 403 are busy."""
    from core.errors import ServerBusy
    from core.transport.graph.client import error_for

    err = error_for(status, {"error": {"code": code, "message": "m"}})
    if kind == "busy":
        assert isinstance(err, ServerBusy)
    else:
        assert not isinstance(err, ServerBusy)
        assert bool(err.permanent) == (kind == "permanent")  # type: ignore[attr-defined]
