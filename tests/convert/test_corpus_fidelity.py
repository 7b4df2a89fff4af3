"""Fidelity of every corpus item: the produced MIME or typed payload against the source properties,
and the attachments against what readpst exports from the same file."""

from __future__ import annotations

import base64
import binascii
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from core.convert import ConvertContext, MimePayload, convert
from core.convert.payload import FileAttachment, ItemAttachment, TypedPayload
from core.pst import open_pst
from tests.convert.conftest import corpus_files
from tests.convert.fidelity import attachment_parts, check_item, leaf_attachment_hashes, parse, sha

FILES = corpus_files()
# readpst -e adds the item's RTF body as an attachment; it is a body, which we carry as one.
READPST_BODY_PARTS = frozenset({"rtf-body.rtf"})


def _convert_file(path: Path):
    """(item, payload) for every ordinary item of a PST; unreadable items are the reader's."""
    with open_pst(path) as pst:
        ctx = ConvertContext.for_pst(pst)
        for folder in pst.folders():
            for item in pst.items(folder):
                if not hasattr(item, "props"):
                    continue
                yield folder, item, convert(item, ctx)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_item_converts_faithfully(path: Path, corpus: Path) -> None:
    """Each item converts; its MIME carries subject, sender, recipients by kind, date, Message-ID,
    body text and every attachment (name + SHA-256, embedded messages recursively)."""
    errors: list[str] = []
    count = 0
    for _folder, item, payload in _convert_file(path):
        count += 1
        assert payload.source_key.endswith(f":{item.node_id}")
        if isinstance(payload, MimePayload):
            errors.extend(check_item(item, payload.mime))
        else:
            assert isinstance(payload, TypedPayload)
            assert payload.subject == item.subject
            if item.body_text and item.body_text.strip():
                assert payload.body.text is not None
                assert " ".join(payload.body.text.split()) == " ".join(item.body_text.replace("\x00", "").split())
            have = {sha(a.data) for a in payload.attachments if isinstance(a, FileAttachment)}
            if getattr(payload, "photo", None) is not None:
                have.add(sha(payload.photo.data))
            for att in item.attachments:
                if att.is_embedded_message:
                    continue
                data = att.read()
                if data:
                    assert sha(data) in have, f"{item.where}: attachment {att.filename!r} lost"
    assert not errors, "\n".join(errors[:20])


def _readpst_parts(msg) -> list[tuple[str, ...]]:
    """For each file attachment readpst wrote: the SHA-256s it may stand for.

    Left out: what readpst generates rather than exports (its iCalendar rendering of meeting
    requests, "PRODID:LibPST"; the RTF body as "rtf-body.rtf"; empty filler parts). readpst
    writes message/delivery-status attachments base64 text without saying so, so the decoded
    form counts too."""
    out: list[tuple[str, ...]] = []
    for part in attachment_parts(msg):
        if part.get_content_type() == "message/rfc822":
            out.extend(_readpst_parts(part.get_payload(0)))
            continue
        data = part.get_payload(decode=True) or b""
        if not data.strip() or part.get_filename() in READPST_BODY_PARTS or b"PRODID:LibPST" in data[:200]:
            continue
        alternatives = [sha(data)]
        try:
            alternatives.append(sha(base64.b64decode(b"".join(data.split()), validate=True)))
        except (binascii.Error, ValueError):
            pass
        out.append(tuple(alternatives))
    return out


def _readpst_hashes(readpst: str, path: Path, out: Path) -> dict[str, list[tuple[str, ...]]]:
    """Attachments in readpst's .eml export (see _readpst_parts), keyed by folder path under the store root."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([readpst, "-e", "-D", "-j", "0", "-o", str(out), str(path)], capture_output=True, timeout=300)
    by_folder: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for eml in out.rglob("*.eml"):
        rel = eml.parent.relative_to(out).parts[1:]  # the first level is the store's name
        by_folder["/".join(rel)].extend(_readpst_parts(parse(eml.read_bytes())))
    return by_folder


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_attachments_match_readpst(path: Path, corpus: Path, readpst: str, tmp_path: Path) -> None:
    """Per folder, every attachment readpst exports from the file is in our MIME, byte for byte."""
    theirs = _readpst_hashes(readpst, path, tmp_path / "readpst")
    ours: dict[str, set[str]] = defaultdict(set)
    for folder, _item, payload in _convert_file(path):
        key = "/".join(folder.path)
        if isinstance(payload, MimePayload):
            ours[key] |= leaf_attachment_hashes(parse(payload.mime))
        else:
            for a in payload.attachments:
                if isinstance(a, FileAttachment):
                    ours[key].add(sha(a.data))
                elif isinstance(a, ItemAttachment) and isinstance(a.payload, MimePayload):
                    ours[key] |= leaf_attachment_hashes(parse(a.payload.mime))
    all_ours = set().union(*ours.values()) if ours else set()
    missing: list[str] = []
    for folder, hashes in theirs.items():
        expected = ours.get(folder, all_ours)  # readpst renames some folders; then compare file-wide
        lost = [alts for alts in hashes if not any(h in expected for h in alts)]
        if lost:
            missing.append(f"{folder or '(top)'}: {len(lost)} of {len(hashes)} readpst attachments not in ours")
    assert not missing, "\n".join(missing)
