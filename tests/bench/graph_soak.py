"""The Graph soak: a long import over Graph against the sandbox holding Exchange Online's limits.

What runs: a scale PST (writer, text-only messages) with some 10-40 MB attachments spread through it
is imported with `pstimport`'s engine over Graph (app-only, 4 threads, `$batch` of 20) into a TLS
sandbox whose Graph front end enforces all of Exchange Online's Outlook limits at once:
4 requests at once per app and mailbox (each request of a `$batch` holding one), 10,000 requests
per 10 minutes per app and mailbox, 150 MB of uploads per 5 minutes per mailbox, 429 with
Retry-After over any of them. Then a plain HTTP client reads the mailbox back through the
sandbox's Graph API (not our transport): every PST item exactly once (by its stamp), nothing else,
and the large attachments byte for byte (SHA-256 against the writer's truth).

Scaling, so it runs in minutes: every window is divided by `time_scale` (T) and every budget by
`volume_scale` (V), on the server and in our pacer alike (the pacer is told the same figures through
its environment overrides). Rates therefore scale by T/V, and the two budgets keep their ratio, so
which one binds, and when, is what it would be in Exchange Online; a run takes about V/T of the time
it would take there. The concurrency limit (4) is not a rate and is not scaled. Exchange Online's
default MaxReceiveSize is 35 MB; the soak's tenant raised it to the 150 MB maximum so that 40 MB
attachments fit.

Figures: for each budget the fullest window the server saw (the pacer must never pass 100% and
should reach at least 90%), the mean rate over the run against the budget rate, the 429s the server
answered and why, and the run's time against the shortest time the budgets allow.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

MIB = 1024 * 1024
# Exchange Online's Outlook limits for Graph (Microsoft Graph "service-specific throttling limits").
EXO_CONCURRENCY = 4
EXO_UPLOAD_BYTES = 150 * MIB
EXO_UPLOAD_WINDOW_S = 300.0
EXO_REQUESTS = 10_000
EXO_REQUEST_WINDOW_S = 600.0
# The stamp as DESIGN.md names it, written out here so the read-back depends on nothing of ours.
STAMP_ID = "String {4a3b1f4e-6c2d-4e8a-9f17-2d5c8b0e7a61} Name PstImportSourceKey"
TENANT_MAX_ITEM_BYTES = 150 * MIB


@dataclass(frozen=True)
class SoakParams:
    """One soak: how much, and how time and budgets are scaled."""

    items: int = 3000
    large_mb: tuple[int, ...] = (10, 14, 18, 22, 26, 30, 35, 40)
    time_scale: float = 5.0  # windows divided by this
    volume_scale: float = 2.0  # budgets divided by this
    latency_ms: int = 20
    seed: int = 11
    threads: int = 4
    batch: int = 20

    @property
    def upload_budget(self) -> int:
        return int(EXO_UPLOAD_BYTES / self.volume_scale)

    @property
    def upload_window(self) -> float:
        return EXO_UPLOAD_WINDOW_S / self.time_scale

    @property
    def request_budget(self) -> int:
        return int(EXO_REQUESTS / self.volume_scale)

    @property
    def request_window(self) -> float:
        return EXO_REQUEST_WINDOW_S / self.time_scale


FULL = SoakParams()
# The CI variant: a tenth of the items, two large attachments, budgets and windows scaled so that
# each budget still binds over several windows in under a minute or two.
SHORT = SoakParams(items=300, large_mb=(10, 12), time_scale=30.0, volume_scale=20.0)


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _peak(arrivals: list[tuple[float, int]], window: float) -> int:
    """The largest sum in any window of `window` seconds (the server's: entries newer than now - window)."""
    arrivals = sorted(arrivals)
    peak, lo, running = 0, 0, 0
    for t, n in arrivals:
        running += n
        while arrivals[lo][0] <= t - window:
            running -= arrivals[lo][1]
            lo += 1
        peak = max(peak, running)
    return peak


def _truth(pst: Path) -> list[dict]:
    items = []
    for line in (pst.parent / (pst.name + ".truth.json")).read_text(encoding="utf-8").splitlines():
        line = line.rstrip(",")
        if line.startswith('{"associated"'):
            items.append(json.loads(line))
    return items


def read_back(base_url: str, token: str, mailbox: str, ca: str) -> tuple[dict[str, list[dict]], int]:
    """Every message below the mailbox's message root, read through Graph as any client would:
    subject -> [{"id", "stamp"}], and how many messages there are in all."""
    found: dict[str, list[dict]] = collections.defaultdict(list)
    total = 0
    with httpx.Client(
        base_url=f"{base_url}/v1.0",
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=ca),
        timeout=300,
    ) as client:

        def pages(url: str, params: dict[str, str]) -> Iterator[dict]:
            page = client.get(url, params=params)
            page.raise_for_status()
            while True:
                body = page.json()
                yield from body.get("value", [])
                nxt = body.get("@odata.nextLink")
                if not nxt:
                    return
                page = client.get(nxt)
                page.raise_for_status()

        todo = ["msgfolderroot"]
        while todo:
            folder = todo.pop()
            for child in pages(f"/users/{mailbox}/mailFolders/{folder}/childFolders", {"$top": "100"}):
                todo.append(child["id"])
            params = {
                "$select": "id,subject",
                "$expand": f"singleValueExtendedProperties($filter=id eq '{STAMP_ID}')",
                "$top": "1000",
            }
            for msg in pages(f"/users/{mailbox}/mailFolders/{folder}/messages", params):
                total += 1
                stamp = next((p["value"] for p in msg.get("singleValueExtendedProperties") or []), None)
                found[msg.get("subject") or ""].append({"id": msg["id"], "stamp": stamp})
    return found, total


