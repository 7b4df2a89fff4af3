"""Large data and large trees from the PST writer: multi-block tables, 100,000-item folders, 4 GB files."""

from __future__ import annotations

import struct
from pathlib import Path

import pypff
import pytest

from core.pst import open_pst
from core.pst.ndb.ltp import Heap
from core.pst.ndb.reader import NdbFile
from tests.sandbox.test_pstwriter import (
    check_item_reader,
    eml_attachment_hashes,
    expected_readpst_counts,
    pff_folders,
    readpst_counts,
    run_readpst,
    truth_attachment_hashes,
    truth_folders,
)
from tests.sandbox.test_pstwriter_ndb import verify_ndb

NID_TYPE_CONTENTS_TABLE = 0x0E
FOUR_GB = 4 * 1024**3


def contents_table_shape(path: Path, folder_nid: int) -> dict[str, int]:
    """Read a folder's contents TC raw: heap pages, row-index BTH levels, row-matrix blocks."""
    with NdbFile(path) as db:
        node = db.node((folder_nid & ~0x1F) | NID_TYPE_CONTENTS_TABLE)
        heap = Heap(node)
        first = next(node.blocks())
        hid_root = struct.unpack_from("<I", first, 4)[0]
        info = heap.get(hid_root)
        hid_row_index, hnid_rows = struct.unpack_from("<II", info, 10)
        bth = heap.get(hid_row_index)
        levels = bth[3]
        rows_blocks = len(heap.subnode(hnid_rows).block_ids()) if hnid_rows & 0x1F else 0
        return {"heap_pages": len(node.block_ids()), "row_index_levels": levels, "row_matrix_blocks": rows_blocks}


def big_folder(path: Path) -> tuple[int, int]:
    """(nid, item count) of the scale folder, from pypff."""
    f, folders = pff_folders(path)
    try:
        (folder,) = [fo for p, fo in folders.items() if p[-1:] == ("Scale 0001",)]
        return folder.identifier, folder.number_of_sub_messages
    finally:
        f.close()


def test_5000_item_folder_uses_multi_level_tables(make_writer_pst) -> None:
    """A 5,000-item folder: the contents TC spans heap pages, a 2-level row index and a row-matrix data tree;
    pypff and our reader see every item as the truth says."""
    path, truth = make_writer_pst(5, "scale", items=5000, folder_items=5000, mix="small")
    nid, count = big_folder(path)
    assert count == 5000
    shape = contents_table_shape(path, nid)
    assert shape["heap_pages"] > 1 and shape["row_index_levels"] >= 1 and shape["row_matrix_blocks"] > 1, shape
    by_nid = {it["nid"]: it for it in truth["items"]}
    n = 0
    with open_pst(path) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                check_item_reader(item, by_nid[item.node_id])
                n += 1
    assert n == 5000


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_100000_item_folder(make_writer_pst, readpst: str, tmp_path: Path) -> None:
    """One folder of 100,000 items reads back whole through pypff, readpst and our reader; NBT/BBT are 3+ levels."""
    path, truth = make_writer_pst(6, "scale", items=100_000, folder_items=100_000, mix="small")
    counts = verify_ndb(path)
    assert counts["nbt_depth"] >= 2 and counts["bbt_depth"] >= 2, counts
    nid, count = big_folder(path)
    assert count == 100_000
    assert contents_table_shape(path, nid)["row_index_levels"] >= 1
    store = run_readpst(readpst, path, tmp_path / "out")
    assert readpst_counts(store) == expected_readpst_counts(truth)
    by_nid = {it["nid"]: it for it in truth["items"]}
    n = 0
    with open_pst(path) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                if n % 97 == 0:
                    check_item_reader(item, by_nid[item.node_id])
                n += 1
    assert n == 100_000


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_4gb_scale_file(tmp_path: Path, readpst: str) -> None:
    """A scale file over 4 GiB: 64-bit offsets throughout; structures, pypff, readpst and our reader agree."""
    import json

    from core.sandbox.pstwriter.content import generate

    path = tmp_path / "big.pst"
    generate(str(path), seed=7, mode="scale", size_mb=4200)
    truth = json.loads(Path(str(path) + ".truth.json").read_text(encoding="utf-8"))
    assert path.stat().st_size > FOUR_GB
    verify_ndb(path)
    f, folders = pff_folders(path)
    try:
        assert {p: fo.number_of_sub_messages for p, fo in folders.items()} == truth_folders(truth)
    finally:
        f.close()
    by_nid = {it["nid"]: it for it in truth["items"]}
    n = 0
    with open_pst(path) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                check_item_reader(item, by_nid[item.node_id])
                n += 1
    assert n == len(truth["items"])
    store = run_readpst(readpst, path, tmp_path / "out")
    assert readpst_counts(store) == expected_readpst_counts(truth)
    assert not truth_attachment_hashes(truth) - eml_attachment_hashes(store)


def test_pypff_refuses_nothing_at_depth(make_writer_pst) -> None:
    """Sanity for the fixture the large tests share: pypff opens a small scale file written the same way."""
    path, _ = make_writer_pst(5, "scale", items=50, folder_items=50, mix="small")
    f = pypff.file()
    f.open(str(path))
    assert f.get_root_folder().number_of_sub_folders == 2
    f.close()


