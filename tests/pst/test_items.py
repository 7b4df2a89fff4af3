"""The item model over every corpus item: classes, subjects, recipients, attachments, bodies, embedded."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pypff  # the test's independent oracle; product code reaches pypff only through core/pst
import pytest

from core.mapi import afByValue, afEmbeddedMessage
from core.pst import open_pst
from core.pst.model import Item, UnreadableItem

from .test_scan import manifest_ipm_folders, readable_files

READ_DIRECTLY = "read directly"


def walk(path: Path):
    """Every (folder, item) of the visible tree, ordinary items only."""
    with open_pst(path) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                yield folder, item


def manifest_classes(entry: dict) -> Counter:
    ipm = {"/".join(p) for p in manifest_ipm_folders(entry)}
    folders = entry["pypff"]["folders"]
    nid = entry["pypff"].get("ipm_subtree_nid")
    top = next((f for f in folders if nid is not None and f["nid"] == nid), None) or next(
        f for f in folders if f["path"] == "/Root - Mailbox/IPM_SUBTREE"
    )
    prefix = top["path"].rstrip("/")
    out: Counter = Counter()
    for f in folders:
        rel = f["path"][len(prefix) :].strip("/") if f["path"].startswith(prefix) else None
        if rel is not None and rel in ipm:
            out.update(f.get("classes", {}))
    return out


def test_every_item_class_is_read(corpus_dir: Path, manifest: dict) -> None:
    """Each file yields the manifest's message classes; items pypff refuses are read directly, with a note."""
    for name in readable_files(manifest):
        got: Counter = Counter()
        for _folder, item in walk(corpus_dir / name):
            assert isinstance(item, Item), (name, item)
            refused = any(p.startswith(READ_DIRECTLY) for p in item.problems)
            got["(unreadable)" if refused else item.message_class] += 1
        assert got == manifest_classes(manifest[name]), name


def test_quirk_contacts_reported_per_item(corpus_dir: Path) -> None:
    """The 12 contacts pypff cannot read come through the NDB layer, each with its problem noted."""
    items = [i for _f, i in walk(corpus_dir / "QUIRK_aspose-net_Test_part1_unspecified-proptype.pst")]
    refused = [i for i in items if any(p.startswith(READ_DIRECTLY) for p in i.problems)]
    assert len(refused) == 12
    assert all(i.message_class == "IPM.Contact" and i.subject and i.node_id for i in refused)
    assert len(items) == 61


def pypff_messages(path: Path, codepage: str | None) -> dict[int, object]:
    f = pypff.file()
    if codepage:
        f.set_ascii_codepage(codepage)
    f.open(str(path))
    out = {}

    def rec(folder):
        for i in range(folder.number_of_sub_messages):
            try:
                m = folder.get_sub_message(i)
            except OSError:
                continue
            out[m.identifier] = m
        for sub in folder.sub_folders:
            rec(sub)

    rec(f.root_folder)
    out["_file"] = f  # keep the handle alive
    return out


def test_fields_agree_with_pypff_accessors(corpus_dir: Path, manifest: dict) -> None:
    """Subject, bodies, recipient and attachment counts and attachment bytes equal pypff's own accessors."""
    for name in readable_files(manifest):
        cp = manifest[name].get("ansi_codepage")
        oracle = pypff_messages(corpus_dir / name, cp)
        for _folder, item in walk(corpus_dir / name):
            m = oracle.get(item.node_id)
            if m is None or not hasattr(m, "get_subject"):
                continue
            assert (item.subject or None) == (m.subject or None), (name, item.node_id)
            plain = m.plain_text_body
            if plain:
                assert (item.body_text or "").rstrip("\x00") == plain.decode("utf-8", "replace").rstrip("\x00")
            if m.html_body:
                assert item.body_html is not None
            rcpts = m.recipients
            assert len(item.recipients) == (rcpts.number_of_recipients if rcpts is not None else 0)
            assert len(item.attachments) == m.number_of_attachments
            pypff_atts = [m.get_attachment(i) for i in range(m.number_of_attachments)]
            for att, patt in zip(item.attachments, pypff_atts, strict=True):
                if att.method == afByValue:
                    data = att.read()
                    assert len(data) == att.size == patt.size
                    assert hashlib.sha256(data).digest() == hashlib.sha256(patt.read_buffer(patt.size)).digest()