def attachment_digests(base_url: str, token: str, mailbox: str, ca: str, message_id: str) -> list[tuple[str, str]]:
    """(name, SHA-256) of a message's attachments, their bytes fetched through Graph."""
    out = []
    with httpx.Client(
        base_url=f"{base_url}/v1.0",
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=ca),
        timeout=600,
    ) as client:
        listing = client.get(f"/users/{mailbox}/messages/{message_id}/attachments", params={"$select": "id,name"})
        listing.raise_for_status()
        for att in listing.json()["value"]:
            one = client.get(f"/users/{mailbox}/messages/{message_id}/attachments/{att['id']}")
            one.raise_for_status()
            data = base64.b64decode(one.json()["contentBytes"])
            out.append((att["name"], hashlib.sha256(data).hexdigest()))
    return out


def run_soak(params: SoakParams, work: Path) -> dict[str, Any]:
    """Run one soak in `work` (a fresh directory); returns the figures and `ok`."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    from helpers import ALICE, APP_ID, APP_SECRET, PASSWORD, make_profile, run_profile

    from core.sandbox.pstwriter.content import generate
    from core.sandbox.server.app import Sandbox
    from core.sandbox.server.knobs import EXCHANGE_ONLINE_GRAPH
    from core.transport.graph.pacing import forget_pacers

    work.mkdir(parents=True, exist_ok=True)
    pst = work / "soak.pst"
    t_gen = time.monotonic()
    generate(str(pst), seed=params.seed, mode="scale", items=params.items, mix="small",
             large=tuple(mb * MIB for mb in params.large_mb))  # fmt: skip
    gen_s = time.monotonic() - t_gen
    truth = {it["subject"]: it for it in _truth(pst)}
    knobs = {
        **EXCHANGE_ONLINE_GRAPH,
        "upload_budget_bytes": params.upload_budget,
        "upload_window_s": params.upload_window,
        "graph_request_budget": params.request_budget,
        "graph_request_window_s": params.request_window,
        "latency_ms": params.latency_ms,
        "max_item_bytes": TENANT_MAX_ITEM_BYTES,
    }
    env = {
        "PSTIMPORT_KEYRING": "none",
        "PSTIMPORT_STATE_DIR": str(work / "state"),
        "PSTIMPORT_CLIENT_SECRET": APP_SECRET,
        # The pacer is told the same scaled budgets as the server (its overrides for other tenants).
        "PSTIMPORT_GRAPH_UPLOAD_BUDGET_MB": str(params.upload_budget / MIB),
        "PSTIMPORT_GRAPH_UPLOAD_WINDOW_S": str(params.upload_window),
        "PSTIMPORT_GRAPH_REQUEST_BUDGET": str(params.request_budget),
        "PSTIMPORT_GRAPH_REQUEST_WINDOW_S": str(params.request_window),
    }
    forget_pacers()
    with _env(**env), Sandbox(work / "sb", users={ALICE: PASSWORD}, apps={APP_ID: APP_SECRET}, tls=True) as sb:
        sb.test_transport = "graph"  # type: ignore[attr-defined]  # read by helpers.make_profile
        with _env(PSTIMPORT_AUTHORITY_HOST=sb.base_url, PSTIMPORT_GRAPH_URL=sb.graph_url):
            sb.set_knobs(**knobs)
            # The server's own ledgers: bytes it accepted against the upload budget, requests it counted.
            byte_arrivals: list[tuple[float, int]] = []
            request_arrivals: list[float] = []
            charge, count = sb.graph._charge_mailbox, sb.graph._count_request

            def charged(mailbox: str, nbytes: int, on_refuse) -> None:  # noqa: ANN001
                charge(mailbox, nbytes, on_refuse)  # raises (429) when refused: then nothing is logged
                if nbytes:
                    byte_arrivals.append((time.monotonic(), nbytes))

            def counted(call, key: str) -> None:  # noqa: ANN001
                request_arrivals.append(time.monotonic())  # counted even when refused, as the server does
                count(call, key)

            sb.graph._charge_mailbox = charged  # type: ignore[method-assign]
            sb.graph._count_request = counted  # type: ignore[method-assign]
            profile = make_profile(work, sb, [pst], threads=params.threads, batch=params.batch)
            t0 = time.monotonic()
            result = run_profile(profile)
            elapsed = time.monotonic() - t0
            graph = [e for e in sb.exchanges if e.protocol == "graph"]
            refused = collections.Counter(e.outcome for e in graph if e.status == 429)
            sessions = sum(1 for e in graph if e.operation.endswith("create_upload_session") and e.status < 300)
            # Read back with the limits off (a reader after the import; it is not what is measured).
            sb.set_knobs(graph_max_concurrency=0, upload_budget_bytes=0, graph_request_budget=0, latency_ms=0)
            token = sb.mint_token(APP_ID, kind="app")
            ca = str(sb.ca_cert)
            found, total = read_back(sb.base_url, token, ALICE, ca)
            large_ok, large_checked = True, 0
            for subject, it in truth.items():
                big = [a for a in it["attachments"] if a["size"] >= 10 * MIB]
                if not big or len(found.get(subject, [])) != 1:
                    continue
                got = dict(attachment_digests(sb.base_url, token, ALICE, ca, found[subject][0]["id"]))
                large_checked += len(big)
                large_ok = large_ok and all(got.get(a["name"]) == a["sha256"] for a in big)
    once = sum(1 for s in truth if len(found.get(s, [])) == 1)
    stamps_ok = all(
        (rows := found.get(s, [])) and rows[0]["stamp"] and rows[0]["stamp"].endswith(f":{it['nid']}")
        for s, it in truth.items()
    )
    bytes_peak = _peak(byte_arrivals, params.upload_window)
    requests_peak = _peak([(t, 1) for t in request_arrivals], params.request_window)
    bytes_total = sum(n for _t, n in byte_arrivals)
    requests_total = len(request_arrivals)
    # The shortest run the budgets allow: each budget's total at its rate, less the one window a fresh
    # budget hands out at once.
    floor_s = max(
        (bytes_total / params.upload_budget - 1) * params.upload_window,
        (requests_total / params.request_budget - 1) * params.request_window,
        0.0,
    )
    figures: dict[str, Any] = {
        "params": asdict(params),
        "scaled_limits": {
            "concurrency": EXO_CONCURRENCY,
            "upload": f"{params.upload_budget / MIB:.2f} MiB per {params.upload_window:g} s",
            "requests": f"{params.request_budget} per {params.request_window:g} s",
        },
        "pst_generated_s": round(gen_s, 1),
        "items": len(truth),
        "imported": result.imported,
        "failed": result.failed,
        "exit_code": result.exit_code,
        "elapsed_s": round(elapsed, 1),
        "exo_equivalent_min": round(elapsed * params.time_scale / params.volume_scale / 60, 1),
        "read_back_messages": total,
        "exactly_once": once,
        "stamps_ok": bool(stamps_ok),
        "large_attachments_checked": large_checked,
        "large_attachments_ok": large_ok,
        "upload_sessions": sessions,
        "server_bytes": bytes_total,
        "server_requests": requests_total,
        "bytes_peak_of_budget": round(bytes_peak / params.upload_budget, 3),
        "requests_peak_of_budget": round(requests_peak / params.request_budget, 3),
        "bytes_rate_of_budget": round(bytes_total / elapsed / (params.upload_budget / params.upload_window), 3),
        "requests_rate_of_budget": round(requests_total / elapsed / (params.request_budget / params.request_window), 3),
        "floor_s": round(floor_s, 1),
        "pace_of_floor": round(floor_s / elapsed, 3) if elapsed else None,
        "http_429": dict(refused),
        "throttled_events": result.throttled,
    }
    # Exactly once, nothing else, nothing failed; no budget ever passed; the fuller budget used to within
    # 10% (the other binds less: its peak is reported, not judged); every 429 answered (nothing failed).
    binding = max(figures["bytes_peak_of_budget"], figures["requests_peak_of_budget"])
    figures["ok"] = bool(
        result.failed == 0
        and once == len(truth) == total
        and stamps_ok
        and large_ok
        and large_checked == len(params.large_mb)
        and figures["bytes_peak_of_budget"] <= 1.0
        and figures["requests_peak_of_budget"] <= 1.0
        and binding >= 0.9
    )
    return figures


def summary(f: dict[str, Any]) -> list[str]:
    """The figures as lines for a report or a note."""
    p = f["params"]
    return [
        f"soak: {f['items']} items incl. attachments of {', '.join(map(str, p['large_mb']))} MB over Graph, "
        f"{p['threads']} threads, $batch {p['batch']}, latency {p['latency_ms']} ms",
        f"limits (time /{p['time_scale']:g}, budgets /{p['volume_scale']:g}): concurrency "
        f"{f['scaled_limits']['concurrency']}, uploads {f['scaled_limits']['upload']}, requests "
        f"{f['scaled_limits']['requests']}",
        f"imported {f['imported']}, failed {f['failed']} in {f['elapsed_s']} s (Exchange Online time about "
        f"{f['exo_equivalent_min']} min); read back {f['read_back_messages']} messages, {f['exactly_once']} exactly "
        f"once, stamps {'ok' if f['stamps_ok'] else 'WRONG'}, {f['large_attachments_checked']} large attachments "
        f"{'identical' if f['large_attachments_ok'] else 'DIFFER'} ({f['upload_sessions']} upload sessions)",
        f"fullest window: uploads {100 * f['bytes_peak_of_budget']:.1f}% of budget, requests "
        f"{100 * f['requests_peak_of_budget']:.1f}%; mean rate: uploads {100 * f['bytes_rate_of_budget']:.1f}%, "
        f"requests {100 * f['requests_rate_of_budget']:.1f}% of the budget rate",
        f"server: {f['server_bytes'] / MIB:.1f} MiB in {f['server_requests']} requests; the tighter budget alone "
        f"needs {f['floor_s']} s = {100 * (f['pace_of_floor'] or 0):.1f}% of the run (they bind in turns); HTTP 429: "
        f"{f['http_429'] or 'none'}; throttled events {f['throttled_events']}",
        "PASS" if f["ok"] else "MISS",
    ]
