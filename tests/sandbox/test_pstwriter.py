"""The PST writer: its files open in pypff, readpst and our reader, and match their ground truth."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypff

from core.mapi import (
    MSGFLAG_HASATTACH,
    PidLidAppointmentEndWhole,
    PidLidAppointmentRecur,
    PidLidAppointmentStartWhole,
    PidLidAppointmentStateFlags,
    PidLidAppointmentSubType,
    PidLidDistributionListMembers,
    PidLidDistributionListOneOffMembers,
    PidLidEmail1EmailAddress,
    PidLidEmail2EmailAddress,
    PidLidEmail3EmailAddress,
    PidLidLocation,
    PidLidLogEnd,
    PidLidLogStart,
    PidLidLogType,
    PidLidNoteColor,
    PidLidTaskDueDate,
    PidLidTaskFRecurring,
    PidLidTaskRecurrence,
    PidLidTaskStatus,
    PidNameKeywords,
    PidTagBody,
    PidTagBusinessTelephoneNumber,
    PidTagClientSubmitTime,
    PidTagFlagStatus,
    PidTagGivenName,
    PidTagHomeTelephoneNumber,
    PidTagHtml,
    PidTagImportance,
    PidTagInReplyToId,
    PidTagInternetMessageId,
    PidTagMessageClass,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PidTagMobileTelephoneNumber,
    PidTagRtfCompressed,
    PidTagSensitivity,
    PidTagSubject,
    PidTagSurname,
    asfMeeting,
)
from core.pst import open_pst

REPO = Path(__file__).resolve().parents[2]
NID_TYPE_ASSOC_MESSAGE = 0x08  # MS-PST 2.2.2.1
IPM_SUBTREE = "Top of Personal Folders"
READPST_SKIPPED = ("IPM.Task", "IPM.StickyNote", "IPM.DistList", "IPM.Post")


# -- helpers: pypff ----------------------------------------------------------------------------
def pff_entries(record_set: Any) -> dict[int, Any]:
    """{property id: pypff record entry} of one record set."""
    return {e.entry_type: e for e in record_set.entries}


def pff_str(entries: dict[int, Any], pid: int) -> str | None:
    e = entries.get(pid)
    return e.get_data_as_string() if e is not None and e.data else None


def pff_int(entries: dict[int, Any], pid: int) -> int | None:
    e = entries.get(pid)
    return e.get_data_as_integer() if e is not None else None


def pff_folders(path: Path) -> tuple[Any, dict[tuple[str, ...], Any]]:
    """Open with pypff; returns (file, {folder path under the IPM subtree: pypff folder})."""
    f = pypff.file()
    f.open(str(path))
    tops = [s for s in f.get_root_folder().sub_folders if s.name == IPM_SUBTREE]
    assert len(tops) == 1, "exactly one IPM subtree under the root"
    out: dict[tuple[str, ...], Any] = {}

    def walk(folder: Any, p: tuple[str, ...]) -> None:
        assert p not in out, f"two folders with the path {p} (siblings with one name)"
        out[p] = folder
        for sub in folder.sub_folders:
            walk(sub, (*p, sub.name))

    walk(tops[0], ())
    return f, out


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def truth_folders(truth: dict) -> dict[tuple[str, ...], int]:
    return {tuple(f["path"]): f["items"] for f in truth["folders"]}


def check_item_pff(msg: Any, t: dict) -> None:
    """One pypff message against its truth: everything pypff exposes."""
    where = f"{t['folder']} / {t['subject']!r}"
    props = pff_entries(msg.get_record_set(0))
    if not isinstance(msg, pypff.message):  # pypff gives folder-associated items as plain items
        assert pff_str(props, PidTagSubject.id) == t["subject"], where
        assert iso(props[PidTagClientSubmitTime.id].get_data_as_datetime()) == t["submit_time"], where
        assert pff_int(props, PidTagMessageFlags.id) == t["flags"], where
        assert pff_str(props, PidTagMessageClass.id) == t["class"], where
        assert not t["recipients"] and not t["attachments"], where
        return
    assert msg.subject == t["subject"], where
    assert pff_str(props, PidTagMessageClass.id) == t["class"], where
    assert iso(msg.client_submit_time) == t["submit_time"], where
    assert iso(msg.delivery_time) == t["delivery_time"], where
    assert pff_int(props, PidTagMessageFlags.id) == t["flags"], where
    assert pff_int(props, PidTagImportance.id) == t["importance"], where
    assert pff_int(props, PidTagSensitivity.id) == t["sensitivity"], where
    assert pff_int(props, PidTagFlagStatus.id) == t["flag_status"], where
    if t["body"] is not None:
        assert msg.plain_text_body.decode("utf-8") == t["body"], where
    if t["html"] is not None:
        assert msg.html_body.decode("utf-8") == t["html"], where
    if t["rtf"] is not None:
        assert msg.rtf_body.decode("ascii").rstrip("\0") == t["rtf"], where
    rows = []
    if msg.recipients is not None:
        for rs in msg.recipients.record_sets:
            e = pff_entries(rs)
            rows.append(
                {
                    "type": {1: "to", 2: "cc", 3: "bcc"}[pff_int(e, 0x0C15)],
                    "name": pff_str(e, 0x3001),
                    "address_type": pff_str(e, 0x3002),
                    "email": pff_str(e, 0x3003),
                    "smtp": pff_str(e, 0x39FE),
                }
            )
    expected = [{k: r[k] for k in ("type", "name", "address_type", "email", "smtp")} for r in t["recipients"]]
    assert rows == expected, where
    assert msg.number_of_attachments == len(t["attachments"]), where
    for att, at in zip(msg.attachments, t["attachments"], strict=True):
        if at["embedded"] is None:
            assert att.size == at["size"], where
            assert hashlib.sha256(att.read_buffer(att.size)).hexdigest() == at["sha256"], f"{where}: {at['name']}"


# -- helpers: our reader -----------------------------------------------------------------------
def check_item_reader(item: Any, t: dict) -> None:
    """One core.pst Item against its truth, embedded messages included."""
    where = f"{t.get('folder')} / {t['subject']!r}"
    p = item.props
    assert p.get(PidTagSubject) == t["subject"], where
    assert p.get(PidTagMessageClass) == t["class"], where
    assert iso(p.time(PidTagClientSubmitTime)) == t["submit_time"], where
    assert iso(p.time(PidTagMessageDeliveryTime)) == t["delivery_time"], where
    assert p.get(PidTagMessageFlags) == t["flags"], where
    assert p.get(PidTagFlagStatus) == t["flag_status"], where
    assert list(p.get(PidNameKeywords) or []) == t["categories"], where
    assert p.get(PidTagInternetMessageId) == t["message_id"], where
    assert p.get(PidTagInReplyToId) == t.get("in_reply_to"), where
    if t["body"] is not None:
        assert p.get(PidTagBody) == t["body"], where
    if t["html"] is not None:
        html = p.get(PidTagHtml)
        assert (html.decode("utf-8") if isinstance(html, bytes) else html) == t["html"], where
    if t["rtf"] is not None:
        assert p.get(PidTagRtfCompressed), where
    rec = [
        {
            "type": r.kind,
            "name": r.display_name,
            "address_type": r.address_type,
            "email": r.email_address,
            "smtp": r.props.get(0x39FE),
        }
        for r in item.recipients
    ]
    assert rec == [{k: r[k] for k in ("type", "name", "address_type", "email", "smtp")} for r in t["recipients"]], where
    extra = t.get("extra") or {}
    if extra.get("start") and t["class"] == "IPM.Appointment":
        assert iso(p.time(PidLidAppointmentStartWhole)) == extra["start"], where
    if extra.get("recurrence"):
        blob = p.get(PidLidAppointmentRecur) or p.get(PidLidTaskRecurrence)
        assert isinstance(blob, bytes) and len(blob) > 50, where
    check_class_extras(p, t["class"], extra, where)
    assert len(item.attachments) == len(t["attachments"]), where
    for att, at in zip(item.attachments, t["attachments"], strict=True):
        if at["embedded"] is not None:
            assert att.embedded is not None, f"{where}: {at['name']} is not an embedded message"
            check_item_reader(att.embedded, {**at["embedded"], "folder": t.get("folder")})
        else:
            with att.open() as fh:
                h = hashlib.sha256()
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            assert h.hexdigest() == at["sha256"], f"{where}: {at['name']}"


def check_class_extras(p: Any, cls: str, extra: dict, where: str) -> None:
    """The class-specific values of the truth's `extra` (contacts, lists, tasks, notes, journal, meetings)."""
    if cls == "IPM.Appointment":
        assert iso(p.time(PidLidAppointmentEndWhole)) == extra["end"], where
        assert bool(p.get(PidLidAppointmentSubType)) == extra["all_day"], where
        assert p.get(PidLidLocation) == extra["location"], where
        assert bool((p.get(PidLidAppointmentStateFlags) or 0) & asfMeeting) == extra["meeting"], where
    elif cls == "IPM.Contact":
        emails = [p.get(PidLidEmail1EmailAddress), p.get(PidLidEmail2EmailAddress), p.get(PidLidEmail3EmailAddress)]
        assert emails == extra["emails"], where
        phones = {
            "business": p.get(PidTagBusinessTelephoneNumber),
            "home": p.get(PidTagHomeTelephoneNumber),
            "mobile": p.get(PidTagMobileTelephoneNumber),
        }
        assert phones == extra["phones"], where
        assert (p.get(PidTagGivenName), p.get(PidTagSurname)) == (extra["given_name"], extra["surname"]), where
    elif cls == "IPM.DistList":
        members = p.get(PidLidDistributionListOneOffMembers) or []
        assert len(members) == len(extra["members"]) == len(p.get(PidLidDistributionListMembers) or []), where
        for raw, m in zip(members, extra["members"], strict=True):
            assert m["email"].encode("utf-16-le") in raw, where
    elif cls == "IPM.Task":
        assert p.get(PidLidTaskStatus) == extra["status"], where
        assert iso(p.time(PidLidTaskDueDate)) == extra["due"], where
        assert bool(p.get(PidLidTaskFRecurring)) == extra["recurring"], where
    elif cls == "IPM.StickyNote":
        assert p.get(PidLidNoteColor) == extra["color"], where
    elif cls == "IPM.Activity":
        assert p.get(PidLidLogType) == extra["log_type"], where
        assert (iso(p.time(PidLidLogStart)), iso(p.time(PidLidLogEnd))) == (extra["start"], extra["end"]), where


