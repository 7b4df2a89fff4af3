"""`pstimport batch` end to end: ten mailboxes, twenty PSTs, a real sandbox, the real CLI."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from fleet import DENIED, ITEMS_PER_PST, MAILBOXES, PASSWORD, Fleet, start_cli
from helpers import stamped_items

from core.batch.shard import shard_of


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _duplicates(fleet: Fleet) -> dict[str, int]:
    """Extra copies of any stamp, per mailbox (mailbox and archive together)."""
    return {m: sum(len(v) - 1 for v in stamped_items(fleet.sandbox, m).values()) for m in MAILBOXES}


def _counts(fleet: Fleet) -> dict[str, int]:
    return {m: len(stamped_items(fleet.sandbox, m)) for m in MAILBOXES}


def test_ten_mailboxes_one_denied_then_rerun(fleet: Fleet, cli) -> None:
    """Nine mailboxes import and verify, the one refusing impersonation is reported (exit 1, its
    error first in the index); the connection cap holds; a second run imports nothing new and
    creates no duplicates."""
    p = cli(
        "batch", str(fleet.csv), "--template", str(fleet.template), "--parallel-mailboxes", "4",
        "--max-connections", "3", "--json",
    )  # fmt: skip
    assert p.returncode == 1, p.stderr
    events = _events(p.stdout)
    finished = {e["mailbox"] + "/" + e["store"]: e for e in events if e["event"] == "MailboxFinished"}
    # user01 has two runs (mailbox and archive), user02 two (pst-name and store-root, both mailbox).
    assert len([e for e in events if e["event"] == "MailboxFinished"]) == 12
    denied = finished[f"{DENIED}/mailbox"]
    assert denied["status"] == "failed" and denied["exit_code"] == 2
    assert "imperson" in denied["error"].lower() and denied["imported"] == 0
    for m in MAILBOXES:
        if m == DENIED:
            continue
        assert finished[f"{m}/mailbox"]["status"] == "ok", finished[f"{m}/mailbox"]
    # every engine event is tagged with its mailbox
    imported = [e for e in events if e["event"] == "ItemImported"]
    assert imported and all(e["mailbox"] in MAILBOXES for e in imported)
    assert _counts(fleet) == {m: (0 if m == DENIED else fleet.expected(m)) for m in MAILBOXES}
    assert set(_duplicates(fleet).values()) == {0}
    # user01's second PST went to the archive, user02's second into the Inbox itself, user03's under a folder
    assert len(fleet.sandbox.items("user01@sandbox.test", ["pst01", "Inbox", "Scale 0001"], archive=True)) == 5
    assert len(fleet.sandbox.items("user02@sandbox.test", ["Inbox", "Scale 0001"])) == ITEMS_PER_PST
    assert len(fleet.sandbox.items("user03@sandbox.test", ["Imported", "Old PSTs", "Inbox", "Scale 0001"])) == 10

    done = events[-1]
    assert done["event"] == "BatchFinished" and done["exit_code"] == 1 and done["not_ok"] == 1
    index = json.loads(Path(done["index_json"]).read_text())
    assert index["mailboxes"][0]["mailbox"] == DENIED and index["mailboxes"][0]["status"] == "failed"
    assert index["totals"]["imported"] == 90 and index["totals"]["duplicates"] == 0
    # four mailboxes of two threads each, but never more than three requests in flight
    assert 2 <= index["totals"]["peak_connections"] <= 3
    html = Path(done["index_html"]).read_text()
    assert html.index(DENIED) < html.index("user01@sandbox.test")
    for row in index["mailboxes"][1:]:
        assert row["status"] == "ok" and row["mismatched_folders"] == 0
        report = json.loads(Path(row["report_json"]).read_text())  # each mailbox's own verification
        assert report["mailbox"] == row["mailbox"] and report["totals"]["mismatched_folders"] == 0
        assert Path(row["report_html"]).is_file()
        assert Path(row["report_html"]).parent.parent == fleet.reports

    again = cli("batch", str(fleet.csv), "--template", str(fleet.template), "--parallel-mailboxes", "4")
    assert again.returncode == 1, again.stderr
    assert "imported 0, already there 90, failed 0" in again.stdout
    assert f"failed: {DENIED}" in again.stdout
    assert _counts(fleet) == {m: (0 if m == DENIED else fleet.expected(m)) for m in MAILBOXES}
    assert set(_duplicates(fleet).values()) == {0}


def test_two_shards_at_once_cover_everything_once(fleet: Fleet) -> None:
    """Two processes, --shard 1/2 and 2/2, run at the same time: disjoint mailboxes, together all
    of them, and no item twice."""
    fleet.sandbox.store.grant_impersonation("svc@sandbox.test", [DENIED])  # all ten importable here
    args = [str(fleet.csv), "--template", str(fleet.template), "--parallel-mailboxes", "3", "--json"]
    procs = [start_cli("batch", *args, "--shard", f"{i}/2") for i in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    seen = []
    for i, (out, _err) in enumerate(outs, 1):
        mine = {e["mailbox"] for e in _events(out) if e["event"] == "MailboxFinished"}
        assert mine == {m for m in MAILBOXES if shard_of(m, 2) == i}
        seen.append(mine)
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(MAILBOXES)
    assert all(seen), "a 2-way split of ten mailboxes should give both machines work"
    assert _counts(fleet) == {m: fleet.expected(m) for m in MAILBOXES}
    assert set(_duplicates(fleet).values()) == {0}


def test_sigterm_mid_batch_then_resume_without_duplicates(fleet: Fleet, tmp_path: Path, cli) -> None:
    """SIGTERM while mailboxes import: exit 130, the index says interrupted; the same command again
    resumes (journals and stamps, as a single run) and every item lands exactly once. No secret is
    written to the reports or journals."""
    fleet.sandbox.store.grant_impersonation("svc@sandbox.test", [DENIED])
    fleet.sandbox.set_knobs(latency_ms=150)
    args = ["batch", str(fleet.csv), "--template", str(fleet.template), "--parallel-mailboxes", "2", "--json"]
    proc = start_cli(*args)
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "ItemImported":
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    done = _events(out)[-1]
    assert done["event"] == "BatchFinished" and done["interrupted"] and done["exit_code"] == 130
    index = json.loads(Path(done["index_json"]).read_text())
    assert {r["status"] for r in index["mailboxes"]} & {"interrupted", "not-started"}
    assert sum(_counts(fleet).values()) < sum(fleet.expected(m) for m in MAILBOXES)

    fleet.sandbox.set_knobs(latency_ms=0)
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert _counts(fleet) == {m: fleet.expected(m) for m in MAILBOXES}
    assert set(_duplicates(fleet).values()) == {0}
    for path in [*fleet.reports.rglob("*"), *(tmp_path / "state").rglob("*")]:
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_offline_check_needs_no_server(fleet: Fleet, cli) -> None:
    """--offline-check reads and converts every mailbox's PSTs, says what it would import, and asks no
    server: the mailbox that refuses impersonation is not noticed, and nothing reaches the sandbox."""
    before = len(fleet.sandbox.exchanges)
    r = cli("batch", str(fleet.csv), "--template", str(fleet.template), "--offline-check", "--parallel-mailboxes", "3")
    assert r.returncode == 0, r.stderr
    assert "batch finished: 12 of 12 mailbox run(s) ok; would import 100" in r.stdout
    assert sum(_counts(fleet).values()) == 0
    assert len(fleet.sandbox.exchanges) == before


def test_dry_run_is_a_preflight_per_mailbox(fleet: Fleet, cli) -> None:
    """--dry-run means what it means for `pstimport run`: each mailbox is signed in to and checked, so the
    one refusing impersonation fails (exit 2 for it, 1 for the batch) before anything is uploaded; the
    others say what they would import; no folder or item is created anywhere."""
    r = cli(
        "batch", str(fleet.csv), "--template", str(fleet.template), "--dry-run", "--parallel-mailboxes", "3", "--json"
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    events = _events(r.stdout)
    finished = {e["mailbox"] + "/" + e["store"]: e for e in events if e["event"] == "MailboxFinished"}
    denied = finished[f"{DENIED}/mailbox"]
    assert denied["status"] == "failed" and denied["exit_code"] == 2 and "imperson" in denied["error"].lower()
    runs = [e for e in events if e["event"] == "MailboxFinished"]
    assert len(runs) == 12 and sum(e["imported"] for e in runs) == 90  # what would be imported
    assert all(e["status"] == "ok" for k, e in finished.items() if not k.startswith(DENIED)), finished
    assert sum(_counts(fleet).values()) == 0
    created = {e.operation for e in fleet.sandbox.exchanges if e.outcome == "ok"} & {"CreateItem", "CreateFolder"}
    assert created == set(), created