def test_totals_match_manifest_features(corpus_dir: Path, manifest: dict) -> None:
    """Attachments, attach methods, recipients and body kinds add up to the manifest's counts."""
    methods = {1: "by_value", 5: "embedded_message", 6: "ole", 2: "by_reference", 7: "by_web_reference"}
    for name in readable_files(manifest):
        m = manifest[name]["pypff"]
        if sum(manifest_ipm_folders(manifest[name]).values()) != m["total_items"]:
            continue  # some items live outside the visible tree; the features count those too
        feats = m["features"]
        att = Counter()
        recips = bodies_plain = bodies_html = rtf = 0
        max_r = 0
        for _folder, item in walk(corpus_dir / name):
            for a in item.attachments:
                att[methods.get(a.method, str(a.method))] += 1
            recips += len(item.recipients)
            max_r = max(max_r, len(item.recipients))
            bodies_plain += bool(item.body_text)
            bodies_html += bool(item.body_html)
            rtf += bool(item.rtf_compressed)
        if not any(i for i in feats["body_errors"]) and "(unreadable)" not in m["classes"]:
            assert dict(att) == feats["attach_methods"], name
            assert recips == feats["recipients_total"] and max_r == feats["max_recipients"], name
            assert bodies_plain == feats["bodies"].get("plain", 0), name
            assert bodies_html == feats["bodies"].get("html", 0), name
        # we keep compressed RTF as stored, so bodies pypff refused for a bad CRC are still here
        assert rtf == feats["bodies"].get("rtf", 0) + feats["body_errors"].get("rtf", 0), name


def embedded_chain(item: Item) -> list[str]:
    out = [item.subject or ""]
    for att in item.attachments:
        if att.method == afEmbeddedMessage:
            out += embedded_chain(att.embedded)
    return out


def test_embedded_messages_four_levels(corpus_dir: Path) -> None:
    """Nested embedded messages are items with their own recipients and attachments, at any depth."""
    (item,) = [i for _f, i in walk(corpus_dir / "process-pst_four_nesting_levels.pst")]
    assert embedded_chain(item) == ["Outermost message", "Middle message", "Innermost message"]
    inner = item.attachments[0].embedded.attachments[0].embedded
    assert inner.embedded_path == (0, 0)
    assert len(inner.recipients) == 1
    (hello,) = inner.attachments
    assert hello.filename == "hello.txt" and hello.read().startswith(b"Hello")


def test_embedded_message_with_japanese_subject(corpus_dir: Path) -> None:
    """ruby-msg's message-in-message: the embedded item's subject, recipients and attachments."""
    (item,) = [i for _f, i in walk(corpus_dir / "ruby-msg_msgInMsg.pst")]
    embedded = [a.embedded for a in item.attachments if a.method == afEmbeddedMessage]
    assert [e.subject for e in embedded] == ["Microsoft Outlook テスト メッセージ"]
    assert embedded[0].recipients[0].display_name


@pytest.mark.parametrize(
    "name", ["aspose-net_passwordprotectedPST.pst", "tika_testPST.pst", "java-libpst_dist-list.pst"]
)
def test_every_embedded_message_reads(corpus_dir: Path, name: str) -> None:
    """All embedded messages of these files read fully: class, and each by-value attachment's bytes."""
    count = 0
    for _folder, item in walk(corpus_dir / name):
        stack = [item]
        while stack:
            it = stack.pop()
            for att in it.attachments:
                if att.method == afEmbeddedMessage:
                    emb = att.embedded
                    assert emb.message_class.startswith("IPM")
                    stack.append(emb)
                    count += 1
                elif att.method == afByValue:
                    assert len(att.read()) == att.size
    assert count >= 1


def test_unreadable_items_are_values_not_exceptions() -> None:
    """An UnreadableItem carries folder, node id and reason for the report."""
    u = UnreadableItem(node_id=0x200024, folder_path=("Inbox",), reason="bad block")
    assert u.where == "Inbox item 2097188"