# -- helpers: readpst --------------------------------------------------------------------------
def run_readpst(readpst: str, pst: Path, out: Path) -> Path:
    out.mkdir()
    proc = subprocess.run(
        [readpst, "-D", "-e", "-j", "0", "-o", str(out), str(pst)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out.with_suffix(".log").write_text(proc.stdout, encoding="utf-8")
    (store,) = list(out.iterdir())
    return store


def readpst_folder_names(store: Path) -> Counter:
    """Names of the folders readpst reported processing (empty ones included)."""
    log = store.parent.with_suffix(".log").read_text(encoding="utf-8")
    return Counter(re.findall(r'^Processing Folder "(.*)"$', log, flags=re.M))


def readpst_counts(store: Path) -> dict[tuple[str, ...], int]:
    """Files per exported folder; readpst makes no directory for a folder it exports nothing from."""
    counts: dict[tuple[str, ...], int] = {}
    for dirpath, _dirs, files in os.walk(store):
        rel = Path(dirpath).relative_to(store)
        key = tuple(rel.parts)
        counts[key] = sum(1 for f in files if f.rsplit(".", 1)[-1] in ("eml", "ics", "vcf"))
    return {k: v for k, v in counts.items() if v}


def expected_readpst_counts(truth: dict) -> dict[tuple[str, ...], int]:
    counts = dict.fromkeys(truth_folders(truth), 0)
    for it in truth["items"]:
        if it["readpst"]:
            counts[tuple(it["folder"])] += 1
    return {k: v for k, v in counts.items() if v}


def eml_attachment_hashes(store: Path) -> Counter:
    hashes: Counter = Counter()
    for eml in store.rglob("*.eml"):
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        for part in msg.walk():
            if part.is_multipart() or part.get_content_type() == "message/rfc822":
                continue
            if part.get_filename() or part.get("Content-ID"):
                payload = part.get_payload(decode=True) or b""
                hashes[hashlib.sha256(payload).hexdigest()] += 1
    return hashes


def truth_attachment_hashes(truth: dict) -> Counter:
    hashes: Counter = Counter()
    for it in truth["items"]:
        if it["readpst"] and it["class"] == "IPM.Note":
            for at in it["attachments"]:
                if at["embedded"] is None:
                    hashes[at["sha256"]] += 1
    return hashes


# -- tests -------------------------------------------------------------------------------------
def test_realistic_folders_and_counts_in_pypff(realistic_pst: tuple[Path, dict]) -> None:
    """pypff sees exactly the truth's folder tree (6 levels, Unicode, duplicate names) and per-folder counts."""
    path, truth = realistic_pst
    f, folders = pff_folders(path)
    try:
        got = {p: fo.number_of_sub_messages for p, fo in folders.items()}
        assert got == truth_folders(truth)
        assert max(len(p) for p in got) >= 7  # Inbox + 6 nested levels
        assert sum(1 for p in got if p and p[-1] == "Archive") == 2
    finally:
        f.close()


def test_realistic_items_match_truth_in_pypff(realistic_pst: tuple[Path, dict]) -> None:
    """Every pypff item matches the truth: subject, class, dates, flags, recipients, bodies, attachment bytes;
    folder-associated items included."""
    path, truth = realistic_pst
    by_nid = {it["nid"]: it for it in truth["items"]}
    f, folders = pff_folders(path)
    seen = 0
    try:
        for p, folder in folders.items():
            messages = [folder.get_sub_message(i) for i in range(folder.number_of_sub_messages)]
            fai = [it for it in folder.sub_items if it.identifier & 0x1F == NID_TYPE_ASSOC_MESSAGE]
            for msg in messages + fai:
                t = by_nid[msg.identifier]
                assert tuple(t["folder"]) == p
                assert t["associated"] == (msg in fai)
                check_item_pff(msg, t)
                seen += 1
    finally:
        f.close()
    assert seen == len(truth["items"])
    assert any(it["associated"] for it in truth["items"])
    classes = Counter(it["class"] for it in truth["items"])
    for cls in (
        "IPM.Note",
        "IPM.Appointment",
        "IPM.Contact",
        "IPM.DistList",
        "IPM.Task",
        "IPM.StickyNote",
        "IPM.Activity",
    ):
        assert classes[cls] >= 1, cls


def test_realistic_items_match_truth_in_our_reader(realistic_pst: tuple[Path, dict]) -> None:
    """core.pst.open_pst reads every item as the truth says, embedded messages (2 levels) and roles included."""
    path, truth = realistic_pst
    by_nid = {it["nid"]: it for it in truth["items"]}
    roles = {tuple(f["path"]): f["role"] for f in truth["folders"]}
    associated = {tuple(f["path"]): f["associated"] for f in truth["folders"]}
    seen = 0
    with open_pst(path) as pst:
        assert pst.info.format == "unicode" and pst.info.encryption == "none"
        for folder in pst.folders():
            assert folder.role == roles[folder.path], folder.path
            assert folder.item_count == truth_folders(truth)[folder.path]
            assert folder.associated_count == associated[folder.path]
            for item in [*pst.items(folder), *pst.items(folder, associated=True)]:
                assert not hasattr(item, "reason"), getattr(item, "reason", "")
                t = by_nid[item.node_id] if hasattr(item, "node_id") else None
                assert t is not None
                check_item_reader(item, t)
                seen += 1
    assert seen == len(truth["items"])
    depths = [len(json.dumps(at["embedded"])) for it in truth["items"] for at in it["attachments"] if at["embedded"]]
    assert depths, "the realistic file has embedded messages"


def test_realistic_in_readpst(realistic_pst: tuple[Path, dict], readpst: str, tmp_path: Path) -> None:
    """readpst exports each folder with the expected count (minus the classes it skips) and the same attachments."""
    path, truth = realistic_pst
    store = run_readpst(readpst, path, tmp_path / "out")
    assert readpst_folder_names(store) == Counter(f["path"][-1] for f in truth["folders"] if f["path"])
    assert readpst_counts(store) == expected_readpst_counts(truth)
    exported = eml_attachment_hashes(store)
    expected = truth_attachment_hashes(truth)
    missing = expected - exported
    assert not missing, f"attachments readpst did not export: {missing}"
    big = [at for it in truth["items"] for at in it["attachments"] if at["size"] and at["size"] > 8 * 1024 * 1024]
    assert big and all(exported[at["sha256"]] for at in big)


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    """Two runs with one seed give byte-identical PST and truth files; another seed differs."""
    from core.sandbox.pstwriter.content import generate

    digests = []
    for n, seed in enumerate((11, 11, 12)):
        out = tmp_path / f"{n}.pst"
        generate(str(out), seed=seed)
        digests.append(
            (
                hashlib.sha256(out.read_bytes()).hexdigest(),
                hashlib.sha256(Path(str(out) + ".truth.json").read_bytes()).hexdigest(),
            )
        )
    assert digests[0] == digests[1]
    assert digests[0][0] != digests[2][0]


def test_scale_in_pypff_readpst_and_reader(scale_pst: tuple[Path, dict], readpst: str, tmp_path: Path) -> None:
    """A scale file: counts per folder agree in pypff, readpst and our reader; items match the truth."""
    path, truth = scale_pst
    assert len(truth["items"]) == 400
    f, folders = pff_folders(path)
    try:
        assert {p: fo.number_of_sub_messages for p, fo in folders.items()} == truth_folders(truth)
    finally:
        f.close()
    store = run_readpst(readpst, path, tmp_path / "out")
    assert readpst_counts(store) == expected_readpst_counts(truth)
    assert not truth_attachment_hashes(truth) - eml_attachment_hashes(store)
    by_nid = {it["nid"]: it for it in truth["items"]}
    with open_pst(path) as pst:
        n = 0
        for folder in pst.folders():
            for item in pst.items(folder):
                check_item_reader(item, by_nid[item.node_id])
                n += 1
    assert n == 400


def test_compressible_encryption_reads_back(make_writer_pst, tmp_path: Path) -> None:
    """With compressible encryption on, pypff and our reader still read the same items and bytes."""
    path, truth = make_writer_pst(4, "scale", items=60, crypt_method=1)
    with open_pst(path) as pst:
        assert pst.info.encryption == "compressible"
        by_nid = {it["nid"]: it for it in truth["items"]}
        n = 0
        for folder in pst.folders():
            for item in pst.items(folder):
                check_item_reader(item, by_nid[item.node_id])
                n += 1
    assert n == 60
    raw = path.read_bytes()
    assert b"Scale message 1".decode().encode("utf-16-le") not in raw  # the text is really encoded


def test_has_attachment_flag_matches_truth(realistic_pst: tuple[Path, dict]) -> None:
    """The truth's flags include MSGFLAG_HASATTACH exactly for items with attachments."""
    _path, truth = realistic_pst
    for it in truth["items"]:
        assert bool(it["flags"] & MSGFLAG_HASATTACH) == bool(it["attachments"]), it["subject"]


def test_cli_make_pst(tmp_path: Path) -> None:
    """`pstimport sandbox make-pst` writes the PST and its truth; bad arguments give one line and exit 2."""
    out = tmp_path / "cli.pst"
    cmd = [
        sys.executable,
        "-m",
        "core.cli",
        "sandbox",
        "make-pst",
        str(out),
        "--mode",
        "scale",
        "--items",
        "25",
        "--seed",
        "3",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    truth = json.loads(Path(str(out) + ".truth.json").read_text(encoding="utf-8"))
    assert len(truth["items"]) == 25 and out.stat().st_size > 0
    bad = subprocess.run(
        [sys.executable, "-m", "core.cli", "sandbox", "make-pst", str(tmp_path / "x.pst"), "--items", "5"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "core.cli", "sandbox", "make-pst", str(tmp_path / "no" / "such" / "x.pst")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_recurrence_blobs_decode_to_the_truth(realistic_pst: tuple[Path, dict]) -> None:
    """The weekly series (one deleted, one moved occurrence) and the recurring task decode, with
    core.convert's MS-OXOCAL parser, to exactly what the truth records."""
    from core.convert.recurrence import decode_appointment_recurrence, decode_recurrence_pattern

    path, truth = realistic_pst
    by_nid = {it["nid"]: it for it in truth["items"]}
    checked = 0
    with open_pst(path) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                rec = (by_nid[item.node_id]["extra"] or {}).get("recurrence")
                if not rec:
                    continue
                if item.props.get(PidTagMessageClass) == "IPM.Task":
                    pat = decode_recurrence_pattern(item.props.get(PidLidTaskRecurrence))
                    assert (pat.days_mask, pat.occurrence_count) == (rec["days_mask"], rec["count"])
                    checked += 1
                    continue
                appt = decode_appointment_recurrence(item.props.get(PidLidAppointmentRecur))
                pat = appt.pattern
                assert (pat.days_mask, pat.occurrence_count, pat.period) == (rec["days_mask"], rec["count"], 1)
                moved = {iso(e.original_start): e for e in appt.exceptions}
                assert sorted(moved) == sorted(m["original_start"] for m in rec["modified"])
                for m in rec["modified"]:
                    e = moved[m["original_start"]]
                    assert (iso(e.start), iso(e.end), e.subject, e.location) == (
                        m["start"],
                        m["end"],
                        m["subject"],
                        m["location"],
                    )
                deleted_days = {d[:10] for d in rec["deleted"]} | {m["original_start"][:10] for m in rec["modified"]}
                assert {m.strftime("%Y-%m-%d") for m in _minutes_dates(pat.deleted)} == deleted_days
                checked += 1
    assert checked == 2


def _minutes_dates(values: list[int]) -> list[datetime]:
    from core.convert.recurrence import minutes_to_datetime

    return [minutes_to_datetime(v) for v in values]


def test_cli_progress_bar_for_big_files(tmp_path: Path) -> None:
    """A scale file of 64 MB or more shows a progress bar on stderr and reaches the requested size."""
    out = tmp_path / "big.pst"
    cmd = [sys.executable, "-m", "core.cli", "sandbox", "make-pst", str(out), "--mode", "scale", "--size-mb", "64"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "] 100.0%" in proc.stderr and "[#" in proc.stderr
    assert out.stat().st_size >= 64 * 1024 * 1024
