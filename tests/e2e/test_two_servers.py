"""One end-to-end suite, two servers: the same headless imports into our sandbox and into gromox.

Each test runs `pstimport run PROFILE --headless --json` as a subprocess against a mailbox of its own, on
the strict sandbox (schema-checked as Exchange checks) and on gromox (an independent EWS server; Basic
auth, plain HTTP, no impersonation: DEVIATION_AUTH), and reads the mailbox back with plain exchangelib:
per-folder counts, exactly one item per stamp, and verification green. Where gromox is not Exchange the
test names the deviation (tests/gromox.py) and checks exactly that difference; no check is loosened for
both servers.

Set PSTIMPORT_E2E_OUT to a directory to keep the per-PST tables (items in the PST, imported, refused
with the reason, counted back) as `corpus-<server>.md`.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from servers import Mailbox, all_stamps, child, read_tree, run, write_profile

from core.pst import open_pst
from core.pst.model import UnreadableItem
from tests.conftest import CORPUS
from tests.gromox import (
    DEVIATION_AUTH,
    DEVIATION_BINARY_PROP,
    DEVIATION_DISTLIST,
    DEVIATION_DOUBLE_PROP,
    DEVIATION_KEEPALIVE,
)

SANDBOX_PASSWORD = "Two-Servers-Pa55"
DIST_LIST = "IPM.DistList"


# ----- the two servers -----------------------------------------------------------------------------


@pytest.fixture(params=["sandbox", "gromox"])
def mailbox(request: pytest.FixtureRequest, tmp_path: Path) -> Mailbox:
    """An empty mailbox on the sandbox or on gromox, and a way to the same address on a new server."""
    if request.param == "gromox":
        gx = request.getfixturevalue("gromox_server")
        lease = gx.lease()

        def gromox_b() -> Mailbox:
            b = gx.fresh_server(like=lease)
            return Mailbox("gromox", b.ews_url, b.email, b.password, fresh_server=gromox_b)

        # DEVIATION_AUTH: profiles sign in with Basic over plain HTTP, without impersonation.
        assert DEVIATION_AUTH
        return Mailbox("gromox", lease.ews_url, lease.email, lease.password, fresh_server=gromox_b)
    from core.sandbox.server.app import Sandbox
    from tests.sandbox.conftest import SERVER_SCHEMA

    started: list[Sandbox] = []
    email = "tech@sandbox.test"

    def sandbox_at(n: int) -> Mailbox:
        sb = Sandbox(tmp_path / f"sandbox-{n}", users={email: SANDBOX_PASSWORD}, schema_dir=SERVER_SCHEMA).start()
        started.append(sb)
        return Mailbox("sandbox", sb.ews_url, email, SANDBOX_PASSWORD, fresh_server=lambda: sandbox_at(n + 1))

    request.addfinalizer(lambda: [sb.stop() for sb in started])
    return sandbox_at(1)


# ----- what the PSTs hold ---------------------------------------------------------------------------


def _readable_corpus() -> list[Path]:
    if not (CORPUS / "manifest.json").is_file():
        return []
    names = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".pst", ".ost", ".bin"))
    return [CORPUS / n for n in names if not n.startswith(("BROKEN_", "NOTPST_"))]


def pst_side(pst: Path) -> dict:
    """What our reader finds in a PST: stamp -> (folder path, message class, what gromox refuses in it or
    None), and the unreadable count. Items are converted as a run converts them, to know which carry an
    extended property of type Binary (DEVIATION_BINARY_PROP)."""
    from core.convert import ConversionError, ConvertContext, RewriteOptions, convert
    from core.mapi import XPROP_TYPE_NAMES
    from core.transport.ews.props import sendable

    items: dict[str, tuple[tuple[str, ...], str, str | None]] = {}
    unreadable = 0
    with open_pst(pst) as f:
        key = f.info.record_key.hex()
        ctx = ConvertContext.for_pst(f, RewriteOptions(enabled=False))
        for folder in f.folders():
            for it in f.items(folder):
                if isinstance(it, UnreadableItem):
                    unreadable += 1
                    continue
                cls = it.message_class or "IPM.Note"
                gromox = None
                if cls.startswith(DIST_LIST):
                    gromox = "E-3045"  # DEVIATION_DISTLIST
                else:
                    try:
                        payload = convert(it, ctx)
                    except ConversionError:
                        payload = None
                    binary = payload is not None and any(
                        XPROP_TYPE_NAMES.get(x.prop.type, "").startswith("Binary") for x in sendable(payload)
                    )
                    gromox = "E-3107" if binary else None  # DEVIATION_BINARY_PROP
                items[f"{key}:{it.node_id}"] = (folder.path, cls, gromox)
    return {"items": items, "unreadable": unreadable, "key": key}


def refused_on(server: str, item: tuple) -> str | None:
    """The reason code this server refuses an item with, though Exchange takes it: gromox cannot create
    distribution lists (DEVIATION_DISTLIST) nor items with a Binary extended property
    (DEVIATION_BINARY_PROP). None on the sandbox, which creates what Exchange creates."""
    return item[2] if server == "gromox" else None


def _copy(psts: list[Path], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in psts:
        shutil.copy(p, dest / p.name)
        out.append(dest / p.name)
    return out


def _table(server: str, rows: list[list]) -> str:
    head = ["PST", "items in PST", "imported", "refused (reason)", "unreadable", "counted back"]
    lines = [f"## {server}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _keep(name: str, text: str, tmp_path: Path) -> None:
    out = Path(os.environ.get("PSTIMPORT_E2E_OUT") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(text, encoding="utf-8")
    print(text)


# ----- the suite -------------------------------------------------------------------------------------


def test_every_readable_corpus_pst_then_a_rerun_imports_nothing(mailbox, corpus_dir, tmp_path):
    """Every readable corpus PST in one profile (root pst-name): each readable item arrives exactly once in
    its folder, per-folder counts match, only what the server refuses is reported (with its reason), the
    report is green; a second run imports nothing and changes nothing."""
    psts = _copy(_readable_corpus(), tmp_path / "psts")
    profile = write_profile(tmp_path / "corpus.yaml", mailbox, psts, threads=4, batch=10)
    first = run(profile, mailbox, tmp_path / "state")
    assert first.code in (0, 1), first.stderr[-2000:]
    acc = mailbox.account()
    top = acc.msg_folder_root
    report = first.report
    failures = Counter((f["pst"], f["subject"]) for f in report["failures"])
    rows = []
    for pst in psts:
        side = pst_side(pst)
        root = child(acc, top, pst.stem)
        tree = read_tree(acc, root) if root is not None else {}
        back = all_stamps(tree)
        refused = {s: code for s, v in side["items"].items() if (code := refused_on(mailbox.server, v))}
        expected = set(side["items"]) - set(refused)
        assert set(back) == expected, f"{pst.name}: missing {len(expected - set(back))}, extra {set(back) - expected}"
        assert all(len(ids) == 1 for ids in back.values()), f"{pst.name}: an item was created twice"
        # Per folder: the stamped items of each PST folder are in the mailbox folder of the same path.
        want = Counter(v[0] for s, v in side["items"].items() if s in expected)
        got = Counter({path: len(f.stamps) for path, f in tree.items() if f.stamps})
        assert got == +want, f"{pst.name}: per-folder counts differ"
        # The report's mailbox side is what a plain client counts: each folder's TotalCount.
        for row in (r for r in report["folders"] if r["pst"] == pst.name):
            assert row["mailbox_items"] == tree[tuple(row["source_path"])].total, (pst.name, row)
        fails = [f for f in report["failures"] if f["pst"] == pst.name]
        refusals = [f for f in fails if not f["reason"].startswith(("unreadable", f"{pst.name}"))]
        assert len(fails) == side["unreadable"] + len(refused), fails
        if refused:
            # DEVIATION_DISTLIST, DEVIATION_BINARY_PROP: each such item alone, with gromox's own reason
            # (E-3045, E-3107); nothing else of its batch.
            codes = Counter(refused.values())
            assert Counter(c for f in refusals for c in codes if c in f["reason"]) == codes, (
                DEVIATION_DISTLIST,
                DEVIATION_BINARY_PROP,
                [f["reason"] for f in refusals],
            )
        reasons = sorted({f["reason"].removeprefix("gave up after 2 attempts: ") for f in refusals})
        rows.append(
            [
                pst.name,
                len(side["items"]) + side["unreadable"],
                len(expected),
                f"{len(refused)} ({'; '.join(reasons)})" if refused else "0",
                side["unreadable"],
                len(back),
            ]
        )
    assert report["totals"]["mismatched_folders"] == 0, [r for r in report["folders"] if r["status"] == "mismatch"]
    assert report["totals"]["duplicates"] == 0
    assert sum(failures.values()) == report["totals"]["failed"]
    _keep(f"corpus-{mailbox.server}.md", _table(mailbox.server, rows), tmp_path)

    before = {p: {s: ids for s, ids in all_stamps(read_tree(acc, child(acc, top, p.stem))).items()} for p in psts}
    second = run(profile, mailbox, tmp_path / "state")
    assert second.count("ItemImported") == 0
    assert second.code == first.code  # what the server refused is tried again, and refused again
    after = {p: {s: ids for s, ids in all_stamps(read_tree(acc, child(acc, top, p.stem))).items()} for p in psts}
    assert after == before


def test_realistic_writer_pst(mailbox, tmp_path):
    """The writer's realistic PST (mail, calendar, contacts with a distribution list, tasks, notes, journal,
    big attachments): everything arrives once; calendar and task folders verify with 0 duplicates; on
    gromox, each distribution list alone is refused with gromox's reason, every contact batched with it
    arrives, and the run exits 1 with the report listing exactly the lists."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "realistic.pst"
    generate(str(pst), seed=4, mode="realistic")
    side = pst_side(pst)
    lists = {s for s, v in side["items"].items() if v[1].startswith(DIST_LIST)}
    assert lists, "the realistic PST has no distribution list: this test would prove nothing"
    profile = write_profile(tmp_path / "realistic.yaml", mailbox, [pst], batch=10)
    out = run(profile, mailbox, tmp_path / "state")
    acc = mailbox.account()
    tree = read_tree(acc, child(acc, acc.msg_folder_root, pst.stem))
    back = all_stamps(tree)
    refused = {s for s, v in side["items"].items() if refused_on(mailbox.server, v)}
    assert refused == (lists if mailbox.server == "gromox" else set()), "the writer's items carry a Binary property"
    assert set(back) == set(side["items"]) - refused
    assert all(len(ids) == 1 for ids in back.values()), "an item was created twice"
    contacts = {s for s, v in side["items"].items() if v[1].startswith("IPM.Contact")}
    assert contacts and contacts <= set(back), "a contact sent with a distribution list was lost"
    report = out.report
    if mailbox.server == "gromox":
        # DEVIATION_DISTLIST: exactly the lists are reported, item by item, with gromox's reason.
        assert out.code == 1
        assert len(report["failures"]) == len(lists)
        assert all("E-3045" in f["reason"] and "DistributionList" in f["reason"] for f in report["failures"])
        assert all("gave up" not in f["reason"] for f in report["failures"]), "a refusal was retried"
    else:
        assert out.code == 0, report["failures"]
        assert report["failures"] == []
    # DEVIATION_DOUBLE_PROP: gromox names calendar items and tasks' stamp twice; counted by item, no duplicate.
    typed = [r for r in report["folders"] if r["source_path"] and r["source_path"][-1] in ("Calendar", "Tasks")]
    assert len(typed) == 2 and all(r["duplicates"] == 0 and r["status"] == "ok" for r in typed), DEVIATION_DOUBLE_PROP
    assert report["totals"]["duplicates"] == 0 and report["totals"]["mismatched_folders"] == 0