def test_message_with_hundreds_of_attachments_and_recipients(tmp_path: Path) -> None:
    """400 attachments and 300 recipients: the subnode tree needs an SIBLOCK and the recipient table a
    multi-block row matrix; pypff and our reader read every one back."""
    import hashlib

    from core.mapi import (
        PidTagAddressType,
        PidTagAttachLongFilename,
        PidTagAttachMethod,
        PidTagDisplayName,
        PidTagEmailAddress,
        PidTagMessageClass,
        PidTagRecipientType,
        PidTagSubject,
        afByValue,
    )
    from core.sandbox.pstwriter import Attachment, Message, PstWriter

    path = tmp_path / "wide.pst"
    atts = [
        Attachment(
            props={PidTagAttachMethod: afByValue, PidTagAttachLongFilename: f"a{i}.bin"}, data=bytes([i % 256]) * i
        )
        for i in range(400)
    ]
    rcpts = [
        {
            PidTagRecipientType: 1 + i % 3,
            PidTagDisplayName: f"Person {i}",
            PidTagAddressType: "SMTP",
            PidTagEmailAddress: f"p{i}@example.com",
        }
        for i in range(300)
    ]
    with PstWriter(str(path), "Wide") as w:
        inbox = w.add_folder(w.ipm_subtree, "Inbox", "IPF.Note")
        nid = w.add_message(inbox, Message({PidTagMessageClass: "IPM.Note", PidTagSubject: "wide"}, rcpts, atts))
    with NdbFile(path) as db:
        entry = db.nbt_lookup(nid)
        raw = db.read_block(entry.bid_sub)
        assert raw[0] == 0x02 and raw[1] == 1, "the subnode tree root is an SIBLOCK"
    f = pypff.file()
    f.open(str(path))
    try:
        msg = f.get_root_folder().sub_folders[0].sub_folders[0].get_sub_message(0)
        assert msg.number_of_attachments == 400
        assert msg.recipients.number_of_record_sets == 300
        for i in (0, 1, 255, 399):
            att = msg.get_attachment(i)
            assert att.read_buffer(att.size) == bytes([i % 256]) * i
    finally:
        f.close()
    with open_pst(path) as pst:
        (item,) = [it for fo in pst.folders() for it in pst.items(fo)]
        assert [r.display_name for r in item.recipients] == [f"Person {i}" for i in range(300)]
        for i, att in enumerate(item.attachments):
            with att.open() as fh:
                assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(bytes([i % 256]) * i).digest()
    verify_ndb(path)


def test_data_tree_depth_limit_is_enforced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With XBLOCKs shrunk to 3 entries, 9 blocks still make a readable XXBLOCK tree and 10 are refused:
    the two-level limit of a data tree (2.2.2.8.3.2) is checked, not assumed."""
    from core.mapi import PidTagAttachLongFilename, PidTagAttachMethod, PidTagMessageClass, afByValue
    from core.sandbox.pstwriter import Attachment, Message, PstWriter
    from core.sandbox.pstwriter import ndb as writer_ndb

    monkeypatch.setattr(writer_ndb, "XBLOCK_MAX_BIDS", 3)
    data = bytes(range(256)) * (8176 * 9 // 256 + 1)
    data = data[: 8176 * 9]
    path = tmp_path / "deep.pst"
    with PstWriter(str(path)) as w:
        inbox = w.add_folder(w.ipm_subtree, "Inbox", "IPF.Note")
        att = Attachment(props={PidTagAttachMethod: afByValue, PidTagAttachLongFilename: "d.bin"}, data=data)
        w.add_message(inbox, Message({PidTagMessageClass: "IPM.Note"}, [], [att]))
        with pytest.raises(ValueError, match="XXBLOCK"):
            w.ndb.write_stream([data + b"x" * 8176])
    with open_pst(path) as pst:
        (item,) = [it for fo in pst.folders() for it in pst.items(fo)]
        with item.attachments[0].open() as fh:
            assert fh.read() == data


def test_finished_folder_refuses_more_messages(tmp_path: Path) -> None:
    """finish_contents writes a folder's tables early; a later message for it is refused, and the file reads back."""
    from core.mapi import PidTagMessageClass, PidTagSubject
    from core.sandbox.pstwriter import Message, PstWriter

    path = tmp_path / "finished.pst"
    with PstWriter(str(path)) as w:
        a = w.add_folder(w.ipm_subtree, "A", "IPF.Note")
        b = w.add_folder(w.ipm_subtree, "B", "IPF.Note")
        w.add_message(a, Message({PidTagMessageClass: "IPM.Note", PidTagSubject: "in A"}))
        w.finish_contents(a)
        with pytest.raises(ValueError, match="finished"):
            w.add_message(a, Message({PidTagMessageClass: "IPM.Note", PidTagSubject: "late"}))
        w.add_message(b, Message({PidTagMessageClass: "IPM.Note", PidTagSubject: "in B"}))
    with open_pst(path) as pst:
        got = {f.path: [it.props.get(PidTagSubject) for it in pst.items(f)] for f in pst.folders()}
    assert got == {(): [], ("A",): ["in A"], ("B",): ["in B"]}
    verify_ndb(path)