def test_scale_pst_killed_mid_run_resumes_exactly_once(mailbox, tmp_path):
    """A 2,000-item scale PST: `kill -9` after 300 items, then the same command again: every item exactly
    once, exit 0. On gromox the run meets DEVIATION_KEEPALIVE (batches over 64 KiB) and still fails nothing."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "scale.pst"
    generate(str(pst), seed=21, mode="scale", items=2000, folder_items=700, mix="small")
    side = pst_side(pst)
    profile = write_profile(tmp_path / "scale.yaml", mailbox, [pst], threads=4, batch=10)
    killed = run(profile, mailbox, tmp_path / "state", kill_after=300)
    assert killed.code is None
    resumed = run(profile, mailbox, tmp_path / "state")
    assert resumed.code == 0, (resumed.report["failures"][:5], DEVIATION_KEEPALIVE)
    acc = mailbox.account()
    back = all_stamps(read_tree(acc, child(acc, acc.msg_folder_root, pst.stem)))
    assert set(back) == set(side["items"]) and len(back) == 2000
    assert all(len(ids) == 1 for ids in back.values()), "an item was created twice"
    # The resumed run took what the killed one had done (journal, or stamps for what was in flight) as
    # imported, and sent only the rest.
    totals = resumed.report["totals"]
    assert totals["imported"] + totals["skipped_existing"] == 2000 and totals["failed"] == 0
    assert totals["skipped_existing"] >= killed.count("ItemImported")


def test_store_root(mailbox, corpus_dir, tmp_path):
    """Root store-root: a French PST's and the writer's role folders land in the mailbox's own folders
    (Inbox, Deleted Items, Calendar, Contacts, Tasks...), their other folders beside them, each item once."""
    from core.sandbox.pstwriter.content import generate

    pst = tmp_path / "realistic.pst"
    generate(str(pst), seed=5, mode="realistic")
    tika = _copy([corpus_dir / "tika_testPST.pst"], tmp_path / "psts")[0]
    profile = write_profile(tmp_path / "storeroot.yaml", mailbox, [pst, tika], root="store-root")
    out = run(profile, mailbox, tmp_path / "state")
    acc = mailbox.account()
    tree = read_tree(acc, acc.msg_folder_root)
    back = all_stamps(tree)
    expected = {}
    sides = {p: pst_side(p) for p in (pst, tika)}
    for side in sides.values():
        expected.update({s: v for s, v in side["items"].items() if not refused_on(mailbox.server, v)})
    assert set(back) == set(expected)
    assert all(len(ids) == 1 for ids in back.values())
    # The writer's role folders are the mailbox's own: each item of its Inbox, Calendar, Contacts and
    # Tasks is in the folder the server knows by that role (compared by folder id, not by name).
    where = {s: f.id for f in tree.values() for s in f.stamps}
    own = {"Inbox": acc.inbox.id, "Calendar": acc.calendar.id, "Contacts": acc.contacts.id, "Tasks": acc.tasks.id}
    checked = 0
    for s, (path, _cls, _r) in expected.items():
        if len(path) == 1 and path[0] in own and s.startswith(sides[pst]["key"]):
            assert where[s] == own[path[0]], f"{s} of {path} is not in the mailbox's own {path[0]}"
            checked += 1
    assert checked >= 10
    assert not any(path and path[0] == pst.stem for path in tree), "store-root made a PST-named folder"
    assert out.report["totals"]["mismatched_folders"] == 0
    assert out.code == (1 if mailbox.server == "gromox" else 0), out.report["failures"]  # DEVIATION_DISTLIST


def test_stale_journal_then_a_new_server(mailbox, corpus_dir, tmp_path):
    """Import into server A, then point the same profile (same mailbox address) at a fresh server B:
    everything arrives in B, with no duplicate in A or in B, and A is left as it was."""
    psts = _copy([corpus_dir / "process-pst_four_nesting_levels.pst", corpus_dir / "tika_testPST.pst"], tmp_path / "p")
    expected = set().union(*(pst_side(p)["items"] for p in psts))
    profile = write_profile(tmp_path / "stale.yaml", mailbox, psts)
    state = tmp_path / "state"
    assert run(profile, mailbox, state).code == 0
    acc_a = mailbox.account()
    a_before = {p.stem: all_stamps(read_tree(acc_a, child(acc_a, acc_a.msg_folder_root, p.stem))) for p in psts}
    assert set().union(*a_before.values()) == expected
    b = mailbox.fresh_server()
    assert (b.email, b.ews_url) != (mailbox.email, mailbox.ews_url) and b.email == mailbox.email
    write_profile(profile, b, psts)  # the same profile file, now aimed at B
    out = run(profile, b, state)
    assert out.code == 0, out.report["failures"]
    assert out.count("ItemImported") == len(expected), "B was trusted to hold what A holds"
    acc_b = b.account()
    in_b = set()
    for p in psts:
        back = all_stamps(read_tree(acc_b, child(acc_b, acc_b.msg_folder_root, p.stem)))
        assert all(len(ids) == 1 for ids in back.values())
        in_b |= set(back)
    assert in_b == expected
    a_after = {p.stem: all_stamps(read_tree(acc_a, child(acc_a, acc_a.msg_folder_root, p.stem))) for p in psts}
    assert a_after == a_before


def test_items_deleted_by_hand_come_back(mailbox, corpus_dir, tmp_path):
    """Hard-delete some items of a folder with plain exchangelib (DeleteItem, HardDelete), re-run: exactly
    those are imported again, each once; the journal is a cache, the server the truth."""
    psts = _copy([corpus_dir / "pst2john_2003_no-encryption_quickquick.pst"], tmp_path / "p")
    profile = write_profile(tmp_path / "deleted.yaml", mailbox, psts)
    state = tmp_path / "state"
    assert run(profile, mailbox, state).code == 0
    acc = mailbox.account()
    root = child(acc, acc.msg_folder_root, psts[0].stem)
    tree = read_tree(acc, root)
    path, folder = max(tree.items(), key=lambda kv: len(kv[1].stamps))
    assert len(folder.stamps) >= 4, "the PST has no folder with enough items for this test"
    victims = sorted(folder.stamps)[:3]
    ids = [next(iter(folder.stamps[s])) for s in victims]
    from exchangelib.items import Item

    results = acc.bulk_delete([Item(id=i) for i in ids], delete_type="HardDelete")
    assert results == [True] * 3
    after_delete = all_stamps(read_tree(acc, root))
    assert not set(victims) & set(after_delete)
    out = run(profile, mailbox, state)
    assert out.code == 0, out.report["failures"]
    assert out.count("ItemImported") == 3
    back = all_stamps(read_tree(acc, root))
    assert set(back) == set(after_delete) | set(victims)
    assert all(len(v) == 1 for v in back.values())
    assert {s for s, ids in back.items() if ids != after_delete.get(s)} == set(victims)


def test_keepalive_refusal_after_a_large_request_is_sent_again(gromox_mailbox, tmp_path):
    """DEVIATION_KEEPALIVE: after a CreateItem of more than 64 KiB, gromox refuses the next request on that
    connection with 400; our transport sends it once more on a new connection, so a count, a stamp lookup
    and the next create all succeed with one connection in the pool (where the refusal is certain)."""
    from core.convert.payload import MimePayload
    from core.transport.ews.transport import EwsSettings, EwsTransport

    mb = gromox_mailbox
    settings = EwsSettings(
        mailbox=mb.email,
        ews_url=mb.ews_url,
        username=mb.email,
        secret=mb.password,
        auth_type="basic",
        max_connections=1,
    )

    def mail(n: int, size: int) -> MimePayload:
        body = ("x" * 76 + "\r\n") * (size // 78)
        mime = f"Subject: big {n}\r\nFrom: a@sandbox.test\r\n\r\n{body}".encode()
        return MimePayload(source_key=f"k:{n}", message_class="IPM.Note", subject=f"big {n}", mime=mime)

    with EwsTransport(settings) as t:
        t.connect()
        inbox = t.well_known("inbox")
        assert inbox is not None
        first = t.create_items(inbox, [mail(1, 90_000)])
        assert first[0].ok, (first, DEVIATION_KEEPALIVE)
        assert t.count_items(inbox) == 1
        second = t.create_items(inbox, [mail(2, 90_000)])
        assert second[0].ok
        assert set(t.find_stamps(inbox)) == {"k:1", "k:2"}
